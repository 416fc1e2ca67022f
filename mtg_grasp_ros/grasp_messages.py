"""ROS messages of the node's outputs, built from :class:`mtg_grasp_ros.grasp_geometry.Grasp3D`.

``~/grasp_pose`` and ``~/grasps`` carry :func:`to_pose` (the pose convention of
:mod:`mtg_grasp_ros.transforms`), ``~/grasp`` :func:`grasp_array`, ``~/detections``
:func:`detection_array` (vision_msgs, optional: :func:`vision_msgs_types`), ``~/markers``
:func:`grasp_markers` (RViz) and ``~/debug_image`` :func:`debug_image_message`. The caller gives
the header: the image's stamp, in the frame the grasps are in.
"""

from __future__ import annotations

from typing import Sequence, Tuple

from geometry_msgs.msg import Point, Pose
import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import ColorRGBA, Float32MultiArray, MultiArrayDimension
from visualization_msgs.msg import Marker, MarkerArray

from mtg_grasp_ros.grasp_geometry import Grasp3D

#: Fields of one ``~/grasp`` Float32MultiArray (the first six follow GG-CNN's
#: ``[x, y, z, angle, width, depth_at_centre]``): position in target_frame (m), yaw of the
#: closing axis about target z (rad, [-pi/2, pi/2)), opening (m), camera z of the centre (m),
#: quality, camera pixel (u, v) of the centre, angle on screen (rad, CCW) and opening in pixels.
GRASP_ARRAY_FIELDS = ('x', 'y', 'z', 'yaw', 'width', 'depth', 'quality', 'u', 'v',
                      'image_angle', 'width_px')
#: ``results[0].hypothesis.class_id`` of every ``~/detections`` entry.
DETECTION_CLASS = 'grasp'
#: Why ``~/detections`` is not published where vision_msgs does not import.
VISION_MSGS_MISSING = ('vision_msgs is not installed: ~/detections (vision_msgs/Detection3DArray)'
                       ' is not published; the other outputs are (apt install '
                       'ros-$ROS_DISTRO-vision-msgs)')


def to_pose(grasp: Grasp3D) -> Pose:
    """``geometry_msgs/Pose``: the grasp centre (m) and orientation ``(x, y, z, w)``."""
    pose = Pose()
    x, y, z = (float(v) for v in grasp.position)
    pose.position.x, pose.position.y, pose.position.z = x, y, z
    qx, qy, qz, qw = (float(v) for v in grasp.orientation)
    pose.orientation.x, pose.orientation.y = qx, qy
    pose.orientation.z, pose.orientation.w = qz, qw
    return pose


def grasp_array(grasp: Grasp3D) -> Float32MultiArray:
    """``~/grasp``: one grasp as the fields of :data:`GRASP_ARRAY_FIELDS`.

    One dimension labelled with the comma-joined field names, size = stride = 11.
    """
    msg = Float32MultiArray()
    n = len(GRASP_ARRAY_FIELDS)
    msg.layout.dim = [MultiArrayDimension(label=','.join(GRASP_ARRAY_FIELDS), size=n, stride=n)]
    msg.layout.data_offset = 0
    values = [*grasp.position, grasp.yaw, grasp.width_m, grasp.depth, grasp.quality,
              grasp.pixel.col, grasp.pixel.row, grasp.pixel.angle, grasp.pixel.width]
    msg.data = [float(v) for v in values]
    return msg


def vision_msgs_types():
    """``(Detection3DArray, Detection3D, ObjectHypothesisWithPose)`` of vision_msgs, or None
    where it does not import (the PyPI ROS wheels have no vision_msgs)."""
    try:
        from vision_msgs.msg import Detection3D, Detection3DArray, ObjectHypothesisWithPose
    except ImportError:
        return None
    return Detection3DArray, Detection3D, ObjectHypothesisWithPose


def detection_size(grasp: Grasp3D, finger_depth: float) -> Tuple[float, float, float]:
    """``bbox.size`` of a grasp's detection, metres, along the pose axes: the opening (x, the
    closing axis), the jaw size (y, :attr:`Grasp3D.jaw_size_m`) and ``finger_depth`` (z, the
    approach)."""
    return float(grasp.width_m), grasp.jaw_size_m, float(finger_depth)


def detection_array(grasps: Sequence[Grasp3D], ids: Sequence[str], header,
                    finger_depth: float, types=None):
    """``~/detections``: a vision_msgs/Detection3DArray with one Detection3D per grasp, in the
    order of ``grasps`` (best first).

    Each has ``header``; ``results[0]``: ``hypothesis.class_id`` :data:`DETECTION_CLASS`,
    ``hypothesis.score`` the quality and ``pose.pose`` :func:`to_pose` (covariance all zero:
    not estimated); ``bbox.center`` the same pose, ``bbox.size`` :func:`detection_size`; ``id``
    from ``ids``. ``types``: :func:`vision_msgs_types` (looked up when None); raises
    ImportError where vision_msgs is missing.
    """
    types = types or vision_msgs_types()
    if types is None:
        raise ImportError(VISION_MSGS_MISSING)
    array_type, detection_type, hypothesis_type = types
    msg = array_type()
    msg.header = header
    for grasp, ident in zip(grasps, ids):
        pose = to_pose(grasp)
        result = hypothesis_type()
        result.hypothesis.class_id = DETECTION_CLASS
        result.hypothesis.score = float(grasp.quality)
        result.pose.pose = pose
        detection = detection_type()
        detection.header = header
        detection.results = [result]
        detection.bbox.center = pose
        size = detection.bbox.size
        size.x, size.y, size.z = detection_size(grasp, finger_depth)
        detection.id = str(ident)
        msg.detections.append(detection)
    return msg


def grasp_markers(grasps: Sequence[Grasp3D], target: int, header) -> MarkerArray:
    """RViz markers: per grasp the closing line with two jaws (LINE_LIST) and an approach
    arrow; the target green, the others yellow. A DELETEALL first clears the last frame's.

    ``target``: index of the published grasp in ``grasps``; ``header``: std_msgs/Header of
    every marker. The jaws are a quarter of the opening long (at least 5 mm), the arrow 8 cm;
    markers live 1 s.
    """
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


def debug_image_message(overlay: np.ndarray, stamp, frame: str) -> Image:
    """``sensor_msgs/Image`` (rgb8) of an (H, W, 3) uint8 RGB image, stamped in ``frame``."""
    out = Image()
    out.header.stamp, out.header.frame_id = stamp, frame
    out.height, out.width = overlay.shape[:2]
    out.encoding, out.is_bigendian, out.step = 'rgb8', 0, overlay.shape[1] * 3
    out.data = overlay.tobytes()
    return out


def _point(p) -> Point:
    return Point(x=float(p[0]), y=float(p[1]), z=float(p[2]))
