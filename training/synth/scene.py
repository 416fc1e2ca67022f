"""One pybullet scene: a plane, one dropped object, its appearance, a camera, and renders.

Every view is built in a *fresh* pybullet DIRECT client (:class:`Scene` connects on creation
and disconnects on :meth:`Scene.close`), for two reasons measured here:

* determinism: a new client starts from exactly the same state whatever the worker did before
  (body ids, contact caches, broadphase pairs), so the files depend only on (seed, object) and
  not on how objects are spread over worker processes;
* memory: TinyRenderer keeps every texture ever loaded until its client disconnects
  (``resetSimulation`` does not free them; ~0.3 MB per 256 px texture), so a long run that
  reset a single client would grow without bound. Connect + disconnect costs ~11 ms, against
  ~180-310 ms to render a 1024 px view.

The world: z up, gravity -9.81 m/s^2, the plane's top face at z = 0 (a 3 m x 3 m x 2 cm static
box, so TinyRenderer maps textures onto it), the object dropped from just above it with a random
orientation and simulated until it rests.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
import tempfile
from typing import Optional, Tuple

import cv2
import numpy as np

from training.synth.appearance import Appearance
from training.synth.camera import Camera

#: Physics step (s). The default 1/240 s; every trial phase is specified in seconds.
TIME_STEP = 1.0 / 240.0
#: Constraint-solver iterations per step (pybullet's default). Measured on 400 grasp trials of
#: random_urdfs objects against a 1/480 s, 100-iteration reference (which itself agrees with
#: 1/960 s, 200 iterations on 95.8% of outcomes): 1/240 s with 50 iterations agrees on 93.8% at
#: 6.4 ms/trial (reference 14.3 ms); 100 iterations 95.0% at 8.4 ms; 30 iterations 92.2% at
#: 5.8 ms; 1/120 s with 30 iterations only 84.8% at 4.0 ms. Coarser steps and fewer iterations
#: also make contacts stickier (success rates 3-7 points above the reference).
SOLVER_ITERATIONS = 50
PLANE_HALF_SIZE = 1.5
PLANE_THICKNESS = 0.02
PLANE_FRICTION = 0.8
OBJECT_FRICTION = 1.0
#: Mass (kg) given to objects loaded from bare OBJ files (random_urdfs declare 0.1 kg).
OBJ_MASS = 0.1
#: Settling: the object rests when its speeds stay below these for SETTLE_STEPS steps.
SETTLE_LINEAR = 2e-3
SETTLE_ANGULAR = 2e-2
SETTLE_STEPS = 24
SETTLE_MAX_TIME = 4.0


def _import_pybullet():
    """pybullet, imported only where a scene is built (its import prints a banner)."""
    import pybullet
    return pybullet


class Scene:
    """A fresh DIRECT pybullet client with the plane; use as a context manager."""

    def __init__(self) -> None:
        self.p = _import_pybullet()
        self.client = self.p.connect(self.p.DIRECT)
        if self.client < 0:
            raise RuntimeError('pybullet could not start a DIRECT client')
        self._tmp = tempfile.TemporaryDirectory(prefix='synth_tex_')
        self._textures = 0
        p, c = self.p, self.client
        p.setGravity(0, 0, -9.81, physicsClientId=c)
        p.setPhysicsEngineParameter(fixedTimeStep=TIME_STEP, numSolverIterations=SOLVER_ITERATIONS,
                                    numSubSteps=0, physicsClientId=c)
        half = [PLANE_HALF_SIZE, PLANE_HALF_SIZE, PLANE_THICKNESS / 2]
        col = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=c)
        vis = p.createVisualShape(p.GEOM_BOX, halfExtents=half, rgbaColor=[1, 1, 1, 1],
                                  physicsClientId=c)
        self.plane = p.createMultiBody(0, col, vis, basePosition=[0, 0, -PLANE_THICKNESS / 2],
                                       physicsClientId=c)
        p.changeDynamics(self.plane, -1, lateralFriction=PLANE_FRICTION, physicsClientId=c)
        self.object: Optional[int] = None

    def __enter__(self) -> 'Scene':
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Disconnect the client (frees its textures) and remove the texture files."""
        if self.client is not None and self.client >= 0:
            self.p.disconnect(physicsClientId=self.client)
            self.client = None
        self._tmp.cleanup()

    def step(self, count: int = 1) -> None:
        for _ in range(count):
            self.p.stepSimulation(physicsClientId=self.client)

    # Objects ----------------------------------------------------------------------------------

    def native_extent(self, path: str) -> np.ndarray:
        """Axis-aligned size (m) of a model at scale 1 in its own frame."""
        body = self._load(path, 1.0, (0, 0, 5), (0, 0, 0, 1))
        lo, hi = self.p.getAABB(body, physicsClientId=self.client)
        self.p.removeBody(body, physicsClientId=self.client)
        return np.subtract(hi, lo)

    def _load(self, path: str, scale: float, position, orientation) -> int:
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

    def drop_object(self, path: str, scale: float, orientation, xy=(0.0, 0.0)) -> int:
        """Load the model (``orientation``: quaternion xyzw) just above the plane; no settle."""
        body = self._load(path, scale, (xy[0], xy[1], 2.0), orientation)
        self._place_above_plane(body, xy)
        self.object = body
        return body

    def add_box(self, half_extents, mass: float = 0.1, yaw: float = 0.0,
                xy=(0.0, 0.0)) -> int:
        """A box resting on the plane (used by tests: a known object whose grasps are obvious)."""
        p, c = self.p, self.client
        col = p.createCollisionShape(p.GEOM_BOX, halfExtents=list(half_extents),
                                     physicsClientId=c)
        vis = p.createVisualShape(p.GEOM_BOX, halfExtents=list(half_extents),
                                  rgbaColor=[0.8, 0.3, 0.2, 1], physicsClientId=c)
        body = p.createMultiBody(mass, col, vis, basePosition=[xy[0], xy[1], half_extents[2]],
                                 baseOrientation=p.getQuaternionFromEuler([0, 0, yaw]),
                                 physicsClientId=c)
        self._set_object_dynamics(body)
        self.object = body
        return body

    def _place_above_plane(self, body: int, xy) -> None:
        p, c = self.p, self.client
        pos, orn = p.getBasePositionAndOrientation(body, physicsClientId=c)
        lo, _ = p.getAABB(body, physicsClientId=c)
        # Lift so the lowest point is 5 mm above the plane: a short, gentle drop.
        p.resetBasePositionAndOrientation(body, [xy[0], xy[1], pos[2] - lo[2] + 0.005], orn,
                                          physicsClientId=c)
        self._set_object_dynamics(body)

    def _set_object_dynamics(self, body: int) -> None:
        self.p.changeDynamics(body, -1, lateralFriction=OBJECT_FRICTION,
                              physicsClientId=self.client)

    def settle(self, body: Optional[int] = None) -> bool:
        """Step until the object rests (True) or SETTLE_MAX_TIME passes (False)."""
        p, c = self.p, self.client
        body = self.object if body is None else body
        still = 0
        for _ in range(int(SETTLE_MAX_TIME / TIME_STEP)):
            p.stepSimulation(physicsClientId=c)
            lin, ang = p.getBaseVelocity(body, physicsClientId=c)
            if np.linalg.norm(lin) < SETTLE_LINEAR and np.linalg.norm(ang) < SETTLE_ANGULAR:
                still += 1
                if still >= SETTLE_STEPS:
                    return True
            else:
                still = 0
        return False

    def object_aabb(self, body: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
        lo, hi = self.p.getAABB(self.object if body is None else body,
                                physicsClientId=self.client)
        return np.asarray(lo), np.asarray(hi)

    # Appearance and rendering -----------------------------------------------------------------

    def _texture(self, image: np.ndarray) -> int:
        path = Path(self._tmp.name) / f'tex{self._textures}.png'
        self._textures += 1
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        return self.p.loadTexture(os.fspath(path), physicsClientId=self.client)

    def apply_appearance(self, look: Appearance) -> None:
        """Colour and texture the plane and the object (textures multiply a white base)."""
        p, c = self.p, self.client
        for body, rgb, texture in ((self.plane, look.plane_rgb, look.plane_texture),
                                   (self.object, look.object_rgb, look.object_texture)):
            if body is None:
                continue
            if texture is not None:
                p.changeVisualShape(body, -1, rgbaColor=[1, 1, 1, 1],
                                    textureUniqueId=self._texture(texture), physicsClientId=c)
            else:
                p.changeVisualShape(body, -1, rgbaColor=[*rgb, 1], physicsClientId=c)

    def render(self, camera: Camera, look: Optional[Appearance] = None
               ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """RGB (uint8, HxWx3), perfect depth (float32 metres) and mask (uint8 0/255) of the object.

        TinyRenderer (CPU, deterministic) renders all three in one pass.
        """
        p = self.p
        kwargs = {}
        if look is not None:
            light = look.light
            kwargs = dict(lightDirection=list(light.direction), lightColor=list(light.color),
                          lightAmbientCoeff=light.ambient, lightDiffuseCoeff=light.diffuse,
                          lightSpecularCoeff=light.specular, shadow=int(light.shadow))
        _, _, rgba, zbuf, seg = p.getCameraImage(
            camera.size, camera.size, camera.view_matrix(), camera.projection_matrix(),
            renderer=p.ER_TINY_RENDERER, physicsClientId=self.client, **kwargs)
        size = camera.size
        rgba = np.asarray(rgba, dtype=np.uint8).reshape(size, size, 4)
        rgb = np.ascontiguousarray(rgba[..., :3])
        depth = camera.depth_from_buffer(np.asarray(zbuf).reshape(size, size))
        seg = np.asarray(seg).reshape(size, size)
        mask = np.where(seg == self.object, 255, 0).astype(np.uint8)
        return rgb, depth, mask


def random_quaternion(rng: np.random.Generator) -> Tuple[float, float, float, float]:
    """A uniformly random rotation (xyzw), Shoemake's method."""
    u1, u2, u3 = rng.random(3)
    a, b = math.sqrt(1 - u1), math.sqrt(u1)
    return (a * math.sin(2 * math.pi * u2), a * math.cos(2 * math.pi * u2),
            b * math.sin(2 * math.pi * u3), b * math.cos(2 * math.pi * u3))
