"""Launch grasp_detection_node with config/grasp_detection.yaml and camera topic remappings.

    ros2 launch mtg_grasp_ros grasp_detection.launch.py \\
        image:=/camera/color/image_raw camera_info:=/camera/color/camera_info \\
        target_frame:=base_link model_path:=/path/to/models/NAME \\
        [namespace:=robot1] [use_sim_time:=true] [params_file:=/path/to/params.yaml] \\
        [dds:=localhost|large_data|environment] [managed:=true]

``managed:=true`` starts the node unconfigured (parameter ``autostart: false``) as a launch_ros
``LifecycleNode``, for a lifecycle manager, launch's lifecycle events or ``ros2 lifecycle set
/grasp_detection configure`` then ``activate``; the default configures and activates it itself.

``dds`` sets the Fast DDS transport of the processes of this launch (README.md, "QoS and DDS
transport"); give the camera driver the same setting:

* ``localhost`` (default): the package's profile ``config/fastdds_localhost.xml`` (shared memory
  with segments large enough for camera images, UDP only on 127.0.0.1, discovery by unicast to
  127.0.0.1) and ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``: camera and node on one machine,
  no DDS traffic leaves it;
* ``large_data``: ``FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA`` (Jazzy and later), for a camera on
  another machine: its discovery is multicast on the network;
* ``environment``: change nothing (your own profile, CycloneDDS, ...).
"""

import os

from launch import LaunchDescription
from launch.actions import (DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable,
                            UnsetEnvironmentVariable)
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

#: Values of the ``dds`` launch argument.
DDS_CHOICES = ('localhost', 'large_data', 'environment')
#: Fast DDS 2 (Humble, Jazzy) reads the profile from this variable only.
FASTDDS2_DISTROS = ('humble', 'iron', 'jazzy')


def dds_actions(context):
    """The environment actions of the ``dds`` argument (see the module docstring)."""
    choice = LaunchConfiguration('dds').perform(context)
    if choice == 'environment':
        return []
    if choice == 'large_data':
        return [UnsetEnvironmentVariable('ROS_AUTOMATIC_DISCOVERY_RANGE'),
                SetEnvironmentVariable('FASTDDS_BUILTIN_TRANSPORTS', 'LARGE_DATA')]
    profile = PathJoinSubstitution(
        [FindPackageShare('mtg_grasp_ros'), 'config', 'fastdds_localhost.xml']).perform(context)
    actions = [UnsetEnvironmentVariable('FASTDDS_BUILTIN_TRANSPORTS'),
               SetEnvironmentVariable('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST'),
               SetEnvironmentVariable('FASTDDS_DEFAULT_PROFILES_FILE', profile)]
    if os.environ.get('ROS_DISTRO', '').lower() in FASTDDS2_DISTROS:
        actions.append(SetEnvironmentVariable('FASTRTPS_DEFAULT_PROFILES_FILE', profile))
    return actions


def node_action(context):
    """The node; ``target_frame`` and ``model_path`` override the params file only when given
    (non-empty), so a params file's values are not replaced by launch defaults. With
    ``managed:=true`` a LifecycleNode with ``autostart: false``."""
    overrides = {'use_sim_time': ParameterValue(LaunchConfiguration('use_sim_time'),
                                                value_type=bool)}
    for name in ('target_frame', 'model_path'):
        if LaunchConfiguration(name).perform(context):
            overrides[name] = ParameterValue(LaunchConfiguration(name), value_type=str)
    managed = LaunchConfiguration('managed').perform(context) == 'true'
    if managed:
        overrides['autostart'] = False
    node_type = LifecycleNode if managed else Node
    return [node_type(
        package='mtg_grasp_ros',
        executable='grasp_detection_node',
        name='grasp_detection',
        namespace=LaunchConfiguration('namespace'),
        output='screen',
        emulate_tty=True,
        parameters=[LaunchConfiguration('params_file'), overrides],
        remappings=[
            ('image', LaunchConfiguration('image')),
            ('camera_info', LaunchConfiguration('camera_info')),
            ('depth', LaunchConfiguration('depth')),
        ],
        arguments=['--ros-args', '--log-level', LaunchConfiguration('log_level')],
    )]


def generate_launch_description():
    default_params = PathJoinSubstitution(
        [FindPackageShare('mtg_grasp_ros'), 'config', 'grasp_detection.yaml'])
    arguments = [
        DeclareLaunchArgument('image', default_value='/camera/color/image_raw',
                              description='colour image topic (rectified unless rectified:=false '
                                          'in the params file)'),
        DeclareLaunchArgument('camera_info', default_value='/camera/color/camera_info',
                              description='CameraInfo topic of the image'),
        DeclareLaunchArgument('depth', default_value='/camera/aligned_depth_to_color/image_raw',
                              description='aligned depth topic (only with depth_source '
                                          'depth_topic)'),
        DeclareLaunchArgument('target_frame', default_value='',
                              description='frame of the published grasps; empty = the value '
                                          'of the params file (default base_link)'),
        DeclareLaunchArgument('model_path', default_value='',
                              description="deploy model stem; empty = the params file's "
                                          '(default: the package default model)'),
        DeclareLaunchArgument('params_file', default_value=default_params,
                              description='node parameters (YAML)'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='namespace of the node (relative topic names above '
                                          'resolve in it)'),
        DeclareLaunchArgument('use_sim_time', default_value='false', choices=['true', 'false'],
                              description='use /clock (simulation, bag playback)'),
        DeclareLaunchArgument('dds', default_value='localhost', choices=list(DDS_CHOICES),
                              description='Fast DDS transport: localhost = the package profile, '
                                          'all traffic on this machine (camera on the same '
                                          'machine); large_data = LARGE_DATA (camera on '
                                          'another machine); environment = leave as set'),
        DeclareLaunchArgument('managed', default_value='false', choices=['true', 'false'],
                              description='true: start unconfigured (autostart false) for a '
                                          'lifecycle manager / ros2 lifecycle set; false: the '
                                          'node configures and activates itself'),
        DeclareLaunchArgument('log_level', default_value='info'),
    ]
    return LaunchDescription(arguments + [OpaqueFunction(function=dds_actions),
                                          OpaqueFunction(function=node_action)])
