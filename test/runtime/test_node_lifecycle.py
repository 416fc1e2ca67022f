"""The node's ROS 2 interfaces over real topics and services (in-process, real rclpy):
``~/detections`` against the other outputs frame by frame, the lifecycle transitions (through
the node's ``change_state`` service, as ``ros2 lifecycle set`` calls it) including a failing
configure and a deactivate that stops publishing within one frame, and live parameters
(through ``set_parameters``, as ``ros2 param set``) applied from the next frame or refused
with the reason. Tests that need vision_msgs skip where it is not installed."""

import sys
import threading

from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from node_harness import EXPECTED_WIDTH, EXPECTED_XYZ, image_msg, info_msg, record_warnings
import numpy as np
import pytest
from rcl_interfaces.srv import SetParameters
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter

from mtg_grasp_ros.grasp_messages import DETECTION_CLASS, GRASP_ARRAY_FIELDS, vision_msgs_types
from mtg_grasp_ros.node_outputs import OUTPUT_TOPICS

needs_vision_msgs = pytest.mark.skipif(
    vision_msgs_types() is None, reason='vision_msgs is not installed (no PyPI wheel): a ROS 2 '
                                        'install has it; CI builds it from ../shared/ros-extras '
                                        '(make ros-extras)')
WAIT = 10.0
SUCCESS = TransitionCallbackReturn.SUCCESS


def change_state(h, transition):
    """The node's ``change_state`` service (``ros2 lifecycle set``); True on success."""
    return h.call(ChangeState, 'change_state',
                  ChangeState.Request(transition=Transition(id=transition))).success


def get_state(h):
    return h.call(GetState, 'get_state', GetState.Request()).current_state.label


def set_parameters(h, **values):
    """The node's ``set_parameters`` service (``ros2 param set``): one result per value."""
    request = SetParameters.Request(
        parameters=[Parameter(k, value=v).to_parameter_msg() for k, v in values.items()])
    return h.call(SetParameters, 'set_parameters', request).results


def frames(h, stamps):
    """Publish one frame per stamp (s), each after the previous one was handled."""
    for sec in stamps:
        h.image_pub.publish(image_msg(stamp=(sec, 0)))
        h.wait_handled(h.stats()['frames_in'] + 1)


def by_stamp(msgs):
    return {m.header.stamp.sec: m for m in msgs}


def pose_tuple(pose):
    p, q = pose.position, pose.orientation
    return (p.x, p.y, p.z, q.x, q.y, q.z, q.w)


def hold_worker(node):
    """Make the worker stop inside its next frame until ``release`` is set: ``(inside,
    release)`` events."""
    inside, release = threading.Event(), threading.Event()
    process = node.processor.pipeline.process

    def slow_process(*args, **kwargs):
        inside.set()
        release.wait(WAIT)
        return process(*args, **kwargs)
    node.processor.pipeline.process = slow_process
    return inside, release


# ------------------------------------------------------------------------------ detections
@needs_vision_msgs
def test_detections_match_the_other_outputs_frame_by_frame(harness):
    h = harness()
    h.wait_connected()
    h.send(None, info_msg())
    frames(h, range(1, 5))
    keys = ('pose', 'array', 'poses', 'detections')
    assert h.spin_until(lambda: all(len(h.received[k]) == 4 for k in keys)), h.stats()
    poses, arrays = by_stamp(h.received['pose']), h.received['array']
    grasps, detections = by_stamp(h.received['poses']), by_stamp(h.received['detections'])
    assert sorted(detections) == [1, 2, 3, 4]
    for i, (sec, msg) in enumerate(sorted(detections.items())):
        assert msg.header.frame_id == 'world' and msg.header.stamp.nanosec == 0
        assert len(msg.detections) == len(grasps[sec].poses) == 3       # top_k, best first
        best = msg.detections[0]
        fields = dict(zip(GRASP_ARRAY_FIELDS, arrays[i].data))   # ~/grasp: no header
        # The detection is the grasp of ~/grasp_pose and ~/grasp (no tracking: the first).
        np.testing.assert_allclose(pose_tuple(best.results[0].pose.pose),
                                   pose_tuple(poses[sec].pose), atol=1e-12)
        np.testing.assert_allclose(pose_tuple(best.results[0].pose.pose)[:3],
                                   [fields['x'], fields['y'], fields['z']], atol=1e-6)
        assert best.bbox.size.x == pytest.approx(fields['width'], rel=1e-6)
        assert best.results[0].hypothesis.score == pytest.approx(fields['quality'], rel=1e-6)
        np.testing.assert_allclose(pose_tuple(best.results[0].pose.pose)[:3], EXPECTED_XYZ,
                                   atol=1e-6)
        assert best.bbox.size.x == pytest.approx(EXPECTED_WIDTH, rel=1e-5)
        for rank, (d, p) in enumerate(zip(msg.detections, grasps[sec].poses)):
            assert d.header == msg.header and d.id == str(rank)     # no tracking: the rank
            assert len(d.results) == 1 and d.results[0].hypothesis.class_id == DETECTION_CLASS
            assert pose_tuple(d.bbox.center) == pose_tuple(d.results[0].pose.pose)
            assert pose_tuple(d.bbox.center) == pytest.approx(pose_tuple(p), abs=1e-12)
            # Jaw size: half the opening (the networks' rectangle); the finger depth.
            assert d.bbox.size.y == pytest.approx(d.bbox.size.x / 2.0)
            assert d.bbox.size.z == pytest.approx(0.06)


