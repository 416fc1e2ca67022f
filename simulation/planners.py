"""Grasp planners for the physical benchmark: a camera frame in, one :class:`WorldGrasp` out.

Every planner has a ``name`` and ``plan(view) -> Plan``; :class:`View` is what it may look at
(the rendered 640x480 frame of :class:`~simulation.tabletop.SimulatedScene`'s camera, the
camera, and, for the ceiling only, the scene's ground truth and physics):

* :class:`NodePlanner`, **node**: the grasp node's ROS-free pipeline
  (:class:`mtg_grasp_ros.pipeline.GraspPipeline`) with the node's default parameters
  (``top_k`` 5, ``min_quality`` 0.2, support plane z = 0, top-down approach), except
  ``object_height`` (default 0.005 m: see DEFAULT_OBJECT_HEIGHT); camera intrinsics and pose
  from the :class:`~simulation.camera.SimCamera`. Its best grasp, or none below min_quality;
* :class:`BlobPlanner`, **baseline**: image-only geometry, the 20-line baseline of the outside
  harness: the largest blob of one colour that differs from the table's colour (segmented from
  the RGB image, *not* from the renderer's segmentation), its centroid, closing across its
  minor axis (second moments), opening = the blob's extent across + ``margin``, all deprojected
  onto the plane ``object_height`` above the table;
* :class:`~simulation.lookahead.LookaheadPlanner`, **lookahead** (its own module): the ceiling,
  what the physics allows, using ground truth and trial executions.

With a memory of failures (``grasp-bench --avoid-failed``: :attr:`View.failed`), the node
planner takes the best of its top-k grasps that is not where a grasp failed before, and the
baseline the largest blob whose grasp is not; without one (the default) both repeat their best.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from simulation.camera import SimCamera
from simulation.grasp_execution import WorldGrasp

#: Default ``object_height`` (m) of the node and baseline planners: the grasp plane, which is
#: where the guarded descent aims the fingertips. A monocular camera cannot see an object's
#: height, so a force-guarded robot aims just above the support (5 mm clearance) and lets the
#: descent stop on contact; aiming higher closes the jaws over flat objects. Measured with the
#: v2 model (docs/grasp_bench.md): 0.03 m (the outside harness's node setting) 30% isolated,
#: 0.015 m 87%, 0.005 m 90% on the same 30 scenes.
DEFAULT_OBJECT_HEIGHT = 0.005
#: Baseline segmentation: a pixel is foreground when its colour, with the brightness change
#: along the table's own colour removed (shadows), is this far (0-255 units) from the table's,
#: or its brightness differs by more than BRIGHTNESS_DIFF.
CHROMA_DIFF = 30.0
BRIGHTNESS_DIFF = 90.0
#: Neighbouring foreground pixels whose hues (OpenCV 0-180) differ by more than this belong to
#: different blobs (objects of different colours that touch in the image).
HUE_EDGE = 6
#: Blobs smaller than this (px) are noise.
MIN_BLOB_AREA = 150
#: Added to the blob's extent across (m), split between both sides.
DEFAULT_MARGIN = 0.02
#: A candidate grasp centre within this (m) of a failed one counts as the same grasp (View.failed).
AVOID_RADIUS = 0.02


@dataclass
class View:
    """What a planner sees for one attempt.

    ``rgb``: (H, W, 3) uint8 frame; ``camera``: the camera that took it; ``scene``: the
    :class:`~simulation.tabletop.SimulatedScene` (ground truth and physics: only the ceiling
    planner may use it); ``remaining``: the :class:`~simulation.tabletop.SimObject` s still on
    the table; ``executor``: the scene's :class:`~simulation.grasp_execution.GraspExecutor`;
    ``failed``: world (x, y) in m of this scene's failed grasps (empty unless the clearance
    loop passes them): the node and baseline planners take their best grasp farther than
    AVOID_RADIUS from all of them, else their best one.
    """

    rgb: np.ndarray
    camera: SimCamera
    scene: object = None
    remaining: Optional[list] = None
    executor: object = None
    failed: Tuple[Tuple[float, float], ...] = ()


def away_from_failures(xys: Sequence[Tuple[float, float]],
                       failed: Sequence[Tuple[float, float]],
                       radius: Optional[float] = None) -> int:
    """Index of the first of ``xys`` (candidate grasp centres, best first, world m) farther
    than ``radius`` (AVOID_RADIUS) from every ``failed`` centre; 0 when none is (or no
    failures): the best candidate, as without the memory."""
    radius = AVOID_RADIUS if radius is None else radius
    if not failed:
        return 0
    done = np.asarray(failed, dtype=np.float64).reshape(-1, 2)
    for i, xy in enumerate(xys):
        if np.min(np.linalg.norm(done - np.asarray(xy, dtype=np.float64), axis=1)) > radius:
            return i
    return 0


@dataclass
class Plan:
    """A planner's answer: ``grasp`` (None: it found none) and ``reason`` ('ok' or why not);
    ``tries``: trial executions it ran (look-ahead only)."""

    grasp: Optional[WorldGrasp]
    reason: str = 'ok'
    tries: int = 0


class NodePlanner:
    """The node's pipeline on a deploy model (``model``: stem or file), with the node's
    defaults (``jaws_outside_view``, ``centring_fraction``, ``jaw_clearance``,
    ``clearance_fraction``: None = the node's); raises
    :class:`mtg_grasp_ros.deploy.DeployModelError` for a model that cannot load."""

    name = 'node'

    def __init__(self, model, object_height: float = DEFAULT_OBJECT_HEIGHT,
                 backend: str = 'auto', precision: str = 'auto', device: str = 'cpu',
                 opening_margin: float = 0.0, jaws_outside_view: Optional[str] = None,
                 centring_fraction: Optional[float] = None,
                 jaw_clearance: Optional[float] = None,
                 clearance_fraction: Optional[float] = None,
                 max_opening: float = 0.0) -> None:
        from mtg_grasp_ros.pipeline import GraspPipeline, PipelineConfig

        #: Added to the published opening (m): the controller's clearance (the node publishes
        #: the opening the contact needs, Jacquard's convention).
        self.opening_margin = float(opening_margin)
        self.pipeline = GraspPipeline.from_deploy(
            model, backend=backend, device=device, precision=precision,
            config=PipelineConfig(object_height=float(object_height),
                                  jaws_outside_view=(jaws_outside_view
                                                     or PipelineConfig.jaws_outside_view),
                                  centring_fraction=(PipelineConfig.centring_fraction
                                                     if centring_fraction is None
                                                     else float(centring_fraction)),
                                  jaw_clearance=(PipelineConfig.jaw_clearance
                                                 if jaw_clearance is None
                                                 else float(jaw_clearance)),
                                  clearance_fraction=(PipelineConfig.clearance_fraction
                                                      if clearance_fraction is None
                                                      else float(clearance_fraction)),
                                  max_opening=float(max_opening)).validate())

    def plan(self, view: View) -> Plan:
        result = self.pipeline.process(view.rgb, view.camera.model, view.camera.pose)
        if not result.grasps:
            return Plan(None, 'below_min_quality')
        g = result.grasps[away_from_failures([tuple(c.position[:2]) for c in result.grasps],
                                             view.failed)]
        return Plan(WorldGrasp(x=float(g.position[0]), y=float(g.position[1]), yaw=float(g.yaw),
                               opening=float(g.width_m) + self.opening_margin,
                               z=float(g.position[2]),
                               quality=float(g.quality)))


def table_colour(rgb: np.ndarray) -> np.ndarray:
    """The table's colour (3,) float: the per-channel median of the image border (the table
    fills most of a tabletop view and nearly all of its border)."""
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).astype(np.float64)
    return np.median(border, axis=0)


def foreground_mask(rgb: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels whose colour differs from the table's (see CHROMA_DIFF)."""
    image = rgb.astype(np.float64)
    table = table_colour(rgb)
    unit = table / max(np.linalg.norm(table), 1e-9)
    diff = image - table
    along = diff @ unit
    chroma = np.linalg.norm(diff - along[..., None] * unit, axis=-1)
    return (chroma > CHROMA_DIFF) | (np.abs(along) > BRIGHTNESS_DIFF)


