"""Jacquard dataset discovery and grasp-file parsing (the layout the dataset is shipped in).

Jacquard has one folder per object, possibly nested in part folders
(``Jacquard_Dataset_0/<object>/...``). Each view ``<view>`` of object ``<object>`` has::

    <view>_<object>_RGB.png            colour image, 1024 x 1024
    <view>_<object>_perfect_depth.tiff float32 depth in metres (rendered, no noise)
    <view>_<object>_stereo_depth.tiff  float32 depth in metres (simulated stereo)
    <view>_<object>_mask.png           object mask, 0 / 255
    <view>_<object>_grasps.txt         one grasp per line: x;y;theta;w;h

Samples are discovered by their ``*_grasps.txt`` file. The depth used for training (the depth
input modes and the depth-reconstruction target) is the perfect depth, as in the paper.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
import re
from typing import List

from mtg_grasp_ros.grasp import Grasp
from training.samples import (DatasetError, find_files, PathLike, read_grasp_text,
                              SampleFiles)

LOG = logging.getLogger(__name__)

GRASPS_SUFFIX = '_grasps.txt'
RGB_SUFFIX = '_RGB.png'
DEPTH_SUFFIX = '_perfect_depth.tiff'
STEREO_DEPTH_SUFFIX = '_stereo_depth.tiff'
MASK_SUFFIX = '_mask.png'

EXPECTED_LAYOUT = ('expected Jacquard files such as <root>/<object>/0_<object>_grasps.txt with '
                   '0_<object>_RGB.png beside them (folders may be nested, e.g. '
                   '<root>/Jacquard_Dataset_0/<object>/)')

_VIEW_NAME = re.compile(r'(\d+)_(.+)')


def find_jacquard(root: PathLike, skip_missing: bool = False) -> List[SampleFiles]:
    """All views under ``root``, sorted by path (deterministic).

    A view whose RGB image is missing raises DatasetError naming the file, or with
    ``skip_missing`` is left out (one warning counts them). Depth and mask are optional: their
    paths are None when the files do not exist.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f'Jacquard root {root} does not exist or is not a folder; '
                           f'{EXPECTED_LAYOUT}', root)
    samples = []
    missing = []
    for grasps in find_files(root, GRASPS_SUFFIX):
        name = grasps.name[:-len(GRASPS_SUFFIX)]
        match = _VIEW_NAME.fullmatch(name)
        # The object part of <view>_<object>; a file not named that way falls back to its
        # folder, which is the object's folder in real Jacquard.
        object_id = match.group(2) if match else grasps.parent.name
        rgb = grasps.with_name(name + RGB_SUFFIX)
        if not rgb.is_file():
            if not skip_missing:
                raise DatasetError(f'missing RGB image {rgb} for grasp file {grasps}', rgb)
            missing.append(rgb)
            continue
        depth = grasps.with_name(name + DEPTH_SUFFIX)
        mask = grasps.with_name(name + MASK_SUFFIX)
        samples.append(SampleFiles(
            rgb=rgb, grasps=grasps, depth=depth if depth.is_file() else None,
            mask=mask if mask.is_file() else None, object_id=object_id, name=name,
            fmt='jacquard'))
    if missing:
        LOG.warning('skipped %d Jacquard views under %s without an RGB image (first: %s)',
                    len(missing), root, missing[0])
    if not samples:
        raise DatasetError(f'no Jacquard samples under {root}; {EXPECTED_LAYOUT}', root)
    return samples


def read_jacquard_grasps(path: PathLike) -> List[Grasp]:
    """Parse a Jacquard ``_grasps.txt`` file into grasps in the image's pixels.

    Each non-blank line is ``x;y;theta;w;h``: centre column and row, angle in degrees in image
    axes, opening and jaw size in pixels. Malformed lines raise DatasetError naming the file and
    line number, because a silently dropped label would bias training without anyone noticing.
    """
    path = Path(path)
    text = read_grasp_text(path)
    grasps = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        fields = line.split(';')
        where = f'{path}, line {number}'
        if len(fields) != 5:
            raise DatasetError(f'{where}: expected 5 fields x;y;theta;w;h, got {len(fields)}: '
                               f'{line!r}', path)
        try:
            x, y, theta, w, h = (float(f) for f in fields)
        except ValueError:
            raise DatasetError(f'{where}: not a number in {line!r}', path) from None
        if not all(math.isfinite(v) for v in (x, y, theta, w, h)):
            raise DatasetError(f'{where}: non-finite value in {line!r}', path)
        if w <= 0 or h <= 0:
            raise DatasetError(f'{where}: opening w and jaw size h must be positive in {line!r}',
                               path)
        grasps.append(Grasp.from_jacquard(x, y, theta, w, h))
    return grasps
