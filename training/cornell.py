"""Cornell grasping dataset discovery and grasp-file parsing.

Cornell keeps every image in numbered folders (``01/``, ``02/``, ...) as::

    pcdXXXXr.png      colour image, 640 x 480
    pcdXXXXcpos.txt   positive grasps: 4 lines ``x y`` per rectangle (its corners in order)
    pcdXXXXd.tiff     optional float32 depth in metres (as GG-CNN's conversion script writes)

The first edge of each rectangle (corner 0 to corner 1) runs along the gripper's closing
axis, so its length is the opening. Real Cornell files contain ``NaN`` corners; a rectangle with
any NaN corner is dropped whole (its other corners are meaningless without it).

Object ids: Cornell's file names carry no object identity, so by default each image is its own
"object" (an *image-wise* split). Pass ``object_ids`` (image number -> object name), e.g. built
from Cornell's background-mapping notes, for an object-wise split.
"""

from __future__ import annotations

import math
from pathlib import Path
import re
from typing import List, Mapping, Optional

import numpy as np

from mtg_grasp_ros.grasp import Grasp
from training.samples import (DatasetError, find_files, PathLike, read_grasp_text,
                              SampleFiles)

EXPECTED_LAYOUT = ('expected Cornell files such as <root>/01/pcd0100cpos.txt with '
                   'pcd0100r.png beside them')

_CPOS_NAME = re.compile(r'pcd(\d+)cpos\.txt')
#: Rectangles with an edge shorter than this (pixels) are degenerate labels and are dropped.
MIN_EDGE_PX = 1e-3


def find_cornell(root: PathLike,
                 object_ids: Optional[Mapping[str, str]] = None) -> List[SampleFiles]:
    """All Cornell images under ``root``, sorted by path.

    ``object_id`` is the image number (e.g. ``0100``) unless ``object_ids`` maps that number
    to an object name. A missing RGB image raises DatasetError naming the file.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f'Cornell root {root} does not exist or is not a folder; '
                           f'{EXPECTED_LAYOUT}', root)
    samples = []
    for grasps in find_files(root, 'cpos.txt'):
        match = _CPOS_NAME.fullmatch(grasps.name)
        if match is None:
            continue
        number = match.group(1)
        name = f'pcd{number}'
        rgb = grasps.with_name(name + 'r.png')
        if not rgb.is_file():
            raise DatasetError(f'missing RGB image {rgb} for grasp file {grasps}', rgb)
        depth = grasps.with_name(name + 'd.tiff')
        object_id = object_ids.get(number, number) if object_ids else number
        samples.append(SampleFiles(
            rgb=rgb, grasps=grasps, depth=depth if depth.is_file() else None, mask=None,
            object_id=object_id, name=name, fmt='cornell'))
    if not samples:
        raise DatasetError(f'no Cornell samples under {root}; {EXPECTED_LAYOUT}', root)
    return samples


def read_cornell_grasps(path: PathLike) -> List[Grasp]:
    """Parse a Cornell ``cpos.txt`` file (4 corner lines ``x y`` per rectangle).

    Rectangles with a NaN corner or a zero-length edge are dropped; any other malformed line,
    or a line count that is not a multiple of 4, raises DatasetError naming file and line.
    """
    path = Path(path)
    text = read_grasp_text(path)
    points = []  # (line number, x, y)
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise DatasetError(f'{path}, line {number}: expected 2 numbers "x y", got '
                               f'{len(fields)} fields: {line.strip()!r}', path)
        try:
            x, y = float(fields[0]), float(fields[1])
        except ValueError:
            raise DatasetError(f'{path}, line {number}: not a number in {line.strip()!r}',
                               path) from None
        if math.isinf(x) or math.isinf(y):
            raise DatasetError(f'{path}, line {number}: infinite value in {line.strip()!r}',
                               path)
        points.append((number, x, y))
    if len(points) % 4:
        raise DatasetError(f'{path}: {len(points)} corner lines is not a multiple of 4 '
                           f'(the last rectangle starts at line {points[-(len(points) % 4)][0]})',
                           path)
    grasps = []
    for start in range(0, len(points), 4):
        corners = np.array([(y, x) for _, x, y in points[start:start + 4]])  # (row, col)
        if np.isnan(corners).any():
            continue
        edges = np.linalg.norm(np.roll(corners, -1, axis=0) - corners, axis=1)
        if edges.min() < MIN_EDGE_PX:
            continue
        grasps.append(Grasp.from_corners(corners))
    return grasps
