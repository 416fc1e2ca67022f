"""The top-1 scoring loop shared by every evaluation: network maps -> one grasp -> right or wrong.

As in the paper, each image gets one grasp: the highest pixel of the Gaussian-smoothed quality
map, with the angle and width read there (:mod:`mtg_grasp_ros.postprocess`, the node's own
post-processing). It is correct when some ground-truth rectangle is within the angle threshold
and its IoU exceeds the IoU threshold (:mod:`training.metrics`). The network is a callable, so
a training checkpoint and a deploy model (:mod:`training.evaluate`) run the very same loop.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
from tqdm import tqdm

from mtg_grasp_ros.grasp import Grasp
from mtg_grasp_ros.postprocess import sigma_for_input_size, smooth_maps, top_grasps
from training.metrics import best_match

#: The smoothing sigmas of the post-processing (as in a deploy model's JSON).
SIGMA_KEYS = ('quality', 'angle', 'width')


def grasp_dict(grasp: Optional[Grasp]) -> Optional[Dict[str, float]]:
    """A JSON-friendly grasp, angle in degrees (CCW on screen) as well as radians."""
    if grasp is None:
        return None
    return {'row': round(grasp.row, 3), 'col': round(grasp.col, 3),
            'angle_deg': round(math.degrees(grasp.angle), 3), 'angle': grasp.angle,
            'width': round(grasp.width, 3), 'jaw_size': round(grasp.jaw_size, 3),
            'quality': round(grasp.quality, 5)}


def sample_name(dataset, index: int) -> str:
    """A readable name of sample ``index`` (its file-set name when the dataset has one)."""
    files = getattr(dataset, 'files', None)
    if files is not None:
        item = files[index]
        return str(getattr(item, 'name', item))
    return str(index)


def score_top1(forward: Callable[[torch.Tensor], List[np.ndarray]], dataset,
               sigmas: Optional[Dict[str, float]], batch_size: int, width_scale: float,
               iou_threshold: float, angle_threshold_deg: float,
               indices: Optional[Sequence[int]] = None, progress: bool = False,
               centring_fraction: float = 0.0) -> Dict[str, Any]:
    """Score the top-1 grasp of every image; the loop both evaluation paths share.

    ``forward`` maps a (N, C, S, S) float32 batch to the raw ``(quality, cos, sin, width)``
    maps, each (N, S, S) NumPy. ``sigmas`` (keys :data:`SIGMA_KEYS`, px at the input size)
    None: the paper's 5 px scaled to the input size. ``progress`` shows a tqdm bar.
    ``centring_fraction`` > 0 centres the grasp on its object as the node does
    (:func:`mtg_grasp_ros.centring.centre_on_object`); 0: the paper's peak as it is.
    """
    indices = list(range(len(dataset))) if indices is None else list(indices)
    step = max(1, int(batch_size))
    started = time.perf_counter()
    per_image: List[Dict[str, Any]] = []
    bar = tqdm(total=len(indices), desc='evaluate', unit='img', disable=not progress,
               leave=False)
    for start in range(0, len(indices), step):
        batch = indices[start:start + step]
        x = torch.stack([torch.as_tensor(dataset[i][0]) for i in batch])
        maps = forward(x)
        if sigmas is None:
            sigmas = {k: sigma_for_input_size(x.shape[-1]) for k in SIGMA_KEYS}
        for j, i in enumerate(batch):
            smoothed = smooth_maps(maps[0][j], maps[1][j], maps[2][j], maps[3][j],
                                   sigma_quality=sigmas['quality'], sigma_angle=sigmas['angle'],
                                   sigma_width=sigmas['width'], width_scale=width_scale)
            found = top_grasps(smoothed, top_k=1, centring_fraction=centring_fraction)
            pred = found[0] if found else None
            gts = dataset.ground_truth(i)
            best_iou, best_aligned = (best_match(pred, gts, angle_threshold_deg)
                                      if pred is not None else (0.0, 0.0))
            per_image.append({
                'index': int(i), 'name': sample_name(dataset, i),
                'pred': grasp_dict(pred), 'best_iou': round(best_iou, 4),
                'best_aligned_iou': round(best_aligned, 4), 'n_gt': len(gts),
                # == metrics.is_correct(pred, gts), without a second pass over gts
                'correct': pred is not None and best_aligned > iou_threshold})
        bar.update(len(batch))
    bar.close()
    correct = sum(r['correct'] for r in per_image)
    n = len(per_image)
    return {'accuracy': correct / n if n else 0.0, 'correct': correct, 'n_images': n,
            'seconds': round(time.perf_counter() - started, 3),
            'sigma': sigmas['quality'] if sigmas else None, 'width_scale': width_scale,
            'iou_threshold': iou_threshold, 'angle_threshold_deg': angle_threshold_deg,
            'centring_fraction': centring_fraction, 'per_image': per_image}
