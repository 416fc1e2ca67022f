"""Image grasp rectangle <-> 3-D top-down gripper pose, through the render camera.

The gripper approaches along the camera's optical axis (Jacquard's and the paper's setting: a
grasp "perpendicular to the image plane"), so an image rectangle maps to one pose per depth:

* position: the fingertip centre, on the ray through the rectangle's centre pixel, at camera
  depth ``tip_depth``;
* rotation (3x3, columns in the world: the *gripper frame* of :mod:`simulation.gripper`):
  x = closing axis, the image direction ``(d_col, d_row) = (cos a, -sin a)`` lifted into the
  camera frame; z = minus the optical axis (back towards the camera); y = z x x (across the
  jaws).

Back to the image (the label), lengths are converted at the depth of the *visible surface* at
the grasp centre (``reference_depth``, read from the perfect depth image): that is the depth a
robot reads at the predicted pixel to turn a predicted width in pixels into metres, so the
label and its later use agree.
"""

from __future__ import annotations

import math
from typing import Tuple

import numpy as np

from mtg_grasp_ros.grasp import Grasp
from simulation.camera import SimCamera


def gripper_rotation(camera: SimCamera, angle: float) -> np.ndarray:
    """Gripper frame (3x3, columns: closing, jaw, up axes in the world) for the image angle
    ``angle`` (radians, counter-clockwise on screen, :class:`~mtg_grasp_ros.grasp.Grasp`'s)."""
    closing = camera.rotation @ np.array([math.cos(angle), -math.sin(angle), 0.0])
    up = -camera.forward
    return np.stack([closing, np.cross(up, closing), up], axis=1)


def grasp_to_pose(camera: SimCamera, grasp: Grasp, tip_depth: float
                  ) -> Tuple[np.ndarray, np.ndarray]:
    """World fingertip-centre position (3,), m, and gripper rotation (3x3) of an image grasp
    with its fingertips at optical depth ``tip_depth`` (m)."""
    position = camera.deproject(grasp.col, grasp.row, tip_depth)
    return position, gripper_rotation(camera, grasp.angle)


def pose_to_grasp(camera: SimCamera, position: np.ndarray, rotation: np.ndarray,
                  opening: float, jaw_size: float, reference_depth: float) -> Grasp:
    """The image rectangle of a gripper pose (opening and jaw size in metres).

    Centre: the projection of the fingertip centre. Angle: the projected closing axis. Width and
    jaw size: metres converted to pixels at ``reference_depth`` (m).
    """
    position = np.asarray(position, dtype=np.float64)
    ends = np.stack([position - 0.01 * rotation[:, 0], position + 0.01 * rotation[:, 0]])
    cols, rows, _ = camera.project(ends)
    col, row, _ = camera.project(position)
    angle = math.atan2(-(rows[1] - rows[0]), cols[1] - cols[0])
    return Grasp(row=float(row), col=float(col), angle=angle,
                 width=camera.metres_to_pixels(opening, reference_depth),
                 jaw_size=camera.metres_to_pixels(jaw_size, reference_depth))


def box_corners(position: np.ndarray, rotation: np.ndarray, centre_local,
                half_extents) -> np.ndarray:
    """The 8 world corners (8, 3) of a box given in the gripper frame (``position``,
    ``rotation``) by its centre and half sizes (m)."""
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
    local = np.asarray(centre_local, dtype=np.float64) + signs * np.asarray(half_extents)
    return local @ np.asarray(rotation).T + np.asarray(position)
