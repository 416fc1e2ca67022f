"""PyTorch dataset: decoded samples -> (normalised network input, ground-truth maps).

Per item: decode the view (or take it from the cache), pick one affine matrix (the central
square without augmentation, a random crop/zoom/quarter turn with it), warp the images and the
grasps with that same matrix, normalise the *warped* image with
:func:`mtg_grasp_ros.preprocess.network_input` (the node's exact normalisation) and rasterise the
targets of Section III-D at the output size.

Working resolution and cache. Decoding a 1024 px PNG costs far more than the rest of an item,
so each decoded view is first area-resized until its shorter side is at most twice the output
size (600 px for 300 px outputs: enough for the strongest zoom, 0.5, to sample at full detail),
with its grasps moved by the same resize matrix. That step is deterministic and is the same with
the cache on or off; ``cache=True`` merely keeps its result (in an LRU bounded by ``cache_mb``,
per process: each DataLoader worker holds its own, so call :meth:`GraspDataset.preload` before
the workers fork). Cached and uncached items are bit-for-bit equal, and the un-augmented path is
an exact 2x box filter from the working image for Jacquard.

Randomness. Augmentation draws from ``numpy.random.default_rng([seed, epoch, index])``: items
are reproducible whatever the worker or order, and differ between epochs once
:meth:`GraspDataset.set_epoch` is called before each epoch (DataLoader workers are re-created
each epoch and see the new value unless ``persistent_workers=True``).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
import logging
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from mtg_grasp_ros.grasp import Grasp
from mtg_grasp_ros.models import INPUT_CHANNELS
from mtg_grasp_ros.preprocess import network_input
from training.augment import (base_transform, random_transform, resize_matrix, warp_grasps,
                              warp_image)
from training.formats import load_sample
from training.samples import DatasetError, depth_target, saliency_target, SampleFiles
from training.targets import grasp_maps, TARGET_NAMES

LOG = logging.getLogger(__name__)

AUX_TASKS = ('none', 'depth', 'saliency')


@dataclass
class _Working:
    """A view at working resolution: only the images this dataset needs, grasps in its pixels."""

    shape: Tuple[int, int]
    rgb: Optional[np.ndarray]
    depth: Optional[np.ndarray]
    mask: Optional[np.ndarray]
    grasps: List[Grasp]

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.rgb, self.depth, self.mask) if a is not None)


#: Decoded working views shared by all datasets of this process, when enabled.
_SHARED_VIEWS: Dict[tuple, '_Working'] = {}
_SHARING = {'enabled': False}


def share_decoded_views(enabled: bool = True) -> None:
    """Let every GraspDataset of this process reuse the views others decoded.

    The Table I runner trains 6 configurations x folds on the same images; decoding them once
    instead of once per run saves most of a run's start-up on 1024 px data. Views stay in
    memory until the process ends, so only long-lived runners with a bounded dataset use it.
    """
    _SHARING['enabled'] = bool(enabled)
    if not enabled:
        _SHARED_VIEWS.clear()


class GraspDataset(Dataset):
    """Items ``(x, y)``: x (C, S, S) float32 input, y (4 or 5, S, S) float32 targets.

    ``y`` holds quality, cos 2a, sin 2a, width (see :data:`training.targets.TARGET_NAMES`) and,
    with an auxiliary task, the normalised depth (:func:`training.samples.depth_target`) or the
    object mask last.
    """

    def __init__(self, files: Sequence[SampleFiles], input_mode: str = 'rgb', aux: str = 'none',
                 output_size: int = 300, augment: bool = False, rotate: bool = False,
                 zoom: Tuple[float, float] = (0.5, 1.0), seed: int = 0, skip_bad: bool = False,
                 cache: bool = True, cache_mb: float = 2048.0) -> None:
        if input_mode not in INPUT_CHANNELS:
            raise ValueError(f'unknown input mode {input_mode!r}; expected one of '
                             f'{tuple(INPUT_CHANNELS)}')
        if aux not in AUX_TASKS:
            raise ValueError(f'unknown auxiliary task {aux!r}; expected one of {AUX_TASKS}')
        if output_size < 8:
            raise ValueError(f'output_size must be at least 8 px, got {output_size}')
        if seed < 0:
            raise ValueError(f'seed must be non-negative, got {seed}')
        if augment and not 0.0 < zoom[0] <= zoom[1] <= 1.0:
            raise ValueError(f'zoom range must satisfy 0 < low <= high <= 1, got {zoom}')
        self.input_mode = input_mode
        self.aux = aux
        self.output_size = int(output_size)
        self.augment = augment
        self.rotate = rotate
        self.zoom = (float(zoom[0]), float(zoom[1]))
        self.seed = int(seed)
        self.epoch = 0
        self.cache = cache
        self.cache_bytes = int(cache_mb * 2 ** 20)
        self._cache: 'OrderedDict[int, _Working]' = OrderedDict()
        self._cached_bytes = 0
        self._needs_rgb = input_mode in ('rgb', 'rgbd')
        self._needs_depth = input_mode in ('depth', 'rgbd') or aux == 'depth'
        self._needs_mask = aux == 'saliency'
        #: (offending file, reason) of every sample dropped by ``skip_bad``.
        self.skipped: List[Tuple[Path, str]] = []
        self.files: List[SampleFiles] = list(files)
        if not self.files:
            raise DatasetError('no samples given to GraspDataset')
        if skip_bad:
            self._drop_bad()
        else:
            self._check_companions()

    @property
    def input_channels(self) -> int:
        """Channels of ``x``."""
        return INPUT_CHANNELS[self.input_mode]

    @property
    def target_names(self) -> Tuple[str, ...]:
        """Names of the channels of ``y``."""
        return TARGET_NAMES + ((self.aux,) if self.aux != 'none' else ())

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation draws of ``epoch`` (call before each training epoch)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> Tuple[torch.Tensor, torch.Tensor]:
        view = self._working(index)
        size = self.output_size
        if self.augment:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            matrix = random_transform(rng, view.shape, size, self.zoom, self.rotate)
        else:
            matrix = base_transform(view.shape, size)
        rgb = warp_image(view.rgb, matrix, size) if view.rgb is not None else None
        depth = warp_image(view.depth, matrix, size) if view.depth is not None else None
        x = network_input(self.input_mode, rgb, depth)
        targets = [grasp_maps(warp_grasps(view.grasps, matrix, size), (size, size))]
        if self.aux == 'depth':
            targets.append(depth_target(depth)[None])
        elif self.aux == 'saliency':
            targets.append(saliency_target(warp_image(view.mask, matrix, size))[None])
        y = np.concatenate(targets, axis=0) if len(targets) > 1 else targets[0]
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)

    def preload(self) -> int:
        """Decode every sample into the cache now; returns how many the cache holds.

        Call it before creating DataLoader workers: forked workers then share the decoded
        samples (copy-on-write) instead of each decoding them again every epoch.
        """
        if self.cache:
            for index in range(len(self.files)):
                self._working(index)
        return len(self._cache)

    def ground_truth(self, index: int) -> List[Grasp]:
        """The un-augmented ground-truth grasps of item ``index`` in output pixels."""
        view = self._working(index)
        return warp_grasps(view.grasps, base_transform(view.shape, self.output_size),
                           self.output_size)

    # Loading and validation.

    def _missing_companion(self, files: SampleFiles) -> Optional[str]:
        if self._needs_depth and files.depth is None:
            why = 'input mode ' + self.input_mode if self.aux != 'depth' else 'aux depth'
            return f'sample {files.name} has no depth image, needed for {why}'
        if self._needs_mask and files.mask is None:
            return f'sample {files.name} has no mask image, needed for aux saliency'
        return None

    def _check_companions(self) -> None:
        problems = [(f, why) for f in self.files
                    if (why := self._missing_companion(f)) is not None]
        if problems:
            files, why = problems[0]
            raise DatasetError(f'{len(problems)} of {len(self.files)} samples lack an image this '
                               f'configuration needs; first: {why} (beside {files.grasps}); '
                               'use skip_bad to drop them', files.grasps)

    def _drop_bad(self) -> None:
        """Decode every sample once (filling the cache) and drop those that fail."""
        kept = []
        for files in self.files:
            why = self._missing_companion(files)
            if why is not None:
                self.skipped.append((files.grasps, why))
                continue
            try:
                view = self._load(files)
            except DatasetError as exc:
                self.skipped.append((exc.path or files.grasps, str(exc)))
                continue
            kept.append(files)
            if self.cache:
                self._store(len(kept) - 1, view)
        if self.skipped:
            path, why = self.skipped[0]
            LOG.warning('skipped %d of %d samples with bad or missing files (first: %s)',
                        len(self.skipped), len(self.files), why)
        if not kept:
            raise DatasetError(f'all {len(self.files)} samples are bad; first: '
                               f'{self.skipped[0][1]}', self.skipped[0][0])
        self.files = kept

    def _working(self, index: int) -> _Working:
        if index < 0:
            index += len(self.files)
        if not 0 <= index < len(self.files):
            raise IndexError(f'index {index} out of range for {len(self.files)} samples')
        view = self._cache.get(index)
        if view is not None:
            self._cache.move_to_end(index)
            return view
        if _SHARING['enabled']:
            key = (str(self.files[index].rgb), self.output_size, self._needs_rgb,
                   self._needs_depth, self._needs_mask)
            view = _SHARED_VIEWS.get(key)
            if view is None:
                view = _SHARED_VIEWS[key] = self._load(self.files[index])
        else:
            view = self._load(self.files[index])
        if self.cache:
            self._store(index, view)
        return view

    def _store(self, index: int, view: _Working) -> None:
        self._cache[index] = view
        self._cached_bytes += view.nbytes
        while self._cached_bytes > self.cache_bytes and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._cached_bytes -= old.nbytes

    def _load(self, files: SampleFiles) -> _Working:
        """Decode a view and bring it to working resolution (see the module docstring)."""
        sample = load_sample(files, depth=self._needs_depth, mask=self._needs_mask)
        if self._needs_depth and sample.depth is None:
            raise DatasetError(f'sample {files.name} has no depth image', files.grasps)
        if self._needs_mask and sample.mask is None:
            raise DatasetError(f'sample {files.name} has no mask image', files.grasps)
        height, width = sample.shape
        factor = min(1.0, 2.0 * self.output_size / min(height, width))
        shape = (max(1, round(height * factor)), max(1, round(width * factor)))
        rgb, depth, mask, grasps = sample.rgb, sample.depth, sample.mask, sample.grasps
        if shape != (height, width):
            size = (shape[1], shape[0])
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
            if depth is not None:
                depth = cv2.resize(depth, size, interpolation=cv2.INTER_AREA)
            if mask is not None:
                mask = cv2.resize(mask.astype(np.uint8), size,
                                  interpolation=cv2.INTER_NEAREST) > 0
            grasps = warp_grasps(grasps, resize_matrix((height, width), shape))
        return _Working(shape=shape, rgb=rgb if self._needs_rgb else None, depth=depth,
                        mask=mask, grasps=grasps)
