"""Jaw clearance (ROS-free): grasps whose fingers would come down on a neighbour go last.

Why: in clutter the commonest failure of the physical benchmark is ``jaw_on_neighbour``
(docs/grasp_bench.md): the grasp is on an object, but where a finger comes down, beyond the end
of the published opening plus the controller's clearance, lies another object; the guarded
descent stops on it and the jaws close on air. The planner is deterministic, so it repeats the
grasp until the clearance protocol gives up on the scene. The network's quality map shows the
neighbours (each graspable object has its own run of quality), so the node can see the clash
without depth or a mask.

Rule (:func:`fingers_blocked`): along the grasp's closing axis, each finger occupies
``[opening / 2, opening / 2 + reach]`` from the centre (``reach``: the controller's extra opening
per side plus the finger's thickness, in network pixels), across the grasp's jaw size. The
grasp's own object is, on each of the finger's sample lines, the run of quality above
``fraction`` times the grasp's quality from the line's point on the jaw (through the centre, or
offset across it) outwards (:func:`mtg_grasp_ros.centring.run_length`, as grasp centring walks
it); a finger is blocked when, *beyond* that run, any sample of the line has quality above the
same threshold: another object that the network would grasp is where the finger lands. (Walked
on the centre line only, the rule took a bar's own quality at the jaw's edges, wider than on
its centre line, for a neighbour: the remote control of the Cornell photos went last.)
Blocked grasps keep their quality and go after every clear one
(:meth:`mtg_grasp_ros.pipeline.GraspPipeline.process`), so a scene where every grasp is
blocked still gets its best one.

What it cannot see: neighbours the network gives no quality (objects too wide to grasp, flat
stains); those still fail (docs/grasp_bench.md "Jaw clearance").

No library offers this (it is specific to grasp maps), so it is written here, vectorised:
3 lines of samples per finger at half-pixel steps.
"""

from __future__ import annotations

import numpy as np

from mtg_grasp_ros.centring import STEP_PX
from mtg_grasp_ros.grasp import Grasp

#: Lines of samples across each finger's footprint (its two edges and its middle).
ACROSS_LINES = 3


def fingers_blocked(grasp: Grasp, quality: np.ndarray, reach: float, fraction: float) -> bool:
    """Whether a finger of ``grasp`` would come down on another object (module docstring).

    ``grasp``: in the pixels of ``quality``, the (H, W) smoothed quality map it was read from;
    ``reach``: px the finger extends beyond each end of the opening (> 0); ``fraction``: in
    (0, 1), the share of the grasp's quality that counts as an object. Samples outside the map
    count as clear (``jaws_outside_view`` handles grasps cut by the crop). Returns False when
    ``reach`` or ``fraction`` is 0 or less (no check). Raises ValueError for a map that is not
    2-D.
    """
    quality = np.asarray(quality, dtype=np.float32)
    if quality.ndim != 2:
        raise ValueError(f'quality must be an (H, W) map, got shape {quality.shape}')
    if reach <= 0 or fraction <= 0 or not np.isfinite(reach):
        return False
    threshold = fraction * grasp.quality
    axis = grasp.closing_axis
    across = np.array([axis[1], -axis[0]])
    offsets = np.linspace(-grasp.jaw_size / 2.0, grasp.jaw_size / 2.0, ACROSS_LINES)
    # Each sample line's point on the jaw: the centre, or offset across it.
    starts = np.array([grasp.row, grasp.col], dtype=np.float64) + offsets[:, None] * across
    walk = np.arange(0.0, grasp.width + STEP_PX, STEP_PX)  # centring.run_length's samples
    distances = np.arange(grasp.width / 2.0, grasp.width / 2.0 + reach + STEP_PX, STEP_PX)
    for side in (1.0, -1.0):
        # The own object on each line, all lines at once: the run from the line's point
        # outwards up to the first sample below the threshold or outside the map (as
        # centring.run_length walks it; none within the opening: inf). Walked per line, an
        # object whose quality reaches farther at the jaw's edges than on its centre line (a
        # bar seen across) is still itself.
        inside, values = _sample(quality, starts, side * axis, walk)
        below = ~inside | (values < threshold)
        own = np.where(below.any(axis=1), walk[np.argmax(below, axis=1)], np.inf)
        inside, values = _sample(quality, starts, side * axis, distances)
        if np.any(inside & (values > threshold) & (distances[None, :] > own[:, None])):
            return True
    return False


def _sample(quality: np.ndarray, starts: np.ndarray, direction: np.ndarray,
            steps: np.ndarray) -> tuple:
    """Nearest-pixel samples of ``quality`` at ``starts`` (L, 2) + ``steps`` (S,) x
    ``direction``: ``(inside, values)``, both (L, S); values outside the map are 0."""
    points = starts[:, None, :] + steps[None, :, None] * direction[None, None, :]
    rows = np.round(points[..., 0]).astype(np.int64)
    cols = np.round(points[..., 1]).astype(np.int64)
    h, w = quality.shape
    inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    values = np.zeros(rows.shape, np.float32)
    values[inside] = quality[rows[inside], cols[inside]]
    return inside, values


__all__ = ['ACROSS_LINES', 'fingers_blocked']
