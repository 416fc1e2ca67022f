"""Clutter views (``synth --clutter P``) and the grasp trials of a view, one object or several.

A clutter view of object X holds X and 1..``--clutter-objects`` (default 4, uniform) neighbours
drawn without replacement from the same split's catalogue (never X itself; a train run never
sees a held-out neighbour, a held-out run only held-out ones). Each neighbour is rescaled so
its largest side is 4-9 cm (``NEIGHBOUR_SIZE_RANGE``; a thin shape 10-20 cm,
``simulation.shapes.THIN_NEIGHBOUR_SIZE_RANGE``), gets a look of its own and is dropped,
with a random orientation, after X has settled:

* ``STACK_P`` (30%) of them from 0.5-3 cm above the pile's top, over a point within half of X's
  radius of X's centre, so they land on X or on each other;
* the others on the table, their centre at ``(0.5..0.9) x (r_X + r_N) + 0..2 cm`` from X's
  centre in a random direction (``r``: half the largest horizontal side), so some touch X and
  some lie a little apart; one that would start inside anything is dropped onto the pile
  instead.

Then all settle together (a view whose objects are still moving after 8 s is redrawn) and a
neighbour that rolled more than 25 cm from X is removed. A Jacquard-like camera frames the
group's bounding box at 45-75% of the view's width (``GROUP_FILL_RANGE``; a group spans 15-30
cm, so at a single object's 30-50% each object would be tiny); a robot view aims at the group
as it aims at a single object.

Whether a view is a clutter view, which neighbours, their sizes, looks and placements come
from their own generator, ``object_rng(seed, index, attempt, CLUTTER_STREAM)``, so
``--clutter 0`` draws nothing extra and reproduces the data made before the option draw for
draw, and the files are the same whatever ``--workers``. A clutter view is written (under X's
folder) when any of its objects got a grasp.

Labels on every object (:func:`try_grasps`): the network learns that unlabelled pixels are not
graspable, so every object whose visible mask covers at least ``MIN_MASK_FRACTION`` of the
image gets ``max(MIN_TRIALS, ceil(trials / n))`` of the view's trials (``n`` such objects),
its candidates drawn on its own mask but checked against the full depth image (a finger that
would land on a neighbour is refused before any physics). Each trial restores the settled
scene with every object in it; the gripper's pose is first checked exactly against the other
objects (reason ``neighbour``: a finger or the palm would start inside one, e.g. under an
overhang the camera cannot see); success is judged for the targeted body. A failed trial after
which another object moved more than 1 cm counts in ``neighbour_failures``. Contact labels
are validated as in single views (:func:`.sampling.label_opening`).

Measured on the 2-core development machine while a long data-generation job used it (absolute
rates ~10x below :mod:`.generate`'s; the ratios are the point): ``python -m training synth
--out /tmp/c0 --objects 10 --views 2 --image-size 512 --workers 1 --seed 0 --clutter 0``, then
the same with ``--clutter 1.0 --out /tmp/c1`` (default 40 trials, contact labels, rich looks,
30% robot views), one after the other:

* single views: 20 views (25 attempts) in 159 s, 0.13 views/s; 22.0 grasps per view [min 14,
  max 30]; 800 trials + 484 validating; the depth check refused 61% of sampled candidates;
* clutter views: 20 views (29 attempts) in 181 s, 0.11 views/s (1.13x the time per view);
  20.1 grasps per view [9, 30], 3.35 objects per view of which 2.85 got grasps (X itself 9.0
  grasps per view); 790 trials + 434 validating; the depth check refused 59% of candidates, and
  18% (single: 0.4%) had no bite (a taller neighbour between the fingers); 34 of the 790 trials
  (4.3%) failed because of neighbours: 4 refused by the exact check against the neighbours, 30
  failed trials after which another object had moved over 1 cm.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from mtg_grasp_ros.grasp import Grasp
from simulation.camera import SimCamera
from simulation.floor import FLOOR_GREY, ViewPaint
from simulation.gripper import ParallelGripper
from simulation.looks import laid_texture, OBJECT_METRES
from simulation.objects import is_thin_index, ObjectSpec
from simulation.poses import pose_to_grasp
from simulation.scene import DROP_GAP, random_quaternion, Scene
from simulation.shapes import THIN_NEIGHBOUR_SIZE_RANGE
from training.synth.appearance import object_look
from training.synth.framing import FILL_RANGE
from training.synth.sampling import (deduplicate, label_opening, OpeningStats,
                                     sample_candidates, SamplerStats)

#: The last seed word of the clutter generator: object_rng(seed, index, attempt, CLUTTER_STREAM).
CLUTTER_STREAM = 0xC1
#: Neighbours are rescaled so their largest side is drawn from this range (m).
NEIGHBOUR_SIZE_RANGE = (0.04, 0.09)
#: Share of neighbours dropped onto the pile, and their drop height above its top (m).
STACK_P = 0.3
STACK_HEIGHT = (0.005, 0.03)
#: Ground neighbours: centre distance from X's centre = REACH x (r_X + r_N) + GAP (m).
REACH = (0.5, 0.9)
GAP = (0.0, 0.02)
#: Share of a Jacquard-like view's width the group's bounding box fills (a single object fills
#: framing.FILL_RANGE, 30-50%): a group of 2-5 objects spans 15-30 cm, at 30-50% each object
#: would cover only a few percent of the image.
GROUP_FILL_RANGE = (0.45, 0.75)
#: Penetration (m) at the drop point that sends a ground neighbour onto the pile instead.
OVERLAP = 0.001
#: Neighbours that settle farther than this (m) from X's centre are removed.
STRAY_DISTANCE = 0.25
#: An object is labelled when its visible mask covers this share of the image.
MIN_MASK_FRACTION = 0.005
#: Fewest trials an object of a clutter view gets.
MIN_TRIALS = 8
#: A failed trial that moved another object more than this (m) is a neighbour failure.
MOVED = 0.01


@dataclass(frozen=True)
class NeighbourPlan:
    """Everything drawn for one neighbour before the scene exists."""

    spec: ObjectSpec
    size: float
    orientation: Tuple[float, float, float, float]
    stacked: bool
    angle: float
    reach: float
    gap: float
    height: float
    rgb: Tuple[float, float, float]
    texture: Optional[np.ndarray]
    decal_rng_seed: int


@dataclass
class Neighbour:
    """A neighbour in the scene: its plan and body id."""

    plan: NeighbourPlan
    body: int


def neighbour_size_range(spec: ObjectSpec) -> Tuple[float, float]:
    """Range (m) of a clutter neighbour's largest side: NEIGHBOUR_SIZE_RANGE, a thin shape
    :data:`simulation.shapes.THIN_NEIGHBOUR_SIZE_RANGE`."""
    return THIN_NEIGHBOUR_SIZE_RANGE if is_thin_index(spec.index) else NEIGHBOUR_SIZE_RANGE


def draw_neighbours(rng: np.random.Generator, share: float, most: int,
                    pool: Sequence[ObjectSpec], target: ObjectSpec,
                    looks: str) -> Optional[List[NeighbourPlan]]:
    """The neighbours of a clutter view (probability ``share``), or None for a single view.

    ``pool``: the split's objects (``target`` is skipped); ``most``: the largest number.
    """
    if share <= 0.0 or rng.random() >= share:
        return None
    others = [s for s in pool if s.index != target.index]
    if not others or most < 1:
        return None
    count = min(int(rng.integers(1, most + 1)), len(others))
    picks = rng.choice(len(others), size=count, replace=False)
    plans = []
    for i in picks:
        rgb, texture = object_look(rng, looks)
        plans.append(NeighbourPlan(
            spec=others[int(i)], size=float(rng.uniform(*neighbour_size_range(others[int(i)]))),
            orientation=random_quaternion(rng), stacked=bool(rng.random() < STACK_P),
            angle=float(rng.uniform(0.0, 2 * math.pi)), reach=float(rng.uniform(*REACH)),
            gap=float(rng.uniform(*GAP)), height=float(rng.uniform(*STACK_HEIGHT)),
            rgb=rgb, texture=texture, decal_rng_seed=int(rng.integers(2 ** 31))))
    return plans


def _half_width(lo: np.ndarray, hi: np.ndarray) -> float:
    return float(max(hi[0] - lo[0], hi[1] - lo[1])) / 2.0


def _penetrates(scene: Scene, body: int, others: Sequence[int]) -> bool:
    p, c = scene.p, scene.client
    return any(pt[8] < -OVERLAP for other in others
               for pt in p.getClosestPoints(body, other, 0.0, physicsClientId=c))


def drop_neighbours(scene: Scene, target: int, plans: Sequence[NeighbourPlan]) -> List[Neighbour]:
    """Load and place the neighbours around the settled ``target`` (see the module docstring);
    no settling. A model that fails to load is skipped."""
    p, c = scene.p, scene.client
    lo, hi = scene.aabb(target)
    centre, r_target = (lo[:2] + hi[:2]) / 2.0, _half_width(lo, hi)
    bodies, placed = [target], []
    for plan in plans:
        try:
            native = float(scene.native_extent(plan.spec.path).max())
            body = scene.drop(plan.spec.path, plan.size / max(native, 1e-4), plan.orientation)
        except Exception:  # pybullet.error or RuntimeError: an unloadable model, skip it
            continue
        r_body = _half_width(*scene.aabb(body))
        direction = np.array([math.cos(plan.angle), math.sin(plan.angle)])
        if plan.stacked:
            xy = centre + direction * plan.reach * 0.5 * r_target
        else:
            xy = centre + direction * (plan.reach * (r_target + r_body) + plan.gap)
        scene.place_above_table(body, xy)
        if plan.stacked or _penetrates(scene, body, bodies):
            top = max(float(scene.aabb(b)[1][2]) for b in bodies)
            pos, orn = p.getBasePositionAndOrientation(body, physicsClientId=c)
            rise = top + plan.height - DROP_GAP
            p.resetBasePositionAndOrientation(body, [pos[0], pos[1], pos[2] + rise], orn,
                                              physicsClientId=c)
        bodies.append(body)
        placed.append(Neighbour(plan, body))
    return placed


def place_neighbours(scene: Scene, target: int,
                     plans: Sequence[NeighbourPlan]) -> Optional[List[Neighbour]]:
    """Drop the neighbours around the settled ``target``, settle everything, remove strays;
    the neighbours kept, or None when the objects still move after 8 s. No plans: nothing
    is simulated, ``[]``."""
    if not plans:
        return []
    neighbours = drop_neighbours(scene, target, plans)
    bodies = [target] + [n.body for n in neighbours]
    if not (scene.settle(bodies) or scene.settle(bodies)):  # a pile may rock a little longer
        return None
    return remove_strays(scene, target, neighbours)


def remove_strays(scene: Scene, target: int, neighbours: List[Neighbour]) -> List[Neighbour]:
    """The neighbours that settled within STRAY_DISTANCE of the target; the others removed."""
    lo, hi = scene.aabb(target)
    centre = (lo[:2] + hi[:2]) / 2.0
    kept = []
    for n in neighbours:
        a, b = scene.aabb(n.body)
        if np.linalg.norm((a[:2] + b[:2]) / 2.0 - centre) <= STRAY_DISTANCE:
            kept.append(n)
        else:
            scene.remove(n.body)
    return kept


def group_box(scene: Scene,
              bodies: Sequence[int]) -> Tuple[np.ndarray, float, Tuple[float, float]]:
    """Centre (3,) on the table and largest horizontal side (m) of the bodies' bounding box,
    and the share of a Jacquard-like view it fills: FILL_RANGE for one body (as ever),
    GROUP_FILL_RANGE for a group."""
    boxes = [scene.aabb(b) for b in bodies]
    lo = np.min([b[0] for b in boxes], axis=0)
    hi = np.max([b[1] for b in boxes], axis=0)
    return (np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, 0.0]),
            float(max(hi[0] - lo[0], hi[1] - lo[1])),
            FILL_RANGE if len(bodies) == 1 else GROUP_FILL_RANGE)


def dress_neighbours(scene: Scene, neighbours: Sequence[Neighbour], looks: str) -> None:
    """Give each neighbour its look before rendering: plain looks render colour and texture;
    rich looks render a textured neighbour grey and :func:`paint_neighbours` lays the texture."""
    for n in neighbours:
        if looks == 'plain' or n.plan.texture is None:
            scene.set_look(n.body, n.plan.rgb, n.plan.texture if looks == 'plain' else None)
        else:
            scene.set_look(n.body, (FLOOR_GREY,) * 3)


def paint_neighbours(rgb: np.ndarray, segmentation: np.ndarray, depth: np.ndarray,
                     camera: SimCamera, neighbours: Sequence[Neighbour],
                     looks: str) -> np.ndarray:
    """Rich looks: lay each textured neighbour's texture on its pixels (like X's)."""
    if looks == 'plain':
        return rgb
    for n in neighbours:
        if n.plan.texture is not None:
            decal = laid_texture(np.random.default_rng(n.plan.decal_rng_seed), n.plan.texture,
                                 OBJECT_METRES)
            rgb = ViewPaint(object=decal).apply(rgb, segmentation, depth, camera, -2, n.body)
    return rgb


@dataclass
class TrialOutcome:
    """The trials of one view: grasps per body (in the order given; none for an object too
    hidden to label), counts and reasons."""

    grasps: List[List[Grasp]]
    trials: int = 0
    reasons: Counter = field(default_factory=Counter)
    sampler: SamplerStats = field(default_factory=SamplerStats)
    validation: OpeningStats = field(default_factory=OpeningStats)
    neighbour_failures: int = 0


def trial_budget(trials: int, targets: int) -> int:
    """Trials per object: all of them for one object, else an equal share of at least
    MIN_TRIALS."""
    return trials if targets <= 1 else max(MIN_TRIALS, math.ceil(trials / targets))


def _positions(scene: Scene, bodies: Sequence[int]) -> np.ndarray:
    return np.array([scene.p.getBasePositionAndOrientation(b, physicsClientId=scene.client)[0]
                     for b in bodies]).reshape(-1, 3)


def try_grasps(scene: Scene, grippers: Dict[float, ParallelGripper], state: int,
               rng: np.random.Generator, camera: SimCamera, depth: np.ndarray,
               bodies: Sequence[int], masks: Sequence[np.ndarray], trials: int, opening: str,
               image_size: int) -> TrialOutcome:
    """Try grasps on the first body and on every other whose mask (bool, HxW) covers
    MIN_MASK_FRACTION of the image, :func:`trial_budget` trials each, in turn, every body
    present (restored from ``state``); grasps de-duplicated per body.

    With one body this is the single-object loop exactly (same draws, same trials).
    """
    out = TrialOutcome(grasps=[])
    settled = _positions(scene, bodies)
    labelled = [i == 0 or m.mean() >= MIN_MASK_FRACTION for i, m in enumerate(masks)]
    budget = trial_budget(trials, sum(labelled))
    for body, mask, label_it in zip(bodies, masks, labelled):
        if not label_it:
            out.grasps.append([])
            continue
        others = [b for b in bodies if b != body]
        successes = []
        for cand in sample_candidates(rng, camera, depth, mask, budget, stats=out.sampler):
            gripper = grippers[cand.jaw_size]
            out.trials += 1
            if others:  # trial() checks the target and table only: check the neighbours here
                scene.p.restoreState(stateId=state, physicsClientId=scene.client)
                gripper.place(cand.position, cand.rotation, cand.opening)
                hit = gripper.collides(others)
                gripper.park()
                if hit:
                    out.reasons['neighbour'] += 1
                    continue
            result = gripper.trial(body, cand.position, cand.rotation, cand.opening, state)
            out.reasons[result.reason] += 1
            if not result.success:
                moved = np.linalg.norm(_positions(scene, bodies) - settled, axis=1)
                if others and any(m > MOVED for b, m in zip(bodies, moved) if b != body):
                    out.neighbour_failures += 1
                continue
            label = label_opening(opening, cand, result, gripper, body, state, camera, depth,
                                  out.validation)
            if label is not None:
                row, col = int(round(cand.grasp.row)), int(round(cand.grasp.col))
                successes.append(pose_to_grasp(camera, cand.position, cand.rotation, label,
                                               cand.jaw_size, float(depth[row, col])))
        out.grasps.append(deduplicate(successes, image_size))
    return out


def view_info(target: ObjectSpec, neighbours: Sequence[Neighbour], is_clutter: bool,
              out: TrialOutcome) -> dict:
    """The clutter fields of a view's record: whether it is a clutter view, the neighbours'
    ids, grasps per object id (X first) and trials failed because of neighbours."""
    ids = [target.object_id] + [n.plan.spec.object_id for n in neighbours]
    return dict(clutter=is_clutter, neighbours=ids[1:],
                object_grasps={i: len(g) for i, g in zip(ids, out.grasps)},
                neighbour_failures=out.neighbour_failures + out.reasons['neighbour'])


def summarise(views: Sequence[Tuple[int, int, dict]]) -> dict:
    """The run summary's clutter figures from ``(grasps, trials, view_info)`` of every view."""
    crowded = [(g, t, c) for g, t, c in views if c.get('clutter')]
    trials = sum(t for _, t, c in crowded)
    failed = sum(c['neighbour_failures'] for _, _, c in crowded)
    return {'clutter_views': len(crowded),
            'clutter_grasps_per_view': (float(np.mean([g for g, _, _ in crowded]))
                                        if crowded else 0.0),
            'clutter_objects_with_grasps_per_view': (
                float(np.mean([sum(n > 0 for n in c['object_grasps'].values())
                               for _, _, c in crowded])) if crowded else 0.0),
            'clutter_trials_failed_by_neighbours': failed,
            'clutter_trial_share_failed_by_neighbours': failed / trials if trials else 0.0}
