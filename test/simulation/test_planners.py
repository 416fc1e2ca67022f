"""The benchmark's image-only baseline and the look-ahead ceiling on a known box."""

import math

import numpy as np
import pytest

from simulation.grasp_execution import GraspExecutor
from simulation.lookahead import LookaheadPlanner, sample_candidates
from simulation.planners import (away_from_failures, BlobPlanner, blobs_by_size,
                                 foreground_mask, largest_blob, View)
from simulation.tabletop import SimulatedScene

pytest.importorskip('pybullet')

BOX = (0.02, 0.04, 0.025)  # half sizes: 4 cm x 8 cm x 5 cm
YAW = 0.3
XY = (0.02, -0.01)


@pytest.fixture(scope='module')
def box_scene():
    with SimulatedScene() as scene:
        box = scene.world.add_box(BOX, yaw=YAW, xy=XY)
        scene.world.settle([box])
        yield scene, box, scene.render()


def test_baseline_finds_the_blob_of_a_single_box(box_scene):
    scene, box, render = box_scene
    points = largest_blob(render.rgb)
    truth = render.mask(box)
    found = np.zeros_like(truth)
    found[points[:, 1].astype(int), points[:, 0].astype(int)] = True
    # The blob is the box (its shadow on the table is not part of it).
    assert (found & truth).sum() / truth.sum() > 0.9
    assert (found & ~truth).sum() / found.sum() < 0.05
    assert not foreground_mask(render.rgb)[0].any()  # the image border is table

    plan = BlobPlanner(object_height=0.03).plan(View(render.rgb, scene.camera))
    g = plan.grasp
    assert plan.reason == 'ok'
    assert math.hypot(g.x - XY[0], g.y - XY[1]) < 0.005
    # Closing across the minor axis: along the box's 4 cm side, whose direction is YAW.
    assert abs((g.yaw - YAW + math.pi / 2) % math.pi - math.pi / 2) < math.radians(5)
    assert g.opening == pytest.approx(2 * BOX[0] + 0.02, abs=0.008)
    assert g.z == pytest.approx(0.03)


def test_away_from_failures_takes_the_best_candidate_not_near_a_failed_one():
    candidates = [(0.0, 0.0), (0.01, 0.0), (0.1, 0.0), (0.2, 0.0)]
    assert away_from_failures(candidates, []) == 0
    assert away_from_failures(candidates, [(0.005, 0.0)]) == 2     # 2 cm radius
    assert away_from_failures(candidates, [(0.0, 0.0), (0.1, 0.01)]) == 3
    assert away_from_failures(candidates, [(0.0, 0.0), (0.1, 0.0), (0.2, 0.0)]) == 0  # none: best
    assert away_from_failures(candidates, [(0.005, 0.0)], radius=0.001) == 0


def test_baseline_after_a_failure_on_the_largest_blob_takes_the_next():
    with SimulatedScene() as scene:
        big = scene.world.add_box((0.02, 0.05, 0.02), yaw=0.0, xy=(-0.05, 0.0))
        small = scene.world.add_box((0.015, 0.03, 0.02), yaw=0.0, xy=(0.06, 0.02))
        scene.world.settle([big, small])
        render = scene.render()
        assert [len(b) > 0 for b in blobs_by_size(render.rgb)] == [True, True]
        planner = BlobPlanner()
        first = planner.plan(View(render.rgb, scene.camera)).grasp
        assert first.x == pytest.approx(-0.05, abs=0.01)
        again = planner.plan(View(render.rgb, scene.camera, failed=((first.x, first.y),))).grasp
        assert (again.x, again.y) == pytest.approx((0.06, 0.02), abs=0.01)


def test_baseline_finds_nothing_on_an_empty_table():
    with SimulatedScene() as scene:
        render = scene.render()
        assert BlobPlanner().plan(View(render.rgb, scene.camera)).grasp is None


def test_baseline_grasp_lifts_the_box(box_scene):
    scene, box, render = box_scene
    executor = GraspExecutor(scene.world)  # before saveState: a state holds its bodies
    state = scene.p.saveState(physicsClientId=scene.client)
    try:
        grasp = BlobPlanner().plan(View(render.rgb, scene.camera)).grasp
        assert executor.execute(grasp, [box]).success
    finally:
        scene.p.restoreState(stateId=state, physicsClientId=scene.client)
        scene.p.removeState(state, physicsClientId=scene.client)


def test_lookahead_finds_a_lift_and_leaves_the_world_as_it_was():
    with SimulatedScene(object_ids=[200]) as scene:
        scene.reset()
        obj = scene.objects[0]
        before = obj.position.copy()
        executor = GraspExecutor(scene.world)
        planner = LookaheadPlanner(candidates=10, seed=1)
        plan = planner.plan(View(scene.render().rgb, scene.camera, scene, scene.objects,
                                 executor))
        assert plan.grasp is not None and 1 <= plan.tries <= 10
        scene.update_truth()
        assert np.allclose(obj.position, before, atol=1e-6)
        assert executor.execute(plan.grasp, [obj.body]).success
        # Candidates: canonical first (across the minor axis at the footprint centre).
        first = sample_candidates([obj], 3, np.random.default_rng(0), 0.12)
        assert len(first) == 3 and np.allclose((first[0].x, first[0].y), obj.centre)
        assert first[0].yaw == pytest.approx(obj.axes()[0] + math.pi / 2)
