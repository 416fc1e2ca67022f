"""Planar grasp representation and rectangle geometry (ROS-free, NumPy only).

Conventions used everywhere in this package (training, export and the node):

* Image coordinates are ``(row, col)`` with rows growing downwards, as NumPy indexes an image.
* ``angle`` is the direction of the gripper's *closing axis* in radians, measured
  counter-clockwise as the image is seen on screen, i.e. the closing axis points along
  ``(d_col, d_row) = (cos(angle), -sin(angle))``. It is wrapped into ``[-pi/2, pi/2)``
  because a parallel-jaw grasp is symmetric under a half turn.
* ``width`` is the gripper opening in pixels (the paper's W; Jacquard's ``w``) and
  ``jaw_size`` the size of a jaw across the closing axis (Jacquard's ``h``).

Jacquard writes ``theta`` in degrees in image axes (rows down), which is the negative of our
angle; :func:`Grasp.from_jacquard` and :meth:`Grasp.to_jacquard` do that conversion.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
import math

import numpy as np


def wrap_angle(angle: float) -> float:
    """Wrap an angle (radians) into ``[-pi/2, pi/2)``: a parallel grasp repeats every pi."""
    return (angle + math.pi / 2.0) % math.pi - math.pi / 2.0


def angle_difference(a: float, b: float) -> float:
    """Smallest absolute difference between two grasp angles, modulo pi (radians)."""
    return abs(wrap_angle(a - b))


@dataclass(frozen=True)
class Grasp:
    """An oriented grasp rectangle in an image."""

    row: float
    col: float
    angle: float
    width: float
    jaw_size: float
    quality: float = 1.0

    def __post_init__(self) -> None:
        values = (self.row, self.col, self.angle, self.width, self.jaw_size, self.quality)
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f'grasp has a non-finite value: {self}')
        object.__setattr__(self, 'angle', wrap_angle(self.angle))

    @classmethod
    def from_jacquard(cls, x: float, y: float, theta_deg: float, w: float, h: float) -> 'Grasp':
        """Build from one Jacquard line ``x;y;theta;w;h`` (pixels, degrees, image axes)."""
        return cls(row=y, col=x, angle=-math.radians(theta_deg), width=w, jaw_size=h)

    def to_jacquard(self) -> tuple:
        """The Jacquard fields ``(x, y, theta_deg, w, h)`` of this grasp."""
        return (self.col, self.row, -math.degrees(self.angle), self.width, self.jaw_size)

    @classmethod
    def from_corners(cls, corners: np.ndarray) -> 'Grasp':
        """Build from 4 corners ``(row, col)`` in drawing order, as Cornell's ``cpos`` files.

        The first edge (corner 0 -> 1) runs along the closing axis (Cornell's convention).
        """
        corners = np.asarray(corners, dtype=np.float64).reshape(4, 2)
        d_row, d_col = corners[1] - corners[0]
        angle = math.atan2(-d_row, d_col)
        width = float(np.hypot(d_row, d_col))
        jaw = float(np.hypot(*(corners[2] - corners[1])))
        row, col = corners.mean(axis=0)
        return cls(row=float(row), col=float(col), angle=angle, width=width, jaw_size=jaw)

    @property
    def closing_axis(self) -> np.ndarray:
        """Unit vector ``(d_row, d_col)`` along which the jaws close."""
        return np.array([-math.sin(self.angle), math.cos(self.angle)])

    def corners(self) -> np.ndarray:
        """The 4 corners ``(row, col)``, shape (4, 2), going round the rectangle."""
        axis = self.closing_axis
        along = axis * (self.width / 2.0)
        across = np.array([axis[1], -axis[0]]) * (self.jaw_size / 2.0)
        centre = np.array([self.row, self.col])
        return np.stack([centre - along - across, centre + along - across,
                         centre + along + across, centre - along + across])

    def scaled(self, factor: float) -> 'Grasp':
        """The same grasp in an image resized by ``factor`` about the origin."""
        return replace(self, row=self.row * factor, col=self.col * factor,
                       width=self.width * factor, jaw_size=self.jaw_size * factor)
