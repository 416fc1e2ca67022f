"""Candidate grasps in the image, their fast rejection, and de-duplication of the successes.

A candidate (:func:`sample_candidates`) is drawn as Jacquard's were, "at many positions, angles
and widths", but aimed so most are worth a physics trial:

* centre: a uniformly random pixel of the object mask (so every label lies on the object);
* angle: uniform in [-pi/2, pi/2); jaw size: one of the gripper models' sizes;
* opening: for ``AIMED_P`` of candidates, the object's silhouette chord through the centre along
  the closing axis plus 0.4-2 cm (70% of those re-centred on the chord's middle), else
  uniform up to the gripper's maximum opening: the first kind succeeds often, the second keeps
  labels from all sharing one margin;
* depth: the fingertips go a random 25-75% of the way from the highest point between the
  fingers down to the plane, at most ``FINGER_LENGTH - 1 cm`` (the palm stays above the top) and
  never below 3 mm above the plane.

Fast rejection before any simulation: the fingers move along the optical axis, so each finger
sweeps a prism whose cross-section is the finger's own, and the perfect depth image says what
is in it: a finger can descend iff no visible surface point, deprojected with its depth, falls
inside the finger's cross-section above the fingertip (likewise the palm above the tips).
Candidates that fail, or that need more than the maximum opening, cost tens of microseconds
and never reach pybullet; :meth:`ParallelGripper.collides` still checks the exact geometry of
the final pose (which also covers surfaces the camera cannot see).

The opening a successful trial's label records (:func:`label_opening`, ``synth --opening``):

* ``contact`` (default, Jacquard's convention): the width the contact needs, the trial's contact
  width (the finger gap where the closing fingers stopped on the object) times
  ``1 + CONTACT_MARGIN``, capped at the gripper's maximum. Such an opening was not what the
  trial started from, so it is validated: the fast check above, then the whole trial again from
  that opening (one more trial per success; a label only if it succeeds too);
* ``pregrasp`` (the convention before): the opening the trial started from (aimed chord plus
  margin, or uniform), so any opening wider than the object is a label: reproduces old data.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np

from mtg_grasp_ros.grasp import angle_difference, Grasp
from simulation.camera import SimCamera
from simulation.gripper import (FINGER_LENGTH, FINGER_THICKNESS, JAW_SIZES, MAX_OPENING,
                                ParallelGripper, TrialResult)
from simulation.poses import box_corners, grasp_to_pose

AIMED_P = 0.75
#: Share of aimed candidates moved to the middle of their chord (where Jacquard's grasps sit).
RECENTRE_P = 0.7
MARGIN_RANGE = (0.004, 0.02)
DEPTH_FRACTION = (0.25, 0.75)
#: Fingertips stay this far above the plane (m).
PLANE_CLEARANCE = 0.003
#: The fingertips must reach at least this far below the top between them (m).
MIN_BITE = 0.004
#: Free space demanded below the fingertips in the depth image (m).
DEPTH_MARGIN = 0.001
#: Attempts allowed per requested trial before the sampler gives up on a view.
ATTEMPTS_PER_TRIAL = 30

#: Label conventions for the opening (see the module docstring); the first is the default.
OPENINGS = ('contact', 'pregrasp')
#: Margin of a ``contact`` label, a fraction of the contact width: opening = 1.5 x contact width.
#: Proportional, not fixed, because Jacquard's openings keep a near-constant ratio to the
#: object's extent at the grasp: opening / mask chord 1.54 [p10 1.39, p90 1.73] on the real
#: views of ../shared/real/jacquard (``label-stats``), where a fixed 1 cm margin would spread
#: the ratio from ~1.1 on a 10 cm object to ~3 on a 5 mm one. 0.5 is that median, rounded;
#: chosen once from it, not tuned against any result (what it gives: README, "Synthetic
#: Jacquard-format data from physics").
CONTACT_MARGIN = 0.5
#: Openings closer than this (m) to the one a trial started from need no second trial.
SAME_OPENING = 1e-4

#: Near-duplicate successes (Jacquard kept no "highly similar grasps"): centres closer than
#: this share of the image size, angles within this many degrees and openings within this
#: relative difference, with the same jaw size.
DEDUP_CENTRE = 0.015
DEDUP_ANGLE_DEG = 10.0
DEDUP_WIDTH = 0.15


@dataclass(frozen=True)
class Candidate:
    """A grasp to try: the image rectangle and the gripper pose it maps to (metres, world)."""

    grasp: Grasp
    opening: float
    jaw_size: float
    tip_depth: float
    position: np.ndarray
    rotation: np.ndarray


@dataclass
class SamplerStats:
    attempts: int = 0
    too_wide: int = 0
    no_bite: int = 0
    blocked: int = 0
    candidates: int = 0


def _chord(mask: np.ndarray, row: float, col: float, axis: np.ndarray,
           limit: float) -> Tuple[float, float]:
    """Distances (px) from ``(row, col)`` to where the mask run along ``axis`` ends, each side.

    ``axis`` is ``(d_row, d_col)``; steps of one pixel, at most ``limit`` each way.
    """
    size = mask.shape[0]
    steps = np.arange(0.0, limit + 1.0)
    result = []
    for sign in (-1.0, 1.0):
        rr = np.rint(row + sign * steps * axis[0]).astype(int)
        cc = np.rint(col + sign * steps * axis[1]).astype(int)
        inside = (rr >= 0) & (rr < size) & (cc >= 0) & (cc < size)
        on = np.zeros_like(inside)
        on[inside] = mask[rr[inside], cc[inside]] > 0
        off = np.flatnonzero(~on)
        result.append(float(steps[off[0]]) - 0.5 if off.size else float(limit))
    return result[0], result[1]


def _prism_is_free(depth: np.ndarray, camera: SimCamera, centre: np.ndarray, axes: np.ndarray,
                   half: Tuple[float, float], bottom: float, near: float) -> bool:
    """Whether nothing seen lies in a prism along the optical axis, from the camera to ``bottom``.

    The prism's cross-section is a rectangle in the camera's XY plane (``centre``, unit ``axes``
    rows, half sizes ``half``); it is what a box moving along the optical axis sweeps. Every
    pixel whose visible surface deprojects into the rectangle at a depth above ``bottom`` is an
    obstacle. Only pixels that can see the prism between depths ``near`` and ``bottom`` are
    examined; a prism reaching outside the image is refused (what it would hit is unseen).
    """
    corners = centre + np.array([[sx * half[0], sy * half[1]] for sx in (-1, 1)
                                 for sy in (-1, 1)]) @ axes
    f, size = camera.focal, depth.shape[0]
    cols = camera.cx + f * np.concatenate([corners[:, 0] / bottom, corners[:, 0] / near])
    rows = camera.cy + f * np.concatenate([corners[:, 1] / bottom, corners[:, 1] / near])
    if (cols[:4].min() < 0 or rows[:4].min() < 0 or cols[:4].max() > size - 1
            or rows[:4].max() > size - 1):
        return False
    c0, c1 = max(int(math.floor(cols.min())), 0), min(int(math.ceil(cols.max())) + 1, size)
    r0, r1 = max(int(math.floor(rows.min())), 0), min(int(math.ceil(rows.max())) + 1, size)
    window = depth[r0:r1, c0:c1].astype(np.float64)
    yy = (np.arange(r0, r1)[:, None] - camera.cy) * window / f - centre[1]
    xx = (np.arange(c0, c1)[None, :] - camera.cx) * window / f - centre[0]
    along = np.abs(xx * axes[0, 0] + yy * axes[0, 1])
    across = np.abs(xx * axes[1, 0] + yy * axes[1, 1])
    hit = (along <= half[0]) & (across <= half[1]) & (window < bottom)
    return not hit.any()


def footprint_is_free(depth: np.ndarray, camera: SimCamera, position: np.ndarray,
                      rotation: np.ndarray, opening: float, jaw_size: float,
                      tip_depth: float) -> bool:
    """Whether both fingers and the palm can descend to the pose without touching anything seen.

    Exact for every surface the camera sees (the descent is along the optical axis, so each
    finger sweeps a prism with its own cross-section); parts hidden behind others are left to
    the exact collision check at the final pose.
    """
    centre = camera.world_to_camera(position)[:2]
    in_camera = camera.rotation.T @ rotation
    axes = in_camera[:2, :2].T  # rows: closing and jaw axes in the camera's XY plane
    near = max(float(depth.min()), 1e-3)
    offset = opening / 2 + FINGER_THICKNESS / 2
    for side in (-1.0, 1.0):
        if not _prism_is_free(depth, camera, centre + side * offset * axes[0], axes,
                              (FINGER_THICKNESS / 2, jaw_size / 2),
                              tip_depth + DEPTH_MARGIN, near):
            return False
    palm_bottom = tip_depth - FINGER_LENGTH + DEPTH_MARGIN
    return palm_bottom <= near or _prism_is_free(
        depth, camera, centre, axes, (opening / 2 + FINGER_THICKNESS, max(jaw_size / 2, 0.01)),
        palm_bottom, min(near, palm_bottom))


def _lowest_tip_z(position: np.ndarray, rotation: np.ndarray, opening: float,
                  jaw_size: float) -> float:
    """World z of the lowest fingertip corner."""
    offset = opening / 2 + FINGER_THICKNESS / 2
    corners = [box_corners(position, rotation, (s * offset, 0.0, 0.0),
                           (FINGER_THICKNESS / 2, jaw_size / 2, 0.0)) for s in (-1.0, 1.0)]
    return float(np.concatenate(corners)[:, 2].min())


def sample_candidates(rng: np.random.Generator, camera: SimCamera, depth: np.ndarray,
                      mask: np.ndarray, count: int, jaw_sizes: Sequence[float] = JAW_SIZES,
                      stats: Optional[SamplerStats] = None) -> Iterator[Candidate]:
    """Yield up to ``count`` candidates that pass the fast checks (see the module docstring)."""
    stats = stats if stats is not None else SamplerStats()
    pixels = np.argwhere(mask > 0)
    if len(pixels) == 0:
        return
    f = camera.focal
    produced = 0
    for _ in range(count * ATTEMPTS_PER_TRIAL):
        if produced >= count:
            return
        stats.attempts += 1
        r0, c0 = pixels[rng.integers(len(pixels))]
        # Sub-pixel centre that still rounds to the chosen mask pixel.
        row, col = r0 + rng.uniform(-0.45, 0.45), c0 + rng.uniform(-0.45, 0.45)
        angle = rng.uniform(-math.pi / 2, math.pi / 2)
        jaw = float(jaw_sizes[rng.integers(len(jaw_sizes))])
        aimed = rng.random() < AIMED_P
        recentre = rng.random() < RECENTRE_P
        margin = rng.uniform(*MARGIN_RANGE)
        free_opening = rng.uniform(0.01, MAX_OPENING)
        fraction = rng.uniform(*DEPTH_FRACTION)

        axis = np.array([-math.sin(angle), math.cos(angle)])  # (d_row, d_col)
        surface = float(depth[r0, c0])
        limit = MAX_OPENING * f / surface
        back, ahead = _chord(mask, row, col, axis, limit)
        if aimed and recentre:
            shift = (ahead - back) / 2.0
            r1, c1 = row + shift * axis[0], col + shift * axis[1]
            p0, q0 = int(round(r1)), int(round(c1))
            if mask[p0, q0] > 0:  # a thin diagonal run can round off the mask: then stay put
                # Keep the centre within 0.45 px of its pixel, so the label written with two
                # decimals still rounds to a pixel on the object.
                row, col = p0 + np.clip(r1 - p0, -0.45, 0.45), q0 + np.clip(c1 - q0, -0.45, 0.45)
                r0, c0 = p0, q0
                back = ahead = (back + ahead) / 2.0
                surface = float(depth[r0, c0])
        if aimed:
            opening = 2.0 * max(back, ahead) * surface / f + margin
        else:
            opening = free_opening
        if opening > MAX_OPENING:
            stats.too_wide += 1
            continue
        # Highest point (smallest depth) on the segment between the fingers.
        half_px = opening / 2.0 * f / surface
        ts = np.arange(-half_px, half_px + 1.0)
        rr = np.clip(np.rint(row + ts * axis[0]).astype(int), 0, mask.shape[0] - 1)
        cc = np.clip(np.rint(col + ts * axis[1]).astype(int), 0, mask.shape[1] - 1)
        top = float(depth[rr, cc].min())
        plane = float(camera.plane_depth(col, row))
        bite = min(fraction * (plane - top), FINGER_LENGTH - 0.01)
        tip_depth = top + bite
        grasp = Grasp(row=float(row), col=float(col), angle=angle, width=1.0, jaw_size=1.0)
        position, rotation = grasp_to_pose(camera, grasp, tip_depth)
        # Keep the fingertips above the plane: raise the tip along the approach if needed.
        low = _lowest_tip_z(position, rotation, opening, jaw)
        if low < PLANE_CLEARANCE:
            rise = (PLANE_CLEARANCE - low) / rotation[2, 2]
            tip_depth -= rise
            position, rotation = grasp_to_pose(camera, grasp, tip_depth)
        if tip_depth < top + MIN_BITE:
            stats.no_bite += 1
            continue
        if not footprint_is_free(depth, camera, position, rotation, opening, jaw, tip_depth):
            stats.blocked += 1
            continue
        stats.candidates += 1
        produced += 1
        yield Candidate(grasp=grasp, opening=float(opening), jaw_size=jaw,
                        tip_depth=float(tip_depth), position=position, rotation=rotation)


@dataclass
class OpeningStats:
    """Validation of ``contact`` labels: openings refused by the fast check, second trials run
    and second trials that succeeded."""

    retrials: int = 0
    blocked: int = 0
    validated: int = 0


def contact_opening(contact_width: float, max_opening: float = MAX_OPENING) -> float:
    """The ``contact`` label opening (m) for a contact width (m): plus the margin, capped."""
    return min(contact_width * (1.0 + CONTACT_MARGIN), max_opening)


def label_opening(convention: str, cand: Candidate, result: TrialResult,
                  gripper: ParallelGripper, body: int, state: int, camera: SimCamera,
                  depth: np.ndarray, stats: Optional[OpeningStats] = None) -> Optional[float]:
    """The opening (m) the label of successful trial ``result`` of ``cand`` records, or None
    when the ``contact`` opening fails its validation (see the module docstring).

    ``gripper`` is the one that ran the trial, on ``body`` from saved state ``state``; ``camera``
    and ``depth`` (perfect, m) are the view's, for the fast check of the new opening.
    """
    if convention == 'pregrasp':
        return cand.opening
    if convention != 'contact':
        raise ValueError(f'unknown opening convention {convention!r}: one of {OPENINGS}')
    opening = contact_opening(result.contact_width, gripper.max_opening)
    if abs(opening - cand.opening) < SAME_OPENING:
        return opening
    stats = stats if stats is not None else OpeningStats()
    if not footprint_is_free(depth, camera, cand.position, cand.rotation, opening,
                             cand.jaw_size, cand.tip_depth):
        stats.blocked += 1
        return None
    stats.retrials += 1
    if not gripper.trial(body, cand.position, cand.rotation, opening, state).success:
        return None
    stats.validated += 1
    return opening


def deduplicate(grasps: Sequence[Grasp], image_size: int) -> List[Grasp]:
    """Drop grasps that nearly repeat an earlier one (close centre, angle, opening, same jaw)."""
    kept: List[Grasp] = []
    centre_px = DEDUP_CENTRE * image_size
    angle = math.radians(DEDUP_ANGLE_DEG)
    for g in grasps:
        duplicate = any(
            math.hypot(g.row - k.row, g.col - k.col) < centre_px
            and angle_difference(g.angle, k.angle) < angle
            and abs(g.width - k.width) < DEDUP_WIDTH * max(g.width, k.width)
            and abs(g.jaw_size - k.jaw_size) < 0.05 * max(g.jaw_size, k.jaw_size)
            for k in kept)
        if not duplicate:
            kept.append(g)
    return kept
