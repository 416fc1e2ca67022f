"""The ROS 2 node in-process with real rclpy: outputs, QoS, newest-frame-only, TF, bad inputs
(the node must count them and keep running) and start-up failures (exit code + message)."""

import math
import os
from pathlib import Path
import subprocess
import sys
import time
import types

from geometry_msgs.msg import TransformStamped
from model_fixtures import save_model
from node_harness import (depth_msg, EXPECTED_WIDTH, EXPECTED_XYZ, fake_tf2_ros, image_msg,
                          info_msg, recover)
import numpy as np
import pytest
from rclpy.parameter import Parameter
from rclpy.qos import ReliabilityPolicy

from mtg_grasp_ros import deploy
from mtg_grasp_ros.grasp_messages import GRASP_ARRAY_FIELDS
from mtg_grasp_ros.grasp_node import GraspDetectionNode, StartupError
from mtg_grasp_ros.transform_sources import StaticTransformSource
from mtg_grasp_ros.transforms import matrix_from_quaternion, StaticTransform

ROOT = Path(__file__).resolve().parents[2]


def test_publishes_all_outputs_stamped_in_the_target_frame(harness):
    h = harness()
    h.wait_connected()
    h.send(image_msg(stamp=(7, 250)), info_msg())
    pose = h.expect_pose()
    assert h.spin_until(lambda: all(h.received[k] for k in ('array', 'poses', 'markers')))
    assert pose.header.frame_id == 'world'
    assert (pose.header.stamp.sec, pose.header.stamp.nanosec) == (7, 250)
    p = pose.pose.position
    np.testing.assert_allclose((p.x, p.y, p.z), EXPECTED_XYZ, atol=1e-6)
    q = pose.pose.orientation
    r = matrix_from_quaternion((q.x, q.y, q.z, q.w))
    np.testing.assert_allclose(r[:, 2], [0, 0, -1], atol=1e-9)   # approach: down
    np.testing.assert_allclose(r[:, 0], [1, 0, 0], atol=1e-9)    # closing axis: angle 0
    array = h.received['array'][-1]
    assert array.layout.dim[0].label == ','.join(GRASP_ARRAY_FIELDS)
    assert array.layout.dim[0].size == len(array.data) == 11
    values = dict(zip(GRASP_ARRAY_FIELDS, array.data))
    np.testing.assert_allclose([values['x'], values['y'], values['z']], EXPECTED_XYZ, atol=1e-6)
    assert values['yaw'] == pytest.approx(0.0, abs=1e-6)
    assert values['width'] == pytest.approx(EXPECTED_WIDTH, rel=1e-5)
    assert values['depth'] == pytest.approx(0.5)
    assert values['quality'] == pytest.approx(0.5, abs=1e-4)
    assert (values['u'], values['v'], values['width_px']) == pytest.approx((82, 2, 150))
    poses = h.received['poses'][-1]
    assert poses.header.frame_id == 'world' and len(poses.poses) == 3
    assert poses.poses[0].position.x == pytest.approx(p.x)
    markers = h.received['markers'][-1].markers
    assert markers[0].action == markers[0].DELETEALL and len(markers) == 1 + 2 * 3
    assert h.spin_until(lambda: h.stats()['published'] == 1), h.stats()  # counted after output
    s = h.stats()
    assert s['processed'] == s['published'] == 1 and s['debug_images'] == 0
    assert 'frames in 1, processed 1, published 1' in h.node.stats.summary()


def test_camera_frame_output_approaches_along_the_optical_axis(harness):
    # target_frame '' publishes in the camera's optical frame, which has no "up": top_down
    # (-z of that frame) would point from the table back to the camera. The support plane is
    # then given in the camera frame: 0.5 m ahead, its normal towards the camera.
    h = harness(target_frame='', table_height=0.5, plane_normal=[0.0, 0.0, -1.0])
    h.wait_connected()
    h.send(image_msg(stamp=(3, 0)), info_msg())
    pose = h.expect_pose()
    assert pose.header.frame_id == 'camera_optical'
    q = pose.pose.orientation
    r = matrix_from_quaternion((q.x, q.y, q.z, q.w))
    np.testing.assert_allclose(r[:, 2], [0, 0, 1], atol=1e-9)   # into the scene
    assert pose.pose.position.z == pytest.approx(0.5)  # on the plane, in front of the camera


