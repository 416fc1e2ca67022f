"""Optional temporal tracking of the published grasp target (ROS-free).

Frame-by-frame the best pixel of a grasp network can jump between objects or between two ends
of one object of nearly equal quality, which makes a closed-loop controller chase it (GG-CNN's
controller tracks the target for that reason). :class:`GraspTracker` keeps the previous target
position and, among this frame's candidates (best first), prefers the best one within
``radius`` metres of it -- unless the overall best is better by more than ``switch_margin`` in
quality. A target not seen for ``timeout`` seconds is forgotten.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np


class GraspTracker:
    """Chooses the target among candidate grasps, keeping the previous one when sensible."""

    def __init__(self, radius: float = 0.03, switch_margin: float = 0.1,
                 timeout: float = 1.0) -> None:
        if radius < 0 or switch_margin < 0 or timeout < 0:
            raise ValueError('radius, switch_margin and timeout must be non-negative')
        self.radius = float(radius)
        self.switch_margin = float(switch_margin)
        self.timeout = float(timeout)
        self.position: Optional[np.ndarray] = None
        self.stamp: Optional[float] = None

    def reset(self) -> None:
        """Forget the target."""
        self.position = None
        self.stamp = None

    def select(self, candidates: Sequence[Tuple[Sequence[float], float]], stamp: float) -> int:
        """Index of the target among ``(position, quality)`` candidates; -1 if there are none.

        ``stamp`` is the frame time in seconds; a frame older than the last one (a jump back in
        time, e.g. a replayed bag) resets the tracker.
        """
        if not candidates:
            return -1
        positions = np.asarray([c[0] for c in candidates], dtype=np.float64).reshape(-1, 3)
        qualities = np.asarray([c[1] for c in candidates], dtype=np.float64)
        best = int(np.argmax(qualities))
        choice = best
        if self.position is not None and self.stamp is not None:
            age = stamp - self.stamp
            if age < 0 or age > self.timeout:
                self.reset()
        if self.position is not None:
            distances = np.linalg.norm(positions - self.position, axis=1)
            near = np.flatnonzero(distances <= self.radius)
            if near.size:
                tracked = int(near[np.argmax(qualities[near])])
                if qualities[best] <= qualities[tracked] + self.switch_margin:
                    choice = tracked
        self.position = positions[choice].copy()
        self.stamp = float(stamp)
        return choice
