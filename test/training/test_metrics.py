"""The rectangle metric: exact rotated-rectangle IoU and the 30 degree / 0.25 rule."""

import math

import numpy as np
import pytest

from mtg_grasp_ros.grasp import Grasp
from training.metrics import accuracy, best_match, is_correct, rectangle_iou


def grasp(row=50.0, col=50.0, angle_deg=0.0, width=40.0, jaw=20.0):
    return Grasp(row=row, col=col, angle=math.radians(angle_deg), width=width, jaw_size=jaw)


def raster_iou(a, b, step=0.05):
    """Brute-force IoU on a fine grid of point samples (independent of OpenCV)."""
    def inside(g, rows, cols):
        axis = g.closing_axis  # (d_row, d_col)
        d_row, d_col = rows - g.row, cols - g.col
        along = d_row * axis[0] + d_col * axis[1]
        across = d_row * axis[1] - d_col * axis[0]
        return (np.abs(along) <= g.width / 2) & (np.abs(across) <= g.jaw_size / 2)

    corners = np.vstack([a.corners(), b.corners()])
    low, high = corners.min(axis=0) - 1, corners.max(axis=0) + 1
    rows, cols = np.meshgrid(np.arange(low[0], high[0], step), np.arange(low[1], high[1], step),
                             indexing='ij')
    in_a, in_b = inside(a, rows, cols), inside(b, rows, cols)
    return (in_a & in_b).sum() / (in_a | in_b).sum()


def test_identical_rectangles_have_iou_one():
    for angle in (0.0, 17.0, 45.0, -89.0, 90.0):
        g = grasp(row=123.4, col=567.8, angle_deg=angle, width=33.3, jaw=12.1)
        assert rectangle_iou(g, g) == pytest.approx(1.0, abs=1e-6)


def test_shifted_pair_hand_computed():
    # 40 x 20 rectangles shifted 10 px along the closing axis: overlap 30 x 20 = 600,
    # union 800 + 800 - 600 = 1000.
    a, b = grasp(), grasp(col=60.0)
    assert rectangle_iou(a, b) == pytest.approx(0.6, abs=1e-6)
    # Shifted 5 px across (rows) as well: overlap 30 x 15 = 450, union 1150.
    c = grasp(row=55.0, col=60.0)
    assert rectangle_iou(a, c) == pytest.approx(450 / 1150, abs=1e-6)


def test_half_overlap():
    # Shifted by half the width: overlap 20 x 20 = 400, union 1200 -> 1/3.
    assert rectangle_iou(grasp(), grasp(col=70.0)) == pytest.approx(1 / 3, abs=1e-6)
    # A rectangle holding exactly half of a bigger one: IoU 0.5.
    big, half = grasp(width=40.0), grasp(col=40.0, width=20.0)
    assert rectangle_iou(big, half) == pytest.approx(0.5, abs=1e-6)


def test_rotated_square_is_exact():
    # A square and the same square turned 45 degrees: the overlap is a regular octagon and
    # the IoU is exactly 1 / sqrt(2) (a rasterised IoU would be off by pixel rounding).
    a = grasp(width=10.0, jaw=10.0)
    b = grasp(angle_deg=45.0, width=10.0, jaw=10.0)
    assert rectangle_iou(a, b) == pytest.approx(1 / math.sqrt(2), abs=1e-6)
    # A cross of a 40 x 20 rectangle with itself turned 90 degrees: 400 / 1200.
    assert rectangle_iou(grasp(), grasp(angle_deg=90.0)) == pytest.approx(1 / 3, abs=1e-6)


def test_nested_rectangle():
    outer, inner = grasp(width=40.0, jaw=20.0), grasp(angle_deg=10.0, width=10.0, jaw=5.0)
    assert rectangle_iou(outer, inner) == pytest.approx(50 / 800, abs=1e-6)
    assert rectangle_iou(inner, outer) == pytest.approx(50 / 800, abs=1e-6)


