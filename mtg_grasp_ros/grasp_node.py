"""ROS 2 node ``grasp_detection_node``: camera images in, grasp poses in the robot's frame out.

The wiring around :class:`mtg_grasp_ros.pipeline.GraspPipeline` and the worker thread that
feeds it. Its parts live beside it: parameters in :mod:`mtg_grasp_ros.node_parameters`,
subscriptions, QoS, CameraInfo and depth in :mod:`mtg_grasp_ros.node_inputs`, the camera pose
in :mod:`mtg_grasp_ros.transform_sources`, output messages in
:mod:`mtg_grasp_ros.grasp_messages`, counters in :mod:`mtg_grasp_ros.node_statistics`. See
the node section of README.md for topics, parameters and conventions. In short:

* subscribes ``image`` (sensor_msgs/Image), ``camera_info`` and -- only with
  ``depth_source: depth_topic`` -- ``depth`` (aligned to the colour image);
* publishes ``~/grasp_pose`` (PoseStamped), ``~/grasp`` (Float32MultiArray, layout in
  :data:`mtg_grasp_ros.grasp_messages.GRASP_ARRAY_FIELDS`), ``~/grasps`` (PoseArray, top-k, best
  first), ``~/markers`` (MarkerArray) and ``~/debug_image`` (only computed while someone
  subscribes), all stamped with the image's stamp, in ``target_frame``;
* newest frame only: the image callback stores the latest message and wakes a worker thread; a
  frame that arrives before the previous one was taken is dropped (counted ``superseded``);
  frames the camera sent that never reached the callback (replaced in the keep-last-1 queue,
  lost in transport) are counted ``missed`` from DDS sequence numbers where rclpy provides them;
* every per-frame failure is caught, counted by reason and logged (throttled per reason); the
  node never dies on a bad message. A missing/corrupt model at start-up is one clear error line
  and exit code 1.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
import sys
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

from geometry_msgs.msg import PoseArray, PoseStamped
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Float32MultiArray
from visualization_msgs.msg import MarkerArray

from mtg_grasp_ros.debug_image import render_debug_image
from mtg_grasp_ros.delivery import DeliveryGaps, message_info_supported, transport_warning
from mtg_grasp_ros.deploy import default_model_candidates, default_model_path, DeployModelError
from mtg_grasp_ros.grasp_messages import (debug_image_message, grasp_array, grasp_markers,
                                          to_pose)
from mtg_grasp_ros.image_conversion import image_to_depth, image_to_rgb
from mtg_grasp_ros.node_inputs import (CameraInfoCache, DepthBuffer, InputSubscriptions,
                                       resolve_topic, steady_clock)
from mtg_grasp_ros.node_parameters import (declare_parameters, NodeParameters,
                                           read_parameters, StartupError)
from mtg_grasp_ros.node_statistics import FrameStatistics
from mtg_grasp_ros.pipeline import (describe_exception, FrameResult, Grasp3D, GraspPipeline,
                                    PipelineConfigError)
from mtg_grasp_ros.tracking import GraspTracker
from mtg_grasp_ros.transform_sources import transform_source

NODE_NAME = 'grasp_detection'
#: Input topics (relative: remap them); ``depth`` only with ``depth_source: depth_topic``.
INPUT_TOPICS = ('image', 'camera_info', 'depth')
LOG_THROTTLE_S = 5.0

__all__ = ['GraspDetectionNode', 'INPUT_TOPICS', 'main', 'NODE_NAME', 'StartupError']


class GraspDetectionNode(Node):
    """See the module docstring; ``**kwargs`` go to :class:`rclpy.node.Node`.

    Raises :class:`StartupError` (after destroying itself) when it cannot start.
    """

    def __init__(self, node_name: str = NODE_NAME, **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        self.stats = FrameStatistics()
        self._lock = threading.Condition()
        self._pending: Optional[Tuple[Image, float]] = None
        self._stop = False
        self._worker: Optional[threading.Thread] = None
        self._last_log: Dict[str, float] = {}
        self._tf = None
        self._updater = None
        try:
            declare_parameters(self)
            self.params: NodeParameters = read_parameters(
                lambda name: self.get_parameter(name).value)
            self.target_frame = self.params.target_frame
            try:
                self.config = self.params.pipeline_config()
            except (PipelineConfigError, TypeError, ValueError) as exc:
                raise StartupError(f'invalid parameters: {exc}') from exc
            tracking = self.params.tracking
            self.tracker = (GraspTracker(tracking.radius, tracking.switch_margin,
                                         tracking.timeout) if tracking.enabled else None)
            self._load_pipeline()
            self._tf = transform_source(self, self.params)
            self._setup_io()
        except StartupError:
            self.destroy_node()
            raise
        self._worker = threading.Thread(target=self._work, name='grasp_worker', daemon=True)
        self._worker.start()
        if self.params.stats_period > 0:
            self.create_timer(self.params.stats_period, self._log_statistics,
                              clock=steady_clock())
        self._setup_diagnostics()
        for warning in (transport_warning(os.environ), self.params.approach_note):
            if warning:
                self.get_logger().warning(warning)
        self.get_logger().info(
            f'ready: {self.pipeline.describe()}; model {self.model_path}; target frame '
            f'{self.target_frame or "(camera frame)"}; depth source {self.params.depth_source}; '
            f'image conversion NumPy (validated; README "Image conversion")')

    # ---------------------------------------------------------------- start-up
    def _load_pipeline(self) -> None:
        p = self.params
        self.model_path = Path(p.model_path).expanduser() if p.model_path else (
            default_model_path())
        try:
            self.pipeline = GraspPipeline.from_deploy(
                self.model_path, backend=p.backend, device=p.device, threads=p.threads,
                config=self.config, precision=p.precision)
            self.pipeline.warm_up()
        except DeployModelError as exc:
            hint = ''
            if not p.model_path:
                hint = (' (the default model was looked for in: '
                        + ', '.join(str(c) for c in default_model_candidates())
                        + '; set model_path)')
            raise StartupError(f'cannot load the grasp model: {exc}{hint}') from exc
        except PipelineConfigError as exc:
            raise StartupError(f'cannot run the grasp model: {exc}') from exc
        except Exception as exc:  # e.g. the network fails on a blank input
            raise StartupError(f'the grasp model {self.model_path} fails to run: '
                               f'{type(exc).__name__}: {exc}') from exc

    def _setup_io(self) -> None:
        out = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                         reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.VOLATILE)
        self.pose_pub = self.create_publisher(PoseStamped, '~/grasp_pose', out)
        self.array_pub = self.create_publisher(Float32MultiArray, '~/grasp', out)
        self.poses_pub = self.create_publisher(PoseArray, '~/grasps', out)
        self.marker_pub = self.create_publisher(MarkerArray, '~/markers', out)
        self.debug_pub = self.create_publisher(Image, '~/debug_image', out)
        image, camera_info, depth = INPUT_TOPICS
        self._camera_info = CameraInfoCache(resolve_topic(self, camera_info))
        self._depth = DepthBuffer(resolve_topic(self, depth), self.params.depth_slop)
        self._gaps = DeliveryGaps()
        on_image = self._on_image_with_info if message_info_supported() else self._on_image
        topics: Dict[str, Tuple[type, Callable]] = {
            camera_info: (CameraInfo, self._camera_info.update), image: (Image, on_image)}
        if self.params.depth_source == 'depth_topic':
            topics[depth] = (Image, self._depth.add)
        self._inputs = InputSubscriptions(self, topics, self.params.reliability,
                                          self.params.qos_depth, self._warn)
        self.subs = self._inputs.subs

    def _setup_diagnostics(self) -> None:
        try:
            import diagnostic_updater
        except Exception:
            return
        try:
            self._updater = diagnostic_updater.Updater(self)
            self._updater.setHardwareID('grasp_detection')
            self._updater.add('grasp detection',
                              lambda stat: self.stats.diagnose(stat, self.params.stats_period))
        except Exception as exc:
            self.get_logger().warning(f'diagnostics disabled: {exc}')
            self._updater = None

    # ---------------------------------------------------------------- worker
    def _on_image(self, msg: Image) -> None:
        now = time.monotonic()
        with self._lock:
            superseded = self._pending is not None
            self._pending = (msg, now)
            self._lock.notify()
        self.stats.count_received(superseded)

    def _on_image_with_info(self, msg: Image, info) -> None:
        """Iron and later: the message info numbers the camera's frames (see delivery.py)."""
        self.stats.count_missed(self._gaps.update(info))
        source = info.get('source_timestamp') if info else None
        if source:
            self.stats.add_time('transport', max(0.0, time.time() - source * 1e-9))
        self._on_image(msg)

    def _work(self) -> None:
        while True:
            with self._lock:
                while self._pending is None and not self._stop:
                    self._lock.wait(0.5)
                if self._stop:
                    return
                msg, received = self._pending
                self._pending = None
            try:
                self._process(msg, received)
            except Exception as exc:  # never let the worker die
                if not self.context.ok():  # shut down (Ctrl-C) mid-frame: nothing to publish to
                    return
                reason, text = describe_exception(exc)
                count = self.stats.drop(reason)
                self._warn(reason, f'frame skipped ({reason}, {count} so far): {text}')

    def _process(self, msg: Image, received: float) -> None:
        camera = self._camera_info.camera()
        rgb = image_to_rgb(msg)
        camera_frame = self.params.camera_frame or msg.header.frame_id
        target_frame = self.target_frame or camera_frame
        transform = self._tf.lookup(target_frame, camera_frame, msg.header.stamp,
                                    self.params.tf_timeout)
        depth = None
        if self.params.depth_source == 'depth_topic':
            depth = image_to_depth(self._depth.wait_for(msg.header.stamp, msg.header.frame_id))
        want_debug = self.debug_pub.get_subscription_count() > 0
        result = self.pipeline.process(rgb, camera, transform, depth=depth,
                                       want_maps=want_debug)
        self.stats.add_time('inference', result.timings.get('inference', 0.0))
        self.stats.add_time('pipeline', result.timings.get('total', 0.0))
        if want_debug:
            self._publish_debug(msg, result, camera_frame)
        if not result.grasps:
            self.stats.count_no_grasp()
            return
        stamp_s = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        index = 0
        if self.tracker is not None:
            index = self.tracker.select([(g.position, g.quality) for g in result.grasps],
                                        stamp_s)
        self._publish(msg.header.stamp, target_frame, result.grasps, index)
        done = time.monotonic()
        self.stats.add_time('latency', done - received)
        now = self.get_clock().now().nanoseconds * 1e-9
        if stamp_s > 0:
            self.stats.add_time('age', max(0.0, now - stamp_s))
        # A frame is counted once its outcome is final, so readers of the statistics never
        # see it processed but not yet published.
        self.stats.count_published(done)

    # ---------------------------------------------------------------- output
    def _publish(self, stamp, frame: str, grasps: List[Grasp3D], index: int) -> None:
        pose = PoseStamped()
        pose.header.stamp, pose.header.frame_id = stamp, frame
        pose.pose = to_pose(grasps[index])
        self.pose_pub.publish(pose)
        self.array_pub.publish(grasp_array(grasps[index]))
        poses = PoseArray()
        poses.header = pose.header
        poses.poses = [to_pose(g) for g in grasps]
        self.poses_pub.publish(poses)
        self.marker_pub.publish(grasp_markers(grasps, index, pose.header))

    def _publish_debug(self, msg: Image, result: FrameResult, frame: str) -> None:
        overlay = render_debug_image(result)
        if overlay is None:
            return
        self.debug_pub.publish(debug_image_message(overlay, msg.header.stamp, frame))
        self.stats.count_debug_image()

    def _warn(self, key: str, text: str) -> None:
        """A warning, at most one per LOG_THROTTLE_S for each ``key``."""
        now = time.monotonic()
        if now - self._last_log.get(key, -math.inf) >= LOG_THROTTLE_S:
            self._last_log[key] = now
            self.get_logger().warning(text)

    def _log_statistics(self) -> None:
        self.get_logger().info(self.stats.summary())

    # ---------------------------------------------------------------- shutdown
    def _shutdown_worker(self) -> None:
        with self._lock:
            self._stop = True
            self._lock.notify_all()
        worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout=5.0)
        if self._tf is not None:
            self._tf.close()
            self._tf = None

    def destroy_node(self) -> None:
        """Stop the worker thread and the TF listener, then destroy the node."""
        self._shutdown_worker()
        super().destroy_node()


def main(args=None) -> int:
    """Console script ``grasp_detection_node``; returns the exit code (1: start-up failed)."""
    rclpy.init(args=args)
    node = None
    code = 0
    try:
        node = GraspDetectionNode()
        rclpy.spin(node)
    except StartupError as exc:
        rclpy.logging.get_logger(NODE_NAME).fatal(f'cannot start: {exc}')
        code = 1
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == '__main__':
    sys.exit(main())
