"""The benchmark's protocol: scenes, attempts, the clearance loop and why attempts fail.

Scenes (held-out objects only, :mod:`simulation.objects`; drawn from seeds, so every planner
of a run gets the same ones):

* :func:`isolated_scene`: one object, largest side 8-12 cm, dropped with a random orientation
  within 3 cm of the view's centre, rested, turned by a random yaw;
* :func:`clutter_scene`: ``objects`` (5) objects drawn from the held-out ones, dropped at
  non-overlapping points of the view (:meth:`SimulatedScene.reset`).

The objects come from the scene's ``object_set``. On a scene with a textured table the looks
(support texture, object colours and textures) are drawn from the same seeds through the
scene's ``look_rng``, apart from the objects' draws: the same seed gives the same objects and
poses on a plain and on a textured table.

:func:`clear_table` runs the clearance protocol: render, plan (:mod:`simulation.planners`),
execute (:class:`~simulation.grasp_execution.GraspExecutor`); after a successful lift the
lifted objects are put away (on the table far outside the view, so the world keeps its bodies
and a saved state can still be restored), the scene settles and the next attempt starts; it
stops when the table is clear, after ``max_failures`` (3) failures in a row, or after
``max_attempts`` attempts (default twice the objects plus ``max_failures``). An isolated scene
is the same loop with one object and one attempt.

Each attempt gives a record (dict): the plan, the execution and, for failures, a ``failure``
reason (:func:`failure_reason`). The target (the remaining object nearest the grasp centre,
from ground truth, for the analysis only) tells where a grasp was aimed.
"""

from __future__ import annotations

import math
from typing import List, Optional, Tuple

import numpy as np

from simulation.planners import View
from simulation.tabletop import LOOK_SEED, random_quaternion, SimObject, SimulatedScene

#: Put-away objects rest on the table from here, BIN_SPACING apart along y (m).
BIN_ORIGIN = (1.0, -1.0)
BIN_SPACING = 0.2
#: A grasp centre farther than this (m) from every remaining footprint is off the objects.
ON_OBJECT = 0.01
MAX_FAILURES = 3
#: Fingertips commanded within this (m) of an object's top, or above it, close over it.
ABOVE_MARGIN = 0.003
#: Isolated scenes: largest side (m), drop radius around the view centre (m), drop tries.
ISOLATED_SIZE = (0.08, 0.12)
ISOLATED_SPREAD = 0.03
DROP_TRIES = 4


def isolated_scene(scene: SimulatedScene, index: int, seed: int) -> bool:
    """Drop held-out object ``index`` alone (see the module docstring), seeded by ``(index,
    seed)``; whether it came to rest inside the view (after at most DROP_TRIES drops)."""
    rng = np.random.default_rng([int(index), int(seed), 0xB3AC])
    scene.look_rng = np.random.default_rng([int(index), int(seed), LOOK_SEED])
    for _ in range(DROP_TRIES):
        r, a = ISOLATED_SPREAD * math.sqrt(rng.random()), rng.uniform(-math.pi, math.pi)
        scene.drop([index], positions=[(0.0, 0.0)], orientations=[random_quaternion(rng)],
                   sizes=[rng.uniform(*ISOLATED_SIZE)])
        scene.settle()
        obj = scene.objects[0]
        shift = np.array([r * math.cos(a), r * math.sin(a)]) - obj.centre
        scene.move(obj, dxy=shift, dyaw=float(rng.uniform(-math.pi, math.pi)))
        if scene.all_in_view():
            return True
    return False


def clutter_scene(scene: SimulatedScene, seed: int) -> bool:
    """Drop ``scene.n_objects`` held-out objects drawn with ``seed`` (SimulatedScene.reset);
    whether all came to rest inside the view."""
    scene.rng = np.random.default_rng([int(seed), 0xC1A7])
    scene.look_rng = np.random.default_rng([int(seed), 0xC1A7, LOOK_SEED])
    scene.reset()
    return scene.all_in_view()


def nearest_object(objects: List[SimObject], xy) -> tuple:
    """``(object, distance m)`` of the footprint nearest the table point ``xy``; (None, inf)
    for no objects."""
    best, best_d = None, math.inf
    for obj in objects:
        d = obj.distance_to_footprint(xy)
        if d < best_d:
            best, best_d = obj, d
    return best, best_d


def failure_reason(plan_reason: str, distance: float, target: Optional[SimObject],
                   stopped_on: Optional[int], execution_reason: str,
                   grasp_z: float = math.nan) -> str:
    """Why an attempt failed, the first that applies: the planner's reason when it gave no
    grasp; ``off_object`` (centre over ON_OBJECT from every footprint); ``jaw_on_neighbour``
    / ``jaw_on_target`` (the descent stopped on another object / on the target itself above
    the commanded height); ``above_object`` (closed on nothing with the fingertips commanded
    at ``grasp_z`` (m) within ABOVE_MARGIN of the target's top or above it: the grasp height,
    e.g. the node's object_height, is wrong for this object); else the execution's reason
    (empty, dropped, slipped)."""
    if plan_reason != 'ok':
        return plan_reason
    if distance > ON_OBJECT:
        return 'off_object'
    if stopped_on is not None and target is not None:
        return 'jaw_on_target' if stopped_on == target.body else 'jaw_on_neighbour'
    if (execution_reason == 'empty' and target is not None
            and grasp_z >= target.height - ABOVE_MARGIN):
        return 'above_object'
    return execution_reason


