"""Image-space antipodal check of grasp labels against the object's mask.

Why: a physics trial with flat fingers also succeeds when the jaws close well off the
object's short axis, because the closing fingers turn a bar into line before they lift it.
Those grasps are real successes, but as labels they teach the network a loose angle, and a
controller that closes off-axis relies on the object turning in the hand. A grasp whose
closing axis runs along the surface normals at both contacts (inside the friction cone) does
not. This module measures that, from the top-down mask alone, so it can filter labels after
the trials, including on a dataset generated before it existed.

For a grasp, walk along its closing axis from the centre in both directions to where the
line leaves the object's mask (the contacts); the outward normal at each contact is the
gradient of the Gaussian-smoothed mask there. The grasp's antipodal error is the larger of
the two angles between the closing axis and a contact normal (0 = both normals exactly
along the axis). A grasp whose axis never leaves the object within its opening, or whose
centre is off the object, gets an error of 90 degrees.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from mtg_grasp_ros.grasp import Grasp

# Smoothing of the mask before its gradient is taken, in pixels: a 1024 px synthetic view
# has a staircase edge; sigma 3 px gives normals that follow the outline, not the pixels.
NORMAL_SIGMA_PX = 3.0
NO_CONTACT_DEG = 90.0


def mask_normals(mask: np.ndarray, sigma: float = NORMAL_SIGMA_PX) -> np.ndarray:
    """Unit outward normals ``(d_row, d_col)`` of a binary mask, shape (H, W, 2).

    Zero where the smoothed mask is flat (far from any edge)."""
    smooth = cv2.GaussianBlur((np.asarray(mask) > 0).astype(np.float32), (0, 0), sigma)
    d_row = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)
    d_col = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3)
    normals = -np.stack([d_row, d_col], axis=-1)  # the mask falls outwards
    norm = np.linalg.norm(normals, axis=-1, keepdims=True)
    return np.divide(normals, norm, out=np.zeros_like(normals), where=norm > 1e-6)


def _contact(inside: np.ndarray, centre: np.ndarray, direction: np.ndarray,
             reach: float) -> np.ndarray | None:
    """First point (row, col) past which the ray leaves the mask, or None within ``reach``."""
    h, w = inside.shape
    steps = np.arange(0.0, reach + 0.5, 0.5)
    points = centre[None, :] + steps[:, None] * direction[None, :]
    rows = np.clip(np.round(points[:, 0]).astype(int), 0, h - 1)
    cols = np.clip(np.round(points[:, 1]).astype(int), 0, w - 1)
    outside = ~inside[rows, cols]
    if not outside.any():
        return None
    return points[int(np.argmax(outside))]


def antipodal_error_deg(grasp: Grasp, inside: np.ndarray, normals: np.ndarray) -> float:
    """The grasp's antipodal error in degrees (see the module docstring)."""
    centre = np.array([grasp.row, grasp.col])
    h, w = inside.shape
    r, c = int(round(centre[0])), int(round(centre[1]))
    if not (0 <= r < h and 0 <= c < w) or not inside[r, c]:
        return NO_CONTACT_DEG
    axis = grasp.closing_axis
    worst = 0.0
    for direction in (axis, -axis):
        point = _contact(inside, centre, direction, grasp.width / 2.0)
        if point is None:
            return NO_CONTACT_DEG
        pr = int(np.clip(round(point[0]), 0, h - 1))
        pc = int(np.clip(round(point[1]), 0, w - 1))
        normal = normals[pr, pc]
        if not normal.any():
            return NO_CONTACT_DEG
        cosine = float(np.clip(normal @ direction, -1.0, 1.0))
        worst = max(worst, float(np.degrees(np.arccos(cosine))))
    return worst


def antipodal_errors_deg(grasps: Sequence[Grasp], mask: np.ndarray) -> np.ndarray:
    """Antipodal error in degrees of each grasp on one view's mask."""
    inside = np.asarray(mask) > 0
    normals = mask_normals(inside)
    return np.array([antipodal_error_deg(g, inside, normals) for g in grasps], dtype=np.float64)


def angles_from_minor_axis_deg(grasps: Sequence[Grasp], mask: np.ndarray,
                               min_aspect: float = 2.0) -> np.ndarray | None:
    """For an elongated mask (minimum-area rectangle at least ``min_aspect`` : 1), the angle in
    degrees between each grasp's closing axis and the rectangle's short side ("across");
    None for a mask that is not elongated (no minor axis to close across).

    A crude yardstick for the labels (an L-shaped object has no single "across"), used to
    report what relabelling does to them."""
    points = cv2.findNonZero((np.asarray(mask) > 0).astype(np.uint8))
    if points is None:
        return None
    box = cv2.boxPoints(cv2.minAreaRect(points)).astype(np.float64)  # (x, y) = (col, row)
    e1, e2 = box[1] - box[0], box[2] - box[1]
    short, long_ = sorted((e1, e2), key=np.linalg.norm)
    if np.linalg.norm(long_) < min_aspect * max(np.linalg.norm(short), 1e-9):
        return None
    across = short / np.linalg.norm(short)
    cosines = [abs(g.closing_axis[1] * across[0] + g.closing_axis[0] * across[1])
               for g in grasps]
    return np.degrees(np.arccos(np.clip(cosines, 0.0, 1.0)))
