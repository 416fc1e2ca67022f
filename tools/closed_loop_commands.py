"""The command lines of the closed loop over ROS (issue 13): wrist camera, grasp node, servo.

One :class:`ClosedLoopConfig` gives the three processes of ``python -m tools.closed_loop_demo``
and of ``tools/launch/closed_loop.launch.py`` (:func:`commands`), wired as docs/closed_loop.md
says:

* the wrist camera node (:mod:`simulation.wrist_camera_node`, node ``wrist_camera``): one
  held-out object, ``width`` x ``height`` rgb8 at up to ``rate`` Hz, no shadows (a moving frame
  costs a render: small and unshadowed keeps the rate up on a CPU), the ``renderer`` path
  (composite by default: :mod:`simulation.fast_render`), its ``~/gripper`` remapped to the
  controller's ``servo_controller/gripper``;
* the grasp node (:mod:`mtg_grasp_ros.grasp_node`, node ``grasp_detection``) on the wrist
  camera's ``/camera/color/*`` topics, the camera pose from TF at each image stamp
  (``use_tf: true``), grasps in ``base_link`` (the table at z = 0) at ``object_height`` above
  the table (as :mod:`simulation.closed_loop`), ``tracking.enabled: true`` (the controller
  follows one detection id);
* the servo controller (:mod:`simulation.servo_controller_node`, node ``servo_controller``):
  ``detections`` <- ``/grasp_detection/detections``, ``cmd_twist`` ->
  ``/wrist_camera/cmd_twist``, at ``control_rate`` Hz; ``exit_when_done``: it exits after
  DONE (0) or FAILED (1), which ends a ``ros2 launch`` (the demo keeps it false: it watches
  the end itself).

All three need tf2_ros (and the controller vision_msgs): the ROS extras, or a ROS install.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
import sys
from typing import Dict, List, Optional

from simulation.closed_loop import TrialConfig
from simulation.fast_render import RENDERERS
from tools.ros_processes import GRASP_NODE_MODULE, IMAGE_TOPIC, INFO_TOPIC

WRIST_CAMERA_MODULE = 'simulation.wrist_camera_node'
CONTROLLER_MODULE = 'simulation.servo_controller_node'
#: The fully qualified topics the processes meet on (and the demo's monitor listens to).
DETECTIONS_TOPIC = '/grasp_detection/detections'
CMD_TWIST_TOPIC = '/wrist_camera/cmd_twist'
GRIPPER_TOPIC = '/servo_controller/gripper'
STATE_TOPIC = '/servo_controller/state'
HOLDING_TOPIC = '/wrist_camera/holding'
OBJECT_POSE_TOPIC = '/wrist_camera/object_pose'
#: The process names, in start order (also the log file stems).
NAMES = ('wrist_camera', 'grasp_node', 'servo_controller')


@dataclass(frozen=True)
class ClosedLoopConfig:
    """The closed loop's settings: ``object`` (held-out catalogue index) and ``seed`` of the
    scene; the wrist camera's ``rate`` (Hz), ``width`` x ``height`` (px), ``shadows`` and
    ``renderer`` (:data:`simulation.fast_render.RENDERERS`); the
    grasp node's ``model`` (None: the package default), ``object_height`` (m above the table),
    ``threads`` (0: the library default); the controller's ``control_rate`` (Hz); ``moving``:
    the wrist camera pushes the object during the approach (its ``push_seed`` = ``seed``, the
    push of the ROS-free benchmark for the same object and seed); ``exit_when_done``: the
    controller exits after DONE or FAILED (its parameter of that name). Raises ValueError for
    impossible values."""

    object: int = 460
    seed: int = 3
    rate: float = 15.0
    width: int = 320
    height: int = 240
    shadows: bool = False
    renderer: str = 'composite'
    model: Optional[Path] = None
    object_height: float = TrialConfig().object_height
    threads: int = 0
    control_rate: float = 100.0
    moving: bool = False
    exit_when_done: bool = False

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.control_rate <= 0 or self.width < 16 or self.height < 16:
            raise ValueError('rate and control_rate must be positive, width and height >= 16')
        if self.object < 0 or self.threads < 0:
            raise ValueError('object and threads must be >= 0')
        if self.renderer not in RENDERERS:
            raise ValueError(f'renderer must be one of {RENDERERS}, got {self.renderer!r}')


def _ros_args(params: Dict[str, object], remaps: Dict[str, str]) -> List[str]:
    return (['--ros-args'] + [a for k, v in remaps.items() for a in ('-r', f'{k}:={v}')]
            + [a for k, v in params.items() for a in ('-p', f'{k}:={v}')])


def wrist_camera_command(cfg: ClosedLoopConfig) -> List[str]:
    """The wrist camera node of ``cfg``."""
    params = {'rate': float(cfg.rate), 'width': int(cfg.width), 'height': int(cfg.height),
              'shadows': str(cfg.shadows).lower(), 'object_ids': f'r{cfg.object:03d}',
              'seed': int(cfg.seed), 'push_seed': int(cfg.seed) if cfg.moving else -1,
              'renderer': cfg.renderer}
    return ([sys.executable, '-m', WRIST_CAMERA_MODULE]
            + _ros_args(params, {'wrist_camera/gripper': GRIPPER_TOPIC.lstrip('/')}))


def grasp_node_command(cfg: ClosedLoopConfig, model: Path) -> List[str]:
    """The grasp node of ``cfg`` with the deploy model ``model`` (an absolute stem)."""
    params = {'model_path': str(model), 'target_frame': 'base_link', 'use_tf': 'true',
              'table_height': 0.0, 'object_height': float(cfg.object_height),
              'tracking.enabled': 'true', 'reliability': 'auto', 'stats_period': 5.0,
              'threads': int(cfg.threads)}
    return ([sys.executable, '-m', GRASP_NODE_MODULE]
            + _ros_args(params, {'image': IMAGE_TOPIC, 'camera_info': INFO_TOPIC}))


def controller_command(cfg: ClosedLoopConfig) -> List[str]:
    """The servo controller node of ``cfg``."""
    return ([sys.executable, '-m', CONTROLLER_MODULE]
            + _ros_args({'rate': float(cfg.control_rate),
                         'exit_when_done': str(cfg.exit_when_done).lower()},
                        {'detections': DETECTIONS_TOPIC, 'cmd_twist': CMD_TWIST_TOPIC}))


def commands(cfg: ClosedLoopConfig, model: Path) -> Dict[str, List[str]]:
    """The three command lines by :data:`NAMES`, in start order."""
    return dict(zip(NAMES, (wrist_camera_command(cfg), grasp_node_command(cfg, model),
                            controller_command(cfg))))
