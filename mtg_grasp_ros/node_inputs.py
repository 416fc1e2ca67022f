"""The node's input side: subscriptions and their QoS, and what the worker pairs with an image.

* :class:`InputSubscriptions`: keep-last, volatile subscriptions of the input topics (made on
  activate, destroyed on deactivate), reliable or best-effort as the ``reliability`` parameter
  says; ``auto`` waits for a publisher on each topic and matches it (reliable only when every
  publisher is, as ``camera_calibration`` does), since a reliable subscriber never receives
  from a best-effort publisher (the ROS 2 QoS compatibility rules).
* :class:`CameraInfoCache`: the latest CameraInfo as a
  :class:`mtg_grasp_ros.camera_model.CameraModel`, rebuilt only when the message changes.
* :class:`DepthBuffer`: the last depth images; the one closest in time to a colour image.

Errors are the per-frame kind the node counts: :class:`NoCameraInfoError` (``no_camera_info``),
:class:`mtg_grasp_ros.camera_model.CameraModelError` (``bad_camera_info``) and
:class:`mtg_grasp_ros.grasp_geometry.NoDepthError` (``no_depth``).
"""

from __future__ import annotations

from collections import deque
import math
import time
from typing import Any, Callable, Dict, Optional, Tuple

from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image

from mtg_grasp_ros.camera_model import CameraModel
from mtg_grasp_ros.grasp_geometry import NoDepthError

#: Seconds of waiting for publishers (reliability auto) before each warning.
WAIT_WARNING_S = 5.0


class NoCameraInfoError(ValueError):
    """An image arrived before any CameraInfo."""

    reason = 'no_camera_info'


def steady_clock() -> Clock:
    """A steady (monotonic) clock for the node's housekeeping timers: they must run whatever
    ``use_sim_time`` says, before any ``/clock`` message (rclpy ``Clock``, ``STEADY_TIME``)."""
    return Clock(clock_type=ClockType.STEADY_TIME)


def resolve_topic(node: Node, topic: str) -> str:
    """The full name of a relative topic (namespace, remappings), for log messages."""
    resolve = getattr(node, 'resolve_topic_name', None)
    try:
        return resolve(topic) if resolve is not None else topic
    except Exception:
        return topic


class InputSubscriptions:
    """Subscribes ``topics`` (name -> (message type, callback)) on ``node``.

    ``reliability``: ``reliable``, ``best_effort`` or ``auto``; ``depth``: the keep-last queue
    length. :attr:`subs` maps each topic to its subscription once made (at once, or with
    ``auto`` when a publisher appears; ``warn(key, text)`` reports the wait).
    """

    def __init__(self, node: Node, topics: Dict[str, Tuple[type, Callable]], reliability: str,
                 depth: int, warn: Callable[[str, str], None]) -> None:
        self.node, self.depth, self.warn = node, depth, warn
        self.subs: Dict[str, Any] = {}
        self.pending: Dict[str, Tuple[type, Callable]] = {}
        self._timer = None
        if reliability == 'auto':
            self.pending = dict(topics)
            self._since = time.monotonic()
            # On the steady clock: with use_sim_time and no /clock yet (a bag played without
            # --clock, a simulator not started) a ROS-time timer would never fire.
            self._timer = node.create_timer(0.5, self._subscribe_matching,
                                            clock=steady_clock())
            node.get_logger().info('reliability auto: waiting for publishers on '
                                   + ', '.join(resolve_topic(node, t) for t in topics))
        else:
            policy = (ReliabilityPolicy.RELIABLE if reliability == 'reliable'
                      else ReliabilityPolicy.BEST_EFFORT)
            for topic, (msg_type, callback) in topics.items():
                self._subscribe(topic, msg_type, callback, policy)

    def close(self) -> None:
        """Destroy every subscription (and the reliability-auto timer): no callback after it."""
        if self._timer is not None:
            self.node.destroy_timer(self._timer)
            self._timer = None
        self.pending = {}
        for sub in self.subs.values():
            self.node.destroy_subscription(sub)
        self.subs = {}

    def _subscribe(self, topic: str, msg_type: type, callback: Callable,
                   reliability: ReliabilityPolicy) -> None:
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=self.depth,
                         reliability=reliability, durability=DurabilityPolicy.VOLATILE)
        self.subs[topic] = self.node.create_subscription(msg_type, topic, callback, qos)
        self.node.get_logger().info(f'subscribed to {resolve_topic(self.node, topic)} '
                                    f'({reliability.name.lower()}, keep last {self.depth})')

    def _subscribe_matching(self) -> None:
        """reliability auto: subscribe like the publishers (as camera_calibration does)."""
        for topic in list(self.pending):
            infos = self.node.get_publishers_info_by_topic(resolve_topic(self.node, topic))
            if not infos:
                continue
            policies = {info.qos_profile.reliability for info in infos}
            # A best-effort subscriber matches every publisher; a reliable one only reliable ones.
            reliability = (ReliabilityPolicy.RELIABLE if policies == {ReliabilityPolicy.RELIABLE}
                           else ReliabilityPolicy.BEST_EFFORT)
            msg_type, callback = self.pending.pop(topic)
            self._subscribe(topic, msg_type, callback, reliability)
        if not self.pending:
            self._timer.cancel()
        elif time.monotonic() - self._since > WAIT_WARNING_S:
            self.warn('waiting', 'reliability auto: no publisher yet on '
                      + ', '.join(resolve_topic(self.node, t) for t in self.pending))


