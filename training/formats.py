"""Dataset format dispatch: find the samples of a root and parse a sample's grasp file.

The format modules (:mod:`training.jacquard`, :mod:`training.cornell`) know one layout each and
import only the shared types of :mod:`training.samples`; this module sits above them and picks
the right one, so the import arrows run one way: ``samples`` <- ``jacquard``/``cornell`` <-
``formats`` <- the dataset, training and evaluation code.
"""

from __future__ import annotations

from pathlib import Path
from typing import List

from mtg_grasp_ros.grasp import Grasp
from training.cornell import find_cornell, read_cornell_grasps
from training.jacquard import find_jacquard, read_jacquard_grasps
from training.samples import (DatasetError, find_files, PathLike, read_depth, read_mask,
                              read_rgb, Sample, SampleFiles)

#: Dataset formats understood by :func:`find_samples` and :func:`read_grasps`.
FORMATS = ('jacquard', 'cornell')


def find_samples(root: PathLike, fmt: str = 'auto') -> List[SampleFiles]:
    """Find the samples under ``root`` in ``fmt`` (``jacquard``, ``cornell`` or ``auto``).

    ``auto`` picks Jacquard when any ``*_grasps.txt`` exists and Cornell when any
    ``pcd*cpos.txt`` exists. Raises :class:`DatasetError` for an unknown format and (from the
    format modules) for a missing or empty root.
    """
    if fmt == 'jacquard':
        return find_jacquard(root)
    if fmt == 'cornell':
        return find_cornell(root)
    if fmt != 'auto':
        raise DatasetError(f'unknown dataset format {fmt!r}; expected auto or one of {FORMATS}')
    root = Path(root)
    if root.is_dir():
        if find_files(root, '_grasps.txt'):
            return find_jacquard(root)
        if find_files(root, 'cpos.txt'):
            return find_cornell(root)
    # Neither: let the Jacquard finder explain what was expected (or that root is missing).
    return find_jacquard(root)


def read_grasps(files: SampleFiles) -> List[Grasp]:
    """Parse the grasp file of ``files`` with the reader of its format (``files.fmt``).

    Grasps are in the image's pixels. Raises :class:`DatasetError` naming the file for an
    unknown format or a malformed file.
    """
    if files.fmt == 'jacquard':
        return read_jacquard_grasps(files.grasps)
    if files.fmt == 'cornell':
        return read_cornell_grasps(files.grasps)
    raise DatasetError(f'unknown dataset format {files.fmt!r} for {files.grasps}; '
                       f'expected one of {FORMATS}', files.grasps)


def load_sample(files: SampleFiles, depth: bool = True, mask: bool = True) -> Sample:
    """Decode one view: RGB (H, W, 3) uint8, depth (H, W) float32 metres, mask (H, W) bool.

    ``depth``/``mask`` False skip an image the caller does not need; either is only read when
    the sample has it (``files.depth``/``files.mask``). Raises :class:`DatasetError` naming the
    file for an unreadable image or grasp file, or a depth/mask of another size than the RGB.
    """
    grasps = read_grasps(files)
    rgb_image = read_rgb(files.rgb)
    depth_image = read_depth(files.depth) if depth and files.depth is not None else None
    mask_image = read_mask(files.mask) if mask and files.mask is not None else None
    shape = rgb_image.shape[:2]
    for image, path in ((depth_image, files.depth), (mask_image, files.mask)):
        if image is not None and image.shape[:2] != shape:
            raise DatasetError(f'{path} is {image.shape[1]}x{image.shape[0]} px but the RGB '
                               f'image {files.rgb.name} is {shape[1]}x{shape[0]} px', path)
    return Sample(rgb=rgb_image, depth=depth_image, mask=mask_image, grasps=grasps)
