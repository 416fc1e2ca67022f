"""Texture images for the "rich" looks: real texture photos and procedural materials.

Pure NumPy/OpenCV (plus ``skimage.data`` for the photos), every random number drawn from the
generator it is given, so a texture depends on the view's seed only. A texture is a uint8
``size x size x 3`` RGB image built in two steps: a grey *pattern* in [0, 1] (:func:`pattern`),
then two colours mixed by it (:func:`colourise`).

Patterns (:data:`TEXTURE_KINDS`):

* ``photo``: a randomly scaled, rotated crop of one of the texture photos scikit-image ships
  (:data:`PHOTO_NAMES`: brick wall, grass, gravel, the moon's surface; public-domain or
  CC0 images bundled with the package, no download);
* ``noise``: multi-scale value noise (stone, concrete, plaster);
* ``wood``: wobbly grain lines with fine streaks;
* ``fabric``: an over/under weave of threads;
* ``paper``: fine grain with a few fibres;
* ``tiles``: tiles of jittered shade with grout lines;
* ``checker``: two-tone checks.

Every procedural pattern is drawn at a random scale and rotated by a random angle.
"""

from __future__ import annotations

import colorsys
import functools
from typing import Sequence, Tuple

import cv2
import numpy as np

#: Texture photos of ``skimage.data`` (scikit-image 0.26) that read as a support surface.
PHOTO_NAMES = ('brick', 'grass', 'gravel', 'moon')
TEXTURE_KINDS = ('photo', 'noise', 'wood', 'fabric', 'paper', 'tiles', 'checker')

RGB = Tuple[float, float, float]


@functools.lru_cache(maxsize=None)
def photo(name: str) -> np.ndarray:
    """The grey texture photo ``skimage.data.<name>()`` as float32 in [0, 1] (cached)."""
    import skimage.data
    image = np.asarray(getattr(skimage.data, name)())
    if image.ndim == 3:
        image = cv2.cvtColor(image[..., :3], cv2.COLOR_RGB2GRAY)
    image = image.astype(np.float32) / 255.0
    image.setflags(write=False)
    return image


def _any_colour(rng: np.random.Generator) -> RGB:
    """A colour of any hue, moderately saturated (as simulation.looks.random_colour draws it)."""
    rgb = colorsys.hsv_to_rgb(rng.uniform(0.0, 1.0), rng.uniform(0.2, 0.9),
                              rng.uniform(0.25, 0.95))
    return tuple(float(c) for c in rgb)


def _normalise(p: np.ndarray) -> np.ndarray:
    p = p.astype(np.float32)
    lo, hi = float(p.min()), float(p.max())
    return (p - lo) / max(hi - lo, 1e-6)


def _rotate(p: np.ndarray, angle_deg: float, size: int) -> np.ndarray:
    """Rotate a square pattern about its centre and crop the central ``size`` square."""
    n = p.shape[0]
    m = cv2.getRotationMatrix2D(((n - 1) / 2.0, (n - 1) / 2.0), angle_deg, 1.0)
    m[:, 2] -= (n - size) / 2.0
    return cv2.warpAffine(p, m, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT_101)


def value_noise(rng: np.random.Generator, size: int, cells: int, octaves: int = 4,
                persistence: float = 0.5) -> np.ndarray:
    """Multi-scale value noise (float32 ``size x size``, [0, 1]): ``octaves`` layers of
    ``cells``, 2 x ``cells``, ... random values resized smoothly, each ``persistence`` weaker."""
    total = np.zeros((size, size), np.float32)
    amplitude = 1.0
    for octave in range(octaves):
        n = min(int(cells * 2 ** octave), size)
        layer = rng.random((n + 1, n + 1)).astype(np.float32)
        total += amplitude * cv2.resize(layer, (size, size), interpolation=cv2.INTER_CUBIC)
        amplitude *= persistence
    return _normalise(total)


def _photo_pattern(rng: np.random.Generator, size: int) -> np.ndarray:
    image = photo(PHOTO_NAMES[int(rng.integers(len(PHOTO_NAMES)))])
    side = min(image.shape)
    crop = int(rng.uniform(0.35, 1.0) * side)
    top = int(rng.integers(image.shape[0] - crop + 1))
    left = int(rng.integers(image.shape[1] - crop + 1))
    patch = cv2.resize(image[top:top + crop, left:left + crop], (size, size),
                       interpolation=cv2.INTER_AREA if crop > size else cv2.INTER_LINEAR)
    patch = _rotate(patch, rng.uniform(0.0, 360.0), size)
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    return _normalise(patch)


