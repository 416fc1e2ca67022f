"""Writing one view in Jacquard's file layout.

``DIR/<object_id>/`` holds, for each view ``<view>`` (0, 1, ...)::

    <view>_<object_id>_RGB.png            8-bit RGB, size x size
    <view>_<object_id>_perfect_depth.tiff float32 metres (camera z), as rendered
    <view>_<object_id>_stereo_depth.tiff  float32 metres, simulated stereo, 0 = no data
    <view>_<object_id>_mask.png           8-bit, 255 on the object, 0 elsewhere
    <view>_<object_id>_grasps.txt         one successful grasp per line: x;y;theta;w;h

``x;y`` is the centre (column, row, pixels), ``theta`` the angle in degrees in image axes
(Jacquard's sign: the negative of :class:`~mtg_grasp_ros.grasp.Grasp`'s counter-clockwise
angle), ``w`` the gripper opening and ``h`` the jaw size, both in pixels; two decimals.
The TIFFs are Deflate-compressed (lossless; read by libtiff, i.e. OpenCV's
``imread(..., IMREAD_UNCHANGED)``, and by Pillow): at 1024 px a perfect depth is ~0.7 MB
instead of 4 MB raw, and the stereo depth, with TIFF's horizontal predictor (measured 35%
smaller than without; the floating-point predictor gained nothing through OpenCV), ~1 MB.
Files are written through a temporary name and renamed, so an interrupted run never leaves a
half-written image that a loader would trip over. :func:`training.jacquard.read_jacquard_grasps`
reads the grasp files back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Iterable

import cv2
import numpy as np

from mtg_grasp_ros.grasp import Grasp

SUFFIXES = ('_RGB.png', '_perfect_depth.tiff', '_stereo_depth.tiff', '_mask.png', '_grasps.txt')


def view_stem(view: int, object_id: str) -> str:
    return f'{view}_{object_id}'


def format_grasp(grasp: Grasp) -> str:
    """One Jacquard line ``x;y;theta;w;h`` with two decimals (-0.00 written as 0.00)."""
    return ';'.join(f'{v:.2f}' if round(v, 2) != 0 else '0.00' for v in grasp.to_jacquard())


DEFLATE = [cv2.IMWRITE_TIFF_COMPRESSION, cv2.IMWRITE_TIFF_COMPRESSION_ADOBE_DEFLATE]
PREDICT = [cv2.IMWRITE_TIFF_PREDICTOR, cv2.IMWRITE_TIFF_PREDICTOR_HORIZONTAL]


def _write_image(path: Path, image: np.ndarray, params=()) -> None:
    tmp = path.with_name('.tmp' + path.name)
    if not cv2.imwrite(str(tmp), image, list(params)):
        raise OSError(f'OpenCV could not write {path}')
    os.replace(tmp, path)


def write_view(out_dir: Path, object_id: str, view: int, rgb: np.ndarray,
               perfect_depth: np.ndarray, stereo_depth: np.ndarray, mask: np.ndarray,
               grasps: Iterable[Grasp]) -> Dict[str, Path]:
    """Write the five Jacquard files of one view into ``out_dir/<object_id>/``; return paths."""
    folder = Path(out_dir) / object_id
    folder.mkdir(parents=True, exist_ok=True)
    stem = view_stem(view, object_id)
    paths = {s: folder / (stem + s) for s in SUFFIXES}
    _write_image(paths['_RGB.png'], cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    _write_image(paths['_perfect_depth.tiff'], np.asarray(perfect_depth, dtype=np.float32),
                 DEFLATE)
    _write_image(paths['_stereo_depth.tiff'], np.asarray(stereo_depth, dtype=np.float32),
                 DEFLATE + PREDICT)
    _write_image(paths['_mask.png'], np.where(mask > 0, 255, 0).astype(np.uint8))
    text = ''.join(format_grasp(g) + '\n' for g in grasps)
    tmp = paths['_grasps.txt'].with_name('.tmp' + paths['_grasps.txt'].name)
    tmp.write_text(text, encoding='utf-8')
    os.replace(tmp, paths['_grasps.txt'])
    return paths
