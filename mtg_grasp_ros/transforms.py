"""Rotations, rigid transforms and the grasp pose convention (ROS-free, NumPy only).

Quaternions are ``(x, y, z, w)`` as in ``geometry_msgs/Quaternion`` and tf2, Hamilton product,
active rotations. Roll-pitch-yaw follows tf2's ``setRPY``: ``R = Rz(yaw) @ Ry(pitch) @ Rx(roll)``
(rotations about the *fixed* x, y, z axes, in that order).

Grasp pose convention (what ``~/grasp_pose`` and ``~/grasps`` carry):

* position: the grasp centre, the point midway between the fingertips;
* x axis: the **closing axis**, from one jaw to the other (the gripper is symmetric, so of the two
  directions the one whose yaw in the target frame lies in ``[-pi/2, pi/2)`` is chosen);
* z axis: the **approach direction**, pointing from the gripper into the object (for a
  top-down grasp that is ``-z`` of the target frame, i.e. downwards);
* y axis: ``z x x``, completing a right-handed frame (along the jaws' faces).

This is the common "tool frame" of parallel grippers (z out of the flange, x between the
fingers); if the robot's tool frame differs, add a fixed rotation after this pose. ``yaw`` is
the angle of the closing axis about the target frame's z axis, ``atan2(x_y, x_x)``, wrapped into
``[-pi/2, pi/2)`` -- the rotation a top-down gripper needs about the vertical.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Optional, Sequence

import numpy as np

from mtg_grasp_ros.grasp import wrap_angle


class TransformError(ValueError):
    """A malformed rotation, quaternion or transform parameter."""

    reason = 'bad_transform'


class MissingTransformError(LookupError):
    """No transform from the camera frame to the target frame is available for a frame."""

    reason = 'no_transform'


def normalize_quaternion(q: Sequence[float]) -> np.ndarray:
    """Unit quaternion ``(x, y, z, w)``; raises :class:`TransformError` for a zero/NaN one."""
    q = np.asarray(q, dtype=np.float64).reshape(4)
    norm = float(np.linalg.norm(q))
    if not math.isfinite(norm) or norm < 1e-12:
        raise TransformError(f'quaternion {q.tolist()} has no direction (zero or not finite)')
    return q / norm


def matrix_from_quaternion(q: Sequence[float]) -> np.ndarray:
    """3x3 rotation matrix of a quaternion ``(x, y, z, w)`` (normalised first)."""
    x, y, z, w = normalize_quaternion(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def quaternion_from_matrix(m: np.ndarray) -> np.ndarray:
    """Unit quaternion ``(x, y, z, w)`` with ``w >= 0`` of a 3x3 rotation matrix."""
    m = np.asarray(m, dtype=np.float64).reshape(3, 3)
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    if trace > 0:
        s = 2.0 * math.sqrt(trace + 1.0)
        q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, s / 4]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [s / 4, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s]
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 1] + m[1, 0]) / s, s / 4, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s]
    else:
        s = 2.0 * math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, s / 4, (m[1, 0] - m[0, 1]) / s]
    q = normalize_quaternion(q)
    return -q if q[3] < 0 else q


def quaternion_from_rpy(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """Unit quaternion ``(x, y, z, w)`` of tf2's ``Quaternion::setRPY(roll, pitch, yaw)`` (rad).

    The rotation is ``Rz(yaw) Ry(pitch) Rx(roll)``: about the fixed x, y, z axes in that order.
    """
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    cy, sy = math.cos(yaw / 2), math.sin(yaw / 2)
    return np.array([sr * cp * cy - cr * sp * sy,
                     cr * sp * cy + sr * cp * sy,
                     cr * cp * sy - sr * sp * cy,
                     cr * cp * cy + sr * sp * sy])


@dataclass(frozen=True)
class RigidTransform:
    """``p_parent = rotation @ p_child + translation``: the pose of a child frame in a parent."""

    rotation: np.ndarray
    translation: np.ndarray

    def __post_init__(self) -> None:
        r = np.asarray(self.rotation, dtype=np.float64).reshape(3, 3)
        t = np.asarray(self.translation, dtype=np.float64).reshape(3)
        if not (np.isfinite(r).all() and np.isfinite(t).all()):
            raise TransformError('transform has non-finite values')
        if not np.allclose(r @ r.T, np.eye(3), atol=1e-6) or np.linalg.det(r) < 0:
            raise TransformError('rotation matrix is not a proper rotation')
        object.__setattr__(self, 'rotation', r)
        object.__setattr__(self, 'translation', t)

    @classmethod
    def identity(cls) -> 'RigidTransform':
        """The transform that changes nothing (a frame in itself)."""
        return cls(np.eye(3), np.zeros(3))

    @classmethod
    def from_xyz_quaternion(cls, xyz: Sequence[float], quaternion: Sequence[float]
                            ) -> 'RigidTransform':
        """From a translation (m) and a quaternion ``(x, y, z, w)`` (normalised here)."""
        return cls(matrix_from_quaternion(quaternion), np.asarray(xyz, dtype=np.float64))

    @classmethod
    def from_xyz_rpy(cls, xyz: Sequence[float], rpy: Sequence[float]) -> 'RigidTransform':
        """From a translation (m) and roll, pitch, yaw (rad, tf2's ``setRPY``)."""
        return cls.from_xyz_quaternion(xyz, quaternion_from_rpy(*rpy))

    @classmethod
    def from_parameters(cls, xyz: Sequence[float], rpy: Optional[Sequence[float]] = None,
                        quaternion: Optional[Sequence[float]] = None) -> 'RigidTransform':
        """From node parameters: ``xyz`` plus a quaternion ``(x, y, z, w)`` when it is given and
        non-zero, else ``rpy`` (radians). Raises :class:`TransformError` for wrong lengths."""
        xyz = _floats(xyz, 3, 'xyz')
        if quaternion is not None and len(quaternion) and any(quaternion):
            return cls.from_xyz_quaternion(xyz, _floats(quaternion, 4, 'quaternion'))
        return cls.from_xyz_rpy(xyz, _floats(rpy if rpy is not None else (0, 0, 0), 3, 'rpy'))

    @classmethod
    def from_msg(cls, transform) -> 'RigidTransform':
        """From a ``geometry_msgs/Transform`` (``.translation``, ``.rotation``)."""
        t, q = transform.translation, transform.rotation
        return cls.from_xyz_quaternion((t.x, t.y, t.z), (q.x, q.y, q.z, q.w))

    @property
    def quaternion(self) -> np.ndarray:
        """(4,) the rotation as a unit quaternion ``(x, y, z, w)`` with ``w >= 0``."""
        return quaternion_from_matrix(self.rotation)

    def inverse(self) -> 'RigidTransform':
        """The parent's pose in the child frame."""
        return RigidTransform(self.rotation.T, -self.rotation.T @ self.translation)

    def __matmul__(self, other: 'RigidTransform') -> 'RigidTransform':
        """Composition: ``(a @ b)(p) = a(b(p))``."""
        return RigidTransform(self.rotation @ other.rotation,
                              self.rotation @ other.translation + self.translation)

    def apply(self, points) -> np.ndarray:
        """Transform point(s) of shape (..., 3)."""
        points = np.asarray(points, dtype=np.float64)
        return points @ self.rotation.T + self.translation

    def rotate(self, vectors) -> np.ndarray:
        """Rotate direction(s) of shape (..., 3) (no translation)."""
        return np.asarray(vectors, dtype=np.float64) @ self.rotation.T


@dataclass(frozen=True)
class StaticTransform:
    """A fixed camera pose from node parameters: ``target_frame <- camera_frame``.

    ``camera_frame`` empty means "whatever frame the image header names".
    """

    target_frame: str
    camera_frame: str
    transform: RigidTransform

    @classmethod
    def from_parameters(cls, target_frame: str, camera_frame: str, xyz, rpy=None,
                        quaternion=None) -> 'StaticTransform':
        """See :meth:`RigidTransform.from_parameters`; raises :class:`TransformError`."""
        return cls(target_frame, camera_frame,
                   RigidTransform.from_parameters(xyz, rpy=rpy, quaternion=quaternion))

    def lookup(self, source_frame: str) -> RigidTransform:
        """The transform for an image in ``source_frame``; raises MissingTransformError if
        this static pose is for another camera frame."""
        if source_frame == self.target_frame:
            return RigidTransform.identity()
        if self.camera_frame and source_frame and source_frame != self.camera_frame:
            raise MissingTransformError(
                f'the static camera pose is for frame {self.camera_frame!r}, but the image is in '
                f'{source_frame!r}: no transform {self.target_frame!r} <- {source_frame!r}')
        return self.transform


@dataclass(frozen=True)
class GraspOrientation:
    """The orientation of a grasp pose (see the module's convention)."""

    quaternion: np.ndarray  # (x, y, z, w)
    rotation: np.ndarray    # columns: closing axis x, y = z x x, approach z
    yaw: float              # closing axis about the target frame's z, in [-pi/2, pi/2)

    @property
    def closing_axis(self) -> np.ndarray:
        """(3,) the unit x axis: from jaw to jaw."""
        return self.rotation[:, 0]

    @property
    def approach(self) -> np.ndarray:
        """(3,) the unit z axis: the approach direction."""
        return self.rotation[:, 2]


def closing_axis_yaw(axis: Sequence[float]) -> float:
    """Yaw of a closing axis about the z axis of its frame, wrapped into ``[-pi/2, pi/2)``."""
    axis = np.asarray(axis, dtype=np.float64)
    yaw = wrap_angle(math.atan2(axis[1], axis[0]))
    # Rounding can put an axis along y at +pi/2 - 1e-16: report the boundary as -pi/2.
    return yaw - math.pi if yaw > math.pi / 2 - 1e-9 else yaw


def grasp_orientation(closing_axis: Sequence[float], approach: Sequence[float]
                      ) -> GraspOrientation:
    """Orientation from a closing axis and an approach direction, both in the target frame.

    z = approach (normalised); x = the closing axis made orthogonal to z (Gram-Schmidt) and
    turned so that its yaw lies in ``[-pi/2, pi/2)``; y = z x x. Raises
    :class:`TransformError` when the closing axis is (nearly) parallel to the approach.
    """
    z = np.asarray(approach, dtype=np.float64).reshape(3)
    n = float(np.linalg.norm(z))
    if not math.isfinite(n) or n < 1e-12:
        raise TransformError('approach direction has zero length')
    z = z / n
    c = np.asarray(closing_axis, dtype=np.float64).reshape(3)
    x = c - np.dot(c, z) * z
    nx = float(np.linalg.norm(x))
    if not math.isfinite(nx) or nx < 1e-6 * max(float(np.linalg.norm(c)), 1e-12):
        raise TransformError('the closing axis is parallel to the approach direction')
    x = x / nx
    # Canonical sign: x pointing to +x of the target frame (yaw in [-pi/2, pi/2)); along the
    # y axis, to -y (yaw -pi/2); vertical (only for non-top-down approaches), downwards.
    eps = 1e-9
    if x[0] < -eps or (abs(x[0]) <= eps and (x[1] > eps or (abs(x[1]) <= eps and x[2] > 0))):
        x = -x
    y = np.cross(z, x)
    rotation = np.stack([x, y, z], axis=1)
    return GraspOrientation(quaternion=quaternion_from_matrix(rotation), rotation=rotation,
                            yaw=closing_axis_yaw(x))


def _floats(values, n: int, name: str) -> list:
    values = [float(v) for v in values]
    if len(values) != n or not all(math.isfinite(v) for v in values):
        raise TransformError(f'{name} must be {n} finite numbers, got {values}')
    return values
