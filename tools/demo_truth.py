"""The demo's grasps against the simulated camera's ground truth: records, error, picture.

A grasp as received (:class:`GraspRecord`: position in the target frame, m; yaw, rad) is scored
against the nearest object of the scene its image showed (:class:`TruthObject`: the footprint
polygon on the table, m): its distance to the footprint and to the centre, and the angle of the
jaws' closing axis from across the footprint's major axis (:func:`grasp_error`). :func:`draw`
puts both on the camera image.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Dict, List, Optional, Tuple

import numpy as np

from mtg_grasp_ros.grasp import angle_difference
from simulation.camera import SimCamera
from simulation.tabletop import polygon_distance

#: Footprints at least this elongated have a minor axis to close across (as the node test).
ELONGATED_ASPECT = 1.5


@dataclass
class GraspRecord:
    """One grasp received from the node: its image stamp and receive time (s), centre ``xyz``
    (3,) in the target frame (m), yaw of the closing axis (rad) and its named fields:
    ``width`` (m) and ``quality`` from ``~/detections``, or, once its ``~/grasp`` arrived, the
    fields of that array (``width``, ``quality``, ``u``, ``v``, ...)."""

    stamp: float
    received: float
    xyz: np.ndarray
    yaw: float
    fields: Optional[Dict[str, float]] = None


@dataclass
class TruthObject:
    """One object of the simulated scene: its id, footprint polygon (N, 2) and centre (2,) on
    the table (m, target frame) and the yaw of the footprint's major axis (rad)."""

    name: str
    footprint: np.ndarray
    centre: np.ndarray
    major_yaw: float

    @property
    def aspect(self) -> float:
        """Length / breadth of the footprint's minimum-area rectangle."""
        import cv2
        (_, _), (a, b), _ = cv2.minAreaRect(np.asarray(self.footprint, dtype=np.float32))
        return max(a, b) / max(min(a, b), 1e-9)


def pixel_fields(camera, grasp: GraspRecord) -> Dict[str, float]:
    """``u``, ``v`` (px), ``image_angle`` (rad, counter-clockwise on screen) and ``width_px`` of
    a grasp with a ``width`` field, from its centre, yaw and opening projected by ``camera``
    (the demo's top-down grasps: the closing axis is horizontal)."""
    half = np.array([math.cos(grasp.yaw), math.sin(grasp.yaw), 0.0]) * grasp.fields['width'] / 2
    u, v, _ = camera.project(np.stack([grasp.xyz, grasp.xyz - half, grasp.xyz + half]))
    du, dv = float(u[2] - u[1]), float(v[2] - v[1])
    return {'u': float(u[0]), 'v': float(v[0]), 'image_angle': math.atan2(-dv, du),
            'width_px': math.hypot(du, dv)}


def yaw_of(q) -> float:
    """Yaw of the x axis of a quaternion (x, y, z, w)."""
    x, y, z, w = q
    return math.atan2(2 * (x * y + z * w), 1 - 2 * (y * y + z * z))


def grasp_error(grasp: GraspRecord, objects: List[TruthObject]
                ) -> Optional[Tuple[str, float, float, float]]:
    """(object, distance to its footprint (m), to its centre (m), jaw angle from across (deg,
    0-90)) of the object nearest to the grasp; None without objects."""
    if not objects:
        return None
    best = min(objects, key=lambda o: (polygon_distance(o.footprint, grasp.xyz[:2]),
                                       float(np.linalg.norm(o.centre - grasp.xyz[:2]))))
    across = angle_difference(grasp.yaw, best.major_yaw + math.pi / 2)
    return (best.name, polygon_distance(best.footprint, grasp.xyz[:2]),
            float(np.linalg.norm(best.centre - grasp.xyz[:2])), math.degrees(across))


def draw(rgb: np.ndarray, camera: SimCamera, grasp: GraspRecord,
         objects: List[TruthObject], lines: List[str]) -> np.ndarray:
    """BGR picture: ground-truth footprints (green), the grasp (jaws red, closing line blue)."""
    import cv2
    img = np.ascontiguousarray(rgb[:, :, ::-1])
    for obj in objects:
        pts = np.c_[obj.footprint, np.zeros(len(obj.footprint))]
        u, v, _ = camera.project(pts)
        poly = np.round(np.c_[u, v]).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(img, [poly], True, (60, 200, 60), 1, cv2.LINE_AA)
    f = grasp.fields or {}
    if 'u' not in f and 'width' in f:     # from ~/detections: no pixels, project the grasp
        f = {**pixel_fields(camera, grasp), **f}
    if {'u', 'v', 'image_angle', 'width_px'} <= set(f):
        c = np.array([f['u'], f['v']])
        d = np.array([math.cos(f['image_angle']), -math.sin(f['image_angle'])])
        n = np.array([-d[1], d[0]])
        half_w, half_j = max(f['width_px'], 2.0) / 2, max(f['width_px'] / 4, 4.0)
        corners = [c - half_w * d - half_j * n, c + half_w * d - half_j * n,
                   c + half_w * d + half_j * n, c - half_w * d + half_j * n]
        p = [tuple(int(round(x)) for x in q) for q in corners]
        cv2.line(img, p[0], p[3], (0, 0, 255), 3, cv2.LINE_AA)   # jaw
        cv2.line(img, p[1], p[2], (0, 0, 255), 3, cv2.LINE_AA)   # jaw
        cv2.line(img, p[0], p[1], (255, 120, 0), 1, cv2.LINE_AA)
        cv2.line(img, p[3], p[2], (255, 120, 0), 1, cv2.LINE_AA)
        cv2.circle(img, tuple(int(round(x)) for x in c), 3, (255, 120, 0), -1, cv2.LINE_AA)
    y = 8
    for text in lines:
        (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
        cv2.rectangle(img, (4, y - 2), (10 + w, y + h + 4), (255, 255, 255), -1)
        cv2.putText(img, text, (7, y + h), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                    cv2.LINE_AA)
        y += h + 8
    return img
