"""ROS 2 messages of the simulated cameras: images, intrinsics, ground truth and the camera pose.

Builders (NumPy/:class:`~simulation.camera.SimCamera`/:class:`~simulation.tabletop.SimObject`
in, message out) for :mod:`simulation.camera_node`, :mod:`simulation.replay_camera`, the demo
and the tests, and :func:`footprints_from_message`, the reader of the ground-truth footprints.
The ROS message packages are imported inside each function, so importing this module needs no
ROS install.

Ground truth (world frame, z up, table at z = 0):

* ``~/objects`` (``geometry_msgs/PoseArray``, :func:`objects_message`): per object the centre
  of its footprint on the table at half its height, rotated about z by the yaw of the
  footprint's major axis;
* ``~/footprints`` (``visualization_msgs/MarkerArray``, :func:`footprints_message`): a DELETEALL
  marker, then per object the convex hull of its footprint as a closed LINE_STRIP 1 mm above the
  table, ``ns`` ``footprint``, ``text`` the object id (it shows in RViz).

Poses for TF: :func:`transform_message` (any frame in any other), :func:`static_transform_message`
(a camera's optical frame).
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np
from scipy.spatial.transform import Rotation

from simulation.camera import SimCamera
from simulation.tabletop import SimObject


def image_message(rgb: np.ndarray, stamp=None, frame_id: str = ''):
    """A ``sensor_msgs/Image`` (``rgb8``) of an (H, W, 3) uint8 array; ``stamp`` a
    ``builtin_interfaces/Time`` (None: left zero)."""
    from sensor_msgs.msg import Image
    msg = Image()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(rgb.shape[0]), int(rgb.shape[1])
    msg.encoding, msg.is_bigendian, msg.step = 'rgb8', 0, int(rgb.shape[1]) * 3
    msg.data = np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()
    return msg


def camera_info_message(camera: SimCamera, stamp=None, frame_id: str = ''):
    """The ``sensor_msgs/CameraInfo`` of a :class:`SimCamera`: K and P of its pinhole
    intrinsics (pixels), ``plumb_bob`` with zero distortion, identity R."""
    from sensor_msgs.msg import CameraInfo
    msg = CameraInfo()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.width, msg.height = camera.width, camera.height
    msg.distortion_model = 'plumb_bob'
    msg.d = [0.0] * 5
    msg.k = camera.k
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = camera.p
    return msg


def objects_message(objects: Sequence[SimObject], stamp, frame_id: str):
    """``~/objects`` in ``frame_id``: per object its footprint centre at half height (m),
    yawed to its major axis."""
    from geometry_msgs.msg import Pose, PoseArray
    msg = PoseArray()
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    for obj in objects:
        pose = Pose()
        cx, cy = (float(v) for v in obj.centre)
        pose.position.x, pose.position.y, pose.position.z = cx, cy, obj.height / 2.0
        q = Rotation.from_euler('z', obj.axes()[0]).as_quat()
        pose.orientation.x, pose.orientation.y = float(q[0]), float(q[1])
        pose.orientation.z, pose.orientation.w = float(q[2]), float(q[3])
        msg.poses.append(pose)
    return msg


def footprints_message(objects: Sequence[SimObject], stamp, frame_id: str):
    """``~/footprints`` in ``frame_id``: a DELETEALL marker, then a closed LINE_STRIP per
    object footprint (z = 1 mm), ``text`` = its id."""
    from geometry_msgs.msg import Point
    from std_msgs.msg import ColorRGBA
    from visualization_msgs.msg import Marker, MarkerArray
    msg = MarkerArray()
    clear = Marker()
    clear.header.stamp, clear.header.frame_id = stamp, frame_id
    clear.action = Marker.DELETEALL
    msg.markers.append(clear)
    for i, obj in enumerate(objects):
        m = Marker()
        m.header.stamp, m.header.frame_id = stamp, frame_id
        m.ns, m.id, m.type, m.action = 'footprint', i, Marker.LINE_STRIP, Marker.ADD
        m.pose.orientation.w = 1.0
        m.scale.x = 0.002
        m.color = ColorRGBA(r=0.1, g=0.8, b=0.1, a=1.0)
        m.text = obj.object_id
        pts = list(obj.footprint) + [obj.footprint[0]]
        m.points = [Point(x=float(x), y=float(y), z=0.001) for x, y in pts]
        msg.markers.append(m)
    return msg


def footprints_from_message(msg) -> List[Tuple[str, np.ndarray]]:
    """``(object id, footprint (K, 2) m)`` per object of a ``~/footprints`` MarkerArray (the
    closing point of each strip dropped)."""
    out = []
    for m in msg.markers:
        if m.ns == 'footprint' and m.points:
            pts = np.array([[p.x, p.y] for p in m.points], dtype=np.float64)
            if len(pts) > 1 and np.array_equal(pts[0], pts[-1]):
                pts = pts[:-1]  # the strip is closed by repeating the first point
            out.append((m.text, pts))
    return out


def transform_message(xyz, quaternion, stamp, parent: str, child: str):
    """``geometry_msgs/TransformStamped``: frame ``child`` at ``xyz`` (m) and ``quaternion``
    ``(x, y, z, w)`` in ``parent``."""
    from geometry_msgs.msg import TransformStamped
    t = TransformStamped()
    t.header.stamp, t.header.frame_id, t.child_frame_id = stamp, parent, child
    x, y, z = (float(v) for v in xyz)
    t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = x, y, z
    q = [float(v) for v in quaternion]
    t.transform.rotation.x, t.transform.rotation.y = q[0], q[1]
    t.transform.rotation.z, t.transform.rotation.w = q[2], q[3]
    return t


def static_transform_message(camera: SimCamera, stamp, world_frame: str, frame_id: str):
    """``geometry_msgs/TransformStamped``: the camera's optical frame ``frame_id`` in
    ``world_frame`` (for ``/tf_static``)."""
    return transform_message(camera.xyz, camera.quaternion, stamp, world_frame, frame_id)
