"""The evaluation overlay: a grid of views with their labelled and predicted grasp rectangles.

``python -m training evaluate --overlay FILE`` and the training demo draw it; green rectangles
are the labels, the top-1 prediction is blue when correct and red when wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import cv2
import numpy as np
import torch

from mtg_grasp_ros.grasp import Grasp


def display_image(x: torch.Tensor) -> np.ndarray:
    """A (S, S, 3) uint8 BGR picture of a normalised network input (RGB, depth or RGB-D)."""
    x = torch.as_tensor(x).detach().float().cpu().numpy()
    picture = x[:3] if x.shape[0] >= 3 else np.repeat(x[:1], 3, axis=0)
    low, high = float(picture.min()), float(picture.max())
    picture = (picture - low) / (high - low) if high > low else np.zeros_like(picture)
    rgb = (picture.transpose(1, 2, 0) * 255.0 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(rgb[:, :, ::-1])


def draw_overlay(dataset, result: Dict[str, Any], path: Path, count: int = 8,
                 columns: int = 4) -> Path:
    """Save a grid of ``count`` evenly spaced images: GT rectangles green, the prediction blue
    when correct and red when wrong (jaw edges thicker), with the best IoU among the GT
    rectangles within the angle threshold written in the corner."""
    rows_ = result['per_image']
    if not rows_:
        raise ValueError('no evaluated images to draw')
    picks = sorted(set(np.linspace(0, len(rows_) - 1, min(count, len(rows_))).round()
                       .astype(int).tolist()))
    tiles = []
    for k in picks:
        row = rows_[k]
        image = display_image(dataset[row['index']][0])
        # Small network inputs are enlarged so rectangles and labels stay readable.
        zoom = max(1, int(np.ceil(256 / image.shape[0])))
        image = cv2.resize(image, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
        for gt in dataset.ground_truth(row['index']):
            _draw_grasp(image, gt.scaled(zoom), (0, 200, 0), 1)
        if row['pred'] is not None:
            p = row['pred']
            pred = Grasp(p['row'], p['col'], p['angle'], p['width'], p['jaw_size'])
            _draw_grasp(image, pred.scaled(zoom),
                        (255, 80, 0) if row['correct'] else (0, 0, 255), 2)
        label = f"{row['name'][:24]} IoU {row['best_aligned_iou']:.2f}"
        (text_w, text_h), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
        cv2.rectangle(image, (0, 0), (text_w + 8, text_h + 8), (0, 0, 0), -1)
        cv2.putText(image, label, (4, text_h + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(image)
    columns = min(columns, len(tiles))
    blank = np.zeros_like(tiles[0])
    tiles += [blank] * (-len(tiles) % columns)
    grid = np.vstack([np.hstack(tiles[r:r + columns]) for r in range(0, len(tiles), columns)])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), grid):
        raise OSError(f'cannot write overlay image {path}')
    return path


def _draw_grasp(image: np.ndarray, grasp: Grasp, colour, thickness: int) -> None:
    corners = grasp.corners()[:, ::-1]  # (x, y)
    points = np.round(corners * 16).astype(np.int32).reshape(4, 1, 2)
    cv2.polylines(image, [points], True, colour, thickness, cv2.LINE_AA, shift=4)
    # The jaw edges (across the closing axis) thicker, so the orientation reads at a glance.
    for a, b in ((1, 2), (3, 0)):
        cv2.line(image, tuple(int(v) for v in points[a, 0]), tuple(int(v) for v in points[b, 0]),
                 colour, thickness + 1, cv2.LINE_AA, shift=4)
