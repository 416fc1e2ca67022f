"""Held-out objects dropped onto a table in a camera's view, with their ground truth.

:class:`SimulatedScene` is what the simulated cameras show (:mod:`simulation.camera_node`,
:mod:`simulation.replay_camera`) and what the node-level evaluations measure against
(``python -m training scene-eval``, the accuracy tests): a :class:`~simulation.scene.Scene`
(table top at z = 0), a :class:`~simulation.camera.SimCamera` looking at it, and objects whose
truth is known exactly (:class:`SimObject`: pose, world mesh vertices, footprint, height).

Objects: only the held-out ones, catalogue index ``i % 10 == 0`` (``r000, r010, ..., r990``,
procedural shapes ``s000, s010, ...`` with ``object_set``; :mod:`simulation.objects`), the rule
of the data generator, so a network trained on generated data is shown objects it never saw.
Each is rescaled so its largest side is drawn from ``object_size``, dropped with a uniformly
random orientation near the point the optical axis meets the table (several objects: at points
of the view where they do not overlap), and simulated until it rests. They are coloured from
:data:`OBJECT_COLOURS`, saturated colours far from the light :data:`TABLE_RGB`
(``table='textured'``: random textured supports and object looks, :mod:`simulation.looks`); the
light comes from (0.4, 0.3, 1.0).

A footprint is the convex hull of the object's mesh vertices projected onto the table (world x,
y in metres); its minimum-area rectangle gives the major axis (:meth:`SimObject.axes`), across
which a parallel gripper should close. :class:`~simulation.scene.Render` and
:func:`~simulation.scene.random_quaternion` are re-exported here for the scenes' users.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from mtg_grasp_ros.grasp import wrap_angle
from simulation.camera import SimCamera
from simulation.fast_render import CompositeRenderer, RENDERERS
from simulation.looks import TexturedTable
from simulation.objects import check_heldout, heldout_indices, heldout_path, object_id
from simulation.scene import Light, random_quaternion, Render, Scene

#: Largest side of the dropped objects (m), inside the generator's 5-13 cm.
DEFAULT_OBJECT_SIZE = (0.08, 0.12)
TABLE_RGB = (0.86, 0.86, 0.83)
#: Object colours: saturated, all far from the light table.
OBJECT_COLOURS = ((0.80, 0.25, 0.20), (0.20, 0.45, 0.80), (0.25, 0.65, 0.30),
                  (0.85, 0.60, 0.15), (0.55, 0.30, 0.70), (0.15, 0.60, 0.65))
LIGHT_DIRECTION = (0.4, 0.3, 1.0)
#: Tables: the plain light one, or random rich textures; seed salt of the textures' RNG.
TABLES, LOOK_SEED = ('plain', 'textured'), 0x100C


@dataclass
class SimObject:
    """Ground truth of one object resting on the table (world frame, z up, table at z = 0).

    ``index``: catalogue index; ``body``: pybullet body id; ``scale``: model scaling;
    ``colour``: RGB 0-1; ``position`` (3,) m and ``quaternion`` (x, y, z, w): base pose;
    ``vertices`` (N, 3): mesh vertices in the world, m; ``footprint`` (K, 2): their convex hull
    on the table, m.
    """

    index: int
    body: int
    scale: float
    colour: Tuple[float, float, float]
    position: np.ndarray = field(default_factory=lambda: np.zeros(3))
    quaternion: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 0.0, 1.0]))
    vertices: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    footprint: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))

    @property
    def object_id(self) -> str:
        """The stable id ``rNNN`` (random_urdfs) or ``sNNN`` (procedural shapes)."""
        return object_id(self.index)

    @property
    def height(self) -> float:
        """Top of the object above the table (m)."""
        return float(self.vertices[:, 2].max()) if len(self.vertices) else 0.0

    @property
    def centre(self) -> np.ndarray:
        """Centroid of the footprint polygon (x, y) in the world, m."""
        return polygon_centroid(self.footprint)

    def axes(self) -> Tuple[float, float, float]:
        """``(major_yaw, length, breadth)`` of the footprint's minimum-area rectangle.

        ``major_yaw`` (rad, in [-pi/2, pi/2)) is the direction of its long side in the world;
        the minor axis, across which a parallel gripper closes, is perpendicular to it.
        ``length`` >= ``breadth``, m.
        """
        rect = cv2.minAreaRect(self.footprint.astype(np.float32))
        box = cv2.boxPoints(rect).astype(np.float64)
        e1, e2 = box[1] - box[0], box[2] - box[1]
        major = e1 if np.linalg.norm(e1) >= np.linalg.norm(e2) else e2
        w, h = rect[1]
        return (wrap_angle(math.atan2(float(major[1]), float(major[0]))), float(max(w, h)),
                float(min(w, h)))

    @property
    def aspect(self) -> float:
        """Length over breadth of the footprint's minimum-area rectangle (>= 1)."""
        _, length, breadth = self.axes()
        return length / max(breadth, 1e-9)

    def distance_to_footprint(self, xy) -> float:
        """Distance (m) of a world point (x, y) to the footprint; 0 inside it."""
        return polygon_distance(self.footprint, xy)

    def copy(self) -> 'SimObject':
        """A copy whose arrays are not shared (the scene updates its own in place)."""
        return SimObject(index=self.index, body=self.body, scale=self.scale,
                         colour=self.colour, position=self.position.copy(),
                         quaternion=self.quaternion.copy(), vertices=self.vertices.copy(),
                         footprint=self.footprint.copy())


