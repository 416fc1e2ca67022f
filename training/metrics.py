"""The rectangle metric of Cornell / Jacquard grasp detection.

A predicted grasp is correct when, for at least one ground-truth rectangle of the image,

* the angle difference, taken modulo pi (a parallel grasp is symmetric under a half turn), is
  under 30 degrees, **and**
* the Jaccard index (IoU) of the two oriented rectangles exceeds 0.25.

The reference implementations rasterise both rectangles onto a pixel grid to compute the IoU;
here it is the exact area of the convex polygon intersection (``cv2.intersectConvexConvex``),
so small or thin rectangles are not biased by pixel rounding.
"""

from __future__ import annotations

import math
from typing import Iterable, Optional, Sequence

import cv2
import numpy as np

from mtg_grasp_ros.grasp import angle_difference, Grasp

IOU_THRESHOLD = 0.25
ANGLE_THRESHOLD_DEG = 30.0


def _polygon(grasp: Grasp, origin: np.ndarray) -> np.ndarray:
    """The corners as an OpenCV contour: float32 (x, y) = (col, row), relative to ``origin``."""
    corners = grasp.corners() - origin  # (row, col), shifted to keep float32 precise
    return np.ascontiguousarray(corners[:, ::-1], dtype=np.float32).reshape(4, 1, 2)


def rectangle_area(grasp: Grasp) -> float:
    """Area of the grasp rectangle in square pixels."""
    return abs(float(grasp.width) * float(grasp.jaw_size))


def rectangle_iou(a: Grasp, b: Grasp) -> float:
    """Exact intersection over union of two oriented grasp rectangles, in [0, 1].

    Degenerate rectangles (zero width or jaw size) have no area and give 0.
    """
    area_a, area_b = rectangle_area(a), rectangle_area(b)
    if area_a <= 0.0 or area_b <= 0.0:
        return 0.0
    # Quick reject: rectangles whose circumscribed circles do not meet cannot overlap.
    reach = 0.5 * (math.hypot(a.width, a.jaw_size) + math.hypot(b.width, b.jaw_size))
    if math.hypot(a.row - b.row, a.col - b.col) >= reach:
        return 0.0
    origin = np.array([a.row, a.col], dtype=np.float64)
    inter, _ = cv2.intersectConvexConvex(_polygon(a, origin), _polygon(b, origin),
                                         handleNested=True)
    inter = min(max(float(inter), 0.0), area_a, area_b)
    union = area_a + area_b - inter
    return inter / union if union > 0.0 else 0.0


def best_match(pred: Grasp, gts: Iterable[Grasp],
               angle_threshold_deg: float = ANGLE_THRESHOLD_DEG) -> tuple:
    """``(best IoU over all GT, best IoU over GT within the angle threshold)``."""
    limit = math.radians(angle_threshold_deg)
    best_any, best_aligned = 0.0, 0.0
    for gt in gts:
        iou = rectangle_iou(pred, gt)
        best_any = max(best_any, iou)
        if angle_difference(pred.angle, gt.angle) < limit:
            best_aligned = max(best_aligned, iou)
    return best_any, best_aligned


def is_correct(pred: Optional[Grasp], gts: Iterable[Grasp],
               iou_threshold: float = IOU_THRESHOLD,
               angle_threshold_deg: float = ANGLE_THRESHOLD_DEG) -> bool:
    """True if some GT rectangle is within the angle threshold AND has IoU above the threshold.

    Both conditions must hold for the *same* ground-truth rectangle. ``pred=None`` (no grasp
    found) is never correct.
    """
    if pred is None:
        return False
    limit = math.radians(angle_threshold_deg)
    for gt in gts:
        if angle_difference(pred.angle, gt.angle) < limit and \
                rectangle_iou(pred, gt) > iou_threshold:
            return True
    return False


def accuracy(preds: Sequence[Optional[Grasp]], gts_per_image: Sequence[Sequence[Grasp]],
             iou_threshold: float = IOU_THRESHOLD,
             angle_threshold_deg: float = ANGLE_THRESHOLD_DEG) -> float:
    """Fraction of images whose (top-1) predicted grasp is correct; 0.0 for no images."""
    if len(preds) != len(gts_per_image):
        raise ValueError(f'{len(preds)} predictions but {len(gts_per_image)} ground-truth lists')
    if not preds:
        return 0.0
    correct = sum(is_correct(p, g, iou_threshold, angle_threshold_deg)
                  for p, g in zip(preds, gts_per_image))
    return correct / len(preds)
