"""The node's output topics: lifecycle publishers, one frame's grasps published on all of them.

:class:`GraspOutputs` creates, on a ``rclpy.lifecycle.LifecycleNode``, the publishers of
``~/grasp_pose`` (PoseStamped), ``~/grasp`` (Float32MultiArray), ``~/detections``
(vision_msgs/Detection3DArray, only where vision_msgs imports), ``~/grasps`` (PoseArray,
superseded by ``~/detections``), ``~/markers`` (MarkerArray) and ``~/debug_image`` (Image).
They are lifecycle publishers: they publish only while the node is active. The messages come
from :mod:`mtg_grasp_ros.grasp_messages`; every one carries the image's stamp, the grasps' in
``target_frame`` and the debug image's in the camera frame.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

from geometry_msgs.msg import PoseArray, PoseStamped
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Float32MultiArray, Header
from visualization_msgs.msg import MarkerArray

from mtg_grasp_ros.grasp_geometry import Grasp3D
from mtg_grasp_ros.grasp_messages import (debug_image_message, detection_array, grasp_array,
                                          grasp_markers, to_pose, vision_msgs_types)

#: The output topics (relative to the node: ``~/``), in publishing order; ``debug_image`` is
#: published only while someone subscribes, ``detections`` only where vision_msgs imports.
OUTPUT_TOPICS = ('grasp_pose', 'grasp', 'detections', 'grasps', 'markers', 'debug_image')


class GraspOutputs:
    """The output publishers of ``node`` (reliable, keep last 1, volatile).

    :attr:`detections` is None where vision_msgs does not import (:attr:`has_detections`).
    """

    def __init__(self, node) -> None:
        self.node = node
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                         reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.VOLATILE)
        create = node.create_lifecycle_publisher
        self.pose = create(PoseStamped, '~/grasp_pose', qos)
        self.array = create(Float32MultiArray, '~/grasp', qos)
        self._types = vision_msgs_types()
        self.detections = (create(self._types[0], '~/detections', qos)
                           if self._types is not None else None)
        self.poses = create(PoseArray, '~/grasps', qos)
        self.markers = create(MarkerArray, '~/markers', qos)
        self.debug = create(Image, '~/debug_image', qos)

    @property
    def has_detections(self) -> bool:
        """True when ``~/detections`` is published (vision_msgs imports)."""
        return self.detections is not None

    def wants_debug(self) -> bool:
        """True while someone subscribes to ``~/debug_image`` (it is computed only then)."""
        return self.debug.get_subscription_count() > 0

    def publish(self, stamp, frame: str, grasps: Sequence[Grasp3D], target: int,
                ids: Sequence[str], finger_depth: float) -> None:
        """One frame's grasps (best first) on every output; ``target``: the index of the one
        on ``~/grasp_pose`` and ``~/grasp``; ``ids``: the detections' ids; ``finger_depth``
        (m): their ``bbox.size.z``; ``stamp``: the image's, ``frame``: the grasps'."""
        header = Header(stamp=stamp, frame_id=frame)
        self.pose.publish(PoseStamped(header=header, pose=to_pose(grasps[target])))
        self.array.publish(grasp_array(grasps[target]))
        if self.detections is not None:
            self.detections.publish(detection_array(grasps, ids, header, finger_depth,
                                                    self._types))
        self.poses.publish(PoseArray(header=header, poses=[to_pose(g) for g in grasps]))
        self.markers.publish(grasp_markers(grasps, target, header))

    def publish_debug(self, overlay, stamp, frame: str) -> None:
        """``~/debug_image``: an (H, W, 3) uint8 RGB picture, in the camera ``frame``."""
        self.debug.publish(debug_image_message(overlay, stamp, frame))

    def destroy(self) -> None:
        """Destroy every publisher (cleanup / shutdown)."""
        publishers: List[Optional[object]] = [self.pose, self.array, self.detections,
                                              self.poses, self.markers, self.debug]
        for publisher in publishers:
            if publisher is not None:
                self.node.destroy_lifecycle_publisher(publisher)