def polygon_centroid(polygon: np.ndarray) -> np.ndarray:
    """Area centroid (2,) of a simple polygon (K, 2); the vertex mean when degenerate."""
    pts = np.asarray(polygon, dtype=np.float64)
    x, y = pts[:, 0], pts[:, 1]
    x1, y1 = np.roll(x, -1), np.roll(y, -1)
    cross = x * y1 - x1 * y
    area = cross.sum() / 2.0
    if abs(area) < 1e-12:
        return pts.mean(axis=0)
    return np.array([((x + x1) * cross).sum(), ((y + y1) * cross).sum()]) / (6.0 * area)


def polygon_distance(polygon: np.ndarray, xy) -> float:
    """Distance of a point (x, y) to a polygon (K, 2), same units: 0 inside, else to the
    nearest edge."""
    contour = np.asarray(polygon, dtype=np.float32).reshape(-1, 1, 2)
    signed = cv2.pointPolygonTest(contour, (float(xy[0]), float(xy[1])), True)
    return max(0.0, -float(signed))


def noisy_copies(rgb: np.ndarray, std: float, count: int, rng: np.random.Generator
                 ) -> List[np.ndarray]:
    """``count`` copies of a uint8 image with Gaussian noise of ``std`` grey levels, clipped
    to 0-255; ``[rgb]`` itself when ``std <= 0`` or ``count < 1``."""
    if std <= 0 or count < 1:
        return [rgb]
    base = rgb.astype(np.float32)
    return [np.clip(base + rng.normal(0.0, std, rgb.shape), 0, 255).astype(np.uint8)
            for _ in range(count)]


