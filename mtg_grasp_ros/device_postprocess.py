"""Smoothing and top-k peaks on the model's torch device, copying back only the k grasps.

The same post-processing as :func:`mtg_grasp_ros.postprocess.smooth_maps` and
:func:`mtg_grasp_ros.postprocess.top_grasps` (Gaussian smoothing of the quality, cos 2phi,
sin 2phi and width maps as that module explains, then the best quality peaks at least
``min_distance`` px apart), written in torch so that on CUDA the maps never leave the GPU:

* smoothing: a separable ``conv2d`` with :func:`mtg_grasp_ros.postprocess.gaussian_kernel` (the
  kernel of OpenCV's ``GaussianBlur``) and a replicated border, as OpenCV's
  ``BORDER_REPLICATE``;
* peaks: ``max_pool2d`` (a pixel equal to the maximum of its ``2 min_distance + 1`` square),
  ``topk``, then the distance filter on the host over the few copied peaks.

:class:`mtg_grasp_ros.pipeline.GraspPipeline` uses it on CUDA (``device_postprocess: auto``);
on a CPU it runs too, which is how the tests compare it with OpenCV.
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from mtg_grasp_ros.grasp import Grasp
from mtg_grasp_ros.postprocess import gaussian_kernel

#: The GPU peak search copies back this many peaks per requested grasp before the distance
#: filter; if that is not enough (plateaus), it falls back to copying the whole map.
_PEAKS_PER_GRASP = 16


class TorchPostprocess:
    """Smoothing and top-k peaks on the model's device; copies back only the grasps.

    ``sigmas``: ``{'quality', 'angle', 'width'}`` -> Gaussian sigma in network px (<= 0: no
    smoothing); ``width_scale``: px of opening per unit of the width output; ``device``: where
    the network's outputs are.
    """

    def __init__(self, sigmas: Dict[str, float], width_scale: float,
                 device: torch.device) -> None:
        self.device = torch.device(device)
        self.width_scale = float(width_scale)
        self.kernels = {name: (torch.as_tensor(gaussian_kernel(s), dtype=torch.float32,
                                               device=self.device) if s > 0 else None)
                        for name, s in sigmas.items()}

    def smooth(self, x: torch.Tensor, name: str) -> torch.Tensor:
        """Separable Gaussian of an (N, 1, H, W) map with a replicated border (as OpenCV)."""
        kernel = self.kernels[name]
        if kernel is None:
            return x
        r = (kernel.numel() - 1) // 2
        x = F.conv2d(F.pad(x, (r, r, 0, 0), mode='replicate'), kernel.view(1, 1, 1, -1))
        return F.conv2d(F.pad(x, (0, 0, r, r), mode='replicate'), kernel.view(1, 1, -1, 1))

    def maps(self, outputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        """Smoothed ``(quality, angle, width_px)`` maps, each (H, W), on the device."""
        quality, cos2, sin2, width = (o.float().reshape(1, 1, *o.shape[-2:]) for o in outputs)
        quality = self.smooth(quality, 'quality')
        angle = 0.5 * torch.atan2(self.smooth(sin2, 'angle'), self.smooth(cos2, 'angle'))
        width = self.smooth(width, 'width') * self.width_scale
        return quality[0, 0], angle[0, 0], width[0, 0]

    def grasps(self, quality: torch.Tensor, angle: torch.Tensor, width: torch.Tensor,
               top_k: int, min_distance: int) -> Optional[List[Grasp]]:
        """The same grasps as :func:`mtg_grasp_ros.postprocess.top_grasps` (no min_quality).

        Returns None in the rare case that the copied peaks do not hold ``top_k`` grasps far
        enough apart (quality plateaus); the caller then falls back to the full maps.
        """
        h, w = quality.shape
        if top_k == 1:
            index = torch.argmax(quality.reshape(-1)).reshape(1)
        else:
            size = 2 * max(1, int(min_distance)) + 1
            dilated = F.max_pool2d(quality[None, None], size, stride=1,
                                   padding=size // 2)[0, 0]
            peaks = torch.where(quality >= dilated, quality,
                                torch.full_like(quality, -math.inf)).reshape(-1)
            k = min(peaks.numel(), top_k * _PEAKS_PER_GRASP)
            index = torch.topk(peaks, k, sorted=True).indices
        flat = torch.stack([quality.reshape(-1)[index], angle.reshape(-1)[index],
                            width.reshape(-1)[index]])
        values = flat.cpu().numpy()  # the only device -> host copy of the frame
        index = index.cpu().numpy()
        chosen: List[Tuple[int, int, int]] = []
        for j, flat_index in enumerate(index):
            if not math.isfinite(values[0, j]):
                break  # -inf: no more peaks
            r, c = divmod(int(flat_index), w)
            if all((r - r0) ** 2 + (c - c0) ** 2 >= min_distance ** 2 for r0, c0, _ in chosen):
                chosen.append((r, c, j))
            if len(chosen) == top_k:
                break
        if (len(chosen) < top_k and len(index) < quality.numel()
                and np.isfinite(values[0]).all()):
            return None  # plateaus: too few distinct peaks among those copied; caller falls back
        result = []
        for r, c, j in chosen:
            wd = max(float(values[2, j]), 0.0)
            result.append(Grasp(row=float(r), col=float(c), angle=float(values[1, j]), width=wd,
                                jaw_size=wd / 2.0, quality=float(values[0, j])))
        return result
