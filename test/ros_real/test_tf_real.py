"""The node's camera pose from the REAL tf2_ros (``use_tf: auto``): a tf2_ros broadcaster in the
tester publishes ``base_link <- camera`` over /tf and /tf_static, the node's TransformListener
receives it and its worker looks the pose up at the image stamp, waiting up to ``tf_timeout``.

Documented (README "TF and the static fallback"): the lookup is at the image stamp; a failed
lookup (no transform, one that comes after ``tf_timeout``, or only transforms older than the
image: tf2 does not extrapolate) skips the frame as ``no_transform`` and the static pose is not
used then. Skips where tf2_ros is not installed (PyPI wheels alone; CI builds it from
../shared/ros-extras, ``make ros-extras``)."""

import threading
import time

from geometry_msgs.msg import TransformStamped
from node_harness import EXPECTED_XYZ, image_msg, info_msg
import numpy as np
import pytest
from rclpy.time import Time

tf2_ros = pytest.importorskip(
    'tf2_ros', reason='tf2_ros is not installed (no PyPI wheel): a ROS 2 install has it; '
                      'CI builds it from ../shared/ros-extras (make ros-extras)')

WAIT = 15.0
BASE = 'base_link'
#: The listener's spin thread must not die (it did, "wait set index too big", while
#: TransformListener(spin_thread=True) spun the grasp node itself in a second executor).
pytestmark = pytest.mark.filterwarnings('error::pytest.PytestUnhandledThreadExceptionWarning')


def camera_pose(stamp, frame, x, y, z):
    """``base_link <- frame``: the camera at (x, y, z) m, looking straight down, at ``stamp``
    (builtin_interfaces/Time)."""
    t = TransformStamped()
    t.header.stamp = stamp
    t.header.frame_id, t.child_frame_id = BASE, frame
    t.transform.translation.x, t.transform.translation.y = float(x), float(y)
    t.transform.translation.z = float(z)
    t.transform.rotation.x, t.transform.rotation.w = 1.0, 0.0
    return t


def expected_position(x, y, z):
    """Where the constant model's best grasp lies on the table (z = 0 of base_link) for a
    camera looking down from (x, y, z); EXPECTED_XYZ is that point for (0, 0, 0.5)."""
    return (x + EXPECTED_XYZ[0] * z / 0.5, y + EXPECTED_XYZ[1] * z / 0.5, 0.0)


def now(h):
    return h.tester.get_clock().now()


def start(harness, frame, **params):
    """A node with TF (tf2_ros real), base_link as target frame, CameraInfo of ``frame`` sent."""
    h = harness(use_tf='auto', target_frame=BASE, **params)
    assert h.node.processor.tf.__class__.__name__ == 'TfTransformSource'
    assert h.node.processor.tf.buffer.__class__.__module__.startswith('tf2_ros')
    assert h.node.processor.tf.node.get_name() == 'grasp_detection_tf_listener'
    assert h.node.processor.tf.thread.is_alive()
    h.wait_connected()
    h.send(None, info_msg(frame=frame))
    return h


def send_image(h, stamp, frame):
    msg = image_msg(frame=frame)
    msg.header.stamp = stamp.to_msg() if isinstance(stamp, Time) else stamp
    h.image_pub.publish(msg)


def position(pose):
    p = pose.pose.position
    return (p.x, p.y, p.z)


class MovingCamera:
    """A tf2_ros TransformBroadcaster in a thread: ``base_link <- frame`` at ``rate`` Hz,
    stamped with the current time, the camera moving along x at ``speed`` m/s from ``x0``."""

    def __init__(self, h, frame, speed=0.5, x0=0.0, rate=100.0, z=0.6):
        self.h, self.frame, self.speed, self.x0, self.z = h, frame, speed, x0, z
        self.broadcaster = tf2_ros.TransformBroadcaster(h.tester)
        self.t0 = now(h).nanoseconds * 1e-9
        self.period = 1.0 / rate
        self.sent = 0
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def x_at(self, seconds):
        return self.x0 + self.speed * (seconds - self.t0)

    def _run(self):
        end = time.monotonic() + 60.0     # bounded even if the test never stops it
        while not self.stop_event.is_set() and time.monotonic() < end:
            stamp = now(self.h)
            self.broadcaster.sendTransform(camera_pose(
                stamp.to_msg(), self.frame, self.x_at(stamp.nanoseconds * 1e-9), 0.0, self.z))
            self.sent += 1
            self.stop_event.wait(self.period)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.thread.join(timeout=5.0)


def test_static_camera_pose_from_tf_static(harness):
    """A StaticTransformBroadcaster (latched /tf_static): the grasp lands in base_link where
    the camera pose puts it, the pose is stamped with the image stamp, nothing is dropped."""
    frame = 'cam_static_optical'
    h = start(harness, frame, tf_timeout=1.0)
    broadcaster = tf2_ros.StaticTransformBroadcaster(h.tester)
    broadcaster.sendTransform(camera_pose(now(h).to_msg(), frame, 0.2, -0.1, 0.6))
    stamp = now(h)
    send_image(h, stamp, frame)
    pose = h.expect_pose()
    assert pose.header.frame_id == BASE
    assert Time.from_msg(pose.header.stamp) == stamp
    np.testing.assert_allclose(position(pose), expected_position(0.2, -0.1, 0.6), atol=1e-6)
    assert h.stats()['dropped'] == {}


