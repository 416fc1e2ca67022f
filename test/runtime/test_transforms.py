"""Quaternion / rigid-transform conventions and the grasp pose construction."""

import math

import numpy as np
import pytest

from mtg_grasp_ros.camera_model import CameraModel
from mtg_grasp_ros.grasp import wrap_angle
from mtg_grasp_ros.transforms import (closing_axis_yaw, grasp_orientation,
                                      matrix_from_quaternion, MissingTransformError,
                                      quaternion_from_matrix, quaternion_from_rpy,
                                      RigidTransform, StaticTransform, TransformError)


def rot_x(a):
    c, s = math.cos(a), math.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def rot_y(a):
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def rot_z(a):
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def random_quaternion(rng):
    q = rng.normal(size=4)
    return q / np.linalg.norm(q)


def axis_angle_matrix(q):
    """Reference rotation of a unit quaternion (x, y, z, w): Rodrigues' formula about its axis
    by its angle, an independent derivation from the one under test."""
    v, w = np.asarray(q[:3], dtype=np.float64), float(q[3])
    angle = 2.0 * math.atan2(np.linalg.norm(v), w)
    axis = v / np.linalg.norm(v)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k


def test_quaternion_order_is_xyzw_like_geometry_msgs():
    q = quaternion_from_rpy(0.0, 0.0, math.pi / 2)
    np.testing.assert_allclose(q, [0.0, 0.0, math.sqrt(0.5), math.sqrt(0.5)], atol=1e-12)
    np.testing.assert_allclose(matrix_from_quaternion([0, 0, 0, 1]), np.eye(3))
    # 90 degrees about z maps x to y.
    np.testing.assert_allclose(matrix_from_quaternion(q) @ [1, 0, 0], [0, 1, 0], atol=1e-12)


def test_rpy_is_tf2_set_rpy():
    rng = np.random.default_rng(1)
    for _ in range(20):
        r, p, y = rng.uniform(-3, 3), rng.uniform(-1.5, 1.5), rng.uniform(-3, 3)
        expect = rot_z(y) @ rot_y(p) @ rot_x(r)
        np.testing.assert_allclose(matrix_from_quaternion(quaternion_from_rpy(r, p, y)), expect,
                                   atol=1e-12)


def test_matrix_quaternion_round_trip_and_axis_angle():
    rng = np.random.default_rng(2)
    for _ in range(50):
        a = random_quaternion(rng)
        qa = quaternion_from_matrix(matrix_from_quaternion(a))
        assert qa[3] >= 0
        np.testing.assert_allclose(qa, a if a[3] >= 0 else -a, atol=1e-9)
        np.testing.assert_allclose(matrix_from_quaternion(a), axis_angle_matrix(a), atol=1e-9)


def test_conventions_match_scipy():
    """Cross-check with SciPy's Rotation (also scalar-last quaternions; extrinsic 'xyz' Euler
    angles are tf2's setRPY). SciPy is a training dependency, not a runtime one."""
    scipy_transform = pytest.importorskip(
        'scipy.spatial.transform', reason='SciPy (a training dependency) is not installed')
    rotation = scipy_transform.Rotation
    rng = np.random.default_rng(4)
    for _ in range(20):
        q = random_quaternion(rng)
        np.testing.assert_allclose(matrix_from_quaternion(q), rotation.from_quat(q).as_matrix(),
                                   atol=1e-12)
        rpy = rng.uniform(-3, 3, size=3)
        expect = rotation.from_euler('xyz', rpy).as_quat()
        got = quaternion_from_rpy(*rpy)
        np.testing.assert_allclose(got * np.sign(got[3]), expect * np.sign(expect[3]),
                                   atol=1e-12)


def test_zero_quaternion_is_an_error():
    with pytest.raises(TransformError):
        matrix_from_quaternion([0, 0, 0, 0])


def test_rigid_transform_apply_inverse_compose():
    rng = np.random.default_rng(3)
    a = RigidTransform.from_xyz_quaternion(rng.normal(size=3), random_quaternion(rng))
    b = RigidTransform.from_xyz_rpy(rng.normal(size=3), rng.normal(size=3))
    p = rng.normal(size=(5, 3))
    np.testing.assert_allclose(a.inverse().apply(a.apply(p)), p, atol=1e-12)
    np.testing.assert_allclose((a @ b).apply(p), a.apply(b.apply(p)), atol=1e-12)
    np.testing.assert_allclose(a.rotate(p), p @ a.rotation.T)
    np.testing.assert_allclose(matrix_from_quaternion(a.quaternion), a.rotation, atol=1e-12)
    with pytest.raises(TransformError):
        RigidTransform(np.diag([1.0, 1.0, -1.0]), np.zeros(3))


