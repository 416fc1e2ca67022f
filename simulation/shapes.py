"""Procedural object shapes: boxes, plates, bars, cylinders, discs, capsules, superquadrics, L/T,
and thin ones: rods and rod frames.

Real graspable things are mostly boxes, cylinders, bottles, bars, flat plates and rounded
blocks, which pybullet_data's random_urdfs blobs are not. Shape ``n`` (0..SHAPE_COUNT - 1) is
drawn from a generator seeded by ``n`` alone, so it is the same on every machine and run:

* ``box`` (sides 1 : 0.3-1 : 0.2-1), ``plate`` (thickness 5-15% of the long side), ``bar``
  (cross-section 12-30% of its length);
* ``cylinder`` (height / diameter 0.3-4: tins to bottles), ``disc`` (0.08-0.3), ``capsule``
  (a rounded bar, length / diameter 1.2-5);
* ``superquadric``: exponents eps1, eps2 in [0.2, 1.0] (0.2: a block with rounded edges, 1: an
  ellipsoid), semi-axes 1 : 0.2-1 : 0.2-1 (aspect up to 5:1). Only convex ones (eps <= 2),
  because pybullet collides a dynamic body's OBJ mesh as its convex hull;
* ``compound``: an L or a T made of two boxes; its URDF has two box collision shapes (a convex
  hull would fill in the corner).

Thin shapes, numbers THIN_SHAPE_START.. (``s500``..``s599``, their own catalogue: pens, cutlery,
cables, handles, towel rails, racks; seen in the image they are a few pixels wide, which none of
the families above is):

* ``rod``: a cylinder of length / diameter 8-30;
* ``frame``: two parallel rails (square section 3-8% of the length) 15-50% of the length apart,
  joined by one rung at an end (a U), in the middle (an H) or at both ends (a closed frame);
  one box collision shape per part, like ``compound``.

The data generator makes them 15-35 cm long (THIN_SIZE_RANGE; the others 5-13 cm), so that most
are thick enough for the simulated gripper.

Each shape is written as a Wavefront OBJ (its visual mesh; a single convex mesh is also its
collision shape) and a one-link URDF of mass 0.1 kg, like the random_urdfs. Frame: the body's
origin is the shape's centroid (the URDF's inertial origin is zero, as for random_urdfs), its
largest side is NATIVE_SIZE = 1 m: every user rescales objects (``scale = size /
Scene.native_extent(path).max()``), and pybullet's bounding boxes carry a fixed ~3 mm margin per
side, which makes a 1 m model come out 0.6% small where a 0.1 m one would be 6% small. Rolling
and spinning friction (ROLLING_FRICTION) let round shapes come to rest. The meshes are
small parametric grids of rings written with plain NumPy: no mesh library (trimesh and the like
are not dependencies) is needed to triangulate a grid. Files are content-addressed
(``sNNN-<hash>.obj/.urdf``) and written through a temporary name and ``os.replace``, so
parallel workers writing the same shape, or an older version of this module, never clash.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
import tempfile
from typing import List, Optional, Sequence, Tuple

import numpy as np

#: Number of procedural shapes of the main families (ids s000..s499).
SHAPE_COUNT = 500
#: Shape families and how often each is drawn.
FAMILIES: Tuple[str, ...] = ('box', 'plate', 'bar', 'cylinder', 'disc', 'capsule',
                             'superquadric', 'compound')
FAMILY_WEIGHTS = (0.12, 0.08, 0.08, 0.14, 0.06, 0.1, 0.32, 0.1)
#: Thin shapes: numbers THIN_SHAPE_START .. THIN_SHAPE_START + THIN_SHAPE_COUNT - 1 (s500..s599).
THIN_SHAPE_START = SHAPE_COUNT
THIN_SHAPE_COUNT = 100
THIN_FAMILIES: Tuple[str, ...] = ('rod', 'frame')
THIN_FAMILY_WEIGHTS = (0.5, 0.5)
#: Largest side (m) the data generator gives a thin shape, instead of its 5-13 cm: long enough
#: that most rods and rails are 7 mm thick or more, which the simulated gripper can take from
#: the table (fingertips 3 mm above it, biting 4 mm); the thinnest stay ungraspable, as real ones.
THIN_SIZE_RANGE = (0.15, 0.35)
#: The same for a thin shape dropped as a clutter neighbour (the others: 4-9 cm).
THIN_NEIGHBOUR_SIZE_RANGE = (0.1, 0.2)
#: Largest side of every shape as written (m); large so the AABB margin barely biases rescaling.
NATIVE_SIZE = 1.0
#: Mass (kg) in the URDFs (random_urdfs declare 0.1 kg too).
SHAPE_MASS = 0.1
#: Rolling and spinning friction (m, Bullet's contact parameters): without them a dropped
#: cylinder, capsule or ellipsoid rolls (or spins on its contact point) for ever and never
#: settles (random_urdfs blobs are not round, theirs is 0).
ROLLING_FRICTION = 0.001
#: Superquadric exponent range (convex: <= 2) and mesh resolution (segments around, rings).
EPS_RANGE = (0.2, 1.0)
SEGMENTS = 32
RINGS = 16

Mesh = Tuple[np.ndarray, np.ndarray]  # vertices (N, 3) float m, triangles (M, 3) int, 0-based


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/mtg_grasp_ros/shapes`` (default ``~/.cache/mtg_grasp_ros/shapes``)."""
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return Path(base) / 'mtg_grasp_ros' / 'shapes'


