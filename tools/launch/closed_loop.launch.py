"""Launch the closed loop over ROS 2 (issue 13): wrist camera, grasp node and servo controller.

From the repository's root, with tf2_ros and vision_msgs importable (the ROS extras or a ROS 2
install)::

    . build/ros_extras/setup_ros_extras.sh
    ros2 launch tools/launch/closed_loop.launch.py [object:=460] [seed:=3] [rate:=15.0] \\
        [width:=320] [height:=240] [shadows:=false] [renderer:=composite|reference] \\
        [moving:=false] [exit_when_done:=true] [model:=/path/to/models/NAME] \\
        [dds:=localhost|environment]

The same three processes as ``python -m tools.closed_loop_demo``
(:mod:`tools.closed_loop_commands`: the simulation's nodes are modules of the source tree, not
executables of the installed package, so they run as ``python -m ...``: this file puts the
repository root on the ``PYTHONPATH``),
without the demo's monitor and verdict: watch ``/servo_controller/state`` and
``/wrist_camera/holding`` yourself. The launch ends when one of the processes exits: with
``exit_when_done:=true`` (default) the controller exits 0.5 s after DONE (exit code 0: launch
says it "finished cleanly") or FAILED (exit code 1), and launch stops the other two; with
``exit_when_done:=false`` everything keeps running after the lift (to inspect the topics)
until Ctrl-C. ``moving:=true`` pushes the object during the approach (the demo's ``--moving``);
``renderer`` is the wrist camera's render path (:mod:`simulation.fast_render`).
``dds:=localhost`` (default) gives them the tools' DDS set-up
(:func:`tools.ros_processes.dds_settings`: the Fast DDS profile config/fastdds_localhost.xml
and ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``: no DDS traffic leaves this machine);
``environment`` changes nothing. ``ROS_DOMAIN_ID`` is yours: set a private one.
"""

import os
from pathlib import Path
import sys

from launch import LaunchDescription
from launch.actions import (DeclareLaunchArgument, ExecuteProcess, OpaqueFunction,
                            SetEnvironmentVariable, Shutdown, UnsetEnvironmentVariable)
from launch.substitutions import LaunchConfiguration

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:   # ros2 launch does not run from the source tree
    sys.path.insert(0, str(ROOT))

from simulation.fast_render import RENDERERS  # noqa: E402
from tools.closed_loop_commands import ClosedLoopConfig, commands  # noqa: E402
from tools.ros_processes import dds_settings, resolve_model  # noqa: E402

#: Values of the ``dds`` launch argument.
DDS_CHOICES = ('localhost', 'environment')
#: Values of the boolean launch arguments.
BOOLEANS = ('true', 'false')


def config_of(context) -> ClosedLoopConfig:
    """The :class:`ClosedLoopConfig` of the launch arguments; ValueError for bad values."""
    def value(name):
        return LaunchConfiguration(name).perform(context)

    def flag(name):
        text = value(name).lower()
        if text not in BOOLEANS:
            raise ValueError(f'{name} must be true or false, got {text!r}')
        return text == 'true'
    model = value('model')
    return ClosedLoopConfig(object=int(value('object')), seed=int(value('seed')),
                            rate=float(value('rate')), width=int(value('width')),
                            height=int(value('height')), shadows=flag('shadows'),
                            renderer=value('renderer'), moving=flag('moving'),
                            exit_when_done=flag('exit_when_done'),
                            model=Path(model) if model else None)


def environment_actions(context):
    """PYTHONPATH with the repository root, and the DDS set-up of ``dds``."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get('PYTHONPATH')) if p)
    actions = [SetEnvironmentVariable('PYTHONPATH', path),
               SetEnvironmentVariable('PYTHONUNBUFFERED', '1')]
    if LaunchConfiguration('dds').perform(context) == 'localhost':
        for key, value in dds_settings('localhost').items():
            actions.append(UnsetEnvironmentVariable(key) if value is None
                           else SetEnvironmentVariable(key, value))
    return actions


def process_actions(context):
    """The three processes; the launch shuts down when one exits. RuntimeError without the
    model."""
    cfg = config_of(context)
    model, error = resolve_model(cfg.model)
    if model is None:
        raise RuntimeError(error)
    return [ExecuteProcess(cmd=command, name=name, output='screen', cwd=str(ROOT),
                           on_exit=[Shutdown(reason=f'{name} exited')])
            for name, command in commands(cfg, model).items()]


def generate_launch_description():
    default = ClosedLoopConfig()
    arguments = [
        DeclareLaunchArgument('object', default_value=str(default.object),
                              description='held-out object (catalogue index)'),
        DeclareLaunchArgument('seed', default_value=str(default.seed),
                              description="seed of the object's pose"),
        DeclareLaunchArgument('rate', default_value=str(default.rate),
                              description='wrist camera frame rate, Hz'),
        DeclareLaunchArgument('width', default_value=str(default.width),
                              description='image width, px'),
        DeclareLaunchArgument('height', default_value=str(default.height),
                              description='image height, px'),
        DeclareLaunchArgument('shadows', default_value=str(default.shadows).lower(),
                              choices=list(BOOLEANS), description='render shadows (slower)'),
        DeclareLaunchArgument('renderer', default_value=default.renderer,
                              choices=list(RENDERERS),
                              description="the wrist camera's render path: composite = the "
                                          'objects by TinyRenderer, the table composited; '
                                          'reference = TinyRenderer on the whole scene'),
        DeclareLaunchArgument('moving', default_value=str(default.moving).lower(),
                              choices=list(BOOLEANS),
                              description='push the object 3-6 cm and turn it 20-45 deg during '
                                          'the approach'),
        DeclareLaunchArgument('exit_when_done', default_value='true', choices=list(BOOLEANS),
                              description='the controller exits after DONE (or FAILED), which '
                                          'ends the launch; false = keep running until Ctrl-C'),
        DeclareLaunchArgument('model', default_value='',
                              description='deploy model stem; empty = the package default'),
        DeclareLaunchArgument('dds', default_value='localhost', choices=list(DDS_CHOICES),
                              description="localhost = the tools' Fast DDS profile, all "
                                          'traffic on this machine; environment = as set'),
    ]
    return LaunchDescription(arguments + [OpaqueFunction(function=environment_actions),
                                          OpaqueFunction(function=process_actions)])
