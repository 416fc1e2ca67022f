"""The look-ahead ceiling planner: what the physics allows, found by trying grasps.

:class:`LookaheadPlanner` is not a fair competitor (it reads the ground truth and runs the
physics ahead); it is the benchmark's ceiling, the share of the scenes a top-down grasp of the
benchmark's gripper can clear at all. Per attempt it:

1. samples up to ``candidates`` (default 45) grasps on the objects still on the table whose
   footprint centre is in the camera's image (:func:`sample_candidates`, ground truth from
   :class:`~simulation.tabletop.SimObject`: footprint, minimum-area rectangle, height): for each
   object first its canonical grasp (footprint centroid, closing across the minor axis, opening
   = breadth + 2 cm, fingertips at half the object's height), then random ones (a point inside
   the footprint, yaw across +- 20 deg or uniform, fingertips at 30-70% of the height, opening
   = the footprint's extent along the closing axis + 2 cm), the objects' order shuffled;
2. tries each in turn from the world's saved state (``saveState``/``restoreState``) with the
   scene's :class:`~simulation.grasp_execution.GraspExecutor`, and keeps the first that lifts;
3. restores the world and returns that grasp (its real execution then follows), or none
   (``nothing_lifts``).
"""

from __future__ import annotations

import math
from typing import List, Optional

import cv2
import numpy as np

from simulation.grasp_execution import WorldGrasp
from simulation.planners import Plan, View

DEFAULT_CANDIDATES = 45
#: Added to the object's extent along the closing axis (m).
MARGIN = 0.02
#: Spread of the random candidates' yaw about the minor axis (rad) when not uniform.
YAW_SPREAD = math.radians(20.0)
#: Fingertip height of the candidates, at least this (m) above the table.
MIN_TIP = 0.01


def in_image(camera, xy) -> bool:
    """Whether the table point ``xy`` (m) projects inside ``camera``'s image."""
    u, v, z = camera.project(np.array([xy[0], xy[1], 0.0]))
    return bool(z > 0 and 0 <= u < camera.width and 0 <= v < camera.height)


def _extent_along(footprint: np.ndarray, yaw: float) -> float:
    direction = np.array([math.cos(yaw), math.sin(yaw)])
    along = footprint @ direction
    return float(along.max() - along.min())


def _inside(footprint: np.ndarray, rng: np.random.Generator, tries: int = 20) -> np.ndarray:
    """A uniformly random point (2,) inside the convex ``footprint`` (K, 2); its first vertex
    average after ``tries`` misses."""
    lo, hi = footprint.min(axis=0), footprint.max(axis=0)
    contour = footprint.astype(np.float32).reshape(-1, 1, 2)
    for _ in range(tries):
        point = rng.uniform(lo, hi)
        if cv2.pointPolygonTest(contour, (float(point[0]), float(point[1])), False) >= 0:
            return point
    return footprint.mean(axis=0)


def sample_candidates(objects: list, count: int, rng: np.random.Generator,
                      max_opening: float) -> List[WorldGrasp]:
    """Up to ``count`` candidate grasps on ``objects`` (SimObjects), canonical ones first
    (see the module docstring); openings clipped to ``max_opening`` (m)."""
    if not objects or count < 1:
        return []
    order = [objects[i] for i in rng.permutation(len(objects))]
    candidates = []
    for obj in order:
        major, _, breadth = obj.axes()
        centre = obj.centre
        candidates.append(WorldGrasp(
            x=float(centre[0]), y=float(centre[1]), yaw=major + math.pi / 2,
            opening=min(breadth + MARGIN, max_opening), z=max(obj.height / 2, MIN_TIP)))
    while len(candidates) < count:
        obj = order[len(candidates) % len(order)]
        major, _, _ = obj.axes()
        if rng.random() < 0.5:
            yaw = major + math.pi / 2 + rng.normal(0.0, YAW_SPREAD)
        else:
            yaw = rng.uniform(-math.pi / 2, math.pi / 2)
        point = _inside(obj.footprint, rng)
        candidates.append(WorldGrasp(
            x=float(point[0]), y=float(point[1]), yaw=float(yaw),
            opening=min(_extent_along(obj.footprint, yaw) + MARGIN, max_opening),
            z=max(obj.height * rng.uniform(0.3, 0.7), MIN_TIP)))
    return candidates[:count]


class LookaheadPlanner:
    """The ceiling (see the module docstring): ``candidates`` per attempt (>= 1), ``seed`` of
    its sampling. Raises ValueError for ``candidates`` < 1."""

    name = 'lookahead'

    def __init__(self, candidates: int = DEFAULT_CANDIDATES, seed: int = 0) -> None:
        if candidates < 1:
            raise ValueError('candidates must be >= 1')
        self.candidates = int(candidates)
        self.rng = np.random.default_rng(seed)

    def reseed(self, seed: int) -> None:
        """Restart the sampling from ``seed`` (the benchmark does so per scene)."""
        self.rng = np.random.default_rng(seed)

    def plan(self, view: View) -> Plan:
        scene, executor = view.scene, view.executor
        objects = [o for o in (view.remaining or []) if in_image(view.camera, o.centre)]
        candidates = sample_candidates(objects, self.candidates, self.rng,
                                       executor.max_opening)
        if not candidates:
            return Plan(None, 'no_object')
        p, c = scene.p, scene.client
        bodies = [o.body for o in view.remaining]
        state = p.saveState(physicsClientId=c)
        chosen: Optional[WorldGrasp] = None
        tries = 0
        try:
            for grasp in candidates:
                p.restoreState(stateId=state, physicsClientId=c)
                tries += 1
                if executor.execute(grasp, bodies).success:
                    chosen = grasp
                    break
        finally:
            p.restoreState(stateId=state, physicsClientId=c)
            p.removeState(state, physicsClientId=c)
        if chosen is None:
            return Plan(None, 'nothing_lifts', tries)
        return Plan(chosen, 'ok', tries)