def target_in_view(scene: SimulatedScene, obj: Optional[SimObject]) -> Optional[bool]:
    """Whether every vertex of ``obj`` projects inside the image (None for no object)."""
    if obj is None:
        return None
    cam = scene.camera
    u, v, _ = cam.project(obj.vertices)
    return bool(u.min() >= 0 and u.max() <= cam.width - 1 and v.min() >= 0
                and v.max() <= cam.height - 1)


def put_away(scene: SimulatedScene, body: int, slot: int) -> None:
    """Rest ``body`` on the table at bin slot ``slot``, far outside the view."""
    world = scene.world
    world.place_above_table(body, (BIN_ORIGIN[0], BIN_ORIGIN[1] + BIN_SPACING * slot))
    scene.p.resetBaseVelocity(body, [0, 0, 0], [0, 0, 0], physicsClientId=scene.client)


def attempt(scene: SimulatedScene, executor, planner, remaining: List[SimObject],
            failed: Tuple[Tuple[float, float], ...] = ()) -> Tuple[dict, List[int]]:
    """Render, plan, execute once: the attempt's record (see the module docstring) and the
    body ids lifted by a successful grasp. ``failed``: world (x, y) of the grasps that failed
    before, for planners that avoid them (:attr:`View.failed`). The world is left as the
    execution left it (lifted objects in the air)."""
    render = scene.render()
    view = View(rgb=render.rgb, camera=scene.camera, scene=scene, remaining=remaining,
                executor=executor, failed=tuple(failed))
    plan = planner.plan(view)
    record = {'plan': plan.reason, 'tries': plan.tries, 'success': False, 'lifted': []}
    if plan.grasp is None:
        record['failure'] = plan.reason
        return record, []
    grasp = plan.grasp
    target, distance = nearest_object(remaining, (grasp.x, grasp.y))
    result = executor.execute(grasp, [o.body for o in remaining])
    by_body = {o.body: o.object_id for o in remaining}
    record.update(
        grasp=grasp.to_dict(), target=target.object_id if target else None,
        target_in_view=target_in_view(scene, target),
        target_distance_m=round(distance, 4),
        target_height_m=round(target.height, 4) if target else None, success=result.success,
        execution=result.reason, clipped=result.clipped, opening_used=round(result.opening, 4),
        stop_z=round(result.stop_z, 4),
        stopped_on=(by_body.get(result.stopped_on, 'table')
                    if result.stopped_on is not None else None),
        lifted=[by_body[b] for b in result.lifted] if result.success else [],
        steps=result.steps)
    if not result.success:
        record['failure'] = failure_reason('ok', distance, target, result.stopped_on,
                                           result.reason, grasp.z)
    return record, (list(result.lifted) if result.success else [])


def clear_table(scene: SimulatedScene, executor, planner, max_failures: int = MAX_FAILURES,
                max_attempts: Optional[int] = None, avoid_failed: bool = False) -> dict:
    """The clearance protocol on the scene's objects as they are (see the module docstring).

    ``avoid_failed``: each attempt's view carries the positions of the scene's failed grasps so
    far (:attr:`~simulation.planners.View.failed`), so a planner can grasp elsewhere instead of
    repeating a failure, as a robot that remembers its failed grasps would.

    Returns ``{'objects': n, 'cleared': k, 'attempts': [records]}``; every record also has the
    number of objects ``remaining`` before it. Raises ValueError for ``max_failures`` < 1.
    """
    if max_failures < 1:
        raise ValueError('max_failures must be >= 1')
    remaining = list(scene.objects)
    total = len(remaining)
    limit = max_attempts if max_attempts is not None else 2 * total + max_failures
    records: List[dict] = []
    failures = 0
    failed: List[Tuple[float, float]] = []
    while remaining and failures < max_failures and len(records) < limit:
        record, lifted = attempt(scene, executor, planner, remaining, failed)
        record['remaining'] = len(remaining)
        records.append(record)
        if record['success']:
            failures = 0
            for obj in [o for o in remaining if o.body in lifted]:
                put_away(scene, obj.body, total - len(remaining))
                remaining.remove(obj)
        else:
            failures += 1
            if avoid_failed and record.get('grasp'):
                failed.append((record['grasp']['x'], record['grasp']['y']))
        scene.settle()
    return {'objects': total, 'cleared': total - len(remaining), 'attempts': records}
