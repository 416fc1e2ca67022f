"""A faster render of a tabletop view: the objects by TinyRenderer, the table composited.

pybullet's TinyRenderer (CPU) shades every pixel a triangle covers, and the table top fills every
pixel of a wrist view, twice with shadows (the shadow pass renders the table from the light
too): measured here, a 640x480 wrist view of one object costs ~135-160 ms with shadows, of which
the objects' own pixels are a small part. :class:`CompositeRenderer` gives what TinyRenderer
gives (RGB, optical depth, segmentation; :class:`~simulation.scene.Render`; 18-30 ms there)
from three cheaper parts:

1. **The objects**, rendered by TinyRenderer with its shadow pass (so the objects'
   self-shadowing is TinyRenderer's own) while the table is parked out of every view
   (:data:`PARKING`: moved with ``resetBasePositionAndOrientation`` and put back before
   returning, with no physics step in between; the physics stays bit-identical, tested), and
   only in the image's window where they can show (the projections of their links' boxes;
   :meth:`SimCamera.window_projection` samples exactly the full image's pixels there). The
   shadow pass sees the light's view through the same window, so the window also holds the
   objects' texels of the light's view: the shadow map is the full one's, texel for texel.
2. **The table top**: its depth is the plane's (:meth:`SimCamera.plane_depth`), its
   segmentation the table's id, and its colour one of two: TinyRenderer lights a flat, untextured
   table uniformly (a directional light; the specular term uses the reflected light's world z,
   the same for every point of a horizontal plane), so it shows a *lit* and a *shadowed* colour
   only. :func:`table_shades` measures both once per (table colour, light) with a tiny render in
   a private pybullet client.
3. **The objects' shadows on the table**: TinyRenderer's shadow pass renders the scene's depth
   from a point :data:`LIGHT_DISTANCE` m along the light direction, looking at the world origin
   (z up), through the camera's own projection at the image's size; a table point is shadowed
   when the shadow-map texel it falls in holds an object nearer the light by more than
   :data:`SHADOW_BIAS`. That light view is rendered here too (objects only, in their window)
   and each texel's depth bound mapped onto the table's pixels through the homography the
   table plane induces between the two views (OpenCV's ``warpPerspective``, nearest:
   TinyRenderer's texel lookup), then compared with the table point's light depth.

A pixel shows the object where the objects' render hit something in front of the table plane,
else the table. Views that see beyond the table top, tables with a pybullet texture and scenes
without a light fall back to the full TinyRenderer render (counted in ``fallbacks``).
docs/closed_loop.md has the measured accuracy and speed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
import functools
import math
from typing import Optional, Tuple

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from simulation.camera import SimCamera
from simulation.scene import Light, Render, Scene, TABLE_HALF_SIZE

#: The two render paths: TinyRenderer on the whole scene, or this module's composite.
RENDERERS = ('reference', 'composite')
#: TinyRenderer's light distance (m; pybullet's default, ``lightDistance`` is never passed).
LIGHT_DISTANCE = 2.0
#: Where the table is parked while the objects render (m): ~1.7 km away, below and aside, out
#: of the view of any camera looking down at the table and of the light's view.
PARKING = (1000.0, 1000.0, -1000.0)
#: Pixels of margin around the objects' projected boxes in the rendered windows.
WINDOW_MARGIN = 2
#: TinyRenderer's shadow-test bias (clip units ~ m; measured on pybullet 3.2.7: the table's
#: shadowed pixels are those with a margin >= 0.04999, the lit ones <= 0.04998).
SHADOW_BIAS = 0.05
#: A light depth bound no table point reaches (m): no shadow.
NO_SHADOW = 1e9
RGB8 = Tuple[int, int, int]


@dataclass(frozen=True)
class TableShades:
    """The two colours TinyRenderer gives an untextured table top (uint8 RGB): ``lit`` and
    ``shadowed`` (equal to ``lit`` for a light without shadows)."""

    lit: RGB8
    shadowed: RGB8


def light_camera(camera: SimCamera, light: Light,
                 distance: float = LIGHT_DISTANCE) -> SimCamera:
    """The camera of TinyRenderer's shadow pass for a view by ``camera``: at ``distance`` m along
    ``light.direction`` (normalised), looking at the world origin with world z up, with
    ``camera``'s size, field of view and clipping (so its projection). Its pixel ``(u, v)`` is
    the shadow map's texel ``(floor(u), floor(height - 1 - v))``. Raises ValueError for a
    vertical light (no up direction)."""
    eye = np.asarray(light.direction, dtype=np.float64)
    eye = eye / np.linalg.norm(eye) * float(distance)
    square = SimCamera.look_at(eye, (0.0, 0.0, 0.0), (0.0, 0.0, 1.0), camera.height,
                               camera.fov_deg, camera.near, camera.far)
    return replace(square, width=camera.width)


def plane_homography(camera: SimCamera, other: SimCamera, plane_z: float = 0.0) -> np.ndarray:
    """3x3 homography taking ``camera``'s pixels ``(u, v, 1)`` to ``other``'s pixels of the same
    points of the plane ``z = plane_z`` (world)."""
    a = camera.rotation @ np.linalg.inv(camera.intrinsics)  # pixel -> ray direction (world)
    cx, cy, cz = camera.position
    cz -= plane_z
    # The ray c + t d meets the plane at (cx dz - cz dx, cy dz - cz dy, plane_z) / dz.
    to_plane = np.stack([cx * a[2] - cz * a[0], cy * a[2] - cz * a[1], a[2]])
    world_to_other = np.concatenate([other.rotation.T, (-other.rotation.T @ other.position)
                                     [:, None]], axis=1)
    plane_to_other = world_to_other @ np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0],
                                                [0.0, 0.0, plane_z], [0.0, 0.0, 1.0]])
    return other.intrinsics @ plane_to_other @ to_plane


@functools.lru_cache(maxsize=32)
def table_shades(table_rgb: Tuple[float, float, float], light: Light) -> TableShades:
    """The lit and shadowed colours of an untextured table of colour ``table_rgb`` (RGB 0-1)
    under ``light``, measured with TinyRenderer in a private pybullet client (a table and a
    10 cm box floating 30 cm above it; a 64x48 view of the box's shadow, rendered with and
    without shadows). Cached. RuntimeError when the table does not come out as exactly one lit
    colour (and one shadowed colour with shadows): the composite would be wrong."""
    with Scene(table_rgb=tuple(table_rgb)) as world:
        p, c = world.p, world.client
        box = np.array([0.0, 0.0, 0.3])
        vis = p.createVisualShape(p.GEOM_BOX, halfExtents=[0.05] * 3, physicsClientId=c)
        p.createMultiBody(0, -1, vis, basePosition=box.tolist(), physicsClientId=c)
        camera = SimCamera(width=64, height=48, fov_deg=42.0, near=0.02)
        lamp = light_camera(camera, light).position
        shadow = lamp + (box - lamp) * lamp[2] / (lamp[2] - box[2])  # on the table
        camera = replace(camera, xyz=(shadow[0], shadow[1], 1.0), rpy=(math.pi, 0.0, 0.0))
        lit = _table_colours(world.render(camera, replace(light, shadow=False)), world.table)
        if len(lit) != 1:
            raise RuntimeError(f'TinyRenderer lights the table unevenly: {lit}')
        if not light.shadow:
            return TableShades(lit[0], lit[0])
        shaded = [rgb for rgb in _table_colours(world.render(camera, light), world.table)
                  if rgb != lit[0]]
        if len(shaded) != 1:
            raise RuntimeError(f'no single shadowed table colour: {shaded}, lit {lit[0]}')
        return TableShades(lit[0], shaded[0])


def _table_colours(render: Render, table: int) -> list:
    """The distinct RGB colours (tuples) of a render's table pixels."""
    colours = np.unique(render.rgb[render.segmentation == table], axis=0)
    return [tuple(int(v) for v in rgb) for rgb in colours]


