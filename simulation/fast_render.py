"""A faster render of a tabletop view: the objects by TinyRenderer, the table composited.

pybullet's TinyRenderer (CPU) shades every pixel a triangle covers, and the table top fills every
pixel of a wrist view, twice with shadows (the shadow pass renders the table from the light
too): measured here, a 640x480 wrist view of one object costs ~135 ms with shadows, of which the
objects' own pixels are a small part. :class:`CompositeRenderer` gives what TinyRenderer gives
(RGB, optical depth, segmentation; :class:`~simulation.scene.Render`) from three cheaper parts:

1. **The objects**, rendered by TinyRenderer at full resolution with its shadow pass (so the
   objects' self-shadowing is TinyRenderer's own) while the table is parked out of every view
   (:data:`PARKING`: moved with ``resetBasePositionAndOrientation`` and put back before
   returning, with no physics step in between; the physics stays bit-identical, tested).
2. **The table top**: its depth is the plane's (:meth:`SimCamera.plane_depth`), its
   segmentation the table's id, and its colour one of two: TinyRenderer lights a flat, untextured
   table uniformly (a directional light; the specular term uses the reflected light's world z,
   the same for every point of a horizontal plane), so it shows a *lit* and a *shadowed* colour
   only. :func:`table_shades` measures both once per (table colour, light) with a tiny render in
   a private pybullet client.
3. **The objects' shadows on the table**: TinyRenderer's shadow pass renders the scene's depth
   from a point :data:`LIGHT_DISTANCE` m along the light direction, looking at the world origin
   (z up), through the camera's own projection at the image's size; a table point is shadowed
   when the shadow-map texel it falls in holds an object. That light view is rendered here too
   (objects only, cropped to their texels by an off-centre projection on the same texel grid)
   and mapped onto the table's pixels through the homography the table plane induces between
   the two views (OpenCV's ``warpPerspective``, nearest: TinyRenderer's texel lookup).

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

from simulation.camera import SimCamera
from simulation.scene import Light, Render, Scene, TABLE_HALF_SIZE

#: The two render paths: TinyRenderer on the whole scene, or this module's composite.
RENDERERS = ('reference', 'composite')
#: TinyRenderer's light distance (m; pybullet's default, ``lightDistance`` is never passed).
LIGHT_DISTANCE = 2.0
#: Where the table is parked while the objects render (m): ~1.7 km away, below and aside, out
#: of the view of any camera looking down at the table and of the light's view.
PARKING = (1000.0, 1000.0, -1000.0)
#: Texels of margin around the objects' box in the cropped light view.
CROP_MARGIN = 2
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


def crop_projection(camera: SimCamera, cols: Tuple[int, int],
                    rows: Tuple[int, int]) -> list:
    """``camera``'s OpenGL projection (16 floats, column-major) narrowed to the image window
    ``cols`` x ``rows`` (half-open pixel ranges): rendered at that window's size, TinyRenderer
    samples exactly the pixels (and texel grid) of the full image's window. ValueError for an
    empty window or one outside the image."""
    (c0, c1), (r0, r1) = cols, rows
    w, h = camera.width, camera.height
    if not (0 <= c0 < c1 <= w and 0 <= r0 < r1 <= h):
        raise ValueError(f'crop window {cols} x {rows} outside a {w}x{h} image')
    cw, ch = c1 - c0, r1 - r0
    y0 = h - r1  # the window's first row in the viewport's (bottom-up) rows
    # NDC of the window: x' = (w / cw) x + (w - 2 c0) / cw - 1 (likewise y), in clip space.
    ndc = np.array([[w / cw, 0.0, 0.0, (w - 2.0 * c0) / cw - 1.0],
                    [0.0, h / ch, 0.0, (h - 2.0 * y0) / ch - 1.0],
                    [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    full = np.asarray(camera.projection_matrix(), dtype=np.float64).reshape(4, 4).T
    return [float(v) for v in (ndc @ full).T.reshape(-1)]


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
        pos, orn = p.getBasePositionAndOrientation(table, physicsClientId=c)
        p.resetBasePositionAndOrientation(table, self.parking, orn, physicsClientId=c)
        try:
            objects = self.world.render(camera, light)
            shadow = self._table_shadow(camera, light) if light.shadow else None
        finally:
            p.resetBasePositionAndOrientation(table, pos, orn, physicsClientId=c)
        if (objects.segmentation == table).any():
            raise RuntimeError(f'the parked table at {self.parking} is in view')
        front = ((objects.segmentation >= 0) & (objects.depth < table_depth)).view(np.uint8)
        lit, shadowed = self._colour_images(objects.rgb.shape, shades)
        rgb = lit.copy()
        if shadow is not None:
            cv2.copyTo(shadowed, shadow, rgb)  # OpenCV's masked copies: ~10x NumPy's here
        cv2.copyTo(objects.rgb, front, rgb)
        front = front.view(bool)
        return Render(rgb=rgb, depth=np.where(front, objects.depth, table_depth),
                      segmentation=np.where(front, objects.segmentation, table))

    def _colour_images(self, shape: Tuple[int, ...], shades: TableShades):
        """Images (``shape``, uint8) of the lit and the shadowed table colour, kept."""
        key = (shape, shades)
        if self._colours is None or self._colours[0] != key:
            images = tuple(np.broadcast_to(np.array(rgb, dtype=np.uint8), shape).copy()
                           for rgb in (shades.lit, shades.shadowed))
            self._colours = (key, images)
        return self._colours[1]

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

    def _table_shadow(self, camera: SimCamera, light: Light) -> Optional[np.ndarray]:
        """Which table pixels (H, W, uint8 0/1) are in the objects' shadow: the cropped light
        view's object texels, warped onto the view through the table plane; None: no object
        in the light's view."""
        p, c = self.world.p, self.world.client
        lamp = light_camera(camera, light)
        corners = []
        for body in range(p.getNumBodies(physicsClientId=c)):
            body = p.getBodyUniqueId(body, physicsClientId=c)
            if body == self.world.table or not p.getVisualShapeData(body, physicsClientId=c):
                continue
            # Every link: TinyRenderer draws a body without visual shapes (the rig's gripper)
            # by its collision shapes, and its fingers cast shadows.
            for link in range(-1, p.getNumJoints(body, physicsClientId=c)):
                lo, hi = p.getAABB(body, link, physicsClientId=c)
                corners.extend(np.stack(np.meshgrid(*zip(lo, hi)), axis=-1).reshape(-1, 3))
        if not corners:
            return None
        u, v, z = lamp.project(np.asarray(corners))
        if (z <= lamp.near).any():
            cols, rows = (0, lamp.width), (0, lamp.height)
        else:
            cols = (max(0, int(math.floor(u.min())) - CROP_MARGIN),
                    min(lamp.width, int(math.ceil(u.max())) + CROP_MARGIN + 1))
            rows = (max(0, int(math.floor(v.min())) - CROP_MARGIN),
                    min(lamp.height, int(math.ceil(v.max())) + CROP_MARGIN + 1))
            if cols[0] >= cols[1] or rows[0] >= rows[1]:
                return None
        size = (cols[1] - cols[0], rows[1] - rows[0])
        _, _, _, buffer, seg = p.getCameraImage(
            size[0], size[1], lamp.view_matrix(), crop_projection(lamp, cols, rows),
            renderer=p.ER_TINY_RENDERER, shadow=0, physicsClientId=c)
        occluder = replace(lamp, width=size[0], height=size[1]).depth_from_buffer(
            np.asarray(buffer).reshape(size[1], size[0])).astype(np.float64)
        # TinyRenderer's test (pybullet 3.2.7, measured): a point whose light view has clip
        # coordinates (z, w) is shadowed when (z + w) / 2 - SHADOW_BIAS >= the texel's object
        # clip z. Clip z = a d - b for optical depth d, and w = d: shadowed when the point's
        # light depth is >= ``limit``, the texel's bound; never on texels without an object.
        n, f = lamp.near, lamp.far
        a, b = (f + n) / (f - n), 2.0 * f * n / (f - n)
        limit = np.where(np.asarray(seg).reshape(size[1], size[0]) >= 0,
                         (a * occluder - b / 2.0 + SHADOW_BIAS) * 2.0 / (a + 1.0), NO_SHADOW)
        # A table point at the light's pixel (u, v) reads texel (floor(u), floor(h - 1 - v)),
        # i.e. the light image's column floor(u) and row ceil(v): nearest sampling (round) of
        # (u - 1/2, v + 1/2), shifted into the crop.
        shift = np.array([[1.0, 0.0, -0.5 - cols[0]], [0.0, 1.0, 0.5 - rows[0]],
                          [0.0, 0.0, 1.0]])
        to_light = plane_homography(camera, lamp)
        limit = cv2.warpPerspective(limit.astype(np.float32), shift @ to_light,
                                    (camera.width, camera.height),
                                    flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=NO_SHADOW)
        # The table point's optical depth in the light's view: the last row of the homography
        # over the plane point's homogeneous scale (the ray's z), both linear in (u, v).
        depth = _linear_ratio((np.linalg.inv(lamp.intrinsics) @ to_light)[2], _ray_z(camera),
                              camera.width, camera.height)
        return (depth >= limit).view(np.uint8)


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
