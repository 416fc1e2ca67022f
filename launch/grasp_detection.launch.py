"""Launch grasp_detection_node with config/grasp_detection.yaml and camera topic remappings.

    ros2 launch mtg_grasp_ros grasp_detection.launch.py \\
        image:=/camera/color/image_raw camera_info:=/camera/color/camera_info \\
        target_frame:=base_link model_path:=/path/to/models/NAME

``fastdds_large_data:=true`` (the default) sets ``FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA`` for the
processes of this launch: with Fast DDS defaults a best-effort subscriber receives almost no
full-size camera image (see README.md, "QoS and DDS transport"). Set it for the camera
driver as well.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare


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
        DeclareLaunchArgument('target_frame', default_value='base_link',
                              description='frame of the published grasps'),
        DeclareLaunchArgument('model_path', default_value='',
                              description='deploy model stem; empty = the package default'),
        DeclareLaunchArgument('params_file', default_value=default_params,
                              description='node parameters (YAML)'),
        DeclareLaunchArgument('fastdds_large_data', default_value='true',
                              description='set FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA'),
        DeclareLaunchArgument('log_level', default_value='info'),
    ]
    large_data = SetEnvironmentVariable(
        'FASTDDS_BUILTIN_TRANSPORTS', 'LARGE_DATA',
        condition=IfCondition(LaunchConfiguration('fastdds_large_data')))
    node = Node(
        package='mtg_grasp_ros',
        executable='grasp_detection_node',
        name='grasp_detection',
        output='screen',
        emulate_tty=True,
        parameters=[
            LaunchConfiguration('params_file'),
            {'target_frame': ParameterValue(LaunchConfiguration('target_frame'), value_type=str),
             'model_path': ParameterValue(LaunchConfiguration('model_path'), value_type=str)},
        ],
        remappings=[
            ('image', LaunchConfiguration('image')),
            ('camera_info', LaunchConfiguration('camera_info')),
            ('depth', LaunchConfiguration('depth')),
        ],
        arguments=['--ros-args', '--log-level', LaunchConfiguration('log_level')],
    )
    return LaunchDescription(arguments + [large_data, node])