def ring_mesh(rings: np.ndarray, bottom: Sequence[float], top: Sequence[float]) -> Mesh:
    """Close a stack of rings (R, S, 3), each counter-clockwise seen from +z and stacked
    bottom to top, with a ``bottom`` and a ``top`` pole: a closed, outward-facing mesh."""
    count, segs = rings.shape[:2]
    verts = np.concatenate([np.asarray([bottom], float), rings.reshape(-1, 3),
                            np.asarray([top], float)])
    ring = 1 + np.arange(count)[:, None] * segs + np.arange(segs)[None, :]
    nxt = np.roll(ring, -1, axis=1)
    faces = [np.stack([np.zeros(segs, int), nxt[0], ring[0]], axis=1)]
    for i in range(count - 1):
        a, b, c, d = ring[i], nxt[i], nxt[i + 1], ring[i + 1]
        faces += [np.stack([a, b, c], axis=1), np.stack([a, c, d], axis=1)]
    top_index = len(verts) - 1
    faces.append(np.stack([np.full(segs, top_index), ring[-1], nxt[-1]], axis=1))
    return verts, np.concatenate(faces).astype(np.int64)


def _spow(x: np.ndarray, e: float) -> np.ndarray:
    return np.sign(x) * np.abs(x) ** e


def box_mesh(half: Sequence[float], centre: Sequence[float] = (0.0, 0.0, 0.0)) -> Mesh:
    """A box of half sides ``half`` (m) centred at ``centre`` (m), axis-aligned."""
    hx, hy, hz = half
    square = np.array([[hx, hy], [-hx, hy], [-hx, -hy], [hx, -hy]])
    rings = np.stack([np.column_stack([square, np.full(4, z)]) for z in (-hz, hz)])
    verts, faces = ring_mesh(rings, (0, 0, -hz), (0, 0, hz))
    return verts + np.asarray(centre, float), faces


def cylinder_mesh(radius: float, half_height: float) -> Mesh:
    """A cylinder about z (radius, half height in m), SEGMENTS sides, centred at the origin."""
    w = np.linspace(0.0, 2 * np.pi, SEGMENTS, endpoint=False)
    circle = radius * np.column_stack([np.cos(w), np.sin(w)])
    rings = np.stack([np.column_stack([circle, np.full(SEGMENTS, z)])
                      for z in (-half_height, half_height)])
    return ring_mesh(rings, (0, 0, -half_height), (0, 0, half_height))


