"""The simulated RGB camera node: a pybullet table scene published as a ROS 2 camera.

``python -m simulation.camera_node`` (node ``sim_camera``) renders held-out objects of
pybullet_data's ``random_urdfs`` resting on a table (:class:`simulation.tabletop.SimulatedScene`)
and publishes, like a camera driver,

* ``camera/color/image_raw`` (sensor_msgs/Image, ``rgb8``, 640x480 by default) and
* ``camera/color/camera_info`` (sensor_msgs/CameraInfo, the exact pinhole intrinsics of the
  renderer, no distortion) at ``rate`` Hz, stamped with the node clock, ``frame_id`` the
  camera's **optical** frame (REP 103: x right, y down, z forward);
* the ground truth, reliable and transient-local (latched): ``~/objects`` (PoseArray in
  ``world_frame``) and ``~/footprints`` (MarkerArray; :mod:`simulation.messages` describes
  both). Both are stamped with the first image of the scene, so a grasp stamped at or after it
  belongs to that scene (republished every second);
* ``/tf_static`` ``world_frame`` -> ``frame_id`` when ``tf2_msgs`` imports (a ROS 2 install),
  so a grasp node using TF finds the camera pose.

The scene is rendered only when it changes (start-up, and every ``respawn_period`` s when the
objects are dropped again, in a background thread); every frame republishes the cached image,
one of ``noise_frames`` pre-computed copies with Gaussian noise of ``noise_std`` grey levels.
Rendering 640x480 takes ~10-30 ms, which two loaded cores cannot do 30 times a second next to
the grasp node.

Geometry (:class:`simulation.camera.SimCamera`): the pose of the optical frame in the world is
``camera_xyz`` and ``camera_rpy`` (tf2 ``setRPY``), the same convention as the grasp node's
``camera_pose.*`` parameters, so the same numbers configure both; ``fov_deg`` is the *vertical*
field of view and the principal point is TinyRenderer's ``(width / 2, height / 2 - 1)``.
:data:`PARAMETERS` lists every parameter with its default and meaning.
"""

from __future__ import annotations

from dataclasses import dataclass
import sys
import threading
import time
from typing import Any, List, Optional, Tuple

import numpy as np

from simulation.camera import DEFAULT_FOV_DEG, DEFAULT_RPY, DEFAULT_SIZE, DEFAULT_XYZ, SimCamera
from simulation.messages import (camera_info_message, footprints_message, image_message,
                                 objects_message, static_transform_message)
from simulation.objects import parse_object_ids
from simulation.tabletop import DEFAULT_OBJECT_SIZE, noisy_copies, SimObject, SimulatedScene

NODE_NAME = 'sim_camera'
#: Publisher reliabilities the cameras offer (``reliability`` parameter, ``--reliability``).
RELIABILITIES = ('best_effort', 'reliable')


@dataclass
class _Scene:
    """What the publisher thread serves: image copies and the truth they show."""

    images: List[Any]               # sensor_msgs/Image, data filled, stamp set per frame
    objects: List[SimObject]
    number: int
    published: bool = False
    truth: Optional[Tuple[Any, Any]] = None   # (PoseArray, MarkerArray) once published


