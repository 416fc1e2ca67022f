"""Optional temporal tracking of the published grasp target and the grasps' ids (ROS-free).

Frame-by-frame the best pixel of a grasp network can jump between objects or between two ends
of one object of nearly equal quality, which makes a closed-loop controller chase it (GG-CNN's
controller tracks the target for that reason). :class:`GraspTracker` keeps the previous target
position and, among this frame's candidates (best first), prefers the best one within
``radius`` metres of it -- unless the overall best is better by more than ``switch_margin`` in
quality. A target not seen for ``timeout`` seconds is forgotten.

It also numbers the candidates (:meth:`GraspTracker.track`): a candidate within ``radius`` of
one of the previous frame's keeps that one's id (each previous id goes to at most one
candidate, the better candidates choosing first), any other gets a new id. Ids are integers
counted up from 0 over the tracker's life and never reused; the ``~/detections`` ``id``.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np


class GraspTracker:
    """Chooses the target among candidate grasps, keeping the previous one when sensible.

    ``radius`` (m), ``switch_margin`` (quality) and ``timeout`` (s) are public attributes; a
    change takes effect at the next frame. Raises ValueError for a negative setting.
    """

    def __init__(self, radius: float = 0.03, switch_margin: float = 0.1,
                 timeout: float = 1.0) -> None:
        self.configure(radius, switch_margin, timeout)
        self.position: Optional[np.ndarray] = None
        self.stamp: Optional[float] = None
        self._next_id = 0
        self._tracks: List[Tuple[int, np.ndarray]] = []   # the last frame's (id, position)

    def configure(self, radius: float, switch_margin: float, timeout: float) -> None:
        """New settings (the target and the ids are kept); ValueError when one is negative."""
        if radius < 0 or switch_margin < 0 or timeout < 0:
            raise ValueError('radius, switch_margin and timeout must be non-negative')
        self.radius = float(radius)
        self.switch_margin = float(switch_margin)
        self.timeout = float(timeout)

    def reset(self) -> None:
        """Forget the target and the previous frame's ids (the id counter goes on)."""
        self.position = None
        self.stamp = None
        self._tracks = []

    def select(self, candidates: Sequence[Tuple[Sequence[float], float]], stamp: float) -> int:
        """Index of the target among ``(position, quality)`` candidates; -1 if there are none.

        ``stamp`` is the frame time in seconds; a frame older than the last one (a jump back in
        time, e.g. a replayed bag) resets the tracker.
        """
        return self.track(candidates, stamp)[0]

    def track(self, candidates: Sequence[Tuple[Sequence[float], float]],
              stamp: float) -> Tuple[int, List[int]]:
        """``(target index, id per candidate)``, as :meth:`select` and the module docstring."""
        if not candidates:
            return -1, []
        positions = np.asarray([c[0] for c in candidates], dtype=np.float64).reshape(-1, 3)
        qualities = np.asarray([c[1] for c in candidates], dtype=np.float64)
        best = int(np.argmax(qualities))
        choice = best
        if self.stamp is not None:
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
        ids = self._assign_ids(positions, qualities)
        self.position = positions[choice].copy()
        self.stamp = float(stamp)
        return choice, ids

    def _assign_ids(self, positions: np.ndarray, qualities: np.ndarray) -> List[int]:
        free = list(self._tracks)
        ids = [-1] * len(positions)
        for i in np.argsort(-qualities, kind='stable'):
            if free:
                distances = [float(np.linalg.norm(positions[i] - p)) for _, p in free]
                j = int(np.argmin(distances))
                if distances[j] <= self.radius:
                    ids[i] = free.pop(j)[0]
                    continue
            ids[i] = self._next_id
            self._next_id += 1
        self._tracks = [(ids[i], positions[i].copy()) for i in range(len(positions))]
        return ids
