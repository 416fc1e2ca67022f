"""A free-flying parallel-jaw gripper with an RGB camera on its wrist, over a table (no ROS).

The eye-in-hand rig of closed-loop grasping (issue 13): a :class:`WristRig` holds a
:class:`~simulation.tabletop.SimulatedScene` (table top at z = 0, held-out objects dropped in
the home view), the two-finger gripper of :mod:`simulation.gripper` (10 cm fingers, 20 N, the
grasp trial's close) and a camera rigidly attached to it. The gripper is *kinematic*, as an arm
under a Cartesian velocity controller: :meth:`WristRig.step` integrates a :class:`Twist`
(clipped to :class:`RigLimits`), teleports the gripper along the straight line
through the physics steps of ``dt`` and steps the physics, so objects it runs into are pushed
out of it (not a force-limited arm: it never stops on contact), but a grasped object is not
carried by it; :meth:`WristRig.lift` moves the fingers with the gripper's motorised lift joint,
so a grasped object comes along. The gripper has no visual shapes: the camera never sees its
own fingers.

Frames (world = ``base_link``, REP 103: x forward, y left, z up, metres):

* **tool frame** (``gripper_tool``): origin at the fingertip centre, midway between the
  fingers; x = closing axis, z = approach (out of the flange, into the object), y = z x x. It
  is the README's grasp pose convention, so a grasp from ``~/detections`` and the tool pose
  compare directly. The rig keeps it top-down: z = world -z, turned by ``yaw`` (rad) about
  world z (yaw 0: x = world +x, y = world -y). :mod:`simulation.gripper`'s frame has the same x
  with y and z flipped (z up), i.e. ``Rz(yaw)``.
* **camera optical frame** (REP 103 optical: x right, y down, z along the view), at the fixed
  :class:`CameraMount` pose in the tool frame; by default 10 cm behind the fingertips along
  the approach and 5 cm to the side (tool y), looking along the approach with image right =
  the closing axis (at yaw 0 the image is the fixed camera's: right = world +x, up = world +y).

Rendering is :class:`~simulation.camera.SimCamera` (the exact pinhole model of TinyRenderer)
posed at the wrist, by default through :class:`~simulation.fast_render.CompositeRenderer`
(``RigConfig.renderer``; the same pixels as TinyRenderer on the whole scene). Measured on this
2-core machine, one object in view, with shadows: 640x480 18-30 ms (the whole scene 140-160
ms), 320x240 8-12 ms (36-41 ms); docs/closed_loop.md has the numbers and commands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math
from typing import Optional, Sequence, Tuple

import numpy as np
from scipy.spatial.transform import Rotation

from mtg_grasp_ros.transforms import RigidTransform
from simulation.camera import SimCamera
from simulation.grasp_execution import DEFAULT_JAW_SIZE, DEFAULT_MAX_OPENING, MIN_TIP_HEIGHT
from simulation.gripper import (ARM_FORCE, LEFT, LIFT, LIFT_HEIGHT, LIFT_TIME, ParallelGripper,
                                RIGHT)
from simulation.scene import Render, TIME_STEP
from simulation.tabletop import DEFAULT_OBJECT_SIZE, SimulatedScene

#: The gripper frame of :mod:`simulation.gripper` (z up) in the tool frame (z down): Rx(pi).
_TOOL_TO_GRIPPER = np.diag([1.0, -1.0, -1.0])
#: Parking slot of the rig's gripper (the generator uses 0-2, the benchmark 7).
PARK_SLOT = 8


@dataclass(frozen=True)
class Twist:
    """A Cartesian velocity command in the world (``base_link``) frame: ``linear`` (vx, vy,
    vz) m/s of the tool frame's origin, ``yaw_rate`` rad/s about world z."""

    linear: Tuple[float, float, float] = (0.0, 0.0, 0.0)
    yaw_rate: float = 0.0

    def __post_init__(self) -> None:
        linear = tuple(float(v) for v in self.linear)
        if len(linear) != 3 or not all(math.isfinite(v) for v in linear + (self.yaw_rate,)):
            raise ValueError(f'twist needs 3 finite linear values and a finite yaw rate: {self}')
        object.__setattr__(self, 'linear', linear)
        object.__setattr__(self, 'yaw_rate', float(self.yaw_rate))


