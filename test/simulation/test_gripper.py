"""The render camera against pybullet, image grasp <-> gripper pose, and the physics trial."""

import math

import numpy as np
import pytest

from mtg_grasp_ros.grasp import Grasp
from simulation.camera import SimCamera
from simulation.gripper import build_grippers
from simulation.poses import grasp_to_pose, pose_to_grasp
from simulation.scene import Scene

pytest.importorskip('pybullet')


def test_look_at_camera_matrices_match_pybullet_and_its_pixels():
    import pybullet as p
    eye, target, up = [0.05, 0.02, 0.5], [0.01, -0.01, 0.0], [0, 1, 0]
    cam = SimCamera.look_at(eye, target, up, 101, 35.0, 0.05, 2.0)
    assert np.allclose(p.computeViewMatrix(eye, target, up), cam.view_matrix(), atol=1e-6)
    assert np.allclose(p.computeProjectionMatrixFOV(35.0, 1.0, 0.05, 2.0),
                       cam.projection_matrix(), atol=1e-6)
    # A sphere's silhouette is centred where the camera model projects its centre: this pins
    # TinyRenderer's principal point (a half-pixel error would shift every label).
    with Scene() as scene:
        for point in ([0.0, 0.0, 0.0], [0.04, 0.03, 0.02], [-0.05, 0.01, 0.0]):
            sphere = p.createVisualShape(p.GEOM_SPHERE, radius=0.02,
                                         physicsClientId=scene.client)
            body = p.createMultiBody(0, -1, sphere, basePosition=point,
                                     physicsClientId=scene.client)
            render = scene.render(cam)
            rows, cols = np.nonzero(render.mask(body))
            col, row, z = cam.project(np.array(point))
            assert abs(rows.mean() - row) < 0.3 and abs(cols.mean() - col) < 0.3
            # Depth is camera z: the front of the sphere is ~its radius nearer than its centre.
            assert render.depth[int(round(row)), int(round(col))] == pytest.approx(z - 0.02,
                                                                                   abs=2e-3)
            scene.remove(body)


def test_grasp_pose_round_trip():
    cam = SimCamera.look_at([0.02, -0.03, 0.45], [0.0, 0.0, 0.0], [0.3, 1.0, 0.0], 256, 35.0,
                            0.05, 2.0)
    grasp = Grasp(row=100.3, col=140.7, angle=0.7, width=1.0, jaw_size=1.0)
    position, rotation = grasp_to_pose(cam, grasp, 0.43)
    assert np.allclose(rotation.T @ rotation, np.eye(3)) and np.linalg.det(rotation) > 0
    assert np.dot(rotation[:, 2], cam.forward) == pytest.approx(-1.0)  # approach = optical axis
    back = pose_to_grasp(cam, position, rotation, 0.05, 0.02, reference_depth=0.43)
    assert (back.row, back.col, back.angle) == pytest.approx((grasp.row, grasp.col, grasp.angle))
    assert back.width == pytest.approx(0.05 * cam.focal / 0.43)
    assert back.jaw_size == pytest.approx(0.02 * cam.focal / 0.43)


# The physics trial ------------------------------------------------------------------------------

BOX = (0.02, 0.04, 0.025)  # half sizes: 4 cm x 8 cm x 5 cm
YAW = 0.3


@pytest.fixture
def box_scene():
    with Scene() as scene:
        box = scene.add_box(BOX, yaw=YAW)
        scene.settle([box])
        cam = SimCamera.look_at([0.0, 0.0, 0.45], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0], 256, 35.0,
                                0.05, 2.0)
        render = scene.render(cam)
        grippers = build_grippers(scene, (0.02,))
        state = scene.p.saveState(physicsClientId=scene.client)
        yield scene, box, cam, render, grippers[0.02], state


