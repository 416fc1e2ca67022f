"""A grasp in camera pixels -> a 3-D grasp in the target frame (the pipeline's geometry stage).

The grasp centre and its two jaw end points (the centre +- half the opening along the closing
axis on screen) become pixel rays of the camera's pinhole model
(:meth:`mtg_grasp_ros.camera_model.CameraModel.pixel_to_ray`, after undistortion for raw
images). Each ray is then either

* ``depth_source='plane'``: intersected with the support plane raised by ``object_height`` along
  its normal, in the target frame (:func:`mtg_grasp_ros.camera_model.intersect_ray_plane`), or
* ``depth_source='depth_topic'``: scaled to the median valid depth around the centre pixel of
  an aligned depth image (all three points at that depth) and moved into the target frame.

The orientation follows :mod:`mtg_grasp_ros.transforms`' grasp pose convention: the closing
axis from jaw to jaw, the approach ``-z`` of the target frame (``top_down``) or the camera's
optical axis (``camera``). Failures raise the per-frame errors the node counts:
:class:`NoDepthError` (``no_depth``), :class:`mtg_grasp_ros.camera_model.RayPlaneError`
(``no_plane_hit``) and :class:`mtg_grasp_ros.transforms.TransformError` (``bad_transform``).
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Optional

import numpy as np

from mtg_grasp_ros.camera_model import CameraModel, intersect_ray_plane, RayPlaneError
from mtg_grasp_ros.crop import CropRegion
from mtg_grasp_ros.grasp import Grasp
from mtg_grasp_ros.transforms import grasp_orientation, RigidTransform


class NoDepthError(ValueError):
    """No valid depth reading at the grasp pixel (or no depth image at all)."""

    reason = 'no_depth'


@dataclass
class Grasp3D:
    """A grasp in the target frame (see :mod:`mtg_grasp_ros.transforms` for the pose axes)."""

    position: np.ndarray       # (3,) grasp centre, metres
    orientation: np.ndarray    # (4,) quaternion (x, y, z, w)
    rotation: np.ndarray       # (3, 3) columns: closing axis, z x x, approach
    yaw: float                 # closing axis about the target z axis, [-pi/2, pi/2)
    width_m: float             # gripper opening, metres
    quality: float
    depth: float               # z of the centre in the camera's optical frame (GG-CNN's depth)
    pixel: Grasp               # in camera image pixels
    network: Grasp             # in network input pixels
    jaw_points: np.ndarray     # (2, 3) the two jaw positions, target frame

    @property
    def closing_axis(self) -> np.ndarray:
        """(3,) unit vector from jaw to jaw, target frame (the pose's x axis)."""
        return self.rotation[:, 0]

    @property
    def approach(self) -> np.ndarray:
        """(3,) unit approach direction, target frame (the pose's z axis)."""
        return self.rotation[:, 2]

    @property
    def jaw_size_m(self) -> float:
        """Size of a jaw across the closing axis, metres: the pixel grasp's ``jaw_size`` at
        the opening's scale (the networks' rectangle makes it half the opening); 0 for a zero
        opening."""
        if self.pixel.width <= 0:
            return 0.0
        return float(self.width_m * self.pixel.jaw_size / self.pixel.width)


@dataclass(frozen=True, eq=False)
class GraspGeometry:
    """The geometry settings of :class:`mtg_grasp_ros.pipeline.PipelineConfig` (same names).

    ``plane_point`` (m) and the unit ``plane_normal`` are in the target frame, the normal
    pointing to the camera's side; ``object_height`` (m) lifts the plane along it;
    ``depth_window`` (px), ``depth_min``/``depth_max`` (m) bound the valid depths; ``rectified``
    False undistorts the grasp pixels with the camera's distortion coefficients.
    """

    depth_source: str
    plane_point: np.ndarray
    plane_normal: np.ndarray
    object_height: float
    depth_window: int
    depth_min: float
    depth_max: float
    approach: str
    rectified: bool

    def lift(self, net_grasp: Grasp, region: CropRegion, camera: CameraModel,
             camera_to_target: RigidTransform, depth: Optional[np.ndarray]) -> Grasp3D:
        """The 3-D grasp of a grasp in network input pixels.

        ``region``: the crop that made the network input; ``camera``: the image's intrinsics;
        ``camera_to_target``: the pose of the camera's optical frame in the target frame;
        ``depth``: (H, W) metres aligned with the image (``depth_topic`` only).
        """
        g = region.grasp_to_camera(net_grasp)
        # Centre and jaw end points in camera pixels (u, v); the closing axis on screen is
        # (du, dv) = (cos a, -sin a). A zero width still needs a direction: use +-0.5 px.
        du, dv = math.cos(g.angle), -math.sin(g.angle)
        half = max(g.width / 2.0, 0.5)
        pixels = np.array([[g.col, g.row], [g.col - half * du, g.row - half * dv],
                           [g.col + half * du, g.row + half * dv]])
        raw_centre = pixels[0].copy()
        if not self.rectified:
            pixels = camera.rectify_pixels(pixels)
        rays = camera.pixel_to_ray(pixels[:, 0], pixels[:, 1])
        if self.depth_source == 'plane':
            normal = self.plane_normal
            point = np.asarray(self.plane_point, dtype=np.float64) + self.object_height * normal
            origin = camera_to_target.translation
            rays_t = camera_to_target.rotate(rays)
            points_t = np.stack([intersect_ray_plane(r, point, normal, origin) for r in rays_t])
            centre_cam = camera_to_target.inverse().apply(points_t[0])
            z = float(centre_cam[2])
            if not self.depth_min <= z <= self.depth_max:
                raise RayPlaneError(
                    f'the pixel ray meets the support plane {z:.3g} m from the camera, outside '
                    f'[depth_min, depth_max] = [{self.depth_min}, {self.depth_max}] m '
                    f'(grazing ray)')
        else:
            z = self.depth_at(depth, raw_centre)
            points_cam = rays * (z / rays[:, 2:3])
            points_t = camera_to_target.apply(points_cam)
        closing = points_t[2] - points_t[1]
        span = float(np.linalg.norm(closing))
        width_m = span * (g.width / 2.0) / half
        centre = points_t[0]
        if self.approach == 'top_down':
            approach = np.array([0.0, 0.0, -1.0])
        else:
            approach = camera_to_target.rotate(np.array([0.0, 0.0, 1.0]))
        orientation = grasp_orientation(closing, approach)
        jaws = np.stack([centre - orientation.closing_axis * width_m / 2.0,
                         centre + orientation.closing_axis * width_m / 2.0])
        return Grasp3D(position=centre, orientation=orientation.quaternion,
                       rotation=orientation.rotation, yaw=orientation.yaw, width_m=width_m,
                       quality=g.quality, depth=z, pixel=g, network=net_grasp, jaw_points=jaws)

    def depth_at(self, depth: Optional[np.ndarray], pixel: np.ndarray) -> float:
        """Median (m) of the valid depths in a ``depth_window`` square around ``pixel`` (u, v).

        NaN, 0 and values outside ``[depth_min, depth_max]`` are ignored; raises
        :class:`NoDepthError` when none is left or there is no depth image.
        """
        if depth is None:
            raise NoDepthError('no depth image for this frame')
        h, w = depth.shape[:2]
        u, v = int(round(float(pixel[0]))), int(round(float(pixel[1])))
        r = self.depth_window // 2
        patch = np.asarray(depth[max(0, v - r):min(h, v + r + 1), max(0, u - r):min(w, u + r + 1)],
                           dtype=np.float64)
        valid = patch[np.isfinite(patch) & (patch >= self.depth_min) & (patch <= self.depth_max)]
        if valid.size == 0:
            raise NoDepthError(
                f'no valid depth within {self.depth_window} px of pixel ({u}, {v}) '
                f'(NaN, 0 or outside [{self.depth_min}, {self.depth_max}] m)')
        return float(np.median(valid))
