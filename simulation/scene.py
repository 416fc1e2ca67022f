"""One pybullet world: physics, the table, loading, dropping and settling objects, rendering.

:class:`Scene` is the world every simulation builds on: the data generator (one object, random
looks, grasp trials), the simulated cameras (:class:`simulation.tabletop.SimulatedScene`:
held-out objects with their ground truth) and the tests.

The world: z up, gravity -9.81 m/s^2, a 3 m x 3 m x 2 cm static box as the table whose top face
is at z = 0 (a box rather than a plane, so TinyRenderer maps textures onto it). Objects are
loaded from URDF or bare OBJ files, dropped from 5 mm above the table with a given orientation
and simulated until they rest. Rendering is TinyRenderer's (CPU, deterministic): RGB, optical
depth and the body id of every pixel in one pass.

Every :class:`Scene` is a *fresh* DIRECT client (connected on creation, disconnected on
:meth:`Scene.close`), for two reasons measured here:

* determinism: a new client starts from exactly the same state whatever was simulated before
  (body ids, contact caches, broadphase pairs), so generated files depend only on (seed,
  object), not on how objects are spread over worker processes;
* memory: TinyRenderer keeps every texture ever loaded until its client disconnects
  (``resetSimulation`` does not free them; ~0.3 MB per 256 px texture), so a long run reusing
  one client would grow without bound. Connect + disconnect costs ~11 ms, against ~180-310 ms
  to render a 1024 px view.

pybullet is imported only when a scene is built (its import prints a banner).
"""

from __future__ import annotations

from dataclasses import dataclass
import os
from pathlib import Path
import tempfile
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from simulation.camera import SimCamera

#: Physics step (s). The default 1/240 s; every trial phase is specified in seconds.
TIME_STEP = 1.0 / 240.0
#: Constraint-solver iterations per step (pybullet's default). Measured on 400 grasp trials of
#: random_urdfs objects against a 1/480 s, 100-iteration reference (which itself agrees with
#: 1/960 s, 200 iterations on 95.8% of outcomes): 1/240 s with 50 iterations agrees on 93.8% at
#: 6.4 ms/trial (reference 14.3 ms); 100 iterations 95.0% at 8.4 ms; 30 iterations 92.2% at
#: 5.8 ms; 1/120 s with 30 iterations only 84.8% at 4.0 ms. Coarser steps and fewer iterations
#: also make contacts stickier (success rates 3-7 points above the reference).
SOLVER_ITERATIONS = 50
GRAVITY = -9.81
TABLE_HALF_SIZE = 1.5
TABLE_THICKNESS = 0.02
TABLE_FRICTION = 0.8
OBJECT_FRICTION = 1.0
#: Mass (kg) given to objects loaded from bare OBJ files (random_urdfs declare 0.1 kg).
OBJ_MASS = 0.1
#: Objects are loaded this high (m), then lowered until their lowest point is DROP_GAP above
#: the table: a short, gentle drop.
LOAD_HEIGHT = 1.0
DROP_GAP = 0.005
#: Settling: the objects rest when all their speeds (m/s, rad/s) stay below these for
#: SETTLE_STEPS steps; at most SETTLE_MAX_TIME (s) is simulated.
SETTLE_LINEAR = 2e-3
SETTLE_ANGULAR = 2e-2
SETTLE_STEPS = 24
SETTLE_MAX_TIME = 4.0

RGB = Tuple[float, float, float]


@dataclass(frozen=True)
class Light:
    """TinyRenderer's light: ``direction`` (towards the light, world), ``color`` (RGB 0-1),
    shading weights and shadows. A None field keeps pybullet's default."""

    direction: Tuple[float, float, float]
    color: Optional[RGB] = None
    ambient: Optional[float] = None
    diffuse: Optional[float] = None
    specular: Optional[float] = None
    shadow: bool = True

    def render_kwargs(self) -> dict:
        """The ``getCameraImage`` keyword arguments of this light."""
        kwargs = {'lightDirection': list(self.direction), 'lightColor': self.color,
                  'lightAmbientCoeff': self.ambient, 'lightDiffuseCoeff': self.diffuse,
                  'lightSpecularCoeff': self.specular}
        kwargs = {k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()
                  if v is not None}
        kwargs['shadow'] = int(self.shadow)
        return kwargs