def image_grasp(cam: SimCamera, centre_world, axis_world) -> Grasp:
    """The image grasp centred on ``centre_world`` whose closing axis is ``axis_world``."""
    ends = np.array([centre_world - 0.01 * axis_world, centre_world + 0.01 * axis_world])
    cols, rows, _ = cam.project(ends)
    col, row, _ = cam.project(np.asarray(centre_world))
    return Grasp(row=float(row), col=float(col), angle=math.atan2(-(rows[1] - rows[0]),
                                                                  cols[1] - cols[0]),
                 width=1.0, jaw_size=1.0)


def test_trial_succeeds_across_the_short_side_and_fails_off_the_object(box_scene):
    scene, box, cam, render, gripper, state = box_scene
    short_axis = np.array([math.cos(YAW), math.sin(YAW), 0.0])
    grasp = image_grasp(cam, np.array([0.0, 0.0, 2 * BOX[2]]), short_axis)
    row, col = int(round(grasp.row)), int(round(grasp.col))
    assert render.mask(box)[row, col]
    tip_depth = float(render.depth[row, col]) + 0.025
    position, rotation = grasp_to_pose(cam, grasp, tip_depth)
    result = gripper.trial(box, position, rotation, 0.06, state)
    assert result.success, result

    # The same grasp 12 cm to the side of the box closes on air.
    off = image_grasp(cam, np.array([0.0, 0.12, 0.02]), short_axis)
    plane_depth = float(cam.plane_depth(off.col, off.row))
    position, rotation = grasp_to_pose(cam, off, plane_depth - 0.01)
    result = gripper.trial(box, position, rotation, 0.06, state)
    assert not result.success and result.reason == 'empty'
    # The box is back where it was for the next trial.
    pos, _ = scene.p.getBasePositionAndOrientation(box, physicsClientId=scene.client)
    assert pos[2] == pytest.approx(BOX[2], abs=2e-3)


def test_fingers_landing_on_the_object_are_a_collision(box_scene):
    scene, box, cam, render, gripper, state = box_scene
    long_axis = np.array([-math.sin(YAW), math.cos(YAW), 0.0])
    grasp = image_grasp(cam, np.array([0.0, 0.0, 2 * BOX[2]]), long_axis)
    tip_depth = float(render.depth[int(round(grasp.row)), int(round(grasp.col))]) + 0.025
    position, rotation = grasp_to_pose(cam, grasp, tip_depth)
    # Opening 6 cm across the 8 cm side: both fingers would come down on the box.
    assert gripper.trial(box, position, rotation, 0.06, state).reason == 'collision'
    gripper.place(position, rotation, 0.06)
    assert gripper.collides((box, scene.table))


@pytest.mark.parametrize('opening', [0.05, 0.06, 0.09])
def test_trial_records_the_contact_width_across_the_jaws(box_scene, opening):
    """Whatever the pre-grasp opening, the fingers stop on the box's 4 cm side."""
    scene, box, cam, render, gripper, state = box_scene
    short_axis = np.array([math.cos(YAW), math.sin(YAW), 0.0])
    grasp = image_grasp(cam, np.array([0.0, 0.0, 2 * BOX[2]]), short_axis)
    tip_depth = float(render.depth[int(round(grasp.row)), int(round(grasp.col))]) + 0.025
    position, rotation = grasp_to_pose(cam, grasp, tip_depth)
    result = gripper.trial(box, position, rotation, opening, state)
    assert result.success, result
    assert result.contact_width == pytest.approx(2 * BOX[0], abs=0.002)


def test_a_collision_records_no_contact_width(box_scene):
    scene, box, cam, render, gripper, state = box_scene
    long_axis = np.array([-math.sin(YAW), math.cos(YAW), 0.0])
    grasp = image_grasp(cam, np.array([0.0, 0.0, 2 * BOX[2]]), long_axis)
    tip_depth = float(render.depth[int(round(grasp.row)), int(round(grasp.col))]) + 0.025
    position, rotation = grasp_to_pose(cam, grasp, tip_depth)
    result = gripper.trial(box, position, rotation, 0.06, state)
    assert result.reason == 'collision' and result.contact_width == 0.0
