"""The eye-in-hand rig as a ROS 2 node: a wrist camera on a gripper driven by velocity commands.

``python -m simulation.wrist_camera_node`` (node ``wrist_camera``) runs a
:class:`simulation.wrist_rig.WristRig` (a free-flying parallel-jaw gripper over a table with a
held-out object, the camera rigidly on its wrist) and, on a timer at ``rate`` Hz:

1. integrates the newest command of ``~/cmd_twist`` (``geometry_msgs/TwistStamped`` in
   ``base_frame`` (an empty ``frame_id`` is taken as it; other frames are ignored with a
   warning): ``linear`` m/s of the tool origin, ``angular.z`` rad/s yaw, ``angular.x/y``
   ignored: the gripper stays top-down) over the wall time since the last tick (at most
   ``MAX_DT``), clipped to ``max_linear`` / ``max_yaw_rate`` and the workspace; a command
   received more than ``cmd_timeout`` s ago counts as zero (stop);
2. stamps the pose with the node clock, renders the wrist view **only when the pose changed**
   (else republishes the cached image with the new stamp) and publishes
   ``camera/color/image_raw`` (``rgb8``) and ``camera/color/camera_info`` (exact pinhole
   intrinsics, no distortion), ``frame_id`` the camera **optical** frame;
3. broadcasts ``base_frame -> tool_frame`` on /tf at the same stamp (``tf2_ros``
   TransformBroadcaster), so an image's camera pose is a tf2 lookup at its stamp;
   ``tool_frame -> frame_id`` (the fixed mount) is on /tf_static (StaticTransformBroadcaster);
4. publishes ``~/holding`` (``std_msgs/Bool``: :meth:`WristRig.holding`, the object touching
   both fingers) on every change and at least once a second, and the simulation's ground truth
   ``~/object_pose`` (``geometry_msgs/PoseStamped`` in ``base_frame``, the image's stamp: the
   object's base (centre of mass) position, m, and orientation) every tick, so a monitor can
   tell how far a grasped object rose.

**Dynamic scenes**: with ``push_seed`` >= 0 the object is pushed once while the gripper is
open: the :class:`~simulation.disturbance.Disturbance` defaults drawn from (``push_seed``, the
object's catalogue index), as the ROS-free benchmark draws them; the trial's clock starts at the
first non-zero ``~/cmd_twist`` (the controller's first move), and the push starts at the drawn
time on that clock or once the fingertips are below the drawn height, whichever comes first,
sliding and turning the object smoothly over 0.4 s (:class:`~simulation.disturbance.ObjectPush`;
the frames in between are rendered).

The gripper follows ``~/gripper`` (``std_msgs/String``): 'open' -> :meth:`WristRig.open` (at
once), 'close' -> :meth:`WristRig.close` (force-limited, until the fingers stall or shut: up to
0.3 s simulated, a few ms of wall time); any other value is ignored with one warning per value.
A command is applied at the start of the next tick (the callback only stores it), so the rig is
touched by the tick alone; the blocking close delays that tick's frame by its wall time. The
reference controller publishes on ``/servo_controller/gripper``: run this node with
``--ros-args -r wrist_camera/gripper:=servo_controller/gripper``. **While closed**, a twist
with an upward ``linear.z`` > 0 lifts with the gripper's motorised lift joint
(:meth:`WristRig.lift` by ``vz * dt`` at ``vz``, after the speed limit) so a grasped object
comes along (kinematic steps do not carry it); that tick's x, y and yaw are ignored (the rig
cannot carry an object sideways). Other twists while closed, and every twist while open, are
kinematic steps as above.

Where tf2_ros is not installed (the PyPI wheels alone) the node says so once and publishes the
images without TF. Frames and the mount: :mod:`simulation.wrist_rig`. ``renderer`` picks the
render path: 'composite' (default, :mod:`simulation.fast_render`: TinyRenderer's own pixels,
measured 8-12 ms at 320x240 and 18-30 ms at 640x480 with shadows, one object, on this 2-core
machine) or 'reference' (TinyRenderer on the whole scene: ~40 and ~150 ms). A loaded core takes
longer, so the achieved frame rate while moving can be below ``rate``: it is logged every
10 s (``published N frames at R Hz, M renders, render p50 X ms``); docs/closed_loop.md has
measured numbers. :data:`PARAMETERS` lists every parameter with its default and meaning.
"""

from __future__ import annotations

import sys
import time
from typing import Any, List, Optional, Tuple

import numpy as np

from simulation.camera_node import (declare_parameters, lazy_node_class, RELIABILITIES,
                                    spin_node)
