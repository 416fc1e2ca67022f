"""The demo process' ROS side: the node's grasps, the camera's ground truth and images.

:class:`Monitor` subscribes to the grasp node's ``~/detections`` (vision_msgs/Detection3DArray:
pose, opening and quality of each grasp in one stamped message; where vision_msgs is not
installed, to ``~/grasp_pose`` and ``~/grasp`` instead, paired by position) and to the
simulated camera's latched ground truth (``~/objects``, ``~/footprints``) from the start, and
to the camera image and ``~/debug_image`` only after the measurement
(:meth:`Monitor.subscribe_images`). It keeps every grasp as a
:class:`tools.demo_truth.GraspRecord` and looks up the scene an image showed by its stamp.
"""

from __future__ import annotations

from collections import deque
import time
from typing import Dict, List

import numpy as np

from mtg_grasp_ros.grasp_messages import vision_msgs_types
from simulation.messages import footprints_from_message
from simulation.tabletop import polygon_centroid
from tools.demo_truth import GraspRecord, TruthObject, yaw_of
from tools.ros_processes import CAMERA_NODE, cdr_stamp, IMAGE_TOPIC, NODE, stamp_seconds


class Monitor:
    """This process' ROS side: grasps, images, ground truth, on the rclpy ``node``.

    ``debug``: also subscribe to the node's ``~/debug_image`` for the picture (the node draws
    it only while someone subscribes). Callbacks run in the caller's executor.
    """

    def __init__(self, node, debug: bool) -> None:
        from geometry_msgs.msg import PoseArray, PoseStamped
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from std_msgs.msg import Float32MultiArray
        from visualization_msgs.msg import MarkerArray

        self.node = node
        self.grasps: List[GraspRecord] = []
        self.images: 'deque' = deque(maxlen=120)
        self.image_stamps: List[float] = []
        self.debug = None
        self.truth_poses: Dict[float, list] = {}
        self.truth_footprints: Dict[float, list] = {}
        reliable = QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        camera = QoSProfile(depth=2, reliability=ReliabilityPolicy.BEST_EFFORT)
        types = vision_msgs_types()
        if types is not None:
            node.create_subscription(types[0], f'{NODE}/detections', self.on_detections,
                                     reliable)
            #: What the grasps are read from (the demo prints it).
            self.source = '~/detections'
        else:
            node.create_subscription(PoseStamped, f'{NODE}/grasp_pose', self.on_pose, reliable)
            node.create_subscription(Float32MultiArray, f'{NODE}/grasp', self.on_array,
                                     reliable)
            self.source = '~/grasp_pose and ~/grasp (vision_msgs is not installed)'

        self._debug = debug
        self._reliable, self._camera = reliable, camera
        node.create_subscription(PoseArray, f'{CAMERA_NODE}/objects', self.on_objects, latched)
        node.create_subscription(MarkerArray, f'{CAMERA_NODE}/footprints', self.on_footprints,
                                 latched)

    def subscribe_images(self) -> None:
        """The camera image and ~/debug_image, for the picture: only after the measurement.
        Two more 30 Hz image streams into this (Python) process would load the machine and,
        on 2 busy cores, make its shared-memory transport drop samples."""
        from sensor_msgs.msg import Image
        if self._debug:
            self.node.create_subscription(Image, f'{NODE}/debug_image', self.on_debug,
                                          self._reliable)
        # Raw (serialised): no message conversion per frame; only the matched one is decoded.
        self.node.create_subscription(Image, IMAGE_TOPIC, self.on_image, self._camera,
                                      raw=True)

    def on_detections(self, msg) -> None:
        """A ~/detections: its first detection (the target: the demo runs without tracking) as
        a GraspRecord with its ``width`` (bbox.size.x, m) and ``quality`` (the score)."""
        if not msg.detections:
            return
        now = time.time()
        d = msg.detections[0]
        result = d.results[0]
        p, q = result.pose.pose.position, result.pose.pose.orientation
        self.grasps.append(GraspRecord(
            stamp=stamp_seconds(msg.header.stamp), received=now, xyz=np.array([p.x, p.y, p.z]),
            yaw=yaw_of((q.x, q.y, q.z, q.w)),
            fields={'width': float(d.bbox.size.x), 'quality': float(result.hypothesis.score)}))

    def on_pose(self, msg) -> None:
        """A ~/grasp_pose: a new GraspRecord."""
        now = time.time()
        p, q = msg.pose.position, msg.pose.orientation
        self.grasps.append(GraspRecord(stamp=stamp_seconds(msg.header.stamp), received=now,
                                       xyz=np.array([p.x, p.y, p.z]),
                                       yaw=yaw_of((q.x, q.y, q.z, q.w))))

    def on_array(self, msg) -> None:
        """A ~/grasp: its fields join the GraspRecord of the same position."""
        names = msg.layout.dim[0].label.split(',') if msg.layout.dim else []
        fields = dict(zip(names, (float(v) for v in msg.data)))
        xyz = np.array([fields.get('x', np.nan), fields.get('y', np.nan), fields.get('z', np.nan)])
        for g in reversed(self.grasps[-300:]):  # ~/grasp follows its ~/grasp_pose
            if g.fields is None and np.allclose(g.xyz, xyz, atol=1e-5):
                g.fields = fields
                break

    def on_debug(self, msg) -> None:
        """The newest ~/debug_image."""
        self.debug = msg

    def on_image(self, raw: bytes) -> None:
        """A serialised camera image: kept (the last 120) with its stamp."""
        stamp = cdr_stamp(raw)
        self.image_stamps.append(stamp)
        self.images.append((stamp, raw))

    def on_objects(self, msg) -> None:
        """The camera's ~/objects: centres and major-axis yaws per scene stamp."""
        self.truth_poses[stamp_seconds(msg.header.stamp)] = [
            (np.array([p.position.x, p.position.y]),
             yaw_of((p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w)))
            for p in msg.poses]

    def on_footprints(self, msg) -> None:
        """The camera's ~/footprints: the polygons per scene stamp."""
        stamps = {stamp_seconds(m.header.stamp) for m in msg.markers if m.ns == 'footprint'}
        if stamps:
            self.truth_footprints[max(stamps)] = footprints_from_message(msg)

    def truth_at(self, stamp: float) -> List[TruthObject]:
        """The objects of the scene shown at an image stamp."""
        known = sorted(s for s in self.truth_poses if s in self.truth_footprints and s <= stamp)
        if not known:
            return []
        s = known[-1]
        return [TruthObject(name, fp, centre if centre is not None else polygon_centroid(fp),
                            yaw)
                for (name, fp), (centre, yaw) in zip(self.truth_footprints[s],
                                                     self.truth_poses[s])]

    def image_at(self, stamp: float):
        """The camera image (sensor_msgs/Image) with this stamp, if it was received here."""
        from rclpy.serialization import deserialize_message
        from sensor_msgs.msg import Image
        for s, raw in reversed(self.images):
            if abs(s - stamp) < 1e-6:
                return deserialize_message(raw, Image)
        return None
