"""Shared machinery of the node tests (test_grasp_node.py, test_node_faults.py and the
simulation's test_node_accuracy.py): the node in-process with real rclpy plus a tester node
(:class:`Harness`), camera messages and a stand-in tf2_ros. The test models are written by
model_fixtures.py; the pytest fixtures using both are in conftest.py."""

import os
from pathlib import Path
import time
import types

from geometry_msgs.msg import PoseArray, PoseStamped
import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Float32MultiArray
from visualization_msgs.msg import MarkerArray

from mtg_grasp_ros.grasp_messages import vision_msgs_types
from mtg_grasp_ros.grasp_node import GraspDetectionNode

W, H = 640, 480
FX = 500.0
TIMEOUT = 10.0
# The constant test model: quality 0.5 everywhere, angle 0, width 30 network px. Its best pixel
# is network (0, 0) = camera (u, v) = (82, 2) (centre crop 480 px at x = 80, scale 0.2). With the
# default static camera pose (0.5 m above the target origin, looking down) that is:
EXPECTED_XYZ = ((82 - 319.5) / FX * 0.5, -(2 - 239.5) / FX * 0.5, 0.0)
EXPECTED_WIDTH = 150 * 0.5 / FX


#: The repository's Fast DDS profile (shared memory, UDP on 127.0.0.1, unicast discovery), as
#: the demo and the benchmark use it (tools/ros_processes.py).
FASTDDS_PROFILE = str(Path(__file__).resolve().parents[1] / 'config'
                      / 'fastdds_localhost.xml')


def _isolated_ros_env():
    """Own DDS domain, all DDS traffic on this machine: parallel test runs do not see each other
    and nothing leaves the machine (no multicast: the Fast DDS profile of tools/, LOCALHOST
    discovery, no FASTDDS_BUILTIN_TRANSPORTS). Sets os.environ (None = unset) and returns the
    previous values, for the caller to restore."""
    env = {'RMW_IMPLEMENTATION': 'rmw_fastrtps_cpp',
           'ROS_DOMAIN_ID': str(100 + os.getpid() % 100),
           'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST',
           'FASTDDS_DEFAULT_PROFILES_FILE': FASTDDS_PROFILE,
           # Fast DDS 2 reads only this one; Kilted's rmw warns that it is deprecated.
           'FASTRTPS_DEFAULT_PROFILES_FILE': (
               FASTDDS_PROFILE if os.environ.get('ROS_DISTRO', '').lower() in (
                   'foxy', 'galactic', 'humble', 'iron', 'jazzy') else None),
           'FASTDDS_BUILTIN_TRANSPORTS': None, 'ROS_STATIC_PEERS': None}
    old = {k: os.environ.get(k) for k in env}
    for k, v in env.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    return old


def image_msg(stamp=(1, 0), frame='camera_optical', encoding='rgb8', width=W, height=H,
              fill=100):
    msg = Image()
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    msg.header.frame_id = frame
    channels = {'rgb8': 3, 'bgr8': 3, 'mono8': 1, 'yuv422': 2}[encoding]
    msg.height, msg.width, msg.encoding, msg.step = height, width, encoding, width * channels
    msg.data = np.full(height * width * channels, fill, np.uint8).tobytes()
    return msg


def info_msg(width=W, height=H, fx=FX, frame='camera_optical'):
    msg = CameraInfo()
    msg.header.frame_id = frame
    msg.width, msg.height = width, height
    msg.k = [fx, 0.0, 319.5, 0.0, fx, 239.5, 0.0, 0.0, 1.0]
    msg.p = [fx, 0.0, 319.5, 0.0, 0.0, fx, 239.5, 0.0, 0.0, 0.0, 1.0, 0.0]
    msg.distortion_model = 'plumb_bob'
    msg.d = [0.0] * 5
    return msg


def depth_msg(value, stamp=(1, 0), encoding='32FC1'):
    msg = Image()
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    msg.header.frame_id = 'camera_optical'
    dtype = np.float32 if encoding == '32FC1' else np.uint16
    msg.height, msg.width, msg.encoding = H, W, encoding
    msg.step = W * np.dtype(dtype).itemsize
    msg.data = np.full((H, W), value, dtype).tobytes()
    return msg