class SimulatedScene:
    """A :class:`~simulation.scene.Scene` with held-out objects resting in a camera's view.

    ``camera``: the render camera (default :class:`SimCamera`); ``objects``: how many objects
    to drop (>= 1); ``object_ids``: which (catalogue indices, held-out only; cycled when fewer
    than ``objects``), else a seeded random draw per :meth:`reset`; ``object_size``: range of
    the largest side (m); ``spread``: a single object lands within this radius (m) of the point
    the optical axis meets the table; ``shadows``: render shadows; ``object_set``: catalogue of
    the random draws (held-out objects of :func:`~simulation.objects.heldout_indices`);
    ``table``: one of TABLES (textured: :class:`~simulation.looks.TexturedTable`, its looks
    drawn from ``look_rng`` at every drop); ``renderer``: one of RENDERERS, 'reference'
    (TinyRenderer on the whole scene) or 'composite' (:mod:`simulation.fast_render`: the same
    images, faster). Raises ValueError for a bad argument, RuntimeError when pybullet cannot
    start. Not thread-safe: use one scene from one thread at a time.
    """

    def __init__(self, camera: Optional[SimCamera] = None, objects: int = 1,
                 object_ids: Sequence[int] = (), object_size=DEFAULT_OBJECT_SIZE,
                 seed: int = 0, spread: float = 0.03, shadows: bool = True,
                 object_set: str = 'random_urdfs', table: str = 'plain',
                 renderer: str = 'reference') -> None:
        self.camera = camera or SimCamera()
        if objects < 1:
            raise ValueError('objects must be >= 1')
        for index in object_ids:
            check_heldout(int(index))
        if not 0.005 <= object_size[0] <= object_size[1] <= 1.0:
            raise ValueError(f'object_size must be 0.005 <= min <= max <= 1 m, got {object_size}')
        if table not in TABLES:
            raise ValueError(f'table must be one of {TABLES}, got {table!r}')
        if renderer not in RENDERERS:
            raise ValueError(f'renderer must be one of {RENDERERS}, got {renderer!r}')
        self.pool = heldout_indices(object_set)
        self.dressing = TexturedTable() if table == 'textured' else None
        self.look_rng = np.random.default_rng([int(seed), LOOK_SEED])
        self.n_objects = int(objects)
        self.object_ids = [int(i) for i in object_ids]
        self.object_size = (float(object_size[0]), float(object_size[1]))
        self.spread = float(spread)
        self.light = Light(direction=LIGHT_DIRECTION, shadow=bool(shadows))
        self.rng = np.random.default_rng(seed)
        self.drops = 0
        self.objects: List[SimObject] = []
        self.last_render: Optional[Render] = None
        self.world = Scene(table_rgb=TABLE_RGB)
        self.p = self.world.p
        self.renderer = renderer
        self.compositor = CompositeRenderer(self.world) if renderer == 'composite' else None

    @property
    def client(self) -> Optional[int]:
        """The pybullet client id (None once closed)."""
        return self.world.client

    def __enter__(self) -> 'SimulatedScene':
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Disconnect the pybullet client."""
        self.world.close()

    # Objects ----------------------------------------------------------------------------------

    def _choose(self) -> List[int]:
        if self.object_ids:
            return [self.object_ids[i % len(self.object_ids)] for i in range(self.n_objects)]
        return [int(i) for i in self.rng.choice(self.pool, self.n_objects, replace=False)]

    def clear(self) -> None:
        """Remove every object."""
        for obj in self.objects:
            self.world.remove(obj.body)
        self.objects = []
        self.last_render = None

    def reset(self, attempts: int = 8) -> List[SimObject]:
        """Drop new objects (:meth:`drop`), retrying until every one rests inside the view;
        after ``attempts`` the last scene is kept as it is."""
        for _ in range(attempts):
            self.drop(self._choose())
            if self.settle() and self.all_in_view():
                return self.objects
        return self.objects  # a last, imperfect scene is still a scene

    def drop(self, indices: Sequence[int], positions=None, orientations=None,
             sizes=None) -> List[SimObject]:
        """Replace the objects by ``indices`` just above the table (no settling).

        ``positions`` (x, y, m), ``orientations`` (quaternions x, y, z, w) and ``sizes``
        (largest side, m) default to random draws: uniformly random rotations, sizes from
        ``object_size`` and, for one object, a point within ``spread`` of where the optical axis
        meets the table; for several, points in the camera's centred square view where the
        objects' bounding boxes do not overlap (so they never start inside each other).
        Raises ValueError for an index that is not held out.
        """
        world = self.world
        self.clear()
        self.drops += 1
        boxes: List[Tuple[np.ndarray, np.ndarray]] = []
        for i, index in enumerate(indices):
            path = heldout_path(int(index))
            quat = (orientations[i] if orientations is not None
                    else random_quaternion(self.rng))
            size = sizes[i] if sizes is not None else self.rng.uniform(*self.object_size)
            scale = float(size) / max(float(np.max(world.native_extent(path))), 1e-4)
            body = world.load(path, scale, orientation=quat)
            colour = OBJECT_COLOURS[(self.drops + i) % len(OBJECT_COLOURS)]
            world.set_look(body, colour)
            lo, hi = world.aabb(body)
            half = (hi[:2] - lo[:2]) / 2.0
            if positions is not None:
                target = np.asarray(positions[i][:2], dtype=np.float64)
            else:
                target = self._free_position(half, boxes, single=len(indices) == 1)
            boxes.append((target, half))
            world.place_above_table(body, target)
            self.objects.append(SimObject(index=int(index), body=body, scale=scale,
                                          colour=colour))
        if self.dressing is not None:
            colours = self.dressing.dress(world, [o.body for o in self.objects], self.look_rng)
            for obj, colour in zip(self.objects, colours):
                obj.colour = colour
        self.update_truth()
        return self.objects

    def move(self, obj: SimObject, dxy=(0.0, 0.0), dyaw: float = 0.0) -> None:
        """Shift a resting object along the table by ``dxy`` (m) and turn it by ``dyaw`` (rad)
        about the vertical through its footprint centre (it stays resting: its contact with the
        table is unchanged)."""
        turn = Rotation.from_euler('z', float(dyaw))
        pivot = np.array([*obj.centre, 0.0])
        shift = np.array([float(dxy[0]), float(dxy[1]), 0.0])
        position = turn.apply(obj.position - pivot) + pivot + shift
        quaternion = (turn * Rotation.from_quat(obj.quaternion)).as_quat()
        p, c = self.p, self.client
        p.resetBasePositionAndOrientation(obj.body, position.tolist(), quaternion.tolist(),
                                          physicsClientId=c)
        p.resetBaseVelocity(obj.body, [0, 0, 0], [0, 0, 0], physicsClientId=c)
        self.update_truth()

    def _free_position(self, half: np.ndarray, boxes, single: bool,
                       margin: float = 0.01, tries: int = 200) -> np.ndarray:
        """A drop point (x, y) for a bounding box of half-size ``half``: see :meth:`drop`."""
        point = self.camera.table_point()
        centre = point[:2]
        if single:
            r, a = self.spread * math.sqrt(self.rng.random()), self.rng.uniform(0, 2 * math.pi)
            return centre + r * np.array([math.cos(a), math.sin(a)])
        cam = self.camera
        distance = float(np.linalg.norm(point - cam.position))
        view = min(cam.width, cam.height) / 2.0 / cam.focal * distance  # half side, m
        room = np.maximum(view - half - margin, 0.0)
        best, best_gap = centre, -math.inf
        for _ in range(tries):
            candidate = centre + self.rng.uniform(-room, room)
            gap = min((float(np.max(np.abs(candidate - b) - (half + h))) for b, h in boxes),
                      default=math.inf)
            if gap >= margin:
                return candidate
            if gap > best_gap:
                best, best_gap = candidate, gap
        return best  # crowded: the least overlapping point found

    def settle(self) -> bool:
        """Step until every object rests (True) or SETTLE_MAX_TIME passes (False); then
        refresh the truth."""
        rested = self.world.settle([obj.body for obj in self.objects])
        self.update_truth()
        return rested

    def update_truth(self) -> None:
        """Refresh every object's pose, world vertices and footprint from the simulator."""
        p, c = self.p, self.client
        for obj in self.objects:
            pos, orn = p.getBasePositionAndOrientation(obj.body, physicsClientId=c)
            obj.position = np.asarray(pos, dtype=np.float64)
            obj.quaternion = np.asarray(orn, dtype=np.float64)
            obj.vertices = self.world.mesh_vertices(obj.body)
            if len(obj.vertices) >= 3:
                hull = cv2.convexHull(obj.vertices[:, :2].astype(np.float32))
                obj.footprint = hull.reshape(-1, 2).astype(np.float64)

    def all_in_view(self, margin: int = 4) -> bool:
        """Every object's vertices project inside the image, in front of the camera.

        Only the centred square (what the grasp node's default crop sees) counts; ``margin``
        in pixels.
        """
        cam = self.camera
        side = min(cam.width, cam.height)
        x0, y0 = (cam.width - side) / 2.0, (cam.height - side) / 2.0
        for obj in self.objects:
            u, v, z = cam.project(obj.vertices)
            if len(u) == 0 or (z <= cam.near).any():
                return False
            if (u.min() < x0 + margin or u.max() > x0 + side - 1 - margin
                    or v.min() < y0 + margin or v.max() > y0 + side - 1 - margin):
                return False
        return True

    # Rendering --------------------------------------------------------------------------------

    def render(self) -> Render:
        """RGB, depth and segmentation of the current scene (TinyRenderer, deterministic, or its
        composite; a textured table's RGB painted); also kept as ``last_render``."""
        render = (self.compositor or self.world).render(self.camera, self.light)
        if self.dressing is not None:
            render.rgb = self.dressing.paint(render.rgb, render.segmentation, render.depth,
                                             self.camera, self.world.table)
        self.last_render = render
        return render
