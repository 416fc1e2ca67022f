"""Pinhole camera geometry shared by the renderer, the grasp sampler and the gripper trial.

Pure NumPy (no pybullet), so the pixel <-> world mapping can be tested on its own.

Frames and conventions:

* The camera frame is OpenCV's: x right, y down, z forward (the optical axis). ``rotation``
  holds those three axes, in world coordinates, as its columns; ``position`` is the optical
  centre in the world (metres, z up).
* Pixels are ``(row, col)`` with integer values at pixel *centres*, as NumPy indexes an image
  and as :class:`mtg_grasp_ros.grasp.Grasp` stores them: ``col = cx + f * X / Z`` and
  ``row = cy + f * Y / Z`` with ``cx = size / 2`` and ``cy = size / 2 - 1``. That asymmetric
  principal point is pybullet's TinyRenderer's (measured: a sphere on the optical axis is
  centred on pixel ``(size/2 - 1, size/2)``; the renderer samples pixel ``j`` at viewport
  coordinate ``j`` and flips rows), not the textbook ``size / 2 - 0.5``; a half-pixel error
  here would shift every grasp label against the image.
* Depth is the z coordinate in the camera frame (distance along the optical axis, metres), the
  quantity a depth camera and Jacquard's ``perfect_depth`` images hold, not the ray length.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import List, Tuple

import numpy as np


@dataclass(frozen=True)
class Camera:
    """A square pinhole camera with an OpenGL projection (what pybullet renders with)."""

    size: int
    fov_deg: float
    near: float
    far: float
    position: np.ndarray
    rotation: np.ndarray

    @classmethod
    def look_at(cls, eye, target, up, size: int, fov_deg: float, near: float,
                far: float) -> 'Camera':
        """A camera at ``eye`` looking at ``target``; ``up`` points to the top of the image."""
        eye = np.asarray(eye, dtype=np.float64)
        forward = np.asarray(target, dtype=np.float64) - eye
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, np.asarray(up, dtype=np.float64))
        norm = np.linalg.norm(right)
        if norm < 1e-9:
            raise ValueError('camera up vector is parallel to the viewing direction')
        right /= norm
        down = np.cross(forward, right)
        return cls(size=int(size), fov_deg=float(fov_deg), near=float(near), far=float(far),
                   position=eye, rotation=np.stack([right, down, forward], axis=1))

    # Intrinsics -------------------------------------------------------------------------------

    @property
    def focal(self) -> float:
        """Focal length in pixels (fx = fy; ``fov_deg`` is the full field of view)."""
        return (self.size / 2.0) / math.tan(math.radians(self.fov_deg) / 2.0)

    @property
    def cx(self) -> float:
        """Principal point column (pixel-centre coordinates; see the module docstring)."""
        return self.size / 2.0

    @property
    def cy(self) -> float:
        """Principal point row (pixel-centre coordinates; see the module docstring)."""
        return self.size / 2.0 - 1.0

    @property
    def intrinsics(self) -> np.ndarray:
        """The 3x3 matrix K for ``(col, row, 1) ~ K @ (X, Y, Z)`` in the camera frame."""
        f = self.focal
        return np.array([[f, 0.0, self.cx], [0.0, f, self.cy], [0.0, 0.0, 1.0]])

    @property
    def camera_to_world(self) -> np.ndarray:
        """4x4 homogeneous transform from the (OpenCV) camera frame to the world."""
        pose = np.eye(4)
        pose[:3, :3] = self.rotation
        pose[:3, 3] = self.position
        return pose

    @property
    def forward(self) -> np.ndarray:
        """Unit optical axis (world)."""
        return self.rotation[:, 2]

    # pybullet matrices ------------------------------------------------------------------------

    def view_matrix(self) -> List[float]:
        """OpenGL view matrix, flattened column-major, as ``pybullet.computeViewMatrix``."""
        # OpenGL's camera looks down its -z with y up: flip OpenCV's y and z axes.
        gl_axes = self.rotation * np.array([1.0, -1.0, -1.0])
        view = np.eye(4)
        view[:3, :3] = gl_axes.T
        view[:3, 3] = -gl_axes.T @ self.position
        return [float(v) for v in view.T.reshape(-1)]

    def projection_matrix(self) -> List[float]:
        """OpenGL perspective matrix, column-major, as ``computeProjectionMatrixFOV``."""
        t = 1.0 / math.tan(math.radians(self.fov_deg) / 2.0)
        n, f = self.near, self.far
        proj = np.array([[t, 0, 0, 0], [0, t, 0, 0],
                         [0, 0, (f + n) / (n - f), 2 * f * n / (n - f)], [0, 0, -1, 0]])
        return [float(v) for v in proj.T.reshape(-1)]

    def depth_from_buffer(self, buffer: np.ndarray) -> np.ndarray:
        """Metric depth (float32) from the non-linear [0, 1] OpenGL depth buffer."""
        buffer = np.asarray(buffer, dtype=np.float64)
        n, f = self.near, self.far
        return (f * n / (f - (f - n) * buffer)).astype(np.float32)

    # Mapping ----------------------------------------------------------------------------------

    def world_to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points (..., 3) into the camera frame (..., 3)."""
        return (np.asarray(points, dtype=np.float64) - self.position) @ self.rotation

    def camera_to_world_points(self, points: np.ndarray) -> np.ndarray:
        """Camera-frame points (..., 3) into the world (..., 3)."""
        return np.asarray(points, dtype=np.float64) @ self.rotation.T + self.position

    def project(self, points: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World points (..., 3) to ``(row, col, depth)`` arrays of shape (...)."""
        cam = self.world_to_camera(points)
        depth = cam[..., 2]
        f = self.focal
        return self.cy + f * cam[..., 1] / depth, self.cx + f * cam[..., 0] / depth, depth

    def deproject(self, row, col, depth) -> np.ndarray:
        """The world point seen at pixel ``(row, col)`` with camera depth ``depth``."""
        f = self.focal
        row, col, depth = np.broadcast_arrays(np.asarray(row, dtype=np.float64),
                                              np.asarray(col, dtype=np.float64),
                                              np.asarray(depth, dtype=np.float64))
        cam = np.stack([(col - self.cx) * depth / f, (row - self.cy) * depth / f, depth], axis=-1)
        return self.camera_to_world_points(cam)

    def metres_to_pixels(self, length: float, depth: float) -> float:
        """Image length in pixels of ``length`` metres parallel to the image plane at ``depth``."""
        return length * self.focal / depth

    def pixels_to_metres(self, length: float, depth: float) -> float:
        """Inverse of :meth:`metres_to_pixels`."""
        return length * depth / self.focal

    def plane_depth(self, row, col, plane_z: float = 0.0) -> np.ndarray:
        """Camera depth at which the ray through ``(row, col)`` meets the plane ``z = plane_z``."""
        f = self.focal
        row, col = np.broadcast_arrays(np.asarray(row, dtype=np.float64),
                                       np.asarray(col, dtype=np.float64))
        # World direction of the ray scaled to unit camera depth, then solve for its z.
        rays = np.stack([(col - self.cx) / f, (row - self.cy) / f, np.ones_like(row)], axis=-1)
        dz = rays @ self.rotation[2]
        with np.errstate(divide='ignore'):
            return (plane_z - self.position[2]) / dz

    def to_dict(self) -> dict:
        """JSON-ready description (intrinsics and camera-to-world pose)."""
        return {'size': self.size, 'fov_deg': self.fov_deg, 'fx': self.focal, 'fy': self.focal,
                'cx': self.cx, 'cy': self.cy, 'near': self.near, 'far': self.far,
                'camera_to_world': self.camera_to_world.round(9).tolist()}


#: Full field of view of the generated views (degrees).
FOV_DEG = 35.0
#: Share of the image width that the object's largest horizontal size covers. At 30-50% the
#: openings of 95% of the labels stay under GG-CNN's width cap (150 px at 300 px, i.e. 512 px at
#: 1024); at 35-60% the 95th percentile was 557 px.
FILL_RANGE = (0.3, 0.5)
#: Largest tilt of the optical axis away from straight down (degrees): "mostly top-down".
MAX_TILT_DEG = 10.0


def random_top_down_camera(rng: np.random.Generator, target, extent: float, size: int,
                           fov_deg: float = FOV_DEG) -> Camera:
    """A camera looking down at ``target`` (world), framed so ``extent`` metres fill the view.

    The distance follows from a random fill fraction (so objects of every size appear at a
    useful scale, as in Jacquard, whose views are framed on the object); the optical axis is
    tilted up to MAX_TILT_DEG from vertical in a random direction, the image rotated by a random
    yaw and the object shifted off-centre by up to 10% of the view.
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
    return Camera.look_at(target + distance * direction, target, up, size, fov_deg,
                          near=max(0.02, 0.2 * distance), far=distance + 1.0)
