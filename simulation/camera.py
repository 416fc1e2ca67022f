"""The pinhole camera pybullet renders with: intrinsics, pose, OpenGL matrices and projection.

Pure NumPy and scipy (no pybullet), so the pixel <-> world mapping can be tested on its own.
One class, :class:`SimCamera`, serves the simulated ROS cameras (640x480, posed by ``xyz`` and
``rpy``) and the data generator (square views posed by :meth:`SimCamera.look_at`).

Frames and conventions:

* The camera frame is the **optical** frame (REP 103, OpenCV): x right, y down, z forward
  along the optical axis. ``rotation`` holds those three axes, in world coordinates (z up,
  metres), as its columns; ``position`` is the optical centre. The pose given as ``xyz`` and
  ``rpy`` (roll, pitch, yaw in radians, fixed axes x, y, z: tf2's ``setRPY``) is the grasp
  node's ``camera_pose.*`` convention, so the same numbers configure both.
* Pixels are ``(u, v)`` = (column, row) with integer values at pixel *centres*:
  ``u = cx + f * X / Z`` and ``v = cy + f * Y / Z``, ``fx = fy = f = (height / 2) /
  tan(fov / 2)`` for the **vertical** field of view ``fov_deg``, and the principal point
  ``(cx, cy) = (width / 2, height / 2 - 1)``. That asymmetric centre is pybullet's
  TinyRenderer's (measured: a small sphere on the optical axis is centred on column 320, row
  239 of a 640x480 image; the renderer samples pixel ``j`` at viewport coordinate ``j`` and
  flips rows), not the textbook ``(319.5, 239.5)``; a half-pixel error here would shift every
  grasp label against the image (test/simulation/test_sim_camera.py and
  test/training/test_synth.py check it against rendered masks).
* Depth is the z coordinate in the camera frame (distance along the optical axis, metres), the
  quantity a depth camera and Jacquard's ``perfect_depth`` images hold, not the ray length.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math
from typing import List, Optional, Sequence, Tuple

import numpy as np
from scipy.spatial.transform import Rotation

from mtg_grasp_ros.camera_model import CameraModel
from mtg_grasp_ros.transforms import RigidTransform

#: Defaults of the simulated ROS cameras: 640x480, 25 degrees vertical field of view, 0.55 m
#: above the table looking straight down (image right = world +x, image up = world +y). The
#: grasp node's centre crop (480 px) then covers 0.24 m of table, so a 10 cm object fills ~40%
#: of the network's input, as the generated training views (30-50%) do.
DEFAULT_SIZE = (640, 480)
DEFAULT_FOV_DEG = 25.0
DEFAULT_XYZ = (0.0, 0.0, 0.55)
DEFAULT_RPY = (math.pi, 0.0, 0.0)

#: OpenGL's camera looks down its -z with y up: OpenCV's axes with y and z flipped.
_GL_FLIP = np.array([1.0, -1.0, -1.0])


@dataclass(frozen=True)
class SimCamera:
    """A pinhole camera with pybullet's OpenGL projection (see the module docstring).

    ``width``, ``height``: image size in pixels (at least 16); ``fov_deg``: vertical field of
    view, full angle, degrees in [1, 150]; ``xyz`` (m) and ``rpy`` (rad): the optical frame in
    the world; ``near``, ``far``: clipping distances (m, ``0 < near < far``). ``rotation``
    (3x3, columns = optical axes in the world) overrides ``rpy`` when given, and ``rpy`` is
    then derived from it (:meth:`look_at` builds such cameras). Raises ValueError for values
    out of range.
    """

    width: int = DEFAULT_SIZE[0]
    height: int = DEFAULT_SIZE[1]
    fov_deg: float = DEFAULT_FOV_DEG
    xyz: Tuple[float, float, float] = DEFAULT_XYZ
    rpy: Tuple[float, float, float] = DEFAULT_RPY
    near: float = 0.05
    far: float = 3.0
    rotation: Optional[np.ndarray] = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.width < 16 or self.height < 16:
            raise ValueError(f'image size {self.width}x{self.height} is too small')
        if not 1.0 <= self.fov_deg <= 150.0:
            raise ValueError(f'fov_deg must be in [1, 150], got {self.fov_deg}')
        if not 0 < self.near < self.far:
            raise ValueError('need 0 < near < far')
        object.__setattr__(self, 'width', int(self.width))
        object.__setattr__(self, 'height', int(self.height))
        object.__setattr__(self, 'xyz', tuple(float(v) for v in self.xyz))
        if self.rotation is None:
            rotation = Rotation.from_euler('xyz', [float(v) for v in self.rpy]).as_matrix()
        else:
            rotation = np.array(self.rotation, dtype=np.float64).reshape(3, 3)
            object.__setattr__(self, 'rpy', tuple(
                float(v) for v in Rotation.from_matrix(rotation).as_euler('xyz')))
        object.__setattr__(self, 'rpy', tuple(float(v) for v in self.rpy))
        rotation.setflags(write=False)
        object.__setattr__(self, 'rotation', rotation)

    @classmethod
    def look_at(cls, eye: Sequence[float], target: Sequence[float], up: Sequence[float],
                size: int, fov_deg: float, near: float, far: float) -> 'SimCamera':
        """A square ``size`` px camera at ``eye`` looking at ``target`` (world, m).

        ``up`` (world direction) points to the top of the image. Raises ValueError when ``up``
        is parallel to the viewing direction.
        """
        eye = np.asarray(eye, dtype=np.float64)
        forward = np.asarray(target, dtype=np.float64) - eye
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, np.asarray(up, dtype=np.float64))
        norm = np.linalg.norm(right)
        if norm < 1e-9:
            raise ValueError('camera up vector is parallel to the viewing direction')
        right /= norm
        down = np.cross(forward, right)
        return cls(width=int(size), height=int(size), fov_deg=float(fov_deg), xyz=tuple(eye),
                   near=float(near), far=float(far),
                   rotation=np.stack([right, down, forward], axis=1))

    # Intrinsics -------------------------------------------------------------------------------

    @property
    def focal(self) -> float:
        """Focal length in pixels, ``fx = fy``, from the vertical field of view."""
        return (self.height / 2.0) / math.tan(math.radians(self.fov_deg) / 2.0)

    @property
    def cx(self) -> float:
        """Principal point column, pixel-centre coordinates (``width / 2``)."""
        return self.width / 2.0

    @property
    def cy(self) -> float:
        """Principal point row, pixel-centre coordinates (``height / 2 - 1``)."""
        return self.height / 2.0 - 1.0

    @property
    def intrinsics(self) -> np.ndarray:
        """The 3x3 matrix K for ``(u, v, 1) ~ K @ (X, Y, Z)`` in the camera frame."""
        f = self.focal
        return np.array([[f, 0.0, self.cx], [0.0, f, self.cy], [0.0, 0.0, 1.0]])

    @property
    def k(self) -> List[float]:
        """CameraInfo K: :attr:`intrinsics` row-major (9 floats)."""
        return [float(v) for v in self.intrinsics.reshape(-1)]

    @property
    def p(self) -> List[float]:
        """CameraInfo P (row-major 3x4; no stereo baseline)."""
        f = self.focal
        return [f, 0.0, self.cx, 0.0, 0.0, f, self.cy, 0.0, 0.0, 0.0, 1.0, 0.0]

    @property
    def model(self) -> CameraModel:
        """The runtime's camera model of these intrinsics (no distortion)."""
        return CameraModel(fx=self.focal, fy=self.focal, cx=self.cx, cy=self.cy,
                           width=self.width, height=self.height)

    # Pose -------------------------------------------------------------------------------------

    @property
    def position(self) -> np.ndarray:
        """Optical centre in the world (3,), metres."""
        return np.asarray(self.xyz, dtype=np.float64)

    @property
    def forward(self) -> np.ndarray:
        """Unit optical axis in the world (3,)."""
        return self.rotation[:, 2]

    @property
    def pose(self) -> RigidTransform:
        """The optical frame in the world: ``p_world = pose.apply(p_optical)``."""
        return RigidTransform(self.rotation, self.position)

    @property
    def quaternion(self) -> Tuple[float, float, float, float]:
        """Orientation of the optical frame in the world, ``(x, y, z, w)``."""
        return tuple(float(v) for v in Rotation.from_matrix(self.rotation).as_quat())

    @property
    def camera_to_world(self) -> np.ndarray:
        """4x4 homogeneous transform from the optical frame to the world."""
        pose = np.eye(4)
        pose[:3, :3] = self.rotation
        pose[:3, 3] = self.position
        return pose

    def table_point(self, table_z: float = 0.0) -> np.ndarray:
        """Where the optical axis meets the plane ``z = table_z`` (world, (3,)).

        Raises ValueError when the camera does not look down at it.
        """
        axis = self.forward
        if axis[2] > -1e-3:
            raise ValueError('the camera does not look down at the table')
        t = (table_z - self.position[2]) / axis[2]
        return self.position + t * axis

    # pybullet matrices ------------------------------------------------------------------------

    def view_matrix(self) -> List[float]:
        """OpenGL view matrix, 16 floats column-major, as ``pybullet.computeViewMatrix``."""
        gl_axes = self.rotation * _GL_FLIP
        view = np.eye(4)
        view[:3, :3] = gl_axes.T
        view[:3, 3] = -gl_axes.T @ self.position
        return [float(v) for v in view.T.reshape(-1)]

    def projection_matrix(self) -> List[float]:
        """OpenGL projection, 16 floats column-major, as ``computeProjectionMatrixFOV(fov,
        width / height, near, far)``."""
        t = 1.0 / math.tan(math.radians(self.fov_deg) / 2.0)
        aspect = self.width / self.height
        n, f = self.near, self.far
        proj = np.array([[t / aspect, 0, 0, 0], [0, t, 0, 0],
                         [0, 0, (f + n) / (n - f), 2 * f * n / (n - f)], [0, 0, -1, 0]])
        return [float(v) for v in proj.T.reshape(-1)]

    def window_projection(self, cols: Tuple[int, int], rows: Tuple[int, int]) -> List[float]:
        """:meth:`projection_matrix` narrowed to the image window ``cols`` x ``rows`` (half-open
        pixel ranges): rendered at the window's size, TinyRenderer samples exactly the full
        image's pixels of that window (the same grid: a crop). ValueError for an empty window or
        one outside the image."""
        (c0, c1), (r0, r1) = cols, rows
        w, h = self.width, self.height
        if not (0 <= c0 < c1 <= w and 0 <= r0 < r1 <= h):
            raise ValueError(f'window {cols} x {rows} is not inside a {w}x{h} image')
        cw, ch = c1 - c0, r1 - r0
        y0 = h - r1  # the window's first row in the viewport's (bottom-up) rows
        # The window's normalised device coordinates: x' = (w / cw) x + (w - 2 c0) / cw - 1
        # (y likewise), applied in clip space.
        ndc = np.array([[w / cw, 0.0, 0.0, (w - 2.0 * c0) / cw - 1.0],
                        [0.0, h / ch, 0.0, (h - 2.0 * y0) / ch - 1.0],
                        [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
        full = np.asarray(self.projection_matrix(), dtype=np.float64).reshape(4, 4).T
        return [float(v) for v in (ndc @ full).T.reshape(-1)]

    def depth_from_buffer(self, buffer: np.ndarray) -> np.ndarray:
        """Optical depth (float32 metres, same shape) from the OpenGL [0, 1] depth buffer."""
        buffer = np.asarray(buffer, dtype=np.float64)
        n, f = self.near, self.far
        return (f * n / (f - (f - n) * buffer)).astype(np.float32)

    # Mapping ----------------------------------------------------------------------------------

    def world_to_camera(self, points) -> np.ndarray:
        """World points (..., 3) into the optical frame (..., 3)."""
        return (np.asarray(points, dtype=np.float64) - self.position) @ self.rotation

    def camera_to_world_points(self, points) -> np.ndarray:
        """Optical-frame points (..., 3) into the world (..., 3)."""
        return np.asarray(points, dtype=np.float64) @ self.rotation.T + self.position

    def project(self, points) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World points (..., 3) -> ``(u, v, z)`` arrays (...): column, row, optical depth."""
        cam = self.world_to_camera(points)
        z = cam[..., 2]
        f = self.focal
        return self.cx + f * cam[..., 0] / z, self.cy + f * cam[..., 1] / z, z

    def deproject(self, u, v, depth) -> np.ndarray:
        """The world point(s) (..., 3) seen at pixel ``(u, v)`` with optical depth ``depth``."""
        f = self.focal
        u, v, depth = np.broadcast_arrays(np.asarray(u, dtype=np.float64),
                                          np.asarray(v, dtype=np.float64),
                                          np.asarray(depth, dtype=np.float64))
        cam = np.stack([(u - self.cx) * depth / f, (v - self.cy) * depth / f, depth], axis=-1)
        return self.camera_to_world_points(cam)

    def plane_depth(self, u, v, plane_z: float = 0.0) -> np.ndarray:
        """Optical depth at which the ray through pixel ``(u, v)`` meets the plane
        ``z = plane_z`` (inf for a ray parallel to it, negative behind the camera)."""
        f = self.focal
        u, v = np.broadcast_arrays(np.asarray(u, dtype=np.float64),
                                   np.asarray(v, dtype=np.float64))
        # World direction of the ray scaled to unit optical depth, then solve for its z.
        rays = np.stack([(u - self.cx) / f, (v - self.cy) / f, np.ones_like(u)], axis=-1)
        dz = rays @ self.rotation[2]
        with np.errstate(divide='ignore'):
            return (plane_z - self.position[2]) / dz

    def metres_to_pixels(self, length: float, depth: float) -> float:
        """Image length (px) of ``length`` metres parallel to the image plane at ``depth`` m."""
        return length * self.focal / depth

    def pixels_to_metres(self, length: float, depth: float) -> float:
        """Inverse of :meth:`metres_to_pixels`."""
        return length * depth / self.focal

    def to_dict(self) -> dict:
        """JSON-ready description: intrinsics (px), clipping (m), camera-to-world 4x4.

        Square cameras (the generator's) give their side as ``size``, others ``width`` and
        ``height``.
        """
        size = ({'size': self.width} if self.width == self.height
                else {'width': self.width, 'height': self.height})
        return {**size, 'fov_deg': self.fov_deg, 'fx': self.focal, 'fy': self.focal,
                'cx': self.cx, 'cy': self.cy, 'near': self.near, 'far': self.far,
                'camera_to_world': self.camera_to_world.round(9).tolist()}
