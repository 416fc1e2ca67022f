"""Ground-truth grasp maps, as in Section III-D of the paper (and GG-CNN).

For every ground-truth rectangle its *centre third* (a third of the opening along the closing
axis, the full jaw size across it) is filled with quality 1, ``cos 2a``, ``sin 2a`` and the
width target ``clip(opening, 0, width_scale) / width_scale``; pixels outside every centre third
are 0 in all maps. Where rectangles overlap, later ones overwrite earlier ones.

Rasterisation: a pixel belongs to a rectangle when its centre lies inside it. OpenCV's
``fillPoly`` fills every pixel its (sub-pixel, ``shift``) outline touches, i.e. half a pixel too
much on each side, so each polygon is drawn shrunk by half a pixel per side; the filled area then
matches the rectangle's area instead of being one pixel too long in each direction. A rectangle
thinner than a pixel still marks the pixel nearest its centre line, so no label vanishes.
"""

from __future__ import annotations

from typing import Sequence, Tuple

import cv2
import numpy as np

from mtg_grasp_ros.grasp import Grasp
from mtg_grasp_ros.postprocess import DEFAULT_WIDTH_SCALE

#: Channel order of :func:`grasp_maps` (and of the network's grasp outputs).
TARGET_NAMES = ('quality', 'cos', 'sin', 'width')
#: Fixed-point fraction bits for ``cv2.fillPoly`` (1/256 px).
SHIFT = 8


def centre_third_polygons(grasps: Sequence[Grasp]) -> np.ndarray:
    """Corners ``(x, y)`` of each grasp's centre third, shrunk half a pixel per side: (N, 4, 2)."""
    if not grasps:
        return np.zeros((0, 4, 2))
    params = np.array([(g.row, g.col, g.angle, g.width, g.jaw_size) for g in grasps])
    row, col, angle, width, jaw = params.T
    centre = np.stack([col, row], axis=1)
    axis = np.stack([np.cos(angle), -np.sin(angle)], axis=1)  # closing axis as (dx, dy)
    normal = np.stack([-axis[:, 1], axis[:, 0]], axis=1)
    half_along = np.maximum(width / 3.0 - 1.0, 0.0)[:, None] / 2.0
    half_across = np.maximum(jaw - 1.0, 0.0)[:, None] / 2.0
    along, across = axis * half_along, normal * half_across
    return np.stack([centre - along - across, centre + along - across,
                     centre + along + across, centre - along + across], axis=1)


def grasp_index_map(grasps: Sequence[Grasp], shape: Tuple[int, int]) -> np.ndarray:
    """(H, W) int32 map: 1 + the index of the last grasp whose centre third covers the pixel."""
    index = np.zeros(shape[:2], np.int32)
    polygons = np.round(centre_third_polygons(grasps) * (1 << SHIFT)).astype(np.int32)
    for i, polygon in enumerate(polygons):
        # Drawn one by one in order, so later grasps overwrite earlier ones.
        cv2.fillPoly(index, [polygon.reshape(4, 1, 2)], i + 1, lineType=cv2.LINE_8,
                     shift=SHIFT)
    return index


def grasp_maps(grasps: Sequence[Grasp], shape: Tuple[int, int],
               width_scale: float = DEFAULT_WIDTH_SCALE) -> np.ndarray:
    """The (4, H, W) float32 targets quality, cos 2a, sin 2a, width (see :data:`TARGET_NAMES`).

    Grasp coordinates and openings are in pixels of the image of size ``shape`` (the network's
    300 px input): the width target 1.0 means ``width_scale`` pixels of opening.
    """
    index = grasp_index_map(grasps, shape)
    # Look-up tables with entry 0 for "no grasp" turn the index map into all four maps at once.
    table = np.zeros((4, len(grasps) + 1), np.float32)
    if grasps:
        angle = np.array([g.angle for g in grasps])
        width = np.array([g.width for g in grasps])
        table[0, 1:] = 1.0
        table[1, 1:] = np.cos(2.0 * angle)
        table[2, 1:] = np.sin(2.0 * angle)
        table[3, 1:] = np.clip(width, 0.0, width_scale) / width_scale
    return table[:, index]
