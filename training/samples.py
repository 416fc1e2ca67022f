"""Dataset samples shared by all formats: file sets, image decoding and the auxiliary targets.

The leaf of the dataset code: it imports no other ``training`` module. A dataset format module
(:mod:`training.jacquard`, :mod:`training.cornell`) only *finds* files and parses its grasp text
files with the shared types here; :mod:`training.formats` picks the format and assembles a
:class:`Sample` (``load_sample``). Everything that reads images lives here, so every format gets
the same checks: an image that does not decode or a depth image that is not float metres raises
:class:`DatasetError` naming the file.

The paper's auxiliary targets (Section III-D) are built here too: depth reconstruction uses the
depth image min-max normalised to [0, 1] per image, saliency uses the object mask.
"""

from __future__ import annotations

from dataclasses import dataclass
import os
from pathlib import Path
from typing import List, Optional, Union

import cv2
import numpy as np

from mtg_grasp_ros.grasp import Grasp

PathLike = Union[str, os.PathLike]


class DatasetError(ValueError):
    """A dataset root, file or line is missing or malformed; the message names the file."""

    def __init__(self, message: str, path: Optional[PathLike] = None) -> None:
        super().__init__(message)
        #: The offending file (or root folder), when there is one.
        self.path = Path(path) if path is not None else None


@dataclass(frozen=True)
class SampleFiles:
    """The files of one view (one training image) in any supported format."""

    rgb: Path
    grasps: Path
    depth: Optional[Path]
    mask: Optional[Path]
    object_id: str
    name: str  # e.g. ``0_abc123`` (Jacquard) or ``pcd0100`` (Cornell)
    fmt: str = 'jacquard'  # which grasp text format ``grasps`` is written in


@dataclass
class Sample:
    """One decoded view: images in their original resolution plus its grasps in pixels."""

    rgb: np.ndarray  # (H, W, 3) uint8, RGB channel order
    depth: Optional[np.ndarray]  # (H, W) float32 metres
    mask: Optional[np.ndarray]  # (H, W) bool, True on the object
    grasps: List[Grasp]

    @property
    def shape(self) -> tuple:
        """(H, W) of the images."""
        return tuple(self.rgb.shape[:2])


def read_rgb(path: Path) -> np.ndarray:
    """Decode a colour image to (H, W, 3) uint8 RGB; DatasetError if it does not decode."""
    path = Path(path)
    _require_file(path, 'RGB image')
    # IMREAD_COLOR also turns grey or 16-bit PNGs into 8-bit BGR, so every RGB is uint8.
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(f'cannot decode RGB image {path} (truncated or corrupt file?)', path)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_depth(path: Path) -> np.ndarray:
    """Decode a float depth image in metres (Jacquard's TIFFs) to (H, W) float32."""
    path = Path(path)
    _require_file(path, 'depth image')
    depth = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if depth is None:
        raise DatasetError(f'cannot decode depth image {path} (truncated or corrupt file?)', path)
    if depth.ndim != 2:
        raise DatasetError(f'depth image {path} has shape {depth.shape}; expected one channel',
                           path)
    if depth.dtype.kind != 'f':
        # An integer image is usually millimetres from a real camera; guessing the unit would
        # silently scale the auxiliary target, so ask for metres instead.
        raise DatasetError(f'depth image {path} is {depth.dtype}; expected float depth in metres '
                           '(a 32-bit float TIFF as in Jacquard)', path)
    return depth.astype(np.float32, copy=False)


def read_mask(path: Path) -> np.ndarray:
    """Decode an object mask (0 background, non-zero object) to (H, W) bool."""
    path = Path(path)
    _require_file(path, 'mask image')
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise DatasetError(f'cannot decode mask image {path} (truncated or corrupt file?)', path)
    # Non-zero rather than > 127, so both 0/255 (Jacquard) and 0/1 masks work.
    return mask > 0


def find_files(root: Path, suffix: str) -> List[Path]:
    """Files under ``root`` whose name ends with ``suffix``, sorted; symlinked folders are
    followed (datasets are often assembled from links), ``Path.rglob`` would skip them."""
    found = []
    for folder, _, names in os.walk(root, followlinks=True):
        found.extend(Path(folder) / n for n in names if n.endswith(suffix))
    return sorted(found)


def read_grasp_text(path: Path) -> str:
    """The text of a grasp file, or a DatasetError that names it."""
    try:
        return Path(path).read_text(encoding='utf-8')
    except FileNotFoundError:
        raise DatasetError(f'grasp file {path} does not exist', path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f'cannot read grasp file {path}: {exc}', path) from exc


def depth_target(depth: np.ndarray) -> np.ndarray:
    """The depth-reconstruction target: depth min-max normalised to [0, 1] within this image.

    Near is 0 and far is 1, as the raw depth orders them. Only finite, positive pixels set the
    range; other pixels (missing depth) are set to 1, i.e. treated as far background, which is
    what a missing reading on a table-top scene most often is. A constant image maps to 0.
    """
    depth = np.asarray(depth, dtype=np.float32)
    valid = np.isfinite(depth) & (depth > 0)
    if not valid.any():
        return np.zeros(depth.shape, np.float32)
    low = float(depth[valid].min())
    span = float(depth[valid].max()) - low
    if span <= 0:
        return np.where(valid, 0.0, 1.0).astype(np.float32)
    out = (np.where(valid, depth, low) - low) * np.float32(1.0 / span)
    out[~valid] = 1.0
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def saliency_target(mask: np.ndarray) -> np.ndarray:
    """The saliency target: the object mask as float32, 1 on the object and 0 elsewhere."""
    return (np.asarray(mask) > 0).astype(np.float32)


def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        raise DatasetError(f'{what} {path} does not exist', path)