def capsule_mesh(radius: float, half_length: float) -> Mesh:
    """A capsule about z: a cylinder of ``radius`` and half length ``half_length`` (m) with
    hemispherical ends, centred at the origin."""
    w = np.linspace(0.0, 2 * np.pi, SEGMENTS, endpoint=False)
    half_rings = RINGS // 2
    eta = np.linspace(0.0, np.pi / 2, half_rings, endpoint=False)
    rings = []
    for side, etas in ((-1.0, -eta[::-1]), (1.0, eta)):  # both include the equator
        for e in etas:
            rings.append(np.column_stack([radius * np.cos(e) * np.cos(w),
                                          radius * np.cos(e) * np.sin(w),
                                          np.full(SEGMENTS, radius * np.sin(e)
                                                  + side * half_length)]))
    end = radius + half_length
    return ring_mesh(np.stack(rings), (0, 0, -end), (0, 0, end))


def superquadric_mesh(axes: Sequence[float], eps1: float, eps2: float) -> Mesh:
    """A superquadric of semi-axes ``axes`` (m, along x, y, z), exponents ``eps1`` (latitude)
    and ``eps2`` (longitude); convex for exponents <= 2. Centred at the origin."""
    a, b, c = axes
    w = np.linspace(-np.pi, np.pi, SEGMENTS, endpoint=False)
    eta = np.linspace(-np.pi / 2, np.pi / 2, RINGS + 2)[1:-1]
    ce, se = _spow(np.cos(eta), eps1)[:, None], _spow(np.sin(eta), eps1)[:, None]
    cw, sw = _spow(np.cos(w), eps2)[None, :], _spow(np.sin(w), eps2)[None, :]
    rings = np.stack([a * ce * cw, b * ce * sw, c * se * np.ones_like(cw)], axis=-1)
    return ring_mesh(rings, (0, 0, -c), (0, 0, c))


def merge(meshes: Sequence[Mesh]) -> Mesh:
    """Several meshes as one (the vertex indices of each shifted past the ones before)."""
    verts, faces, start = [], [], 0
    for v, f in meshes:
        verts.append(v)
        faces.append(f + start)
        start += len(v)
    return np.concatenate(verts), np.concatenate(faces)


def mesh_volume(verts: np.ndarray, faces: np.ndarray) -> float:
    """Enclosed volume (m^3) of a closed, outward-facing triangle mesh (divergence theorem)."""
    a, b, c = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    return float(np.einsum('ij,ij->i', a, np.cross(b, c)).sum() / 6.0)