@needs_vision_msgs
def test_detection_ids_follow_the_grasps_under_tracking(harness):
    h = harness(**{'tracking.enabled': True, 'finger_depth': 0.04})
    h.wait_connected()
    h.send(None, info_msg())
    frames(h, (1, 2))
    assert h.spin_until(lambda: len(h.received['detections']) == 2)
    first, second = (m.detections for m in h.received['detections'])
    assert [d.id for d in first] == ['0', '1', '2']
    assert [d.id for d in second] == ['0', '1', '2']    # the same grasps: the same ids
    assert second[0].bbox.size.z == pytest.approx(0.04)


def test_without_vision_msgs_the_node_says_so_once_and_publishes_the_rest(harness,
                                                                          monkeypatch):
    monkeypatch.setitem(sys.modules, 'vision_msgs', None)       # import fails
    monkeypatch.setitem(sys.modules, 'vision_msgs.msg', None)
    h = harness(autostart=False)
    warnings = record_warnings(h, monkeypatch)
    for _ in range(2):      # configured twice: said once
        assert h.node.trigger_configure() == SUCCESS
        assert h.node.trigger_cleanup() == SUCCESS
    assert sum('vision_msgs is not installed' in w for w in warnings) == 1, warnings
    assert h.node.trigger_configure() == SUCCESS and h.node.trigger_activate() == SUCCESS
    assert h.node.get_publishers_info_by_topic(f'{h.ns}/grasp_detection/detections') == []
    h.wait_connected()
    h.send(image_msg(), info_msg())
    h.expect_pose()
    assert h.spin_until(lambda: h.received['array'] and h.received['poses'])


# ------------------------------------------------------------------------------ lifecycle
def test_lifecycle_transitions_over_the_services(harness):
    h = harness(autostart=False)
    assert get_state(h) == 'unconfigured' and h.node.processor is None
    assert h.image_pub.get_subscription_count() == 0

    assert change_state(h, Transition.TRANSITION_CONFIGURE)
    assert get_state(h) == 'inactive'
    pipeline = h.node.processor.pipeline          # loaded and warmed up
    # Its outputs (what config/grasp_detection.rviz names; ~/detections with vision_msgs).
    outputs = set(OUTPUT_TOPICS) - ({'detections'} if vision_msgs_types() is None else set())

    def published():
        names = h.node.get_publisher_names_and_types_by_node('grasp_detection', h.ns)
        return {n.rsplit('/', 1)[1] for n, _ in names
                if n.startswith(f'{h.ns}/grasp_detection/')} - {'transition_event'}
    assert h.spin_until(lambda: published() == outputs), published()
    h.spin_until(lambda: False, timeout=0.3)
    assert h.image_pub.get_subscription_count() == 0     # inactive: not subscribed

    assert change_state(h, Transition.TRANSITION_ACTIVATE)
    assert get_state(h) == 'active'
    h.wait_connected()
    h.send(image_msg(stamp=(1, 0)), info_msg())
    assert h.expect_pose().header.stamp.sec == 1

    assert change_state(h, Transition.TRANSITION_DEACTIVATE)
    assert get_state(h) == 'inactive'
    assert h.spin_until(lambda: h.image_pub.get_subscription_count() == 0)
    before = (h.stats(), len(h.received['pose']))
    h.send(image_msg(stamp=(2, 0)), info_msg())
    h.spin_until(lambda: False, timeout=0.5)
    assert (h.stats(), len(h.received['pose'])) == before    # nothing in, nothing out

    assert change_state(h, Transition.TRANSITION_ACTIVATE)   # the same warm model
    assert h.node.processor.pipeline is pipeline
    h.wait_connected()
    h.send(image_msg(stamp=(3, 0)), info_msg())
    assert h.expect_pose(before[1] + 1).header.stamp.sec == 3

    assert change_state(h, Transition.TRANSITION_DEACTIVATE)
    assert change_state(h, Transition.TRANSITION_CLEANUP)
    assert get_state(h) == 'unconfigured' and h.node.processor is None   # model freed
    assert not h.node.get_publishers_info_by_topic(f'{h.ns}/grasp_detection/grasp_pose')
    assert change_state(h, Transition.TRANSITION_UNCONFIGURED_SHUTDOWN)
    assert get_state(h) == 'finalized'


