"""The wrist rig (issue 13 part 1, no ROS): twist integration and its limits, the camera rigidly
on the tool, the object in the wrist camera's view from above it, and the grasp hooks."""

import math

import numpy as np
import pytest

from simulation.wrist_rig import (CameraMount, RigConfig, RigLimits, tool_rotation, Twist,
                                  WristRig)

pytest.importorskip('pybullet')

DT = 1.0 / 30.0


@pytest.fixture(scope='module')
def rig():
    # Small, shadowless images: the tests are about geometry, and rendering is the slow part.
    with WristRig(RigConfig(width=320, height=240, object_ids=[460], seed=3,
                            shadows=False)) as r:
        yield r


def go_to(rig, xyz, yaw, speed=0.2):
    """Steer the tool to ``xyz``, ``yaw`` with twists (a proportional controller, bounded)."""
    for _ in range(400):
        error = np.asarray(xyz) - rig.position
        yaw_error = math.remainder(yaw - rig.yaw, 2 * math.pi)
        if np.linalg.norm(error) < 1e-4 and abs(yaw_error) < 1e-3:
            return
        rig.step(DT, Twist(tuple(np.clip(error / DT, -speed, speed)), yaw_error / DT))
    raise AssertionError(f'did not reach {xyz}: at {rig.position}')


def test_twist_integrates_to_the_commanded_pose(rig):
    rig.reset()
    start, t0 = rig.position.copy(), rig.time
    twist = Twist((0.06, -0.03, -0.09), 0.3)
    for _ in range(30):
        applied = rig.step(DT, twist)
    assert applied.linear == pytest.approx(twist.linear) and applied.yaw_rate == 0.3
    np.testing.assert_allclose(rig.position, start + np.array([0.06, -0.03, -0.09]), atol=1e-9)
    assert rig.yaw == pytest.approx(0.3) and rig.time - t0 == pytest.approx(1.0)
    np.testing.assert_allclose(rig.tool_pose().rotation, tool_rotation(0.3), atol=1e-12)
    # The gripper body in pybullet is where the rig says (its frame: z up, i.e. Rz(yaw)).
    p, c = rig.scene.p, rig.scene.client
    pos, orn = p.getBasePositionAndOrientation(rig.gripper.body, physicsClientId=c)
    np.testing.assert_allclose(pos, rig.position, atol=1e-6)
    assert p.getEulerFromQuaternion(orn) == pytest.approx((0.0, 0.0, 0.3), abs=1e-6)
    # Speed limits: the linear norm is scaled (direction kept), the yaw rate clipped.
    limits = rig.config.limits
    before = rig.position.copy()
    applied = rig.step(0.1, Twist((3.0, 4.0, 0.0), -10.0))
    assert np.linalg.norm(applied.linear) == pytest.approx(limits.max_linear)
    np.testing.assert_allclose(rig.position - before,
                               0.1 * limits.max_linear * np.array([0.6, 0.8, 0.0]), atol=1e-9)
    assert applied.yaw_rate == -limits.max_yaw_rate
    # The workspace: the fingertips stop above the table.
    for _ in range(60):
        applied = rig.step(DT, Twist((0.0, 0.0, -0.25)))
    assert rig.position[2] == pytest.approx(limits.lower[2]) and applied.linear[2] == 0.0
    with pytest.raises(ValueError):
        rig.step(-0.1)
    with pytest.raises(ValueError):
        Twist((0.0, math.nan, 0.0))
    with pytest.raises(ValueError):
        RigLimits(lower=(0, 0, 0), upper=(1, 1, 0))


def test_camera_is_the_tool_pose_times_the_fixed_mount(rig):
    rig.reset()
    mount = rig.config.mount
    assert mount == CameraMount()
    # At the home pose (yaw 0): 10 cm above the fingertips, 5 cm towards world -y (tool y),
    # looking straight down with image right = world +x (the fixed camera's orientation).
    cam = rig.camera_pose()
    np.testing.assert_allclose(cam.translation, rig.position + [0.0, -0.05, 0.10], atol=1e-12)
    np.testing.assert_allclose(cam.rotation, np.diag([1.0, -1.0, -1.0]), atol=1e-12)
    for twist in (Twist((0.1, 0.05, -0.02), 0.8), Twist((-0.2, 0.0, 0.1), -1.2)):
        for _ in range(10):
            rig.step(DT, twist)
        tool, cam = rig.tool_pose(), rig.camera_pose()
        relative = tool.inverse() @ cam
        np.testing.assert_allclose(relative.translation, mount.xyz, atol=1e-12)
        np.testing.assert_allclose(relative.rotation, np.eye(3), atol=1e-12)
        np.testing.assert_allclose(cam.rotation[:, 2], [0.0, 0.0, -1.0], atol=1e-12)
        camera = rig.camera()
        np.testing.assert_allclose(camera.camera_to_world[:3, 3], cam.translation)
        np.testing.assert_allclose(camera.rotation, cam.rotation, atol=1e-12)
        assert (camera.width, camera.height, camera.fov_deg) == (320, 240, 42.0)


def test_object_in_view_from_above_it_and_not_from_aside(rig):
    rig.reset()
    obj = rig.scene.objects[0]
    above = np.array([*obj.centre, obj.height + 0.15])
    go_to(rig, above, 0.5)
    frame = rig.render()
    mask = frame.render.mask(obj)
    assert mask.sum() > 1000, mask.sum()
    # Where the wrist camera's model projects the object's top, the image shows the object.
    u, v, z = frame.camera.project(obj.vertices[np.argmax(obj.vertices[:, 2])])
    assert 0 < z < 0.3
    assert mask[int(round(v)) - 1:int(round(v)) + 2, int(round(u)) - 1:int(round(u)) + 2].any()
    table = np.median(frame.rgb[:10, :10].reshape(-1, 3), axis=0)
    assert np.abs(frame.rgb[mask].mean(axis=0) - table).sum() > 60
    assert frame.time == rig.time
    np.testing.assert_allclose(frame.tool.translation, rig.position)
    # 30 cm to the side the object is out of the camera's view.
    go_to(rig, above + [0.3, 0.0, 0.0], 0.5)
    assert not rig.render().render.mask(obj).any()


def test_descend_close_lift_holds_the_object(rig):
    rig.reset()
    obj = rig.scene.objects[0]
    major, _, breadth = obj.axes()
    assert breadth < 0.08
    # Fingertips above the object, closing across its minor axis, then down to mid-height.
    go_to(rig, [*obj.centre, obj.height + 0.05], major + math.pi / 2)
    go_to(rig, [*obj.centre, obj.height / 2], major + math.pi / 2, speed=0.05)
    gap = rig.close()
    assert 0.002 < gap < 0.09 and rig.holding()
    risen = rig.lift(0.10)
    assert risen == pytest.approx(0.10, abs=0.01)
    z = rig.scene.p.getBasePositionAndOrientation(obj.body, physicsClientId=rig.scene.client)
    assert z[0][2] - obj.position[2] > 0.08 and rig.holding()
    np.testing.assert_allclose(rig.tool_pose().translation[2], obj.height / 2 + risen)
    rig.open()
    assert rig.gripper.opening() == pytest.approx(rig.config.max_opening, abs=1e-6)
