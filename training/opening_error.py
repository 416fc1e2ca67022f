"""Opening error and background share of top-1 grasps, measured in the original image's pixels.

Two failure kinds the accuracy alone hides (``python -m training evaluate``):

* **opening error**: the predicted opening against the *best-matching label*: among the labels
  within the angle threshold (30 degrees) that overlap the prediction, the one of highest
  rectangle IoU; when none overlaps, the label whose centre is nearest. Reported per image as
  the absolute difference in original-image pixels and the ratio predicted / label, and over a
  data set as their medians. A ratio far above 1 on every view means the model learnt another
  width convention than the labels' (e.g. a pre-grasp opening instead of the object's width).
* **background share**: where the view has an object mask, whether the top-1 grasp's centre
  lies off the mask (on the floor or table); the share of such views.

The prediction comes in network-input pixels of an un-augmented :class:`GraspDataset` item
(the image's central square resized to the input size, :func:`training.augment.base_transform`)
and is mapped back with the inverse of that matrix; labels and masks are read from the view's
own files with the shared readers (:func:`training.formats.read_grasps`,
:func:`training.samples.read_mask`), so nothing is compared at the network's coarser scale.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from tqdm import tqdm

from mtg_grasp_ros.grasp import angle_difference, Grasp
from training.augment import base_transform, warp_grasps
from training.formats import read_grasps
from training.metrics import ANGLE_THRESHOLD_DEG, rectangle_iou
from training.samples import read_mask, read_rgb, SampleFiles


def to_original(grasp: Grasp, original_shape: Tuple[int, int], input_size: int) -> Grasp:
    """A grasp in network-input pixels -> the original image's pixels.

    ``original_shape`` is the view's (H, W); ``input_size`` the side S of the square network
    input. Inverts :func:`training.augment.base_transform` (central square of the image resized
    to S), the preparation of every un-augmented evaluation item.
    """
    forward = base_transform(original_shape, int(input_size))
    return warp_grasps([grasp], cv2.invertAffineTransform(forward))[0]


def matching_label(pred: Grasp, labels: Sequence[Grasp],
                   angle_threshold_deg: float = ANGLE_THRESHOLD_DEG
                   ) -> Tuple[Optional[Grasp], str, float]:
    """The label a prediction is judged against: ``(label, how, iou)``.

    ``how`` is ``'iou'`` when some label within ``angle_threshold_deg`` overlaps ``pred`` (the
    one of highest IoU is returned) and ``'nearest'`` otherwise (the label whose centre is
    nearest to ``pred``'s, whatever its angle; ``iou`` is then its IoU with ``pred``). With no
    labels: ``(None, 'none', 0.0)``. Both grasps must be in the same pixels.
    """
    if not labels:
        return None, 'none', 0.0
    limit = math.radians(angle_threshold_deg)
    best, best_iou = None, 0.0
    for label in labels:
        if angle_difference(pred.angle, label.angle) < limit:
            iou = rectangle_iou(pred, label)
            if iou > best_iou:
                best, best_iou = label, iou
    if best is not None:
        return best, 'iou', best_iou
    nearest = min(labels, key=lambda g: math.hypot(g.row - pred.row, g.col - pred.col))
    return nearest, 'nearest', rectangle_iou(pred, nearest)


def centre_off_mask(grasp: Grasp, mask: np.ndarray) -> bool:
    """True when ``grasp``'s centre (rounded to the nearest pixel) is not on ``mask``.

    ``mask`` is (H, W) bool in the grasp's pixels; a centre outside the image is off the mask.
    """
    row, col = int(round(grasp.row)), int(round(grasp.col))
    height, width = mask.shape[:2]
    return not (0 <= row < height and 0 <= col < width and bool(mask[row, col]))


def view_opening(pred: Grasp, files: SampleFiles, input_size: int,
                 angle_threshold_deg: float = ANGLE_THRESHOLD_DEG) -> Dict[str, Any]:
    """Opening error and mask test of one view's top-1 grasp ``pred`` (network-input pixels).

    Reads the view's labels and, when it has one, its mask (the RGB only for its size when
    there is no mask). Returns ``pred_width_px`` and ``label_width_px`` (original px),
    ``abs_error_px``, ``ratio`` (predicted / label; None for a zero-width label), ``match``
    (``'iou'``/``'nearest'``/``'none'``), ``match_iou`` and ``off_mask`` (None without a mask).
    Raises :class:`training.samples.DatasetError` for an unreadable file.
    """
    labels = read_grasps(files)
    mask = read_mask(files.mask) if files.mask is not None else None
    shape = mask.shape[:2] if mask is not None else read_rgb(files.rgb).shape[:2]
    original = to_original(pred, shape, input_size)
    label, how, iou = matching_label(original, labels, angle_threshold_deg)
    row: Dict[str, Any] = {'pred_width_px': round(original.width, 2), 'match': how,
                           'match_iou': round(iou, 4), 'label_width_px': None,
                           'abs_error_px': None, 'ratio': None,
                           'off_mask': centre_off_mask(original, mask) if mask is not None
                           else None}
    if label is not None:
        row['label_width_px'] = round(label.width, 2)
        row['abs_error_px'] = round(abs(original.width - label.width), 2)
        row['ratio'] = round(original.width / label.width, 4) if label.width > 0 else None
    return row


def summarise(rows: Sequence[Optional[Dict[str, Any]]]) -> Dict[str, Any]:
    """Data-set figures of :func:`view_opening` rows (None rows: views without a prediction).

    ``opening``: ``n`` (views with a prediction and a label), ``median_abs_error_px``,
    ``median_ratio``, ``median_pred_px``, ``median_label_px``, ``matched_by_iou`` (views whose
    label was found by IoU rather than by distance). ``background``: ``n_with_mask``,
    ``off_mask`` and ``share`` (None when no view has a mask).
    """
    def median(values: List[float]) -> Optional[float]:
        return round(float(np.median(values)), 4) if values else None

    rows = [r for r in rows if r is not None]
    matched = [r for r in rows if r['label_width_px'] is not None]
    ratios = [r['ratio'] for r in matched if r['ratio'] is not None]
    masked = [r for r in rows if r['off_mask'] is not None]
    off = sum(bool(r['off_mask']) for r in masked)
    return {
        'opening': {'n': len(matched),
                    'median_abs_error_px': median([r['abs_error_px'] for r in matched]),
                    'median_ratio': median(ratios),
                    'median_pred_px': median([r['pred_width_px'] for r in matched]),
                    'median_label_px': median([r['label_width_px'] for r in matched]),
                    'matched_by_iou': sum(r['match'] == 'iou' for r in matched)},
        'background': {'n_with_mask': len(masked), 'off_mask': off,
                       'share': round(off / len(masked), 4) if masked else None}}


def add_opening_and_background(result: Dict[str, Any], dataset,
                               angle_threshold_deg: Optional[float] = None,
                               progress: bool = False) -> Dict[str, Any]:
    """Add the opening error and background share to an evaluation ``result`` in place.

    ``result`` is what :func:`training.evaluate.evaluate_model` returns for ``dataset`` (a
    GraspDataset without augmentation: ``dataset.files`` and ``dataset.output_size`` are
    used). Each ``per_image`` entry gets ``opening`` (a :func:`view_opening` row, None when the
    image had no prediction); ``result`` gets ``opening`` and ``background``
    (:func:`summarise`). ``progress`` shows a tqdm bar. Returns ``result``.
    """
    limit = (angle_threshold_deg if angle_threshold_deg is not None
             else result.get('angle_threshold_deg', ANGLE_THRESHOLD_DEG))
    rows = []
    for entry in tqdm(result['per_image'], desc='opening error', unit='img', disable=not progress,
                      leave=False):
        p = entry['pred']
        row = None
        if p is not None:
            pred = Grasp(p['row'], p['col'], p['angle'], p['width'], p['jaw_size'])
            row = view_opening(pred, dataset.files[entry['index']], dataset.output_size, limit)
        entry['opening'] = row
        rows.append(row)
    result.update(summarise(rows))
    return result
