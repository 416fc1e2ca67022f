"""How the generator frames a view: a Jacquard-like or a robot-like camera.

The policies only (NumPy random draws); the camera itself is :class:`simulation.camera.SimCamera`.

* :func:`random_top_down_camera` (Jacquard-like): mostly top-down, framed on the object, so
  every object, whatever its size, appears at a useful scale.
* :func:`random_robot_camera`: what the grasp node sees through a robot's camera, a 640x480
  camera 0.4-1.0 m above the table, tilted up to 30 degrees, 35-60 degrees vertical field of
  view (RealSense D4xx colour ~42, Kinect-class 43-60; the node's centred square crop keeps
  the vertical field of view). The generator writes square images, so the view is rendered
  directly as that centred ``height x height`` crop at ``--image-size`` px: a square camera
  with the same vertical field of view and pose (rendering 640x480 and cropping would give
  the same pixels, resized). The object's centre lies in the central 50% of the crop, at
  whatever size that distance and lens give it.

:func:`random_view_camera` chooses between them per view.
"""

from __future__ import annotations

import math
from typing import Tuple

import numpy as np

from simulation.camera import SimCamera

#: Full field of view of the generated (square) views, degrees.
FOV_DEG = 35.0
#: Share of the image width that the object's largest horizontal size covers. At 30-50% the
#: openings of 95% of the labels stay under GG-CNN's width cap (150 px at 300 px, i.e. 512 px at
#: 1024); at 35-60% the 95th percentile was 557 px.
FILL_RANGE = (0.3, 0.5)
#: Largest tilt of the optical axis away from straight down (degrees): "mostly top-down".
MAX_TILT_DEG = 10.0


def random_top_down_camera(rng: np.random.Generator, target, extent: float, size: int,
                           fov_deg: float = FOV_DEG,
                           fill_range: Tuple[float, float] = FILL_RANGE) -> SimCamera:
    """A square ``size`` px camera looking down at ``target`` (world, m), framed so ``extent``
    metres fill a random share in ``fill_range`` (default 30-50%) of the view.

    The distance (0.2-1.5 m) follows from the fill fraction; the optical axis is tilted up to
    MAX_TILT_DEG from vertical in a random direction, the image rotated by a random yaw and the
    object shifted off-centre by up to 10% of the view.
    """
    tan_half = math.tan(math.radians(fov_deg) / 2.0)
    fill = rng.uniform(*fill_range)
    distance = float(np.clip(extent / (fill * 2.0 * tan_half), 0.2, 1.5))
    view_width = 2.0 * distance * tan_half
    target = np.asarray(target, dtype=np.float64) + np.append(
        rng.uniform(-0.1, 0.1, size=2) * view_width, 0.0)
    tilt = math.radians(rng.uniform(0.0, MAX_TILT_DEG))
    tilt_dir = rng.uniform(0.0, 2 * math.pi)
    yaw = rng.uniform(0.0, 2 * math.pi)
    direction = np.array([math.sin(tilt) * math.cos(tilt_dir),
                          math.sin(tilt) * math.sin(tilt_dir), math.cos(tilt)])
    up = np.array([math.cos(yaw), math.sin(yaw), 0.0])
    return SimCamera.look_at(target + distance * direction, target, up, size, fov_deg,
                             near=max(0.02, 0.2 * distance), far=distance + 1.0)


#: Robot views: camera height above the table (m), largest tilt of the optical axis from
#: straight down (degrees), vertical field of view range (degrees), largest roll of the image
#: about the optical axis away from "far side up" (degrees), and the largest offset of the
#: object from the crop's centre as a share of the crop's width on the table.
ROBOT_HEIGHT = (0.4, 1.0)
ROBOT_MAX_TILT_DEG = 30.0
ROBOT_FOV_DEG = (35.0, 60.0)
ROBOT_MAX_ROLL_DEG = 15.0
ROBOT_MAX_OFFSET = 0.25
#: Robot views: the object's largest horizontal size covers at least this share of the crop's
#: width (the height is capped to keep it so; at 0.4 m and 60 degrees a 5 cm object covers
#: 11%). Smaller objects would mostly fail the generator's minimum mask size and waste the
#: view attempt.
ROBOT_MIN_FILL = 0.12
#: Every corner ray of a robot view must meet the table within this radius of the object (m;
#: the table's half size is 1.5 m), so no view sees past the table's edge.
TABLE_REACH = 1.4


