"""The simulated camera: its intrinsics match what pybullet renders, and the node publishes
Image + CameraInfo (+ ground truth) that agree with the scene."""

import math
import os
import time

import numpy as np
import pytest

from mtg_grasp_ros.camera_model import CameraModel
from simulation.camera import SimCamera
from simulation.messages import camera_info_message, footprints_from_message
from simulation.objects import HELDOUT_INDICES, parse_object_ids
from simulation.tabletop import polygon_distance, SimulatedScene

pytest.importorskip('pybullet')


@pytest.fixture(scope='module')
def scene():
    with SimulatedScene(object_ids=[460], seed=3) as s:
        s.reset()
        yield s


def test_heldout_rule_and_object_ids():
    assert HELDOUT_INDICES[:3] == (0, 10, 20) and len(HELDOUT_INDICES) == 100
    assert parse_object_ids('r010, 250;r000') == [10, 250, 0]
    with pytest.raises(ValueError, match='held-out'):
        parse_object_ids('r011')        # a training object
    with pytest.raises(ValueError, match='held-out'):
        SimulatedScene(object_ids=[5])


def test_camera_info_matches_the_pybullet_projection():
    camera = SimCamera()
    info = camera_info_message(camera, frame_id='cam')
    model = CameraModel.from_msg(info)
    assert (info.width, info.height) == (640, 480)
    assert model.fx == model.fy == pytest.approx(240.0 / math.tan(math.radians(12.5)))
    # TinyRenderer's pixel centres: the optical axis at column w/2, row h/2 - 1.
    assert (model.cx, model.cy) == (320.0, 239.0)
    # Top-down default: image right = world +x, image up = world +y, 0.55 m above the table.
    u, v, z = camera.project(np.array([[0.0, 0.0, 0.0], [0.05, 0.0, 0.0], [0.0, 0.05, 0.0]]))
    np.testing.assert_allclose(z, 0.55)
    assert u[1] > u[0] and v[2] < v[0] and u[2] == pytest.approx(u[0])


def test_small_spheres_land_where_k_projects_them(scene):
    """Sub-pixel check of K (a half-pixel error in cx, cy would fail): the mask centroid of a
    5 mm sphere equals its centre projected with CameraInfo's K and the camera pose."""
    p, c = scene.p, scene.client
    model = CameraModel.from_msg(camera_info_message(scene.camera))
    world_to_camera = scene.camera.pose.inverse()
    candidates = [(x, y, 0.005) for x in (-0.09, 0.0, 0.09) for y in (-0.08, 0.0, 0.08)]
    clear = [xyz for xyz in candidates
             if polygon_distance(scene.objects[0].footprint, xyz[:2]) > 0.02]
    assert len(clear) >= 4
    for xyz in clear:
        shape = p.createVisualShape(p.GEOM_SPHERE, radius=0.005, rgbaColor=[1, 0, 0, 1],
                                    physicsClientId=c)
        body = p.createMultiBody(0, -1, shape, basePosition=xyz, physicsClientId=c)
        try:
            seg = scene.render().segmentation
        finally:
            p.removeBody(body, physicsClientId=c)
        rows, cols = np.nonzero(seg == body)
        u, v = model.project(world_to_camera.apply(xyz))
        assert abs(cols.mean() - u) < 0.25 and abs(rows.mean() - v) < 0.25, (xyz, u, v)


def test_object_truth_projects_onto_its_mask(scene):
    obj = scene.objects[0]
    render = scene.render()
    mask = render.mask(obj)
    assert mask.sum() > 500 and obj.object_id == 'r460'
    model = CameraModel.from_msg(camera_info_message(scene.camera))
    cam = scene.camera.pose.inverse().apply(obj.vertices)
    uv = model.project(cam)
    # The highest point of the object is seen from above: it lands on the mask.
    u, v = np.round(uv[np.argmax(obj.vertices[:, 2])]).astype(int)
    assert mask[v - 1:v + 2, u - 1:u + 2].any()
    # The silhouette's extent is the projected vertices' extent (rasterised: within 1.5 px).
    rows, cols = np.nonzero(mask)
    assert abs(cols.min() - uv[:, 0].min()) < 1.5 and abs(cols.max() - uv[:, 0].max()) < 1.5
    assert abs(rows.min() - uv[:, 1].min()) < 1.5 and abs(rows.max() - uv[:, 1].max()) < 1.5
    # Every visible surface point (mask + depth, deprojected) lies over the footprint.
    pts = scene.camera.deproject(cols[::7].astype(float), rows[::7].astype(float),
                                 render.depth[rows[::7], cols[::7]])
    assert max(polygon_distance(obj.footprint, p[:2]) for p in pts) < 0.002
    assert 0.0 < pts[:, 2].min() and pts[:, 2].max() == pytest.approx(obj.height, abs=0.002)