@dataclass(frozen=True)
class Appearance:
    """How one view looks: table and object colours (RGB 0-1), optional textures (uint8 RGB
    images, multiplied onto a white base) and the light."""

    table_rgb: RGB
    table_texture: Optional[np.ndarray]
    object_rgb: RGB
    object_texture: Optional[np.ndarray]
    light: Light


@dataclass
class Render:
    """One render: RGB (uint8, HxWx3), optical depth (float32 m, HxW), body id per pixel
    (int64, HxW; -1 where nothing was hit)."""

    rgb: np.ndarray
    depth: np.ndarray
    segmentation: np.ndarray

    def mask(self, body) -> np.ndarray:
        """Boolean HxW mask of a body: its id, or anything with a ``body`` attribute."""
        return self.segmentation == getattr(body, 'body', body)


def random_quaternion(rng: np.random.Generator) -> Tuple[float, float, float, float]:
    """A uniformly random rotation drawn from ``rng``, as a quaternion ``(x, y, z, w)``
    (pybullet's order): ``scipy.spatial.transform.Rotation.random``."""
    return tuple(float(v) for v in Rotation.random(random_state=rng).as_quat())


def _obj_vertices(path: str) -> np.ndarray:
    """The ``v x y z`` vertices (N, 3) of a Wavefront OBJ file (all objects of the file)."""
    values = []
    with open(path, 'r', encoding='utf-8', errors='replace') as f:
        for line in f:
            if line.startswith('v '):
                values.append([float(v) for v in line.split()[1:4]])
    return np.asarray(values, dtype=np.float64).reshape(-1, 3)


def import_pybullet():
    """pybullet, imported only where a scene is built (its import prints a banner)."""
    import pybullet
    return pybullet


