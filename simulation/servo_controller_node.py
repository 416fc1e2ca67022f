"""The reference closed-loop grasp controller as a ROS 2 node (issue 13; an example, not runtime).

``python -m simulation.servo_controller_node`` (node ``servo_controller``) consumes the grasp
node's ``~/detections`` (``vision_msgs/Detection3DArray``, layout in the README; remap
``detections`` to e.g. ``/grasp_detection/detections``) and drives the wrist rig's
``~/cmd_twist`` (remap ``cmd_twist`` to ``/wrist_camera/cmd_twist``) with the
:class:`~simulation.servo.GraspServo` of :mod:`simulation.servo`, on a timer at ``rate`` Hz
(>= 100):

* **target**: the detection with the id of the previous target when there is one (the grasp
  node's ``tracking.enabled: true`` keeps ids along a grasp), else the one nearest the previous
  target within ``reacquire_radius`` (the grasp re-numbered: it moved more than the node's
  tracking radius between two frames), else the first (the best); each change of id while
  approaching is logged (distance and yaw change) and counted (``switches``); its
  pose (``frame_id`` must be ``base_frame``: set the grasp node's ``target_frame`` to it;
  others are ignored with a warning) becomes a :class:`~simulation.servo.GraspTarget` (yaw of
  the closing axis = pose x about ``base_frame`` z, opening = ``bbox.size.x``);
* **tool pose**: the newest ``base_frame -> tool_frame`` transform on /tf (tf2 ``Buffer``);
  without one the node publishes zero twists;
* **start**: the servo starts at the first ``detections`` message (empty or not): until then
  the node publishes zero twists, so the grasp node's start-up (loading its model: seconds)
  does not count against the servo's ``lost_timeout`` (it would end in FAILED 'no target'
  before the first detection); its ``~/state`` is :data:`WAITING` ('waiting') until the
  servo's first step (the first detections and a tool pose), then the servo's phase;
* **end**: with ``exit_when_done`` (default false) the node exits once the servo is DONE
  (exit code 0) or FAILED (1), after :data:`EXIT_GRACE` s more of zero twists (the last
  phase and gripper command reach the subscribers); ``ros2 launch`` of
  tools/launch/closed_loop.launch.py then ends (it shuts down when one process exits);
* **outputs**: ``cmd_twist`` (``geometry_msgs/TwistStamped`` in ``base_frame``, every tick),
  ``~/gripper`` (``std_msgs/String``: 'open' / 'close', on every change of the servo's
  gripper command only: the wrist camera node closes again on every 'close') and ``~/state``
  (``std_msgs/String``: 'waiting', then the servo's phase, on change; reliable,
  transient-local depth 10, so a monitor that subscribes late still gets the newest phases).

The wrist camera node acts on ``~/gripper`` when remapped to it (run it with
``--ros-args -r wrist_camera/gripper:=servo_controller/gripper``): 'close' closes its fingers
and, while closed, LIFT's upward twist rises on the gripper's motorised lift joint, so a grasped
object comes along (its ``~/holding`` says whether the object is between the fingers).
Parameters: ``rate``, ``base_frame``, ``tool_frame``, ``reacquire_radius``,
``exit_when_done`` and every
:class:`~simulation.servo.ServoGains` field (read-only; :data:`PARAMETERS`).
"""

from __future__ import annotations

from dataclasses import fields
import math
import sys
import time
from typing import Any, Optional, Sequence, Tuple

from mtg_grasp_ros.transforms import RigidTransform
from simulation.camera_node import declare_parameters, lazy_node_class, spin_node
from simulation.servo import GraspServo, GraspTarget, ServoGains

NODE_NAME = 'servo_controller'
#: ``~/state`` until the servo's first step (no detections or no tool pose yet: it holds still).
WAITING = 'waiting'
#: Seconds between DONE / FAILED and the exit with ``exit_when_done``.
EXIT_GRACE = 0.5

