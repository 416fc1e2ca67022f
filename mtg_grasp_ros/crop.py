"""Camera image <-> network input: a square crop resized to the model's input size (ROS-free).

The network takes an ``S`` x ``S`` image (``input_size`` of the deploy metadata, 300). The node
cuts a square region of ``size`` x ``size`` camera pixels with top-left corner ``(x, y)`` and
resizes it to ``S``; by default the largest centred square. Only *uniform* scaling is used, so
grasp angles are the same in both images and widths scale by ``S / size``.

Pixel-centre convention (as ``cv2.resize``): pixel ``i`` covers ``[i - 0.5, i + 0.5]``, so
``u_net = (u_cam - x + 0.5) * S / size - 0.5`` and its inverse.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Tuple

import cv2
import numpy as np

from mtg_grasp_ros.grasp import Grasp


class CropError(ValueError):
    """The crop region does not fit the camera image."""

    reason = 'bad_crop'


@dataclass(frozen=True)
class CropRegion:
    """A square of ``size`` camera pixels at ``(x, y)`` (top-left), resized to ``output_size``."""

    x: int
    y: int
    size: int
    output_size: int

    def __post_init__(self) -> None:
        if self.size <= 0 or self.output_size <= 0:
            raise CropError(f'crop size and output size must be positive: {self}')

    @classmethod
    def for_image(cls, width: int, height: int, output_size: int, size: int = -1, x: int = -1,
                  y: int = -1) -> 'CropRegion':
        """The crop for a ``width`` x ``height`` image.

        ``size <= 0``: the largest square, ``min(width, height)``; ``x < 0`` / ``y < 0``: centred
        along that axis. Raises :class:`CropError` if the square does not fit the image.
        """
        if width <= 0 or height <= 0:
            raise CropError(f'empty image {width}x{height}')
        size = int(size) if size > 0 else min(width, height)
        x = int(x) if x >= 0 else (width - size) // 2
        y = int(y) if y >= 0 else (height - size) // 2
        region = cls(x=x, y=y, size=size, output_size=int(output_size))
        region.check_fits(width, height)
        return region

    @property
    def scale(self) -> float:
        """Network pixels per camera pixel."""
        return self.output_size / self.size

    def check_fits(self, width: int, height: int) -> None:
        """Raise :class:`CropError` unless the square lies inside a ``width`` x ``height``
        image."""
        if self.x < 0 or self.y < 0 or self.x + self.size > width or self.y + self.size > height:
            raise CropError(
                f'crop square {self.size} px at (x={self.x}, y={self.y}) does not fit a '
                f'{width}x{height} image; set crop_size/crop_x/crop_y to fit (or -1 for auto)')

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Crop and resize an (H, W) or (H, W, C) image to ``output_size`` x ``output_size``.

        Area interpolation when shrinking, linear when enlarging; a float image holding NaNs
        (depth) uses nearest neighbour so that a NaN does not spread over its neighbours.
        """
        height, width = image.shape[:2]
        self.check_fits(width, height)
        patch = image[self.y:self.y + self.size, self.x:self.x + self.size]
        if self.size == self.output_size:
            return np.ascontiguousarray(patch)
        if patch.dtype.kind == 'f' and not np.isfinite(patch).all():
            interpolation = cv2.INTER_NEAREST
        elif self.output_size < self.size:
            interpolation = cv2.INTER_AREA
        else:
            interpolation = cv2.INTER_LINEAR
        # OpenCV reads the patch in place (rows with a stride): no copy of the crop.
        return cv2.resize(patch, (self.output_size, self.output_size),
                          interpolation=interpolation)

    def to_network(self, u, v) -> Tuple[np.ndarray, np.ndarray]:
        """Camera pixel(s) ``(u, v)`` -> network pixel(s) ``(u, v)``."""
        s = self.scale
        return ((np.asarray(u, dtype=np.float64) - self.x + 0.5) * s - 0.5,
                (np.asarray(v, dtype=np.float64) - self.y + 0.5) * s - 0.5)

    def to_camera(self, u, v) -> Tuple[np.ndarray, np.ndarray]:
        """Network pixel(s) ``(u, v)`` -> camera pixel(s) ``(u, v)``."""
        s = self.scale
        return ((np.asarray(u, dtype=np.float64) + 0.5) / s - 0.5 + self.x,
                (np.asarray(v, dtype=np.float64) + 0.5) / s - 0.5 + self.y)

    def length_to_network(self, length):
        """A length (grasp width, jaw size) in camera pixels -> network pixels."""
        return length * self.scale

    def length_to_camera(self, length):
        """A length in network pixels -> camera pixels."""
        return length / self.scale

    def grasp_to_camera(self, grasp: Grasp) -> Grasp:
        """A grasp in network pixels -> the same grasp in camera pixels (angle unchanged)."""
        u, v = self.to_camera(grasp.col, grasp.row)
        return replace(grasp, row=float(v), col=float(u),
                       width=float(self.length_to_camera(grasp.width)),
                       jaw_size=float(self.length_to_camera(grasp.jaw_size)))

    def grasp_to_network(self, grasp: Grasp) -> Grasp:
        """A grasp in camera pixels -> network pixels."""
        u, v = self.to_network(grasp.col, grasp.row)
        return replace(grasp, row=float(v), col=float(u),
                       width=float(self.length_to_network(grasp.width)),
                       jaw_size=float(self.length_to_network(grasp.jaw_size)))
