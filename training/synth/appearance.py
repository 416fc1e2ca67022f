"""Randomised look of one view: table and object colours and textures, and the light.

Two sets of looks (:data:`LOOKS`): ``plain``, the original one (flat colours, 40% near-white
tables, faint procedural textures; kept draw for draw so old data sets can be reproduced), and
``rich`` (:func:`random_look`), domain randomisation towards real scenes: the support is a
texture photo or a procedural material (:mod:`simulation.textures`) painted at its true size
on the table after rendering (:mod:`simulation.floor`), objects are textured half the time
(painted too: the random_urdfs meshes have no texture coordinates), and the light's direction,
strength, ambient share, tint and shadows vary more. The rich support and object draws are
:mod:`simulation.looks`' (shared with the physical benchmark's textured tables); the light and
the 10% of flat supports are drawn here.

Pure NumPy/OpenCV: it only draws numbers from the view's RNG and paints texture images into an
:class:`simulation.scene.Appearance`, which :meth:`simulation.scene.Scene.apply_appearance`
applies. Randomising the look (domain randomisation) matters because the networks of this
package see RGB only: a network trained on one background colour and one light learns that
colour and that light. Jacquard itself is plain white backgrounds, so a good share of views
keep a near-white table (the "plane" the object lies on).
"""

from __future__ import annotations

from typing import Optional, Tuple

import cv2
import numpy as np

from simulation.floor import FLOOR_GREY, ViewPaint
from simulation.looks import (laid_texture, MIN_CONTRAST, OBJECT_METRES, random_colour,
                              random_floor, RICH_LIGHT_TABLE_P, rich_object_look, support_colour)
from simulation.scene import Appearance, Light, RGB

#: The looks ``python -m training synth --looks`` offers.
LOOKS = ('plain', 'rich')

#: Probability that the table is near-white or light grey, as Jacquard's backgrounds are.
WHITE_TABLE_P = 0.4
#: Probability that the table / the object carries a procedural texture instead of a flat colour.
TABLE_TEXTURE_P = 0.3
OBJECT_TEXTURE_P = 0.3
#: Probability that the view is rendered with shadows (costs ~1.7x render time at 1024 px).
SHADOW_P = 0.5
TEXTURE_SIZE = 128


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


def _light(rng: np.random.Generator, elevation_deg, tint_max: float, ambient, diffuse,
           specular, shadow_p: float) -> Light:
    """A light from a random azimuth; each setting drawn uniformly from its (low, high) range,
    always in the same order (so one look's draws never shift another's)."""
    azimuth = rng.uniform(0.0, 2 * np.pi)
    elevation = np.radians(rng.uniform(*elevation_deg))
    direction = (float(np.cos(elevation) * np.cos(azimuth)),
                 float(np.cos(elevation) * np.sin(azimuth)), float(np.sin(elevation)))
    tint = 1.0 - rng.uniform(0.0, tint_max, size=3)
    return Light(direction=direction, color=tuple(float(t) for t in tint),
                 ambient=float(rng.uniform(*ambient)), diffuse=float(rng.uniform(*diffuse)),
                 specular=float(rng.uniform(*specular)), shadow=bool(rng.random() < shadow_p))


def random_light(rng: np.random.Generator) -> Light:
    """A light from a random azimuth, 35-90 degrees above the table, slightly tinted."""
    return _light(rng, (35.0, 90.0), 0.15, (0.45, 0.7), (0.3, 0.6), (0.0, 0.3), SHADOW_P)


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


# Rich looks ---------------------------------------------------------------------------------

#: Rich looks: share of supports left a flat colour (the others are textured: see
#: simulation.looks), and of views with shadows.
RICH_FLAT_TABLE_P = 0.1
RICH_SHADOW_P = 0.7


def rich_light(rng: np.random.Generator) -> Light:
    """A light from any azimuth, 20-90 degrees above the table, of random strength and tint."""
    return _light(rng, (20.0, 90.0), 0.2, (0.25, 0.75), (0.2, 0.8), (0.0, 0.5), RICH_SHADOW_P)


def rich_appearance(
        rng: np.random.Generator, object_rgb: RGB,
        object_texture: Optional[np.ndarray]) -> Tuple[Appearance, Optional[ViewPaint]]:
    """A rich look of one view: the Appearance to render with and what to paint on the render
    afterwards (None: nothing). A painted surface is rendered FLOOR_GREY; the object's texture
    (fixed per object) is laid at a size, angle and offset drawn per view."""
    draw = rng.random()
    light = draw < RICH_LIGHT_TABLE_P
    base = support_colour(rng, light, (object_rgb,))
    floor = random_floor(rng, base, light) if draw < 1.0 - RICH_FLAT_TABLE_P else None
    decal = (laid_texture(rng, object_texture, OBJECT_METRES) if object_texture is not None
             else None)
    grey = (FLOOR_GREY,) * 3
    look = Appearance(table_rgb=grey if floor is not None else base, table_texture=None,
                      object_rgb=grey if decal is not None else object_rgb, object_texture=None,
                      light=rich_light(rng))
    paint = None if floor is None and decal is None else ViewPaint(floor=floor, object=decal)
    return look, paint


def object_look(rng: np.random.Generator,
                looks: str = 'plain') -> Tuple[RGB, Optional[np.ndarray]]:
    """An object's colour and optional texture in the ``looks`` set (one of LOOKS)."""
    _check(looks)
    return random_object_look(rng) if looks == 'plain' else rich_object_look(rng)


def random_look(rng: np.random.Generator, object_rgb: RGB, object_texture: Optional[np.ndarray],
                looks: str = 'plain') -> Tuple[Appearance, Optional[ViewPaint]]:
    """The look of one view in the ``looks`` set: ``(appearance, paint)``; render with the
    appearance, then ``paint.apply(...)`` when ``paint`` is not None. ``plain`` draws exactly
    what :func:`random_appearance` draws (paint None)."""
    _check(looks)
    if looks == 'plain':
        return random_appearance(rng, object_rgb, object_texture), None
    return rich_appearance(rng, object_rgb, object_texture)


def _check(looks: str) -> None:
    if looks not in LOOKS:
        raise ValueError(f'unknown looks {looks!r}; known: {", ".join(LOOKS)}')
