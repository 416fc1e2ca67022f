"""A simulated parallel-jaw gripper and the grasp trial that labels Jacquard-style data.

Gripper poses come from image grasps through the render camera (:mod:`simulation.poses`); the
trial runs in a :class:`~simulation.scene.Scene` holding the object.

The gripper (built in code with ``createMultiBody``, one per jaw size):

* a fixed, massless base placed at the grasp pose; its frame is the *gripper frame*: origin
  between the fingertips, x = closing axis, y = across the jaws, z = back along the approach
  (towards the camera, i.e. up);
* link 0, the palm: a 2 cm box 6 cm above the tips, on a prismatic joint along z (lift);
* link 1, a massless carriage on a prismatic joint along y (shake);
* links 2 and 3, the fingers: boxes ``FINGER_THICKNESS`` (1 cm) along x, ``jaw_size`` along y
  (Jacquard's h: 1, 2 or 3 cm) and ``FINGER_LENGTH`` (6 cm) along z, on prismatic joints along
  x. Opening (the gap between the inner faces, Jacquard's w) from 0 to ``MAX_OPENING``
  (10 cm). Friction 1.0 (rubber pads), position-controlled with a force limit of
  ``GRIP_FORCE`` (20 N) per finger, closing at ``CLOSE_SPEED`` (0.2 m/s).

The trial (:meth:`ParallelGripper.trial`), from the scene state saved after the object settled:

1. restore the saved state (``restoreState``: object back at rest, no left-over contacts);
2. place the open gripper at the grasp pose: it approaches along the camera's optical axis, so
   the descent is not simulated but checked: the sampler has verified in the rendered depth
   image that the swept finger volume is free, and here ``getClosestPoints`` rejects any pose
   whose fingers or palm penetrate the object or the table by more than 1 mm ("collision");
3. close the fingers (at most ``CLOSE_TIME``); the finger gap where they stop is the trial's
   *contact width* (m, :attr:`TrialResult.contact_width`: the object's extent between the
   fingers at the grasp, what a label's opening needs); if they close to under 2 mm or touch
   nothing, the grasp missed ("empty");
4. lift ``LIFT_HEIGHT`` (10 cm) along the gripper's z in ``LIFT_TIME``;
5. shake: one sinusoidal cycle of +-``SHAKE_AMPLITUDE`` (2 cm) across the jaws in
   ``SHAKE_TIME`` (peak acceleration ~0.9 g), then hold ``HOLD_TIME``;
6. success test: the object's centre of mass has risen at least ``SUCCESS_RISE`` (5 cm, half
   the lift), it touches both fingers (it is still between them, not balanced on one) and it
   no longer touches the table. (Not "its lowest point is 5 cm up": a long object held at one
   end hangs lower than that and is still a good grasp; measured, that rule failed ~60% of the
   trials that ended with the object held in the air.) During the lift and shake the contacts
   are checked every ``CHECK_EVERY`` steps and a trial whose object has left both fingers stops
   at once ("dropped").

Everything is in seconds of simulated time; at the scene's 1/240 s step a full trial is ~230
steps, measured 6-9 ms of CPU on random_urdfs objects (a miss stops after the close, a drop at
the next contact check).
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Callable, Sequence, Tuple

import numpy as np
from scipy.spatial.transform import Rotation

from simulation.scene import Scene, TIME_STEP

FINGER_THICKNESS = 0.01
FINGER_LENGTH = 0.06
PALM_HEIGHT = 0.02
MAX_OPENING = 0.10
#: Jaw sizes (m) the generator draws from; one gripper model is built for each.
JAW_SIZES = (0.01, 0.02, 0.03)
GRIP_FORCE = 20.0
CLOSE_SPEED = 0.2
FINGER_FRICTION = 1.0
PALM_MASS = 0.3
FINGER_MASS = 0.05
#: Force limit of the lift and shake joints: the arm is far stronger than the grip.
ARM_FORCE = 500.0

CLOSE_TIME = 0.3
LIFT_HEIGHT = 0.10
LIFT_TIME = 0.25
SHAKE_AMPLITUDE = 0.02
SHAKE_TIME = 0.3
HOLD_TIME = 0.1
SUCCESS_RISE = 0.05
CHECK_EVERY = 8
#: Closed tighter than this (m) means nothing was between the fingers.
MIN_HELD_OPENING = 0.002
#: Penetration (m) tolerated when the gripper is placed (contact margins, mesh tolerance).
PLACE_TOLERANCE = 0.001
#: Where unused grippers wait: far from the scene and behind any camera looking down on it,
#: each at its own spot (``PARK_SPACING`` apart). Parked together they would collide with each
#: other on every step: measured, that made a step 45x slower (450 us instead of 10 us).
PARK_POSITION = (50.0, 50.0, 50.0)
PARK_SPACING = 1.0

# Joint indices of the multibody.
LIFT, SHAKE, LEFT, RIGHT = 0, 1, 2, 3


@dataclass(frozen=True)
class TrialResult:
    """Outcome of one grasp trial: ``reason`` is success, collision, empty, dropped or slipped.

    ``contact_width`` (m): the finger gap when the close stopped (on the object, or under
    ``MIN_HELD_OPENING`` on nothing); 0.0 when the fingers never closed ("collision").
    """

    success: bool
    reason: str
    steps: int
    contact_width: float = 0.0


class ParallelGripper:
    """One two-finger gripper model in a :class:`Scene`: ``jaw_size`` (m) across the closing
    axis; ``park_slot`` picks its own parking spot (see PARK_POSITION); ``max_opening`` (m,
    default MAX_OPENING) the widest gap, which also sizes the palm."""

    def __init__(self, scene: Scene, jaw_size: float, park_slot: int = 0,
                 max_opening: float = MAX_OPENING) -> None:
        self.scene = scene
        self.jaw_size = float(jaw_size)
        self.max_opening = float(max_opening)
        self.park_position = (PARK_POSITION[0] + PARK_SPACING * park_slot, *PARK_POSITION[1:])
        p, c = scene.p, scene.client
        half_jaw = self.jaw_size / 2.0
        palm_half_x = self.max_opening / 2.0 + FINGER_THICKNESS
        palm = p.createCollisionShape(
            p.GEOM_BOX, halfExtents=[palm_half_x, max(half_jaw, 0.01), PALM_HEIGHT / 2],
            collisionFramePosition=[0, 0, FINGER_LENGTH + PALM_HEIGHT / 2], physicsClientId=c)
        finger = p.createCollisionShape(
            p.GEOM_BOX, halfExtents=[FINGER_THICKNESS / 2, half_jaw, FINGER_LENGTH / 2],
            collisionFramePosition=[0, 0, FINGER_LENGTH / 2], physicsClientId=c)
        zero = [0.0, 0.0, 0.0]
        self.body = p.createMultiBody(
            baseMass=0.0, baseCollisionShapeIndex=-1, baseVisualShapeIndex=-1,
            basePosition=self.park_position,
            linkMasses=[PALM_MASS, 0.01, FINGER_MASS, FINGER_MASS],
            linkCollisionShapeIndices=[palm, -1, finger, finger],
            linkVisualShapeIndices=[-1, -1, -1, -1],
            linkPositions=[zero] * 4, linkOrientations=[[0, 0, 0, 1]] * 4,
            linkInertialFramePositions=[[0, 0, FINGER_LENGTH + PALM_HEIGHT / 2], zero,
                                        [0, 0, FINGER_LENGTH / 2], [0, 0, FINGER_LENGTH / 2]],
            linkInertialFrameOrientations=[[0, 0, 0, 1]] * 4,
            linkParentIndices=[0, 1, 2, 2],  # 0 is the base, i + 1 is link i
            linkJointTypes=[p.JOINT_PRISMATIC] * 4,
            linkJointAxis=[[0, 0, 1], [0, 1, 0], [1, 0, 0], [1, 0, 0]],
            physicsClientId=c)
        for link in (LEFT, RIGHT):
            p.changeDynamics(self.body, link, lateralFriction=FINGER_FRICTION,
                             physicsClientId=c)
        for link in range(4):
            p.changeDynamics(self.body, link, linearDamping=0.0, angularDamping=0.0,
                             jointDamping=0.0, physicsClientId=c)
        self.park()

    # Posing -----------------------------------------------------------------------------------

    def _set_joints(self, opening: float) -> None:
        p, c = self.scene.p, self.scene.client
        half = opening / 2.0 + FINGER_THICKNESS / 2.0
        for joint, value in ((LIFT, 0.0), (SHAKE, 0.0), (LEFT, -half), (RIGHT, half)):
            p.resetJointState(self.body, joint, value, 0.0, physicsClientId=c)
        # Hold everything where it is until the trial commands otherwise.
        for joint, value, force in ((LIFT, 0.0, ARM_FORCE), (SHAKE, 0.0, ARM_FORCE),
                                    (LEFT, -half, GRIP_FORCE), (RIGHT, half, GRIP_FORCE)):
            p.setJointMotorControl2(self.body, joint, p.POSITION_CONTROL, targetPosition=value,
                                    force=force, physicsClientId=c)

    def park(self) -> None:
        """Move the gripper out of the way (open, far above the scene)."""
        self.scene.p.resetBasePositionAndOrientation(self.body, self.park_position, (0, 0, 0, 1),
                                                     physicsClientId=self.scene.client)
        self._set_joints(self.max_opening)

    def place(self, position: Sequence[float], rotation: np.ndarray, opening: float) -> None:
        """Put the open gripper at a pose: ``rotation`` columns = closing, jaw, up axes (world)."""
        if not 0.0 < opening <= self.max_opening + 1e-9:
            raise ValueError(f'opening {opening:.4f} m outside (0, {self.max_opening}]')
        self.move_to(position, rotation)
        self._set_joints(opening)

    def move_to(self, position: Sequence[float], rotation: np.ndarray) -> None:
        """Teleport the gripper frame to a pose (``position`` (3,) m; ``rotation`` 3x3, columns
        = closing, jaw, up axes in the world), fingers and their motors left as they are (a
        held object stays between them)."""
        quaternion = Rotation.from_matrix(np.asarray(rotation, dtype=np.float64)).as_quat()
        self.scene.p.resetBasePositionAndOrientation(
            self.body, [float(v) for v in position], quaternion.tolist(),
            physicsClientId=self.scene.client)

    def collides(self, bodies: Sequence[int], tolerance: float = PLACE_TOLERANCE) -> bool:
        """Whether the gripper, where it is, penetrates any of ``bodies`` by over ``tolerance``."""
        p, c = self.scene.p, self.scene.client
        for body in bodies:
            for point in p.getClosestPoints(self.body, body, 0.0, physicsClientId=c):
                if point[8] < -tolerance:
                    return True
        return False

    def opening(self) -> float:
        """Current gap between the inner finger faces (m)."""
        p, c = self.scene.p, self.scene.client
        left = p.getJointState(self.body, LEFT, physicsClientId=c)[0]
        right = p.getJointState(self.body, RIGHT, physicsClientId=c)[0]
        return right - left - FINGER_THICKNESS

    def touches(self, body: int, link: int) -> bool:
        """Whether gripper link ``link`` (LIFT, SHAKE, LEFT or RIGHT) touches ``body``."""
        return bool(self.scene.p.getContactPoints(self.body, body, link, -1,
                                                  physicsClientId=self.scene.client))

    # The trial --------------------------------------------------------------------------------

    def trial(self, obj: int, position: Sequence[float], rotation: np.ndarray, opening: float,
              state_id: int = -1) -> TrialResult:
        """Run one grasp trial on body ``obj`` (see the module docstring); restores ``state_id``
        (a ``saveState`` id) first. ``position`` (3,) m and ``rotation`` (3x3, columns =
        closing, jaw, up axes) are the gripper frame in the world, ``opening`` (m) its initial
        gap; raises ValueError for an opening outside (0, max_opening].

        The gripper is parked again afterwards, so the next trial (or another gripper) starts
        from a clean scene.
        """
        scene = self.scene
        p, c = scene.p, scene.client
        if state_id >= 0:
            p.restoreState(stateId=state_id, physicsClientId=c)
        self.place(position, rotation, opening)
        try:
            return self._run(obj)
        finally:
            self.park()

    def close(self) -> int:
        """Drive both fingers to the centre, speed- and force-limited, until they stall (on an
        object) or shut (on nothing), at most ``CLOSE_TIME``; returns the simulation steps."""
        scene = self.scene
        p, c = scene.p, scene.client
        closed = FINGER_THICKNESS / 2.0
        for joint, target in ((LEFT, -closed), (RIGHT, closed)):
            p.setJointMotorControl2(self.body, joint, p.POSITION_CONTROL, targetPosition=target,
                                    force=GRIP_FORCE, maxVelocity=CLOSE_SPEED, physicsClientId=c)
        steps, still, last = 0, 0, self.opening()
        for _ in range(int(round(CLOSE_TIME / TIME_STEP))):
            scene.step()
            steps += 1
            now = self.opening()
            still = still + 1 if abs(now - last) < 1e-5 else 0
            last = now
            if now < MIN_HELD_OPENING or still >= 6:
                break
        return steps

    def lift_and_shake(self, holding: Callable[[], bool]) -> Tuple[bool, int]:
        """Lift ``LIFT_HEIGHT`` at constant speed along the gripper's z (back along the
        approach), shake across the jaws (one sine cycle of ``SHAKE_AMPLITUDE``, commanded
        every step) and hold. ``holding()`` is asked every ``CHECK_EVERY`` steps; the motion
        stops as soon as it is False. Returns ``(still holding, simulation steps)``."""
        scene = self.scene
        p, c = scene.p, scene.client
        p.setJointMotorControl2(self.body, LIFT, p.POSITION_CONTROL, targetPosition=LIFT_HEIGHT,
                                force=ARM_FORCE, maxVelocity=LIFT_HEIGHT / LIFT_TIME,
                                physicsClientId=c)
        lift_steps = int(round(LIFT_TIME / TIME_STEP)) + 6
        shake_steps = int(round(SHAKE_TIME / TIME_STEP))
        hold_steps = int(round(HOLD_TIME / TIME_STEP))
        for i in range(1, lift_steps + shake_steps + hold_steps + 1):
            k = i - lift_steps
            if 0 < k <= shake_steps:
                target = SHAKE_AMPLITUDE * math.sin(2 * math.pi * k / shake_steps)
                p.setJointMotorControl2(self.body, SHAKE, p.POSITION_CONTROL,
                                        targetPosition=target, force=ARM_FORCE,
                                        physicsClientId=c)
            scene.step()
            if i % CHECK_EVERY == 0 and not holding():
                return False, i
        return True, lift_steps + shake_steps + hold_steps

    def _run(self, obj: int) -> TrialResult:
        scene = self.scene
        p, c = scene.p, scene.client
        if self.collides((obj, scene.table)):
            return TrialResult(False, 'collision', 0)
        steps = self.close()
        width = self.opening()
        if width < MIN_HELD_OPENING or not (self.touches(obj, LEFT) or self.touches(obj, RIGHT)):
            return TrialResult(False, 'empty', steps, width)
        start = np.array(p.getBasePositionAndOrientation(obj, physicsClientId=c)[0])
        held, lift_steps = self.lift_and_shake(
            lambda: self.touches(obj, LEFT) or self.touches(obj, RIGHT))
        steps += lift_steps
        if not held:
            return TrialResult(False, 'dropped', steps, width)
        rise = p.getBasePositionAndOrientation(obj, physicsClientId=c)[0][2] - start[2]
        if rise < SUCCESS_RISE or p.getContactPoints(obj, scene.table, physicsClientId=c):
            return TrialResult(False, 'dropped', steps, width)
        if not (self.touches(obj, LEFT) and self.touches(obj, RIGHT)):
            return TrialResult(False, 'slipped', steps, width)
        return TrialResult(True, 'success', steps, width)


def build_grippers(scene: Scene, jaw_sizes: Sequence[float] = JAW_SIZES) -> dict:
    """One parked gripper per jaw size, keyed by jaw size (m)."""
    return {float(j): ParallelGripper(scene, j, slot) for slot, j in enumerate(jaw_sizes)}
