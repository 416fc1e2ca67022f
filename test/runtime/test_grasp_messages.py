"""The output message builders without a running node: ``~/detections`` (skips without
vision_msgs), its box size and the jaw size in metres."""

import numpy as np
import pytest
from std_msgs.msg import Header

from mtg_grasp_ros.grasp import Grasp
from mtg_grasp_ros.grasp_geometry import Grasp3D
from mtg_grasp_ros.grasp_messages import (detection_array, DETECTION_CLASS, detection_size,
                                          to_pose, VISION_MSGS_MISSING, vision_msgs_types)
from mtg_grasp_ros.transforms import grasp_orientation


def grasp3d(x, quality, width_m=0.04, width_px=40.0, jaw_px=20.0):
    o = grasp_orientation(np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, -1.0]))
    pixel = Grasp(row=100.0, col=200.0, angle=0.0, width=width_px, jaw_size=jaw_px,
                  quality=quality)
    centre = np.array([x, 0.2, 0.01])
    return Grasp3D(position=centre, orientation=o.quaternion, rotation=o.rotation, yaw=o.yaw,
                   width_m=width_m, quality=quality, depth=0.5, pixel=pixel, network=pixel,
                   jaw_points=np.stack([centre, centre]))


def test_box_size_is_opening_jaw_size_finger_depth():
    assert detection_size(grasp3d(0.1, 0.9), 0.05) == pytest.approx((0.04, 0.02, 0.05))
    assert grasp3d(0.1, 0.9, width_px=0.0).jaw_size_m == 0.0


def test_detection_array_layout():
    types = vision_msgs_types()
    if types is None:
        with pytest.raises(ImportError, match='vision_msgs is not installed'):
            detection_array([grasp3d(0.1, 0.9)], ['0'], Header(), 0.06)
        assert 'ros-$ROS_DISTRO-vision-msgs' in VISION_MSGS_MISSING
        pytest.skip('vision_msgs is not installed (no PyPI wheel): the layout needs it')
    header = Header(frame_id='base_link')
    header.stamp.sec, header.stamp.nanosec = 7, 250
    grasps = [grasp3d(0.1, 0.9), grasp3d(0.3, 0.6, width_m=0.02)]
    msg = detection_array(grasps, ['12', '3'], header, 0.05, types)
    assert isinstance(msg, types[0]) and msg.header == header
    assert [d.id for d in msg.detections] == ['12', '3']
    for d, g in zip(msg.detections, grasps):
        assert d.header == header
        (result,) = d.results
        assert result.hypothesis.class_id == DETECTION_CLASS == 'grasp'
        assert result.hypothesis.score == pytest.approx(g.quality)
        assert result.pose.pose == to_pose(g) == d.bbox.center
        assert list(result.pose.covariance) == [0.0] * 36
        size = d.bbox.size
        assert (size.x, size.y, size.z) == pytest.approx(detection_size(g, 0.05))
    assert detection_array([], [], header, 0.05).detections == []
