"""A reference visual-servo grasp controller for the wrist rig (issue 13 part 2; no ROS).

An *example* of consuming the grasp node's output in closed loop, not part of the runtime:
:class:`GraspServo` turns the latest grasp target (a :class:`GraspTarget`, world frame
``base_link``) and the tool pose (``gripper_tool`` in the world, the README's grasp pose
convention) into a Cartesian velocity (:class:`~simulation.wrist_rig.Twist`: m/s and rad/s in
the world frame) at the controller's rate (>= 100 Hz), while the detections update at the
camera's rate. States (:class:`ServoState`):

* ``APPROACH``: proportional servo of the tool origin towards the *pre-grasp*,
  ``pregrasp_height`` m above the latest target, and of the tool yaw towards the target's yaw
  **modulo pi** (a parallel gripper is symmetric: the shorter of the two wrist turns). Every new
  target moves the pre-grasp. A target older than ``hold_timeout`` s: hold still; none for
  ``lost_timeout`` s (or never one): ``FAILED``. When the tool is at the pre-grasp (within the
  tolerances), or has stayed near it (within the looser ``dwell_xy`` / ``dwell_yaw``, z within
  ``z_tolerance``) for ``dwell_time`` s (a target jittering between detections would
  otherwise keep the tool hovering), or is lower than ``replan_height`` above the target (the
  camera too close to see the object): the target is frozen and
* ``FINAL``: descend at ``final_speed`` m/s to the frozen grasp height plus ``grasp_offset``
  (xy and yaw still held on the frozen target); then
* ``CLOSE``: hold still for ``close_time`` s while the gripper closes (:attr:`GraspServo.gripper`
  says 'close'); then
* ``LIFT``: up at ``lift_speed`` m/s until ``lift_height`` m above where it closed; ``DONE``.

Times ``t`` are seconds on any monotonic clock (the rig's simulated time, a ROS clock).
"""

from __future__ import annotations

from dataclasses import dataclass
import enum
import math
from typing import Optional

import numpy as np

from mtg_grasp_ros.transforms import RigidTransform
from simulation.wrist_rig import Twist


class ServoState(enum.Enum):
    """The controller's phase (module docstring)."""

    APPROACH = 'approach'
    FINAL = 'final'
    CLOSE = 'close'
    LIFT = 'lift'
    DONE = 'done'
    FAILED = 'failed'


@dataclass(frozen=True)
class GraspTarget:
    """A grasp in the world frame: centre ``x``, ``y``, ``z`` (m), ``yaw`` of the closing axis
    about world z (rad; any value, used modulo pi), ``opening`` (m) and ``quality``."""

    x: float
    y: float
    z: float
    yaw: float
    opening: float = 0.0
    quality: float = 1.0

    @property
    def position(self) -> np.ndarray:
        """(3,) centre, world m."""
        return np.array([self.x, self.y, self.z], dtype=np.float64)


@dataclass(frozen=True)
class ServoGains:
    """The controller's parameters (m, s, rad).

    ``k_xy``, ``k_z``, ``k_yaw``: proportional gains (1/s); ``max_linear`` (m/s, the linear
    command's norm) and ``max_yaw_rate`` (rad/s): speed limits; ``pregrasp_height``: the
    pre-grasp's tool origin above the grasp centre; ``replan_height``: below this height above
    the target the target freezes (the camera sees too little); ``xy_tolerance``,
    ``z_tolerance``, ``yaw_tolerance``: "at the pre-grasp"; ``final_tolerance``: the final
    descent's end short of its goal height; ``final_speed``: the final descent
    (m/s); ``grasp_offset``: the fingertips' final height relative to the grasp centre (m;
    negative = deeper); ``close_time``: held still while closing (s); ``lift_height``,
    ``lift_speed``; ``hold_timeout``: stale target -> hold still; ``lost_timeout``: no target
    -> FAILED; ``dwell_xy`` (m), ``dwell_yaw`` (rad), ``dwell_time`` (s): near the pre-grasp
    for that long -> FINAL. Raises ValueError for a non-positive gain, speed, height or time.
    """

    k_xy: float = 2.5
    k_z: float = 2.0
    k_yaw: float = 3.0
    max_linear: float = 0.2
    max_yaw_rate: float = 1.5
    pregrasp_height: float = 0.12
    replan_height: float = 0.08
    xy_tolerance: float = 0.004
    z_tolerance: float = 0.01
    yaw_tolerance: float = 0.05
    final_tolerance: float = 0.002
    final_speed: float = 0.05
    grasp_offset: float = 0.0
    close_time: float = 0.5
    lift_height: float = 0.10
    lift_speed: float = 0.05
    hold_timeout: float = 0.5
    lost_timeout: float = 3.0
    min_height: float = 0.0
    dwell_xy: float = 0.01
    dwell_yaw: float = 0.35
    dwell_time: float = 0.5

    def __post_init__(self) -> None:
        positive = ('k_xy', 'k_z', 'k_yaw', 'max_linear', 'max_yaw_rate', 'pregrasp_height',
                    'replan_height', 'xy_tolerance', 'z_tolerance', 'yaw_tolerance',
                    'final_tolerance', 'final_speed', 'close_time', 'lift_height', 'lift_speed',
                    'hold_timeout', 'lost_timeout', 'dwell_xy', 'dwell_yaw', 'dwell_time')
        bad = [name for name in positive if not getattr(self, name) > 0]
        if bad:
            raise ValueError(f'servo gains must be > 0: {bad}')


