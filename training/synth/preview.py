"""A PNG contact sheet of generated views with their grasp rectangles, to eyeball the labels.

Each tile shows the RGB image with every grasp drawn as its rectangle: the two jaw edges (where
the fingers are) in red, the two edges along the closing axis in green, and the centre as a
dot; beside it the simulated stereo depth (holes black). Grasp corners come from
:meth:`Grasp.corners` as ``(row, col)``; OpenCV draws ``(x, y) = (col, row)``, hence the flip.
Each tile is captioned at its top left (the view and its grasp counts) and each panel is
labelled at its bottom left (:func:`panel_labels`: what it shows, the colours' meaning, the
depth panel's range in metres), white on a black box (:func:`label`).
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

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


def _depth_range(depth: np.ndarray) -> Tuple[float, float]:
    """The 1st and 99th percentiles of the valid (> 0) depths (m): the colour map's span."""
    valid = depth[depth > 0]
    return tuple(float(v) for v in np.percentile(valid, [1, 99])) if valid.size else (0.0, 0.0)


def _depth_tile(depth: np.ndarray) -> np.ndarray:
    valid = depth > 0
    shown = np.zeros(depth.shape, np.uint8)
    if valid.any():
        lo, hi = _depth_range(depth)
        shown[valid] = np.clip(255 * (hi - depth[valid]) / max(hi - lo, 1e-6), 0, 255)
    return cv2.applyColorMap(shown, cv2.COLORMAP_VIRIDIS) * valid[..., None].astype(np.uint8)


def panel_labels(depth: np.ndarray) -> Tuple[str, str]:
    """The labels of a tile's two panels: RGB with the grasps, and the stereo ``depth`` (m)."""
    lo, hi = _depth_range(depth)
    return ('RGB + grasps (red: jaws, green: closing axis)',
            f'stereo depth {lo:.2f}-{hi:.2f} m (yellow near, black: holes)')


def label(image: np.ndarray, text: str, bottom: bool = True, scale: float = 0.45
          ) -> np.ndarray:
    """Write ``text`` white on a black box at the bottom left (``bottom``) or top left of the
    BGR ``image``, in place (the font shrinks until the text fits the width); returns it."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    (w, h), _ = cv2.getTextSize(text, font, scale, 1)
    while w + 12 > image.shape[1] and scale > 0.2:
        scale -= 0.05
        (w, h), _ = cv2.getTextSize(text, font, scale, 1)
    top = image.shape[0] - (h + 12) if bottom else 0
    cv2.rectangle(image, (0, top), (w + 12, top + h + 12), (0, 0, 0), -1)
    cv2.putText(image, text, (6, top + h + 5), font, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return image


def draw_preview(dataset_dir, out_png, n: int = 6, max_grasps: int = 15) -> Path:
    """Draw ``n`` views spread over the dataset (RGB + grasps | stereo depth, each panel
    labelled) into one PNG.

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
        for panel, text in zip((left, right), panel_labels(stereo)):
            label(panel, text)
        tile = np.concatenate([left, right], axis=1)
        tiles.append(label(tile, f'{stem}: {len(shown)} of {len(grasps)} grasps', bottom=False,
                           scale=0.5))
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