@dataclass(frozen=True)
class RigLimits:
    """Speed limits and the workspace of the tool frame's origin (world frame).

    ``max_linear``: the linear speed's norm is scaled down to this (m/s, direction kept);
    ``max_yaw_rate``: rad/s, clipped; ``lower``/``upper``: the workspace box (m); the origin
    (the fingertips) is held inside it, by default never lower than MIN_TIP_HEIGHT above the
    table. Raises ValueError for non-positive limits or an empty box.
    """

    max_linear: float = 0.25
    max_yaw_rate: float = 1.5
    lower: Tuple[float, float, float] = (-0.4, -0.4, MIN_TIP_HEIGHT)
    upper: Tuple[float, float, float] = (0.4, 0.4, 0.6)

    def __post_init__(self) -> None:
        if self.max_linear <= 0 or self.max_yaw_rate <= 0:
            raise ValueError('max_linear and max_yaw_rate must be > 0')
        if not all(lo < hi for lo, hi in zip(self.lower, self.upper)):
            raise ValueError(f'empty workspace {self.lower} .. {self.upper}')

    def clip(self, twist: Twist) -> Twist:
        """``twist`` within the speed limits."""
        linear = np.asarray(twist.linear)
        speed = float(np.linalg.norm(linear))
        if speed > self.max_linear:
            linear = linear * (self.max_linear / speed)
        return Twist(tuple(linear), float(np.clip(twist.yaw_rate, -self.max_yaw_rate,
                                                  self.max_yaw_rate)))


@dataclass(frozen=True)
class CameraMount:
    """The camera optical frame in the tool frame: ``xyz`` (m) and ``rpy`` (rad, tf2 setRPY).

    Default: 10 cm behind the fingertips (tool -z) and 5 cm along tool y, looking along the
    approach, image right = closing axis (see the module docstring).
    """

    xyz: Tuple[float, float, float] = (0.0, 0.05, -0.10)
    rpy: Tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def transform(self) -> RigidTransform:
        """``p_tool = transform.apply(p_optical)``."""
        return RigidTransform.from_xyz_rpy(self.xyz, self.rpy)


@dataclass(frozen=True)
class RigConfig:
    """Everything a :class:`WristRig` is built from.

    Camera: ``width``, ``height`` (px), ``fov_deg`` (vertical; 42: an RGB-D wrist camera's colour
    imager), ``near`` (m), ``mount``. Gripper: ``jaw_size``, ``max_opening`` (m), ``limits``,
    the home pose ``start_xyz`` (tool origin, m) and ``start_yaw`` (rad). Scene:
    ``object_ids`` (held-out catalogue indices; empty: a seeded random one), ``object_size``
    (largest side, m), ``seed``, ``shadows``, ``table`` ('plain' or 'textured'), ``renderer``
    ('composite': :mod:`simulation.fast_render`, the same images as 'reference', TinyRenderer
    on the whole scene, 4-8x faster).
    """

    width: int = 640
    height: int = 480
    fov_deg: float = 42.0
    near: float = 0.02
    mount: CameraMount = field(default_factory=CameraMount)
    jaw_size: float = DEFAULT_JAW_SIZE
    max_opening: float = DEFAULT_MAX_OPENING
    limits: RigLimits = field(default_factory=RigLimits)
    start_xyz: Tuple[float, float, float] = (0.0, 0.0, 0.35)
    start_yaw: float = 0.0
    object_ids: Sequence[int] = ()
    object_size: Tuple[float, float] = DEFAULT_OBJECT_SIZE
    seed: int = 0
    shadows: bool = True
    table: str = 'plain'
    renderer: str = 'composite'


