"""``sensor_msgs/Image`` -> NumPy arrays, with or without cv_bridge (ROS-free).

:func:`image_to_rgb` gives an (H, W, 3) uint8 RGB array for ``rgb8``, ``bgr8``, ``rgba8``,
``bgra8`` and ``mono8``; :func:`image_to_depth` gives an (H, W) float32 depth in metres for
``32FC1`` (metres) and ``16UC1`` / ``mono16`` (millimetres; 0 means "no reading" and becomes NaN).

Every message is validated here first (encoding, size, ``step``, data length), so a bad message
always raises :class:`ImageConversionError` with a message saying what is wrong. The pixels are
then converted by the NumPy converter below, which honours ``step`` (row padding) and
``is_bigendian`` and copies nothing it does not have to. ``cv_bridge`` (``CvBridge.imgmsg_to_cv2``)
is used only when asked (``use_cv_bridge=True``): compared with it on every encoding, padding and
byte order (test/ros_real/test_cv_bridge_real.py, the real cv_bridge), it raises on every
big-endian message with NumPy 2 (``ndarray.newbyteorder`` is gone) and silently returns shifted
rows when the row padding is not a whole number of pixels (it takes ``step // pixel size``
pixels per row), where this converter is right in every case.

The message may be any object with the fields ``height``, ``width``, ``encoding``,
``is_bigendian``, ``step`` and ``data`` (a bytes-like object).
"""

from __future__ import annotations

import operator
from typing import Any, Tuple

import numpy as np


class ImageConversionError(ValueError):
    """A malformed image message or an encoding the node does not support."""

    reason = 'bad_image'


#: encoding -> (channels, bytes per channel)
RGB_ENCODINGS = {'rgb8': (3, 1), 'bgr8': (3, 1), 'rgba8': (4, 1), 'bgra8': (4, 1),
                 'mono8': (1, 1)}
DEPTH_ENCODINGS = {'32FC1': (1, 4), '16UC1': (1, 2), 'mono16': (1, 2)}

_BRIDGE: Any = None
_BRIDGE_CHECKED = False


def cv_bridge_available() -> bool:
    """True when cv_bridge imports and works (it fails to import with NumPy 2 on some ROS)."""
    return _bridge() is not None


def _require_bridge():
    bridge = _bridge()
    if bridge is None:
        raise ImageConversionError('use_cv_bridge=True but cv_bridge cannot be imported')
    return bridge


def _bridge():
    global _BRIDGE, _BRIDGE_CHECKED
    if not _BRIDGE_CHECKED:
        _BRIDGE_CHECKED = True
        try:
            from cv_bridge import CvBridge
            _BRIDGE = CvBridge()
        except Exception:  # ImportError, or AttributeError/RuntimeError from a NumPy mismatch
            _BRIDGE = None
    return _BRIDGE


def image_to_rgb(msg, use_cv_bridge: bool = False) -> np.ndarray:
    """An RGB image message -> (H, W, 3) uint8 RGB; raises ImageConversionError (see the module
    docstring; ``use_cv_bridge``: convert the validated message with cv_bridge instead)."""
    encoding = _encoding(msg)
    if encoding not in RGB_ENCODINGS:
        raise ImageConversionError(
            f'unsupported colour image encoding {msg.encoding!r}; supported: '
            f'{", ".join(RGB_ENCODINGS)} (use image_proc/debayer for Bayer images)')
    channels, size = RGB_ENCODINGS[encoding]
    rows = _rows(msg, channels * size)
    bridge = _require_bridge() if use_cv_bridge else None
    if bridge is not None:
        return _bridge_convert(bridge, msg, 'rgb8', (rows.shape[0], msg.width, 3))
    pixels = rows.reshape(rows.shape[0], -1, channels)
    if encoding == 'rgb8':
        return pixels
    if encoding == 'rgba8':
        return np.ascontiguousarray(pixels[:, :, :3])
    if encoding in ('bgr8', 'bgra8'):
        return np.ascontiguousarray(pixels[:, :, 2::-1])
    return np.repeat(pixels, 3, axis=2)  # mono8


def image_to_depth(msg, use_cv_bridge: bool = False) -> np.ndarray:
    """A depth image message -> (H, W) float32 metres; 16-bit zeros (no reading) -> NaN; raises
    ImageConversionError (``use_cv_bridge`` as in :func:`image_to_rgb`)."""
    encoding = _encoding(msg)
    if encoding not in DEPTH_ENCODINGS:
        raise ImageConversionError(
            f'unsupported depth image encoding {msg.encoding!r}; supported: '
            f'{", ".join(DEPTH_ENCODINGS)}')
    channels, size = DEPTH_ENCODINGS[encoding]
    rows = _rows(msg, channels * size)
    bridge = _require_bridge() if use_cv_bridge else None
    if bridge is not None:
        raw = _bridge_convert(bridge, msg, 'passthrough', (rows.shape[0], msg.width))
    else:
        order = '>' if msg.is_bigendian else '<'
        dtype = np.dtype(order + ('f4' if encoding == '32FC1' else 'u2'))
        raw = np.ascontiguousarray(rows).view(dtype).reshape(rows.shape[0], -1)
    if encoding == '32FC1':
        return raw.astype(np.float32)
    depth = raw.astype(np.float32) * np.float32(0.001)
    depth[raw == 0] = np.nan
    return depth


def _encoding(msg) -> str:
    encoding = getattr(msg, 'encoding', None)
    if not isinstance(encoding, str):
        raise ImageConversionError(f'image encoding must be a string, got {encoding!r}')
    return encoding


def _rows(msg, bytes_per_pixel: int) -> np.ndarray:
    """The (H, W * bytes_per_pixel) uint8 view of the pixel bytes, validated, without copy."""
    try:
        # operator.index: a size must be an integer (2.5 or '2' is malformed, not truncated).
        height, width, step = (operator.index(v) for v in (msg.height, msg.width, msg.step))
        buffer = memoryview(msg.data).cast('B')
    except (TypeError, ValueError, AttributeError) as exc:
        raise ImageConversionError(f'malformed image message: {exc}') from exc
    if height <= 0 or width <= 0:
        raise ImageConversionError(f'empty image: {width}x{height}')
    row_bytes = width * bytes_per_pixel
    if step < row_bytes:
        raise ImageConversionError(
            f'step {step} is smaller than a row of {width} pixels x {bytes_per_pixel} bytes '
            f'= {row_bytes} ({msg.encoding})')
    needed = step * (height - 1) + row_bytes
    length = buffer.nbytes
    if length < needed:
        raise ImageConversionError(
            f'image data is too short: {length} bytes for {width}x{height} {msg.encoding} with '
            f'step {step} (needs {step * height})')
    if length > step * height:
        raise ImageConversionError(
            f'image data is too long: {length} bytes for {width}x{height} {msg.encoding} with '
            f'step {step} (expected {step * height}): height or step is wrong')
    flat = np.frombuffer(buffer, dtype=np.uint8)
    return np.ndarray(shape=(height, row_bytes), dtype=np.uint8, buffer=flat,
                      strides=(step, 1))


def _bridge_convert(bridge, msg, encoding: str, shape: Tuple[int, ...]) -> np.ndarray:
    try:
        image = np.asarray(bridge.imgmsg_to_cv2(msg, desired_encoding=encoding))
    except Exception as exc:  # CvBridgeError and whatever OpenCV raises
        raise ImageConversionError(f'cv_bridge cannot convert the image: {exc}') from exc
    if image.shape != shape:
        raise ImageConversionError(f'cv_bridge returned shape {image.shape}, expected {shape}')
    return image
