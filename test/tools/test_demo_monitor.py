"""The demo's grasp records: from ~/detections where vision_msgs is installed (one stamped
message with pose, opening and quality), else from ~/grasp_pose + ~/grasp paired by position;
the picture's pixel fields of a detection projected by the camera."""

import math

import numpy as np
import pytest

from mtg_grasp_ros.grasp import Grasp
from mtg_grasp_ros.grasp_geometry import Grasp3D
from mtg_grasp_ros.grasp_messages import detection_array, grasp_array, to_pose, vision_msgs_types
from mtg_grasp_ros.transforms import grasp_orientation
from simulation.camera import SimCamera
from tools.benchmark_run import DETECTIONS_TOPIC, GRASP_TOPIC, grasp_topic
from tools.demo_monitor import Monitor
from tools.demo_truth import GraspRecord, pixel_fields


class FakeNode:
    """Records the subscriptions a Monitor makes."""

    def __init__(self):
        self.subscriptions = {}

    def create_subscription(self, msg_type, topic, callback, qos, **kwargs):
        self.subscriptions[topic] = (msg_type, callback)


def grasp3d(yaw=0.3, width=0.05, quality=0.7):
    closing = np.array([math.cos(yaw), math.sin(yaw), 0.0])
    o = grasp_orientation(closing, np.array([0.0, 0.0, -1.0]))
    pixel = Grasp(row=10.0, col=20.0, angle=yaw, width=50.0, jaw_size=25.0, quality=quality)
    centre = np.array([0.05, -0.02, 0.01])
    return Grasp3D(position=centre, orientation=o.quaternion, rotation=o.rotation, yaw=o.yaw,
                   width_m=width, quality=quality, depth=0.5, pixel=pixel, network=pixel,
                   jaw_points=np.stack([centre, centre]))


def header(sec):
    from std_msgs.msg import Header
    h = Header(frame_id='world')
    h.stamp.sec = sec
    return h


def test_the_monitor_reads_detections_or_falls_back_to_pose_and_array():
    node = FakeNode()
    monitor = Monitor(node, debug=False)
    g = grasp3d()
    if vision_msgs_types() is None:
        assert set(node.subscriptions) >= {'/grasp_detection/grasp_pose', '/grasp_detection/grasp'}
        assert 'vision_msgs is not installed' in monitor.source
        assert grasp_topic()[0] == GRASP_TOPIC
        from geometry_msgs.msg import PoseStamped
        monitor.on_pose(PoseStamped(header=header(3), pose=to_pose(g)))
        monitor.on_array(grasp_array(g))
    else:
        assert '/grasp_detection/grasp_pose' not in node.subscriptions
        assert monitor.source == '~/detections' and grasp_topic()[0] == DETECTIONS_TOPIC
        msg_type, callback = node.subscriptions['/grasp_detection/detections']
        callback(detection_array([g, grasp3d(quality=0.2)], ['0', '1'], header(3), 0.06))
    (record,) = monitor.grasps
    assert record.stamp == 3.0 and record.yaw == pytest.approx(0.3)
    np.testing.assert_allclose(record.xyz, g.position, atol=1e-6)
    assert record.fields['width'] == pytest.approx(0.05, rel=1e-6)
    assert record.fields['quality'] == pytest.approx(0.7, rel=1e-6)


def test_pixel_fields_project_the_jaws():
    camera = SimCamera()
    record = GraspRecord(stamp=0.0, received=0.0, xyz=np.array([0.02, 0.01, 0.0]), yaw=0.4,
                         fields={'width': 0.06})
    f = pixel_fields(camera, record)
    u, v, _ = camera.project(record.xyz)
    assert (f['u'], f['v']) == pytest.approx((float(u), float(v)))
    jaw = record.xyz + 0.03 * np.array([math.cos(0.4), math.sin(0.4), 0.0])
    ju, jv, _ = camera.project(jaw)
    assert math.hypot(ju - f['u'], jv - f['v']) == pytest.approx(f['width_px'] / 2, rel=1e-6)
    assert (math.cos(f['image_angle']), -math.sin(f['image_angle'])) == pytest.approx(
        ((ju - f['u']) / (f['width_px'] / 2), (jv - f['v']) / (f['width_px'] / 2)), rel=1e-6)