#: ``(name, default, description)`` of every (read-only) parameter of the node.
PARAMETERS: Tuple[Tuple[str, Any, str], ...] = (
    ('rate', 30.0, 'frames per second'),
    ('width', DEFAULT_SIZE[0], 'image width, px'),
    ('height', DEFAULT_SIZE[1], 'image height, px'),
    ('fov_deg', DEFAULT_FOV_DEG, 'vertical field of view, degrees'),
    ('camera_xyz', list(DEFAULT_XYZ), 'optical frame position in world_frame, m'),
    ('camera_rpy', list(DEFAULT_RPY), 'optical frame roll, pitch, yaw in world_frame (tf2 '
     'setRPY), rad; the default looks straight down'),
    ('world_frame', 'world', 'frame of the table, the camera pose and the ground truth'),
    ('frame_id', 'sim_camera_optical_frame', 'header frame_id of the images (optical frame)'),
    ('objects', 1, 'number of objects on the table'),
    ('object_ids', '', 'held-out objects to use, e.g. "r010,r250" (empty: random held-out)'),
    ('object_size', list(DEFAULT_OBJECT_SIZE), 'range of the largest object side, m'),
    ('seed', 0, 'random seed of the object draws and poses'),
    ('respawn_period', 0.0, 'drop the objects again every this many seconds (0 = never)'),
    ('noise_std', 2.0, 'Gaussian image noise, grey levels (0 = none)'),
    ('noise_frames', 4, 'pre-computed noisy copies cycled through (no per-frame cost)'),
    ('shadows', True, 'render shadows'),
    ('reliability', 'best_effort', 'publisher reliability: best_effort (as camera drivers) or '
     'reliable'),
    ('publish_tf', True, 'publish world_frame -> frame_id on /tf_static (needs tf2_msgs)'),
)


