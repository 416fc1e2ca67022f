"""Camera image <-> network input crop: regions, pixel and width mapping, round trips."""

import math

import numpy as np
import pytest

from mtg_grasp_ros.crop import CropError, CropRegion
from mtg_grasp_ros.grasp import Grasp


def test_default_is_the_centred_square():
    region = CropRegion.for_image(640, 480, 300)
    assert (region.x, region.y, region.size, region.output_size) == (80, 0, 480, 300)
    region = CropRegion.for_image(480, 640, 96)
    assert (region.x, region.y, region.size) == (0, 80, 480)


def test_configured_region_and_errors():
    region = CropRegion.for_image(640, 480, 300, size=300, x=10, y=-1)
    assert (region.x, region.y, region.size) == (10, 90, 300)
    with pytest.raises(CropError, match='does not fit'):
        CropRegion.for_image(640, 480, 300, size=500)
    with pytest.raises(CropError):
        CropRegion.for_image(640, 480, 300, size=300, x=400)
    with pytest.raises(CropError):
        CropRegion.for_image(0, 480, 300)


def test_pixel_round_trip():
    region = CropRegion(x=80, y=12, size=450, output_size=300)
    rng = np.random.default_rng(0)
    u, v = rng.uniform(0, 640, 100), rng.uniform(0, 480, 100)
    nu, nv = region.to_network(u, v)
    bu, bv = region.to_camera(nu, nv)
    np.testing.assert_allclose(bu, u, atol=1e-9)
    np.testing.assert_allclose(bv, v, atol=1e-9)
    # Pixel centres: the crop's corner pixels map onto the network's corner pixels' areas.
    assert region.to_network(80 - 0.5, 12 - 0.5) == pytest.approx((-0.5, -0.5))
    assert region.to_network(80 + 450 - 0.5, 12 + 450 - 0.5) == pytest.approx((299.5, 299.5))


def test_grasp_round_trip_scales_widths_and_keeps_the_angle():
    region = CropRegion.for_image(640, 480, 96)
    g = Grasp(row=40.0, col=20.0, angle=0.7, width=30.0, jaw_size=15.0, quality=0.8)
    cam = region.grasp_to_camera(g)
    assert cam.angle == g.angle and cam.quality == g.quality
    assert cam.width == pytest.approx(30.0 * 480 / 96)
    assert cam.jaw_size == pytest.approx(15.0 * 480 / 96)
    back = region.grasp_to_network(cam)
    for name in ('row', 'col', 'angle', 'width', 'jaw_size'):
        assert getattr(back, name) == pytest.approx(getattr(g, name))


def test_resized_image_content_matches_the_pixel_mapping():
    image = np.zeros((480, 640, 3), np.uint8)
    image[200:240, 300:340] = 255  # a bright square centred at (u, v) = (319.5, 219.5)
    region = CropRegion.for_image(640, 480, 96)
    out = region.apply(image)
    assert out.shape == (96, 96, 3)
    weights = out[:, :, 0].astype(np.float64)
    rows, cols = np.indices(weights.shape)
    centre = (np.sum(cols * weights) / weights.sum(), np.sum(rows * weights) / weights.sum())
    expect = region.to_network(319.5, 219.5)
    assert centre == pytest.approx(expect, abs=0.05)


def test_depth_with_nans_uses_nearest_neighbour():
    depth = np.full((480, 640), 0.5, np.float32)
    depth[100:110, 100:110] = np.nan
    out = CropRegion.for_image(640, 480, 96).apply(depth)
    assert out.dtype == np.float32 and out.shape == (96, 96)
    assert np.isnan(out).sum() < 10 and np.all((out[np.isfinite(out)] == 0.5))
    assert not math.isnan(float(out[50, 50]))


def test_same_size_crop_is_a_copy():
    image = np.arange(300 * 400, dtype=np.uint8).reshape(300, 400)
    out = CropRegion.for_image(400, 300, 300).apply(image)
    np.testing.assert_array_equal(out, image[:, 50:350])
