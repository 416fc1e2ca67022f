"""A tiny synthetic dataset in Jacquard's exact file layout, for tests and the demo.

No physics: each object is a flat-coloured bar, box or ellipse on a plain light background,
placed at a random position and orientation in every view. The files are exactly Jacquard's
(``<object>/<view>_<object>_RGB.png``, ``_perfect_depth.tiff``, ``_stereo_depth.tiff``,
``_mask.png``, ``_grasps.txt``), so everything that reads Jacquard reads these. Grasps close
across the object's short axis at several points along it, written in Jacquard's units and angle
sign via :meth:`Grasp.to_jacquard`. Depth: a background plane at 1 m, the object's top closer
(flat for bars and boxes, a dome for ellipses); the stereo depth adds 2 mm Gaussian noise.

The output is a pure function of the arguments: the same seed gives the same bytes.

Command line: ``python -m training tiny-data --out DIR [--objects N] [--views V] [--size PX]``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import List, Tuple

import cv2
import numpy as np

from mtg_grasp_ros.grasp import Grasp
from training.samples import PathLike

BACKGROUND_DEPTH_M = 1.0
BACKGROUND_RGB = (236, 234, 228)
STEREO_NOISE_M = 0.002
SHAPES = ('bar', 'box', 'ellipse')
#: Aspect ratio range (long / short side) of each shape.
_ASPECT = {'bar': (3.0, 5.0), 'box': (1.4, 2.0), 'ellipse': (1.6, 2.8)}


def make_tiny_jacquard(out_dir: PathLike, n_objects: int = 6, views: int = 2, size: int = 256,
                       seed: int = 0) -> Path:
    """Write ``n_objects`` objects x ``views`` views of ``size`` px into ``out_dir``; return it."""
    if n_objects < 1 or views < 1:
        raise ValueError(f'need at least one object and one view, got {n_objects}, {views}')
    if size < 32:
        raise ValueError(f'size must be at least 32 px, got {size}')
    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    names: List[str] = []
    while len(names) < n_objects:
        # Jacquard names objects by hash-like hex strings; keep that look (no underscores).
        name = f'{int(rng.integers(0, 2 ** 40)):010x}'
        if name not in names:
            names.append(name)
    for name in names:
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        short = size * rng.uniform(0.08, 0.15)
        long = short * rng.uniform(*_ASPECT[shape])
        long = min(long, 0.5 * size)
        colour = tuple(int(c) for c in rng.integers(30, 200, size=3))
        height = rng.uniform(0.02, 0.08)
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        for view in range(views):
            margin = long / 2.0 + 0.05 * size
            centre = rng.uniform(margin, size - margin, size=2)  # (x, y)
            heading = rng.uniform(-math.pi / 2.0, math.pi / 2.0)
            rgb, depth, mask = _render(shape, centre, heading, long, short, colour, height,
                                       size, rng)
            stereo = depth + rng.normal(0.0, STEREO_NOISE_M, depth.shape).astype(np.float32)
            grasps = _grasps(shape, centre, heading, long, short, size)
            stem = folder / f'{view}_{name}'
            _write(f'{stem}_RGB.png', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            _write(f'{stem}_perfect_depth.tiff', depth)
            _write(f'{stem}_stereo_depth.tiff', stereo.astype(np.float32))
            _write(f'{stem}_mask.png', mask.astype(np.uint8) * 255)
            lines = ['{:.2f};{:.2f};{:.2f};{:.2f};{:.2f}'.format(*g.to_jacquard())
                     for g in grasps]
            Path(f'{stem}_grasps.txt').write_text('\n'.join(lines) + '\n', encoding='utf-8')
    return out


def _render(shape: str, centre: np.ndarray, heading: float, long: float, short: float,
            colour: Tuple[int, int, int], height: float, size: int,
            rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RGB (uint8), perfect depth (float32 m) and mask (bool) of one object."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    dx, dy = x - np.float32(centre[0]), y - np.float32(centre[1])
    # Coordinates along (u) and across (v) the long axis, which points (cos h, -sin h).
    u = dx * np.float32(math.cos(heading)) - dy * np.float32(math.sin(heading))
    v = dx * np.float32(math.sin(heading)) + dy * np.float32(math.cos(heading))
    a, b = np.float32(long / 2.0), np.float32(short / 2.0)
    if shape == 'ellipse':
        r2 = (u / a) ** 2 + (v / b) ** 2
        mask = r2 <= 1.0
        rise = height * np.sqrt(np.clip(1.0 - r2, 0.0, 1.0))
    else:
        mask = (np.abs(u) <= a) & (np.abs(v) <= b)
        rise = np.full(mask.shape, height, np.float32)
    depth = np.where(mask, BACKGROUND_DEPTH_M - rise, BACKGROUND_DEPTH_M).astype(np.float32)
    rgb = np.empty((size, size, 3), np.float32)
    rgb[:] = BACKGROUND_RGB
    # Light from above: surfaces higher up are a little brighter, giving the dome some shading.
    shade = 0.8 + 0.2 * np.clip(rise / max(height, 1e-6), 0.0, 1.0)
    rgb[mask] = np.asarray(colour, np.float32) * shade[mask][:, None]
    rgb += rng.normal(0.0, 2.0, rgb.shape).astype(np.float32)
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8), depth, mask


def _grasps(shape: str, centre: np.ndarray, heading: float, long: float, short: float,
            size: int) -> List[Grasp]:
    """Grasps closing across the short axis at several points along the long axis."""
    grasps = []
    count = {'bar': 5, 'box': 3, 'ellipse': 3}[shape]
    along = np.array([math.cos(heading), -math.sin(heading)])  # (dx, dy)
    for t in np.linspace(-0.3, 0.3, count):
        thickness = short
        if shape == 'ellipse':
            thickness = short * math.sqrt(max(0.0, 1.0 - (2.0 * t) ** 2))
        x, y = centre + along * (t * long)
        opening = thickness * 1.3 + 0.02 * size  # clearance either side of the object
        for tilt in (-10.0, 0.0, 10.0):
            grasps.append(Grasp(row=float(y), col=float(x),
                                angle=heading + math.pi / 2.0 + math.radians(tilt),
                                width=opening, jaw_size=max(2.0, 0.4 * opening)))
    return grasps


def _write(path: str, image: np.ndarray) -> None:
    if not cv2.imwrite(path, image):
        raise OSError(f'cannot write {path}')


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'expected a positive integer, got {text}')
    return value


def register(subparsers) -> None:
    """Add the ``tiny-data`` sub-command."""
    parser = subparsers.add_parser(
        'tiny-data', help='write a tiny synthetic dataset in Jacquard format',
        description='Write simple coloured objects with Jacquard-format files (RGB, perfect '
                    'and stereo depth, mask, grasps) for tests and a quick demo. Deterministic: '
                    'the same seed writes the same bytes.')
    parser.add_argument('--out', required=True, type=Path, help='output folder')
    parser.add_argument('--objects', type=_positive_int, default=6, help='number of objects')
    parser.add_argument('--views', type=_positive_int, default=2, help='views per object')
    parser.add_argument('--size', type=_positive_int, default=1024,
                        help='image side in pixels (Jacquard: 1024; tests use 256)')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the dataset; print where."""
    if args.size < 32:
        print(f'error: --size must be at least 32, got {args.size}')
        return 2
    out = make_tiny_jacquard(args.out, n_objects=args.objects, views=args.views,
                             size=args.size, seed=args.seed)
    print(f'wrote {args.objects} objects x {args.views} views of {args.size} px '
          f'Jacquard-format data to {out}')
    return 0