# ------------------------------------------------------------------------------ the node
@pytest.fixture(scope='module')
def ros():
    import rclpy
    env = {'ROS_DOMAIN_ID': str(150 + os.getpid() % 80),
           'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST'}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    context = rclpy.context.Context()
    rclpy.init(context=context)
    yield context
    rclpy.try_shutdown(context=context)
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def test_node_publishes_consistent_image_camera_info_and_truth(ros):
    import rclpy
    from geometry_msgs.msg import PoseArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image
    from visualization_msgs.msg import MarkerArray

    from simulation.camera_node import SimCameraNode

    params = {'object_ids': 'r950', 'noise_std': 0.0, 'reliability': 'reliable',
              'rate': 30.0, 'respawn_period': 0.0, 'frame_id': 'cam_opt'}
    ns = f'/sim{os.getpid()}'
    node = SimCameraNode(namespace=ns, context=ros,
                         parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    tester = rclpy.create_node('sim_tester', namespace=ns, context=ros)
    got = {'image': [], 'info': [], 'objects': [], 'footprints': []}
    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
    tester.create_subscription(Image, 'camera/color/image_raw', got['image'].append, qos)
    tester.create_subscription(CameraInfo, 'camera/color/camera_info', got['info'].append, qos)
    tester.create_subscription(PoseArray, 'sim_camera/objects', got['objects'].append, latched)
    tester.create_subscription(MarkerArray, 'sim_camera/footprints', got['footprints'].append,
                               latched)
    executor = SingleThreadedExecutor(context=ros)
    executor.add_node(node)
    executor.add_node(tester)
    try:
        end = time.monotonic() + 10.0
        while time.monotonic() < end and not (
                len(got['image']) >= 5 and len(got['info']) >= 5 and got['objects']
                and got['footprints']):
            executor.spin_once(timeout_sec=0.05)
        counts = {k: len(v) for k, v in got.items()}
        assert len(got['image']) >= 5 and len(got['info']) >= 5, counts
        image, info = got['image'][-1], got['info'][-1]
        assert (image.encoding, image.width, image.height, image.step) == ('rgb8', 640, 480,
                                                                           1920)
        assert image.header.frame_id == info.header.frame_id == 'cam_opt'
        stamps = [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in got['image']]
        assert all(b > a for a, b in zip(stamps, stamps[1:]))
        now = node.get_clock().now().nanoseconds * 1e-9
        assert 0 <= now - stamps[-1] < 5.0
        assert {(m.header.stamp.sec, m.header.stamp.nanosec) for m in got['info']} >= {
            (image.header.stamp.sec, image.header.stamp.nanosec)}
        assert list(info.k) == pytest.approx(node.camera.k)
        rgb = np.frombuffer(image.data, np.uint8).reshape(480, 640, 3)
        render = node.scene.last_render
        np.testing.assert_array_equal(rgb, render.rgb)     # noise_std 0: the render itself
        obj = node.truth[0]
        assert obj.object_id == 'r950'
        # The object's truth, projected with the *received* K and the camera pose, is on the
        # object in the received image (its pixels differ from the empty table's).
        model = CameraModel.from_msg(info)
        uv = model.project(node.camera.pose.inverse().apply(obj.vertices))
        u, v = np.round(uv[np.argmax(obj.vertices[:, 2])]).astype(int)
        assert render.mask(obj)[v - 1:v + 2, u - 1:u + 2].any()
        table = np.median(rgb[:20, :20].reshape(-1, 3), axis=0)
        assert np.abs(rgb[v, u].astype(int) - table).sum() > 60
        # Ground truth topics: world frame, stamped no later than the first image of the scene.
        poses, markers = got['objects'][-1], got['footprints'][-1]
        assert poses.header.frame_id == 'world' and len(poses.poses) == 1
        first = stamps[0]
        assert poses.header.stamp.sec + poses.header.stamp.nanosec * 1e-9 <= first + 1e-9
        centre = poses.poses[0].position
        np.testing.assert_allclose((centre.x, centre.y, centre.z),
                                   (*obj.centre, obj.height / 2), atol=1e-6)
        (name, footprint), = footprints_from_message(markers)
        assert name == 'r950'
        np.testing.assert_allclose(footprint, obj.footprint, atol=1e-6)
        assert node.image_pub.qos_profile.reliability == ReliabilityPolicy.RELIABLE
    finally:
        executor.shutdown()
        tester.destroy_node()
        node.destroy_node()
