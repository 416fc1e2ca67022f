"""Pinhole camera geometry: intrinsics from CameraInfo, rays, deprojection, planes, widths."""

import math

import cv2
import numpy as np
import pytest

from mtg_grasp_ros.camera_model import (BehindCameraError, CameraModel, CameraModelError,
                                        intersect_ray_plane, ParallelRayError, RayPlaneError)

K = [500.0, 0.0, 320.0, 0.0, 510.0, 240.0, 0.0, 0.0, 1.0]
P = [480.0, 0.0, 322.0, 0.0, 0.0, 490.0, 236.0, 0.0, 0.0, 0.0, 1.0, 0.0]


def test_uses_p_when_set_else_k():
    cam = CameraModel.from_camera_info(K, P, 640, 480)
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == (480.0, 490.0, 322.0, 236.0)
    cam = CameraModel.from_camera_info(K, [0.0] * 12, 640, 480)
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == (500.0, 510.0, 320.0, 240.0)
    cam = CameraModel.from_camera_info(K, [], 640, 480)
    assert cam.fx == 500.0


@pytest.mark.parametrize('k,p', [([0.0] * 9, [0.0] * 12),
                                 ([0.0, 0, 320, 0, 510, 240, 0, 0, 1], [0.0] * 12)])
def test_zero_focal_length_is_an_error(k, p):
    with pytest.raises(CameraModelError, match='zero focal'):
        CameraModel.from_camera_info(k, p, 640, 480)


def test_missing_or_malformed_intrinsics_are_errors():
    with pytest.raises(CameraModelError, match='K must have 9'):
        CameraModel.from_camera_info([500.0, 0.0], None, 640, 480)
    with pytest.raises(CameraModelError, match='missing'):
        CameraModel.from_camera_info(None, None)
    with pytest.raises(CameraModelError, match='non-finite'):
        CameraModel.from_camera_info([math.nan] + K[1:], None)
    with pytest.raises(CameraModelError):
        CameraModel(fx=-1.0, fy=1.0, cx=0.0, cy=0.0)
    assert CameraModelError.reason == 'bad_camera_info'


def test_from_sensor_msgs_camera_info():
    from sensor_msgs.msg import CameraInfo

    msg = CameraInfo(width=640, height=480, k=K, p=P, distortion_model='plumb_bob',
                     d=[0.0] * 5)
    cam = CameraModel.from_msg(msg)
    assert (cam.fx, cam.cy, cam.width, cam.height) == (480.0, 236.0, 640, 480)


def test_binning_and_roi_as_image_geometry():
    cam = CameraModel.from_camera_info(K, None, 640, 480, binning_x=2, binning_y=2)
    assert (cam.fx, cam.fy, cam.cx, cam.cy, cam.width, cam.height) == (
        250.0, 255.0, 160.0, 120.0, 320, 240)
    cam = CameraModel.from_camera_info(K, None, 640, 480, roi=(100, 50, 200, 100))
    assert (cam.cx, cam.cy, cam.width, cam.height) == (220.0, 190.0, 200, 100)
    cam = CameraModel.from_camera_info(K, None, 640, 480, roi=(0, 0, 0, 0))
    assert (cam.cx, cam.width) == (320.0, 640)


def test_image_size_check():
    cam = CameraModel.from_camera_info(K, None, 640, 480)
    cam.check_image_size(640, 480)
    with pytest.raises(CameraModelError, match='640x480'):
        cam.check_image_size(320, 240)
    CameraModel.from_camera_info(K, None, 0, 0).check_image_size(320, 240)  # size unknown


def test_ray_has_unit_z_not_unit_length():
    cam = CameraModel(fx=500.0, fy=400.0, cx=320.0, cy=240.0)
    np.testing.assert_allclose(cam.pixel_to_ray(320.0, 240.0), [0.0, 0.0, 1.0])
    np.testing.assert_allclose(cam.pixel_to_ray(820.0, 40.0), [1.0, -0.5, 1.0])
    rays = cam.pixel_to_ray(np.array([0.0, 100.0]), np.array([0.0, 50.0]))
    assert rays.shape == (2, 3) and np.all(rays[:, 2] == 1.0)


