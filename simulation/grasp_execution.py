"""Executing a top-down grasp like a robot: guarded descent, close, lift, shake, held or not.

The grasp trial of :mod:`simulation.gripper` labels data: it puts the gripper straight at the
grasp pose and rejects any pose that penetrates something. A robot cannot do that: it moves
the open gripper down from above and stops where it touches something. This module executes a
:class:`WorldGrasp` that way, in a :class:`~simulation.scene.Scene` holding one or many objects
(world frame: z up, metres, table top at z = 0):

1. **open** the gripper to the grasp's opening, clipped to ``[MIN_OPENING, max_opening]``
   (default :data:`DEFAULT_MAX_OPENING`, 12 cm) and turn it to the grasp's yaw (closing axis
   about world z);
2. **guarded descent**: start with the fingertips ``START_CLEARANCE`` above the highest body in
   the scene and move straight down in ``DESCENT_STEP`` (2 mm) steps, each checked with
   ``getClosestPoints`` against every object and the table; stop at the commanded fingertip
   height ``z`` or at first contact, whichever comes first (the contact is then found to
   ``DESCENT_TOLERANCE`` by bisection and the gripper waits just above it). The descent is
   kinematic, as with a force-guarded robot: nothing is pushed on the way down;
3. **close**, **lift** 10 cm, **shake** and **hold** with the trial's motions and constants
   (:mod:`simulation.gripper`: grip force, speeds, ``CLOSE_TIME``, ``LIFT_HEIGHT``, ...);
4. **success test** (the trial's, for any object): an object is *lifted* when its centre of
   mass rose at least ``SUCCESS_RISE`` (5 cm), it no longer touches the table and it touches a
   finger; the grasp succeeds when the lifted objects touch both fingers. Otherwise the reason
   is ``empty`` (closed on nothing), ``dropped`` (nothing left between the fingers during the
   lift, or nothing off the table at the end) or ``slipped`` (hanging on one finger).

The gripper is parked again afterwards; lifted objects stay where the lift left them, in the
air (the caller removes them, :mod:`simulation.clearance`) and the others fall back when the
scene is next stepped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from scipy.spatial.transform import Rotation

from simulation.gripper import LEFT, MIN_HELD_OPENING, ParallelGripper, RIGHT, SUCCESS_RISE
from simulation.scene import Scene

#: The widest opening (m) of the benchmark's gripper (the outside harness's 12 cm).
DEFAULT_MAX_OPENING = 0.12
#: Jaw size (m) across the closing axis.
DEFAULT_JAW_SIZE = 0.02
#: A commanded opening is never narrower than this (m): a finger gap the gripper can open.
MIN_OPENING = 0.01
#: Fingertips start this far (m) above the highest body of the scene.
START_CLEARANCE = 0.02
#: Descent step (m) and the precision (m) to which the first contact is then found.
DESCENT_STEP = 0.002
DESCENT_TOLERANCE = 0.0005
#: The fingertips never go lower than this (m) above the table.
MIN_TIP_HEIGHT = 0.003
#: Parking slot of the benchmark gripper (the generator's grippers use slots 0-2).
PARK_SLOT = 7


@dataclass(frozen=True)
class WorldGrasp:
    """A top-down grasp in the world frame (z up, m, table top at z = 0).

    ``x``, ``y``: grasp centre (m); ``yaw``: direction of the closing axis about world z
    (rad); ``opening``: gap between the fingers before closing (m); ``z``: commanded height of
    the fingertip centre above the table (m), where the descent ends unless it touches
    something first; ``quality``: the planner's score (NaN when it has none).
    """

    x: float
    y: float
    yaw: float
    opening: float
    z: float
    quality: float = math.nan

    def rotation(self) -> np.ndarray:
        """Gripper frame (3x3; columns: closing axis, across the jaws, up) in the world."""
        return Rotation.from_euler('z', self.yaw).as_matrix()

    def to_dict(self) -> dict:
        """JSON-friendly fields (m, rad)."""
        return {'x': round(self.x, 5), 'y': round(self.y, 5), 'yaw': round(self.yaw, 4),
                'opening': round(self.opening, 5), 'z': round(self.z, 5),
                'quality': None if math.isnan(self.quality) else round(self.quality, 4)}


@dataclass
class ExecutionResult:
    """Outcome of one executed grasp.

    ``success``; ``reason``: success, empty, dropped or slipped; ``lifted``: body ids of the
    lifted objects (see the module docstring); ``touched``: body ids touching a finger after the
    close; ``stop_z``: fingertip height where the descent stopped (m); ``stopped_on``: body id
    the descent touched first (None when it reached the commanded height); ``opening``: the
    opening used (m) and ``clipped``: whether the commanded one was outside the gripper's
    range; ``steps``: simulation steps.
    """

    success: bool
    reason: str
    lifted: List[int] = field(default_factory=list)
    touched: List[int] = field(default_factory=list)
    stop_z: float = math.nan
    stopped_on: Optional[int] = None
    opening: float = math.nan
    clipped: bool = False
    steps: int = 0


class GraspExecutor:
    """Executes :class:`WorldGrasp` s in ``world`` (see the module docstring) with its own
    gripper (``jaw_size``, ``max_opening`` in m). Raises ValueError for ``max_opening`` below
    MIN_OPENING. Not thread-safe (one pybullet client)."""

    def __init__(self, world: Scene, max_opening: float = DEFAULT_MAX_OPENING,
                 jaw_size: float = DEFAULT_JAW_SIZE) -> None:
        if max_opening < MIN_OPENING:
            raise ValueError(f'max_opening must be >= {MIN_OPENING} m, got {max_opening}')
        self.world = world
        self.max_opening = float(max_opening)
        self.gripper = ParallelGripper(world, jaw_size, park_slot=PARK_SLOT,
                                       max_opening=max_opening)

    # The descent ------------------------------------------------------------------------------

    def _first_contact(self, bodies: Sequence[int]) -> Optional[int]:
        """The first of ``bodies`` the gripper touches or penetrates where it is, else None."""
        p, c = self.world.p, self.world.client
        for body in bodies:
            if p.getClosestPoints(self.gripper.body, body, 0.0, physicsClientId=c):
                return body
        return None

    def _place_at(self, grasp: WorldGrasp, z: float, opening: float) -> None:
        self.gripper.place((grasp.x, grasp.y, z), grasp.rotation(), opening)

    def descend(self, grasp: WorldGrasp, bodies: Sequence[int], opening: float
                ) -> Tuple[float, Optional[int]]:
        """Guarded descent over ``bodies`` (objects; the table is added): returns the fingertip
        height (m) where the open gripper stops and the body it touched (None: it reached the
        commanded height). The gripper is left there."""
        obstacles = [int(b) for b in bodies] + [self.world.table]
        top = max(float(self.world.aabb(b)[1][2]) for b in obstacles)
        target = max(float(grasp.z), MIN_TIP_HEIGHT)
        free = max(top + START_CLEARANCE, target)
        self._place_at(grasp, free, opening)
        hit = self._first_contact(obstacles)
        if hit is not None:  # touching something up there already: no room to descend
            return free, hit
        steps = int(math.ceil((free - target) / DESCENT_STEP))
        for i in range(1, steps + 1):
            z = max(free - DESCENT_STEP, target) if i < steps else target
            self._place_at(grasp, z, opening)
            hit = self._first_contact(obstacles)
            if hit is None:
                free = z
                continue
            low = z  # in contact at `low`, free at `free`: bisect to the first contact
            while free - low > DESCENT_TOLERANCE:
                mid = (free + low) / 2.0
                self._place_at(grasp, mid, opening)
                touched = self._first_contact(obstacles)
                if touched is None:
                    free = mid
                else:
                    low, hit = mid, touched
            self._place_at(grasp, free, opening)
            return free, hit
        return free, None

    # The execution ----------------------------------------------------------------------------

    def execute(self, grasp: WorldGrasp, bodies: Sequence[int]) -> ExecutionResult:
        """Open, descend, close, lift, shake and hold (see the module docstring); ``bodies``:
        the object body ids in the scene. The gripper is parked afterwards."""
        opening = float(np.clip(grasp.opening, MIN_OPENING, self.max_opening))
        clipped = not MIN_OPENING <= grasp.opening <= self.max_opening
        try:
            stop_z, stopped_on = self.descend(grasp, bodies, opening)
            result = self._close_and_lift([int(b) for b in bodies])
        finally:
            self.gripper.park()
        result.stop_z, result.stopped_on = float(stop_z), stopped_on
        result.opening, result.clipped = opening, clipped
        return result

    def _touching(self, bodies: Sequence[int], link: int) -> List[int]:
        return [b for b in bodies if self.gripper.touches(b, link)]

    def _close_and_lift(self, bodies: List[int]) -> ExecutionResult:
        world, gripper = self.world, self.gripper
        p, c = world.p, world.client
        steps = gripper.close()
        touched = sorted(set(self._touching(bodies, LEFT) + self._touching(bodies, RIGHT)))
        if gripper.opening() < MIN_HELD_OPENING or not touched:
            return ExecutionResult(False, 'empty', touched=touched, steps=steps)
        start: Dict[int, float] = {
            b: p.getBasePositionAndOrientation(b, physicsClientId=c)[0][2] for b in bodies}
        held, lift_steps = gripper.lift_and_shake(
            lambda: bool(self._touching(bodies, LEFT) or self._touching(bodies, RIGHT)))
        steps += lift_steps
        if not held:
            return ExecutionResult(False, 'dropped', touched=touched, steps=steps)
        lifted = [b for b in bodies
                  if p.getBasePositionAndOrientation(b, physicsClientId=c)[0][2] - start[b]
                  >= SUCCESS_RISE
                  and not p.getContactPoints(b, world.table, physicsClientId=c)
                  and (gripper.touches(b, LEFT) or gripper.touches(b, RIGHT))]
        if not lifted:
            return ExecutionResult(False, 'dropped', touched=touched, steps=steps)
        both = (any(gripper.touches(b, LEFT) for b in lifted)
                and any(gripper.touches(b, RIGHT) for b in lifted))
        if not both:
            return ExecutionResult(False, 'slipped', lifted=lifted, touched=touched, steps=steps)
        return ExecutionResult(True, 'success', lifted=lifted, touched=touched, steps=steps)
