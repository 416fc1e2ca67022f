"""Pinhole camera geometry (ROS-free, NumPy only): intrinsics, pixel rays, depth and planes.

Conventions (as ``image_geometry.PinholeCameraModel`` and REP-103 optical frames):

* pixel ``(u, v)`` = ``(col, row)`` of the image, the centre of the top-left pixel is (0, 0);
* the camera frame is the *optical* frame: x right, y down, z forward (out of the lens);
* the ray of a pixel is ``((u - cx) / fx, (v - cy) / fy, 1)``, with ``z = 1`` and *not* unit
  length, so the 3-D point at depth Z (the z coordinate, what a depth camera measures) is
  ``ray * Z / ray_z``; scaling a unit ray by Z would place the point too close off-axis;
* fx, fy, cx, cy come from the projection matrix P when it is set (the intrinsics of the
  *rectified* image), else from K. Deprojecting with P is only right for rectified images:
  for a raw, distorted image set ``rectified=False`` so that pixels are undistorted first
  (:meth:`CameraModel.rectify_pixels`, OpenCV's ``undistortPoints`` with K, D, R, P).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math
from typing import Optional, Sequence, Tuple

import numpy as np


class CameraModelError(ValueError):
    """Unusable camera intrinsics (zero focal length, missing CameraInfo, bad model)."""

    reason = 'bad_camera_info'


class RayPlaneError(ValueError):
    """A pixel ray does not hit the support plane in front of the camera."""

    reason = 'no_plane_hit'


class ParallelRayError(RayPlaneError):
    """The ray is parallel to the plane (the camera looks along the plane)."""


class BehindCameraError(RayPlaneError):
    """The ray meets the plane behind the camera (the plane is not in view at this pixel)."""


#: Distortion models OpenCV's undistortPoints understands (plumb_bob: 5, rational: 8 coeffs).
_OPENCV_MODELS = ('plumb_bob', 'rational_polynomial', '')


@dataclass(frozen=True)
class CameraModel:
    """Intrinsics of one (rectified) camera image of ``width`` x ``height`` pixels."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int = 0
    height: int = 0
    # Raw-image model for undistortion (only used by rectify_pixels).
    k: Optional[Tuple[float, ...]] = field(default=None, compare=False)
    d: Tuple[float, ...] = field(default=(), compare=False)
    r: Optional[Tuple[float, ...]] = field(default=None, compare=False)
    p: Optional[Tuple[float, ...]] = field(default=None, compare=False)
    distortion_model: str = field(default='', compare=False)

    def __post_init__(self) -> None:
        for name in ('fx', 'fy', 'cx', 'cy'):
            if not math.isfinite(getattr(self, name)):
                raise CameraModelError(f'camera intrinsic {name} is not finite')
        if self.fx <= 0 or self.fy <= 0:
            raise CameraModelError(
                f'camera focal lengths must be positive, got fx={self.fx}, fy={self.fy} '
                f'(an uncalibrated camera publishes zeros in CameraInfo K and P)')
        if self.width < 0 or self.height < 0:
            raise CameraModelError(f'bad camera image size {self.width}x{self.height}')

    @classmethod
    def from_camera_info(cls, k: Sequence[float], p: Optional[Sequence[float]] = None,
                         width: int = 0, height: int = 0, d: Sequence[float] = (),
                         r: Optional[Sequence[float]] = None, distortion_model: str = '',
                         binning_x: int = 0, binning_y: int = 0,
                         roi: Optional[Tuple[int, int, int, int]] = None) -> 'CameraModel':
        """Build from CameraInfo fields: K (9), P (12), D, R (9), size, binning, ROI.

        P is used when its fx and fy are non-zero, else K. Binning divides the intrinsics and
        the size; an ROI ``(x_offset, y_offset, width, height)`` with non-zero size shifts the
        principal point and gives the size, as ``image_geometry`` does. An R of all zeros (sent
        by some drivers for a monocular camera, where sensor_msgs/CameraInfo specifies the
        identity) is read as the identity: as a rotation it would send every undistorted pixel
        to the principal point.
        """
        k = _as_floats(k, 9, 'K')
        p = _as_floats(p, 12, 'P') if p is not None and len(p) else None
        if p is not None and p[0] != 0.0 and p[5] != 0.0:
            fx, fy, cx, cy = p[0], p[5], p[2], p[6]
        elif k[0] != 0.0 and k[4] != 0.0:
            fx, fy, cx, cy = k[0], k[4], k[2], k[5]
        else:
            raise CameraModelError(
                'CameraInfo has zero focal lengths in both P and K: the camera is not '
                'calibrated (fx = fy = 0)')
        width, height = int(width), int(height)
        if roi is not None and roi[2] > 0 and roi[3] > 0:
            x_off, y_off, width, height = (int(v) for v in roi)
            cx, cy = cx - x_off, cy - y_off
        bx, by = max(1, int(binning_x)), max(1, int(binning_y))
        if bx > 1 or by > 1:
            fx, cx, fy, cy = fx / bx, cx / bx, fy / by, cy / by
            width, height = width // bx, height // by
        return cls(fx=float(fx), fy=float(fy), cx=float(cx), cy=float(cy), width=width,
                   height=height, k=tuple(k), d=tuple(float(v) for v in d),
                   r=_rectification(r),
                   p=tuple(p) if p is not None else None, distortion_model=distortion_model)

    @classmethod
    def from_msg(cls, msg) -> 'CameraModel':
        """Build from a ``sensor_msgs/CameraInfo`` (or any object with its fields)."""
        roi = getattr(msg, 'roi', None)
        roi_tuple = ((roi.x_offset, roi.y_offset, roi.width, roi.height)
                     if roi is not None else None)
        return cls.from_camera_info(
            k=list(msg.k), p=list(msg.p), width=msg.width, height=msg.height, d=list(msg.d),
            r=list(msg.r), distortion_model=msg.distortion_model,
            binning_x=getattr(msg, 'binning_x', 0), binning_y=getattr(msg, 'binning_y', 0),
            roi=roi_tuple)

    @property
    def matrix(self) -> np.ndarray:
        """The 3x3 intrinsic matrix of the rectified image."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def check_image_size(self, width: int, height: int) -> None:
        """Raise :class:`CameraModelError` when an image does not have CameraInfo's size.

        A CameraInfo with size 0 x 0 (some drivers) accepts every image.
        """
        if self.width and self.height and (width, height) != (self.width, self.height):
            raise CameraModelError(
                f'image is {width}x{height} but CameraInfo says {self.width}x{self.height}: '
                f'the camera_info topic does not belong to this image (or binning/ROI differ)')

    def pixel_to_ray(self, u, v) -> np.ndarray:
        """Ray(s) ``((u - cx) / fx, (v - cy) / fy, 1)`` in the optical frame, shape (..., 3)."""
        u, v = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
        return np.stack([(u - self.cx) / self.fx, (v - self.cy) / self.fy,
                         np.ones(np.broadcast(u, v).shape)], axis=-1)

    def deproject(self, u, v, depth) -> np.ndarray:
        """3-D point(s) at pixel ``(u, v)`` whose z coordinate is ``depth`` (metres)."""
        ray = self.pixel_to_ray(u, v)
        return ray * (np.asarray(depth, dtype=np.float64)[..., None] / ray[..., 2:3])

    def project(self, points) -> np.ndarray:
        """Pixel(s) ``(u, v)`` of 3-D point(s) in the optical frame, shape (..., 2)."""
        points = np.asarray(points, dtype=np.float64)
        z = points[..., 2]
        return np.stack([self.fx * points[..., 0] / z + self.cx,
                         self.fy * points[..., 1] / z + self.cy], axis=-1)

    def width_to_metres(self, width_px: float, depth: float) -> float:
        """A length of ``width_px`` pixels along the image x axis at depth Z: ``w * Z / fx``."""
        return float(width_px) * float(depth) / self.fx

    def rectify_pixels(self, pixels) -> np.ndarray:
        """Raw (distorted) pixels ``(..., 2)`` as ``(u, v)`` -> pixels of the rectified image.

        Uses K, D, R, P of the CameraInfo (OpenCV's ``undistortPoints``; ``equidistant`` via
        ``cv2.fisheye``). Without distortion coefficients the pixels are returned unchanged.
        """
        pixels = np.asarray(pixels, dtype=np.float64)
        if not any(self.d) or self.k is None:
            return pixels
        import cv2

        k = np.array(self.k, dtype=np.float64).reshape(3, 3)
        d = np.array(self.d, dtype=np.float64)
        r = np.array(self.r, dtype=np.float64).reshape(3, 3) if self.r else np.eye(3)
        p = self.matrix
        pts = pixels.reshape(-1, 1, 2)
        if self.distortion_model == 'equidistant':
            out = cv2.fisheye.undistortPoints(pts, k, d[:4], R=r, P=p)
        elif self.distortion_model in _OPENCV_MODELS:
            out = cv2.undistortPoints(pts, k, d, R=r, P=p)
        else:
            raise CameraModelError(
                f'cannot undistort pixels of distortion model {self.distortion_model!r}; '
                f'subscribe to a rectified image (image_rect) and set rectified: true')
        return out.reshape(pixels.shape)


def intersect_ray_plane(ray, plane_point, plane_normal, origin=(0.0, 0.0, 0.0),
                        eps: float = 1e-9) -> np.ndarray:
    """Point where the ray ``origin + t * ray`` (t > 0) meets a plane (point + normal).

    Raises :class:`ParallelRayError` when the ray is (nearly) parallel to the plane and
    :class:`BehindCameraError` when the hit is behind the origin (t <= 0).
    """
    ray = np.asarray(ray, dtype=np.float64)
    origin = np.asarray(origin, dtype=np.float64)
    normal = np.asarray(plane_normal, dtype=np.float64)
    n_norm, r_norm = float(np.linalg.norm(normal)), float(np.linalg.norm(ray))
    if n_norm == 0.0 or r_norm == 0.0:
        raise RayPlaneError('zero-length plane normal or ray')
    denom = float(np.dot(normal, ray))
    if abs(denom) <= eps * n_norm * r_norm:
        raise ParallelRayError('the pixel ray is parallel to the support plane')
    t = float(np.dot(normal, np.asarray(plane_point, dtype=np.float64) - origin)) / denom
    if not t > 0.0:
        raise BehindCameraError(
            'the support plane is behind the camera along this pixel ray (check the camera '
            'pose / TF and the table height)')
    return origin + t * ray


def _as_floats(values, n: int, name: str) -> list:
    if values is None:
        raise CameraModelError(f'CameraInfo {name} is missing')
    values = [float(v) for v in values]
    if len(values) != n:
        raise CameraModelError(f'CameraInfo {name} must have {n} values, got {len(values)}')
    if not all(math.isfinite(v) for v in values):
        raise CameraModelError(f'CameraInfo {name} has non-finite values')
    return values


def _rectification(r: Optional[Sequence[float]]) -> Optional[Tuple[float, ...]]:
    """CameraInfo's R (9 values) as a tuple, or None (the identity) when it is absent or all
    zeros."""
    if r is None or not len(r):
        return None
    values = _as_floats(r, 9, 'R')
    return tuple(values) if any(values) else None
