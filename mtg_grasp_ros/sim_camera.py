"""A simulated RGB camera for the grasp node: a pybullet table scene published as a ROS 2 camera.

``sim_camera_node`` (``python -m mtg_grasp_ros.sim_camera``) renders held-out objects of
pybullet_data's ``random_urdfs`` resting on a table and publishes, like a camera driver,

* ``camera/color/image_raw`` (sensor_msgs/Image, ``rgb8``, 640x480 by default) and
* ``camera/color/camera_info`` (sensor_msgs/CameraInfo, the exact pinhole intrinsics of the
  renderer, no distortion) at ``rate`` Hz, stamped with the node clock, ``frame_id`` the
  camera's **optical** frame (REP 103: x right, y down, z forward);
* the ground truth, reliable and transient-local (latched): ``~/objects`` (PoseArray in
  ``world_frame``: per object the centre of its footprint on the table at half its height,
  rotated about z by the yaw of the footprint's major axis) and ``~/footprints`` (MarkerArray:
  per object the convex hull of its footprint as a closed LINE_STRIP on the table, ``text`` =
  the object id; it shows in RViz). Both are stamped with the first image of the scene, so a
  grasp stamped at or after it belongs to that scene (republished every second);
* ``/tf_static`` ``world_frame`` -> ``frame_id`` when ``tf2_msgs`` imports (a ROS 2 install),
  so a grasp node using TF finds the camera pose.

The scene is rendered only when it changes (start-up, and every ``respawn_period`` s when the
objects are dropped again, in a background thread); every frame republishes the cached image,
one of ``noise_frames`` pre-computed copies with Gaussian noise of ``noise_std`` grey levels.
Rendering 640x480 takes ~10-30 ms, which two loaded cores cannot do 30 times a second next to
the grasp node.

Geometry (:class:`SimCamera`): the pose of the optical frame in the world is ``camera_xyz`` and
``camera_rpy`` (tf2 ``setRPY``), the same convention as the grasp node's ``camera_pose.*``
parameters, so the same numbers configure both. ``fx = fy = (height / 2) / tan(fov / 2)`` for
the *vertical* field of view ``fov_deg``; the principal point is ``(width / 2, height / 2 - 1)``
in pixel-centre coordinates. That asymmetric centre is pybullet's TinyRenderer's (measured: a
small sphere on the optical axis is centred on column 320, row 239 of a 640x480 image), not the
textbook ``(319.5, 239.5)``; test/test_sim_camera.py checks it against the rendered masks.

Objects: only the held-out ones, catalogue index ``i % 10 == 0`` (``r000, r010, ..., r990``),
the rule of the data generator (training/synth/objects.py, copied here: the runtime package
never imports ``training``), so a network trained on generated data is shown objects it never
saw. Each is rescaled so its largest side is drawn from ``object_size``, dropped with a random
orientation near the point the optical axis meets the table, and simulated until it rests.

:class:`SimulatedScene` is the ROS-free part (tests use it in-process): the pybullet world, the
renders and the ground truth (:class:`SimObject`: pose, world vertices, footprint, height).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math
import os
from pathlib import Path
import sys
import threading
import time
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from mtg_grasp_ros.camera_model import CameraModel
from mtg_grasp_ros.transforms import RigidTransform, wrap_half_turn

NODE_NAME = 'sim_camera'
#: pybullet_data/random_urdfs holds objects 000..999.
RANDOM_URDF_COUNT = 1000
#: The held-out rule of training/synth/objects.py (``HELDOUT_EVERY``), copied: the runtime
#: package must not import training. Objects whose index is a multiple of this are never in
#: generated training data.
HELDOUT_EVERY = 10
HELDOUT_INDICES: Tuple[int, ...] = tuple(range(0, RANDOM_URDF_COUNT, HELDOUT_EVERY))

#: Physics as training/synth/scene.py: step, solver iterations, friction, settle thresholds.
TIME_STEP = 1.0 / 240.0
SOLVER_ITERATIONS = 50
TABLE_HALF_SIZE = 1.5
TABLE_THICKNESS = 0.02
TABLE_FRICTION = 0.8
OBJECT_FRICTION = 1.0
SETTLE_LINEAR = 2e-3
SETTLE_ANGULAR = 2e-2
SETTLE_STEPS = 24
SETTLE_MAX_TIME = 4.0

#: Defaults of the camera: 640x480, 25 degrees vertical field of view, 0.55 m above the table
#: looking straight down (image right = world +x, image up = world +y). The grasp node's centre
#: crop (480 px) then covers 0.24 m of table, so a 10 cm object fills ~40% of the network's
#: input, as the generated training views (30-50%) do.
DEFAULT_SIZE = (640, 480)
DEFAULT_FOV_DEG = 25.0
DEFAULT_XYZ = (0.0, 0.0, 0.55)
DEFAULT_RPY = (math.pi, 0.0, 0.0)
#: Largest side of the dropped objects (m), inside the generator's 5-13 cm.
DEFAULT_OBJECT_SIZE = (0.08, 0.12)
TABLE_RGB = (0.86, 0.86, 0.83)
#: Object colours: saturated, all far from the light table.
OBJECT_COLOURS = ((0.80, 0.25, 0.20), (0.20, 0.45, 0.80), (0.25, 0.65, 0.30),
                  (0.85, 0.60, 0.15), (0.55, 0.30, 0.70), (0.15, 0.60, 0.65))
RELIABILITIES = ('best_effort', 'reliable')


def heldout_path(index: int) -> str:
    """The URDF of held-out random_urdfs object ``index``; ValueError for a training object."""
    heldout_path_check(index)
    import pybullet_data
    return str(Path(pybullet_data.getDataPath()) / 'random_urdfs' / f'{index:03d}'
               / f'{index:03d}.urdf')


def parse_object_ids(text: str) -> List[int]:
    """``'r010, 250'`` -> ``[10, 250]``: ids as the generator names them (rNNN) or indices."""
    ids = []
    for item in text.replace(';', ',').split(','):
        item = item.strip().lower()
        if not item:
            continue
        number = item[1:] if item.startswith('r') else item
        if not number.isdigit():
            raise ValueError(f'bad object id {item!r}: use rNNN or NNN')
        index = int(number)
        heldout_path_check(index)
        ids.append(index)
    return ids


def heldout_path_check(index: int) -> None:
    """ValueError unless ``index`` is a held-out random_urdfs object."""
    if not 0 <= index < RANDOM_URDF_COUNT or index % HELDOUT_EVERY:
        raise ValueError(f'object {index} is not a held-out object (held out: index % '
                         f'{HELDOUT_EVERY} == 0, 0..{RANDOM_URDF_COUNT - 1})')


# ------------------------------------------------------------------------------ camera
@dataclass(frozen=True)
class SimCamera:
    """The rendered pinhole camera: intrinsics, pose in the world and pybullet's matrices."""

    width: int = DEFAULT_SIZE[0]
    height: int = DEFAULT_SIZE[1]
    fov_deg: float = DEFAULT_FOV_DEG       # vertical, full angle
    xyz: Tuple[float, float, float] = DEFAULT_XYZ
    rpy: Tuple[float, float, float] = DEFAULT_RPY
    near: float = 0.05
    far: float = 3.0

    def __post_init__(self) -> None:
        if self.width < 16 or self.height < 16:
            raise ValueError(f'image size {self.width}x{self.height} is too small')
        if not 1.0 <= self.fov_deg <= 150.0:
            raise ValueError(f'fov_deg must be in [1, 150], got {self.fov_deg}')
        if not 0 < self.near < self.far:
            raise ValueError('need 0 < near < far')
        object.__setattr__(self, 'xyz', tuple(float(v) for v in self.xyz))
        object.__setattr__(self, 'rpy', tuple(float(v) for v in self.rpy))

    @property
    def focal(self) -> float:
        return (self.height / 2.0) / math.tan(math.radians(self.fov_deg) / 2.0)

    @property
    def cx(self) -> float:
        return self.width / 2.0

    @property
    def cy(self) -> float:
        return self.height / 2.0 - 1.0

    @property
    def k(self) -> List[float]:
        """CameraInfo K (row-major 3x3)."""
        f = self.focal
        return [f, 0.0, self.cx, 0.0, f, self.cy, 0.0, 0.0, 1.0]

    @property
    def p(self) -> List[float]:
        """CameraInfo P (row-major 3x4; no stereo baseline)."""
        f = self.focal
        return [f, 0.0, self.cx, 0.0, 0.0, f, self.cy, 0.0, 0.0, 0.0, 1.0, 0.0]

    @property
    def model(self) -> CameraModel:
        return CameraModel(fx=self.focal, fy=self.focal, cx=self.cx, cy=self.cy,
                           width=self.width, height=self.height)

    @property
    def pose(self) -> RigidTransform:
        """The optical frame in the world: ``p_world = pose.apply(p_optical)``."""
        return RigidTransform.from_xyz_rpy(self.xyz, self.rpy)

    @property
    def quaternion(self) -> Tuple[float, float, float, float]:
        return tuple(float(v) for v in self.pose.quaternion)

    def table_point(self, table_z: float = 0.0) -> np.ndarray:
        """Where the optical axis meets the table (world); ValueError when it misses."""
        pose = self.pose
        axis = pose.rotation[:, 2]
        if axis[2] > -1e-3:
            raise ValueError('the camera does not look down at the table')
        t = (table_z - pose.translation[2]) / axis[2]
        return pose.translation + t * axis

    def project(self, points_world) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World points (..., 3) -> ``(u, v, z)``: pixel column, row and optical depth."""
        cam = self.pose.inverse().apply(points_world)
        z = cam[..., 2]
        return (self.cx + self.focal * cam[..., 0] / z, self.cy + self.focal * cam[..., 1] / z,
                z)

    def deproject(self, u, v, depth) -> np.ndarray:
        """World point(s) at pixel ``(u, v)`` with optical depth ``depth``."""
        return self.pose.apply(self.model.deproject(u, v, depth))

    def view_matrix(self) -> List[float]:
        """OpenGL view matrix (column-major) as ``pybullet.computeViewMatrix`` returns."""
        pose = self.pose
        gl_axes = pose.rotation * np.array([1.0, -1.0, -1.0])  # OpenGL: y up, looks along -z
        view = np.eye(4)
        view[:3, :3] = gl_axes.T
        view[:3, 3] = -gl_axes.T @ pose.translation
        return [float(v) for v in view.T.reshape(-1)]

    def projection_matrix(self) -> List[float]:
        """OpenGL projection (column-major) as ``computeProjectionMatrixFOV(fov, w / h, ...)``."""
        t = 1.0 / math.tan(math.radians(self.fov_deg) / 2.0)
        aspect = self.width / self.height
        n, f = self.near, self.far
        proj = np.array([[t / aspect, 0, 0, 0], [0, t, 0, 0],
                         [0, 0, (f + n) / (n - f), 2 * f * n / (n - f)], [0, 0, -1, 0]])
        return [float(v) for v in proj.T.reshape(-1)]

    def depth_from_buffer(self, buffer: np.ndarray) -> np.ndarray:
        """Optical depth (float32 m) from the OpenGL [0, 1] depth buffer."""
        buffer = np.asarray(buffer, dtype=np.float64)
        n, f = self.near, self.far
        return (f * n / (f - (f - n) * buffer)).astype(np.float32)


# ------------------------------------------------------------------------------ scene
@dataclass
class SimObject:
    """Ground truth of one object resting on the table (world frame, z up, table at z = 0)."""

    index: int
    body: int
    scale: float
    colour: Tuple[float, float, float]
    position: np.ndarray = field(default_factory=lambda: np.zeros(3))
    quaternion: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 0.0, 1.0]))
    vertices: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # world, (N, 3)
    footprint: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # hull, (K, 2)

    @property
    def object_id(self) -> str:
        return f'r{self.index:03d}'

    @property
    def height(self) -> float:
        """Top of the object above the table (m)."""
        return float(self.vertices[:, 2].max()) if len(self.vertices) else 0.0

    @property
    def centre(self) -> np.ndarray:
        """Centroid of the footprint polygon (x, y) in the world."""
        return polygon_centroid(self.footprint)

    def axes(self) -> Tuple[float, float, float]:
        """``(major_yaw, length, breadth)`` of the footprint's minimum-area rectangle.

        ``major_yaw`` (rad, in [-pi/2, pi/2)) is the direction of its long side in the world;
        the minor axis, across which a parallel gripper closes, is perpendicular to it.
        """
        import cv2
        rect = cv2.minAreaRect(self.footprint.astype(np.float32))
        box = cv2.boxPoints(rect).astype(np.float64)
        e1, e2 = box[1] - box[0], box[2] - box[1]
        major = e1 if np.linalg.norm(e1) >= np.linalg.norm(e2) else e2
        w, h = rect[1]
        return (wrap_half_turn(math.atan2(float(major[1]), float(major[0]))), float(max(w, h)),
                float(min(w, h)))

    @property
    def aspect(self) -> float:
        _, length, breadth = self.axes()
        return length / max(breadth, 1e-9)

    def distance_to_footprint(self, xy) -> float:
        """Distance (m) of a world point (x, y) to the footprint; 0 inside it."""
        return polygon_distance(self.footprint, xy)


def polygon_centroid(polygon: np.ndarray) -> np.ndarray:
    """Area centroid of a simple polygon (K, 2); the vertex mean when degenerate."""
    pts = np.asarray(polygon, dtype=np.float64)
    x, y = pts[:, 0], pts[:, 1]
    x1, y1 = np.roll(x, -1), np.roll(y, -1)
    cross = x * y1 - x1 * y
    area = cross.sum() / 2.0
    if abs(area) < 1e-12:
        return pts.mean(axis=0)
    return np.array([((x + x1) * cross).sum(), ((y + y1) * cross).sum()]) / (6.0 * area)


def polygon_distance(polygon: np.ndarray, xy) -> float:
    """Distance of a point to a polygon (K, 2): 0 inside, else to the nearest edge."""
    import cv2
    contour = np.asarray(polygon, dtype=np.float32).reshape(-1, 1, 2)
    signed = cv2.pointPolygonTest(contour, (float(xy[0]), float(xy[1])), True)
    return max(0.0, -float(signed))


def random_quaternion(rng: np.random.Generator) -> Tuple[float, float, float, float]:
    """A uniformly random rotation (x, y, z, w), Shoemake's method."""
    u1, u2, u3 = rng.random(3)
    a, b = math.sqrt(1 - u1), math.sqrt(u1)
    return (a * math.sin(2 * math.pi * u2), a * math.cos(2 * math.pi * u2),
            b * math.sin(2 * math.pi * u3), b * math.cos(2 * math.pi * u3))


