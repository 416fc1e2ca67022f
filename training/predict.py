"""``python -m training predict``: a deploy model's grasps on your own pictures, drawn.

For photos without grasp labels (the Cornell photos in ``../shared/real/cornell``, a frame from
your camera): each image goes through the node's own ROS-free pipeline
(:class:`mtg_grasp_ros.pipeline.GraspPipeline`: centred square crop, network, smoothing, peak
search), and the node's debug image (:func:`mtg_grasp_ros.debug_image.render_debug_image`: the
network's input crop under its quality heat map, the best grasp green, the next ones yellow) is
put in a grid, one row per model, one column per image. Each panel is captioned with the
model, the best quality and the opening in camera pixels; the same figures are printed.

Only the 2-D grasp is shown: the pipeline's 3-D stage gets a nominal camera (focal length = the
image width, 0.5 m above a plane, looking straight down) that does not change the picture.

Usage::

    python -m training predict ../shared/real/cornell/01/pcd0100r.png --out runs/predict.png
    python -m training predict IMAGES... --model models/mtgcnn_depth_p --model models/other \\
        --top-k 3 --out runs/compare.png
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys
from typing import List, Sequence

import cv2
import numpy as np

from mtg_grasp_ros.camera_model import CameraModel
from mtg_grasp_ros.debug_image import render_debug_image
from mtg_grasp_ros.deploy import default_model_path, DeployModelError
from mtg_grasp_ros.pipeline import (FrameResult, GraspPipeline, JAWS_OUTSIDE_VIEW,
                                    PipelineConfig, PipelineConfigError)
from mtg_grasp_ros.transforms import RigidTransform

#: Nominal camera height (m) above the plane for the (unused) 3-D stage.
NOMINAL_HEIGHT = 0.5
CAPTION_HEIGHT = 36


def nominal_camera(width: int, height: int) -> tuple:
    """``(CameraModel, RigidTransform)``: a pinhole camera of the image's size (focal length =
    width px, centred principal point) ``NOMINAL_HEIGHT`` above the plane z = 0, optical axis
    straight down (optical x = target x, optical y = target -y)."""
    camera = CameraModel(fx=float(width), fy=float(width), cx=(width - 1) / 2.0,
                         cy=(height - 1) / 2.0, width=width, height=height)
    pose = RigidTransform(np.diag([1.0, -1.0, -1.0]), np.array([0.0, 0.0, NOMINAL_HEIGHT]))
    return camera, pose


def read_rgb(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an image file; ValueError naming the file when it cannot be read."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f'cannot read image {path}')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def predict_image(pipeline: GraspPipeline, rgb: np.ndarray) -> FrameResult:
    """The pipeline's result (maps kept) on one RGB frame."""
    camera, pose = nominal_camera(rgb.shape[1], rgb.shape[0])
    return pipeline.process(rgb, camera, pose, want_maps=True)


def caption(panel: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """``panel`` with a white strip of text lines above it."""
    strip = np.full((CAPTION_HEIGHT, panel.shape[1], 3), 255, np.uint8)
    for i, text in enumerate(lines):
        cv2.putText(strip, text, (4, 14 + 16 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return np.concatenate([strip, panel], axis=0)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        'predict', help="draw a deploy model's grasps on pictures (no labels needed)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('images', nargs='+', type=Path, help='RGB image files (PNG, JPEG, ...)')
    parser.add_argument('--model', action='append', default=None,
                        help='deploy model: path of its stem or of one of its files, e.g. '
                             'models/mtgcnn_depth_p; repeat to compare models row by row '
                             "(default: the node's default model)")
    parser.add_argument('--top-k', type=int, default=1, help='grasps drawn per image (1)')
    parser.add_argument('--min-quality', type=float, default=0.0,
                        help='draw grasps of at least this quality (0: always the best)')
    add_jaws_outside_view_option(parser)
    parser.add_argument('--backend', default='torch', choices=['torch', 'onnx'])
    parser.add_argument('--out', type=Path, required=True, help='output PNG (the grid)')
    parser.set_defaults(func=run)


def add_jaws_outside_view_option(parser: argparse.ArgumentParser) -> None:
    """``--jaws-outside-view``: the node's ``jaws_outside_view`` parameter (shared with
    grasp-bench)."""
    parser.add_argument('--jaws-outside-view', choices=JAWS_OUTSIDE_VIEW,
                        default=PipelineConfig.jaws_outside_view,
                        help="the node's jaws_outside_view parameter: grasps whose jaws reach "
                             'outside the crop (rectangle: opening x half the opening, '
                             'before any clearance) keep their rank, go last or are dropped '
                             f'(default: {PipelineConfig.jaws_outside_view}, as the node)')


def run(args: argparse.Namespace) -> int:
    models = args.model or [str(default_model_path())]
    try:
        images = [read_rgb(p) for p in args.images]
    except ValueError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    # The node's candidate count (top_k 5: a grasp put last or dropped by jaws_outside_view
    # gives way to the next peak), of which --top-k are drawn.
    config = PipelineConfig(top_k=max(PipelineConfig.top_k, args.top_k),
                            min_quality=args.min_quality,
                            jaws_outside_view=args.jaws_outside_view)
    rows: List[np.ndarray] = []
    for model in models:
        try:
            pipeline = GraspPipeline.from_deploy(model, backend=args.backend, device='cpu',
                                                 config=config)
        except (DeployModelError, PipelineConfigError) as exc:
            print(f'error: {exc}', file=sys.stderr)
            return 2
        name = Path(model).name
        panels = []
        for path, rgb in zip(args.images, images):
            result = predict_image(pipeline, rgb)
            result.network_grasps = result.network_grasps[:max(1, args.top_k)]
            panel = render_debug_image(result)
            best = result.grasps[0].pixel if result.grasps else None
            if best is None:
                text = f'best quality {result.best_quality:.2f}: no grasp'
            else:
                text = (f'q {best.quality:.2f} at ({best.col:.0f}, {best.row:.0f}) px, '
                        f'opening {best.width:.0f} px')
            print(f'{name}  {path}: {text}')
            panels.append(caption(panel, [f'{name}  {path.name}', text]))
        rows.append(np.concatenate(panels, axis=1))
    grid = np.concatenate(rows, axis=0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    print(f'wrote {args.out} ({len(models)} model(s) x {len(images)} image(s))')
    return 0
