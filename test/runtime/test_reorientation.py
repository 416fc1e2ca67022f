"""Turning grasps too wide for the gripper to their object's narrowest direction."""

import math

import numpy as np
import pytest
from test_pipeline import CAMERA, red_predictor, TOP_DOWN

from mtg_grasp_ros.grasp import Grasp
from mtg_grasp_ros.pipeline import GraspPipeline, PipelineConfig, PipelineConfigError
from mtg_grasp_ros.reorientation import extent_along, turn_to_narrowest


def square(side: int = 40) -> np.ndarray:
    """(100, 100) map: a square object of ``side`` px centred at (49.5, 49.5), quality 0.8."""
    q = np.zeros((100, 100), np.float32)
    lo = 50 - side // 2
    q[lo:lo + side, lo:lo + side] = 0.8
    return q


#: Across the square's diagonal: its object is 40 x sqrt(2) = 56.6 px that way.
DIAGONAL = Grasp(row=49.5, col=49.5, angle=math.pi / 4, width=70.0, jaw_size=35.0, quality=0.8)


def test_the_extent_is_the_run_of_quality_through_the_centre():
    q = square()
    assert extent_along(q, DIAGONAL, 0.0, 0.24) == pytest.approx(40.0, abs=1.5)
    assert extent_along(q, DIAGONAL, math.pi / 4, 0.24) == pytest.approx(56.6, abs=2.0)
    assert extent_along(q, DIAGONAL, 0.0, 0.9) == pytest.approx(1.0, abs=1.0)  # nothing above


def test_a_diagonal_grasp_too_wide_turns_across_a_face_with_its_opening_scaled():
    turned = turn_to_narrowest(DIAGONAL, square(), fraction=0.3, max_width=60.0)
    assert turned is not DIAGONAL
    # A face: 0 or 90 deg (the first of the directions tried that is shortest).
    assert math.degrees(turned.angle) % 90.0 == pytest.approx(0.0, abs=1.0)
    assert turned.width == pytest.approx(70.0 * 40.0 / 56.6, rel=0.06)
    assert turned.jaw_size == pytest.approx(turned.width / 2)
    assert (turned.row, turned.col) == pytest.approx((49.5, 49.5), abs=1.0)
    assert turned.quality == DIAGONAL.quality


def test_grasps_that_fit_or_cannot_be_helped_stay():
    q = square()
    assert turn_to_narrowest(DIAGONAL, q, 0.3, max_width=75.0) is DIAGONAL   # it fits
    assert turn_to_narrowest(DIAGONAL, q, 0.3, max_width=0.0) is DIAGONAL    # gripper unknown
    assert turn_to_narrowest(DIAGONAL, q, 0.0, max_width=60.0) is DIAGONAL   # no object notion
    # Turned, 70 x 40 / 56.6 = 49.5 px would still exceed a 45 px gripper.
    assert turn_to_narrowest(DIAGONAL, q, 0.3, max_width=45.0) is DIAGONAL
    across = Grasp(row=49.5, col=49.5, angle=0.0, width=70.0, jaw_size=35.0, quality=0.8)
    assert turn_to_narrowest(across, q, 0.3, max_width=60.0) is across      # already narrowest
    with pytest.raises(ValueError, match='quality'):
        turn_to_narrowest(DIAGONAL, q[None], 0.3, 60.0)


def test_the_pipeline_turns_a_grasp_wider_than_max_opening_in_metres():
    # An 81 mm red square (1 mm per camera px at 0.5 m, fx 500), grasped at 45 deg with a
    # 100 mm opening by the stand-in network: wider than a 90 mm gripper, so it turns to a face,
    # the opening scaled by the blurred square's extents (19 px across a face, 22 along the
    # diagonal: 86 mm).
    image = np.full((480, 640, 3), 90, np.uint8)
    image[242 - 40:242 + 41, 202 - 40:202 + 41] = (255, 0, 0)
    predictor = red_predictor(angle=math.pi / 4, width_px=20.0)
    config = dict(top_k=1, min_quality=0.2, jaw_clearance=0.0)
    plain = GraspPipeline(predictor, PipelineConfig(**config)).process(image, CAMERA, TOP_DOWN)
    (wide,) = plain.grasps
    assert wide.width_m == pytest.approx(0.1, rel=0.02)
    pipe = GraspPipeline(red_predictor(angle=math.pi / 4, width_px=20.0),
                         PipelineConfig(max_opening=0.09, **config))
    (turned,) = pipe.process(image, CAMERA, TOP_DOWN).grasps
    assert 0.075 < turned.width_m < 0.09
    turn = math.degrees(abs(turned.yaw - wide.yaw)) % 180.0   # yaw is a half-turn angle
    assert min(turn, 180.0 - turn) == pytest.approx(45.0, abs=8.0)
    assert np.linalg.norm(turned.position - wide.position) < 0.005


def test_max_opening_is_validated():
    assert PipelineConfig().max_opening == 0.0
    for bad in (-0.1, 3.0, float('nan')):
        with pytest.raises(PipelineConfigError, match='max_opening'):
            PipelineConfig(max_opening=bad).validate()


def test_a_turned_grasp_with_no_3d_point_stays_as_it_was():
    from mtg_grasp_ros.grasp_geometry import NoDepthError

    image = np.full((480, 640, 3), 90, np.uint8)
    image[242 - 40:242 + 41, 202 - 40:202 + 41] = (255, 0, 0)
    pipe = GraspPipeline(red_predictor(angle=math.pi / 4, width_px=20.0),
                         PipelineConfig(top_k=1, min_quality=0.2, jaw_clearance=0.0,
                                        max_opening=0.09))
    calls = []

    class LiftOnce:
        """The pipeline's geometry, whose second lift (the turned grasp) finds no depth."""

        def __init__(self, geometry):
            self.geometry = geometry

        def lift(self, *args):
            calls.append(args[0])
            if len(calls) > 1:
                raise NoDepthError('no depth there')
            return self.geometry.lift(*args)

    pipe.geometry = LiftOnce(pipe.geometry)
    (kept,) = pipe.process(image, CAMERA, TOP_DOWN).grasps
    assert len(calls) == 2 and kept.width_m == pytest.approx(0.1, rel=0.02)