def test_debug_image_only_while_subscribed(harness):
    h = harness()
    h.wait_connected()
    h.send(image_msg(), info_msg())
    h.expect_pose()
    assert h.stats()['debug_images'] == 0
    h.subscribe_debug()
    assert h.spin_until(lambda: h.node.processor.outputs.debug.get_subscription_count() > 0)
    h.send(image_msg(stamp=(2, 0)))
    assert h.spin_until(lambda: h.received['debug']), h.stats()
    debug = h.received['debug'][-1]
    assert (debug.encoding, debug.width, debug.height) == ('rgb8', 96, 96)
    assert (debug.header.stamp.sec, debug.header.frame_id) == (2, 'camera_optical')


def test_nothing_published_below_min_quality(harness):
    h = harness(min_quality=0.9)
    h.wait_connected()
    h.send(image_msg(), info_msg())
    h.wait_handled(1)
    h.spin_until(lambda: False, timeout=0.3)
    assert h.stats()['no_grasp'] == 1 and not any(h.received.values())


@pytest.mark.parametrize('case,reason', [
    ('unsupported_encoding', 'bad_image'),
    ('short_data', 'bad_image'),
    ('size_mismatch', 'size_mismatch'),
    ('zero_intrinsics', 'bad_camera_info'),
    ('no_camera_info', 'no_camera_info'),
])
def test_bad_input_is_counted_and_the_node_keeps_running(harness, case, reason):
    h = harness()
    h.wait_connected()
    if case == 'no_camera_info':
        h.send(image_msg())
    elif case == 'unsupported_encoding':
        h.send(image_msg(encoding='yuv422'), info_msg())
    elif case == 'short_data':
        bad = image_msg()
        bad.data = bad.data[:1000]
        h.send(bad, info_msg())
    elif case == 'size_mismatch':
        h.send(image_msg(width=320, height=240), info_msg())
    elif case == 'zero_intrinsics':
        h.send(image_msg(), info_msg(fx=0.0))
    h.wait_handled(1)
    assert h.stats()['dropped'] == {reason: 1}
    assert not h.received['pose']
    recover(h, 0)
    # The worker counts a frame as published after its last publish: wait for the counter too.
    assert h.spin_until(lambda: h.stats()['published'] == 1), h.stats()
    assert h.node.executor is not None


def test_depth_topic_nan_and_zero_depth_skip_the_frame(harness):
    h = harness(depth_source='depth_topic')
    h.wait_connected(depth=True)
    h.send(image_msg(stamp=(1, 0)), info_msg(), depth_msg(np.nan, stamp=(1, 0)))
    h.wait_handled(1)
    h.send(image_msg(stamp=(2, 0)), info_msg(), depth_msg(0, stamp=(2, 0), encoding='16UC1'))
    h.wait_handled(2)
    # A depth image from another time (beyond depth_slop) does not count either.
    h.send(image_msg(stamp=(9, 0)), info_msg(), depth_msg(0.5, stamp=(3, 0)))
    h.wait_handled(3)
    assert h.stats()['dropped'] == {'no_depth': 3}
    h.send(image_msg(stamp=(4, 0)), info_msg(), depth_msg(500, stamp=(4, 0), encoding='16UC1'))
    p = h.expect_pose().pose.position
    np.testing.assert_allclose((p.x, p.y, p.z), EXPECTED_XYZ, atol=1e-6)


def test_depth_in_another_frame_is_refused(harness):
    # A depth image in its own optical frame, not aligned to the colour image.
    h = harness(depth_source='depth_topic')
    h.wait_connected(depth=True)
    other = depth_msg(0.5, stamp=(1, 0))
    other.header.frame_id = 'camera_depth_optical_frame'
    h.send(image_msg(stamp=(1, 0)), info_msg(), other)
    h.wait_handled(1)
    assert h.stats()['dropped'] == {'depth_frame_mismatch': 1}
    h.send(image_msg(stamp=(2, 0)), info_msg(), depth_msg(0.5, stamp=(2, 0)))
    h.expect_pose()


def test_depth_published_after_its_colour_frame_is_waited_for(harness):
    # As RealSense drivers do: the aligned depth of a frame comes ~15 ms after the colour
    # image, while the previous frame's depth (within depth_slop) is already buffered. The
    # node waits for it up to depth_slop (0.5 s here: room for a loaded test machine).
    h = harness(depth_source='depth_topic', depth_slop=0.5)
    h.wait_connected(depth=True)
    h.send(None, info_msg(), depth_msg(0.3, stamp=(0, 966_000_000)))
    h.image_pub.publish(image_msg(stamp=(1, 0)))
    assert h.spin_until(lambda: h.stats()['frames_in'] == 1)  # the worker has the frame
    time.sleep(0.015)
    h.depth_pub.publish(depth_msg(0.5, stamp=(1, 0)))
    p = h.expect_pose().pose.position
    np.testing.assert_allclose((p.x, p.y, p.z), EXPECTED_XYZ, atol=1e-6)  # the 0.5 m one


