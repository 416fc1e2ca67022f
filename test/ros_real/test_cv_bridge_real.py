"""The node's image conversion (mtg_grasp_ros/image_conversion.py) against the REAL cv_bridge, on
every encoding the node accepts (colour: rgb8, bgr8, rgba8, bgra8, mono8 -> rgb8; depth: 32FC1,
16UC1, mono16 passed through), with and without padded rows (``step`` > row bytes), little- and
big-endian (``is_bigendian``), on ``sensor_msgs/Image`` messages as rclpy delivers them.

Every case has an independent reference (the pixels the message was made from). The NumPy
converter must match it everywhere; where cv_bridge does not, :func:`cv_bridge_outcome` must say
what it does instead (so a cv_bridge that starts or stops failing is noticed), and the node's
default conversion must match the reference everywhere -- which decided the default: the NumPy
converter (README "Image conversion"). Skips where cv_bridge is
not installed (PyPI wheels alone; CI builds it from ../shared/ros-extras, ``make
ros-extras``)."""

import sys

import numpy as np
import pytest
from sensor_msgs.msg import Image

from mtg_grasp_ros import image_conversion
from mtg_grasp_ros.image_conversion import (DEPTH_ENCODINGS, image_to_depth, image_to_rgb,
                                            RGB_ENCODINGS)

cv_bridge = pytest.importorskip(
    'cv_bridge', reason='cv_bridge is not installed (no PyPI wheel): a ROS 2 install has it; '
                        'CI builds it from ../shared/ros-extras (make ros-extras)')

H, W = 5, 7
PADS = (0, 3, 4)
#: What the real cv_bridge does where it is not right (measured with cv_bridge of
#: ../shared/ros-extras, vision_opencv rolling 2024, and NumPy 2): every big-endian message
#: raises in ``imgmsg_to_cv2`` (``ndarray.newbyteorder`` was removed in NumPy 2), even 8-bit
#: ones, where the flag means nothing; a row padding that is not a whole number of pixels gives
#: shifted rows without an error (it reads ``step // pixel size`` pixels per row).
NUMPY2 = np.lib.NumpyVersion(np.__version__) >= '2.0.0'


def cv_bridge_outcome(encoding, pad, bigendian):
    """None (right), ``('raises', text)`` or ``('wrong pixels', None)``."""
    channels, size = {**RGB_ENCODINGS, **DEPTH_ENCODINGS}[encoding]
    if bigendian and NUMPY2:
        return ('raises', 'newbyteorder')
    if pad % (channels * size):
        return ('wrong pixels', None)
    return None


def message(encoding, payload, pad, bigendian):
    """A sensor_msgs/Image of ``payload`` ((H, W, C) or (H, W) array, native byte order)."""
    data = payload.astype(payload.dtype.newbyteorder('>' if bigendian else '<'))
    rows = data.reshape(H, -1).view(np.uint8)
    padded = np.zeros((H, rows.shape[1] + pad), np.uint8)
    padded[:, :rows.shape[1]] = rows
    padded[:, rows.shape[1]:] = 0xAB            # padding bytes must never show up as pixels
    msg = Image()
    msg.height, msg.width, msg.encoding = H, W, encoding
    msg.is_bigendian = int(bigendian)
    msg.step = padded.shape[1]
    msg.data = padded.tobytes()
    return msg


def colour_case(encoding, seed=0):
    """``(payload, expected rgb)`` for a colour encoding."""
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (H, W, 1), dtype=np.uint8)
    payload = {'rgb8': rgb, 'bgr8': rgb[:, :, ::-1],
               'rgba8': np.concatenate([rgb, alpha], 2),
               'bgra8': np.concatenate([rgb[:, :, ::-1], alpha], 2),
               'mono8': rgb[:, :, 0]}[encoding]
    expected = np.repeat(rgb[:, :, :1], 3, axis=2) if encoding == 'mono8' else rgb
    return np.ascontiguousarray(payload), expected


def depth_case(encoding, seed=0):
    """``(payload, expected metres)``: 32FC1 in metres (with a NaN), 16-bit in mm (with 0)."""
    rng = np.random.default_rng(seed)
    if encoding == '32FC1':
        payload = rng.uniform(0.1, 3.0, (H, W)).astype(np.float32)
        payload[1, 2] = np.nan
        return payload, payload.copy()
    payload = rng.integers(1, 65535, (H, W)).astype(np.uint16)
    payload[0, 0] = 0
    expected = payload.astype(np.float32) * np.float32(0.001)
    expected[0, 0] = np.nan
    return payload, expected


def cv_bridge_raw(msg, desired):
    return np.asarray(cv_bridge.CvBridge().imgmsg_to_cv2(msg, desired_encoding=desired))


CASES = [(e, pad, big) for e in (*RGB_ENCODINGS, *DEPTH_ENCODINGS) for pad in PADS
         for big in (False, True)]


@pytest.mark.parametrize('encoding,pad,bigendian', CASES)
def test_numpy_converter_and_cv_bridge_against_the_reference(encoding, pad, bigendian):
    """The NumPy converter equals the reference in every case; cv_bridge equals it except in
    the cases of CV_BRIDGE_FAILS, where it raises what is written there."""
    colour = encoding in RGB_ENCODINGS
    payload, expected = (colour_case if colour else depth_case)(encoding)
    msg = message(encoding, payload, pad, bigendian)
    if colour:
        ours = image_to_rgb(msg, use_cv_bridge=False)
        np.testing.assert_array_equal(ours, expected)
    else:
        ours = image_to_depth(msg, use_cv_bridge=False)
        np.testing.assert_array_equal(ours, expected)
        assert ours.dtype == np.float32

    outcome = cv_bridge_outcome(encoding, pad, bigendian)
    try:
        raw = cv_bridge_raw(msg, 'rgb8' if colour else 'passthrough')
    except Exception as exc:  # noqa: B902 (CvBridgeError, AttributeError, ...)
        assert outcome is not None and outcome[0] == 'raises', (
            f'cv_bridge failed unexpectedly: {exc!r}')
        assert outcome[1] in str(exc), exc
        return
    assert outcome is None or outcome[0] == 'wrong pixels', (
        f'cv_bridge no longer raises here ({outcome}): update cv_bridge_outcome and README')
    got = raw if colour else raw.astype(payload.dtype)
    want = expected if colour else payload
    right = got.shape == want.shape and np.array_equal(got, want, equal_nan=not colour)
    assert right == (outcome is None), (
        'cv_bridge is right here now: update cv_bridge_outcome and README' if right else
        'cv_bridge returned wrong pixels unexpectedly')


@pytest.mark.parametrize('encoding,pad,bigendian', CASES)
def test_the_nodes_default_conversion_is_right_in_every_case(
        encoding, pad, bigendian, monkeypatch):
    """What the node calls (the default converter, cv_bridge installed and importable) gives
    the reference pixels for every encoding, padding and byte order."""
    monkeypatch.setattr(image_conversion, '_BRIDGE_CHECKED', False)
    monkeypatch.setattr(image_conversion, '_BRIDGE', None)
    colour = encoding in RGB_ENCODINGS
    payload, expected = (colour_case if colour else depth_case)(encoding, seed=1)
    msg = message(encoding, payload, pad, bigendian)
    out = image_to_rgb(msg) if colour else image_to_depth(msg)
    np.testing.assert_array_equal(out, expected)


def test_cv_bridge_is_the_real_one():
    """The comparison above is with the compiled cv_bridge (its boost module), not a stand-in."""
    from cv_bridge.boost import cv_bridge_boost
    assert 'cv_bridge' in sys.modules and cv_bridge_boost.__file__.endswith('.so')