def colour_blobs(rgb: np.ndarray) -> np.ndarray:
    """(H, W) int32 labels of the colour blobs (0 = table): connected foreground regions cut
    where neighbouring hues jump by more than HUE_EDGE, then opened by a 3x3 kernel."""
    mask = foreground_mask(rgb)
    hue = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)[..., 0].astype(np.int16)

    def jump(a, b):
        d = np.abs(a - b)
        return np.minimum(d, 180 - d) > HUE_EDGE

    edge = np.zeros_like(mask)
    edge[:, 1:] |= jump(hue[:, 1:], hue[:, :-1]) & mask[:, :-1]
    edge[1:, :] |= jump(hue[1:, :], hue[:-1, :]) & mask[:-1, :]
    keep = (mask & ~edge).astype(np.uint8)
    keep = cv2.morphologyEx(keep, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    _, labels = cv2.connectedComponents(keep, connectivity=4)
    return labels.astype(np.int32)


def blobs_by_size(rgb: np.ndarray) -> List[np.ndarray]:
    """The colour blobs of at least MIN_BLOB_AREA pixels, largest first, each as (N, 2)
    pixel coordinates (column, row)."""
    labels = colour_blobs(rgb)
    counts = np.bincount(labels.ravel())
    counts[0] = 0
    order = [int(i) for i in np.argsort(-counts, kind='stable') if counts[i] >= MIN_BLOB_AREA]
    blobs = []
    for label in order:
        rows, cols = np.nonzero(labels == label)
        blobs.append(np.stack([cols, rows], axis=1).astype(np.float64))
    return blobs


def largest_blob(rgb: np.ndarray) -> Optional[np.ndarray]:
    """(N, 2) pixel coordinates (column, row) of the largest colour blob, or None when none
    has MIN_BLOB_AREA pixels."""
    blobs = blobs_by_size(rgb)
    return blobs[0] if blobs else None


def blob_grasp(points: np.ndarray) -> tuple:
    """``(centre (2,), minor (2,), extent)``: centroid (px), unit minor axis (image column, row)
    and the blob's extent along it (px) of blob pixels ``points`` (N, 2)."""
    centre = points.mean(axis=0)
    centred = points - centre
    values, vectors = np.linalg.eigh(centred.T @ centred / len(points))
    minor = vectors[:, int(np.argmin(values))]
    across = centred @ minor
    return centre, minor, float(across.max() - across.min() + 1.0)


class BlobPlanner:
    """The image-only geometric baseline (see the module docstring): ``object_height`` (m),
    the height of the plane the grasp is deprojected to; ``margin`` (m) added to the opening."""

    name = 'baseline'

    def __init__(self, object_height: float = DEFAULT_OBJECT_HEIGHT,
                 margin: float = DEFAULT_MARGIN) -> None:
        self.object_height = float(object_height)
        self.margin = float(margin)

    def plan(self, view: View) -> Plan:
        # Only the largest blob unless failures are to be avoided (then the next largest).
        blobs = blobs_by_size(view.rgb)[:None if view.failed else 1]
        if not blobs:
            return Plan(None, 'no_blob')
        grasps = []
        for points in blobs:
            centre, minor, extent = blob_grasp(points)
            pixels = np.stack([centre, centre - minor * extent / 2,
                               centre + minor * extent / 2])
            world = self._to_plane(view.camera, pixels)
            if world is None:
                continue
            closing = world[2] - world[1]
            grasps.append(WorldGrasp(x=float(world[0, 0]), y=float(world[0, 1]),
                                     yaw=math.atan2(closing[1], closing[0]),
                                     opening=float(np.linalg.norm(closing[:2])) + self.margin,
                                     z=self.object_height))
        if not grasps:
            return Plan(None, 'no_plane_hit')
        return Plan(grasps[away_from_failures([(g.x, g.y) for g in grasps], view.failed)])

    def _to_plane(self, camera: SimCamera, pixels: np.ndarray) -> Optional[np.ndarray]:
        """World points (K, 3) where the rays of ``pixels`` (K, 2: column, row) meet the plane
        ``object_height`` above the table; None when a ray misses it."""
        u, v = pixels[:, 0], pixels[:, 1]
        depth = np.asarray(camera.plane_depth(u, v, self.object_height), dtype=np.float64)
        if not np.all(np.isfinite(depth)) or np.any(depth <= 0):
            return None
        return np.asarray(camera.deproject(u, v, depth), dtype=np.float64).reshape(-1, 3)
