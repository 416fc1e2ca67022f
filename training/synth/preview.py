"""A PNG contact sheet of generated views with their grasp rectangles, to eyeball the labels.

Each tile shows the RGB image with every grasp drawn as its rectangle: the two jaw edges (where
the fingers are) in red, the two edges along the closing axis in green, and the centre as a
dot; beside it the simulated stereo depth (holes black). Grasp corners come from
:meth:`Grasp.corners` as ``(row, col)``; OpenCV draws ``(x, y) = (col, row)``, hence the flip.
"""

from __future__ import annotations

from pathlib import Path
from typing import List

import cv2
import numpy as np

from mtg_grasp_ros.grasp import Grasp
from training.jacquard import read_jacquard_grasps

TILE = 384


def _views(dataset_dir: Path) -> List[Path]:
    return sorted(Path(dataset_dir).glob('*/*_grasps.txt'))


def draw_grasps(rgb: np.ndarray, grasps: List[Grasp], thickness: int = 1) -> np.ndarray:
    """A BGR copy of ``rgb`` with the grasp rectangles drawn on it."""
    image = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    for g in grasps:
        pts = np.rint(g.corners()[:, ::-1]).astype(np.int32)  # (row, col) -> (x, y)
        # Corners go round the rectangle; edges 1-2 and 3-0 are the jaws.
        cv2.line(image, tuple(pts[0]), tuple(pts[1]), (60, 200, 60), thickness, cv2.LINE_AA)
        cv2.line(image, tuple(pts[2]), tuple(pts[3]), (60, 200, 60), thickness, cv2.LINE_AA)
        cv2.line(image, tuple(pts[1]), tuple(pts[2]), (40, 40, 230), thickness + 1, cv2.LINE_AA)
        cv2.line(image, tuple(pts[3]), tuple(pts[0]), (40, 40, 230), thickness + 1, cv2.LINE_AA)
        cv2.circle(image, (int(round(g.col)), int(round(g.row))), thickness + 1, (230, 120, 0),
                   -1, cv2.LINE_AA)
    return image


def _depth_tile(depth: np.ndarray) -> np.ndarray:
    valid = depth > 0
    shown = np.zeros(depth.shape, np.uint8)
    if valid.any():
        lo, hi = np.percentile(depth[valid], [1, 99])
        shown[valid] = np.clip(255 * (hi - depth[valid]) / max(hi - lo, 1e-6), 0, 255)
    return cv2.applyColorMap(shown, cv2.COLORMAP_VIRIDIS) * valid[..., None].astype(np.uint8)


def draw_preview(dataset_dir, out_png, n: int = 6, max_grasps: int = 15) -> Path:
    """Draw ``n`` views spread over the dataset (RGB + grasps | stereo depth) into one PNG.

    At most ``max_grasps`` grasps per view (evenly picked from the file) are drawn, so the
    rectangles stay readable; the caption gives both counts.
    """
    views = _views(Path(dataset_dir))
    if not views:
        raise FileNotFoundError(f'no *_grasps.txt views under {dataset_dir}')
    picks = [views[i] for i in np.unique(np.linspace(0, len(views) - 1, n).round().astype(int))]
    tiles = []
    for grasps_path in picks:
        stem = grasps_path.name[:-len('_grasps.txt')]
        rgb = cv2.cvtColor(cv2.imread(str(grasps_path.with_name(stem + '_RGB.png'))),
                           cv2.COLOR_BGR2RGB)
        grasps = read_jacquard_grasps(grasps_path)
        shown = [grasps[i] for i in np.unique(
            np.linspace(0, len(grasps) - 1, min(len(grasps), max_grasps)).round().astype(int))]
        # Draw on the downsized image (grasps scaled to it) so lines stay one crisp pixel.
        factor = TILE / rgb.shape[0]
        small = cv2.resize(rgb, (TILE, TILE), interpolation=cv2.INTER_AREA)
        left = draw_grasps(small, [g.scaled(factor) for g in shown])
        stereo = cv2.imread(str(grasps_path.with_name(stem + '_stereo_depth.tiff')),
                            cv2.IMREAD_UNCHANGED)
        right = cv2.resize(_depth_tile(stereo), (TILE, TILE), interpolation=cv2.INTER_NEAREST)
        tile = np.concatenate([left, right], axis=1)
        caption = f'{stem}: {len(shown)} of {len(grasps)} grasps'
        (w, h), _ = cv2.getTextSize(caption, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        cv2.rectangle(tile, (0, 0), (w + 12, h + 12), (0, 0, 0), -1)
        cv2.putText(tile, caption, (6, h + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                    cv2.LINE_AA)
        tiles.append(tile)
    columns = 2 if len(tiles) > 1 else 1
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[i:i + columns], axis=1) for i in range(0, len(tiles), columns)]
    sheet = np.concatenate(rows, axis=0)
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out_png), sheet, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise OSError(f'OpenCV could not write {out_png}')
    return out_png
