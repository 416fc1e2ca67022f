"""The paper's loss functions (Prew et al. 2020, Section III-C).

``mse``        equation (2): the sum of the per-map mean squared errors of quality, cos 2phi,
               sin 2phi, width and (MTG-CNN only) the auxiliary map.
``positional`` equation (3): the same, but the angle and width errors at each pixel are
               multiplied by the ground-truth quality Q_GT there before squaring, so the network
               is not trained on angles and widths where no grasp can happen.

Each term is a mean over the pixels of an image (1/N sum), averaged over the batch.
"""

from __future__ import annotations

from typing import Dict, Sequence

import torch

LOSSES = ('mse', 'positional')
TERMS = ('quality', 'cos', 'sin', 'width', 'aux')


def grasp_loss(outputs: Sequence[torch.Tensor], target: torch.Tensor,
               loss: str = 'mse') -> Dict[str, torch.Tensor]:
    """Loss of one batch.

    ``outputs`` are the network's maps ``(q, cos, sin, width[, aux])``, each (N, 1, H, W);
    ``target`` is (N, 4 or 5, H, W) with the same channel order. Returns a dict with the total
    under ``'loss'`` and each term under its name, for logging.
    """
    if loss not in LOSSES:
        raise ValueError(f'unknown loss {loss!r}; choose one of {LOSSES}')
    if target.shape[1] != len(outputs):
        raise ValueError(f'the network gives {len(outputs)} maps but the target has '
                         f'{target.shape[1]} channels (auxiliary task mismatch?)')
    q_gt = target[:, 0:1]
    terms = {}
    for index, (name, pred) in enumerate(zip(TERMS, outputs)):
        error = pred - target[:, index:index + 1]
        if loss == 'positional' and name in ('cos', 'sin', 'width'):
            error = q_gt * error
        terms[name] = error.pow(2).mean()
    terms['loss'] = sum(terms.values())
    return terms
