"""sensor_msgs/Image -> NumPy: encodings, row padding, endianness and malformed messages."""

from types import SimpleNamespace

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest

from mtg_grasp_ros import image_conversion
from mtg_grasp_ros.image_conversion import (DEPTH_ENCODINGS, image_to_depth, image_to_rgb,
                                            ImageConversionError, RGB_ENCODINGS)

BPP = {'rgb8': 3, 'bgr8': 3, 'rgba8': 4, 'bgra8': 4, 'mono8': 1, '32FC1': 4, '16UC1': 2,
       'mono16': 2}
OTHER = ['yuv422', 'bayer_rggb8', '', 'RGB8', '8UC3', 'rgb16']


def make_msg(pixels: np.ndarray, encoding: str, pad: int = 0, bigendian: bool = False,
             real: bool = False):
    """Pack (H, W[, C]) pixels into an Image with ``pad`` bytes at the end of every row."""
    h, w = pixels.shape[:2]
    raw = pixels.reshape(h, -1)
    if pixels.dtype.itemsize > 1:
        raw = pixels.astype(pixels.dtype.newbyteorder('>' if bigendian else '<')).reshape(
            h, w).view(np.uint8).reshape(h, -1)
    rows = np.concatenate([raw, np.full((h, pad), 0xAB, np.uint8)], axis=1)
    fields = dict(height=h, width=w, encoding=encoding, is_bigendian=int(bigendian),
                  step=rows.shape[1], data=rows.tobytes())
    if real:
        from sensor_msgs.msg import Image

        return Image(**fields)
    return SimpleNamespace(**fields)


@pytest.fixture(autouse=True)
def no_cv_bridge(monkeypatch):
    """cv_bridge is absent here (a stand-in where a test needs one)."""
    monkeypatch.setattr(image_conversion, '_BRIDGE_CHECKED', True)
    monkeypatch.setattr(image_conversion, '_BRIDGE', None)


@pytest.mark.parametrize('pad', [0, 5])
@pytest.mark.parametrize('real', [False, True])
def test_colour_encodings(pad, real):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (5, 7, 1), dtype=np.uint8)
    cases = {'rgb8': rgb, 'bgr8': rgb[:, :, ::-1], 'rgba8': np.concatenate([rgb, alpha], 2),
             'bgra8': np.concatenate([rgb[:, :, ::-1], alpha], 2)}
    for encoding, pixels in cases.items():
        out = image_to_rgb(make_msg(np.ascontiguousarray(pixels), encoding, pad, real=real))
        assert out.dtype == np.uint8 and out.shape == (5, 7, 3)
        np.testing.assert_array_equal(out, rgb, err_msg=encoding)
    gray = rgb[:, :, 0].copy()
    out = image_to_rgb(make_msg(gray, 'mono8', pad, real=real))
    np.testing.assert_array_equal(out, np.repeat(gray[:, :, None], 3, axis=2))


@pytest.mark.parametrize('bigendian', [False, True])
def test_depth_encodings(bigendian):
    metres = np.array([[0.5, 1.25], [np.nan, 3.0]], np.float32)
    out = image_to_depth(make_msg(metres, '32FC1', 3, bigendian, real=True))
    np.testing.assert_array_equal(out, metres)
    mm = np.array([[500, 1250], [0, 3000]], np.uint16)
    for encoding in ('16UC1', 'mono16'):
        out = image_to_depth(make_msg(mm, encoding, 2, bigendian))
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, metres, rtol=1e-6)  # 0 mm (no reading) -> NaN


def test_unsupported_encodings_are_named():
    msg = make_msg(np.zeros((2, 2, 2), np.uint8), 'yuv422')
    with pytest.raises(ImageConversionError, match="'yuv422'"):
        image_to_rgb(msg)
    with pytest.raises(ImageConversionError, match='depth image encoding'):
        image_to_depth(make_msg(np.zeros((2, 2, 3), np.uint8), 'rgb8'))
    with pytest.raises(ImageConversionError, match='unsupported'):
        image_to_rgb(make_msg(np.zeros((2, 2), np.float32), '32FC1'))
    assert ImageConversionError.reason == 'bad_image'


def test_size_errors():
    good = make_msg(np.zeros((4, 4, 3), np.uint8), 'rgb8')
    short = SimpleNamespace(**{**vars(good), 'data': good.data[:-1]})
    with pytest.raises(ImageConversionError, match='too short'):
        image_to_rgb(short)
    tall = SimpleNamespace(**{**vars(good), 'height': 5})
    with pytest.raises(ImageConversionError, match='too short'):
        image_to_rgb(tall)
    long = SimpleNamespace(**{**vars(good), 'height': 3})
    with pytest.raises(ImageConversionError, match='too long'):
        image_to_rgb(long)
    narrow = SimpleNamespace(**{**vars(good), 'step': 11})
    with pytest.raises(ImageConversionError, match='step'):
        image_to_rgb(narrow)
    empty = SimpleNamespace(**{**vars(good), 'width': 0, 'height': 0, 'data': b''})
    with pytest.raises(ImageConversionError, match='empty'):
        image_to_rgb(empty)
    bad = SimpleNamespace(**{**vars(good), 'data': None})
    with pytest.raises(ImageConversionError, match='malformed'):
        image_to_rgb(bad)