#: ``(name, default, description)`` of every (read-only) parameter of the node.
PARAMETERS: Tuple[Tuple[str, Any, str], ...] = (
    ('rate', 100.0, 'control ticks per second (twist commands)'),
    ('base_frame', 'base_link', 'world frame: detections and commands are in it'),
    ('tool_frame', 'gripper_tool', 'the gripper tool frame (x closing, z approach)'),
    ('reacquire_radius', 0.03, 'tracked id gone: take the detection nearest the previous '
     'target within this distance (m; 0 = the best one)'),
    ('exit_when_done', False, f'exit {EXIT_GRACE:g} s after the servo is done (exit code 0) '
     'or failed (1): ends a ros2 launch; false = keep publishing zero twists'),
) + tuple((f.name, float(f.default), f'ServoGains.{f.name} (simulation/servo.py)')
          for f in fields(ServoGains))


def quaternion_yaw(x: float, y: float, z: float, w: float) -> float:
    """Yaw (rad) about z of the rotated x axis of quaternion (x, y, z, w)."""
    return math.atan2(2.0 * (x * y + w * z), 1.0 - 2.0 * (y * y + z * z))


def target_of(detection) -> GraspTarget:
    """The :class:`GraspTarget` of one ``vision_msgs/Detection3D`` of the grasp node."""
    result = detection.results[0]
    p, q = result.pose.pose.position, result.pose.pose.orientation
    return GraspTarget(p.x, p.y, p.z, quaternion_yaw(q.x, q.y, q.z, q.w),
                       float(detection.bbox.size.x), float(result.hypothesis.score))


def choose(detections: Sequence, tracked_id: Optional[str],
           previous: Optional[GraspTarget] = None, radius: float = 0.0) -> Optional[Any]:
    """The detection with ``tracked_id``; else the one nearest (in x, y) to the ``previous``
    target when within ``radius`` m (the tracked grasp re-numbered: it moved more than the grasp
    node's tracking radius between frames, as a wrist view changes while the camera descends);
    else the first (the best); None for none."""
    usable = [d for d in detections if d.results]
    for d in usable:
        if tracked_id is not None and d.id == tracked_id:
            return d
    if previous is not None and usable and radius > 0:
        def distance(d):
            p = d.results[0].pose.pose.position
            return math.hypot(p.x - previous.x, p.y - previous.y)
        nearest = min(usable, key=distance)
        if distance(nearest) <= radius:
            return nearest
    return usable[0] if usable else None


