"""What the configured node has and does per frame: the warm model, the camera pose source, the
CameraInfo and depth caches, the tracker and the outputs, and one frame through all of them.

:func:`load_pipeline` loads and warms the model (every failure one clear
:class:`mtg_grasp_ros.node_parameters.StartupError`). :class:`FrameProcessor` is made by the
node's configure transition and closed by cleanup: its :meth:`FrameProcessor.process` runs in
the worker thread (:mod:`mtg_grasp_ros.frame_worker`) and raises the per-frame errors the node
counts by ``reason``. Live parameters reach it as one ``(NodeParameters, PipelineConfig)`` pair
in :attr:`FrameProcessor.settings`, replaced as a whole by the node's parameter callback and
applied by :meth:`FrameProcessor.process` at the start of the next frame, in the worker thread:
the pipeline and the tracker never change in the middle of a frame.
"""

from __future__ import annotations

from pathlib import Path
import time
from typing import Callable, Tuple

from sensor_msgs.msg import Image

from mtg_grasp_ros.debug_image import render_debug_image
from mtg_grasp_ros.deploy import default_model_candidates, default_model_path, DeployModelError
from mtg_grasp_ros.image_conversion import image_to_depth, image_to_rgb
from mtg_grasp_ros.node_inputs import CameraInfoCache, DepthBuffer, resolve_topic
from mtg_grasp_ros.node_outputs import GraspOutputs
from mtg_grasp_ros.node_parameters import NodeParameters, StartupError
from mtg_grasp_ros.node_statistics import FrameStatistics
from mtg_grasp_ros.pipeline import GraspPipeline, PipelineConfig, PipelineConfigError
from mtg_grasp_ros.tracking import GraspTracker
from mtg_grasp_ros.transform_sources import transform_source


def load_pipeline(params: NodeParameters, config: PipelineConfig) -> Tuple[GraspPipeline, Path]:
    """``(pipeline, model path)``: the model of ``params.model_path`` (empty: the package
    default) on its backend, device and precision, run once on a blank input.

    Raises :class:`StartupError` naming the file and the problem (missing, corrupt, wrong
    hash, impossible backend/device, a network that fails to run).
    """
    p = params
    path = Path(p.model_path).expanduser() if p.model_path else default_model_path()
    try:
        pipeline = GraspPipeline.from_deploy(path, backend=p.backend, device=p.device,
                                             threads=p.threads, config=config,
                                             precision=p.precision)
        pipeline.warm_up()
    except DeployModelError as exc:
        hint = ''
        if not p.model_path:
            hint = (' (the default model was looked for in: '
                    + ', '.join(str(c) for c in default_model_candidates()) + '; set model_path)')
        raise StartupError(f'cannot load the grasp model: {exc}{hint}') from exc
    except PipelineConfigError as exc:
        raise StartupError(f'cannot run the grasp model: {exc}') from exc
    except Exception as exc:  # e.g. the network fails on a blank input
        raise StartupError(f'the grasp model {path} fails to run: {type(exc).__name__}: '
                           f'{exc}') from exc
    return pipeline, path


class FrameProcessor:
    """The configured node's resources (see the module docstring) on ``node``.

    ``topics``: the node's relative ``(camera_info, depth)`` topic names; ``stats``: its
    counters; ``clock_now``: its clock in seconds (for the ``age`` window). Raises
    :class:`StartupError` when the model or the camera pose source cannot be set up.
    """

    def __init__(self, node, params: NodeParameters, config: PipelineConfig,
                 topics: Tuple[str, str], stats: FrameStatistics,
                 clock_now: Callable[[], float]) -> None:
        self.pipeline, self.model_path = load_pipeline(params, config)
        self.settings: Tuple[NodeParameters, PipelineConfig] = (params, config)
        self._applied = config
        tracking = params.tracking
        self.tracker = (GraspTracker(tracking.radius, tracking.switch_margin, tracking.timeout)
                        if tracking.enabled else None)
        self.stats, self.clock_now = stats, clock_now
        self.tf = transform_source(node, params)
        self.camera_info = CameraInfoCache(resolve_topic(node, topics[0]))
        self.depth = DepthBuffer(resolve_topic(node, topics[1]), params.depth_slop)
        self.outputs = GraspOutputs(node)

    def close(self) -> None:
        """Destroy the outputs, stop the TF listener, drop the model."""
        self.outputs.destroy()
        self.tf.close()
        self.pipeline = None

    def _apply(self, params: NodeParameters, config: PipelineConfig) -> None:
        """New live settings, between frames: the pipeline's and the tracker's."""
        self.pipeline.configure(config)
        tracking = params.tracking
        if not tracking.enabled:
            self.tracker = None
        elif self.tracker is None:
            self.tracker = GraspTracker(tracking.radius, tracking.switch_margin,
                                        tracking.timeout)
        else:
            self.tracker.configure(tracking.radius, tracking.switch_margin, tracking.timeout)
        self._applied = config

    def process(self, msg: Image, received: float) -> None:
        """One camera frame (``received``: its time.monotonic() in the callback): grasps on
        every output, counted in the statistics; raises the per-frame errors."""
        params, config = self.settings   # one read: a consistent pair
        if config is not self._applied:
            self._apply(params, config)
        camera = self.camera_info.camera()
        rgb = image_to_rgb(msg)
        camera_frame = params.camera_frame or msg.header.frame_id
        target_frame = params.target_frame or camera_frame
        transform = self.tf.lookup(target_frame, camera_frame, msg.header.stamp,
                                   params.tf_timeout)
        depth = None
        if params.depth_source == 'depth_topic':
            depth = image_to_depth(self.depth.wait_for(msg.header.stamp, msg.header.frame_id))
        want_debug = self.outputs.wants_debug()
        result = self.pipeline.process(rgb, camera, transform, depth=depth,
                                       want_maps=want_debug)
        self.stats.add_time('inference', result.timings.get('inference', 0.0))
        self.stats.add_time('pipeline', result.timings.get('total', 0.0))
        overlay = render_debug_image(result) if want_debug else None
        if overlay is not None:
            self.outputs.publish_debug(overlay, msg.header.stamp, camera_frame)
            self.stats.count_debug_image()
        if not result.grasps:
            self.stats.count_no_grasp()
            return
        stamp_s = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        index, ids = 0, list(range(len(result.grasps)))  # without tracking: the rank
        if self.tracker is not None:
            index, ids = self.tracker.track(
                [(g.position, g.quality) for g in result.grasps], stamp_s)
        self.outputs.publish(msg.header.stamp, target_frame, result.grasps, index,
                             [str(i) for i in ids], params.finger_depth)
        done = time.monotonic()
        self.stats.add_time('latency', done - received)
        if stamp_s > 0:
            self.stats.add_time('age', max(0.0, self.clock_now() - stamp_s))
        # A frame is counted once its outcome is final, so readers of the statistics never
        # see it processed but not yet published.
        self.stats.count_published(done)
