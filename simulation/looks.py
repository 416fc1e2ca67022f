"""Random rich looks of a tabletop: a textured support and coloured or textured objects.

The draws of the data generator's ``rich`` looks (``training.synth.appearance``) that the
benchmarks need too, kept here draw for draw: object colours (:func:`random_colour`), an
object's colour and optional texture (:func:`rich_object_look`), the support's colour
(:func:`support_colour`) and its texture laid at a random size, angle and offset
(:func:`random_floor`, :func:`laid_texture`). Textures are :mod:`simulation.textures`' images,
painted on a rendered view at their true size by :mod:`simulation.floor`.

:class:`TexturedTable` dresses a :class:`~simulation.tabletop.SimulatedScene` with them
(``python -m training grasp-bench --table textured``): every drop of objects gets a support
texture (a texture photo or a procedural material, always; 30% of them faint on a light
support, as the generator's rich looks) and, per object, a random colour and half the time a
texture; the table and the textured objects are rendered FLOOR_GREY and painted after each
render, as the generator paints its views. Every number is drawn from the generator the scene
is given for its looks, so a seed gives the same frames whatever else is drawn.
"""

from __future__ import annotations

import colorsys
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from simulation.floor import FLOOR_GREY, PlaneTexture, ViewPaint
from simulation.textures import random_texture_image, TEXTURE_KINDS

RGB = Tuple[float, float, float]

#: Minimum RGB distance (0..sqrt(3)) between the support and object colours.
MIN_CONTRAST = 0.25
#: Rich looks: share of supports that are near-white or light grey with a faint texture
#: (Jacquard's concrete-like floor).
RICH_LIGHT_TABLE_P = 0.3
#: Rich looks: share of objects that carry a texture.
RICH_OBJECT_TEXTURE_P = 0.5
#: Side (px) of support and object texture tiles, and the range of the support tile's size on
#: the table (m; drawn log-uniformly): from fine grain to tiles larger than the view.
FLOOR_TEXTURE_SIZE = 512
OBJECT_TEXTURE_SIZE = 256
FLOOR_METRES = (0.05, 0.8)
#: Range of an object texture tile's size on the object (m; log-uniform).
OBJECT_METRES = (0.02, 0.2)
#: Kinds of faint texture on a light support.
LIGHT_TABLE_KINDS = ('photo', 'noise', 'paper', 'fabric')
#: Tries to draw a support colour MIN_CONTRAST away from the objects' colours.
COLOUR_TRIES = 8


def random_colour(rng: np.random.Generator, saturation=(0.2, 0.9), value=(0.25, 0.95)) -> RGB:
    """A random colour in RGB [0, 1], drawn in HSV so saturation and brightness are bounded."""
    h = rng.uniform(0.0, 1.0)
    s = rng.uniform(*saturation)
    v = rng.uniform(*value)
    return tuple(float(c) for c in colorsys.hsv_to_rgb(h, s, v))


def rich_object_look(rng: np.random.Generator) -> Tuple[RGB, Optional[np.ndarray]]:
    """An object's colour and, half the time, a texture of any kind around it."""
    rgb = random_colour(rng)
    texture = None
    if rng.random() < RICH_OBJECT_TEXTURE_P:
        texture = random_texture_image(rng, rgb, OBJECT_TEXTURE_SIZE, contrast=(0.2, 0.7))
    return rgb, texture


def support_colour(rng: np.random.Generator, light: bool, avoid: Sequence[RGB]) -> RGB:
    """A support colour, near-white / light grey when ``light``, else any; redrawn (up to
    COLOUR_TRIES times) while it is within MIN_CONTRAST of a colour of ``avoid``."""
    for _ in range(COLOUR_TRIES):
        if light:
            grey = rng.uniform(0.7, 1.0)
            rgb = tuple(float(min(1.0, grey * t)) for t in 1.0 - rng.uniform(0, 0.06, 3))
        else:
            rgb = random_colour(rng, saturation=(0.05, 0.7), value=(0.2, 1.0))
        if all(np.linalg.norm(np.subtract(rgb, c)) > MIN_CONTRAST for c in avoid):
            break
    return rgb


def laid_texture(rng: np.random.Generator, image: np.ndarray, metres_range) -> PlaneTexture:
    """``image`` laid at a random size (log-uniform in ``metres_range``), angle and offset."""
    metres = float(np.exp(rng.uniform(*np.log(metres_range))))
    return PlaneTexture(image=image, metres=metres, angle=float(rng.uniform(0.0, 2 * np.pi)),
                        offset=tuple(float(v) for v in rng.uniform(0.0, metres, size=2)))


def random_floor(rng: np.random.Generator, base: RGB, light: bool) -> PlaneTexture:
    """A support texture around ``base``: faint on a light support, any kind otherwise; laid
    on the table at a random size, rotation and offset."""
    if light:
        image = random_texture_image(rng, base, FLOOR_TEXTURE_SIZE, LIGHT_TABLE_KINDS,
                                     contrast=(0.1, 0.35))
    else:
        image = random_texture_image(rng, base, FLOOR_TEXTURE_SIZE, TEXTURE_KINDS,
                                     contrast=(0.2, 0.8))
    return laid_texture(rng, image, FLOOR_METRES)


class TexturedTable:
    """A textured support and random object looks for a scene's objects (see the module
    docstring). :meth:`dress` draws them after a drop and sets the rendered colours;
    :meth:`paint` paints a render. ``floor``: the support's texture; ``decals``: the textures
    of the textured objects by body id; ``colours``: every object's colour by body id."""

    def __init__(self) -> None:
        self.floor: Optional[PlaneTexture] = None
        self.decals: Dict[int, PlaneTexture] = {}
        self.colours: Dict[int, RGB] = {}

    def dress(self, world, bodies: Sequence[int], rng: np.random.Generator) -> List[RGB]:
        """Draw the looks of ``bodies`` (objects first, then the support, away from their
        colours) from ``rng`` and set them in ``world`` (a :class:`~simulation.scene.Scene`):
        the table and textured objects FLOOR_GREY, the others their colour. Returns the
        objects' colours."""
        looks = [rich_object_look(rng) for _ in bodies]
        light = bool(rng.random() < RICH_LIGHT_TABLE_P)
        base = support_colour(rng, light, [rgb for rgb, _ in looks])
        self.floor = random_floor(rng, base, light)
        self.decals = {body: laid_texture(rng, texture, OBJECT_METRES)
                       for body, (_, texture) in zip(bodies, looks) if texture is not None}
        self.colours = {body: rgb for body, (rgb, _) in zip(bodies, looks)}
        grey = (FLOOR_GREY,) * 3
        world.set_look(world.table, grey)
        for body, (rgb, _) in zip(bodies, looks):
            world.set_look(body, grey if body in self.decals else rgb)
        return [rgb for rgb, _ in looks]

    def paint(self, rgb: np.ndarray, segmentation: np.ndarray, depth: np.ndarray, camera,
              table: int) -> np.ndarray:
        """The rendered ``rgb`` with the support's texture on the table's pixels and each
        textured object's on its own (:class:`~simulation.floor.ViewPaint`, as the generator
        paints a view); ``segmentation``, ``depth``: the render's; ``table``: its body id."""
        if self.floor is not None:
            rgb = self.floor.paint(rgb, segmentation == table, depth, camera)
        for body, decal in self.decals.items():
            rgb = ViewPaint(object=decal).apply(rgb, segmentation, depth, camera, table, body)
        return rgb
