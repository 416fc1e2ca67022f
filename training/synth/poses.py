"""Image grasp rectangle <-> 3-D top-down gripper pose, through the camera.

The gripper approaches along the camera's optical axis (Jacquard's and the paper's setting: a
grasp "perpendicular to the image plane"), so an image rectangle maps to one pose per depth:

* position: the fingertip centre, on the ray through the rectangle's centre pixel, at camera
  depth ``tip_depth``;
* rotation (columns, world): x = closing axis, the image direction ``(d_col, d_row) =
  (cos a, -sin a)`` lifted into the camera frame; z = minus the optical axis (back towards the
  camera); y = z x x (across the jaws).

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
from training.synth.camera import Camera


def gripper_rotation(camera: Camera, angle: float) -> np.ndarray:
    """Gripper frame (columns: closing, jaw, up) for image angle ``angle`` (radians, CCW)."""
    closing = camera.rotation @ np.array([math.cos(angle), -math.sin(angle), 0.0])
    up = -camera.forward
    return np.stack([closing, np.cross(up, closing), up], axis=1)


def grasp_to_pose(camera: Camera, grasp: Grasp, tip_depth: float
                  ) -> Tuple[np.ndarray, np.ndarray]:
    """World fingertip-centre position and gripper rotation of an image grasp at ``tip_depth``."""
    position = camera.deproject(grasp.row, grasp.col, tip_depth)
    return position, gripper_rotation(camera, grasp.angle)


def pose_to_grasp(camera: Camera, position: np.ndarray, rotation: np.ndarray, opening: float,
                  jaw_size: float, reference_depth: float) -> Grasp:
    """The image rectangle of a gripper pose (opening and jaw size in metres).

    Centre: the projection of the fingertip centre. Angle: the projected closing axis. Width and
    jaw size: metres converted to pixels at ``reference_depth``.
    """
    position = np.asarray(position, dtype=np.float64)
    ends = np.stack([position - 0.01 * rotation[:, 0], position + 0.01 * rotation[:, 0]])
    rows, cols, _ = camera.project(ends)
    row, col, _ = camera.project(position)
    angle = math.atan2(-(rows[1] - rows[0]), cols[1] - cols[0])
    return Grasp(row=float(row), col=float(col), angle=angle,
                 width=camera.metres_to_pixels(opening, reference_depth),
                 jaw_size=camera.metres_to_pixels(jaw_size, reference_depth))


def box_corners(position: np.ndarray, rotation: np.ndarray, centre_local,
                half_extents) -> np.ndarray:
    """The 8 world corners of a box given in the gripper frame (centre and half sizes)."""
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
    local = np.asarray(centre_local, dtype=np.float64) + signs * np.asarray(half_extents)
    return local @ np.asarray(rotation).T + np.asarray(position)
