"""ROS messages of the node's outputs, built from :class:`mtg_grasp_ros.grasp_geometry.Grasp3D`.

``~/grasp_pose`` and ``~/grasps`` carry :func:`to_pose` (the pose convention of
:mod:`mtg_grasp_ros.transforms`), ``~/grasp`` :func:`grasp_array`, ``~/markers``
:func:`grasp_markers` (RViz) and ``~/debug_image`` :func:`debug_image_message`. The caller sets
the headers: the image's stamp, in the frame the grasps are in.
"""

from __future__ import annotations

from typing import Sequence

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
