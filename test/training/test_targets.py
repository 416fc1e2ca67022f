"""Ground-truth maps of Section III-D: centre thirds, angle encoding, width, overwrite order."""

import math

import numpy as np
import pytest

from mtg_grasp_ros.grasp import Grasp
from mtg_grasp_ros.postprocess import DEFAULT_WIDTH_SCALE
from training.targets import grasp_maps, TARGET_NAMES

SHAPE = (100, 120)


def box(rows, cols, shape=SHAPE) -> np.ndarray:
    out = np.zeros(shape, bool)
    out[rows[0]:rows[1] + 1, cols[0]:cols[1] + 1] = True
    return out


def test_axis_aligned_rectangle_exact_pixels():
    # Opening 33 -> centre third 11 px along the closing axis (x): cols 54.5..65.5 -> 55..65.
    # Jaw 21 across it: rows 39.5..60.5 -> 40..60. Pixels whose centre lies inside are filled.
    grasp = Grasp(row=50.0, col=60.0, angle=0.0, width=33.0, jaw_size=21.0)
    maps = grasp_maps([grasp], SHAPE)
    assert maps.shape == (4,) + SHAPE and maps.dtype == np.float32
    expected = box((40, 60), (55, 65))
    np.testing.assert_array_equal(maps[0] == 1.0, expected)
    assert maps[0].sum() == 11 * 21
    np.testing.assert_array_equal(maps[1][expected], 1.0)
    np.testing.assert_array_equal(maps[2][expected], 0.0)
    np.testing.assert_allclose(maps[3][expected], 33.0 / DEFAULT_WIDTH_SCALE)
    assert np.all(maps[:, ~expected] == 0.0)
    assert TARGET_NAMES == ('quality', 'cos', 'sin', 'width')


def test_vertical_closing_axis():
    # Closing axis along the rows: the third (11 px) runs down, the jaw (21 px) across.
    grasp = Grasp(row=50.0, col=60.0, angle=math.pi / 2, width=33.0, jaw_size=21.0)
    maps = grasp_maps([grasp], SHAPE)
    expected = box((45, 55), (50, 70))
    np.testing.assert_array_equal(maps[0] == 1.0, expected)
    np.testing.assert_allclose(maps[1][expected], -1.0)
    np.testing.assert_allclose(maps[2][expected], 0.0, atol=1e-6)


@pytest.mark.parametrize('angle', [math.pi / 4, -math.pi / 3, 0.3, 1.2])
def test_rotated_rectangle_values_and_area(angle):
    grasp = Grasp(row=48.3, col=61.7, angle=angle, width=60.0, jaw_size=16.0)
    maps = grasp_maps([grasp], SHAPE)
    filled = maps[0] == 1.0
    np.testing.assert_allclose(maps[1][filled], math.cos(2 * angle), atol=1e-6)
    np.testing.assert_allclose(maps[2][filled], math.sin(2 * angle), atol=1e-6)
    np.testing.assert_allclose(maps[3][filled], 60.0 / DEFAULT_WIDTH_SCALE, atol=1e-6)
    # Signed distances of each pixel centre along and across the closing axis.
    rows, cols = np.mgrid[0:SHAPE[0], 0:SHAPE[1]]
    d_col, d_row = cols - grasp.col, rows - grasp.row
    along = d_col * math.cos(angle) - d_row * math.sin(angle)
    across = d_col * math.sin(angle) + d_row * math.cos(angle)
    inside = (np.abs(along) < 10.0 - 0.75) & (np.abs(across) < 8.0 - 0.75)
    outside = (np.abs(along) > 10.0 + 0.75) | (np.abs(across) > 8.0 + 0.75)
    assert np.all(filled[inside]), 'pixels well inside the centre third are filled'
    assert not np.any(filled[outside]), 'pixels well outside are not'
    assert abs(filled.sum() - 20.0 * 16.0) < 0.1 * 20.0 * 16.0


def test_later_grasps_overwrite_earlier_ones():
    first = Grasp(row=50.0, col=50.0, angle=0.0, width=60.0, jaw_size=10.0)
    second = Grasp(row=50.0, col=55.0, angle=math.pi / 4, width=90.0, jaw_size=10.0)
    overlap = (50, 55)  # inside both centre thirds
    maps = grasp_maps([first, second], SHAPE)
    assert maps[:, overlap[0], overlap[1]] == pytest.approx([1.0, 0.0, 1.0, 0.6], abs=1e-6)
    maps = grasp_maps([second, first], SHAPE)
    assert maps[:, overlap[0], overlap[1]] == pytest.approx([1.0, 1.0, 0.0, 0.4], abs=1e-6)
    # Where only the first covers, it keeps its own values.
    assert maps[:, 50, 41] == pytest.approx([1.0, 1.0, 0.0, 0.4], abs=1e-6)


@pytest.mark.parametrize('width, target', [(300.0, 1.0), (150.0, 1.0), (75.0, 0.5), (3.0, 0.02)])
def test_width_target_clipped(width, target):
    grasp = Grasp(row=50.0, col=60.0, angle=0.0, width=width, jaw_size=8.0)
    maps = grasp_maps([grasp], (100, 400))
    assert maps[3, 50, 60] == pytest.approx(target)
    assert maps[3].max() == pytest.approx(target)


def test_custom_width_scale():
    grasp = Grasp(row=50.0, col=60.0, angle=0.0, width=56.0, jaw_size=8.0)
    assert grasp_maps([grasp], SHAPE, width_scale=112.0)[3, 50, 60] == pytest.approx(0.5)


def test_empty_tiny_and_clipped_grasps():
    empty = grasp_maps([], SHAPE)
    assert empty.shape == (4,) + SHAPE and not empty.any()
    # Thinner than a pixel in both directions: still marks the pixel nearest its centre.
    tiny = grasp_maps([Grasp(row=20.2, col=30.8, angle=0.4, width=1.5, jaw_size=0.5)], SHAPE)
    assert np.argwhere(tiny[0]).tolist() == [[20, 31]]
    # Partly outside the image: no error, only the visible part is filled.
    edge = grasp_maps([Grasp(row=0.0, col=0.0, angle=0.0, width=30.0, jaw_size=10.0)], SHAPE)
    np.testing.assert_array_equal(edge[0] == 1.0, box((0, 5), (0, 5)))
