"""Dynamic scenes for the closed-loop trial: the object pushed and turned during the approach.

A :class:`Disturbance` is the seeded *specification* (ranges); :meth:`Disturbance.draw` turns it
into one concrete :class:`Push` (start trigger, shift, turn); an :class:`ObjectPush` applies a
push to an object of a :class:`~simulation.tabletop.SimulatedScene` as a **smooth motion**: once
triggered, every call of :meth:`ObjectPush.update` (the trial calls it at every control step)
sets the object's pose along a smoothstep profile over ``duration`` s, so the wrist frames see
it slide and turn, not jump. The object keeps resting on the table: it slides in the table's
plane and turns about the vertical through its footprint centre (as
:meth:`SimulatedScene.move`), its height and tilt unchanged.

Trigger: the push starts at the drawn time (s of the trial) or, earlier, as soon as the tool
(fingertips) is below the drawn height above the table, whichever comes first, and only while
the servo approaches (the final descent freezes the target: a push then is not a re-planning
test). World frame ``base_link``, metres, radians, seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Optional, Tuple

import numpy as np

#: Salt of the push's random generator: a push depends only on (seed, stream, Disturbance).
PUSH_SEED = 0xD157

Range = Tuple[float, float]


def _check_range(name: str, value: Range, low: float = 0.0) -> None:
    if len(value) != 2 or not low <= value[0] <= value[1] or not math.isfinite(value[1]):
        raise ValueError(f'{name} must be a range ({low} <=) lo <= hi, got {value}')


@dataclass(frozen=True)
class Push:
    """One drawn push: starts at ``start_time`` s or when the tool is below ``start_height``
    m above the table; shifts the object by ``shift`` (dx, dy) m and turns it by ``turn`` rad
    (signed) about the vertical, over ``duration`` s."""

    start_time: float
    start_height: float
    shift: Tuple[float, float]
    turn: float
    duration: float

    @property
    def distance(self) -> float:
        """Length of the shift, m."""
        return float(math.hypot(*self.shift))

    def describe(self) -> str:
        """For logs: e.g. '48 mm, -32 deg over 0.4 s'."""
        return (f'{self.distance * 1000:.0f} mm, {math.degrees(self.turn):.0f} deg over '
                f'{self.duration:.1f} s')


@dataclass(frozen=True)
class Disturbance:
    """Ranges of a push, each (lo, hi), drawn uniformly: ``start_time`` (s after the trial's
    start), ``start_height`` (m, the tool's fingertips above the table), ``distance`` (m, in a
    uniformly random direction), ``angle_deg`` (degrees, random sign); ``duration`` (s) of the
    smooth motion. Raises ValueError for an empty or negative range or a non-positive
    duration."""

    start_time: Range = (0.5, 1.5)
    start_height: Range = (0.15, 0.20)
    distance: Range = (0.03, 0.06)
    angle_deg: Range = (20.0, 45.0)
    duration: float = 0.4

    def __post_init__(self) -> None:
        for name in ('start_time', 'start_height', 'distance', 'angle_deg'):
            _check_range(name, getattr(self, name))
        if not self.duration > 0:
            raise ValueError(f'duration must be > 0, got {self.duration}')

    def draw(self, seed: int, stream: int = 0) -> Push:
        """The push of a trial seeded ``seed``; ``stream``: a second key (the trial uses the
        object's catalogue index, so objects of one seed get different pushes). The same
        (seed, stream), the same push."""
        rng = np.random.default_rng([int(seed), int(stream), PUSH_SEED])
        heading = rng.uniform(0.0, 2.0 * math.pi)
        distance = rng.uniform(*self.distance)
        turn = math.radians(rng.uniform(*self.angle_deg)) * (1.0 if rng.random() < 0.5 else -1.0)
        return Push(start_time=float(rng.uniform(*self.start_time)),
                    start_height=float(rng.uniform(*self.start_height)),
                    shift=(distance * math.cos(heading), distance * math.sin(heading)),
                    turn=float(turn), duration=float(self.duration))


def smoothstep(s: float) -> float:
    """3 s^2 - 2 s^3 on [0, 1] (clipped): zero speed at both ends."""
    s = min(max(float(s), 0.0), 1.0)
    return s * s * (3.0 - 2.0 * s)


class ObjectPush:
    """Applies a :class:`Push` to ``obj`` (a :class:`~simulation.tabletop.SimObject` of
    ``scene``) in steps of :meth:`SimulatedScene.move`. Attributes: ``started`` /
    ``finished`` (trial time, s, or None) and ``done`` (the share of the push applied)."""

    def __init__(self, scene, obj, push: Push) -> None:
        self.scene, self.obj, self.push = scene, obj, push
        self.started: Optional[float] = None
        self.finished: Optional[float] = None
        self.done = 0.0

    @property
    def moving(self) -> bool:
        """Started and not yet finished."""
        return self.started is not None and self.finished is None

    def update(self, t: float, tool_height: float, approaching: bool = True) -> bool:
        """Advance to trial time ``t`` (s) with the tool's fingertips ``tool_height`` m above
        the table; ``approaching``: whether the push may still start. Returns whether the
        object moved."""
        push = self.push
        if self.started is None:
            if not approaching or (t < push.start_time and tool_height > push.start_height):
                return False
            self.started = float(t)
        if self.finished is not None:
            return False
        s = (t - self.started) / push.duration
        fraction = smoothstep(s)
        step = fraction - self.done
        self.scene.move(self.obj, (step * push.shift[0], step * push.shift[1]),
                        step * push.turn)
        self.done = fraction
        if s >= 1.0:
            self.finished = float(t)
        return True
