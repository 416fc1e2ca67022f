"""Executing top-down grasps like a robot: guarded descent, close, lift (known boxes)."""

import math

import numpy as np
import pytest

from simulation.grasp_execution import GraspExecutor, MIN_OPENING, WorldGrasp
from simulation.scene import Scene

pytest.importorskip('pybullet')

#: Half sizes of the known box: 4 cm across, 14 cm long (wider than the 12 cm opening), 5 cm.
LONG_BOX = (0.02, 0.07, 0.025)
YAW = 0.3


@pytest.fixture
def box_world():
    with Scene() as world:
        box = world.add_box(LONG_BOX, yaw=YAW)
        world.settle([box])
        executor = GraspExecutor(world)
        yield world, box, executor


def test_world_grasp_rotation_is_the_gripper_frame():
    rotation = WorldGrasp(0.0, 0.0, 0.4, 0.05, 0.02).rotation()
    assert np.allclose(rotation[:, 0], [math.cos(0.4), math.sin(0.4), 0.0])
    assert np.allclose(rotation[:, 2], [0.0, 0.0, 1.0])
    assert np.linalg.det(rotation) == pytest.approx(1.0)


def test_grasp_across_the_short_side_lifts_the_box(box_world):
    world, box, executor = box_world
    z0 = world.p.getBasePositionAndOrientation(box, physicsClientId=world.client)[0][2]
    result = executor.execute(WorldGrasp(0.0, 0.0, YAW, 0.06, 0.025), [box])
    assert result.success and result.reason == 'success' and result.lifted == [box]
    assert result.stopped_on is None and result.stop_z == pytest.approx(0.025)
    z1 = world.p.getBasePositionAndOrientation(box, physicsClientId=world.client)[0][2]
    assert z1 - z0 > 0.05  # held in the air after the lift


def test_grasp_across_the_long_side_lands_on_the_box_and_fails(box_world):
    world, box, executor = box_world
    result = executor.execute(WorldGrasp(0.0, 0.0, YAW + math.pi / 2, 0.16, 0.025), [box])
    assert not result.success and result.reason == 'empty'
    assert result.clipped and result.opening == pytest.approx(executor.max_opening)
    # The guarded descent stopped on the box's top (5 cm), above the commanded 2.5 cm.
    assert result.stopped_on == box
    assert result.stop_z == pytest.approx(2 * LONG_BOX[2], abs=1.5e-3)


def test_descent_stops_on_a_neighbour_under_a_jaw():
    with Scene() as world:
        target = world.add_box((0.02, 0.02, 0.02), xy=(0.0, 0.0))
        tall = world.add_box((0.015, 0.015, 0.04), xy=(0.055, 0.0))  # under the +x jaw
        world.settle([target, tall])
        executor = GraspExecutor(world)
        result = executor.execute(WorldGrasp(0.0, 0.0, 0.0, 0.09, 0.02), [target, tall])
        assert result.stopped_on == tall
        assert result.stop_z == pytest.approx(0.08, abs=1.5e-3)
        assert not result.success


def test_opening_is_clipped_to_the_gripper_range(box_world):
    world, box, executor = box_world
    result = executor.execute(WorldGrasp(0.3, 0.3, 0.0, 0.001, 0.02), [box])
    assert result.clipped and result.opening == pytest.approx(MIN_OPENING)
    assert result.reason == 'empty' and not result.touched
    with pytest.raises(ValueError):
        GraspExecutor(world, max_opening=0.001)
