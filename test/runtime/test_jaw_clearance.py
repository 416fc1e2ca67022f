"""Jaw clearance: grasps whose fingers would land on another object go after the clear ones."""

import math

import numpy as np
import pytest
from test_pipeline import CAMERA, red_predictor, TOP_DOWN

from mtg_grasp_ros.grasp import Grasp
from mtg_grasp_ros.jaw_clearance import fingers_blocked
from mtg_grasp_ros.pipeline import GraspPipeline, PipelineConfig, PipelineConfigError


def two_objects(gap_start: int) -> np.ndarray:
    """(100, 100) map: the target over rows 40-59, columns 30-49 (quality 0.8) and a
    neighbour (0.6) from column ``gap_start`` to ``gap_start + 14``, same rows."""
    q = np.zeros((100, 100), np.float32)
    q[40:60, 30:50] = 0.8
    q[40:60, gap_start:gap_start + 15] = 0.6
    return q


#: On the target, closing along the columns: jaws at columns 19.5 and 59.5, fingers 4 px wide.
GRASP = Grasp(row=49.5, col=39.5, angle=0.0, width=40.0, jaw_size=20.0, quality=0.8)


def test_a_neighbour_under_a_finger_blocks_and_one_beyond_it_does_not():
    assert fingers_blocked(GRASP, two_objects(61), reach=4.0, fraction=0.2)
    assert not fingers_blocked(GRASP, two_objects(66), reach=4.0, fraction=0.2)
    # A longer reach (a wider controller clearance or thicker fingers) finds it again.
    assert fingers_blocked(GRASP, two_objects(66), reach=8.0, fraction=0.2)
    # Inside the opening, between the target and the jaw, a small neighbour is no obstacle.
    q = two_objects(66)
    q[40:60, 52:57] = 0.6
    assert not fingers_blocked(GRASP, q, reach=4.0, fraction=0.2)


def test_only_quality_above_the_fraction_counts_and_zero_turns_the_check_off():
    q = two_objects(61)
    assert not fingers_blocked(GRASP, q, reach=4.0, fraction=0.8)  # 0.6 < 0.8 x 0.8
    assert not fingers_blocked(GRASP, q, reach=0.0, fraction=0.2)
    assert not fingers_blocked(GRASP, q, reach=4.0, fraction=0.0)
    with pytest.raises(ValueError, match='quality'):
        fingers_blocked(GRASP, q[None], reach=4.0, fraction=0.2)


def test_the_grasps_own_object_under_its_finger_is_not_a_neighbour():
    q = np.zeros((100, 100), np.float32)
    q[40:60, 10:70] = 0.8              # one object wider than the opening
    assert not fingers_blocked(GRASP, q, reach=4.0, fraction=0.2)


def test_the_own_object_wider_at_the_jaws_edges_than_on_its_centre_line_is_itself():
    # A bow tie: the target's run along the closing axis is 4 px each way on the grasp's
    # centre line and 24 px at the jaw's edges (rows 40 and 59): under the fingers (20-24 px
    # out) it is still the grasp's own object. (The Cornell remote went last for this.)
    q = np.zeros((100, 100), np.float32)
    for row in range(40, 60):
        half = 4 + 2 * abs(row - 49.5)
        q[row, int(round(39.5 - half)):int(round(39.5 + half)) + 1] = 0.8
    assert not fingers_blocked(GRASP, q, reach=4.0, fraction=0.2)
    q[40:60, 61:76] = 0.6  # a real neighbour under a finger still blocks
    assert fingers_blocked(GRASP, q, reach=4.0, fraction=0.2)


def test_a_neighbour_beside_the_finger_or_across_the_closing_axis_is_clear():
    q = np.zeros((100, 100), np.float32)
    q[40:60, 30:50] = 0.8
    q[10:25, 55:70] = 0.6              # above the right finger, beyond half the jaw size
    assert not fingers_blocked(GRASP, q, reach=4.0, fraction=0.2)
    turned = Grasp(row=49.5, col=39.5, angle=math.pi / 2, width=40.0, jaw_size=20.0,
                   quality=0.8)        # closing along the rows: fingers above and below
    assert not fingers_blocked(turned, two_objects(61), reach=4.0, fraction=0.2)
    q[70:75, 35:45] = 0.6              # below the target, under the lower finger
    assert fingers_blocked(turned, q, reach=4.0, fraction=0.2)


def red_scene(neighbour_u: int) -> np.ndarray:
    """Grey image with the target A (the reddest, centre u 202), a neighbour B (centre
    ``neighbour_u``, same row) and a lone object C far from both; u = 82 + 5k, v = 2 + 5k are
    network pixel centres (crop 80..560, x0.2)."""
    image = np.full((480, 640, 3), 90, np.uint8)
    for (u, v), red in (((202, 242), 255), ((neighbour_u, 242), 200), ((482, 102), 230)):
        image[v - 20:v + 21, u - 20:u + 21] = (red, 0, 0)
    return image


def test_the_pipeline_puts_blocked_grasps_last_in_metres_of_the_robots_fingers():
    # Openings of 100 camera px = 100 mm at 0.5 m (fx 500): A's right finger, with a 20 mm
    # clearance, covers u 252-272; B at u 257-297 is under it (and A under B's left finger).
    config = dict(top_k=3, min_quality=0.2, centring_fraction=0.0)
    pipe = GraspPipeline(red_predictor(width_px=20.0), PipelineConfig(**config))
    result = pipe.process(red_scene(277), CAMERA, TOP_DOWN)
    order = [round(g.pixel.col) for g in result.grasps]
    assert order == [482, 202, 277] and result.blocked == 2
    assert [round(g.col) for g in result.network_grasps] == [80, 24, 39]  # same order
    off = GraspPipeline(red_predictor(width_px=20.0),
                        PipelineConfig(jaw_clearance=0.0, **config))
    result = off.process(red_scene(277), CAMERA, TOP_DOWN)
    assert [round(g.pixel.col) for g in result.grasps] == [202, 482, 277]
    assert result.blocked == 0
    # B 30 mm farther: clear of A's finger, so quality alone ranks them again.
    result = pipe.process(red_scene(307), CAMERA, TOP_DOWN)
    assert [round(g.pixel.col) for g in result.grasps] == [202, 482, 307]
    assert result.blocked == 0


def test_the_device_post_processing_path_orders_the_same():
    # The torch post-processing (the node's CUDA path, run here on the CPU) hands the check the
    # same smoothed quality map.
    config = PipelineConfig(top_k=3, min_quality=0.2, centring_fraction=0.0,
                            device_postprocess='always')
    pipe = GraspPipeline(red_predictor(width_px=20.0), config)
    assert pipe.device_postprocess is not None
    result = pipe.process(red_scene(277), CAMERA, TOP_DOWN)
    assert [round(g.pixel.col) for g in result.grasps] == [482, 202, 277]
    assert result.blocked == 2


def test_jaw_clearance_settings_are_validated():
    assert PipelineConfig().jaw_clearance == pytest.approx(0.02)
    PipelineConfig(jaw_clearance=0.0).validate()
    for bad in (dict(jaw_clearance=-0.01), dict(jaw_clearance=float('nan')),
                dict(clearance_fraction=0.0), dict(clearance_fraction=1.0)):
        with pytest.raises(PipelineConfigError, match='clearance'):
            PipelineConfig(**bad).validate()
