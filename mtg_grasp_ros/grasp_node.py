"""ROS 2 node ``grasp_detection_node``: camera images in, grasp poses in the robot's frame out.

A thin layer of glue around :class:`mtg_grasp_ros.pipeline.GraspPipeline`; see the node
section of README.md for topics, parameters and conventions. In short:

* subscribes ``image`` (sensor_msgs/Image), ``camera_info`` and -- only with
  ``depth_source: depth_topic`` -- ``depth`` (aligned to the colour image);
* publishes ``~/grasp_pose`` (PoseStamped), ``~/grasp`` (Float32MultiArray, layout in
  :data:`GRASP_ARRAY_FIELDS`), ``~/grasps`` (PoseArray, top-k, best first), ``~/markers``
  (MarkerArray) and ``~/debug_image`` (only computed while someone subscribes), all stamped with
  the image's stamp, in ``target_frame``;
* newest frame only: the image callback stores the latest message and wakes a worker thread; a
  frame that arrives before the previous one was taken is dropped (counted ``superseded``);
  frames the camera sent that never reached the callback (replaced in the keep-last-1 queue,
  lost in transport) are counted ``missed`` from DDS sequence numbers where rclpy provides them;
* every per-frame failure is caught, counted by reason and logged (throttled per reason); the
  node never dies on a bad message. A missing/corrupt model at start-up is one clear error line
  and exit code 1.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
import math
import os
from pathlib import Path
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from geometry_msgs.msg import Point, Pose, PoseArray, PoseStamped
import numpy as np
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import ColorRGBA, Float32MultiArray, MultiArrayDimension
from visualization_msgs.msg import Marker, MarkerArray

from mtg_grasp_ros.camera_model import CameraModel
from mtg_grasp_ros.delivery import DeliveryGaps, message_info_supported, transport_warning
from mtg_grasp_ros.image_conversion import (cv_bridge_available, image_to_depth, image_to_rgb)
from mtg_grasp_ros.pipeline import (APPROACHES, BACKENDS, DEPTH_SOURCES, describe_exception,
                                    DEVICES, FrameResult, Grasp3D, GraspPipeline, NoDepthError,
                                    PipelineConfig, PipelineConfigError, PRECISIONS,
                                    render_debug_image)
from mtg_grasp_ros.tracking import GraspTracker
from mtg_grasp_ros.transforms import (MissingTransformError, RigidTransform, StaticTransform,
                                      TransformError)

NODE_NAME = 'grasp_detection'
PACKAGE = 'mtg_grasp_ros'
#: The default model's stem, in share/mtg_grasp_ros/models/ (installed) or the repo's models/.
DEFAULT_MODEL_STEM = 'mtgcnn_depth_p'
#: Fields of one ``~/grasp`` Float32MultiArray (the first six follow GG-CNN's
#: ``[x, y, z, angle, width, depth_at_centre]``): position in target_frame (m), yaw of the
#: closing axis about target z (rad, [-pi/2, pi/2)), opening (m), camera z of the centre (m),
#: quality, camera pixel (u, v) of the centre, angle on screen (rad, CCW) and opening in pixels.
GRASP_ARRAY_FIELDS = ('x', 'y', 'z', 'yaw', 'width', 'depth', 'quality', 'u', 'v',
                      'image_angle', 'width_px')
#: Input topics (relative: remap them); ``depth`` only with ``depth_source: depth_topic``.
INPUT_TOPICS = ('image', 'camera_info', 'depth')
RELIABILITIES = ('auto', 'reliable', 'best_effort')
USE_TF = ('auto', 'true', 'false')
POSTPROCESS = ('auto', 'always', 'never')
LOG_THROTTLE_S = 5.0


class StartupError(RuntimeError):
    """The node cannot start (bad parameter, missing model, ...): one clear message."""


class NoCameraInfoError(ValueError):
    """An image arrived before any CameraInfo."""

    reason = 'no_camera_info'


# ------------------------------------------------------------------------------ parameters
@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: Any
    description: str
    range: Optional[Tuple[float, float]] = None
    choices: Optional[Sequence[str]] = None


PARAMETERS: Tuple[ParamSpec, ...] = (
    ParamSpec('model_path', '', 'deploy model: stem, one of its .json/.safetensors/.onnx files or '
              f'a directory; empty = the package default models/{DEFAULT_MODEL_STEM}'),
    ParamSpec('backend', 'auto', 'inference backend; auto = torch (channels_last on a CPU, the '
              'fastest here), onnx only when the model has no .safetensors', choices=BACKENDS),
    ParamSpec('device', 'auto', 'auto = CUDA when available; cuda fails at start-up without a '
              'GPU', choices=DEVICES),
    ParamSpec('threads', 0, 'CPU threads for inference (0 = library default)', (0, 256)),
    ParamSpec('precision', 'auto', 'network arithmetic: auto = bf16 on a CPU with hardware '
              'bfloat16 (AVX512-BF16/AMX; same held-out accuracy, half the inference time), '
              'else fp32; bf16 needs backend torch', choices=PRECISIONS),
    ParamSpec('device_postprocess', 'auto', 'smoothing/top-k on the torch device: auto = on '
              'CUDA only', choices=POSTPROCESS),
    ParamSpec('target_frame', 'base_link', 'frame of the published grasps; empty = the camera '
              'frame'),
    ParamSpec('camera_frame', '', 'override of the image header frame_id (empty = use it)'),
    ParamSpec('use_tf', 'auto', 'camera pose from TF (true), from camera_pose.* (false), or TF '
              'when tf2_ros is importable (auto)', choices=USE_TF),
    ParamSpec('tf_timeout', 0.1, 'seconds to wait for the transform at the image stamp',
              (0.0, 10.0)),
    ParamSpec('camera_pose.xyz', [0.0, 0.0, 0.5], 'static pose of the camera optical frame in '
              'target_frame (without TF): translation, m'),
    ParamSpec('camera_pose.rpy', [math.pi, 0.0, 0.0], 'static pose: roll, pitch, yaw (rad, '
              'tf2 setRPY); default looks straight down'),
    ParamSpec('camera_pose.quaternion', [0.0, 0.0, 0.0, 0.0], 'static pose: quaternion x, y, '
              'z, w; all zero = use rpy'),
    ParamSpec('depth_source', 'plane', 'plane = intersect the pixel ray with the support plane; '
              'depth_topic = aligned depth image', choices=DEPTH_SOURCES),
    ParamSpec('table_height', 0.0, 'the support plane passes through (0, 0, table_height) of '
              'target_frame, m', (-100.0, 100.0)),
    ParamSpec('plane_normal', [0.0, 0.0, 1.0], 'support plane normal in target_frame, pointing '
              'to the camera side'),
    ParamSpec('object_height', 0.0, 'grasp centre this far above the plane along its normal, m '
              '(about half the object height)', (-10.0, 10.0)),
    ParamSpec('depth_window', 5, 'side of the window (px) whose median valid depth is used',
              (1, 101)),
    ParamSpec('depth_min', 0.05, 'valid depth / plane distance lower bound, m', (0.0, 1000.0)),
    ParamSpec('depth_max', 10.0, 'valid depth / plane distance upper bound, m', (0.0, 1000.0)),
    ParamSpec('depth_slop', 0.05, 'max |stamp difference| between image and depth, s',
              (0.0, 10.0)),
    ParamSpec('rectified', True, 'true: the image is rectified; false: undistort grasp pixels '
              'with CameraInfo D (image_raw)'),
    ParamSpec('approach', 'top_down', 'approach direction: top_down = -z of target_frame; '
              'camera = along the optical axis', choices=APPROACHES),
    ParamSpec('reliability', 'auto', 'subscription reliability; auto = match the publishers '
              '(waits for one)', choices=RELIABILITIES),
    ParamSpec('qos_depth', 1, 'subscription queue depth (keep last)', (1, 100)),
    ParamSpec('sigma_quality', -1.0, 'Gaussian sigma (network px) for quality; -1 = model '
              'metadata, 0 = none', (-1.0, 100.0)),
    ParamSpec('sigma_angle', -1.0, 'Gaussian sigma for cos/sin 2phi; -1 = model metadata',
              (-1.0, 100.0)),
    ParamSpec('sigma_width', -1.0, 'Gaussian sigma for width; -1 = model metadata',
              (-1.0, 100.0)),
    ParamSpec('top_k', 5, 'grasps per frame in ~/grasps (1 = the single best pixel, as the paper)',
              (1, 100)),
    ParamSpec('min_distance', 10, 'minimum distance between top-k peaks, network px',
              (1, 1000)),
    ParamSpec('min_quality', 0.2, 'nothing is published when the best quality is below this',
              (-10.0, 10.0)),
    ParamSpec('crop_size', -1, 'side of the square crop in camera px; -1 = min(width, height)',
              (-1, 100000)),
    ParamSpec('crop_x', -1, 'left of the crop in camera px; -1 = centred', (-1, 100000)),
    ParamSpec('crop_y', -1, 'top of the crop in camera px; -1 = centred', (-1, 100000)),
    ParamSpec('tracking.enabled', False, 'prefer the grasp near the previous target'),
    ParamSpec('tracking.radius', 0.03, 'a candidate this close (m) continues the target',
              (0.0, 10.0)),
    ParamSpec('tracking.switch_margin', 0.1, 'switch only to a grasp better by this quality',
              (0.0, 10.0)),
    ParamSpec('tracking.timeout', 1.0, 'forget the target after this many seconds',
              (0.0, 3600.0)),
    ParamSpec('stats_period', 5.0, 'seconds between statistics log lines; 0 = off',
              (0.0, 3600.0)),
)
PARAMETER_NAMES = tuple(p.name for p in PARAMETERS)


def _convert(spec: ParamSpec, value: Any) -> Any:
    """A dynamically typed parameter value -> the type of its default, range-checked."""
    def number(v) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise StartupError(f'parameter {spec.name} must hold finite numbers, got {value!r}')
        return float(v)

    if spec.name == 'use_tf' and isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(spec.default, str):
        if not isinstance(value, str):
            raise StartupError(f'parameter {spec.name} must be a string, got {value!r}')
        return value.lower() if spec.choices else value
    if isinstance(spec.default, list):
        if isinstance(value, (str, bytes)) or not hasattr(value, '__len__'):
            raise StartupError(f'parameter {spec.name} must be a list of numbers, got {value!r}')
        return [number(v) for v in value]
    if isinstance(spec.default, float):
        value = number(value)
        if spec.range is not None and not spec.range[0] <= value <= spec.range[1]:
            raise StartupError(f'parameter {spec.name} = {value} is outside '
                               f'[{spec.range[0]}, {spec.range[1]}]')
    return value


def default_model_candidates() -> List[Path]:
    """Where the default model is looked for: the installed share directory, then the repo."""
    candidates = []
    try:
        from ament_index_python.packages import get_package_share_directory
        candidates.append(Path(get_package_share_directory(PACKAGE)) / 'models'
                          / DEFAULT_MODEL_STEM)
    except Exception:  # ament_index_python missing, or the package is not installed
        pass
    repo = Path(__file__).resolve().parents[1]
    if (repo / 'package.xml').is_file() or not candidates:  # a source checkout
        candidates.append(repo / 'models' / DEFAULT_MODEL_STEM)
    return candidates


def default_model_path() -> Path:
    """The first default-model candidate whose metadata exists (else the first candidate)."""
    candidates = default_model_candidates()
    for candidate in candidates:
        if candidate.with_suffix('.json').is_file():
            return candidate
    return candidates[0]


# ------------------------------------------------------------------------------ statistics
class FrameStatistics:
    """Thread-safe frame counters and latency windows of the node."""

    def __init__(self, window: int = 300) -> None:
        self.lock = threading.Lock()
        self.frames_in = 0
        self.missed = 0  # sent by the camera, never received (see mtg_grasp_ros.delivery)
        self.processed = 0
        self.published = 0
        self.no_grasp = 0
        self.debug_images = 0
        self.dropped: Counter = Counter()
        self.timings: Dict[str, deque] = {}
        self.window = window
        self.last_published: Optional[float] = None

    def add_time(self, name: str, seconds: float) -> None:
        with self.lock:
            self.timings.setdefault(name, deque(maxlen=self.window)).append(seconds)

    def drop(self, reason: str) -> int:
        with self.lock:
            self.dropped[reason] += 1
            return self.dropped[reason]

    def percentiles(self, name: str) -> Optional[Tuple[float, float]]:
        """``(p50, p95)`` in milliseconds of a timing window, or None when empty."""
        with self.lock:
            values = list(self.timings.get(name, ()))
        if not values:
            return None
        p50, p95 = np.percentile(np.asarray(values) * 1000.0, [50, 95])
        return float(p50), float(p95)

    def snapshot(self) -> Dict[str, Any]:
        with self.lock:
            return {'frames_in': self.frames_in, 'missed': self.missed,
                    'processed': self.processed,
                    'published': self.published, 'no_grasp': self.no_grasp,
                    'dropped': dict(self.dropped), 'debug_images': self.debug_images}

    def summary(self) -> str:
        s = self.snapshot()
        dropped = ', '.join(f'{k} {v}' for k, v in sorted(s['dropped'].items())) or 'none'
        parts = [f'frames in {s["frames_in"]}, processed {s["processed"]}, published '
                 f'{s["published"]}, no grasp >= min_quality {s["no_grasp"]}, dropped: {dropped}',
                 f'missed {s["missed"]} (sent, never received: replaced in the keep-last-1 '
                 f'queue or lost in transport)']
        for name, label in (('transport', 'stamp->receive'), ('inference', 'inference'),
                            ('pipeline', 'pipeline'),
                            ('latency', 'receive->publish'), ('age', 'stamp->publish')):
            p = self.percentiles(name)
            if p is not None:
                parts.append(f'{label} p50 {p[0]:.1f} ms / p95 {p[1]:.1f} ms')
        return '; '.join(parts)


# ------------------------------------------------------------------------------ TF
class TfTransformSource:
    """Camera poses from tf2 (Buffer + TransformListener with its own spin thread)."""

    def __init__(self, node: Node, tf2_ros) -> None:
        self._tf2_ros = tf2_ros
        self.buffer = tf2_ros.Buffer()
        self.listener = tf2_ros.TransformListener(self.buffer, node, spin_thread=True)

    def lookup(self, target_frame: str, source_frame: str, stamp, timeout: float
               ) -> RigidTransform:
        from rclpy.duration import Duration
        from rclpy.time import Time

        if target_frame == source_frame:
            return RigidTransform.identity()
        try:
            t = self.buffer.lookup_transform(target_frame, source_frame, Time.from_msg(stamp),
                                             timeout=Duration(seconds=timeout))
        except self._tf2_ros.TransformException as exc:
            raise MissingTransformError(
                f'no transform {target_frame!r} <- {source_frame!r} at the image stamp: '
                f'{exc}') from exc
        return RigidTransform.from_msg(t.transform)

    def close(self) -> None:
        unregister = getattr(self.listener, 'unregister', None)
        if unregister is not None:
            try:
                unregister()
            except Exception:
                pass


class StaticTransformSource:
    """The camera pose from the camera_pose.* parameters (no TF)."""

    def __init__(self, static: StaticTransform) -> None:
        self.static = static

    def lookup(self, target_frame: str, source_frame: str, stamp, timeout: float
               ) -> RigidTransform:
        if target_frame == source_frame:
            return RigidTransform.identity()
        return self.static.lookup(source_frame)

    def close(self) -> None:
        pass


def import_tf2_ros():
    """tf2_ros, or None when it is not installed (e.g. PyPI-only ROS wheels)."""
    try:
        import tf2_ros
    except Exception:
        return None
    return tf2_ros


# ------------------------------------------------------------------------------ the node
class GraspDetectionNode(Node):
    """See the module docstring; ``**kwargs`` go to :class:`rclpy.node.Node`."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        self.stats = FrameStatistics()
        self._lock = threading.Condition()
        self._pending: Optional[Tuple[Image, float]] = None
        self._stop = False
        self._worker: Optional[threading.Thread] = None
        self._camera: Optional[CameraModel] = None
        self._camera_error: Optional[Exception] = None
        self._camera_info_key = None
        self._depth_msgs: deque = deque(maxlen=10)
        self._last_log: Dict[str, float] = {}
        self._subscriptions_pending: Dict[str, Tuple[type, Callable]] = {}
        self._tf = None
        self._updater = None
        try:
            self._declare_parameters()
            self._read_parameters()
            self._load_pipeline()
            self._setup_transforms()
            self._setup_io()
        except StartupError:
            self.destroy_node()
            raise
        self._worker = threading.Thread(target=self._work, name='grasp_worker', daemon=True)
        self._worker.start()
        if self.p['stats_period'] > 0:
            self.create_timer(self.p['stats_period'], self._log_statistics)
        self._setup_diagnostics()
        warning = transport_warning(os.environ)
        if warning:
            self.get_logger().warning(warning)
        self.get_logger().info(
            f'ready: {self.pipeline.describe()}; model {self.model_path}; target frame '
            f'{self.target_frame or "(camera frame)"}; depth source {self.p["depth_source"]}; '
            f'image conversion {"cv_bridge" if cv_bridge_available() else "NumPy"}')

    # ---------------------------------------------------------------- start-up
    def _declare_parameters(self) -> None:
        for spec in PARAMETERS:
            descriptor = ParameterDescriptor(description=spec.description, read_only=True)
            # YAML and the command line type `0`, `[0, 0, 1]` and `true` as integers and bools:
            # accept them for float, float-array and use_tf parameters (converted when read).
            descriptor.dynamic_typing = (isinstance(spec.default, (float, list))
                                         or spec.name == 'use_tf')
            if spec.choices:
                descriptor.additional_constraints = 'one of: ' + ', '.join(spec.choices)
            if spec.range is not None and isinstance(spec.default, float):
                descriptor.floating_point_range = [FloatingPointRange(
                    from_value=float(spec.range[0]), to_value=float(spec.range[1]), step=0.0)]
            elif spec.range is not None and isinstance(spec.default, int):
                descriptor.integer_range = [IntegerRange(
                    from_value=int(spec.range[0]), to_value=int(spec.range[1]), step=1)]
            try:
                self.declare_parameter(spec.name, spec.default, descriptor)
            except Exception as exc:  # wrong type or out of range in the YAML / overrides
                raise StartupError(f'parameter {spec.name}: {exc}') from exc

    def _read_parameters(self) -> None:
        p: Dict[str, Any] = {}
        for spec in PARAMETERS:
            p[spec.name] = value = _convert(spec, self.get_parameter(spec.name).value)
            if spec.choices and value not in spec.choices:
                raise StartupError(f'parameter {spec.name} is {value!r}; choose one of '
                                   f'{", ".join(spec.choices)}')
        self.p = p
        self.target_frame = p['target_frame']
        try:
            self.config = PipelineConfig(
                top_k=p['top_k'], min_distance=p['min_distance'], min_quality=p['min_quality'],
                sigma_quality=p['sigma_quality'], sigma_angle=p['sigma_angle'],
                sigma_width=p['sigma_width'], crop_size=p['crop_size'], crop_x=p['crop_x'],
                crop_y=p['crop_y'], depth_source=p['depth_source'],
                plane_point=(0.0, 0.0, p['table_height']),
                plane_normal=tuple(p['plane_normal']), object_height=p['object_height'],
                depth_window=p['depth_window'], depth_min=p['depth_min'],
                depth_max=p['depth_max'], approach=p['approach'], rectified=p['rectified'],
                device_postprocess=p['device_postprocess']).validate()
        except (PipelineConfigError, TypeError, ValueError) as exc:
            raise StartupError(f'invalid parameters: {exc}') from exc
        self.tracker = (GraspTracker(p['tracking.radius'], p['tracking.switch_margin'],
                                     p['tracking.timeout']) if p['tracking.enabled'] else None)

    def _load_pipeline(self) -> None:
        from mtg_grasp_ros.deploy import DeployModelError

        path = self.p['model_path']
        if path:
            self.model_path = Path(path).expanduser()
        else:
            self.model_path = default_model_path()
        try:
            self.pipeline = GraspPipeline.from_deploy(
                self.model_path, backend=self.p['backend'], device=self.p['device'],
                threads=self.p['threads'], config=self.config, precision=self.p['precision'])
            self.pipeline.warm_up()
        except DeployModelError as exc:
            hint = ''
            if not path:
                hint = (' (the default model was looked for in: '
                        + ', '.join(str(c) for c in default_model_candidates())
                        + '; set model_path)')
            raise StartupError(f'cannot load the grasp model: {exc}{hint}') from exc
        except PipelineConfigError as exc:
            raise StartupError(f'cannot run the grasp model: {exc}') from exc
        except Exception as exc:  # e.g. the network fails on a blank input
            raise StartupError(f'the grasp model {self.model_path} fails to run: '
                               f'{type(exc).__name__}: {exc}') from exc

    def _setup_transforms(self) -> None:
        mode = self.p['use_tf']
        tf2_ros = import_tf2_ros() if mode in ('auto', 'true') else None
        if mode == 'true' and tf2_ros is None:
            raise StartupError('use_tf is true but tf2_ros cannot be imported; install '
                               'ros-$ROS_DISTRO-tf2-ros or set use_tf: false and camera_pose.*')
        if tf2_ros is not None:
            self._tf = TfTransformSource(self, tf2_ros)
            self.get_logger().info(f'camera pose from TF (timeout {self.p["tf_timeout"]} s)')
            return
        try:
            static = StaticTransform.from_parameters(
                self.target_frame, self.p['camera_frame'], self.p['camera_pose.xyz'],
                rpy=self.p['camera_pose.rpy'], quaternion=self.p['camera_pose.quaternion'])
        except TransformError as exc:
            raise StartupError(f'invalid camera_pose parameters: {exc}') from exc
        self._tf = StaticTransformSource(static)
        why = 'use_tf is false' if mode == 'false' else 'tf2_ros is not importable'
        self.get_logger().warning(
            f'{why}: using the static camera pose from the parameters camera_pose.* '
            f'(xyz {self.p["camera_pose.xyz"]}) for {self.target_frame!r} <- '
            f'{self.p["camera_frame"] or "the image frame"}')

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
        self._gaps = DeliveryGaps()
        on_image = self._on_image_with_info if message_info_supported() else self._on_image
        topics: Dict[str, Tuple[type, Callable]] = {
            camera_info: (CameraInfo, self._on_camera_info), image: (Image, on_image)}
        if self.p['depth_source'] == 'depth_topic':
            topics[depth] = (Image, self._on_depth)
        self.subs: Dict[str, Any] = {}
        if self.p['reliability'] == 'auto':
            self._subscriptions_pending = dict(topics)
            self._auto_since = time.monotonic()
            self._auto_qos_timer = self.create_timer(0.5, self._create_auto_subscriptions)
            self.get_logger().info('reliability auto: waiting for publishers on '
                                   + ', '.join(self._resolve(t) for t in topics))
        else:
            reliability = (ReliabilityPolicy.RELIABLE if self.p['reliability'] == 'reliable'
                           else ReliabilityPolicy.BEST_EFFORT)
            for topic, (msg_type, callback) in topics.items():
                self._subscribe(topic, msg_type, callback, reliability)

    def _setup_diagnostics(self) -> None:
        try:
            import diagnostic_updater
        except Exception:
            return
        try:
            self._updater = diagnostic_updater.Updater(self)
            self._updater.setHardwareID('grasp_detection')
            self._updater.add('grasp detection', self._diagnose)
        except Exception as exc:
            self.get_logger().warning(f'diagnostics disabled: {exc}')
            self._updater = None

    # ---------------------------------------------------------------- subscriptions
    def _resolve(self, topic: str) -> str:
        resolve = getattr(self, 'resolve_topic_name', None)
        try:
            return resolve(topic) if resolve is not None else topic
        except Exception:
            return topic

    def _qos(self, reliability: ReliabilityPolicy) -> QoSProfile:
        return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=self.p['qos_depth'],
                          reliability=reliability, durability=DurabilityPolicy.VOLATILE)

    def _subscribe(self, topic: str, msg_type: type, callback: Callable,
                   reliability: ReliabilityPolicy) -> None:
        self.subs[topic] = self.create_subscription(msg_type, topic, callback,
                                                    self._qos(reliability))
        self.get_logger().info(f'subscribed to {self._resolve(topic)} '
                               f'({reliability.name.lower()}, keep last {self.p["qos_depth"]})')

    def _create_auto_subscriptions(self) -> None:
        """reliability auto: subscribe like the publishers (as camera_calibration does)."""
        for topic in list(self._subscriptions_pending):
            infos = self.get_publishers_info_by_topic(self._resolve(topic))
            if not infos:
                continue
            policies = {info.qos_profile.reliability for info in infos}
            # A best-effort subscriber matches every publisher; a reliable one only reliable ones.
            reliability = (ReliabilityPolicy.RELIABLE if policies == {ReliabilityPolicy.RELIABLE}
                           else ReliabilityPolicy.BEST_EFFORT)
            msg_type, callback = self._subscriptions_pending.pop(topic)
            self._subscribe(topic, msg_type, callback, reliability)
        if not self._subscriptions_pending:
            self._auto_qos_timer.cancel()
        elif time.monotonic() - self._auto_since > LOG_THROTTLE_S:
            self._warn('waiting', 'reliability auto: no publisher yet on '
                       + ', '.join(self._resolve(t) for t in self._subscriptions_pending))

    def _on_camera_info(self, msg: CameraInfo) -> None:
        key = (msg.width, msg.height, tuple(msg.k), tuple(msg.p), tuple(msg.d), tuple(msg.r),
               msg.distortion_model, msg.binning_x, msg.binning_y, msg.roi.x_offset,
               msg.roi.y_offset, msg.roi.width, msg.roi.height)
        if key == self._camera_info_key:
            return
        self._camera_info_key = key
        try:
            self._camera, self._camera_error = CameraModel.from_msg(msg), None
        except ValueError as exc:
            self._camera, self._camera_error = None, exc

    def _on_image(self, msg: Image) -> None:
        now = time.monotonic()
        with self._lock:
            superseded = self._pending is not None
            self._pending = (msg, now)
            self._lock.notify()
        with self.stats.lock:
            self.stats.frames_in += 1
            if superseded:
                self.stats.dropped['superseded'] += 1

    def _on_image_with_info(self, msg: Image, info) -> None:
        """Iron and later: the message info numbers the camera's frames (see delivery.py)."""
        missed = self._gaps.update(info)
        if missed:
            with self.stats.lock:
                self.stats.missed += missed
        source = info.get('source_timestamp') if info else None
        if source:
            self.stats.add_time('transport', max(0.0, time.time() - source * 1e-9))
        self._on_image(msg)

    def _on_depth(self, msg: Image) -> None:
        self._depth_msgs.append(msg)

    # ---------------------------------------------------------------- worker
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
                reason, text = describe_exception(exc)
                count = self.stats.drop(reason)
                self._warn(reason, f'frame skipped ({reason}, {count} so far): {text}')

    def _process(self, msg: Image, received: float) -> None:
        camera = self._camera
        if camera is None:
            error = self._camera_error
            if error is not None:
                raise type(error)(str(error))
            raise NoCameraInfoError('no CameraInfo received yet on '
                                    + self._resolve('camera_info'))
        rgb = image_to_rgb(msg)
        camera_frame = self.p['camera_frame'] or msg.header.frame_id
        target_frame = self.target_frame or camera_frame
        transform = self._tf.lookup(target_frame, camera_frame, msg.header.stamp,
                                    self.p['tf_timeout'])
        depth = None
        if self.p['depth_source'] == 'depth_topic':
            depth = image_to_depth(self._depth_for(msg.header.stamp))
        want_debug = self.debug_pub.get_subscription_count() > 0
        result = self.pipeline.process(rgb, camera, transform, depth=depth,
                                       want_maps=want_debug)
        self.stats.add_time('inference', result.timings.get('inference', 0.0))
        self.stats.add_time('pipeline', result.timings.get('total', 0.0))
        if want_debug:
            self._publish_debug(msg, result, camera_frame)
        if not result.grasps:
            with self.stats.lock:
                self.stats.processed += 1
                self.stats.no_grasp += 1
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
        with self.stats.lock:
            self.stats.processed += 1
            self.stats.published += 1
            self.stats.last_published = done

    def _depth_for(self, stamp) -> Image:
        """The buffered depth message closest in time to ``stamp`` (within depth_slop)."""
        t = stamp.sec + stamp.nanosec * 1e-9
        best, best_dt = None, math.inf
        for m in list(self._depth_msgs):
            dt = abs(m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 - t)
            if dt < best_dt:
                best, best_dt = m, dt
        if best is None:
            raise NoDepthError('no depth image received yet on ' + self._resolve('depth'))
        if best_dt > self.p['depth_slop']:
            raise NoDepthError(f'no depth image within depth_slop {self.p["depth_slop"]} s of '
                               f'the colour image (closest {best_dt:.3f} s)')
        return best

    # ---------------------------------------------------------------- output
    def _publish(self, stamp, frame: str, grasps: List[Grasp3D], index: int) -> None:
        target = grasps[index]
        pose = PoseStamped()
        pose.header.stamp, pose.header.frame_id = stamp, frame
        pose.pose = to_pose(target)
        self.pose_pub.publish(pose)
        self.array_pub.publish(grasp_array(target))
        poses = PoseArray()
        poses.header = pose.header
        poses.poses = [to_pose(g) for g in grasps]
        self.poses_pub.publish(poses)
        self.marker_pub.publish(grasp_markers(grasps, index, pose.header))

    def _publish_debug(self, msg: Image, result: FrameResult, frame: str) -> None:
        overlay = render_debug_image(result)
        if overlay is None:
            return
        out = Image()
        out.header.stamp, out.header.frame_id = msg.header.stamp, frame
        out.height, out.width = overlay.shape[:2]
        out.encoding, out.is_bigendian, out.step = 'rgb8', 0, overlay.shape[1] * 3
        out.data = overlay.tobytes()
        self.debug_pub.publish(out)
        with self.stats.lock:
            self.stats.debug_images += 1

    # ---------------------------------------------------------------- logging, diagnostics
    def _warn(self, key: str, text: str) -> None:
        now = time.monotonic()
        if now - self._last_log.get(key, -math.inf) >= LOG_THROTTLE_S:
            self._last_log[key] = now
            self.get_logger().warning(text)

    def _log_statistics(self) -> None:
        self.get_logger().info(self.stats.summary())

    def _diagnose(self, stat):
        from diagnostic_msgs.msg import DiagnosticStatus

        s = self.stats.snapshot()
        last = self.stats.last_published
        recent = last is not None and time.monotonic() - last < max(5.0, self.p['stats_period'])
        if s['frames_in'] == 0:
            stat.summary(DiagnosticStatus.WARN, 'no images received')
        elif not recent:
            stat.summary(DiagnosticStatus.WARN, 'no grasp published recently')
        else:
            stat.summary(DiagnosticStatus.OK, 'publishing grasps')
        for key in ('frames_in', 'missed', 'processed', 'published', 'no_grasp'):
            stat.add(key, str(s[key]))
        for reason, count in sorted(s['dropped'].items()):
            stat.add(f'dropped {reason}', str(count))
        for name in ('transport', 'inference', 'pipeline', 'latency', 'age'):
            p = self.stats.percentiles(name)
            if p is not None:
                stat.add(f'{name} p50 ms', f'{p[0]:.1f}')
        return stat

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
        self._shutdown_worker()
        super().destroy_node()


