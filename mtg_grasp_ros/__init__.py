"""mtg_grasp_ros: real-time grasp detection from a monocular RGB camera (MTG-CNN, ROS 2)."""

__version__ = '0.1.0'