class Scene:
    """A fresh DIRECT pybullet client with the table; use as a context manager.

    ``table_rgb``: the table's colour (RGB 0-1). Attributes: ``p`` (the pybullet module),
    ``client`` (the client id, None once closed), ``table`` (its body id). Raises RuntimeError
    when pybullet cannot start a client. Not thread-safe.
    """

    def __init__(self, table_rgb: RGB = (1.0, 1.0, 1.0)) -> None:
        self.p = import_pybullet()
        self.client = self.p.connect(self.p.DIRECT)
        if self.client < 0:
            raise RuntimeError('pybullet could not start a DIRECT client')
        self._tmp: Optional[tempfile.TemporaryDirectory] = None
        self._textures = 0
        p, c = self.p, self.client
        p.setGravity(0, 0, GRAVITY, physicsClientId=c)
        p.setPhysicsEngineParameter(fixedTimeStep=TIME_STEP, numSolverIterations=SOLVER_ITERATIONS,
                                    numSubSteps=0, physicsClientId=c)
        half = [TABLE_HALF_SIZE, TABLE_HALF_SIZE, TABLE_THICKNESS / 2]
        col = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=c)
        vis = p.createVisualShape(p.GEOM_BOX, halfExtents=half, rgbaColor=[*table_rgb, 1],
                                  physicsClientId=c)
        self.table = p.createMultiBody(0, col, vis, basePosition=[0, 0, -TABLE_THICKNESS / 2],
                                       physicsClientId=c)
        p.changeDynamics(self.table, -1, lateralFriction=TABLE_FRICTION, physicsClientId=c)

    def __enter__(self) -> 'Scene':
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Disconnect the client (frees its textures) and remove the texture files."""
        if self.client is not None and self.client >= 0:
            self.p.disconnect(physicsClientId=self.client)
        self.client = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def step(self, count: int = 1) -> None:
        """Advance the simulation ``count`` steps of TIME_STEP."""
        for _ in range(count):
            self.p.stepSimulation(physicsClientId=self.client)

    # Objects ----------------------------------------------------------------------------------

    def load(self, path: str, scale: float = 1.0, position=(0.0, 0.0, LOAD_HEIGHT),
             orientation=(0.0, 0.0, 0.0, 1.0)) -> int:
        """Load a URDF or OBJ model scaled by ``scale`` at ``position`` (m) and ``orientation``
        (quaternion x, y, z, w); returns the body id. RuntimeError when a mesh cannot load."""
        p, c = self.p, self.client
        if path.lower().endswith('.urdf'):
            return p.loadURDF(path, basePosition=position, baseOrientation=orientation,
                              globalScaling=scale, physicsClientId=c)
        mesh = [scale] * 3
        col = p.createCollisionShape(p.GEOM_MESH, fileName=path, meshScale=mesh,
                                     physicsClientId=c)
        vis = p.createVisualShape(p.GEOM_MESH, fileName=path, meshScale=mesh, physicsClientId=c)
        if col < 0 or vis < 0:
            raise RuntimeError(f'pybullet cannot load mesh {path}')
        return p.createMultiBody(OBJ_MASS, col, vis, basePosition=position,
                                 baseOrientation=orientation, physicsClientId=c)

    def native_extent(self, path: str) -> np.ndarray:
        """Axis-aligned size (3,), m, of a model at scale 1 in its own frame."""
        body = self.load(path, 1.0, (0, 0, 5), (0, 0, 0, 1))
        lo, hi = self.aabb(body)
        self.remove(body)
        return hi - lo

    def drop(self, path: str, scale: float, orientation, xy=(0.0, 0.0)) -> int:
        """Load a model (``orientation``: quaternion x, y, z, w) and :meth:`place_above_table`
        at ``xy``; no settling. Returns the body id."""
        body = self.load(path, scale, (0.0, 0.0, LOAD_HEIGHT), orientation)
        self.place_above_table(body, xy)
        return body

    def place_above_table(self, body: int, xy=(0.0, 0.0)) -> None:
        """Move a body, orientation kept, so its bounding box is centred on ``xy`` (m) and its
        lowest point is DROP_GAP above the table (a short, gentle drop); give it the objects'
        friction."""
        p, c = self.p, self.client
        pos, orn = p.getBasePositionAndOrientation(body, physicsClientId=c)
        lo, hi = self.aabb(body)
        shift = np.asarray(xy[:2], dtype=np.float64) - (lo[:2] + hi[:2]) / 2.0
        p.resetBasePositionAndOrientation(
            body, [pos[0] + shift[0], pos[1] + shift[1], pos[2] - lo[2] + DROP_GAP], orn,
            physicsClientId=c)
        self.set_friction(body)

    def add_box(self, half_extents, mass: float = 0.1, yaw: float = 0.0,
                xy=(0.0, 0.0)) -> int:
        """A box (half sizes, m) resting on the table, turned by ``yaw`` (rad) about z; its id.

        Tests use it: a known object whose grasps are obvious.
        """
        p, c = self.p, self.client
        col = p.createCollisionShape(p.GEOM_BOX, halfExtents=list(half_extents),
                                     physicsClientId=c)
        vis = p.createVisualShape(p.GEOM_BOX, halfExtents=list(half_extents),
                                  rgbaColor=[0.8, 0.3, 0.2, 1], physicsClientId=c)
        body = p.createMultiBody(mass, col, vis, basePosition=[xy[0], xy[1], half_extents[2]],
                                 baseOrientation=p.getQuaternionFromEuler([0, 0, yaw]),
                                 physicsClientId=c)
        self.set_friction(body)
        return body

    def set_friction(self, body: int) -> None:
        """Give a body the objects' lateral friction (OBJECT_FRICTION)."""
        self.p.changeDynamics(body, -1, lateralFriction=OBJECT_FRICTION,
                              physicsClientId=self.client)

    def remove(self, body: int) -> None:
        """Remove a body from the world."""
        self.p.removeBody(body, physicsClientId=self.client)

    def settle(self, bodies: Sequence[int]) -> bool:
        """Step until every body rests (True) or SETTLE_MAX_TIME passes (False)."""
        p, c = self.p, self.client
        still = 0
        for _ in range(int(SETTLE_MAX_TIME / TIME_STEP)):
            p.stepSimulation(physicsClientId=c)
            moving = False
            for body in bodies:
                lin, ang = p.getBaseVelocity(body, physicsClientId=c)
                if np.linalg.norm(lin) >= SETTLE_LINEAR or np.linalg.norm(ang) >= SETTLE_ANGULAR:
                    moving = True
                    break
            still = 0 if moving else still + 1
            if still >= SETTLE_STEPS:
                return True
        return False

    def mesh_vertices(self, body: int) -> np.ndarray:
        """The world vertices (N, 3), m, of a body's visual meshes (OBJ files; primitives and
        other formats are skipped). The random_urdfs have zero inertial and visual origins,
        so the base pose is the link frame."""
        p, c = self.p, self.client
        pos, orn = p.getBasePositionAndOrientation(body, physicsClientId=c)
        base = Rotation.from_quat(orn)
        points = []
        for shape in p.getVisualShapeData(body, physicsClientId=c):
            mesh = shape[4].decode() if isinstance(shape[4], bytes) else shape[4]
            if not mesh or not os.path.isfile(mesh):
                continue
            # Mesh vertices x mesh scale (includes globalScaling), in the visual frame.
            local = Rotation.from_quat(shape[6]).apply(
                _obj_vertices(mesh) * np.asarray(shape[3])) + np.asarray(shape[5])
            points.append(base.apply(local) + np.asarray(pos))
        return np.concatenate(points) if points else np.zeros((0, 3))

    def aabb(self, body: int) -> Tuple[np.ndarray, np.ndarray]:
        """World axis-aligned bounding box ``(lo, hi)`` of a body, (3,) each, m."""
        lo, hi = self.p.getAABB(body, physicsClientId=self.client)
        return np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)

    # Looks and rendering ----------------------------------------------------------------------

    def set_look(self, body: int, rgb: RGB, texture: Optional[np.ndarray] = None) -> None:
        """Colour a body (RGB 0-1), or texture it (uint8 RGB image on a white base)."""
        p, c = self.p, self.client
        if texture is not None:
            p.changeVisualShape(body, -1, rgbaColor=[1, 1, 1, 1],
                                textureUniqueId=self._texture(texture), physicsClientId=c)
        else:
            p.changeVisualShape(body, -1, rgbaColor=[*rgb, 1], physicsClientId=c)

    def apply_appearance(self, look: Appearance, body: int) -> None:
        """Colour and texture the table and the object ``body`` as ``look`` says."""
        self.set_look(self.table, look.table_rgb, look.table_texture)
        self.set_look(body, look.object_rgb, look.object_texture)

    def _texture(self, image: np.ndarray) -> int:
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix='sim_tex_')
        path = Path(self._tmp.name) / f'tex{self._textures}.png'
        self._textures += 1
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        return self.p.loadTexture(os.fspath(path), physicsClientId=self.client)

    def render(self, camera: SimCamera, light: Optional[Light] = None,
               window: Optional[Tuple[Tuple[int, int], Tuple[int, int]]] = None) -> Render:
        """RGB, optical depth and segmentation seen by ``camera`` (TinyRenderer, deterministic).

        ``light``: None renders with pybullet's default light (and shadows off). ``window``:
        ``(cols, rows)``, half-open pixel ranges: only that part of the image (the same pixels;
        :meth:`SimCamera.window_projection`; note that the shadow pass then sees the light's
        view through the same window). ValueError for a window outside the image.
        """
        p = self.p
        kwargs = light.render_kwargs() if light is not None else {}
        w, h = camera.width, camera.height
        projection = camera.projection_matrix()
        if window is not None:
            projection = camera.window_projection(*window)
            (c0, c1), (r0, r1) = window
            w, h = c1 - c0, r1 - r0
        _, _, rgba, zbuf, seg = p.getCameraImage(
            w, h, camera.view_matrix(), projection,
            renderer=p.ER_TINY_RENDERER, physicsClientId=self.client, **kwargs)
        rgba = np.asarray(rgba, dtype=np.uint8).reshape(h, w, 4)
        # OpenCV drops alpha ~50x faster than a NumPy copy of the strided view (3 ms at 640x480).
        return Render(rgb=cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB),
                      depth=camera.depth_from_buffer(np.asarray(zbuf).reshape(h, w)),
                      segmentation=np.asarray(seg, dtype=np.int64).reshape(h, w))
