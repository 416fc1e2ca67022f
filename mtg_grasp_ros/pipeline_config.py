"""The settings of :class:`mtg_grasp_ros.pipeline.GraspPipeline` and their validation (ROS-free).

:class:`PipelineConfig` holds what the node's parameters of the same names set (the node builds
it with :meth:`mtg_grasp_ros.node_parameters.NodeParameters.pipeline_config`, at configure and
for every live change); :meth:`PipelineConfig.validate` lists every problem in one
:class:`mtg_grasp_ros.backends.PipelineConfigError`.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Tuple

import numpy as np

from mtg_grasp_ros.backends import PipelineConfigError

DEPTH_SOURCES = ('plane', 'depth_topic')
APPROACHES = ('top_down', 'camera')
JAWS_OUTSIDE_VIEW = ('keep', 'last', 'drop')


@dataclass
class PipelineConfig:
    """Settings of :class:`GraspPipeline` (the node's parameters of the same names)."""

    top_k: int = 5
    min_distance: int = 10           # px of the network's output, between top-k peaks
    min_quality: float = 0.2
    sigma_quality: float = -1.0      # < 0: the model's metadata value; 0: no smoothing
    sigma_angle: float = -1.0
    sigma_width: float = -1.0
    crop_size: int = -1              # camera px; <= 0: min(width, height)
    crop_x: int = -1                 # < 0: centred
    crop_y: int = -1
    depth_source: str = 'plane'
    plane_point: Tuple[float, float, float] = (0.0, 0.0, 0.0)   # target frame
    plane_normal: Tuple[float, float, float] = (0.0, 0.0, 1.0)  # target frame, towards camera
    object_height: float = 0.0       # grasp centre this far above the plane, along the normal
    depth_window: int = 5            # odd side of the median window for depth_topic
    depth_min: float = 0.05
    depth_max: float = 10.0
    approach: str = 'top_down'
    rectified: bool = True           # False: undistort grasp pixels with CameraInfo's D
    device_postprocess: str = 'auto'  # auto (on CUDA only), always, never
    #: Grasps whose jaw rectangle (opening x jaw size) reaches outside the network's crop, where
    #: the camera cannot show that the finger has room (an object cut by the image edge):
    #: ``keep`` ranks them by quality like the others, ``last`` (default) puts them after every
    #: grasp whose jaws lie inside (used only when no such grasp is left), ``drop`` refuses them
    #: (which also refuses objects lying whole near the crop's edge; docs/grasp_bench.md).
    jaws_outside_view: str = 'last'
    #: Grasp centring (:mod:`mtg_grasp_ros.centring`): each grasp moves along its closing axis
    #: to the middle of the run of quality above this share of its own; 0 = off (the peaks as
    #: the paper reads them).
    centring_fraction: float = 0.3
    #: Jaw clearance (:mod:`mtg_grasp_ros.jaw_clearance`): how far (m) each finger reaches
    #: beyond an end of the published opening when the robot executes it (its controller's
    #: extra opening per side plus the finger's thickness); grasps whose fingers would land on
    #: another object go after every clear one. 0 = off.
    jaw_clearance: float = 0.02
    #: Quality above this share of a grasp's own, beyond its object, counts as another object
    #: under a finger (jaw clearance).
    clearance_fraction: float = 0.2
    #: The gripper's widest opening (m; 0 = unknown): a grasp whose opening is wider turns to
    #: its object's narrowest direction (:mod:`mtg_grasp_ros.reorientation`), with
    #: ``centring_fraction``'s notion of its object.
    max_opening: float = 0.0

    def validate(self) -> 'PipelineConfig':
        """This config, checked; raises :class:`PipelineConfigError` listing every problem."""
        problems = []
        if self.top_k < 1:
            problems.append('top_k must be >= 1')
        if self.min_distance < 1:
            problems.append('min_distance must be >= 1')
        if self.depth_source not in DEPTH_SOURCES:
            problems.append(f'depth_source must be one of {DEPTH_SOURCES}')
        if self.approach not in APPROACHES:
            problems.append(f'approach must be one of {APPROACHES}')
        if self.jaws_outside_view not in JAWS_OUTSIDE_VIEW:
            problems.append(f'jaws_outside_view must be one of {JAWS_OUTSIDE_VIEW}')
        if self.device_postprocess not in ('auto', 'always', 'never'):
            problems.append('device_postprocess must be auto, always or never')
        if self.depth_window < 1:
            problems.append('depth_window must be >= 1')
        if not 0 <= self.depth_min < self.depth_max:
            problems.append('need 0 <= depth_min < depth_max')
        normal = np.asarray(self.plane_normal, dtype=np.float64)
        if normal.shape != (3,) or not np.isfinite(normal).all() or np.linalg.norm(normal) < 1e-9:
            problems.append('plane_normal must be 3 finite numbers, not all zero')
        point = np.asarray(self.plane_point, dtype=np.float64)
        if point.shape != (3,) or not np.isfinite(point).all():
            problems.append('plane_point must be 3 finite numbers')
        if not math.isfinite(self.object_height):
            problems.append('object_height must be finite')
        if not 0.0 <= self.centring_fraction <= 0.99:
            problems.append('centring_fraction must be in [0, 0.99]')
        if not 0.0 <= self.jaw_clearance <= 1.0:
            problems.append('jaw_clearance must be in [0, 1] m')
        if not 0.0 < self.clearance_fraction <= 0.99:
            problems.append('clearance_fraction must be in (0, 0.99]')
        if not 0.0 <= self.max_opening <= 2.0:
            problems.append('max_opening must be in [0, 2] m')
        if problems:
            raise PipelineConfigError('; '.join(problems))
        return self

    @property
    def unit_normal(self) -> np.ndarray:
        """(3,) ``plane_normal`` scaled to length 1."""
        normal = np.asarray(self.plane_normal, dtype=np.float64)
        return normal / np.linalg.norm(normal)
