"""The node's parameters: one declarative table, declared on the node, read into frozen objects.

The table is :class:`NodeParameters` itself: each field is one ROS parameter with its default,
description, and the range (numbers) or choices (strings) the node accepts; the fields of the
nested :class:`CameraPose` and :class:`Tracking` are the dotted ``camera_pose.*`` and
``tracking.*`` parameters. :data:`PARAMETERS` lists the same table as :class:`ParamSpec` rows
with the ROS names. README.md, "The ROS 2 node" / "Parameters", explains each one;
config/grasp_detection.yaml holds every default.

:func:`declare_parameters` declares them (the rows marked ``live`` writable, the others
read-only); the node reads them at configure with :func:`read_parameters`, which converts each
value to the type of its default (YAML and the command line write ``0``, ``[0, 0, 1]`` and
``true`` where a float, a float list and the string ``use_tf`` are meant) and checks ranges and
choices. Every problem is a :class:`StartupError` naming the parameter. A change of live
parameters is checked by the same table (:func:`updated_parameters`: the reason of a refusal is
the same message). A misspelt attribute of the result is an AttributeError (and a linter's
error), not a silent default.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
import math
from typing import Any, Callable, Dict, Iterator, Optional, Sequence, Tuple

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

from mtg_grasp_ros.backends import BACKENDS, DEVICES, PRECISIONS
from mtg_grasp_ros.deploy import DEFAULT_MODEL_STEM
from mtg_grasp_ros.pipeline import (APPROACHES, DEPTH_SOURCES, JAWS_OUTSIDE_VIEW, PipelineConfig,
                                    PipelineConfigError)

RELIABILITIES = ('auto', 'reliable', 'best_effort')
USE_TF = ('auto', 'true', 'false')
POSTPROCESS = ('auto', 'always', 'never')


class StartupError(RuntimeError):
    """The node cannot start (bad parameter, missing model, ...): one clear message."""


@dataclass(frozen=True)
class ParamSpec:
    """One ROS parameter: its name, default (whose type is the parameter's), description, and
    the inclusive ``range`` of a number or the ``choices`` of a string."""

    name: str
    default: Any
    description: str
    range: Optional[Tuple[float, float]] = None
    choices: Optional[Sequence[str]] = None
    live: bool = False


def _param(default: Any, description: str, range: Optional[Tuple[float, float]] = None,
           choices: Optional[Sequence[str]] = None, live: bool = False) -> Any:
    """A row of the table: a dataclass field whose metadata holds the rest of its ParamSpec.
    ``live``: writable while the node runs (else read-only), applied from the next frame."""
    return field(default=default, metadata={'description': description, 'range': range,
                                            'choices': choices, 'live': live})


@dataclass(frozen=True)
class CameraPose:
    """``camera_pose.*``: the static pose of the camera optical frame in target_frame."""

    xyz: Tuple[float, ...] = _param((0.0, 0.0, 0.5), 'static pose of the camera optical frame '
                                    'in target_frame (without TF): translation, m')
    rpy: Tuple[float, ...] = _param((math.pi, 0.0, 0.0), 'static pose: roll, pitch, yaw (rad, '
                                    'tf2 setRPY); default looks straight down')
    quaternion: Tuple[float, ...] = _param((0.0, 0.0, 0.0, 0.0), 'static pose: quaternion x, '
                                           'y, z, w; all zero = use rpy')


@dataclass(frozen=True)
class Tracking:
    """``tracking.*``: :class:`mtg_grasp_ros.tracking.GraspTracker`'s settings."""

    enabled: bool = _param(False, 'prefer the grasp near the previous target; ~/detections '
                           'ids follow the grasps', live=True)
    radius: float = _param(0.03, 'a candidate this close (m) continues the target', (0.0, 10.0),
                           live=True)
    switch_margin: float = _param(0.1, 'switch only to a grasp better by this quality',
                                  (0.0, 10.0), live=True)
    timeout: float = _param(1.0, 'forget the target after this many seconds', (0.0, 3600.0),
                            live=True)


@dataclass(frozen=True)
class NodeParameters:
    """Every parameter of the node, typed; lists are tuples. See the module docstring."""

    model_path: str = _param('', 'deploy model: stem, one of its .json/.safetensors/.onnx files '
                             f'or a directory; empty = the package default '
                             f'models/{DEFAULT_MODEL_STEM}')
    backend: str = _param('auto', 'inference backend; auto = torch (channels_last on a CPU, the '
                          'fastest here), onnx only when the model has no .safetensors',
                          choices=BACKENDS)
    device: str = _param('auto', 'auto = CUDA when available; cuda fails at start-up without a '
                         'GPU', choices=DEVICES)
    threads: int = _param(0, 'CPU threads for inference (0 = library default)', (0, 256))
    precision: str = _param('auto', 'network arithmetic: auto = bf16 on a CPU with hardware '
                            'bfloat16 (AVX512-BF16/AMX; same held-out accuracy, half the '
                            'inference time), else fp32 (never fp16); bf16 needs backend '
                            'torch; fp16 (float16) needs backend torch on a CUDA device',
                            choices=PRECISIONS)
    device_postprocess: str = _param('auto', 'smoothing/top-k on the torch device: auto = on '
                                     'CUDA only', choices=POSTPROCESS)
    target_frame: str = _param('base_link', 'frame of the published grasps; empty = the camera '
                               'frame')
    camera_frame: str = _param('', 'override of the image header frame_id (empty = use it)')
    use_tf: str = _param('auto', 'camera pose from TF (true), from camera_pose.* (false), or TF '
                         'when tf2_ros is importable (auto)', choices=USE_TF)
    tf_timeout: float = _param(0.1, 'seconds to wait for the transform at the image stamp',
                               (0.0, 10.0))
    camera_pose: CameraPose = CameraPose()
    depth_source: str = _param('plane', 'plane = intersect the pixel ray with the support '
                               'plane; depth_topic = aligned depth image', choices=DEPTH_SOURCES)
    table_height: float = _param(0.0, 'the support plane passes through (0, 0, table_height) of '
                                 'target_frame, m', (-100.0, 100.0))
    plane_normal: Tuple[float, ...] = _param((0.0, 0.0, 1.0), 'support plane normal in '
                                             'target_frame, pointing to the camera side')
    object_height: float = _param(0.0, 'grasp centre this far above the plane along its normal, '
                                  'm (about half the object height)', (-10.0, 10.0))
    depth_window: int = _param(5, 'side of the window (px) whose median valid depth is used',
                               (1, 101))
    depth_min: float = _param(0.05, 'valid depth / plane distance lower bound, m',
                              (0.0, 1000.0))
    depth_max: float = _param(10.0, 'valid depth / plane distance upper bound, m',
                              (0.0, 1000.0))
    depth_slop: float = _param(0.05, 'max |stamp difference| between image and depth, s',
                               (0.0, 10.0))
    rectified: bool = _param(True, 'true: the image is rectified; false: undistort grasp '
                             'pixels with CameraInfo D (image_raw)')
    approach: str = _param('top_down', 'approach direction: top_down = -z of target_frame; '
                           'camera = along the optical axis', choices=APPROACHES)
    reliability: str = _param('auto', 'subscription reliability; auto = match the publishers '
                              '(waits for one)', choices=RELIABILITIES)
    qos_depth: int = _param(1, 'subscription queue depth (keep last)', (1, 100))
    sigma_quality: float = _param(-1.0, 'Gaussian sigma (network px) for quality; -1 = model '
                                  'metadata, 0 = none', (-1.0, 100.0), live=True)
    sigma_angle: float = _param(-1.0, 'Gaussian sigma for cos/sin 2phi; -1 = model metadata',
                                (-1.0, 100.0), live=True)
    sigma_width: float = _param(-1.0, 'Gaussian sigma for width; -1 = model metadata',
                                (-1.0, 100.0), live=True)
    top_k: int = _param(5, 'grasps per frame in ~/detections and ~/grasps (1 = the single best '
                        'pixel, as the paper)', (1, 100), live=True)
    min_distance: int = _param(10, 'minimum distance between top-k peaks, network px',
                               (1, 1000), live=True)
    min_quality: float = _param(0.2, 'nothing is published when the best quality is below this',
                                (-10.0, 10.0), live=True)
    crop_size: int = _param(-1, 'side of the square crop in camera px; -1 = min(width, height)',
                            (-1, 100000), live=True)
    crop_x: int = _param(-1, 'left of the crop in camera px; -1 = centred', (-1, 100000),
                         live=True)
    crop_y: int = _param(-1, 'top of the crop in camera px; -1 = centred', (-1, 100000),
                         live=True)
    jaws_outside_view: str = _param('last', 'grasps whose jaw rectangle reaches outside the crop '
                                    '(objects cut by the image edge): keep = ranked by quality, '
                                    'last = after every grasp inside, drop = never',
                                    choices=JAWS_OUTSIDE_VIEW, live=True)
    centring_fraction: float = _param(0.3, 'grasp centring: each grasp moves along its closing '
                                      'axis to the middle of the run of quality above this '
                                      'share of its own (its object); 0 = off', (0.0, 0.99),
                                      live=True)
    jaw_clearance: float = _param(0.02, 'jaw clearance: how far (m) each finger reaches beyond '
                                  'an end of the published opening when executed (the '
                                  "controller's extra opening per side + the finger's "
                                  'thickness); grasps whose fingers would land on another '
                                  'object go last; 0 = off', (0.0, 1.0), live=True)
    clearance_fraction: float = _param(0.2, 'jaw clearance: quality above this share of a '
                                       "grasp's own, beyond its object, counts as another "
                                       'object under a finger', (0.01, 0.99), live=True)
    max_opening: float = _param(0.0, "the gripper's widest opening, m (0 = unknown): a grasp "
                                'wider turns to the direction across which its object is '
                                'narrowest (square boxes seen along a diagonal)', (0.0, 2.0),
                                live=True)
    finger_depth: float = _param(0.06, 'finger length along the approach, m: bbox.size.z of '
                                 '~/detections (default: the fingers of the simulated gripper)',
                                 (0.0, 1.0), live=True)
    tracking: Tracking = Tracking()
    stats_period: float = _param(5.0, 'seconds between statistics log lines; 0 = off',
                                 (0.0, 3600.0), live=True)
    autostart: bool = _param(True, 'configure and activate at start-up; false = start '
                             'unconfigured for a lifecycle manager (launch managed:=true)')

    @property
    def approach_note(self) -> str:
        """Why the pipeline's approach differs from ``approach`` ('' when it does not)."""
        if self.approach == 'top_down' and not self.target_frame:
            return ('target_frame is empty (grasps in the camera frame, which has no "up"): '
                    'approach top_down (-z of that frame) would point from the table back to '
                    'the camera, so the approach is the optical axis (approach: camera)')
        return ''

    def pipeline_config(self) -> PipelineConfig:
        """The :class:`mtg_grasp_ros.pipeline.PipelineConfig` of these parameters, validated.

        The support plane passes through ``(0, 0, table_height)``; with an empty target_frame
        the approach is the camera's optical axis (:attr:`approach_note`). Raises
        :class:`mtg_grasp_ros.pipeline.PipelineConfigError` for an invalid combination.
        """
        return PipelineConfig(
            top_k=self.top_k, min_distance=self.min_distance, min_quality=self.min_quality,
            sigma_quality=self.sigma_quality, sigma_angle=self.sigma_angle,
            sigma_width=self.sigma_width, crop_size=self.crop_size, crop_x=self.crop_x,
            crop_y=self.crop_y, depth_source=self.depth_source,
            plane_point=(0.0, 0.0, self.table_height), plane_normal=tuple(self.plane_normal),
            object_height=self.object_height, depth_window=self.depth_window,
            depth_min=self.depth_min, depth_max=self.depth_max,
            approach='camera' if self.approach_note else self.approach,
            rectified=self.rectified, device_postprocess=self.device_postprocess,
            jaws_outside_view=self.jaws_outside_view,
            centring_fraction=self.centring_fraction, jaw_clearance=self.jaw_clearance,
            clearance_fraction=self.clearance_fraction,
            max_opening=self.max_opening).validate()


def _specs(table: type, prefix: str = '') -> Iterator[ParamSpec]:
    """The rows of a parameter dataclass, nested groups as dotted names, tuples as lists."""
    for f in fields(table):
        if is_dataclass(f.default):
            yield from _specs(type(f.default), f'{prefix}{f.name}.')
        else:
            default = list(f.default) if isinstance(f.default, tuple) else f.default
            yield ParamSpec(prefix + f.name, default, f.metadata['description'],
                            f.metadata['range'], f.metadata['choices'], f.metadata['live'])


#: The table as ROS parameters, in declaration order.
PARAMETERS: Tuple[ParamSpec, ...] = tuple(_specs(NodeParameters))
PARAMETER_NAMES = tuple(p.name for p in PARAMETERS)
#: The parameters that may change while the node runs (applied from the next frame).
LIVE_PARAMETERS = tuple(p.name for p in PARAMETERS if p.live)


def declare_parameters(node) -> None:
    """Declare every parameter on an ``rclpy.node.Node``, described and constrained; the
    :data:`LIVE_PARAMETERS` writable, the others read-only.

    Raises :class:`StartupError` when a given value (YAML, overrides) has the wrong type or is
    outside the declared range (rclpy checks those at declaration).
    """
    for spec in PARAMETERS:
        descriptor = ParameterDescriptor(description=spec.description, read_only=not spec.live)
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
            node.declare_parameter(spec.name, spec.default, descriptor)
        except Exception as exc:  # wrong type or out of range in the YAML / overrides
            raise StartupError(f'parameter {spec.name}: {exc}') from exc


def read_parameters(value_of: Callable[[str], Any]) -> NodeParameters:
    """The parameters from ``value_of(name)`` (e.g. ``node.get_parameter(name).value``).

    Each value is converted to the type of its default and checked; raises
    :class:`StartupError` at the first problem, in table order.
    """
    values: Dict[str, Any] = {}
    for spec in PARAMETERS:
        value = _convert(spec, value_of(spec.name))
        if spec.choices and value not in spec.choices:
            raise StartupError(f'parameter {spec.name} is {value!r}; choose one of '
                               f'{", ".join(spec.choices)}')
        values[spec.name] = tuple(value) if isinstance(value, list) else value
    return _build(NodeParameters, values)


def updated_parameters(value_of: Callable[[str], Any],
                       changes: Dict[str, Any]) -> NodeParameters:
    """The parameters after ``changes`` (name -> new value; names outside the table are
    ignored), the others from ``value_of(name)``: checked as :func:`read_parameters` does, plus
    the pipeline's combination rules (:meth:`NodeParameters.pipeline_config`).

    Raises :class:`StartupError` with the reason (a read-only parameter among ``changes``, a
    wrong type, a value outside its range or choices, an invalid combination).
    """
    frozen = [name for name in changes if name in PARAMETER_NAMES
              and name not in LIVE_PARAMETERS]
    if frozen:
        raise StartupError(f'parameter {frozen[0]} is read-only while the node runs; live: '
                           f'{", ".join(LIVE_PARAMETERS)}')
    params = read_parameters(lambda name: changes[name] if name in changes else value_of(name))
    try:
        params.pipeline_config()
    except (PipelineConfigError, TypeError, ValueError) as exc:
        raise StartupError(f'invalid parameters: {exc}') from exc
    return params


def _build(table: type, values: Dict[str, Any], prefix: str = '') -> Any:
    kwargs = {}
    for f in fields(table):
        if is_dataclass(f.default):
            kwargs[f.name] = _build(type(f.default), values, f'{prefix}{f.name}.')
        else:
            kwargs[f.name] = values[prefix + f.name]
    return table(**kwargs)


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
    if isinstance(spec.default, bool):
        if not isinstance(value, bool):
            raise StartupError(f'parameter {spec.name} must be true or false, got {value!r}')
        return value
    if isinstance(spec.default, int) and (isinstance(value, bool)
                                          or not isinstance(value, int)):
        raise StartupError(f'parameter {spec.name} must be an integer, got {value!r}')
    if isinstance(spec.default, float):
        value = number(value)
    if spec.range is not None and not spec.range[0] <= value <= spec.range[1]:
        raise StartupError(f'parameter {spec.name} = {value} is outside '
                           f'[{spec.range[0]}, {spec.range[1]}]')
    return value