def _corner_points(camera: SimCamera) -> np.ndarray:
    """Where the four corner rays of ``camera`` meet the table (4, 3); inf when one misses."""
    last = camera.width - 1
    u = np.array([0.0, last, 0.0, last])
    v = np.array([0.0, 0.0, last, last])
    depth = camera.plane_depth(u, v)
    if np.any(~np.isfinite(depth)) or np.any(depth <= 0):
        return np.full((4, 3), np.inf)
    return camera.deproject(u, v, depth)


def random_robot_camera(rng: np.random.Generator, target, size: int,
                        extent: float = math.inf) -> SimCamera:
    """A square ``size`` px robot view (see the module docstring) of the object at ``target``
    (world, m, on the table) whose largest horizontal size is ``extent`` (m): the height is
    drawn up to where the object still fills ROBOT_MIN_FILL of the view's width seen straight
    down (a tilted view, farther along its axis, up to 1 - cos 30 deg = 13% less; never below
    ROBOT_HEIGHT's lower end; the default ``extent`` leaves the whole range).

    Height, tilt and field of view are drawn until every corner of the view lands on the table
    within TABLE_REACH of ``target`` (at most 20 draws; then the tilt is halved until it does).
    The image's top is the far side of a tilted view, turned by up to ROBOT_MAX_ROLL_DEG.
    """
    target = np.asarray(target, dtype=np.float64)
    for draw in range(40):
        fov = rng.uniform(*ROBOT_FOV_DEG)
        tan_half = math.tan(math.radians(fov) / 2.0)
        highest = float(np.clip(extent / (ROBOT_MIN_FILL * 2.0 * tan_half), *ROBOT_HEIGHT))
        height = rng.uniform(ROBOT_HEIGHT[0], highest)
        tilt = math.radians(rng.uniform(0.0, ROBOT_MAX_TILT_DEG)) * (0.5 ** max(0, draw - 19))
        heading = rng.uniform(0.0, 2 * math.pi)
        roll = math.radians(rng.uniform(-ROBOT_MAX_ROLL_DEG, ROBOT_MAX_ROLL_DEG))
        distance = height / math.cos(tilt)
        half_width = distance * tan_half
        aim = target[:2] + rng.uniform(-ROBOT_MAX_OFFSET, ROBOT_MAX_OFFSET, 2) * 2 * half_width
        aim = np.append(aim, target[2] if target.size > 2 else 0.0)
        # The camera stands back from its aim point, away from the heading it looks along.
        ahead = np.array([math.cos(heading), math.sin(heading), 0.0])
        eye = aim - ahead * height * math.tan(tilt) + np.array([0.0, 0.0, height])
        up = math.cos(roll) * ahead + math.sin(roll) * np.array([-ahead[1], ahead[0], 0.0])
        corners = _corner_points(SimCamera.look_at(eye, aim, up, size, fov, 0.05, 10.0))
        reach = np.linalg.norm(corners[:, :2] - target[:2], axis=1)
        if np.all(reach <= TABLE_REACH):
            far = float(np.max(np.linalg.norm(corners - eye, axis=1))) + 0.5
            return SimCamera.look_at(eye, aim, up, size, fov, near=max(0.02, 0.2 * height),
                                     far=far)
    raise RuntimeError('no robot view fits on the table')  # not reached: tilt 0 always fits


def random_view_camera(rng: np.random.Generator, target, extent: float, size: int,
                       robot_p: float = 0.0,
                       fill_range: Tuple[float, float] = FILL_RANGE) -> SimCamera:
    """A robot view with probability ``robot_p``, else a Jacquard-like one (``extent`` filling
    a share in ``fill_range`` of it; clutter views frame their group wider, see
    :data:`.clutter.GROUP_FILL_RANGE`).

    With ``robot_p`` 0 nothing extra is drawn from ``rng``, so the views (and everything drawn
    after them) are exactly those of :func:`random_top_down_camera`.
    """
    if robot_p > 0.0 and rng.random() < robot_p:
        return random_robot_camera(rng, target, size, extent)
    return random_top_down_camera(rng, target, extent, size, fill_range=fill_range)