class Harness:
    """The node under test plus a tester node publishing camera data and recording outputs.

    The node runs the model on PyTorch in fp32 (the runtime's default backend; fp32 so that the
    expected numbers hold on a CPU with hardware bf16 too) unless ``params`` say otherwise.
    """

    count = 0

    def __init__(self, model, reliability='reliable', publisher_reliability='reliable',
                 **params):
        Harness.count += 1
        self.ns = f'/t{os.getpid()}_{Harness.count}'
        # use_tf false: the static camera pose of the parameters, also where tf2_ros is
        # installed (the TF tests ask for 'auto' with a stand-in or the real tf2_ros).
        overrides = {'model_path': str(model), 'target_frame': 'world', 'use_tf': 'false',
                     'reliability': reliability, 'min_quality': 0.1, 'stats_period': 0.0,
                     'top_k': 3, 'backend': 'torch', 'precision': 'fp32', **params}
        self.node = GraspDetectionNode(
            namespace=self.ns,
            parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()])
        self.tester = rclpy.create_node('tester', namespace=self.ns)
        qos = QoSProfile(depth=5, reliability=getattr(ReliabilityPolicy,
                                                      publisher_reliability.upper()))
        self.image_pub = self.tester.create_publisher(Image, 'image', qos)
        self.info_pub = self.tester.create_publisher(CameraInfo, 'camera_info', qos)
        self.depth_pub = self.tester.create_publisher(Image, 'depth', qos)
        self.received = {k: [] for k in ('pose', 'array', 'poses', 'markers', 'debug',
                                         'detections')}
        out = f'{self.ns}/grasp_detection/'
        outputs = [('pose', PoseStamped, 'grasp_pose'), ('array', Float32MultiArray, 'grasp'),
                   ('poses', PoseArray, 'grasps'), ('markers', MarkerArray, 'markers')]
        types = vision_msgs_types()   # ~/detections where vision_msgs is installed
        if types is not None:
            outputs.append(('detections', types[0], 'detections'))
        for key, msg_type, topic in outputs:
            self.tester.create_subscription(msg_type, out + topic,
                                            self.received[key].append, 10)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.executor.add_node(self.tester)

    def call(self, service_type, name, request, timeout=TIMEOUT):
        """A service of the node under test (``name`` relative to it), called over DDS from
        the tester node; the response."""
        client = self.tester.create_client(service_type, f'{self.ns}/grasp_detection/{name}')
        try:
            assert self.spin_until(client.service_is_ready, timeout), f'no service {name}'
            future = client.call_async(request)
            assert self.spin_until(future.done, timeout), f'{name} did not answer'
            return future.result()
        finally:
            self.tester.destroy_client(client)

    def subscribe_debug(self):
        return self.tester.create_subscription(
            Image, f'{self.ns}/grasp_detection/debug_image', self.received['debug'].append, 10)

    def spin_until(self, predicate, timeout=TIMEOUT):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return True
            self.executor.spin_once(timeout_sec=0.02)
        return predicate()

    def wait_connected(self, depth=False):
        pubs = [self.image_pub, self.info_pub] + ([self.depth_pub] if depth else [])
        assert self.spin_until(lambda: all(p.get_subscription_count() > 0 for p in pubs)), \
            'the node did not subscribe'

    def send(self, image=None, info=None, depth=None):
        if info is not None:
            self.info_pub.publish(info)
        if depth is not None:
            self.depth_pub.publish(depth)
        # Let CameraInfo / depth arrive before the image that needs them.
        self.spin_until(lambda: False, timeout=0.1)
        if image is not None:
            self.image_pub.publish(image)

    def stats(self):
        return self.node.stats.snapshot()

    def wait_handled(self, frames):
        """Until ``frames`` images were received and each processed or dropped."""
        def done():
            s = self.stats()
            return s['frames_in'] >= frames and s['processed'] + sum(
                s['dropped'].values()) >= frames
        assert self.spin_until(done), self.stats()

    def expect_pose(self, n=1):
        assert self.spin_until(lambda: len(self.received['pose']) >= n), self.stats()
        return self.received['pose'][-1]

    def close(self):
        self.executor.shutdown()
        self.tester.destroy_node()
        self.node.destroy_node()


def record_warnings(h, monkeypatch):
    """The texts of the warnings the node logs from now on (they are still logged)."""
    warnings = []
    logger = h.node.get_logger()

    class Recorder:
        def __getattr__(self, name):
            return getattr(logger, name)

        def warning(self, text, **kwargs):
            warnings.append(text)
            return logger.warning(text, **kwargs)
    recorder = Recorder()
    monkeypatch.setattr(h.node, 'get_logger', lambda: recorder)
    return warnings


def recover(h, n_before, stamp=(50, 0)):
    """After a bad frame, a good one is published: the node is still running."""
    h.send(image_msg(stamp=stamp), info_msg())
    h.expect_pose(n_before + 1)


def fake_tf2_ros(transforms):
    """A stand-in tf2_ros module (the real one is not installable from PyPI)."""
    module = types.ModuleType('tf2_ros')

    class TransformException(Exception):
        pass

    class LookupException(TransformException):
        pass

    class Buffer:
        def lookup_transform(self, target, source, time, timeout=None):
            module.calls.append((target, source, time.nanoseconds, timeout.nanoseconds))
            if (target, source) not in transforms:
                raise LookupException(f'"{target}" passed to lookupTransform does not exist')
            return transforms[(target, source)]

    class TransformListener:
        def __init__(self, buffer, node, spin_thread=False):
            # The listener has a node of its own, spun in its own thread (geometry2 #327).
            assert not spin_thread and node.get_name().endswith('_tf_listener')
            module.listeners.append(self)

    module.TransformException = TransformException
    module.Buffer, module.TransformListener = Buffer, TransformListener
    module.calls, module.listeners = [], []
    return module