def test_a_bad_model_fails_configure_with_the_reason(harness, tmp_path):
    h = harness(autostart=False, model_path=str(tmp_path / 'absent'))
    assert not change_state(h, Transition.TRANSITION_CONFIGURE)
    assert get_state(h) == 'unconfigured' and h.node.processor is None
    assert 'cannot load the grasp model' in h.node.configure_error
    assert str(tmp_path / 'absent') in h.node.configure_error

    class Stat:
        values = {}

        def summary(self, level, message):
            self.level, self.message = level, message

        def add(self, key, value):
            self.values[key] = value
    pytest.importorskip('diagnostic_msgs', reason='diagnostic_msgs is not installed')
    stat = h.node._diagnose(Stat())
    assert 'configure failed: cannot load the grasp model' in stat.message
    assert stat.values['lifecycle state'] == 'unconfigured'


def test_deactivate_stops_publishing_within_one_frame(harness):
    """Deactivate while the worker is inside frame 1 and frame 2 waits: frame 1 (in progress)
    may still be published, frame 2 never is, and nothing after it."""
    h = harness()
    h.wait_connected()
    h.send(None, info_msg())
    inside, release = hold_worker(h.node)
    h.image_pub.publish(image_msg(stamp=(1, 0)))
    assert h.spin_until(inside.is_set)
    h.image_pub.publish(image_msg(stamp=(2, 0)))
    assert h.spin_until(lambda: h.node.frames.waiting)
    result = []
    deactivate = threading.Thread(target=lambda: result.append(h.node.trigger_deactivate()))
    deactivate.start()
    try:
        assert h.spin_until(lambda: not h.node._active)
    finally:
        release.set()
    deactivate.join(WAIT)
    assert result == [SUCCESS] and h.node.lifecycle_state == 'inactive'
    h.spin_until(lambda: False, timeout=0.5)
    stamps = [p.header.stamp.sec for p in h.received['pose']]
    assert stamps in ([], [1])
    h.image_pub.publish(image_msg(stamp=(3, 0)))
    h.spin_until(lambda: False, timeout=0.5)
    assert [p.header.stamp.sec for p in h.received['pose']] == stamps
    assert h.stats()['processed'] <= 1


# ------------------------------------------------------------------------------ parameters
def test_a_live_parameter_applies_from_the_next_frame(harness):
    """top_k 3 -> 2 while the worker is inside a frame: that frame keeps 3 grasps, the next
    has 2 (the worker picks the new settings up between frames)."""
    h = harness()
    h.wait_connected()
    h.send(None, info_msg())
    frames(h, [1])
    assert h.spin_until(lambda: h.received['poses'])
    assert len(h.received['poses'][-1].poses) == 3
    inside, release = hold_worker(h.node)
    h.image_pub.publish(image_msg(stamp=(2, 0)))
    assert h.spin_until(inside.is_set)
    try:
        (result,) = set_parameters(h, top_k=2)
    finally:
        release.set()
    assert result.successful, result.reason
    assert h.node.get_parameter('top_k').value == 2 and h.node.params.top_k == 2
    h.wait_handled(2)
    frames(h, [3])
    assert h.spin_until(lambda: len(h.received['poses']) == 3)
    assert [len(m.poses) for m in h.received['poses']] == [3, 3, 2]
    if vision_msgs_types() is not None:
        assert h.spin_until(lambda: len(h.received['detections']) == 3)
        assert [len(m.detections) for m in h.received['detections']] == [3, 3, 2]


def test_live_tracking_and_min_quality(harness):
    h = harness()
    h.wait_connected()
    h.send(None, info_msg())
    assert h.node.processor.tracker is None
    assert all(r.successful for r in set_parameters(h, **{'tracking.enabled': True}))
    frames(h, [1])
    assert h.node.processor.tracker is not None          # made by the worker at frame 1
    (result,) = set_parameters(h, min_quality=0.9)       # the constant model's is 0.5
    assert result.successful
    n = len(h.received['pose'])
    frames(h, [2])
    h.spin_until(lambda: False, timeout=0.3)
    assert len(h.received['pose']) == n and h.stats()['no_grasp'] == 1


@pytest.mark.parametrize('name,value,reason', [
    ('top_k', 0, 'out of range'),                    # rclpy: the declared IntegerRange
    ('min_quality', 'high', 'must hold finite numbers'),     # the table: a float
    ('tracking.radius', -1, 'outside [0.0, 10.0]'),  # the table: an int where a float goes
    ('jaws_outside_view', 'sometimes', 'choose one of keep, last, drop'),
    ('model_path', '/elsewhere', 'read-only'),
    ('backend', 'onnx', 'read-only'),
])
def test_a_bad_live_value_is_refused_with_the_reason(harness, name, value, reason):
    h = harness()
    before = h.node.get_parameter(name).value
    (result,) = set_parameters(h, **{name: value})
    assert not result.successful and reason in result.reason, result.reason
    assert h.node.get_parameter(name).value == before


def test_unconfigured_node_checks_live_values_and_configure_reads_them(harness):
    h = harness(autostart=False)
    (bad,) = set_parameters(h, crop_size=-5)
    assert not bad.successful
    assert all(r.successful for r in set_parameters(h, top_k=1, min_quality=0.0))
    assert change_state(h, Transition.TRANSITION_CONFIGURE)
    assert h.node.params.top_k == 1 and h.node.params.min_quality == 0.0
    assert h.node.lifecycle_state == 'inactive'
