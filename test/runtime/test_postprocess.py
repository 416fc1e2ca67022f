"""Peak-only smoothing: the node's fast CPU path gives the grasps of the full smoothing."""

import cv2
import numpy as np
import pytest

from mtg_grasp_ros.postprocess import (gaussian_smooth, grasps_from_raw, peak_pixels,
                                       smooth_maps, smoothed_at, top_grasps)


def random_raw(seed, shape=(72, 90)):
    rng = np.random.default_rng(seed)
    return [cv2.GaussianBlur(rng.normal(size=shape).astype(np.float32), (0, 0), 2.5)
            for _ in range(4)]


@pytest.mark.parametrize('sigma', [0.0, 0.8, 2.0, 5.0])
def test_smoothed_at_equals_the_full_blur_everywhere_including_borders(sigma):
    image = random_raw(1)[0] * 10.0
    full = gaussian_smooth(image, sigma)
    rows, cols = np.meshgrid(np.arange(image.shape[0]), np.arange(image.shape[1]),
                             indexing='ij')
    got = smoothed_at(image, sigma, rows.ravel(), cols.ravel())
    np.testing.assert_allclose(got, full.ravel(), atol=2e-5)


@pytest.mark.parametrize('top_k', [1, 3, 8])
@pytest.mark.parametrize('sigmas', [(5.0, 5.0, 5.0), (2.0, 1.0, 0.0), (0.0, 3.0, 4.0)])
def test_grasps_from_raw_are_the_grasps_of_the_smoothed_maps(top_k, sigmas):
    for seed in range(4):
        raw = random_raw(seed + 10 * top_k)
        kwargs = dict(sigma_quality=sigmas[0], sigma_angle=sigmas[1], sigma_width=sigmas[2],
                      width_scale=150.0)
        want = top_grasps(smooth_maps(*raw, **kwargs), top_k=top_k, min_distance=6)
        got = grasps_from_raw(*raw, **kwargs, top_k=top_k, min_distance=6)
        assert [(g.row, g.col) for g in got] == [(g.row, g.col) for g in want]
        for g, h in zip(got, want):
            assert g.quality == pytest.approx(h.quality, abs=1e-6)
            assert g.angle == pytest.approx(h.angle, abs=1e-4)
            assert g.width == pytest.approx(h.width, abs=1e-3)
            assert g.jaw_size == pytest.approx(g.width / 2.0)


def test_min_quality_and_a_peak_on_the_corner():
    quality = np.zeros((40, 50), np.float32)
    quality[0, 0] = 1.0     # the best peak sits on the image corner (replicated border)
    quality[30, 40] = 0.5
    angle = np.full_like(quality, 0.3)
    cos2 = np.cos(2 * angle)
    sin2 = np.sin(2 * angle)
    width = np.full_like(quality, 0.2)
    got = grasps_from_raw(quality, cos2, sin2, width, sigma_quality=0.0, top_k=2,
                          min_distance=5)
    assert [(g.row, g.col) for g in got] == [(0.0, 0.0), (30.0, 40.0)]
    assert got[0].angle == pytest.approx(0.3, abs=1e-5)
    assert got[0].width == pytest.approx(30.0, abs=1e-3)
    only_best = grasps_from_raw(quality, cos2, sin2, width, sigma_quality=0.0, top_k=2,
                                min_distance=5, min_quality=0.9)
    assert len(only_best) == 1
    assert peak_pixels(quality, 1) == [(0, 0)]