def test_deprojection_keeps_depth_and_round_trips():
    cam = CameraModel(fx=500.0, fy=400.0, cx=320.0, cy=240.0)
    u, v, z = np.array([10.0, 320.0, 600.0]), np.array([20.0, 240.0, 470.0]), np.array(
        [0.3, 1.0, 2.5])
    points = cam.deproject(u, v, z)
    np.testing.assert_allclose(points[:, 2], z)  # Z is the z coordinate, not the range
    np.testing.assert_allclose(cam.project(points), np.stack([u, v], axis=1))
    # The wrong "unit ray times Z" of several public nodes lands closer than Z off-axis.
    ray = cam.pixel_to_ray(600.0, 470.0)
    wrong = ray / np.linalg.norm(ray) * 2.5
    assert wrong[2] < 2.5 - 0.1 and abs(points[2, 2] - 2.5) < 1e-12


def test_width_in_metres():
    cam = CameraModel(fx=600.0, fy=600.0, cx=320.0, cy=240.0)
    assert cam.width_to_metres(120.0, 0.5) == pytest.approx(0.1)
    # The same as the distance of the two end points deprojected at that depth.
    a, b = cam.deproject(np.array([300.0, 420.0]), np.array([200.0, 200.0]), np.array([0.5, 0.5]))
    assert np.linalg.norm(b - a) == pytest.approx(cam.width_to_metres(120.0, 0.5))


def test_ray_plane_intersection():
    hit = intersect_ray_plane([0.1, -0.2, 1.0], [0.0, 0.0, 2.0], [0.0, 0.0, -1.0])
    np.testing.assert_allclose(hit, [0.2, -0.4, 2.0])
    hit = intersect_ray_plane([0.0, 0.0, -1.0], [5.0, 5.0, 0.0], [0.0, 0.0, 3.0],
                              origin=[1.0, 2.0, 0.5])
    np.testing.assert_allclose(hit, [1.0, 2.0, 0.0])


def test_ray_parallel_to_plane():
    with pytest.raises(ParallelRayError, match='parallel'):
        intersect_ray_plane([1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 0.0, 1.0])
    with pytest.raises(RayPlaneError):
        intersect_ray_plane([1.0, 1e-13, 0.0], [0.0, 0.0, -1.0], [0.0, 0.0, 1.0])


def test_plane_behind_camera():
    with pytest.raises(BehindCameraError, match='behind'):
        intersect_ray_plane([0.0, 0.0, 1.0], [0.0, 0.0, -1.0], [0.0, 0.0, 1.0])
    with pytest.raises(BehindCameraError):  # the plane passes through the camera centre
        intersect_ray_plane([0.3, 0.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0])
    assert BehindCameraError.reason == ParallelRayError.reason == 'no_plane_hit'


def test_rectify_pixels_inverts_the_distortion():
    k = np.array(K).reshape(3, 3)
    d = np.array([-0.2, 0.05, 0.001, -0.002, 0.0])
    cam = CameraModel.from_camera_info(K, None, 640, 480, d=d, distortion_model='plumb_bob')
    rect = np.array([[100.0, 80.0], [320.0, 240.0], [600.0, 400.0]])
    rays = np.concatenate([(rect - [320.0, 240.0]) / [500.0, 510.0], np.ones((3, 1))], axis=1)
    raw, _ = cv2.projectPoints(rays, np.zeros(3), np.zeros(3), k, d)
    np.testing.assert_allclose(cam.rectify_pixels(raw.reshape(-1, 2)), rect, atol=0.05)
    plain = CameraModel.from_camera_info(K, None, 640, 480)
    np.testing.assert_array_equal(plain.rectify_pixels(rect), rect)
    odd = CameraModel.from_camera_info(K, None, 640, 480, d=[0.1], distortion_model='weird')
    with pytest.raises(CameraModelError, match='weird'):
        odd.rectify_pixels(rect)


def test_an_all_zero_rectification_matrix_is_the_identity():
    # Some drivers send R = 0 with a distortion model; read as a rotation it would send every
    # pixel to the principal point (and the node's rays behind the camera).
    d = [-0.2, 0.05, 0.001, -0.002, 0.0]
    zero_r = CameraModel.from_camera_info(K, None, 640, 480, d=d, r=[0.0] * 9,
                                          distortion_model='plumb_bob')
    identity = CameraModel.from_camera_info(K, None, 640, 480, d=d, r=list(np.eye(3).ravel()),
                                            distortion_model='plumb_bob')
    raw = np.array([[100.0, 80.0], [320.0, 240.0], [600.0, 400.0]])
    assert zero_r.r is None
    np.testing.assert_allclose(zero_r.rectify_pixels(raw), identity.rectify_pixels(raw))
    assert np.ptp(zero_r.rectify_pixels(raw)[:, 0]) > 400  # spread out, not collapsed
