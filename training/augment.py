"""Geometric augmentation: one 2x3 affine matrix from a source image to the square network image.

Every geometric step (crop, zoom, rotation, resize) is folded into a single matrix ``M`` in
OpenCV's convention, mapping source ``(x, y) = (col, row)`` to output ``(x, y)``, with pixel
centres at integer coordinates (pixel ``i`` covers ``[i - 0.5, i + 0.5]``, as ``cv2.resize`` and
``cv2.warpAffine`` assume). Images are warped with :func:`warp_image` and grasps with
:func:`warp_grasps` using the *same* matrix, so labels and pixels can never drift apart, and each
image is interpolated once only.

* :func:`base_transform`: no augmentation; the central square of the image (all of a square
  Jacquard image) resized to the output size.
* :func:`random_transform`: the paper's random crop and zoom: a square of a random fraction
  ``U(zoom)`` of the shorter side at a random position inside the image, resized to the output,
  optionally rotated by a random multiple of 90 degrees. Quarter turns were chosen over free
  angles because they keep the rotated square inside the image (no invented border pixels and
  no labels cut at rotated corners) and map pixels onto pixels; Jacquard already labels grasps
  at every angle, so free rotation would add little the network has not seen.
"""

from __future__ import annotations

from dataclasses import replace
import math
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from mtg_grasp_ros.grasp import Grasp

#: Exact rotation matrices for k quarter turns counter-clockwise on screen (rows grow down).
_QUARTER_TURNS = (
    np.array([[1.0, 0.0], [0.0, 1.0]]),
    np.array([[0.0, 1.0], [-1.0, 0.0]]),
    np.array([[-1.0, 0.0], [0.0, -1.0]]),
    np.array([[0.0, -1.0], [1.0, 0.0]]),
)


def to_3x3(matrix: np.ndarray) -> np.ndarray:
    """A 2x3 affine matrix as a 3x3 homogeneous one."""
    return np.vstack([np.asarray(matrix, dtype=np.float64).reshape(2, 3), [0.0, 0.0, 1.0]])


def compose(*matrices: np.ndarray) -> np.ndarray:
    """The 2x3 matrix applying ``matrices`` right to left: ``compose(B, A)`` is A, then B."""
    out = np.eye(3)
    for matrix in matrices:
        out = out @ to_3x3(matrix)
    return out[:2]


def crop_matrix(x_edge: float, y_edge: float, side: float, out_size: int) -> np.ndarray:
    """Map the square ``[x_edge, x_edge + side] x [y_edge, ...]`` (pixel edges) onto the output."""
    scale = out_size / side
    # Output edge -0.5 is where source edge x_edge lands.
    return np.array([[scale, 0.0, -0.5 - x_edge * scale],
                     [0.0, scale, -0.5 - y_edge * scale]])


def resize_matrix(src_shape: Tuple[int, int], dst_shape: Tuple[int, int]) -> np.ndarray:
    """The mapping ``cv2.resize`` applies from an image of ``src_shape`` to ``dst_shape``."""
    sy, sx = dst_shape[0] / src_shape[0], dst_shape[1] / src_shape[1]
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5]])


def rotation_matrix(quarter_turns: int, out_size: int) -> np.ndarray:
    """Turn the output square ``quarter_turns`` x 90 deg CCW (on screen) about its centre."""
    rotation = _QUARTER_TURNS[quarter_turns % 4]
    centre = np.full(2, (out_size - 1) / 2.0)
    return np.hstack([rotation, (centre - rotation @ centre)[:, None]])


def base_transform(src_shape: Tuple[int, ...], out_size: int = 300) -> np.ndarray:
    """No augmentation: the central square of the image, resized to ``out_size``."""
    height, width = src_shape[:2]
    side = min(height, width)
    return crop_matrix((width - side) / 2.0 - 0.5, (height - side) / 2.0 - 0.5, side, out_size)


def random_transform(rng: np.random.Generator, src_shape: Tuple[int, ...], out_size: int = 300,
                     zoom: Tuple[float, float] = (0.5, 1.0), rotate: bool = False) -> np.ndarray:
    """A random square crop of a fraction ``U(zoom)`` of the shorter side, anywhere inside the
    image, resized to ``out_size`` and, with ``rotate``, turned by a random multiple of 90 deg.
    """
    low, high = zoom
    if not 0.0 < low <= high <= 1.0:
        raise ValueError(f'zoom range must satisfy 0 < low <= high <= 1, got {zoom}')
    height, width = src_shape[:2]
    side = min(height, width) * rng.uniform(low, high)
    x_edge = -0.5 + rng.uniform(0.0, width - side)
    y_edge = -0.5 + rng.uniform(0.0, height - side)
    matrix = crop_matrix(x_edge, y_edge, side, out_size)
    if rotate:
        matrix = compose(rotation_matrix(int(rng.integers(4)), out_size), matrix)
    return matrix


def warp_image(image: np.ndarray, matrix: np.ndarray, out_size: int,
               interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Warp an image to ``(out_size, out_size)`` with ``matrix``.

    RGB and depth replicate the border (a zoomed-out view never invents black edges). A bool
    mask is warped with nearest-neighbour interpolation and a background (False) border.
    """
    size = (int(out_size), int(out_size))
    matrix = np.asarray(matrix, dtype=np.float64).reshape(2, 3)
    if image.dtype == np.bool_:
        warped = cv2.warpAffine(image.astype(np.uint8), matrix, size, flags=cv2.INTER_NEAREST,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return warped > 0
    return cv2.warpAffine(image, matrix, size, flags=interpolation,
                          borderMode=cv2.BORDER_REPLICATE)


def warp_grasps(grasps: Sequence[Grasp], matrix: np.ndarray,
                out_size: Optional[int] = None) -> List[Grasp]:
    """Apply ``matrix`` to grasps: centre moved, angle turned, opening and jaw size scaled.

    The closing axis ``(dx, dy) = (cos a, -sin a)`` and the jaw direction are mapped as vectors,
    so the result is right for any similarity transform (and approximately so for the slightly
    anisotropic scale a resize to rounded sizes can give). With ``out_size``, grasps whose
    centre falls outside the output image are dropped.
    """
    matrix = np.asarray(matrix, dtype=np.float64).reshape(2, 3)
    linear, offset = matrix[:, :2], matrix[:, 2]
    out = []
    for grasp in grasps:
        x, y = linear @ (grasp.col, grasp.row) + offset
        if out_size is not None and not (-0.5 <= x < out_size - 0.5
                                         and -0.5 <= y < out_size - 0.5):
            continue
        axis = linear @ (math.cos(grasp.angle), -math.sin(grasp.angle))
        jaw = linear @ (math.sin(grasp.angle), math.cos(grasp.angle))
        out.append(replace(grasp, row=float(y), col=float(x),
                           angle=math.atan2(-axis[1], axis[0]),
                           width=grasp.width * float(np.hypot(*axis)),
                           jaw_size=grasp.jaw_size * float(np.hypot(*jaw))))
    return out


def scale_of(matrix: np.ndarray) -> float:
    """The (mean) linear scale factor of a 2x3 affine matrix."""
    return math.sqrt(abs(np.linalg.det(np.asarray(matrix, dtype=np.float64)[:2, :2])))