def test_camera_info_with_r_all_zeros_and_a_distortion_model(harness):
    # Some drivers send R = 0 (CameraInfo's default) with distortion coefficients; with
    # rectified: false the node undistorts the grasp pixels, reading that R as the identity.
    h = harness(rectified=False)
    h.wait_connected()
    info = info_msg()
    info.d = [1e-6, 0.0, 0.0, 0.0, 0.0]
    assert not any(info.r)
    h.send(image_msg(), info)
    p = h.expect_pose().pose.position
    np.testing.assert_allclose((p.x, p.y, p.z), EXPECTED_XYZ, atol=1e-4)


def test_everything_stamped_zero_uses_the_newest_depth(harness):
    h = harness(depth_source='depth_topic')
    h.wait_connected(depth=True)
    h.send(depth=depth_msg(0.3, stamp=(0, 0)))
    assert h.spin_until(lambda: len(h.node.processor.depth._msgs) == 1)
    h.send(image_msg(stamp=(0, 0)), info_msg(), depth_msg(0.5, stamp=(0, 0)))
    p = h.expect_pose().pose.position
    np.testing.assert_allclose((p.x, p.y, p.z), EXPECTED_XYZ, atol=1e-6)  # the 0.5 m one


def test_ray_parallel_to_the_table_skips_the_frame(harness):
    # The camera lies in the table plane, looking along it: no pixel ray meets the table.
    h = harness(**{'camera_pose.xyz': [0.0, 0.0, 0.0],
                   'camera_pose.rpy': [-math.pi / 2, 0.0, -math.pi / 2]})
    h.wait_connected()
    h.send(image_msg(), info_msg())
    h.wait_handled(1)
    assert h.stats()['dropped'] == {'no_plane_hit': 1}


def test_missing_static_transform_skips_the_frame(harness):
    # The static pose (use_tf false) is for camera_optical; an image from another camera has
    # no transform to the target frame.
    h = harness(camera_frame='', use_tf='false')
    h.node.processor.tf.static = StaticTransform(
        'world', 'camera_optical', h.node.processor.tf.static.transform)
    h.wait_connected()
    h.send(image_msg(frame='other_camera'), info_msg())
    h.wait_handled(1)
    assert h.stats()['dropped'] == {'no_transform': 1}
    recover(h, 0)
    p = h.received['pose'][-1].pose.position
    np.testing.assert_allclose((p.x, p.y, p.z), EXPECTED_XYZ, atol=1e-6)


def test_tf_lookup_at_the_image_stamp_and_missing_tf(harness, monkeypatch):
    t = TransformStamped()
    t.transform.translation.x, t.transform.translation.z = 1.0, 0.5
    t.transform.rotation.x, t.transform.rotation.w = 1.0, 0.0   # looking down
    fake = fake_tf2_ros({('world', 'camera_optical'): t})
    monkeypatch.setitem(sys.modules, 'tf2_ros', fake)
    h = harness(use_tf='auto', tf_timeout=0.2)
    assert len(fake.listeners) == 1
    h.wait_connected()
    h.send(image_msg(stamp=(3, 5), frame='elsewhere'), info_msg())
    h.wait_handled(1)
    assert h.stats()['dropped'] == {'no_transform': 1}
    h.send(image_msg(stamp=(4, 0)), info_msg())
    p = h.expect_pose().pose.position
    np.testing.assert_allclose((p.x, p.y, p.z), (EXPECTED_XYZ[0] + 1.0, *EXPECTED_XYZ[1:]),
                               atol=1e-6)
    assert fake.calls[0] == ('world', 'elsewhere', 3_000_000_005, 200_000_000)
    assert fake.calls[-1][:3] == ('world', 'camera_optical', 4_000_000_000)


def test_use_tf_true_without_tf2_ros_is_a_startup_error(ros, model, monkeypatch):
    monkeypatch.setitem(sys.modules, 'tf2_ros', None)  # import fails
    with pytest.raises(StartupError, match='tf2_ros'):
        GraspDetectionNode(parameter_overrides=[Parameter('model_path', value=str(model)),
                                                Parameter('use_tf', value='true')])


def test_newest_frame_only(harness):
    h = harness()
    h.wait_connected()
    h.send(None, info_msg())
    # Hold the worker off while three frames arrive: only the newest is processed.
    with h.node.frames.lock:
        for i in range(3):
            h.node._on_image(image_msg(stamp=(10 + i, 0)))
    pose = h.expect_pose()
    assert pose.header.stamp.sec == 12
    h.spin_until(lambda: False, timeout=0.2)
    s = h.stats()
    assert (s['frames_in'], s['processed'], s['dropped']) == (3, 1, {'superseded': 2})


