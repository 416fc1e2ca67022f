"""Network output maps -> grasps (ROS-free): Gaussian smoothing and top-k extraction.

The paper smooths Q, W and the angle with a Gaussian of sigma 5 px and takes the single highest
Q pixel. We smooth ``cos 2phi`` and ``sin 2phi`` *before* taking the angle rather than the angle
map itself: smoothing raw angles averages +89 and -89 degrees to 0, which is the worst possible
answer near the wrap-around, whereas smoothing the unit-vector components does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List

import cv2
import numpy as np

from mtg_grasp_ros.centring import centre_on_object
from mtg_grasp_ros.grasp import Grasp

#: Network width output 1.0 means this many pixels of opening in the network's input image.
DEFAULT_WIDTH_SCALE = 150.0
#: Sigma of the Gaussian smoothing, in pixels of the network's output (the paper: 5).
DEFAULT_SIGMA = 5.0


def sigma_for_input_size(input_size: int) -> float:
    """The paper's sigma (5 px at its 300 px input) for a network of another input size, so the
    smoothing covers the same part of the scene: at 64 px a sigma of 5 would blur a grasp region
    away. Used by evaluation and written into exported models, so both smooth alike."""
    return DEFAULT_SIGMA * input_size / 300.0


@dataclass
class GraspMaps:
    """Per-pixel grasp maps of one image, shape (H, W) each, float32."""

    quality: np.ndarray
    angle: np.ndarray
    width: np.ndarray  # opening in pixels


def as_map(a: np.ndarray) -> np.ndarray:
    """A network output as a contiguous float32 (H, W) map."""
    return np.ascontiguousarray(np.asarray(a, dtype=np.float32).squeeze())


def gaussian_smooth(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with OpenCV (a kernel of +-4 sigma); sigma <= 0 returns the input."""
    if sigma <= 0:
        return image
    radius = max(1, int(round(4.0 * sigma)))
    return cv2.GaussianBlur(image, (2 * radius + 1, 2 * radius + 1), sigmaX=sigma,
                            sigmaY=sigma, borderType=cv2.BORDER_REPLICATE)


def smooth_maps(quality: np.ndarray, cos2: np.ndarray, sin2: np.ndarray, width: np.ndarray,
                sigma_quality: float = DEFAULT_SIGMA, sigma_angle: float = DEFAULT_SIGMA,
                sigma_width: float = DEFAULT_SIGMA,
                width_scale: float = DEFAULT_WIDTH_SCALE) -> GraspMaps:
    """Turn raw network outputs (each (H, W)) into smoothed quality, angle and width maps."""
    quality = gaussian_smooth(as_map(quality), sigma_quality)
    cos2 = gaussian_smooth(as_map(cos2), sigma_angle)
    sin2 = gaussian_smooth(as_map(sin2), sigma_angle)
    width = gaussian_smooth(as_map(width), sigma_width) * np.float32(width_scale)
    angle = 0.5 * np.arctan2(sin2, cos2)
    return GraspMaps(quality=quality, angle=angle.astype(np.float32), width=width)