Window = Tuple[Tuple[int, int], Tuple[int, int]]


class CompositeRenderer:
    """Renders a :class:`~simulation.scene.Scene`'s views as the module docstring says; the
    drop-in for :meth:`Scene.render` (same arguments and result). ``parking``: where the table
    waits while the objects render (m); ``fallbacks``: how many renders fell back to the full
    TinyRenderer render, and ``reason`` the last one's cause. Raises RuntimeError (at a render)
    when the table's two colours cannot be measured. Not thread-safe, like the scene."""

    def __init__(self, world: Scene, parking: Tuple[float, float, float] = PARKING) -> None:
        self.world = world
        self.parking = tuple(float(v) for v in parking)
        self.fallbacks = 0
        self.reason = ''
        self._colours: Optional[tuple] = None

    def render(self, camera: SimCamera, light: Optional[Light] = None) -> Render:
        """RGB (H, W, 3) uint8, optical depth (H, W) float32 m and segmentation (H, W) int64 of
        ``camera``'s view under ``light``, as :meth:`Scene.render` would give them."""
        p, c, table = self.world.p, self.world.client, self.world.table
        shape = p.getVisualShapeData(table, flags=p.VISUAL_SHAPE_DATA_TEXTURE_UNIQUE_IDS,
                                     physicsClientId=c)[0]
        table_depth = self._table_depth(camera)
        reason = ('no light' if light is None else 'textured table' if shape[8] >= 0
                  else 'view beyond the table top' if table_depth is None else '')
        if reason:
            self.fallbacks, self.reason = self.fallbacks + 1, reason
            return self.world.render(camera, light)
        shades = table_shades(tuple(float(v) for v in shape[7][:3]), light)
        lit, shadowed = self._colour_images((camera.height, camera.width, 3), shades)
        rgb, depth = lit.copy(), table_depth
        segmentation = np.full(depth.shape, table, dtype=np.int64)
        boxes = self._boxes()
        lamp = light_camera(camera, light)
        seen, lamp_window = _window(camera, boxes), _window(lamp, boxes)
        # The shadow pass sees the light's view through the same window: it must hold the
        # objects' texels too (then the self-shadowing is TinyRenderer's own, texel for texel).
        window = _union(seen, lamp_window) if light.shadow else seen
        pos, orn = p.getBasePositionAndOrientation(table, physicsClientId=c)
        p.resetBasePositionAndOrientation(table, self.parking, orn, physicsClientId=c)
        try:
            objects = self.world.render(camera, light, window) if seen is not None else None
            shadow = (self._table_shadow(camera, lamp, lamp_window)
                      if light.shadow and lamp_window is not None else None)
        finally:
            p.resetBasePositionAndOrientation(table, pos, orn, physicsClientId=c)
        if shadow is not None:
            cv2.copyTo(shadowed, shadow, rgb)  # OpenCV's masked copy: ~10x NumPy's here
        if objects is None:
            return Render(rgb=rgb, depth=depth, segmentation=segmentation)
        if (objects.segmentation == table).any():
            raise RuntimeError(f'the parked table at {self.parking} is in view')
        part = (slice(*window[1]), slice(*window[0]))
        front = (objects.segmentation >= 0) & (objects.depth < depth[part])
        for image, values in ((rgb, objects.rgb), (depth, objects.depth),
                              (segmentation, objects.segmentation)):
            image[part][front] = values[front]
        return Render(rgb=rgb, depth=depth, segmentation=segmentation)

    def _colour_images(self, shape: Tuple[int, ...], shades: TableShades):
        """Images (``shape``, uint8) of the lit and the shadowed table colour, kept."""
        key = (shape, shades)
        if self._colours is None or self._colours[0] != key:
            images = tuple(np.broadcast_to(np.array(rgb, dtype=np.uint8), shape).copy()
                           for rgb in (shades.lit, shades.shadowed))
            self._colours = (key, images)
        return self._colours[1]

    def _boxes(self) -> np.ndarray:
        """The corners (N, 8, 3; m, in :data:`_BITS` order) of a box around every visual shape
        TinyRenderer draws, the table's excepted: the shape itself for a box (the rig's gripper:
        pybullet draws a body without visual shapes by its collision boxes, and its fingers
        cast shadows), else its link's world axis-aligned box."""
        p, c = self.world.p, self.world.client
        boxes = []
        for index in range(p.getNumBodies(physicsClientId=c)):
            body = p.getBodyUniqueId(index, physicsClientId=c)
            if body == self.world.table:
                continue
            for shape in p.getVisualShapeData(body, physicsClientId=c):
                link, kind, size, offset, turn = shape[1], shape[2], shape[3], shape[5], shape[6]
                if kind != p.GEOM_BOX:
                    lo, hi = p.getAABB(body, link, physicsClientId=c)
                    boxes.append(np.where(_BITS, hi, lo))
                    continue
                pose = (p.getBasePositionAndOrientation(body, physicsClientId=c) if link < 0
                        else p.getLinkState(body, link, physicsClientId=c)[4:6])
                local = Rotation.from_quat(turn).apply((_BITS - 0.5) * size) + offset
                boxes.append(Rotation.from_quat(pose[1]).apply(local) + pose[0])
        return np.asarray(boxes, dtype=np.float64).reshape(-1, 8, 3)

    @staticmethod
    def _table_depth(camera: SimCamera) -> Optional[np.ndarray]:
        """The table plane's optical depth (H, W) float32, or None when some pixel's ray misses
        the table top (beyond its edge, past the far plane or not downwards)."""
        w, h = camera.width, camera.height
        corners_u, corners_v = np.array([0.0, w - 1.0, w - 1.0, 0.0]), np.array(
            [0.0, 0.0, h - 1.0, h - 1.0])
        depth = camera.plane_depth(corners_u, corners_v)
        # The view's footprint on the plane is the quadrilateral of its corners' points (all
        # in front), and the table top is convex: inside it iff the corners are.
        if not np.all((depth > camera.near) & (depth < camera.far)):
            return None
        points = camera.deproject(corners_u, corners_v, depth)
        if np.abs(points[:, :2]).max() >= TABLE_HALF_SIZE:
            return None
        # SimCamera.plane_depth's formula, separable in (u, v): float32, ~20x faster.
        return _linear_ratio(np.array([0.0, 0.0, -camera.position[2]]), _ray_z(camera),
                             w, h)

    def _table_shadow(self, camera: SimCamera, lamp: SimCamera,
                      window: Window) -> np.ndarray:
        """Which table pixels (H, W, uint8 0/1) are in the objects' shadow: the light view's
        ``window`` (the objects' texels) rendered, each texel's depth bound warped onto the view
        through the table plane and compared with the table point's light depth."""
        (c0, _), (r0, _) = window
        texels = self.world.render(lamp, None, window)
        # TinyRenderer's test (pybullet 3.2.7, measured): a point whose light view has clip
        # coordinates (z, w) is shadowed when (z + w) / 2 - SHADOW_BIAS >= the texel's object
        # clip z. Clip z = a d - b for optical depth d, and w = d: shadowed when the point's
        # light depth is >= ``limit``, the texel's bound; never on texels without an object.
        n, f = lamp.near, lamp.far
        a, b = (f + n) / (f - n), 2.0 * f * n / (f - n)
        limit = np.where(texels.segmentation >= 0,
                         (a * texels.depth.astype(np.float64) - b / 2.0 + SHADOW_BIAS)
                         * 2.0 / (a + 1.0), NO_SHADOW).astype(np.float32)
        # A table point at the light's pixel (u, v) reads texel (floor(u), floor(h - 1 - v)),
        # i.e. the light image's column floor(u) and row ceil(v): nearest sampling (round) of
        # (u - 1/2, v + 1/2), shifted into the window.
        shift = np.array([[1.0, 0.0, -0.5 - c0], [0.0, 1.0, 0.5 - r0], [0.0, 0.0, 1.0]])
        to_light = plane_homography(camera, lamp)
        limit = cv2.warpPerspective(limit, shift @ to_light, (camera.width, camera.height),
                                    flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=NO_SHADOW)
        # The table point's optical depth in the light's view: the last row of the homography
        # over the plane point's homogeneous scale (the ray's z), both linear in (u, v).
        depth = _linear_ratio((np.linalg.inv(lamp.intrinsics) @ to_light)[2], _ray_z(camera),
                              camera.width, camera.height)
        return (depth >= limit).view(np.uint8)