from simulation.disturbance import Disturbance, ObjectPush
from simulation.fast_render import RENDERERS
from simulation.messages import camera_info_message, image_message, transform_message
from simulation.objects import parse_object_ids
from simulation.wrist_rig import CameraMount, RigConfig, RigLimits, Twist, WristRig

#: The ``~/gripper`` commands the node acts on.
GRIPPER_COMMANDS = ('open', 'close')
#: ``~/holding`` is republished at least this often (s), besides on every change.
HOLDING_PERIOD = 1.0

NODE_NAME = 'wrist_camera'
#: The longest step (s) one tick integrates: after a stall the gripper does not jump.
MAX_DT = 0.5

#: ``(name, default, description)`` of every (read-only) parameter of the node.
PARAMETERS: Tuple[Tuple[str, Any, str], ...] = (
    ('rate', 30.0, 'ticks per second (physics step, pose, image, TF)'),
    ('width', 640, 'image width, px'),
    ('height', 480, 'image height, px'),
    ('fov_deg', 42.0, 'vertical field of view, degrees'),
    ('mount_xyz', list(CameraMount().xyz), 'camera optical frame position in tool_frame, m'),
    ('mount_rpy', list(CameraMount().rpy), 'camera optical frame roll, pitch, yaw in tool_frame '
     '(tf2 setRPY), rad'),
    ('start_xyz', list(RigConfig().start_xyz), 'home position of the tool origin '
     '(fingertip centre) in base_frame, m'),
    ('start_yaw', 0.0, 'home yaw of the closing axis about base_frame z, rad'),
    ('max_linear', RigLimits().max_linear, 'linear speed limit of the tool origin, m/s'),
    ('max_yaw_rate', RigLimits().max_yaw_rate, 'yaw rate limit, rad/s'),
    ('cmd_timeout', 0.25, 'a command received longer ago than this (s) stops the gripper'),
    ('base_frame', 'base_link', 'the world frame: table top at z = 0, commands, TF parent'),
    ('tool_frame', 'gripper_tool', 'the gripper tool frame (x closing, z approach)'),
    ('frame_id', 'wrist_camera_color_optical_frame', 'header frame_id of the images (optical)'),
    ('object_ids', '', 'held-out object to use, e.g. "r460" (empty: a random held-out one)'),
    ('seed', 0, 'random seed of the object draw and pose'),
    ('shadows', True, 'render shadows'),
    ('renderer', 'composite', f'render path, one of {RENDERERS}: composite (the objects by '
     'TinyRenderer, the table composited: the same pixels, 4-8x faster) or reference '
     '(TinyRenderer on the whole scene)'),
    ('push_seed', -1, 'push the object once during the approach, drawn from this seed and the '
     "object's index (simulation.disturbance); -1: a static scene"),
    ('reliability', 'best_effort', 'image publisher reliability: best_effort or reliable'),
)


def _config(p: dict) -> RigConfig:
    """The rig of the node's parameters; ValueError for bad values."""
    if p['reliability'] not in RELIABILITIES:
        raise ValueError(f'reliability must be one of {RELIABILITIES}')
    if p['renderer'] not in RENDERERS:
        raise ValueError(f'renderer must be one of {RENDERERS}')
    if not 0.1 <= float(p['rate']) <= 1000 or float(p['cmd_timeout']) <= 0:
        raise ValueError('rate must be in [0.1, 1000] Hz and cmd_timeout > 0 s')
    floats = [float(v) for v in (*p['mount_xyz'], *p['mount_rpy'], *p['start_xyz'])]
    if len(floats) != 9:
        raise ValueError('mount_xyz, mount_rpy and start_xyz need 3 values each')
    return RigConfig(width=int(p['width']), height=int(p['height']),
                     fov_deg=float(p['fov_deg']),
                     mount=CameraMount(tuple(floats[0:3]), tuple(floats[3:6])),
                     limits=RigLimits(float(p['max_linear']), float(p['max_yaw_rate'])),
                     start_xyz=tuple(floats[6:9]), start_yaw=float(p['start_yaw']),
                     object_ids=parse_object_ids(p['object_ids']), seed=int(p['seed']),
                     shadows=bool(p['shadows']), renderer=str(p['renderer']))