def test_random_pairs_match_brute_force():
    rng = np.random.default_rng(3)
    for _ in range(12):
        a = grasp(rng.uniform(40, 60), rng.uniform(40, 60), rng.uniform(-90, 90),
                  rng.uniform(5, 40), rng.uniform(3, 20))
        b = grasp(rng.uniform(40, 60), rng.uniform(40, 60), rng.uniform(-90, 90),
                  rng.uniform(5, 40), rng.uniform(3, 20))
        assert rectangle_iou(a, b) == pytest.approx(raster_iou(a, b), abs=0.01)
        assert rectangle_iou(a, b) == pytest.approx(rectangle_iou(b, a), abs=1e-6)


def test_no_overlap_and_zero_area_give_zero():
    assert rectangle_iou(grasp(), grasp(col=500.0)) == 0.0
    assert rectangle_iou(grasp(), grasp(col=90.0)) == 0.0  # edges just touch
    assert rectangle_iou(grasp(), grasp(width=0.0)) == 0.0
    assert rectangle_iou(grasp(jaw=0.0), grasp()) == 0.0
    assert not is_correct(grasp(width=0.0), [grasp(width=0.0)])


def test_correct_needs_angle_and_iou():
    gt = grasp()
    assert is_correct(grasp(col=55.0), [gt])  # IoU 0.78, same angle
    assert is_correct(grasp(angle_deg=29.0), [gt])
    # High overlap but rotated past 30 degrees: wrong.
    rotated = grasp(angle_deg=31.0)
    assert rectangle_iou(rotated, gt) > 0.5
    assert not is_correct(rotated, [gt])
    # Right angle but IoU 0.2 (< 0.25): wrong; just above the threshold: right.
    low = grasp(col=50.0 + 40.0 * (1 - 2 * 0.2 / 1.2))  # IoU exactly 0.2
    assert rectangle_iou(low, gt) == pytest.approx(0.2, abs=1e-6)
    assert not is_correct(low, [gt])
    ok = grasp(col=50.0 + 40.0 * (1 - 2 * 0.26 / 1.26))  # IoU 0.26
    assert is_correct(ok, [gt])
    assert not is_correct(None, [gt])
    assert not is_correct(grasp(), [])


def test_angle_and_iou_must_hold_for_the_same_rectangle():
    pred = grasp()
    aligned_but_far = grasp(col=200.0)
    near_but_rotated = grasp(angle_deg=60.0)
    assert not is_correct(pred, [aligned_but_far, near_but_rotated])
    assert is_correct(pred, [aligned_but_far, near_but_rotated, grasp(col=52.0)])
    best_any, best_aligned = best_match(pred, [aligned_but_far, near_but_rotated])
    assert best_any > 0.25 and best_aligned == 0.0


def test_angle_wraps_at_plus_minus_90_degrees():
    # +89 and -89 degrees are 2 degrees apart for a parallel gripper.
    gt = grasp(angle_deg=89.0, width=40.0, jaw=20.0)
    pred = grasp(angle_deg=-89.0, width=40.0, jaw=20.0)
    assert rectangle_iou(pred, gt) > 0.8
    assert is_correct(pred, [gt])
    # A half turn is the same grasp.
    assert is_correct(grasp(angle_deg=10.0 + 180.0), [grasp(angle_deg=10.0)])
    # 75 vs -74 are 31 degrees apart, 75 vs -76 only 29.
    assert not is_correct(grasp(angle_deg=-74.0), [grasp(angle_deg=75.0)])
    assert is_correct(grasp(angle_deg=-76.0), [grasp(angle_deg=75.0)])


def test_accuracy():
    gts = [[grasp()], [grasp()], [grasp()], [grasp()]]
    preds = [grasp(), grasp(angle_deg=45.0), None, grasp(col=52.0)]
    assert accuracy(preds, gts) == pytest.approx(0.5)
    assert accuracy([], []) == 0.0
    with pytest.raises(ValueError):
        accuracy(preds, gts[:2])