def gaussian_kernel(sigma: float) -> np.ndarray:
    """The 1-D kernel of :func:`gaussian_smooth` (radius 4 sigma, sums to 1), float64."""
    radius = max(1, int(round(4.0 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-x * x / (2.0 * sigma * sigma))
    return kernel / kernel.sum()


def smoothed_at(image: np.ndarray, sigma: float, rows, cols) -> np.ndarray:
    """``gaussian_smooth(image, sigma)[rows, cols]`` without smoothing the whole image.

    The node needs the smoothed angle and width only at the few quality peaks: a weighted sum
    over each peak's window, with indices clamped at the border (OpenCV's BORDER_REPLICATE),
    costs microseconds instead of two full-image blurs per frame.
    """
    image = np.asarray(image, dtype=np.float32)
    rows = np.atleast_1d(np.asarray(rows, dtype=np.int64))
    cols = np.atleast_1d(np.asarray(cols, dtype=np.int64))
    if sigma <= 0:
        return image[rows, cols].astype(np.float32)
    kernel = gaussian_kernel(sigma)
    offsets = np.arange(kernel.size) - kernel.size // 2
    h, w = image.shape
    r = np.clip(rows[:, None] + offsets[None, :], 0, h - 1)   # (n, k)
    c = np.clip(cols[:, None] + offsets[None, :], 0, w - 1)   # (n, k)
    windows = image[r[:, :, None], c[:, None, :]].astype(np.float64)  # (n, k, k)
    return np.einsum('nij,i,j->n', windows, kernel, kernel).astype(np.float32)


def peak_pixels(quality: np.ndarray, top_k: int = 1, min_distance: int = 10) -> List[tuple]:
    """``(row, col)`` of the ``top_k`` highest quality peaks, best first, ``min_distance`` apart.

    ``top_k=1`` is the paper's rule: the single highest-quality pixel.
    """
    if top_k == 1:
        return [divmod(int(np.argmax(quality)), quality.shape[1])]
    # Non-maximum suppression with a max filter: a pixel is a peak when it equals the maximum
    # of its (2 d + 1)^2 neighbourhood.
    size = 2 * max(1, int(min_distance)) + 1
    dilated = cv2.dilate(quality, np.ones((size, size), np.uint8))
    peaks = np.argwhere(quality >= dilated)
    order = np.argsort(-quality[peaks[:, 0], peaks[:, 1]], kind='stable')
    candidates: List[tuple] = []
    for r, c in peaks[order]:
        if all((r - r0) ** 2 + (c - c0) ** 2 >= min_distance ** 2 for r0, c0 in candidates):
            candidates.append((int(r), int(c)))
        if len(candidates) == top_k:
            break
    return candidates


def grasps_from_raw(quality: np.ndarray, cos2: np.ndarray, sin2: np.ndarray, width: np.ndarray,
                    sigma_quality: float = DEFAULT_SIGMA, sigma_angle: float = DEFAULT_SIGMA,
                    sigma_width: float = DEFAULT_SIGMA, width_scale: float = DEFAULT_WIDTH_SCALE,
                    top_k: int = 1, min_distance: int = 10,
                    min_quality: float = -np.inf, centring_fraction: float = 0.0) -> List[Grasp]:
    """The grasps :func:`top_grasps` finds in :func:`smooth_maps` of the same raw maps, with only
    the quality map smoothed whole (the angle and width are smoothed at the peaks alone)."""
    smooth_quality = gaussian_smooth(as_map(quality), sigma_quality)
    return grasps_from_smoothed_quality(
        smooth_quality, cos2, sin2, width, sigma_angle=sigma_angle, sigma_width=sigma_width,
        width_scale=width_scale, top_k=top_k, min_distance=min_distance,
        min_quality=min_quality, centring_fraction=centring_fraction)


def grasps_from_smoothed_quality(smooth_quality: np.ndarray, cos2: np.ndarray,
                                 sin2: np.ndarray, width: np.ndarray,
                                 sigma_angle: float = DEFAULT_SIGMA,
                                 sigma_width: float = DEFAULT_SIGMA,
                                 width_scale: float = DEFAULT_WIDTH_SCALE, top_k: int = 1,
                                 min_distance: int = 10, min_quality: float = -np.inf,
                                 centring_fraction: float = 0.0) -> List[Grasp]:
    """:func:`grasps_from_raw` for a quality map already smoothed (H, W), so that the caller
    keeps the map (the pipeline's jaw clearance reads it); the other maps raw (H, W)."""
    peaks = peak_pixels(smooth_quality, top_k, min_distance)
    rows = [r for r, _ in peaks]
    cols = [c for _, c in peaks]
    cos_at = smoothed_at(as_map(cos2), sigma_angle, rows, cols)
    sin_at = smoothed_at(as_map(sin2), sigma_angle, rows, cols)
    width_at = smoothed_at(as_map(width), sigma_width, rows, cols) * np.float32(width_scale)
    grasps = []
    for i, (r, c) in enumerate(peaks):
        q = float(smooth_quality[r, c])
        if q < min_quality:
            continue
        opening = max(float(width_at[i]), 0.0)
        grasps.append(centre_on_object(
            Grasp(row=float(r), col=float(c), angle=float(0.5 * np.arctan2(sin_at[i], cos_at[i])),
                  width=opening, jaw_size=opening / 2.0, quality=q),
            smooth_quality, centring_fraction))
    return grasps


def top_grasps(maps: GraspMaps, top_k: int = 1, min_distance: int = 10,
               min_quality: float = -np.inf, centring_fraction: float = 0.0) -> List[Grasp]:
    """The ``top_k`` best grasps, best first, at least ``min_distance`` px apart.

    ``top_k=1`` is the paper's rule: the single highest-quality pixel. The jaw size of a
    predicted rectangle is half its opening, as the reference evaluation does.
    ``centring_fraction`` > 0: each grasp centred on its object along its closing axis
    (:func:`mtg_grasp_ros.centring.centre_on_object`; 0, the default: the peaks as they are).
    """
    quality = maps.quality
    candidates = peak_pixels(quality, top_k, min_distance)
    grasps = []
    for r, c in candidates:
        q = float(quality[r, c])
        if q < min_quality:
            continue
        width = max(float(maps.width[r, c]), 0.0)
        grasps.append(centre_on_object(
            Grasp(row=float(r), col=float(c), angle=float(maps.angle[r, c]), width=width,
                  jaw_size=width / 2.0, quality=q), quality, centring_fraction))
    return grasps
