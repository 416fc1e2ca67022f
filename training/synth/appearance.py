"""Randomised look of one view: table and object colours and textures, and the light.

Pure NumPy/OpenCV: it only draws numbers from the view's RNG and paints texture images into an
:class:`simulation.scene.Appearance`, which :meth:`simulation.scene.Scene.apply_appearance`
applies. Randomising the look (domain randomisation) matters because the networks of this
package see RGB only: a network trained on one background colour and one light learns that
colour and that light. Jacquard itself is plain white backgrounds, so a good share of views
keep a near-white table (the "plane" the object lies on).
"""

from __future__ import annotations

import colorsys
from typing import Optional, Tuple

import cv2
import numpy as np

from simulation.scene import Appearance, Light, RGB

#: Probability that the table is near-white or light grey, as Jacquard's backgrounds are.
WHITE_TABLE_P = 0.4
#: Probability that the table / the object carries a procedural texture instead of a flat colour.
TABLE_TEXTURE_P = 0.3
OBJECT_TEXTURE_P = 0.3
#: Probability that the view is rendered with shadows (costs ~1.7x render time at 1024 px).
SHADOW_P = 0.5
TEXTURE_SIZE = 128
#: Minimum RGB distance (0..sqrt(3)) between the table and object colours.
MIN_CONTRAST = 0.25


def random_colour(rng: np.random.Generator, saturation=(0.2, 0.9), value=(0.25, 0.95)) -> RGB:
    """A random colour in RGB [0, 1], drawn in HSV so saturation and brightness are bounded."""
    h = rng.uniform(0.0, 1.0)
    s = rng.uniform(*saturation)
    v = rng.uniform(*value)
    return tuple(float(c) for c in colorsys.hsv_to_rgb(h, s, v))


def random_texture(rng: np.random.Generator, base: RGB, size: int = TEXTURE_SIZE) -> np.ndarray:
    """A tileable-looking procedural texture (uint8 RGB) around ``base``: noise, stripes or checks.

    Contrast is kept moderate so the object still stands out from the table and the texture
    reads as material (paper, wood grain, fabric) rather than as clutter.
    """
    kind = rng.integers(3)
    if kind == 0:  # smooth value noise (paper, stone)
        cells = int(rng.integers(4, 17))
        pattern = cv2.resize(rng.random((cells, cells)), (size, size),
                             interpolation=cv2.INTER_CUBIC)
    elif kind == 1:  # stripes at a random angle with a little wobble (wood grain, fabric)
        yy, xx = np.mgrid[0:size, 0:size] / size
        angle = rng.uniform(0.0, np.pi)
        freq = rng.uniform(3.0, 12.0)
        phase = xx * np.cos(angle) + yy * np.sin(angle)
        wobble = cv2.resize(rng.random((4, 4)), (size, size), interpolation=cv2.INTER_CUBIC)
        pattern = 0.5 + 0.5 * np.sin(2 * np.pi * (freq * phase + 0.5 * wobble))
    else:  # checks
        cells = int(rng.integers(2, 9))
        yy, xx = np.mgrid[0:size, 0:size] * cells // size
        pattern = ((yy + xx) % 2).astype(np.float64)
    pattern = (pattern - pattern.min()) / max(float(np.ptp(pattern)), 1e-9)
    contrast = rng.uniform(0.15, 0.45)
    other = np.array(random_colour(rng))
    base = np.asarray(base)
    mix = (1.0 - contrast * pattern[..., None]) * base + contrast * pattern[..., None] * other
    return np.clip(mix * 255.0 + 0.5, 0, 255).astype(np.uint8)


def random_light(rng: np.random.Generator) -> Light:
    """A light from a random azimuth, 35-90 degrees above the table, slightly tinted."""
    azimuth = rng.uniform(0.0, 2 * np.pi)
    elevation = np.radians(rng.uniform(35.0, 90.0))
    direction = (float(np.cos(elevation) * np.cos(azimuth)),
                 float(np.cos(elevation) * np.sin(azimuth)), float(np.sin(elevation)))
    tint = 1.0 - rng.uniform(0.0, 0.15, size=3)
    return Light(direction=direction, color=tuple(float(t) for t in tint),
                 ambient=float(rng.uniform(0.45, 0.7)), diffuse=float(rng.uniform(0.3, 0.6)),
                 specular=float(rng.uniform(0.0, 0.3)), shadow=bool(rng.random() < SHADOW_P))


def random_object_look(rng: np.random.Generator) -> Tuple[RGB, Optional[np.ndarray]]:
    """An object's colour and optional texture (drawn once per object: it keeps its identity)."""
    rgb = random_colour(rng)
    texture = random_texture(rng, rgb) if rng.random() < OBJECT_TEXTURE_P else None
    return rgb, texture


def random_appearance(rng: np.random.Generator, object_rgb: RGB,
                      object_texture: Optional[np.ndarray]) -> Appearance:
    """The look of one view: a fresh table and light around the object's fixed look."""
    white = rng.random() < WHITE_TABLE_P
    for _ in range(8):
        if white:
            grey = rng.uniform(0.8, 1.0)
            table_rgb = tuple(float(min(1.0, grey * t)) for t in 1.0 - rng.uniform(0, 0.05, 3))
        else:
            table_rgb = random_colour(rng, saturation=(0.05, 0.6), value=(0.3, 1.0))
        # A table the colour of the object would make a view nobody could label; redraw it.
        if np.linalg.norm(np.subtract(table_rgb, object_rgb)) > MIN_CONTRAST:
            break
    table_texture = random_texture(rng, table_rgb) if rng.random() < TABLE_TEXTURE_P else None
    return Appearance(table_rgb=table_rgb, table_texture=table_texture, object_rgb=object_rgb,
                      object_texture=object_texture, light=random_light(rng))