def _node_class():
    """The rclpy node class (built lazily: importing this module needs no ROS)."""
    from geometry_msgs.msg import TwistStamped
    from rclpy.node import Node
    from rclpy.task import Future
    from rclpy.qos import DurabilityPolicy, QoSProfile
    from rclpy.time import Time
    from std_msgs.msg import String
    from vision_msgs.msg import Detection3DArray

    class ServoControllerNode(Node):
        """See the module docstring; ``**kwargs`` go to :class:`rclpy.node.Node`. Raises
        ValueError for bad gains, ImportError without tf2_ros."""

        def __init__(self, node_name: str = NODE_NAME, **kwargs) -> None:
            super().__init__(node_name, **kwargs)
            import tf2_ros

            self.p = p = declare_parameters(self, PARAMETERS)
            if not 1.0 <= float(p['rate']) <= 2000.0:
                raise ValueError('rate must be in [1, 2000] Hz')
            self.servo = GraspServo(ServoGains(**{f.name: float(p[f.name])
                                                  for f in fields(ServoGains)}))
            self.buffer = tf2_ros.Buffer()
            self.listener = tf2_ros.TransformListener(self.buffer, self)
            self._target: Optional[GraspTarget] = None   # newest, not yet given to the servo
            self._tracked_id: Optional[str] = None
            self._last: Optional[GraspTarget] = None   # the newest target chosen
            self.switches = 0   # tracked id changes while approaching
            self.started = False   # a detections message has arrived: the servo runs
            self.stepped = False   # the servo has made its first step (state no longer WAITING)
            self._finished_at: Optional[float] = None   # monotonic s of DONE / FAILED
            #: Done (its result: the exit code) once the node wants to exit (exit_when_done):
            #: simulation.camera_node.spin_node spins until then.
            self.finished = Future()
            self._said: Tuple[str, str] = ('', '')
            self.ticks = 0
            self.cmd_pub = self.create_publisher(TwistStamped, 'cmd_twist', 10)
            self.gripper_pub = self.create_publisher(String, '~/gripper', 10)
            # Latched (the last 10 phases), so a monitor that joins late still sees them.
            self.state_pub = self.create_publisher(String, '~/state', QoSProfile(
                depth=10, durability=DurabilityPolicy.TRANSIENT_LOCAL))
            self.create_subscription(Detection3DArray, 'detections', self._on_detections, 10)
            self.create_timer(1.0 / float(p['rate']), self._tick)
            self._Time, self._String, self._Twist = Time, String, TwistStamped

        def _on_detections(self, msg) -> None:
            if msg.header.frame_id != self.p['base_frame']:
                self.get_logger().warning(
                    f'detections in {msg.header.frame_id!r} ignored: set the grasp node '
                    f'target_frame to {self.p["base_frame"]!r}', throttle_duration_sec=5.0)
                return
            if not self.started:
                self.started = True
                self.get_logger().info(f'first detections ({len(msg.detections)}): servo '
                                       f'started')
            chosen = choose(msg.detections, self._tracked_id, self._last,
                            float(self.p['reacquire_radius']))
            if chosen is None:
                return
            target = target_of(chosen)
            last = self._last
            if self._tracked_id not in (None, chosen.id) and self.servo.state.value == 'approach':
                self.switches += 1
                turn = math.degrees(math.remainder(target.yaw - last.yaw, math.pi))
                self.get_logger().info(
                    f'target {self._tracked_id} gone: now {chosen.id}, '
                    f'{math.hypot(target.x - last.x, target.y - last.y) * 100:.1f} cm and '
                    f'{turn:+.0f} deg (modulo 180) away')
            self._target = self._last = target
            self._tracked_id = chosen.id

        def tool_pose(self) -> Optional[RigidTransform]:
            """The newest base -> tool transform, or None."""
            try:
                tf = self.buffer.lookup_transform(self.p['base_frame'], self.p['tool_frame'],
                                                  self._Time())
            except Exception:  # tf2 raises several types: no transform yet
                return None
            return RigidTransform.from_msg(tf.transform)

        def _tick(self) -> None:
            now = self.get_clock().now()
            tool = self.tool_pose()
            msg = self._Twist()
            msg.header.stamp, msg.header.frame_id = now.to_msg(), self.p['base_frame']
            if tool is not None and self.started:
                target, self._target = self._target, None
                twist = self.servo.update(tool, target, now.nanoseconds * 1e-9)
                self.stepped = True
                (msg.twist.linear.x, msg.twist.linear.y,
                 msg.twist.linear.z) = twist.linear
                msg.twist.angular.z = twist.yaw_rate
            self.cmd_pub.publish(msg)
            self.ticks += 1
            said = (self.servo.state.value if self.stepped else WAITING, self.servo.gripper)
            if said != self._said:
                self.state_pub.publish(self._String(data=said[0]))
                if said[1] != self._said[1]:   # a repeated 'close' would close again
                    self.gripper_pub.publish(self._String(data=said[1]))
                reason = (self.servo.reason if self.stepped else
                          'for the first detections and the tool pose: holding still')
                self.get_logger().info(f'{said[0]} (gripper {said[1]}) {reason}')
                self._said = said
            if self.p['exit_when_done'] and self.servo.finished:
                self._exit_after_grace()

        def _exit_after_grace(self) -> None:
            now = time.monotonic()
            if self._finished_at is None:
                self._finished_at = now
            elif now - self._finished_at >= EXIT_GRACE and not self.finished.done():
                done = self.servo.state.value == 'done'
                self.get_logger().info(f'exit_when_done: exiting ({self.servo.state.value})')
                self.finished.set_result(0 if done else 1)

    return ServoControllerNode


__getattr__ = lazy_node_class(globals(), 'ServoControllerNode', _node_class)


def main(args=None) -> int:
    """Run the node until shutdown (or, with ``exit_when_done``, until DONE: 0, or FAILED:
    1); 1 when it cannot start. ``python -m simulation.servo_controller_node``."""
    return spin_node(_node_class(), NODE_NAME, args)


if __name__ == '__main__':
    sys.exit(main())