def test_burst_of_frames_never_queues(harness):
    h = harness()
    h.wait_connected()
    h.send(None, info_msg())
    for i in range(15):
        h.image_pub.publish(image_msg(stamp=(20 + i, 0)))
    # The newest frame is always processed; older ones are dropped by the keep-last-1 reader
    # queue (never reach the node) or superseded in the node -- nothing queues up.
    assert h.spin_until(lambda: any(p.header.stamp.sec == 34 for p in h.received['pose']))
    h.spin_until(lambda: False, timeout=0.2)
    s = h.stats()
    assert 1 <= s['frames_in'] <= 15
    assert s['processed'] + s['dropped'].get('superseded', 0) == s['frames_in']
    assert len(h.received['pose']) <= s['processed']


def test_frames_that_never_reach_the_node_are_counted_missed(harness):
    """A burst into the keep-last-1 queue: every frame is accounted for, either received by the
    callback or counted ``missed`` from the gaps in the publisher's sequence numbers."""
    h = harness()
    h.wait_connected()
    h.send(image_msg(stamp=(60, 0)), info_msg())  # the first frame sets the baseline
    h.wait_handled(1)
    burst = 40
    for i in range(burst):
        h.image_pub.publish(image_msg(stamp=(61 + i, 0)))
    last = 60 + burst
    assert h.spin_until(lambda: any(p.header.stamp.sec == last for p in h.received['pose']))
    h.spin_until(lambda: False, timeout=0.2)
    s = h.stats()
    # Nothing spins the node during the burst, so the reader queue keeps only the last frame.
    assert s['missed'] >= 1 and s['frames_in'] + s['missed'] == 1 + burst, s
    assert s['processed'] + sum(s['dropped'].values()) == s['frames_in'], s


@pytest.mark.parametrize('publisher', ['reliable', 'best_effort'])
def test_auto_reliability_matches_the_publisher(harness, publisher):
    h = harness(reliability='auto', publisher_reliability=publisher)
    assert h.spin_until(lambda: 'image' in h.node.subs and 'camera_info' in h.node.subs)
    assert h.node.subs['image'].qos_profile.reliability.name.lower() == publisher
    assert h.node.subs['image'].qos_profile.depth == 1
    h.wait_connected()
    h.send(image_msg(), info_msg())
    h.expect_pose()


def test_sim_time_before_any_clock_still_subscribes_and_grasps(harness):
    # use_sim_time with no /clock yet (a bag played without --clock): the reliability-auto
    # timer runs on the steady clock, so the node still finds the publishers.
    h = harness(reliability='auto', use_sim_time=True, stats_period=0.5)
    assert h.spin_until(lambda: 'image' in h.node.subs and 'camera_info' in h.node.subs)
    h.wait_connected()
    h.send(image_msg(), info_msg())
    h.expect_pose()


def test_best_effort_subscription(harness):
    h = harness(reliability='best_effort', publisher_reliability='best_effort')
    assert h.node.subs['image'].qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT
    h.wait_connected()
    h.send(image_msg(), info_msg())
    h.expect_pose()


def test_tracking_keeps_the_target(harness):
    h = harness(**{'tracking.enabled': True, 'tracking.radius': 0.02,
                   'tracking.switch_margin': 0.1})
    h.wait_connected()
    h.node.processor.tracker.position = np.array([EXPECTED_XYZ[0] + 0.05, EXPECTED_XYZ[1], 0.0])
    h.node.processor.tracker.stamp = 1.0
    h.send(image_msg(stamp=(1, 0)), info_msg())
    pose = h.expect_pose()
    # The constant model's 2nd grasp (network column 10 = 50 camera px = 5 cm) is tracked.
    assert pose.pose.position.x == pytest.approx(EXPECTED_XYZ[0] + 0.05, abs=1e-6)
    assert h.spin_until(lambda: h.received['poses'])
    assert h.received['poses'][-1].poses[0].position.x == pytest.approx(EXPECTED_XYZ[0])


def test_invalid_parameters_are_startup_errors(ros, model, tmp_path):
    def make(**params):
        params.setdefault('model_path', str(model))
        return GraspDetectionNode(
            parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])

    with pytest.raises(StartupError, match='backend'):
        make(backend='tensorrt')
    with pytest.raises(StartupError, match='top_k'):
        make(top_k=0)                           # outside the declared IntegerRange
    with pytest.raises(StartupError, match='plane_normal'):
        make(plane_normal=[0.0, 0.0, 0.0])
    with pytest.raises(StartupError, match='cannot load the grasp model.*not found'):
        make(model_path=str(tmp_path / 'nothing'))