def test_moving_camera_is_looked_up_at_the_image_stamp(harness):
    """The camera moves at 0.5 m/s, its pose broadcast at 100 Hz: an image stamped 0.2 s ago
    gets the pose of its own stamp (interpolated between two samples), not the newest one
    (10 cm further); an image stamped now waits for the sample after it (tf_timeout)."""
    frame = 'cam_moving_optical'
    h = start(harness, frame, tf_timeout=1.0)
    with MovingCamera(h, frame) as camera:
        h.spin_until(lambda: camera.sent >= 50, timeout=WAIT)
        past = Time(nanoseconds=now(h).nanoseconds - 200_000_000)
        send_image(h, past, frame)
        pose = h.expect_pose(1)
        x_past = camera.x_at(past.nanoseconds * 1e-9)
        np.testing.assert_allclose(position(pose), expected_position(x_past, 0.0, 0.6),
                                   atol=1e-4)
        latest = camera.x_at(now(h).nanoseconds * 1e-9)
        assert abs(latest - x_past) > 0.05    # the newest pose would be visibly wrong

        current = now(h)
        send_image(h, current, frame)
        pose = h.expect_pose(2)
        assert Time.from_msg(pose.header.stamp) == current
        np.testing.assert_allclose(
            position(pose), expected_position(camera.x_at(current.nanoseconds * 1e-9), 0.0,
                                              0.6), atol=1e-4)
    assert camera.sent >= 50
    assert h.stats()['dropped'] == {}


def test_late_transform_within_tf_timeout_is_waited_for(harness):
    """The transform for the image's stamp arrives 0.3 s after the image (a slow TF
    publisher): with tf_timeout 2 s the worker waits for it and the grasp is right."""
    frame = 'cam_late_optical'
    h = start(harness, frame, tf_timeout=2.0)
    broadcaster = tf2_ros.TransformBroadcaster(h.tester)
    stamp = now(h)
    send_image(h, stamp, frame)
    h.spin_until(lambda: h.stats()['frames_in'] >= 1, timeout=WAIT)
    h.spin_until(lambda: False, timeout=0.3)
    assert not h.received['pose']
    for offset in (-10_000_000, 10_000_000):
        t = Time(nanoseconds=stamp.nanoseconds + offset).to_msg()
        broadcaster.sendTransform(camera_pose(t, frame, -0.3, 0.2, 0.7))
    pose = h.expect_pose()
    np.testing.assert_allclose(position(pose), expected_position(-0.3, 0.2, 0.7), atol=1e-6)
    assert h.stats()['dropped'] == {}


def test_missing_transform_is_no_transform_until_it_comes(harness):
    """No transform at all: each frame waits tf_timeout, is dropped as no_transform, and the
    static camera_pose.* is NOT used instead; once the transform is broadcast, grasps come."""
    frame = 'cam_never_optical'
    h = start(harness, frame, tf_timeout=0.2)
    for k in range(2):
        send_image(h, now(h), frame)
        h.wait_handled(k + 1)
    s = h.stats()
    assert s['dropped'] == {'no_transform': 2} and s['processed'] == 0
    assert not h.received['pose'] and h.node.frames.thread.is_alive()

    tf2_ros.StaticTransformBroadcaster(h.tester).sendTransform(
        camera_pose(now(h).to_msg(), frame, 0.1, 0.1, 0.5))
    h.spin_until(lambda: h.node.processor.tf.buffer.can_transform(BASE, frame, Time()),
                 timeout=WAIT)
    send_image(h, now(h), frame)
    pose = h.expect_pose()
    np.testing.assert_allclose(position(pose), expected_position(0.1, 0.1, 0.5), atol=1e-6)


def test_transform_only_in_the_past_is_not_extrapolated(harness):
    """The TF publisher stopped 1 s before the image: tf2 does not extrapolate, so the frame
    is dropped as no_transform (after waiting tf_timeout) rather than given a stale pose."""
    frame = 'cam_past_optical'
    h = start(harness, frame, tf_timeout=0.2)
    broadcaster = tf2_ros.TransformBroadcaster(h.tester)
    t_now = now(h).nanoseconds
    for k in range(10):
        t = Time(nanoseconds=t_now - 2_000_000_000 + k * 100_000_000).to_msg()
        broadcaster.sendTransform(camera_pose(t, frame, 0.0, 0.0, 0.5))
    h.spin_until(lambda: h.node.processor.tf.buffer.can_transform(BASE, frame, Time()),
                 timeout=WAIT)
    started = time.monotonic()
    send_image(h, now(h), frame)
    h.wait_handled(1)
    assert time.monotonic() - started >= 0.2    # it waited tf_timeout for a newer transform
    assert h.stats()['dropped'] == {'no_transform': 1}
    assert not h.received['pose']
    # An image stamped inside the broadcast interval still gets its pose.
    send_image(h, Time(nanoseconds=t_now - 1_500_000_000), frame)
    pose = h.expect_pose()
    np.testing.assert_allclose(position(pose), expected_position(0.0, 0.0, 0.5), atol=1e-6)