@dataclass(frozen=True)
class WristFrame:
    """One rendered wrist view: ``render`` (RGB (H, W, 3) uint8, optical depth (H, W) float32
    m, segmentation (H, W) body ids), the ``camera`` it was rendered with (intrinsics and its
    pose in the world), the ``tool`` pose (world <- tool) and the rig's simulated ``time`` (s)."""

    render: Render
    camera: SimCamera
    tool: RigidTransform
    time: float

    @property
    def rgb(self) -> np.ndarray:
        """The colour image, (H, W, 3) uint8."""
        return self.render.rgb


def tool_rotation(yaw: float) -> np.ndarray:
    """The top-down tool frame (3x3, columns = its axes in the world) turned by ``yaw``."""
    return Rotation.from_euler('xz', [math.pi, float(yaw)]).as_matrix()


class WristRig:
    """The rig of the module docstring, built from a :class:`RigConfig`; objects dropped and
    settled, the gripper open at the home pose. Raises ValueError for a bad configuration
    (object ids, sizes), RuntimeError when pybullet cannot start. Not thread-safe; use as a
    context manager or call :meth:`shutdown`."""

    def __init__(self, config: Optional[RigConfig] = None) -> None:
        self.config = config or RigConfig()
        c = self.config
        self.mount = c.mount.transform
        self.position = np.asarray(c.start_xyz, dtype=np.float64)
        self.yaw = float(c.start_yaw)
        self.time = 0.0
        self._debt = 0.0  # simulated time not yet stepped (less than one physics step)
        self.scene = SimulatedScene(self.camera(), objects=1, object_ids=c.object_ids,
                                    object_size=c.object_size, seed=c.seed,
                                    shadows=c.shadows, table=c.table, renderer=c.renderer)
        self.gripper = ParallelGripper(self.scene.world, c.jaw_size, park_slot=PARK_SLOT,
                                       max_opening=c.max_opening)
        self.reset()

    def __enter__(self) -> 'WristRig':
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()

    def shutdown(self) -> None:
        """Disconnect pybullet."""
        self.scene.close()

    def reset(self) -> None:
        """New objects dropped and settled in the home camera's view; the gripper open at the
        home pose; time 0."""
        c = self.config
        self.position = np.asarray(c.start_xyz, dtype=np.float64)
        self.yaw, self.time, self._debt = float(c.start_yaw), 0.0, 0.0
        self.gripper.park()
        self.scene.camera = self.camera()
        self.scene.reset()
        self.open()

    # Poses ------------------------------------------------------------------------------------

    def tool_pose(self) -> RigidTransform:
        """The tool frame in the world: ``p_world = tool_pose().apply(p_tool)``."""
        return RigidTransform(tool_rotation(self.yaw), self.position)

    def camera_pose(self) -> RigidTransform:
        """The camera optical frame in the world: ``tool_pose() @ mount``."""
        return self.tool_pose() @ self.mount

    def camera(self) -> SimCamera:
        """The render camera at the current camera pose."""
        c, pose = self.config, self.camera_pose()
        return SimCamera(width=c.width, height=c.height, fov_deg=c.fov_deg, near=c.near,
                         xyz=tuple(pose.translation), rotation=pose.rotation)

    def _move_gripper(self, position: np.ndarray, yaw: float) -> None:
        self.gripper.move_to(position, tool_rotation(yaw) @ _TOOL_TO_GRIPPER)

    # Motion -----------------------------------------------------------------------------------

    def step(self, dt: float, twist: Twist = Twist()) -> Twist:
        """Apply ``twist`` (world frame, clipped to the limits) for ``dt`` seconds: the tool
        moves in a straight line at constant speed, the physics steps in between (whole
        TIME_STEP steps; the remainder carries over to the next call). The origin stays in the
        workspace box. Returns the twist actually applied (after the clipping and the box).
        Raises ValueError for ``dt`` < 0."""
        if dt < 0:
            raise ValueError(f'dt must be >= 0, got {dt}')
        if dt == 0:
            return Twist()
        limits = self.config.limits
        cmd = limits.clip(twist)
        start, yaw0 = self.position.copy(), self.yaw
        end = np.clip(start + np.asarray(cmd.linear) * dt, limits.lower, limits.upper)
        yaw1 = yaw0 + cmd.yaw_rate * dt
        self._debt += dt
        steps = int(self._debt / TIME_STEP + 1e-9)
        self._debt -= steps * TIME_STEP
        for k in range(1, steps + 1):
            f = k / steps
            self._move_gripper(start + f * (end - start), yaw0 + f * (yaw1 - yaw0))
            self.scene.world.step()
        self.position, self.yaw = end, math.remainder(yaw1, 2 * math.pi)
        self._move_gripper(self.position, self.yaw)
        self.time += dt
        return Twist(tuple((end - start) / dt), cmd.yaw_rate)

    def render(self) -> WristFrame:
        """The wrist camera's view now (the scene's camera follows the wrist)."""
        camera = self.camera()
        self.scene.camera = camera
        return WristFrame(render=self.scene.render(), camera=camera, tool=self.tool_pose(),
                          time=self.time)

    # Gripper hooks (for the controller of later parts) ----------------------------------------

    def open(self, opening: Optional[float] = None) -> None:
        """Open the fingers to ``opening`` m (default the widest) at once. ValueError outside
        (0, max_opening]."""
        opening = self.config.max_opening if opening is None else float(opening)
        self.gripper.place(self.position, tool_rotation(self.yaw) @ _TOOL_TO_GRIPPER, opening)

    def close(self) -> float:
        """Close the fingers where the gripper is (:meth:`ParallelGripper.close`: force- and
        speed-limited, until they stall or shut; the physics runs meanwhile, the rig's time
        advances). Returns the finger gap (m) where they stopped."""
        steps = self.gripper.close()
        self.time += steps * TIME_STEP
        return self.gripper.opening()

    def lift(self, height: float = LIFT_HEIGHT, speed: float = LIFT_HEIGHT / LIFT_TIME) -> float:
        """Lift the gripper straight up ``height`` m (at most to the workspace's top) at
        ``speed`` m/s with its motorised lift joint, as the grasp trial does: unlike
        :meth:`step` (kinematic), the fingers move dynamically, so a grasped object comes along.
        The rig's time advances. Returns the height actually risen (m)."""
        p, c, body = self.scene.p, self.scene.client, self.gripper.body
        height = max(0.0, min(float(height), self.config.limits.upper[2] - self.position[2]))
        p.setJointMotorControl2(body, LIFT, p.POSITION_CONTROL, targetPosition=height,
                                force=ARM_FORCE, maxVelocity=float(speed), physicsClientId=c)
        steps = int(round(height / float(speed) / TIME_STEP)) + 12
        self.scene.world.step(steps)
        self.time += steps * TIME_STEP
        risen = float(p.getJointState(body, LIFT, physicsClientId=c)[0])
        # Fold the joint's travel into the gripper's pose: the fingers stay where they are.
        self.position = self.position + np.array([0.0, 0.0, risen])
        self._move_gripper(self.position, self.yaw)
        p.resetJointState(body, LIFT, 0.0, 0.0, physicsClientId=c)
        p.setJointMotorControl2(body, LIFT, p.POSITION_CONTROL, targetPosition=0.0,
                                force=ARM_FORCE, physicsClientId=c)
        return risen

    def holding(self, body: Optional[int] = None) -> bool:
        """Whether ``body`` (default: the first object) touches both fingers."""
        body = self.scene.objects[0].body if body is None else int(body)
        return self.gripper.touches(body, LEFT) and self.gripper.touches(body, RIGHT)