def tool_yaw(tool: RigidTransform) -> float:
    """Yaw (rad) of a top-down tool frame's closing axis (its x) about world z."""
    x_axis = np.asarray(tool.rotation)[:, 0]
    return math.atan2(float(x_axis[1]), float(x_axis[0]))


def yaw_error(target_yaw: float, yaw: float) -> float:
    """The smallest turn (rad, in [-pi/2, pi/2]) from ``yaw`` to ``target_yaw`` modulo pi."""
    return math.remainder(float(target_yaw) - float(yaw), math.pi)


class GraspServo:
    """The state machine of the module docstring; one per grasp attempt (or :meth:`reset`)."""

    def __init__(self, gains: Optional[ServoGains] = None) -> None:
        self.gains = gains or ServoGains()
        self.reset()

    def reset(self) -> None:
        """Back to APPROACH without a target."""
        self.state = ServoState.APPROACH
        self.target: Optional[GraspTarget] = None
        self.target_time: Optional[float] = None
        self.start_time: Optional[float] = None
        self.phase_time: Optional[float] = None  # when the current phase began
        self.lift_from: Optional[float] = None
        self.near_since: Optional[float] = None   # near the pre-grasp since (dwell_time)
        self.reason = ''

    @property
    def gripper(self) -> str:
        """What the gripper should do now: 'open' or 'close'."""
        closed = (ServoState.CLOSE, ServoState.LIFT, ServoState.DONE)
        return 'close' if self.state in closed else 'open'

    @property
    def finished(self) -> bool:
        """DONE or FAILED."""
        return self.state in (ServoState.DONE, ServoState.FAILED)

    def _enter(self, state: ServoState, t: float, reason: str = '') -> None:
        self.state, self.phase_time = state, t
        if reason:
            self.reason = reason

    def _clip(self, linear: np.ndarray, yaw_rate: float) -> Twist:
        g = self.gains
        speed = float(np.linalg.norm(linear))
        if speed > g.max_linear:
            linear = linear * (g.max_linear / speed)
        return Twist(tuple(float(v) for v in linear),
                     float(np.clip(yaw_rate, -g.max_yaw_rate, g.max_yaw_rate)))

    def _hold_on(self, tool: RigidTransform, goal: np.ndarray, yaw_rate_gain: float = 1.0,
                 vz: Optional[float] = None) -> Twist:
        """P-control of the tool origin to ``goal`` (vz overrides the z command) and of the yaw
        to the target's modulo pi."""
        g = self.gains
        error = goal - np.asarray(tool.translation, dtype=np.float64)
        linear = np.array([g.k_xy * error[0], g.k_xy * error[1],
                           g.k_z * error[2] if vz is None else vz])
        return self._clip(linear, yaw_rate_gain * g.k_yaw
                          * yaw_error(self.target.yaw, tool_yaw(tool)))

    def update(self, tool: RigidTransform, target: Optional[GraspTarget], t: float) -> Twist:
        """One control step at time ``t`` (s): ``tool`` is the tool pose (world <- tool),
        ``target`` the newest detection (None: no new one since the last call; ignored from
        FINAL on). Returns the twist to apply until the next call; :attr:`state` is the phase
        after this step."""
        g = self.gains
        t = float(t)
        if self.start_time is None:
            self.start_time = self.phase_time = t
        position = np.asarray(tool.translation, dtype=np.float64)
        if self.state is ServoState.APPROACH:
            too_close = (self.target is not None
                         and position[2] - self.target.z < g.replan_height)
            if target is not None and not too_close:  # a detection from too close: ignored
                self.target, self.target_time = target, t
            last = self.start_time if self.target_time is None else self.target_time
            too_close = (self.target is not None
                         and position[2] - self.target.z < g.replan_height)
            if not too_close and t - last > g.lost_timeout:
                self._enter(ServoState.FAILED, t, 'target lost' if self.target else 'no target')
                return Twist()
            if self.target is None or (not too_close and t - last > g.hold_timeout):
                return Twist()
            pregrasp = self.target.position + [0.0, 0.0, g.pregrasp_height]
            error = pregrasp - position
            xy, z = float(np.linalg.norm(error[:2])), abs(error[2])
            yaw = abs(yaw_error(self.target.yaw, tool_yaw(tool)))
            at_pregrasp = xy < g.xy_tolerance and z < g.z_tolerance and yaw < g.yaw_tolerance
            near = xy < g.dwell_xy and z < g.z_tolerance and yaw < g.dwell_yaw
            if not near:
                self.near_since = None
            elif self.near_since is None:
                self.near_since = t
            dwelt = near and t - self.near_since >= g.dwell_time
            if at_pregrasp or dwelt or too_close:
                self._enter(ServoState.FINAL, t)
            else:
                return self._hold_on(tool, pregrasp)
        if self.state is ServoState.FINAL:
            goal = self.target.position + [0.0, 0.0, g.grasp_offset]
            goal[2] = max(goal[2], g.min_height)
            if position[2] - goal[2] <= g.final_tolerance:
                self._enter(ServoState.CLOSE, t)
            else:
                vz = -min(g.final_speed, g.k_z * (position[2] - goal[2]))
                return self._hold_on(tool, goal, vz=vz)
        if self.state is ServoState.CLOSE:
            if t - self.phase_time < g.close_time:
                return Twist()
            self.lift_from = float(position[2])
            self._enter(ServoState.LIFT, t)
        if self.state is ServoState.LIFT:
            if position[2] - self.lift_from >= g.lift_height - 1e-6:
                self._enter(ServoState.DONE, t)
            else:
                return Twist((0.0, 0.0, g.lift_speed), 0.0)
        return Twist()