def _obj_vertices(path: str) -> np.ndarray:
    """The ``v x y z`` vertices of a Wavefront OBJ file (all objects of the file)."""
    values = []
    with open(path, 'r', encoding='utf-8', errors='replace') as f:
        for line in f:
            if line.startswith('v '):
                values.append([float(v) for v in line.split()[1:4]])
    return np.asarray(values, dtype=np.float64).reshape(-1, 3)


@dataclass
class Render:
    """One render: RGB (uint8 HxWx3), optical depth (float32 m), body id per pixel (-1 none)."""

    rgb: np.ndarray
    depth: np.ndarray
    segmentation: np.ndarray

    def mask(self, obj: SimObject) -> np.ndarray:
        return self.segmentation == obj.body


class SimulatedScene:
    """A pybullet DIRECT world: the table (top face at z = 0), resting objects and the camera.

    ``objects``: how many held-out objects to drop; ``object_ids``: which (catalogue indices,
    held-out only; cycled when fewer than ``objects``), else a seeded random draw per
    :meth:`reset`. ``spread``: objects land within this radius (m) of the point the optical
    axis meets the table. Not thread-safe: use one scene from one thread at a time.
    """

    def __init__(self, camera: Optional[SimCamera] = None, objects: int = 1,
                 object_ids: Sequence[int] = (), object_size=DEFAULT_OBJECT_SIZE,
                 seed: int = 0, spread: float = 0.03, shadows: bool = True) -> None:
        import pybullet
        self.p = pybullet
        self.camera = camera or SimCamera()
        if objects < 1:
            raise ValueError('objects must be >= 1')
        for index in object_ids:
            heldout_path_check(int(index))
        if not 0.005 <= object_size[0] <= object_size[1] <= 1.0:
            raise ValueError(f'object_size must be 0.005 <= min <= max <= 1 m, got {object_size}')
        self.n_objects = int(objects)
        self.object_ids = [int(i) for i in object_ids]
        self.object_size = (float(object_size[0]), float(object_size[1]))
        self.spread = float(spread)
        self.shadows = bool(shadows)
        self.rng = np.random.default_rng(seed)
        self.drops = 0
        self.objects: List[SimObject] = []
        self.last_render: Optional[Render] = None
        self.client = self.p.connect(self.p.DIRECT)
        if self.client < 0:
            raise RuntimeError('pybullet could not start a DIRECT client')
        p, c = self.p, self.client
        p.setGravity(0, 0, -9.81, physicsClientId=c)
        p.setPhysicsEngineParameter(fixedTimeStep=TIME_STEP,
                                    numSolverIterations=SOLVER_ITERATIONS, numSubSteps=0,
                                    physicsClientId=c)
        half = [TABLE_HALF_SIZE, TABLE_HALF_SIZE, TABLE_THICKNESS / 2]
        col = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=c)
        vis = p.createVisualShape(p.GEOM_BOX, halfExtents=half, rgbaColor=[*TABLE_RGB, 1],
                                  physicsClientId=c)
        self.table = p.createMultiBody(0, col, vis, basePosition=[0, 0, -TABLE_THICKNESS / 2],
                                       physicsClientId=c)
        p.changeDynamics(self.table, -1, lateralFriction=TABLE_FRICTION, physicsClientId=c)

    # ---------------------------------------------------------------- life cycle
    def __enter__(self) -> 'SimulatedScene':
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.client is not None and self.client >= 0:
            self.p.disconnect(physicsClientId=self.client)
        self.client = None

    # ---------------------------------------------------------------- objects
    def _choose(self) -> List[int]:
        if self.object_ids:
            return [self.object_ids[i % len(self.object_ids)] for i in range(self.n_objects)]
        return [int(i) for i in self.rng.choice(HELDOUT_INDICES, self.n_objects, replace=False)]

    def clear(self) -> None:
        for obj in self.objects:
            self.p.removeBody(obj.body, physicsClientId=self.client)
        self.objects = []
        self.last_render = None

    def reset(self, attempts: int = 8) -> List[SimObject]:
        """Drop new objects (:meth:`drop`), retrying until every one rests inside the view."""
        for _ in range(attempts):
            self.drop(self._choose())
            if self.settle() and self.all_in_view():
                return self.objects
        return self.objects  # a last, imperfect scene is still a scene

    def drop(self, indices: Sequence[int], positions=None, orientations=None,
             sizes=None) -> List[SimObject]:
        """Replace the objects by ``indices`` just above the table (no settling).

        ``positions`` (x, y), ``orientations`` (quaternions) and ``sizes`` (largest side, m)
        default to random draws: uniformly random rotations, sizes from ``object_size`` and,
        for one object, a point within ``spread`` of where the optical axis meets the table;
        for several, points in the camera's centred square view where the objects' bounding
        boxes do not overlap (so they never start inside each other).
        """
        p, c = self.p, self.client
        self.clear()
        self.drops += 1
        boxes: List[Tuple[np.ndarray, np.ndarray]] = []
        for i, index in enumerate(indices):
            path = heldout_path(int(index))
            quat = (orientations[i] if orientations is not None
                    else random_quaternion(self.rng))
            size = sizes[i] if sizes is not None else self.rng.uniform(*self.object_size)
            probe = p.loadURDF(path, [0, 0, 5], physicsClientId=c)
            lo, hi = p.getAABB(probe, physicsClientId=c)
            p.removeBody(probe, physicsClientId=c)
            scale = float(size) / max(float(np.max(np.subtract(hi, lo))), 1e-4)
            body = p.loadURDF(path, [0.0, 0.0, 1.0], quat,
                              globalScaling=scale, physicsClientId=c)
            colour = OBJECT_COLOURS[(self.drops + i) % len(OBJECT_COLOURS)]
            p.changeVisualShape(body, -1, rgbaColor=[*colour, 1], physicsClientId=c)
            p.changeDynamics(body, -1, lateralFriction=OBJECT_FRICTION, physicsClientId=c)
            pos, orn = p.getBasePositionAndOrientation(body, physicsClientId=c)
            lo, hi = p.getAABB(body, physicsClientId=c)
            half = (np.asarray(hi[:2]) - np.asarray(lo[:2])) / 2.0
            if positions is not None:
                target = np.asarray(positions[i][:2], dtype=np.float64)
            else:
                target = self._free_position(half, boxes, single=len(indices) == 1)
            boxes.append((target, half))
            # Centred (its bounding box) on the chosen point, the lowest point 5 mm above the
            # table: a short, gentle drop.
            shift = target - (np.asarray(lo[:2]) + np.asarray(hi[:2])) / 2.0
            p.resetBasePositionAndOrientation(
                body, [pos[0] + shift[0], pos[1] + shift[1], pos[2] - lo[2] + 0.005], orn,
                physicsClientId=c)
            self.objects.append(SimObject(index=int(index), body=body, scale=scale,
                                          colour=colour))
        self.update_truth()
        return self.objects

    def move(self, obj: SimObject, dxy=(0.0, 0.0), dyaw: float = 0.0) -> None:
        """Shift a resting object along the table and turn it about the vertical through its
        footprint centre (it stays resting: contact with the table is unchanged)."""
        p, c = self.p, self.client
        turn = RigidTransform.from_xyz_rpy((0.0, 0.0, 0.0), (0.0, 0.0, float(dyaw)))
        pivot = np.array([*obj.centre, 0.0])
        shift = np.array([float(dxy[0]), float(dxy[1]), 0.0])
        pose = RigidTransform.from_xyz_quaternion(obj.position, obj.quaternion)
        moved = RigidTransform(turn.rotation, pivot - turn.rotation @ pivot + shift) @ pose
        p.resetBasePositionAndOrientation(obj.body, moved.translation.tolist(),
                                          moved.quaternion.tolist(), physicsClientId=c)
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
        distance = float(np.linalg.norm(point - np.asarray(cam.xyz)))
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
        """Step until every object rests (True) or SETTLE_MAX_TIME passes (False)."""
        p, c = self.p, self.client
        still = 0
        rested = False
        for _ in range(int(SETTLE_MAX_TIME / TIME_STEP)):
            p.stepSimulation(physicsClientId=c)
            moving = False
            for obj in self.objects:
                lin, ang = p.getBaseVelocity(obj.body, physicsClientId=c)
                if np.linalg.norm(lin) >= SETTLE_LINEAR or np.linalg.norm(ang) >= SETTLE_ANGULAR:
                    moving = True
                    break
            still = 0 if moving else still + 1
            if still >= SETTLE_STEPS:
                rested = True
                break
        self.update_truth()
        return rested

    def update_truth(self) -> None:
        """Refresh every object's pose, world vertices and footprint from the simulator."""
        import cv2
        p, c = self.p, self.client
        for obj in self.objects:
            pos, orn = p.getBasePositionAndOrientation(obj.body, physicsClientId=c)
            base = RigidTransform.from_xyz_quaternion(pos, orn)
            points = []
            # Mesh vertices x mesh scale (includes globalScaling), in the visual frame. The
            # random_urdfs have zero inertial and visual origins, so base = link frame.
            for shape in p.getVisualShapeData(obj.body, physicsClientId=c):
                mesh = shape[4].decode() if isinstance(shape[4], bytes) else shape[4]
                if not mesh or not os.path.isfile(mesh):
                    continue
                local = RigidTransform.from_xyz_quaternion(shape[5], shape[6])
                points.append((base @ local).apply(_obj_vertices(mesh) * np.asarray(shape[3])))
            obj.position = np.asarray(pos, dtype=np.float64)
            obj.quaternion = np.asarray(orn, dtype=np.float64)
            obj.vertices = np.concatenate(points) if points else np.zeros((0, 3))
            if len(obj.vertices) >= 3:
                hull = cv2.convexHull(obj.vertices[:, :2].astype(np.float32))
                obj.footprint = hull.reshape(-1, 2).astype(np.float64)

    def all_in_view(self, margin: int = 4) -> bool:
        """Every object's vertices project inside the image, in front of the camera.

        Only the centred square (what the grasp node's default crop sees) counts.
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

    # ---------------------------------------------------------------- rendering
    def render(self) -> Render:
        """RGB, depth and segmentation of the current scene (TinyRenderer, deterministic)."""
        p, cam = self.p, self.camera
        _, _, rgba, zbuf, seg = p.getCameraImage(
            cam.width, cam.height, cam.view_matrix(), cam.projection_matrix(),
            renderer=p.ER_TINY_RENDERER, lightDirection=[0.4, 0.3, 1.0],
            shadow=int(self.shadows), physicsClientId=self.client)
        rgba = np.asarray(rgba, dtype=np.uint8).reshape(cam.height, cam.width, 4)
        self.last_render = Render(
            rgb=np.ascontiguousarray(rgba[..., :3]),
            depth=cam.depth_from_buffer(np.asarray(zbuf).reshape(cam.height, cam.width)),
            segmentation=np.asarray(seg, dtype=np.int64).reshape(cam.height, cam.width))
        return self.last_render


def noisy_copies(rgb: np.ndarray, std: float, count: int, rng: np.random.Generator
                 ) -> List[np.ndarray]:
    """``count`` copies of an image with Gaussian noise of ``std`` grey levels (or the image)."""
    if std <= 0 or count < 1:
        return [rgb]
    base = rgb.astype(np.float32)
    return [np.clip(base + rng.normal(0.0, std, rgb.shape), 0, 255).astype(np.uint8)
            for _ in range(count)]


# ------------------------------------------------------------------------------ messages
def image_message(rgb: np.ndarray, stamp=None, frame_id: str = ''):
    """A ``sensor_msgs/Image`` (rgb8) of an (H, W, 3) uint8 array."""
    from sensor_msgs.msg import Image
    msg = Image()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(rgb.shape[0]), int(rgb.shape[1])
    msg.encoding, msg.is_bigendian, msg.step = 'rgb8', 0, int(rgb.shape[1]) * 3
    msg.data = np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()
    return msg


def camera_info_message(camera: SimCamera, stamp=None, frame_id: str = ''):
    """The ``sensor_msgs/CameraInfo`` of a :class:`SimCamera` (rectified, no distortion)."""
    from sensor_msgs.msg import CameraInfo
    msg = CameraInfo()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.width, msg.height = camera.width, camera.height
    msg.distortion_model = 'plumb_bob'
    msg.d = [0.0] * 5
    msg.k = camera.k
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = camera.p
    return msg


def objects_message(objects: Sequence[SimObject], stamp, frame_id: str):
    """``~/objects``: per object its footprint centre at half height, yawed to its major axis."""
    from geometry_msgs.msg import Pose, PoseArray
    from mtg_grasp_ros.transforms import quaternion_from_rpy
    msg = PoseArray()
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    for obj in objects:
        pose = Pose()
        cx, cy = (float(v) for v in obj.centre)
        pose.position.x, pose.position.y, pose.position.z = cx, cy, obj.height / 2.0
        q = quaternion_from_rpy(0.0, 0.0, obj.axes()[0])
        pose.orientation.x, pose.orientation.y = float(q[0]), float(q[1])
        pose.orientation.z, pose.orientation.w = float(q[2]), float(q[3])
        msg.poses.append(pose)
    return msg


def footprints_message(objects: Sequence[SimObject], stamp, frame_id: str):
    """``~/footprints``: a closed LINE_STRIP per object footprint (z = 1 mm), text = its id."""
    from geometry_msgs.msg import Point
    from std_msgs.msg import ColorRGBA
    from visualization_msgs.msg import Marker, MarkerArray
    msg = MarkerArray()
    clear = Marker()
    clear.header.stamp, clear.header.frame_id = stamp, frame_id
    clear.action = Marker.DELETEALL
    msg.markers.append(clear)
    for i, obj in enumerate(objects):
        m = Marker()
        m.header.stamp, m.header.frame_id = stamp, frame_id
        m.ns, m.id, m.type, m.action = 'footprint', i, Marker.LINE_STRIP, Marker.ADD
        m.pose.orientation.w = 1.0
        m.scale.x = 0.002
        m.color = ColorRGBA(r=0.1, g=0.8, b=0.1, a=1.0)
        m.text = obj.object_id
        pts = list(obj.footprint) + [obj.footprint[0]]
        m.points = [Point(x=float(x), y=float(y), z=0.001) for x, y in pts]
        msg.markers.append(m)
    return msg


def footprints_from_message(msg) -> List[Tuple[str, np.ndarray]]:
    """``(object id, footprint (K, 2))`` per object of a ``~/footprints`` MarkerArray."""
    out = []
    for m in msg.markers:
        if m.ns == 'footprint' and m.points:
            pts = np.array([[p.x, p.y] for p in m.points], dtype=np.float64)
            if len(pts) > 1 and np.array_equal(pts[0], pts[-1]):
                pts = pts[:-1]  # the strip is closed by repeating the first point
            out.append((m.text, pts))
    return out


def static_transform_message(camera: SimCamera, stamp, world_frame: str, frame_id: str):
    """``geometry_msgs/TransformStamped`` world_frame <- camera optical frame."""
    from geometry_msgs.msg import TransformStamped
    t = TransformStamped()
    t.header.stamp, t.header.frame_id, t.child_frame_id = stamp, world_frame, frame_id
    x, y, z = camera.xyz
    t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = x, y, z
    q = camera.quaternion
    t.transform.rotation.x, t.transform.rotation.y = q[0], q[1]
    t.transform.rotation.z, t.transform.rotation.w = q[2], q[3]
    return t


# ------------------------------------------------------------------------------ the node
@dataclass
class _Scene:
    """What the publisher thread serves: image copies and the truth they show."""

    images: List[Any]               # sensor_msgs/Image, data filled, stamp set per frame
    objects: List[SimObject]
    number: int
    published: bool = False
    truth: Optional[Tuple[Any, Any]] = None   # (PoseArray, MarkerArray) once published


PARAMETERS: Tuple[Tuple[str, Any, str], ...] = (
    ('rate', 30.0, 'frames per second'),
    ('width', DEFAULT_SIZE[0], 'image width, px'),
    ('height', DEFAULT_SIZE[1], 'image height, px'),
    ('fov_deg', DEFAULT_FOV_DEG, 'vertical field of view, degrees'),
    ('camera_xyz', list(DEFAULT_XYZ), 'optical frame position in world_frame, m'),
    ('camera_rpy', list(DEFAULT_RPY), 'optical frame roll, pitch, yaw in world_frame (tf2 '
     'setRPY), rad; the default looks straight down'),
    ('world_frame', 'world', 'frame of the table, the camera pose and the ground truth'),
    ('frame_id', 'sim_camera_optical_frame', 'header frame_id of the images (optical frame)'),
    ('objects', 1, 'number of objects on the table'),
    ('object_ids', '', 'held-out objects to use, e.g. "r010,r250" (empty: random held-out)'),
    ('object_size', list(DEFAULT_OBJECT_SIZE), 'range of the largest object side, m'),
    ('seed', 0, 'random seed of the object draws and poses'),
    ('respawn_period', 0.0, 'drop the objects again every this many seconds (0 = never)'),
    ('noise_std', 2.0, 'Gaussian image noise, grey levels (0 = none)'),
    ('noise_frames', 4, 'pre-computed noisy copies cycled through (no per-frame cost)'),
    ('shadows', True, 'render shadows'),
    ('reliability', 'best_effort', 'publisher reliability: best_effort (as camera drivers) or '
     'reliable'),
    ('publish_tf', True, 'publish world_frame -> frame_id on /tf_static (needs tf2_msgs)'),
)


def _node_class():
    """The rclpy node class (built lazily: the scene API above needs no ROS)."""
    from geometry_msgs.msg import PoseArray
    from rclpy.node import Node
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image
    from visualization_msgs.msg import MarkerArray

    class SimCameraNode(Node):
        """See the module docstring; ``**kwargs`` go to :class:`rclpy.node.Node`."""

        def __init__(self, node_name: str = NODE_NAME, **kwargs) -> None:
            super().__init__(node_name, **kwargs)
            for name, default, description in PARAMETERS:
                from rcl_interfaces.msg import ParameterDescriptor
                descriptor = ParameterDescriptor(description=description, read_only=True)
                descriptor.dynamic_typing = isinstance(default, (float, list))
                self.declare_parameter(name, default, descriptor)
            p = {name: self.get_parameter(name).value for name, _, _ in PARAMETERS}
            self.p = p
            if p['reliability'] not in RELIABILITIES:
                raise ValueError(f'reliability must be one of {RELIABILITIES}')
            if not 0.1 <= float(p['rate']) <= 1000:
                raise ValueError('rate must be in [0.1, 1000] Hz')
            self.camera = SimCamera(width=int(p['width']), height=int(p['height']),
                                    fov_deg=float(p['fov_deg']),
                                    xyz=tuple(float(v) for v in p['camera_xyz']),
                                    rpy=tuple(float(v) for v in p['camera_rpy']))
            self.scene = SimulatedScene(
                self.camera, objects=int(p['objects']),
                object_ids=parse_object_ids(p['object_ids']),
                object_size=tuple(float(v) for v in p['object_size']), seed=int(p['seed']),
                shadows=bool(p['shadows']))
            self._rng = np.random.default_rng(int(p['seed']) + 1)
            self._lock = threading.Lock()
            self._stop = threading.Event()
            self._next: Optional[_Scene] = None
            self._current: Optional[_Scene] = None
            self.frames = 0
            self.scenes = 0
            reliability = (ReliabilityPolicy.RELIABLE if p['reliability'] == 'reliable'
                           else ReliabilityPolicy.BEST_EFFORT)
            qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=reliability,
                             durability=DurabilityPolicy.VOLATILE)
            latched = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                                 reliability=ReliabilityPolicy.RELIABLE,
                                 durability=DurabilityPolicy.TRANSIENT_LOCAL)
            self.image_pub = self.create_publisher(Image, 'camera/color/image_raw', qos)
            self.info_pub = self.create_publisher(CameraInfo, 'camera/color/camera_info', qos)
            self.objects_pub = self.create_publisher(PoseArray, '~/objects', latched)
            self.footprints_pub = self.create_publisher(MarkerArray, '~/footprints', latched)
            self._info = camera_info_message(self.camera, frame_id=p['frame_id'])
            self._publish_static_tf()
            self._next = self._make_scene()  # the first scene, before the first frame
            self._respawner = None
            if float(p['respawn_period']) > 0:
                self._respawner = threading.Thread(target=self._respawn_loop,
                                                   name='sim_respawn', daemon=True)
                self._respawner.start()
            self.timer = self.create_timer(1.0 / float(p['rate']), self._tick)
            self._period_start, self._period_frames = time.monotonic(), 0
            self._publish_s: List[float] = []
            self.create_timer(10.0, self._log_rate)
            self.create_timer(1.0, self._republish_truth)
            c = self.camera
            self.get_logger().info(
                f'ready: {c.width}x{c.height} rgb8 at {float(p["rate"]):g} Hz '
                f'({p["reliability"]}), fx = fy = {c.focal:.2f}, cx {c.cx}, cy {c.cy}; camera '
                f'{p["frame_id"]} at xyz {list(c.xyz)} rpy {[round(v, 4) for v in c.rpy]} in '
                f'{p["world_frame"]}; objects '
                + ', '.join(o.object_id for o in self._next.objects))

        def _publish_static_tf(self) -> None:
            if not self.p['publish_tf']:
                return
            try:
                from tf2_msgs.msg import TFMessage
            except ImportError:
                self.get_logger().info(
                    'tf2_msgs is not installed: no /tf_static; give the grasp node the camera '
                    'pose as parameters (camera_pose.xyz/rpy = camera_xyz/rpy, use_tf false)')
                return
            latched = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                                 reliability=ReliabilityPolicy.RELIABLE,
                                 durability=DurabilityPolicy.TRANSIENT_LOCAL)
            self.tf_pub = self.create_publisher(TFMessage, '/tf_static', latched)
            self.tf_pub.publish(TFMessage(transforms=[static_transform_message(
                self.camera, self.get_clock().now().to_msg(), self.p['world_frame'],
                self.p['frame_id'])]))

        def _make_scene(self) -> _Scene:
            """Drop, settle and render (seconds of CPU): only at start and per respawn."""
            self.scene.reset()
            render = self.scene.render()
            copies = noisy_copies(render.rgb, float(self.p['noise_std']),
                                  int(self.p['noise_frames']), self._rng)
            images = [image_message(rgb, frame_id=self.p['frame_id']) for rgb in copies]
            objects = [SimObject(index=o.index, body=o.body, scale=o.scale, colour=o.colour,
                                 position=o.position.copy(), quaternion=o.quaternion.copy(),
                                 vertices=o.vertices.copy(), footprint=o.footprint.copy())
                       for o in self.scene.objects]
            self.scenes += 1
            return _Scene(images=images, objects=objects, number=self.scenes)

        def _respawn_loop(self) -> None:
            period = float(self.p['respawn_period'])
            while not self._stop.wait(period):
                try:
                    scene = self._make_scene()
                except Exception as exc:  # keep publishing the old scene
                    self.get_logger().error(f'respawn failed: {type(exc).__name__}: {exc}')
                    continue
                with self._lock:
                    self._next = scene

        def _tick(self) -> None:
            stamp = self.get_clock().now().to_msg()
            with self._lock:
                if self._next is not None:
                    self._current, self._next = self._next, None
            scene = self._current
            if scene is None:
                return
            if not scene.published:  # the truth first, stamped like the first image
                scene.published = True
                scene.truth = (objects_message(scene.objects, stamp, self.p['world_frame']),
                               footprints_message(scene.objects, stamp, self.p['world_frame']))
                self._republish_truth()
                self.get_logger().info(
                    f'scene {scene.number}: ' + '; '.join(
                        f'{o.object_id} at ({o.centre[0]:+.3f}, {o.centre[1]:+.3f}) m, '
                        f'{o.height * 100:.1f} cm high' for o in scene.objects))
            image = scene.images[self.frames % len(scene.images)]
            image.header.stamp = stamp
            self._info.header.stamp = stamp
            t0 = time.perf_counter()
            self.image_pub.publish(image)
            self.info_pub.publish(self._info)
            self._publish_s.append(time.perf_counter() - t0)
            self.frames += 1
            self._period_frames += 1

        def _republish_truth(self) -> None:
            """The ground truth of the current scene (again, every second: a reader that lost
            it -- e.g. a starved process on a loaded machine -- has it without waiting for the
            reliable writer's heartbeat; same stamp, so readers can deduplicate)."""
            scene = self._current
            if scene is not None and scene.truth is not None:
                self.objects_pub.publish(scene.truth[0])
                self.footprints_pub.publish(scene.truth[1])

        def _log_rate(self) -> None:
            now = time.monotonic()
            rate = self._period_frames / max(now - self._period_start, 1e-9)
            publish = np.percentile(self._publish_s, 50) * 1000 if self._publish_s else 0.0
            self.get_logger().info(f'published {self._period_frames} frames at {rate:.1f} Hz '
                                   f'(publish p50 {publish:.1f} ms)')
            self._period_start, self._period_frames, self._publish_s = now, 0, []

        @property
        def truth(self) -> List[SimObject]:
            """The objects of the scene being published."""
            scene = self._current or self._next
            return scene.objects if scene is not None else []

        def destroy_node(self) -> None:
            self._stop.set()
            if self._respawner is not None:
                self._respawner.join(timeout=10.0)
            super().destroy_node()
            self.scene.close()

    return SimCameraNode


def __getattr__(name: str):  # SimCameraNode, built on first use (imports rclpy)
    if name == 'SimCameraNode':
        cls = _node_class()
        globals()['SimCameraNode'] = cls
        return cls
    raise AttributeError(name)


def main(args=None) -> int:
    """Console script ``sim_camera_node``; 1 when it cannot start."""
    import rclpy
    from rclpy.executors import ExternalShutdownException

    rclpy.init(args=args)
    node = None
    code = 0
    try:
        node = _node_class()()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception as exc:  # bad parameter, pybullet missing, ...
        if node is None:
            rclpy.logging.get_logger(NODE_NAME).fatal(
                f'cannot start: {type(exc).__name__}: {exc}')
            code = 1
        else:
            raise
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == '__main__':
    sys.exit(main())