def test_default_model_path():
    path = deploy.default_model_path()
    assert path.name == 'mtgcnn_depth_p' and path.parent.name == 'models'
    assert ROOT / 'models' / 'mtgcnn_depth_p' in deploy.default_model_candidates()


def run_node(*ros_args, timeout=60):
    env = dict(os.environ, PYTHONPATH=str(ROOT), RMW_IMPLEMENTATION='rmw_fastrtps_cpp',
               ROS_DOMAIN_ID=str(100 + os.getpid() % 100),
               ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST')
    return subprocess.run([sys.executable, '-m', 'mtg_grasp_ros.grasp_node', '--ros-args',
                           *ros_args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_missing_model_at_startup_exits_with_a_message(tmp_path):
    result = run_node('-p', f'model_path:={tmp_path / "absent"}')
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert 'cannot load the grasp model' in output and str(tmp_path / 'absent') in output
    assert 'Traceback' not in output


def test_corrupt_model_at_startup_exits_with_a_message(tmp_path):
    model = save_model(tmp_path / 'source' / 'constant', kind='constant', onnx=True)
    for suffix in ('.json', '.safetensors', '.onnx'):
        (tmp_path / f'bad{suffix}').write_bytes(Path(f'{model}{suffix}').read_bytes())
    onnx = tmp_path / 'bad.onnx'
    onnx.write_bytes(onnx.read_bytes()[:100])  # truncated
    result = run_node('-p', f'model_path:={tmp_path / "bad"}', '-p', 'backend:=onnx')
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert 'bad.onnx' in output and 'truncated' in output and 'Traceback' not in output


def test_integers_and_bools_are_accepted_where_yaml_and_the_cli_produce_them(ros, model):
    params = {'model_path': str(model), 'table_height': 0, 'plane_normal': [0, 0, 1],
              'use_tf': False, 'tf_timeout': 1, 'camera_pose.xyz': [0, 0, 1]}
    node = GraspDetectionNode(
        parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    try:
        p = node.params
        assert p.table_height == 0.0 and isinstance(p.table_height, float)
        assert p.plane_normal == (0.0, 0.0, 1.0) and p.use_tf == 'false'
        assert p.tf_timeout == 1.0 and p.camera_pose.xyz == (0.0, 0.0, 1.0)
        assert isinstance(node.processor.tf, StaticTransformSource)
    finally:
        node.destroy_node()
    with pytest.raises(StartupError, match='outside'):
        GraspDetectionNode(parameter_overrides=[Parameter('model_path', value=str(model)),
                                                Parameter('tf_timeout', value=-1)])
    with pytest.raises(StartupError, match='numbers'):
        GraspDetectionNode(parameter_overrides=[Parameter('model_path', value=str(model)),
                                                Parameter('table_height', value='high')])


def test_diagnostics_when_diagnostic_updater_is_installed(harness, monkeypatch):
    tasks = []
    updater = types.ModuleType('diagnostic_updater')

    class Updater:
        def __init__(self, node):
            self.node = node

        def setHardwareID(self, hardware_id):  # noqa: N802 (diagnostic_updater's API)
            self.hardware_id = hardware_id

        def add(self, name, task):
            tasks.append((name, task))

    updater.Updater = Updater
    msgs = types.ModuleType('diagnostic_msgs.msg')
    msgs.DiagnosticStatus = types.SimpleNamespace(OK=b'\x00', WARN=b'\x01', ERROR=b'\x02')
    monkeypatch.setitem(sys.modules, 'diagnostic_updater', updater)
    monkeypatch.setitem(sys.modules, 'diagnostic_msgs', types.ModuleType('diagnostic_msgs'))
    monkeypatch.setitem(sys.modules, 'diagnostic_msgs.msg', msgs)

    class Stat:
        def __init__(self):
            self.values = {}

        def summary(self, level, message):
            self.level, self.message = level, message

        def add(self, key, value):
            self.values[key] = value

    h = harness()
    (name, task), = tasks
    stat = task(Stat())
    assert stat.level == msgs.DiagnosticStatus.WARN and 'no images' in stat.message
    h.wait_connected()
    h.send(image_msg(), info_msg())
    h.expect_pose()
    # The node counts a frame published after its last output went out: wait for the count.
    assert h.spin_until(lambda: h.stats()['published'] == 1), h.stats()
    stat = task(Stat())
    assert stat.level == msgs.DiagnosticStatus.OK
    assert stat.values['published'] == '1' and 'inference p50 ms' in stat.values