def test_transform_from_parameters_and_msg():
    by_rpy = RigidTransform.from_parameters([1, 2, 3], rpy=[math.pi, 0, 0])
    by_q = RigidTransform.from_parameters([1, 2, 3], rpy=[0, 0, 0], quaternion=[1, 0, 0, 0])
    np.testing.assert_allclose(by_rpy.rotation, by_q.rotation, atol=1e-12)
    zero_q = RigidTransform.from_parameters([1, 2, 3], rpy=[math.pi, 0, 0],
                                            quaternion=[0, 0, 0, 0])
    np.testing.assert_allclose(zero_q.rotation, by_rpy.rotation)
    with pytest.raises(TransformError, match='xyz'):
        RigidTransform.from_parameters([1, 2])
    from geometry_msgs.msg import Transform

    msg = Transform()
    msg.translation.x, msg.rotation.x, msg.rotation.w = 0.5, 1.0, 0.0
    t = RigidTransform.from_msg(msg)
    np.testing.assert_allclose(t.apply([0, 1, 0]), [0.5, -1, 0], atol=1e-12)


def test_static_transform_lookup():
    static = StaticTransform.from_parameters('base_link', 'camera_optical', [0, 0, 1],
                                             rpy=[math.pi, 0, 0])
    assert static.lookup('camera_optical') is static.transform
    assert static.lookup('') is static.transform  # header without frame_id
    np.testing.assert_allclose(static.lookup('base_link').rotation, np.eye(3))
    with pytest.raises(MissingTransformError, match='other'):
        static.lookup('other')
    anyframe = StaticTransform.from_parameters('base_link', '', [0, 0, 1])
    assert anyframe.lookup('whatever') is anyframe.transform


def test_grasp_pose_axes_convention():
    closing, approach = np.array([1.0, 1.0, 0.3]), np.array([0.0, 0.0, -1.0])
    o = grasp_orientation(closing, approach)
    r = matrix_from_quaternion(o.quaternion)
    np.testing.assert_allclose(r, o.rotation, atol=1e-12)
    np.testing.assert_allclose(r[:, 2], approach)                       # z = approach
    np.testing.assert_allclose(r[:, 0], [math.sqrt(0.5), math.sqrt(0.5), 0], atol=1e-12)
    np.testing.assert_allclose(r[:, 1], np.cross(r[:, 2], r[:, 0]))     # y = z x x
    assert np.linalg.det(r) == pytest.approx(1.0)
    assert o.yaw == pytest.approx(math.pi / 4)


@pytest.mark.parametrize('deg', [-170, -95, -90, -45, 0, 30, 89, 90, 135, 180])
def test_closing_axis_sign_is_canonical(deg):
    a = math.radians(deg)
    axis = np.array([math.cos(a), math.sin(a), 0.0])
    o1 = grasp_orientation(axis, [0, 0, -1])
    o2 = grasp_orientation(-axis, [0, 0, -1])
    np.testing.assert_allclose(o1.quaternion, o2.quaternion, atol=1e-12)
    assert -math.pi / 2 <= o1.yaw < math.pi / 2
    assert o1.yaw == pytest.approx(wrap_angle(a), abs=1e-12) or abs(
        abs(o1.yaw) - math.pi / 2) < 1e-9
    assert closing_axis_yaw(axis) == pytest.approx(o1.yaw, abs=1e-9) or abs(
        abs(o1.yaw) - math.pi / 2) < 1e-9


def test_closing_axis_along_approach_is_an_error():
    with pytest.raises(TransformError, match='parallel'):
        grasp_orientation([0, 0, 1.0], [0, 0, -1.0])
    with pytest.raises(TransformError):
        grasp_orientation([1.0, 0, 0], [0, 0, 0])


def test_top_down_camera_pixels_to_base_frame():
    """A camera 0.5 m above the base looking down (rpy pi, 0, 0): image right = base +x, image
    up = base +y, so an angle counter-clockwise on screen is a positive yaw about base z."""
    cam = CameraModel(fx=500.0, fy=500.0, cx=320.0, cy=240.0)
    camera_to_base = RigidTransform.from_xyz_rpy([0.1, 0.0, 0.5], [math.pi, 0.0, 0.0])
    centre = camera_to_base.apply(cam.deproject(420.0, 140.0, 0.5))
    np.testing.assert_allclose(centre, [0.2, 0.1, 0.0], atol=1e-12)
    a = math.radians(30)
    du, dv = math.cos(a), -math.sin(a)  # the closing axis on screen
    tip = camera_to_base.apply(cam.deproject(420.0 + 10 * du, 140.0 + 10 * dv, 0.5))
    o = grasp_orientation(tip - centre, [0, 0, -1])
    assert o.yaw == pytest.approx(a)
    assert np.linalg.norm(tip - centre) == pytest.approx(cam.width_to_metres(10.0, 0.5))
