"""Flat distractors: shapes printed or spilt on the support, painted onto a rendered view.

Real supports carry things that look like objects in a colour image but cannot be grasped:
stains, printed shapes, stickers, sheets of paper, tape. A network that sees RGB only and was
trained on clean supports takes any object-sized patch of contrast for an object (measured on
the real Jacquard samples: the top-1 grasp on a concrete floor's dark stains in 3 of 10 views,
models/README.md). Flat distractors are negatives: they are painted on the table's pixels only,
so the quality target stays 0 on them, and they carry no shadow and no depth, which is what
tells them apart from an object.

A :class:`FlatDistractors` is one RGBA tile laid flat on the table (z = 0) around the scene's
objects: 1-5 shapes (ellipses, rectangles, polygons, noise stains, strokes) of 2-15 cm, each a
flat colour (dark half the time, as stains are) or a texture of :mod:`simulation.textures`.
:meth:`FlatDistractors.paint` warps the tile into the view through the table plane (OpenCV's
perspective warp, the homography of :meth:`simulation.floor.PlaneTexture.image_to_texels`) and
multiplies it by the light the render put on the table, so shading and the objects' shadows fall
on the shapes too. Objects hide what lies under them (only table pixels change).

Pure NumPy/OpenCV; every random number comes from the generator given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Tuple

import cv2
import numpy as np

from simulation.camera import SimCamera
from simulation.floor import PlaneTexture
from simulation.looks import random_colour
from simulation.textures import random_texture_image, value_noise

#: Shapes a distractor can take.
SHAPE_KINDS = ('ellipse', 'rectangle', 'polygon', 'stain', 'stroke')
#: Number of shapes in a view (inclusive range) and their longest side (m).
COUNT_RANGE = (1, 5)
SIZE_RANGE = (0.02, 0.15)
#: Side of the square of table laid out around the objects' centre: this many times the
#: objects' extent, at least MIN_SPREAD (m).
SPREAD = 3.0
MIN_SPREAD = 0.4
#: Tile resolution (texels per metre): 1 mm texels.
TEXELS_PER_METRE = 1000.0
#: Share of shapes that are dark (stains, tape) and of shapes filled with a texture.
DARK_P = 0.5
TEXTURED_P = 0.3


@dataclass(frozen=True)
class FlatDistractors:
    """Shapes on the table plane: ``image`` (uint8 RGBA tile, alpha = coverage) covering the
    square of side ``metres`` (m) centred on ``centre`` (x, y in the world frame, m)."""

    image: np.ndarray
    metres: float
    centre: Tuple[float, float]
    #: Number of shapes on the tile.
    count: int = 0

    def paint(self, rgb: np.ndarray, table_mask: np.ndarray, light: np.ndarray,
              camera: SimCamera) -> np.ndarray:
        """``rgb`` (uint8 HxWx3) with the shapes on the pixels of ``table_mask`` (bool HxW);
        ``light`` (float32 HxWx3): the light that fell on the table, rendered colour / albedo
        (:func:`table_light`). Returns a new image; pixels off the table are unchanged."""
        if not table_mask.any():
            return rgb.copy()
        half = 0.5 * self.metres
        laid = PlaneTexture(image=self.image, metres=self.metres, angle=0.0,
                            offset=(half - self.centre[0], half - self.centre[1]))
        homography = laid.image_to_texels(camera, self.image.shape[0], wrap=False)
        tile = cv2.warpPerspective(self.image, homography, (rgb.shape[1], rgb.shape[0]),
                                   flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
        alpha = tile[..., 3:].astype(np.float32) * np.float32(1.0 / 255.0)
        alpha *= table_mask[..., None]
        colour = tile[..., :3].astype(np.float32) * light
        mixed = rgb.astype(np.float32) * (1.0 - alpha) + colour * alpha
        return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


def table_light(render_rgb: np.ndarray, table_rgb: Sequence[float]) -> np.ndarray:
    """The light on each pixel (float32 HxWx3, 1 = full albedo) of a render whose table has the
    flat colour ``table_rgb`` (RGB 0-1): the rendered colour divided by it."""
    albedo = np.maximum(np.asarray(table_rgb, np.float32), 0.05) * np.float32(255.0)
    return render_rgb.astype(np.float32) / albedo


def random_distractors(rng: np.random.Generator, centre: Sequence[float],
                       extent: float) -> FlatDistractors:
    """1-5 random flat shapes laid around ``centre`` (x, y, m) on a square SPREAD x
    ``extent`` (m, the objects' size) wide, at least MIN_SPREAD."""
    metres = max(MIN_SPREAD, SPREAD * float(extent))
    side = int(round(metres * TEXELS_PER_METRE))
    tile = np.zeros((side, side, 4), np.uint8)
    count = int(rng.integers(COUNT_RANGE[0], COUNT_RANGE[1] + 1))
    for _ in range(count):
        size = float(np.exp(rng.uniform(*np.log(SIZE_RANGE)))) * TEXELS_PER_METRE
        at = rng.uniform(0.0, side, size=2)
        mask = _shape_mask(rng, side, at, size)
        if rng.random() < DARK_P:
            base = tuple(float(c) for c in np.asarray(random_colour(rng)) * rng.uniform(0.1, 0.4))
        else:
            base = random_colour(rng)
        if rng.random() < TEXTURED_P:
            texture = random_texture_image(rng, base, 256, contrast=(0.2, 0.7))
            fill = cv2.resize(texture, (side, side), interpolation=cv2.INTER_LINEAR)
        else:
            fill = np.empty((side, side, 3), np.uint8)
            fill[:] = np.clip(np.asarray(base) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        opacity = rng.uniform(0.6, 1.0)  # stains and thin paper let the support show through
        alpha = mask * np.float32(opacity)
        tile[..., :3] = np.where(alpha[..., None] > 0, fill, tile[..., :3])
        tile[..., 3] = np.maximum(tile[..., 3], (alpha * 255.0 + 0.5).astype(np.uint8))
    return FlatDistractors(image=tile, metres=metres,
                           centre=(float(centre[0]), float(centre[1])), count=count)


def _shape_mask(rng: np.random.Generator, side: int, at: np.ndarray,
                size: float) -> np.ndarray:
    """float32 ``side x side`` coverage in [0, 1] of one shape of longest side ``size`` texels
    centred at ``at`` (column, row); edges anti-aliased."""
    kind = SHAPE_KINDS[int(rng.integers(len(SHAPE_KINDS)))]
    canvas = np.zeros((side, side), np.uint8)
    centre = tuple(int(round(v)) for v in at)
    angle = float(rng.uniform(0.0, 180.0))
    aspect = float(rng.uniform(0.2, 1.0))
    if kind == 'ellipse':
        axes = (max(1, int(size / 2)), max(1, int(size * aspect / 2)))
        cv2.ellipse(canvas, centre, axes, angle, 0, 360, 255, -1, cv2.LINE_AA)
    elif kind == 'rectangle':
        box = ((float(at[0]), float(at[1])), (size, size * aspect), angle)
        cv2.fillPoly(canvas, [np.round(cv2.boxPoints(box)).astype(np.int32)], 255, cv2.LINE_AA)
    elif kind == 'polygon':
        n = int(rng.integers(3, 9))
        angles = np.sort(rng.uniform(0.0, 2 * np.pi, n))
        radii = 0.5 * size * rng.uniform(0.4, 1.0, n)
        points = at + np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
        cv2.fillPoly(canvas, [np.round(points).astype(np.int32)], 255, cv2.LINE_AA)
    elif kind == 'stain':
        # Smooth noise thresholded inside a soft disc: a blot with a ragged rim.
        cells = max(2, int(rng.integers(3, 8)))
        n = max(8, int(size))
        blot = value_noise(rng, n, cells, octaves=3)
        yy, xx = (np.mgrid[0:n, 0:n] - (n - 1) / 2.0) / (n / 2.0)
        blot = (blot * 0.6 + 0.7 * (1.0 - np.hypot(xx, yy)) > 0.55).astype(np.uint8) * 255
        x0, y0 = centre[0] - n // 2, centre[1] - n // 2
        _paste(canvas, blot, x0, y0)
    else:  # stroke: a thick line (tape, a marker line, a cable's shadow-less print)
        half = 0.5 * size * np.array([np.cos(np.radians(angle)), np.sin(np.radians(angle))])
        a, b = np.round(at - half).astype(int), np.round(at + half).astype(int)
        cv2.line(canvas, tuple(int(v) for v in a), tuple(int(v) for v in b), 255,
                 max(2, int(size * aspect * 0.25)), cv2.LINE_AA)
    return canvas.astype(np.float32) * np.float32(1.0 / 255.0)


def _paste(canvas: np.ndarray, patch: np.ndarray, x0: int, y0: int) -> None:
    """``canvas`` = max(canvas, ``patch`` placed with its top-left corner at (x0, y0)), clipped
    to the canvas."""
    h, w = patch.shape
    cx0, cy0 = max(0, x0), max(0, y0)
    cx1, cy1 = min(canvas.shape[1], x0 + w), min(canvas.shape[0], y0 + h)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    region = canvas[cy0:cy1, cx0:cx1]
    np.maximum(region, patch[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0], out=region)