# ------------------------------------------------------------------------------ messages
def to_pose(grasp: Grasp3D) -> Pose:
    pose = Pose()
    x, y, z = (float(v) for v in grasp.position)
    pose.position.x, pose.position.y, pose.position.z = x, y, z
    qx, qy, qz, qw = (float(v) for v in grasp.orientation)
    pose.orientation.x, pose.orientation.y = qx, qy
    pose.orientation.z, pose.orientation.w = qz, qw
    return pose


def grasp_array(grasp: Grasp3D) -> Float32MultiArray:
    """``~/grasp``: one grasp as the fields of :data:`GRASP_ARRAY_FIELDS`."""
    msg = Float32MultiArray()
    n = len(GRASP_ARRAY_FIELDS)
    msg.layout.dim = [MultiArrayDimension(label=','.join(GRASP_ARRAY_FIELDS), size=n, stride=n)]
    msg.layout.data_offset = 0
    values = [*grasp.position, grasp.yaw, grasp.width_m, grasp.depth, grasp.quality,
              grasp.pixel.col, grasp.pixel.row, grasp.pixel.angle, grasp.pixel.width]
    msg.data = [float(v) for v in values]
    return msg


def grasp_markers(grasps: Sequence[Grasp3D], target: int, header) -> MarkerArray:
    """RViz markers: per grasp the closing line with two jaws (LINE_LIST) and an approach
    arrow; the target green, the others yellow. A DELETEALL first clears the last frame's."""
    from builtin_interfaces.msg import Duration

    markers = MarkerArray()
    clear = Marker()
    clear.header = header
    clear.action = Marker.DELETEALL
    markers.markers.append(clear)
    for i, g in enumerate(grasps):
        colour = ColorRGBA(r=0.0, g=1.0, b=0.0, a=1.0) if i == target else ColorRGBA(
            r=1.0, g=1.0, b=0.0, a=float(np.clip(0.3 + 0.7 * g.quality, 0.3, 1.0)))
        jaw = g.rotation[:, 1] * max(g.width_m / 4.0, 0.005)
        a, b = g.jaw_points
        lines = Marker()
        lines.header, lines.ns, lines.id = header, 'grasp', i
        lines.type, lines.action = Marker.LINE_LIST, Marker.ADD
        lines.pose.orientation.w = 1.0
        lines.scale.x = 0.003
        lines.color = colour
        lines.lifetime = Duration(sec=1)
        lines.points = [_point(p) for p in (a, b, a - jaw, a + jaw, b - jaw, b + jaw)]
        arrow = Marker()
        arrow.header, arrow.ns, arrow.id = header, 'approach', i
        arrow.type, arrow.action = Marker.ARROW, Marker.ADD
        arrow.pose.orientation.w = 1.0
        arrow.scale.x, arrow.scale.y, arrow.scale.z = 0.004, 0.008, 0.01
        arrow.color = colour
        arrow.lifetime = Duration(sec=1)
        arrow.points = [_point(g.position - g.approach * 0.08), _point(g.position)]
        markers.markers.extend([lines, arrow])
    return markers


def _point(p) -> Point:
    return Point(x=float(p[0]), y=float(p[1]), z=float(p[2]))


# ------------------------------------------------------------------------------ main
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