def _node_class():
    """The rclpy node class (built lazily: importing this module needs no ROS)."""
    from geometry_msgs.msg import PoseStamped, TwistStamped
    from rclpy.node import Node
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import Bool, String

    class WristCameraNode(Node):
        """See the module docstring; ``**kwargs`` go to :class:`rclpy.node.Node`. Raises
        ValueError for a bad parameter, RuntimeError when pybullet cannot start."""

        def __init__(self, node_name: str = NODE_NAME, **kwargs) -> None:
            super().__init__(node_name, **kwargs)
            self.p = p = declare_parameters(self, PARAMETERS)
            self.rig = WristRig(_config(p))
            self._command: Optional[Tuple[Twist, float]] = None   # (twist, monotonic time)
            self._image = None
            self._rendered_at: Optional[Tuple[float, ...]] = None
            self._last_tick = time.monotonic()
            self.frames = self.renders = 0
            self._period = (time.monotonic(), 0, 0)
            self._render_s: List[float] = []
            reliability = (ReliabilityPolicy.RELIABLE if p['reliability'] == 'reliable'
                           else ReliabilityPolicy.BEST_EFFORT)
            qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=reliability)
            self.image_pub = self.create_publisher(Image, 'camera/color/image_raw', qos)
            self.info_pub = self.create_publisher(CameraInfo, 'camera/color/camera_info', qos)
            self.create_subscription(TwistStamped, '~/cmd_twist', self._on_twist, 10)
            self.closed = False            # the last gripper command applied was 'close'
            self._gripper: Optional[str] = None   # received, not yet applied by the tick
            self._unknown: set = set()     # gripper commands already warned about
            self.create_subscription(String, '~/gripper', self._on_gripper, 10)
            self.holding_pub = self.create_publisher(Bool, '~/holding', 10)
            self._holding: Optional[Tuple[bool, float]] = None   # (published, monotonic time)
            self._Bool = Bool
            self.object_pub = self.create_publisher(PoseStamped, '~/object_pose', 10)
            self._object_msg = PoseStamped()
            self._info = camera_info_message(self.rig.camera(), frame_id=p['frame_id'])
            self.tf = self._start_tf()
            self._push = None
            self._moving_since: Optional[float] = None   # first non-zero command (monotonic)
            if int(p['push_seed']) >= 0:
                obj = self.rig.scene.objects[0]
                self._push = ObjectPush(self.rig.scene, obj,
                                        Disturbance().draw(int(p['push_seed']), obj.index))
            self.create_timer(1.0 / float(p['rate']), self._tick)
            self.create_timer(10.0, self._log_rate)
            obj = self.rig.scene.objects[0]
            self.get_logger().info(
                f'ready: {p["width"]}x{p["height"]} rgb8 at up to {float(p["rate"]):g} Hz '
                f'({p["renderer"]} render, shadows {"on" if p["shadows"] else "off"}); '
                f'{p["base_frame"]} -> {p["tool_frame"]} -> {p["frame_id"]}; tool at '
                f'{[round(float(v), 3) for v in self.rig.position]}; object {obj.object_id} '
                f'at ({obj.centre[0]:+.3f}, {obj.centre[1]:+.3f}) m')

        def _start_tf(self):
            """The /tf broadcaster (the mount sent on /tf_static), or None without tf2_ros."""
            try:
                from tf2_ros import StaticTransformBroadcaster, TransformBroadcaster
            except ImportError:
                self.get_logger().warning(
                    'tf2_ros is not installed: no TF (base -> tool -> camera); images only')
                return None
            mount = self.rig.mount
            self._static_tf = StaticTransformBroadcaster(self)
            self._static_tf.sendTransform(transform_message(
                mount.translation, mount.quaternion, self.get_clock().now().to_msg(),
                self.p['tool_frame'], self.p['frame_id']))
            return TransformBroadcaster(self)

        def _on_twist(self, msg) -> None:
            if msg.header.frame_id not in ('', self.p['base_frame']):
                self.get_logger().warning(
                    f'~/cmd_twist in frame {msg.header.frame_id!r} ignored: commands are in '
                    f'{self.p["base_frame"]!r}', throttle_duration_sec=5.0)
                return
            v = msg.twist.linear
            try:
                twist = Twist((v.x, v.y, v.z), msg.twist.angular.z)
            except ValueError as exc:
                self.get_logger().warning(f'~/cmd_twist ignored: {exc}',
                                          throttle_duration_sec=5.0)
                return
            self._command = (twist, time.monotonic())

        def _on_gripper(self, msg) -> None:
            if msg.data in GRIPPER_COMMANDS:
                self._gripper = msg.data
            elif msg.data not in self._unknown:
                self._unknown.add(msg.data)
                self.get_logger().warning(
                    f'~/gripper {msg.data!r} ignored: expected one of {GRIPPER_COMMANDS}')

        def _apply_gripper(self) -> None:
            command, self._gripper = self._gripper, None
            if command == 'close':
                gap = self.rig.close()
                self.closed = True
                self.get_logger().info(f'gripper closed: gap {gap * 1000:.1f} mm, holding '
                                       f'{self.rig.holding()}')
            elif command == 'open':
                self.rig.open()
                self.closed = False
                self.get_logger().info('gripper opened')

        def _move(self, dt: float, twist: Twist) -> None:
            """Kinematic step, or the lift joint while closed and commanded up."""
            vz = self.rig.config.limits.clip(twist).linear[2]
            if self.closed and vz > 0 and dt > 0:
                self.rig.lift(vz * dt, vz)
            else:
                self.rig.step(dt, twist)

        def _update_push(self, now: float, twist: Twist) -> bool:
            """Advance the push (if any) to ``now``; whether the object moved."""
            push = self._push
            if push is None or push.finished is not None:
                return False
            if self._moving_since is None:
                if not any(twist.linear) and not twist.yaw_rate:
                    return False
                self._moving_since = now
            started = push.started is not None
            moved = push.update(now - self._moving_since, float(self.rig.position[2]),
                                approaching=not self.closed)
            if push.started is not None and not started:
                self.get_logger().info(f'push starts: {push.push.describe()}; tool z '
                                       f'{self.rig.position[2]:.3f} m')
            return moved

        def _publish_holding(self, now: float) -> None:
            holding = self.rig.holding()
            last = self._holding
            if last is None or last[0] != holding or now - last[1] >= HOLDING_PERIOD:
                self.holding_pub.publish(self._Bool(data=holding))
                self._holding = (holding, now)

        def _tick(self) -> None:
            if self._gripper is not None:
                self._apply_gripper()
            now = time.monotonic()
            dt, self._last_tick = min(now - self._last_tick, MAX_DT), now
            command = self._command
            fresh = command is not None and now - command[1] <= float(self.p['cmd_timeout'])
            twist = command[0] if fresh else Twist()
            self._move(dt, twist)
            pushed = self._update_push(now, twist)
            self._publish_holding(now)
            stamp = self.get_clock().now().to_msg()
            pose = (*self.rig.position, self.rig.yaw)
            if self._image is None or pose != self._rendered_at or pushed:
                t0 = time.perf_counter()
                frame = self.rig.render()
                self._render_s.append(time.perf_counter() - t0)
                self._image = image_message(frame.rgb, frame_id=self.p['frame_id'])
                self._rendered_at, self.renders = pose, self.renders + 1
            if self.tf is not None:
                tool = self.rig.tool_pose()
                self.tf.sendTransform(transform_message(
                    tool.translation, tool.quaternion, stamp, self.p['base_frame'],
                    self.p['tool_frame']))
            self._image.header.stamp = self._info.header.stamp = stamp
            self.image_pub.publish(self._image)
            self.info_pub.publish(self._info)
            self._publish_object(stamp)
            self.frames += 1

        def _publish_object(self, stamp) -> None:
            """``~/object_pose``: the first object's base pose in ``base_frame`` (truth)."""
            scene, msg = self.rig.scene, self._object_msg
            xyz, q = scene.p.getBasePositionAndOrientation(scene.objects[0].body,
                                                           physicsClientId=scene.client)
            msg.header.stamp, msg.header.frame_id = stamp, self.p['base_frame']
            pos, rot = msg.pose.position, msg.pose.orientation
            pos.x, pos.y, pos.z = (float(v) for v in xyz)
            rot.x, rot.y, rot.z, rot.w = (float(v) for v in q)
            self.object_pub.publish(msg)

        def _log_rate(self) -> None:
            start, frames, renders = self._period
            now = time.monotonic()
            render = np.percentile(self._render_s, 50) * 1000 if self._render_s else 0.0
            self.get_logger().info(
                f'published {self.frames - frames} frames at '
                f'{(self.frames - frames) / max(now - start, 1e-9):.1f} Hz, '
                f'{self.renders - renders} renders, render p50 {render:.1f} ms')
            self._period, self._render_s = (now, self.frames, self.renders), []

        def destroy_node(self) -> None:
            super().destroy_node()
            self.rig.shutdown()

    return WristCameraNode


__getattr__ = lazy_node_class(globals(), 'WristCameraNode', _node_class)  # WristCameraNode


def main(args=None) -> int:
    """Run the node until shutdown (``args``: rclpy's command line); 1 when it cannot start.
    ``python -m simulation.wrist_camera_node``."""
    return spin_node(_node_class(), NODE_NAME, args)


if __name__ == '__main__':
    sys.exit(main())