#: The corners of a unit box (8, 3: low 0 / high 1 per axis) and its 12 edges (corner pairs
#: differing in one axis).
_BITS = np.array([[(k >> i) & 1 for i in range(3)] for k in range(8)], dtype=bool)
_EDGES = np.array([(j, k) for j in range(8) for k in range(j + 1, 8)
                   if (_BITS[j] != _BITS[k]).sum() == 1])


def _window(camera: SimCamera, boxes: np.ndarray) -> Optional[Window]:
    """The smallest pixel window (cols, rows; half-open) holding every box's window (:func:
    `_box_window`) that meets the image; None when none does. ``boxes``: (N, 8, 3) corners."""
    window = None
    for box in boxes:
        window = _union(window, _box_window(camera, box))
    return window


def _box_window(camera: SimCamera, box: np.ndarray) -> Optional[Window]:
    """The pixel window (cols, rows; half-open) holding the projection of ``box`` (its 8 world
    corners in :data:`_BITS` order, (8, 3), m) with WINDOW_MARGIN px around it, clipped to the
    image; None when it misses the image. The box is first cut at the near plane (its
    corners in front and its edges' crossings of it): a box reaching behind the camera (the
    rig's fingers beside the wrist camera) counts by its part in front only."""
    points = camera.world_to_camera(box)
    z0, z1 = points[_EDGES[:, 0], 2] - camera.near, points[_EDGES[:, 1], 2] - camera.near
    cut = z0 * z1 < 0
    t = z0[cut] / (z0[cut] - z1[cut])
    start, end = points[_EDGES[cut, 0]], points[_EDGES[cut, 1]]
    visible = np.concatenate([points[points[:, 2] >= camera.near],
                              start + t[:, None] * (end - start)])
    if not len(visible):
        return None
    u = camera.cx + camera.focal * visible[:, 0] / visible[:, 2]
    v = camera.cy + camera.focal * visible[:, 1] / visible[:, 2]
    cols = (max(0, int(math.floor(u.min())) - WINDOW_MARGIN),
            min(camera.width, int(math.ceil(u.max())) + WINDOW_MARGIN + 1))
    rows = (max(0, int(math.floor(v.min())) - WINDOW_MARGIN),
            min(camera.height, int(math.ceil(v.max())) + WINDOW_MARGIN + 1))
    return (cols, rows) if cols[0] < cols[1] and rows[0] < rows[1] else None


def _union(first: Optional[Window], second: Optional[Window]) -> Optional[Window]:
    """The smallest window holding both (either may be None: nothing)."""
    if first is None or second is None:
        return first or second
    return tuple((min(a[0], b[0]), max(a[1], b[1])) for a, b in zip(first, second))


def _linear_ratio(num: np.ndarray, den: np.ndarray, width: int, height: int) -> np.ndarray:
    """``(num . (u, v, 1)) / (den . (u, v, 1))`` at every pixel: (height, width) float32."""
    u = np.arange(width, dtype=np.float32)[None, :]
    v = np.arange(height, dtype=np.float32)[:, None]
    num, den = num.astype(np.float32), den.astype(np.float32)
    return (num[0] * u + (num[1] * v + num[2])) / (den[0] * u + (den[1] * v + den[2]))


def _ray_z(camera: SimCamera) -> np.ndarray:
    """The row (3,) whose product with a pixel's ``(u, v, 1)`` is the world z of its ray's
    direction (scaled to unit optical depth), as :func:`plane_homography` scales plane points."""
    return (camera.rotation @ np.linalg.inv(camera.intrinsics))[2]