def _node_class():
    """The rclpy node class (built lazily: importing this module needs no ROS)."""
    from geometry_msgs.msg import PoseArray
    from rclpy.node import Node
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image
    from visualization_msgs.msg import MarkerArray

    class SimCameraNode(Node):
        """See the module docstring; ``**kwargs`` go to :class:`rclpy.node.Node`. Raises
        ValueError for a bad parameter (reliability, rate, object ids, sizes)."""

        def __init__(self, node_name: str = NODE_NAME, **kwargs) -> None:
            super().__init__(node_name, **kwargs)
            self.p = p = declare_parameters(self, PARAMETERS)
            if p['reliability'] not in RELIABILITIES:
                raise ValueError(f'reliability must be one of {RELIABILITIES}')
            if not 0.1 <= float(p['rate']) <= 1000:
                raise ValueError('rate must be in [0.1, 1000] Hz')
            self.camera = SimCamera(width=int(p['width']), height=int(p['height']),
                                    fov_deg=float(p['fov_deg']),
                                    xyz=tuple(float(v) for v in p['camera_xyz']),
                                    rpy=tuple(float(v) for v in p['camera_rpy']))
            self.scene = SimulatedScene(
                self.camera, objects=int(p['objects']),
                object_ids=parse_object_ids(p['object_ids']),
                object_size=tuple(float(v) for v in p['object_size']), seed=int(p['seed']),
                shadows=bool(p['shadows']))
            self._rng = np.random.default_rng(int(p['seed']) + 1)
            self._lock = threading.Lock()
            self._stop = threading.Event()
            self._next: Optional[_Scene] = None
            self._current: Optional[_Scene] = None
            self.frames = 0
            self.scenes = 0
            reliability = (ReliabilityPolicy.RELIABLE if p['reliability'] == 'reliable'
                           else ReliabilityPolicy.BEST_EFFORT)
            qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=reliability,
                             durability=DurabilityPolicy.VOLATILE)
            latched = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                                 reliability=ReliabilityPolicy.RELIABLE,
                                 durability=DurabilityPolicy.TRANSIENT_LOCAL)
            self.image_pub = self.create_publisher(Image, 'camera/color/image_raw', qos)
            self.info_pub = self.create_publisher(CameraInfo, 'camera/color/camera_info', qos)
            self.objects_pub = self.create_publisher(PoseArray, '~/objects', latched)
            self.footprints_pub = self.create_publisher(MarkerArray, '~/footprints', latched)
            self._info = camera_info_message(self.camera, frame_id=p['frame_id'])
            self._publish_static_tf()
            self._next = self._make_scene()  # the first scene, before the first frame
            self._respawner = None
            if float(p['respawn_period']) > 0:
                self._respawner = threading.Thread(target=self._respawn_loop,
                                                   name='sim_respawn', daemon=True)
                self._respawner.start()
            self.timer = self.create_timer(1.0 / float(p['rate']), self._tick)
            self._period_start, self._period_frames = time.monotonic(), 0
            self._publish_s: List[float] = []
            self.create_timer(10.0, self._log_rate)
            self.create_timer(1.0, self._republish_truth)
            c = self.camera
            self.get_logger().info(
                f'ready: {c.width}x{c.height} rgb8 at {float(p["rate"]):g} Hz '
                f'({p["reliability"]}), fx = fy = {c.focal:.2f}, cx {c.cx}, cy {c.cy}; camera '
                f'{p["frame_id"]} at xyz {list(c.xyz)} rpy {[round(v, 4) for v in c.rpy]} in '
                f'{p["world_frame"]}; objects '
                + ', '.join(o.object_id for o in self._next.objects))

        def _publish_static_tf(self) -> None:
            if not self.p['publish_tf']:
                return
            try:
                from tf2_msgs.msg import TFMessage
            except ImportError:
                self.get_logger().info(
                    'tf2_msgs is not installed: no /tf_static; give the grasp node the camera '
                    'pose as parameters (camera_pose.xyz/rpy = camera_xyz/rpy, use_tf false)')
                return
            latched = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                                 reliability=ReliabilityPolicy.RELIABLE,
                                 durability=DurabilityPolicy.TRANSIENT_LOCAL)
            self.tf_pub = self.create_publisher(TFMessage, '/tf_static', latched)
            self.tf_pub.publish(TFMessage(transforms=[static_transform_message(
                self.camera, self.get_clock().now().to_msg(), self.p['world_frame'],
                self.p['frame_id'])]))

        def _make_scene(self) -> _Scene:
            """Drop, settle and render (seconds of CPU): only at start and per respawn."""
            self.scene.reset()
            render = self.scene.render()
            copies = noisy_copies(render.rgb, float(self.p['noise_std']),
                                  int(self.p['noise_frames']), self._rng)
            images = [image_message(rgb, frame_id=self.p['frame_id']) for rgb in copies]
            objects = [o.copy() for o in self.scene.objects]
            self.scenes += 1
            return _Scene(images=images, objects=objects, number=self.scenes)

        def _respawn_loop(self) -> None:
            period = float(self.p['respawn_period'])
            while not self._stop.wait(period):
                try:
                    scene = self._make_scene()
                except Exception as exc:  # keep publishing the old scene
                    self.get_logger().error(f'respawn failed: {type(exc).__name__}: {exc}')
                    continue
                with self._lock:
                    self._next = scene

        def _tick(self) -> None:
            stamp = self.get_clock().now().to_msg()
            with self._lock:
                if self._next is not None:
                    self._current, self._next = self._next, None
            scene = self._current
            if scene is None:
                return
            if not scene.published:  # the truth first, stamped like the first image
                scene.published = True
                scene.truth = (objects_message(scene.objects, stamp, self.p['world_frame']),
                               footprints_message(scene.objects, stamp, self.p['world_frame']))
                self._republish_truth()
                self.get_logger().info(
                    f'scene {scene.number}: ' + '; '.join(
                        f'{o.object_id} at ({o.centre[0]:+.3f}, {o.centre[1]:+.3f}) m, '
                        f'{o.height * 100:.1f} cm high' for o in scene.objects))
            image = scene.images[self.frames % len(scene.images)]
            image.header.stamp = stamp
            self._info.header.stamp = stamp
            t0 = time.perf_counter()
            self.image_pub.publish(image)
            self.info_pub.publish(self._info)
            self._publish_s.append(time.perf_counter() - t0)
            self.frames += 1
            self._period_frames += 1

        def _republish_truth(self) -> None:
            """The ground truth of the current scene (again, every second: a reader that lost
            it -- e.g. a starved process on a loaded machine -- has it without waiting for the
            reliable writer's heartbeat; same stamp, so readers can deduplicate)."""
            scene = self._current
            if scene is not None and scene.truth is not None:
                self.objects_pub.publish(scene.truth[0])
                self.footprints_pub.publish(scene.truth[1])

        def _log_rate(self) -> None:
            now = time.monotonic()
            rate = self._period_frames / max(now - self._period_start, 1e-9)
            publish = np.percentile(self._publish_s, 50) * 1000 if self._publish_s else 0.0
            self.get_logger().info(f'published {self._period_frames} frames at {rate:.1f} Hz '
                                   f'(publish p50 {publish:.1f} ms)')
            self._period_start, self._period_frames, self._publish_s = now, 0, []

        @property
        def truth(self) -> List[SimObject]:
            """The objects of the scene being published."""
            scene = self._current or self._next
            return scene.objects if scene is not None else []

        def destroy_node(self) -> None:
            self._stop.set()
            if self._respawner is not None:
                self._respawner.join(timeout=10.0)
            super().destroy_node()
            self.scene.close()

    return SimCameraNode