class CameraInfoCache:
    """The camera model of the latest CameraInfo on ``topic`` (its full name, for errors)."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self._key = None
        self._camera: Optional[CameraModel] = None
        self._error: Optional[Exception] = None

    def update(self, msg: CameraInfo) -> None:
        """Subscription callback: rebuild the model when any field it depends on changed."""
        key = (msg.width, msg.height, tuple(msg.k), tuple(msg.p), tuple(msg.d), tuple(msg.r),
               msg.distortion_model, msg.binning_x, msg.binning_y, msg.roi.x_offset,
               msg.roi.y_offset, msg.roi.width, msg.roi.height)
        if key == self._key:
            return
        self._key = key
        try:
            self._camera, self._error = CameraModel.from_msg(msg), None
        except ValueError as exc:
            self._camera, self._error = None, exc

    def camera(self) -> CameraModel:
        """The current model; raises (a copy of) the error of an invalid CameraInfo, or
        :class:`NoCameraInfoError` before the first one."""
        camera = self._camera
        if camera is None:
            error = self._error
            if error is not None:
                raise type(error)(str(error))
            raise NoCameraInfoError('no CameraInfo received yet on ' + self.topic)
        return camera


class DepthFrameError(NoDepthError):
    """The aligned depth image is in another frame than the colour image."""

    reason = 'depth_frame_mismatch'


class DepthBuffer:
    """The last ``size`` depth images of ``topic`` (its full name, for errors)."""

    def __init__(self, topic: str, slop: float, size: int = 10) -> None:
        self.topic, self.slop = topic, slop
        self._msgs: deque = deque(maxlen=size)

    def add(self, msg: Image) -> None:
        """Subscription callback."""
        self._msgs.append(msg)

    def wait_for(self, stamp, frame_id: str = '', poll: float = 0.002) -> Image:
        """:meth:`closest`, after waiting (at most ``slop`` s of wall time, in this thread)
        while every buffered depth image is older than ``stamp``: drivers publish the aligned
        depth a few ms after its colour frame, and the depth of the colour frame's own
        instant is better than the previous one (which is within ``slop`` too)."""
        t = stamp.sec + stamp.nanosec * 1e-9
        deadline = time.monotonic() + self.slop
        while time.monotonic() < deadline and not any(
                m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 >= t
                for m in list(self._msgs)):
            time.sleep(poll)
        return self.closest(stamp, frame_id)

    def closest(self, stamp, frame_id: str = '') -> Image:
        """The buffered depth message closest in time to ``stamp`` (within ``slop`` s; of
        equally close ones the newest, so sources that stamp everything 0 get the latest
        depth). Raises :class:`NoDepthError` when there is none and :class:`DepthFrameError`
        when it is in another frame than ``frame_id`` (the colour image's; an aligned depth
        image shares it: a depth in its own optical frame would put the grasp at the wrong
        height). Empty frame ids are not compared."""
        t = stamp.sec + stamp.nanosec * 1e-9
        best, best_dt = None, math.inf
        for m in list(self._msgs):  # oldest first
            dt = abs(m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 - t)
            if dt <= best_dt:
                best, best_dt = m, dt
        if best is None:
            raise NoDepthError('no depth image received yet on ' + self.topic)
        if best_dt > self.slop:
            raise NoDepthError(f'no depth image within depth_slop {self.slop} s of the colour '
                               f'image (closest {best_dt:.3f} s)')
        if frame_id and best.header.frame_id and best.header.frame_id != frame_id:
            raise DepthFrameError(
                f'the depth image on {self.topic} is in frame {best.header.frame_id!r} but the '
                f'colour image in {frame_id!r}: subscribe to the depth aligned (registered) to '
                f'the colour image')
        return best