class Shape:
    """Shape ``number``'s family, parameters and mesh (m, frame centred on its centroid).

    ``boxes``: for ``compound`` the (half sides, centre) of its boxes, which are its collision
    shapes; empty for the convex families, whose mesh is its own collision shape.
    """

    def __init__(self, number: int) -> None:
        last = THIN_SHAPE_START + THIN_SHAPE_COUNT - 1
        if not 0 <= number <= last:
            raise ValueError(f'shape {number} is not in 0..{last}')
        self.number = number
        rng = np.random.default_rng([int(number), 0x5A9E5])
        families, weights = ((FAMILIES, FAMILY_WEIGHTS) if number < THIN_SHAPE_START
                             else (THIN_FAMILIES, THIN_FAMILY_WEIGHTS))
        self.family = families[int(rng.choice(len(families), p=weights))]
        self.params: dict = {}
        self.boxes: List[Tuple[np.ndarray, np.ndarray]] = []
        self.verts, self.faces = getattr(self, '_' + self.family)(rng)
        # Normalise: largest side NATIVE_SIZE (boxes and parameters follow along).
        extent = self.verts.max(axis=0) - self.verts.min(axis=0)
        k = NATIVE_SIZE / float(extent.max())
        self.verts = self.verts * k
        self.boxes = [(h * k, c * k) for h, c in self.boxes]

    def _box(self, rng, sides=None) -> Mesh:
        sides = sides if sides is not None else [1.0, rng.uniform(0.3, 1), rng.uniform(0.2, 1)]
        self.params = {'sides': [float(s) for s in sides]}
        return box_mesh(np.asarray(sides) / 2)

    def _plate(self, rng) -> Mesh:
        return self._box(rng, [1.0, rng.uniform(0.4, 1.0), rng.uniform(0.05, 0.15)])

    def _bar(self, rng) -> Mesh:
        return self._box(rng, [1.0, rng.uniform(0.12, 0.3), rng.uniform(0.12, 0.3)])

    def _cylinder(self, rng, ratio=(0.3, 4.0)) -> Mesh:
        height_per_diameter = float(np.exp(rng.uniform(*np.log(ratio))))
        self.params = {'height_per_diameter': height_per_diameter}
        return cylinder_mesh(0.5, height_per_diameter / 2)

    def _disc(self, rng) -> Mesh:
        return self._cylinder(rng, (0.08, 0.3))

    def _capsule(self, rng) -> Mesh:
        length_per_diameter = float(rng.uniform(1.2, 5.0))
        self.params = {'length_per_diameter': length_per_diameter}
        return capsule_mesh(0.5, length_per_diameter / 2 - 0.5)

    def _superquadric(self, rng) -> Mesh:
        axes = [1.0, rng.uniform(0.2, 1.0), rng.uniform(0.2, 1.0)]
        eps1, eps2 = (float(e) for e in rng.uniform(*EPS_RANGE, size=2))
        self.params = {'axes': [float(a) for a in axes], 'eps1': eps1, 'eps2': eps2}
        return superquadric_mesh(axes, eps1, eps2)

    def _compound(self, rng) -> Mesh:
        kind = 'T' if rng.random() < 0.5 else 'L'
        t = rng.uniform(0.15, 0.3)  # arm thickness (in-plane), per unit length of the bar
        depth = rng.uniform(0.1, 0.3)  # thickness out of the plane
        stem = rng.uniform(0.4, 1.0)  # length of the second arm, beyond the bar
        bar = (np.array([0.5, t / 2, depth / 2]), np.zeros(3))
        x = 0.0 if kind == 'T' else 0.5 - t / 2
        arm = (np.array([t / 2, stem / 2, depth / 2]), np.array([x, t / 2 + stem / 2, 0.0]))
        volumes = [float(np.prod(h)) for h, _ in (bar, arm)]
        centroid = (volumes[0] * bar[1] + volumes[1] * arm[1]) / sum(volumes)
        self.boxes = [(h, c - centroid) for h, c in (bar, arm)]
        self.params = {'kind': kind, 'thickness': float(t), 'depth': float(depth),
                       'stem': float(stem)}
        return merge([box_mesh(h, c) for h, c in self.boxes])

    def _rod(self, rng) -> Mesh:
        length_per_diameter = float(np.exp(rng.uniform(np.log(8.0), np.log(30.0))))
        self.params = {'length_per_diameter': length_per_diameter}
        return cylinder_mesh(0.5 / length_per_diameter, 0.5)

    def _frame(self, rng) -> Mesh:
        kind = str(rng.choice(['U', 'H', 'closed']))
        t = rng.uniform(0.03, 0.08)  # rail section (square), per unit rail length
        gap = rng.uniform(0.15, 0.5)  # distance between the rails' axes
        rails = [(np.array([0.5, t / 2, t / 2]), np.array([0.0, y, 0.0]))
                 for y in (-gap / 2, gap / 2)]
        rung_x = {'U': [0.5 - t / 2], 'H': [0.0], 'closed': [t / 2 - 0.5, 0.5 - t / 2]}[kind]
        inner = gap / 2 - t / 2  # a rung spans the space between the rails
        rungs = [(np.array([t / 2, inner, t / 2]), np.array([x, 0.0, 0.0])) for x in rung_x]
        parts = rails + rungs
        volumes = [float(np.prod(h)) for h, _ in parts]
        centroid = sum(v * c for v, (_, c) in zip(volumes, parts)) / sum(volumes)
        self.boxes = [(h, c - centroid) for h, c in parts]
        self.params = {'kind': kind, 'thickness': float(t), 'gap': float(gap)}
        return merge([box_mesh(h, c) for h, c in self.boxes])

    def obj_text(self) -> str:
        """The mesh as Wavefront OBJ text (vertices in m to 0.1 um, 1-based faces)."""
        lines = [f'# mtg_grasp_ros procedural shape s{self.number:03d}: {self.family}',
                 f'o s{self.number:03d}']
        # One %-format over all numbers (ten times faster than one per line); + 0.0: no -0.
        numbers = tuple((self.verts + 0.0).ravel().tolist())
        verts = ('v %.7f %.7f %.7f\n' * len(self.verts)) % numbers
        faces = ('f %d %d %d\n' * len(self.faces)) % tuple((self.faces + 1).ravel().tolist())
        return '\n'.join(lines) + '\n' + verts + faces

    def inertia(self) -> np.ndarray:
        """Diagonal inertia (kg m^2) of a solid box of the shape's extent and SHAPE_MASS (an
        approximation; pybullet recomputes it from the collision shapes anyway)."""
        ext = self.verts.max(axis=0) - self.verts.min(axis=0)
        sq = ext ** 2
        return SHAPE_MASS / 12.0 * np.array([sq[1] + sq[2], sq[0] + sq[2], sq[0] + sq[1]])

    def urdf_text(self, obj_name: str) -> str:
        """A one-link URDF around the OBJ file ``obj_name`` (relative to the URDF's folder)."""
        ixx, iyy, izz = self.inertia()
        mesh = f'<geometry><mesh filename="{obj_name}" scale="1 1 1"/></geometry>'
        if self.boxes:
            collisions = [f'    <collision><origin rpy="0 0 0" xyz="{c[0]:.7f} {c[1]:.7f} '
                          f'{c[2]:.7f}"/><geometry><box size="{2 * h[0]:.7f} {2 * h[1]:.7f} '
                          f'{2 * h[2]:.7f}"/></geometry></collision>' for h, c in self.boxes]
        else:
            collisions = [f'    <collision><origin rpy="0 0 0" xyz="0 0 0"/>{mesh}</collision>']
        name = f's{self.number:03d}'
        return '\n'.join([
            f'<?xml version="1.0"?>\n<robot name="{name}">', f'  <link name="{name}">',
            f'    <contact><rolling_friction value="{ROLLING_FRICTION}"/>'
            f'<spinning_friction value="{ROLLING_FRICTION}"/></contact>',
            '    <inertial><origin rpy="0 0 0" xyz="0 0 0"/>'
            f'<mass value="{SHAPE_MASS}"/><inertia ixx="{ixx:.4e}" ixy="0" ixz="0" '
            f'iyy="{iyy:.4e}" iyz="0" izz="{izz:.4e}"/></inertial>',
            f'    <visual><origin rpy="0 0 0" xyz="0 0 0"/>{mesh}<material name="{name}">'
            '<color rgba="0.8 0.8 0.8 1"/></material></visual>',
            *collisions, '  </link>', '</robot>']) + '\n'


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` unless it exists: temporary file in the folder, os.replace."""
    if path.is_file():
        return
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', dir=str(path.parent))
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def shape_urdf(number: int, cache_dir: Optional[str] = None) -> str:
    """Write shape ``number``'s OBJ and URDF into ``cache_dir`` (default
    :func:`default_cache_dir`) unless there already; the URDF's path. Content-addressed names
    (``sNNN-<sha1 of OBJ and URDF, 10 hex>``): same shape, same file bytes, safe in parallel."""
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    shape = Shape(number)
    obj = shape.obj_text()
    digest = hashlib.sha1((obj + shape.urdf_text('')).encode()).hexdigest()[:10]
    stem = f's{number:03d}-{digest}'
    _write_atomic(folder / f'{stem}.obj', obj)
    urdf = folder / f'{stem}.urdf'
    _write_atomic(urdf, shape.urdf_text(f'{stem}.obj'))
    return str(urdf)
