"""Grasps too wide for the gripper, turned to their object's narrowest direction (ROS-free).

Why: for an object with four-fold symmetry (a square box or plate) the training labels at an
angle phi and at phi + 90 deg cancel in the network's cos 2phi / sin 2phi outputs, so the
predicted angle is arbitrary, often a diagonal: a 10 cm square seen across its diagonal needs
14 cm, more than a 12 cm gripper opens, and one jaw comes down on the object (the physical
benchmark's ``jaw_on_target`` on squarish procedural shapes, docs/grasp_bench.md "Turning
grasps too wide for the gripper"). The quality map still shows the object's extent in every
direction, so the node can find the direction across which it is narrowest.

Rule (:func:`turn_to_narrowest`), only for a grasp whose opening exceeds the gripper's widest
(``max_width``, in the map's pixels): through the grasp's centre, the object's extent along a
direction is the run of quality above ``fraction`` times the grasp's own, both ways (as grasp
centring walks it, :func:`mtg_grasp_ros.centring.run_length`), measured at :data:`DIRECTIONS`
directions over half a turn. The grasp turns to the direction of the shortest run, its opening
scaled by the shortest run over the run along its own axis (the network's opening-to-extent
ratio kept), and is centred along the new axis (:func:`centre_on_object`). When the turned
opening would still exceed ``max_width``, or no direction is shorter, the grasp stays.

No library offers this (it is specific to grasp maps), so it is written here.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from mtg_grasp_ros.centring import centre_on_object, run_length
from mtg_grasp_ros.grasp import Grasp

#: Directions tried over half a turn (15 deg apart).
DIRECTIONS = 12


def extent_along(quality: np.ndarray, grasp: Grasp, angle: float, threshold: float) -> float:
    """Length (px) of the run of ``quality`` >= ``threshold`` through ``grasp``'s centre along
    the closing axis of ``angle`` (rad, the :class:`Grasp` convention); ``inf`` when the run
    is longer than the grasp's opening either way."""
    start = np.array([grasp.row, grasp.col], dtype=np.float64)
    axis = np.array([-math.sin(angle), math.cos(angle)])
    return (run_length(quality, start, axis, threshold, grasp.width)
            + run_length(quality, start, -axis, threshold, grasp.width))


def turn_to_narrowest(grasp: Grasp, quality: np.ndarray, fraction: float,
                      max_width: float) -> Grasp:
    """``grasp`` turned to its object's narrowest direction when its opening exceeds
    ``max_width`` (module docstring), else ``grasp`` itself.

    ``grasp``: in the pixels of ``quality``, the (H, W) smoothed quality map it was read from;
    ``fraction``: in (0, 1), the share of the grasp's quality that counts as its object;
    ``max_width``: the gripper's widest opening in the same pixels (0 or less: no turning).
    Returns a new :class:`Grasp` (quality unchanged; angle, opening, jaw size and centre new)
    or ``grasp``. Raises ValueError for a map that is not 2-D.
    """
    quality = np.asarray(quality, dtype=np.float32)
    if quality.ndim != 2:
        raise ValueError(f'quality must be an (H, W) map, got shape {quality.shape}')
    if max_width <= 0 or fraction <= 0 or grasp.width <= max_width:
        return grasp
    threshold = fraction * grasp.quality
    own = extent_along(quality, grasp, grasp.angle, threshold)
    if not math.isfinite(own) or own <= 0:
        return grasp
    angles = [grasp.angle + k * math.pi / DIRECTIONS for k in range(1, DIRECTIONS)]
    extents = [extent_along(quality, grasp, a, threshold) for a in angles]
    best = int(np.argmin(extents))
    if not extents[best] < own:
        return grasp
    width = grasp.width * extents[best] / own
    if width > max_width:
        return grasp
    turned = dataclasses.replace(grasp, angle=angles[best], width=width, jaw_size=width / 2.0)
    return centre_on_object(turned, quality, fraction)


__all__ = ['DIRECTIONS', 'extent_along', 'turn_to_narrowest']
