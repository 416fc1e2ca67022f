"""How the generator frames a view: a mostly top-down camera at a random tilt, yaw and distance.

The policy only (NumPy random draws); the camera itself is :class:`simulation.camera.SimCamera`.
Jacquard's views are framed on the object, so every object, whatever its size, appears at a
useful scale.
"""

from __future__ import annotations

import math

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
                           fov_deg: float = FOV_DEG) -> SimCamera:
    """A square ``size`` px camera looking down at ``target`` (world, m), framed so ``extent``
    metres fill a random 30-50% of the view.

    The distance (0.2-1.5 m) follows from the fill fraction; the optical axis is tilted up to
    MAX_TILT_DEG from vertical in a random direction, the image rotated by a random yaw and the
    object shifted off-centre by up to 10% of the view.
    """
    tan_half = math.tan(math.radians(fov_deg) / 2.0)
    fill = rng.uniform(*FILL_RANGE)
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