def test_unpadded_last_row_is_accepted():
    pixels = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    msg = make_msg(pixels, 'rgb8', pad=2)
    msg.data = msg.data[:-2]
    np.testing.assert_array_equal(image_to_rgb(msg), pixels)


def test_cv_bridge_is_used_when_asked_and_its_errors_are_wrapped(monkeypatch):
    calls = []

    class FakeBridge:
        def imgmsg_to_cv2(self, msg, desired_encoding):
            calls.append(desired_encoding)
            if msg.width == 3:
                raise RuntimeError('boom')
            return np.full((msg.height, msg.width, 3), 7, np.uint8)

    msg = make_msg(np.zeros((2, 2, 3), np.uint8), 'bgr8')
    with pytest.raises(ImageConversionError, match='cv_bridge cannot be imported'):
        image_to_rgb(msg, use_cv_bridge=True)
    monkeypatch.setattr(image_conversion, '_BRIDGE', FakeBridge())
    out = image_to_rgb(msg, use_cv_bridge=True)
    assert calls == ['rgb8'] and int(out[0, 0, 0]) == 7
    with pytest.raises(ImageConversionError, match='cv_bridge'):
        image_to_rgb(make_msg(np.zeros((2, 3, 3), np.uint8), 'bgr8'), use_cv_bridge=True)
    # Validation happens first: cv_bridge never sees a truncated message.
    short = make_msg(np.zeros((2, 2, 3), np.uint8), 'rgb8')
    short.data = short.data[:5]
    with pytest.raises(ImageConversionError, match='too short'):
        image_to_rgb(short, use_cv_bridge=True)
    assert len(calls) == 2
    # The default is the NumPy converter, also where cv_bridge is installed.
    assert image_to_rgb(make_msg(np.zeros((2, 2, 3), np.uint8), 'rgb8')).max() == 0
    assert len(calls) == 2


def expected_rgb(encoding, h, w, step, data):
    """Independent per-pixel reference decoder."""
    out = np.zeros((h, w, 3), np.uint8)
    for r in range(h):
        for c in range(w):
            base = r * step + c * BPP[encoding]
            px = np.frombuffer(data[base:base + BPP[encoding]], np.uint8)
            if encoding == 'mono8':
                out[r, c] = px[0]
            elif encoding.startswith('rgb'):
                out[r, c] = px[:3]
            else:
                out[r, c] = px[2::-1]
    return out


def well_formed(encoding, supported, h, w, step, length):
    if encoding not in supported or h <= 0 or w <= 0:
        return False
    row = w * BPP[encoding]
    return step >= row and step * (h - 1) + row <= length <= step * h


@settings(max_examples=300, deadline=None)
@given(encoding=st.sampled_from(sorted(RGB_ENCODINGS) + ['16UC1'] + OTHER),
       h=st.integers(0, 5), w=st.integers(0, 5), extra_step=st.integers(-3, 4),
       extra_len=st.integers(-4, 4), bigendian=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_rgb_conversion_never_returns_wrong_pixels(encoding, h, w, extra_step, extra_len,
                                                   bigendian, seed):
    step = max(0, w * BPP.get(encoding, 2) + extra_step)
    length = max(0, step * h + extra_len)
    data = np.random.default_rng(seed).integers(0, 256, length, dtype=np.uint8).tobytes()
    msg = SimpleNamespace(height=h, width=w, encoding=encoding, is_bigendian=bigendian,
                          step=step, data=data)
    if well_formed(encoding, RGB_ENCODINGS, h, w, step, length):
        out = image_to_rgb(msg)
        assert out.shape == (h, w, 3) and out.dtype == np.uint8
        np.testing.assert_array_equal(out, expected_rgb(encoding, h, w, step, data))
    else:
        with pytest.raises(ImageConversionError):
            image_to_rgb(msg)


@settings(max_examples=200, deadline=None)
@given(encoding=st.sampled_from(sorted(DEPTH_ENCODINGS) + ['rgb8', 'mono8']),
       h=st.integers(0, 4), w=st.integers(0, 4), extra_step=st.integers(-3, 4),
       extra_len=st.integers(-4, 4), bigendian=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_depth_conversion_never_returns_wrong_values(encoding, h, w, extra_step, extra_len,
                                                     bigendian, seed):
    step = max(0, w * BPP[encoding] + extra_step)
    length = max(0, step * h + extra_len)
    data = np.random.default_rng(seed).integers(0, 256, length, dtype=np.uint8).tobytes()
    msg = SimpleNamespace(height=h, width=w, encoding=encoding, is_bigendian=bigendian,
                          step=step, data=data)
    if not well_formed(encoding, DEPTH_ENCODINGS, h, w, step, length):
        with pytest.raises(ImageConversionError):
            image_to_depth(msg)
        return
    out = image_to_depth(msg)
    assert out.shape == (h, w) and out.dtype == np.float32
    order = '>' if bigendian else '<'
    for r in range(h):
        for c in range(w):
            chunk = data[r * step + c * BPP[encoding]:r * step + (c + 1) * BPP[encoding]]
            if encoding == '32FC1':
                want = np.frombuffer(chunk, order + 'f4')[0]
                assert out[r, c] == want or (np.isnan(want) and np.isnan(out[r, c]))
            else:
                mm = int(np.frombuffer(chunk, order + 'u2')[0])
                assert (np.isnan(out[r, c]) if mm == 0
                        else out[r, c] == np.float32(mm) * np.float32(0.001))