def _wood_pattern(rng: np.random.Generator, n: int) -> np.ndarray:
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) / n
    lines = rng.uniform(4.0, 20.0)
    warp = value_noise(rng, n, int(rng.integers(2, 5)), octaves=3)
    phase = lines * (yy + rng.uniform(0.05, 0.25) * warp)
    grain = (0.5 + 0.5 * np.sin(2 * np.pi * phase)) ** rng.uniform(1.0, 4.0)
    streaks = cv2.resize(rng.random((int(n // 2), 6)).astype(np.float32), (n, n),
                         interpolation=cv2.INTER_LINEAR).T
    return _normalise(grain + rng.uniform(0.2, 0.6) * streaks)


def _fabric_pattern(rng: np.random.Generator, n: int) -> np.ndarray:
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) / n
    threads = rng.uniform(12.0, 60.0)
    warp_thread = 0.5 + 0.5 * np.cos(2 * np.pi * threads * xx)
    weft_thread = 0.5 + 0.5 * np.cos(2 * np.pi * threads * yy)
    over = ((np.floor(threads * xx) + np.floor(threads * yy)) % 2).astype(np.float32)
    weave = over * warp_thread + (1.0 - over) * weft_thread
    fuzz = value_noise(rng, n, int(threads), octaves=2)
    return _normalise(weave + rng.uniform(0.2, 0.8) * fuzz)


def _paper_pattern(rng: np.random.Generator, n: int) -> np.ndarray:
    grain = value_noise(rng, n, int(rng.integers(16, 64)), octaves=3, persistence=0.6)
    fibres = np.zeros((n, n), np.float32)
    for _ in range(int(rng.integers(5, 40))):
        x0, y0 = rng.uniform(0, n, size=2)
        angle = rng.uniform(0, np.pi)
        length = rng.uniform(0.02, 0.1) * n
        x1, y1 = x0 + length * np.cos(angle), y0 + length * np.sin(angle)
        cv2.line(fibres, (int(x0), int(y0)), (int(x1), int(y1)), float(rng.uniform(0.3, 1.0)),
                 1, cv2.LINE_AA)
    return _normalise(grain + 0.5 * fibres)


def _tiles_pattern(rng: np.random.Generator, n: int) -> np.ndarray:
    cells = int(rng.integers(2, 10))
    y = (np.arange(n, dtype=np.float32) * cells / n)[:, None]
    x = (np.arange(n, dtype=np.float32) * cells / n)[None, :]
    row = np.floor(y).astype(np.int64)
    if rng.random() < 0.5:  # running bond, as bricks and many floor tiles
        x = x + 0.5 * (row % 2)
    x = np.broadcast_to(x, (n, n))
    col = np.floor(x).astype(np.int64) % cells
    shades = rng.uniform(0.55, 1.0, size=(cells + 1, cells + 1)).astype(np.float32)
    tile = shades[row % (cells + 1), col]
    grout = rng.uniform(0.02, 0.08)
    fx, fy = x % 1.0, y % 1.0
    on_grout = (np.minimum(fx, 1.0 - fx) < grout) | (np.minimum(fy, 1.0 - fy) < grout)
    tile = np.where(on_grout, np.float32(0.0), tile)
    return _normalise(tile + 0.15 * value_noise(rng, n, 8 * cells, octaves=2))


def _checker_pattern(rng: np.random.Generator, n: int) -> np.ndarray:
    cells = int(rng.integers(2, 12))
    yy, xx = np.mgrid[0:n, 0:n] * cells // n
    return ((yy + xx) % 2).astype(np.float32)


def pattern(rng: np.random.Generator, kind: str, size: int) -> np.ndarray:
    """A float32 ``size x size`` pattern in [0, 1] of ``kind`` (one of TEXTURE_KINDS)."""
    if kind == 'photo':
        return _photo_pattern(rng, size)
    if kind == 'noise':
        return value_noise(rng, size, int(rng.integers(2, 12)), octaves=int(rng.integers(3, 7)),
                           persistence=rng.uniform(0.4, 0.7))
    draw = {'wood': _wood_pattern, 'fabric': _fabric_pattern, 'paper': _paper_pattern,
            'tiles': _tiles_pattern, 'checker': _checker_pattern}.get(kind)
    if draw is None:
        raise ValueError(f'unknown texture kind {kind!r}; known: {", ".join(TEXTURE_KINDS)}')
    # Drawn (at a random scale: cells, lines, threads) on a canvas the size of the square's
    # diagonal, then rotated and cropped: no empty corners.
    canvas = int(np.ceil(size * np.sqrt(2.0)))
    return _rotate(draw(rng, canvas), rng.uniform(0.0, 360.0), size)


def colourise(pattern_image: np.ndarray, base: RGB, other: RGB, contrast: float) -> np.ndarray:
    """uint8 RGB image: ``base`` where the pattern is 0, moving towards ``other`` by
    ``contrast`` where it is 1."""
    p = contrast * pattern_image[..., None]
    mix = (1.0 - p) * np.asarray(base, np.float32) + p * np.asarray(other, np.float32)
    return np.clip(mix * 255.0 + 0.5, 0, 255).astype(np.uint8)


def random_texture_image(rng: np.random.Generator, base: RGB, size: int = 256,
                         kinds: Sequence[str] = TEXTURE_KINDS,
                         contrast: Tuple[float, float] = (0.25, 0.8)) -> np.ndarray:
    """A random texture (uint8 ``size x size x 3``) around colour ``base``: a kind drawn from
    ``kinds``, a second colour (half the time a darker shade of ``base``, as most materials
    are, else any colour) and a contrast drawn from ``contrast``."""
    kind = kinds[int(rng.integers(len(kinds)))]
    grey = pattern(rng, kind, size)
    if rng.random() < 0.5:
        other = tuple(float(c) * rng.uniform(0.2, 0.7) for c in base)
    else:
        other = _any_colour(rng)
    return colourise(grey, base, other, rng.uniform(*contrast))