def lazy_node_class(namespace: dict, class_name: str, factory):
    """A module ``__getattr__`` that builds ``class_name`` with ``factory()`` on first use and
    keeps it in ``namespace`` (the module's globals): importing the module needs no rclpy."""
    def __getattr__(name: str):
        if name == class_name:
            namespace[class_name] = factory()
            return namespace[class_name]
        raise AttributeError(name)
    return __getattr__


def declare_parameters(node, parameters) -> dict:
    """Declare ``(name, default, description)`` rows as read-only parameters of ``node``
    (floats and lists dynamically typed: an integer or a list of ints is accepted); their
    values by name."""
    from rcl_interfaces.msg import ParameterDescriptor
    for name, default, description in parameters:
        descriptor = ParameterDescriptor(description=description, read_only=True)
        descriptor.dynamic_typing = isinstance(default, (float, list))
        node.declare_parameter(name, default, descriptor)
    return {name: node.get_parameter(name).value for name, _, _ in parameters}


__getattr__ = lazy_node_class(globals(), 'SimCameraNode', _node_class)  # SimCameraNode


def spin_node(node_class, name: str, args=None) -> int:
    """Make ``node_class()`` and spin it until shutdown (``args``: rclpy's command line); 1
    when it cannot start (the reason logged as ``name``'s fatal line), else 0 (also when a
    callback fails because SIGINT has just shut the context down). A node with a ``finished``
    future (an rclpy ``Future``) is spun until it is done too, and its result is the exit code
    (the servo controller's ``exit_when_done``). The ``main`` of the simulation's nodes."""
    import rclpy
    from rclpy.executors import ExternalShutdownException

    from mtg_grasp_ros.shutdown import shut_down

    rclpy.init(args=args)
    node = None
    code = 0
    try:
        node = node_class()
        finished = getattr(node, 'finished', None)
        if finished is None:
            rclpy.spin(node)
        else:
            rclpy.spin_until_future_complete(node, finished)
            if finished.done():
                code = int(finished.result())
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception as exc:  # bad parameter, pybullet missing, ...
        if node is None:
            rclpy.logging.get_logger(name).fatal(f'cannot start: {type(exc).__name__}: {exc}')
            code = 1
        elif rclpy.ok():
            raise
        # else: SIGINT shut the context down while a callback was publishing ("publisher's
        # context is invalid"): a clean stop.
    finally:
        shut_down(node)   # a second SIGINT (Ctrl-C of ros2 launch) ignored meanwhile
    return code


def main(args=None) -> int:
    """Run the node until shutdown (``args``: rclpy's command line); 1 when it cannot start
    (the reason is logged), else 0. ``python -m simulation.camera_node``."""
    return spin_node(_node_class(), NODE_NAME, args)


if __name__ == '__main__':
    sys.exit(main())
