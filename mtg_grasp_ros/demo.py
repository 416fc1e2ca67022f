"""``python -m mtg_grasp_ros.demo``: the grasp node on a simulated camera, end to end.

Starts two processes, as on a robot: the simulated camera (:mod:`mtg_grasp_ros.sim_camera`,
held-out objects on a table, 640x480 rgb8 at 30 Hz, best-effort) and the grasp detection node
(:mod:`mtg_grasp_ros.grasp_node`, the default model unless ``--model``), both with
``FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA`` on a private ``ROS_DOMAIN_ID``. The
node gets the camera pose (``camera_pose.*``, ``use_tf: false``) and the table (``table_height:
0``) in ``world``. This process subscribes to the node's ``~/grasp_pose``, ``~/grasp`` and
``~/debug_image``, to the camera image and to the camera's ground truth; it prints each new grasp
in the robot frame (at most once a second) and at the end the processed frame rate, the
image-stamp-to-grasp latency, the frames without a grasp and the grasp's error against the
object's true footprint; it writes the camera image with the grasp drawn (``--out``).
"""

from __future__ import annotations

import argparse
from collections import deque
from dataclasses import dataclass
import math
import os
from pathlib import Path
import re
import signal
import struct
import subprocess
import sys
import time
from typing import Dict, List, Optional, Tuple

import numpy as np

from mtg_grasp_ros.sim_camera import (DEFAULT_FOV_DEG, DEFAULT_RPY, DEFAULT_XYZ,
                                      footprints_from_message, polygon_centroid,
                                      polygon_distance, SimCamera)

ROOT = Path(__file__).resolve().parents[1]
IMAGE_TOPIC = '/camera/color/image_raw'
#: Footprints at least this elongated have a minor axis to close across (as the node test).
ELONGATED_ASPECT = 1.5
INFO_TOPIC = '/camera/color/camera_info'
NODE = '/grasp_detection'
CAMERA_NODE = '/sim_camera'


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='python -m mtg_grasp_ros.demo',
        description='Run the grasp detection node on a simulated camera (pybullet, held-out '
                    'objects on a table) in two processes, print the grasps in the robot '
                    'frame, the frame rate, the latency and the error against the true object, '
                    'and draw the grasp on the camera image.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--seconds', type=float, default=20.0,
                        help='how long to measure, from the first grasp on')
    parser.add_argument('--model', type=Path, default=None,
                        help='deploy model (stem, file or directory); default: the package '
                             'default models/mtgcnn_depth_p')
    parser.add_argument('--out', type=Path, default=Path('runs/node_demo/grasp.png'),
                        help='annotated picture; the node logs go beside it')
    parser.add_argument('--objects', type=int, default=1, help='objects on the table')
    parser.add_argument('--respawn', type=float, default=10.0,
                        help='drop the objects again every this many seconds (0 = never)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the object draws')
    parser.add_argument('--rate', type=float, default=30.0, help='camera frame rate, Hz')
    parser.add_argument('--camera-xyz', type=float, nargs=3, default=list(DEFAULT_XYZ),
                        metavar=('X', 'Y', 'Z'), help='camera optical frame in world, m')
    parser.add_argument('--camera-rpy', type=float, nargs=3, default=list(DEFAULT_RPY),
                        metavar=('R', 'P', 'Y'),
                        help='camera optical frame orientation (tf2 setRPY), rad; the default '
                             'looks straight down')
    parser.add_argument('--fov', type=float, default=DEFAULT_FOV_DEG,
                        help='vertical field of view, degrees')
    parser.add_argument('--target-frame', default='world',
                        help='frame of the grasps (the table and camera pose are given in it)')
    parser.add_argument('--object-height', type=float, default=0.02,
                        help="the node's object_height: grasp centre above the table, m")
    parser.add_argument('--min-quality', type=float, default=None,
                        help="the node's min_quality (default: the node's default)")
    parser.add_argument('--backend', default='auto', choices=('auto', 'torch', 'onnx'),
                        help="the node's inference backend")
    parser.add_argument('--threads', type=int, default=0,
                        help="the node's inference threads (0 = the library default)")
    parser.add_argument('--qos', choices=('reliable', 'best_effort'), default='best_effort',
                        help='reliability of the camera publisher (the node matches it). '
                             'Best-effort is what camera drivers do; with LARGE_DATA it '
                             'delivered every frame here at 1 ms, reliable at ~1 ms more CPU '
                             'per frame (README "Real time on a CPU")')
    parser.add_argument('--no-large-data', action='store_true',
                        help='do not set FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA (to see the '
                             'problem it solves)')
    parser.add_argument('--no-debug-image', action='store_true',
                        help='do not subscribe to ~/debug_image (the node then skips drawing it)')
    parser.add_argument('--domain-id', type=int, default=None,
                        help='ROS_DOMAIN_ID (default: a private one from the process id)')
    parser.add_argument('--startup-timeout', type=float, default=120.0,
                        help='seconds to wait for the first grasp')
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.objects < 1 or args.rate <= 0:
        parser.error('--seconds and --rate must be positive, --objects at least 1')
    return args


# ------------------------------------------------------------------------------ processes
class Child:
    """A child process with its output in a log file; stopped by its own pid only."""

    def __init__(self, name: str, command: List[str], env: Dict[str, str], log: Path) -> None:
        self.name, self.log = name, log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(log, 'w')
        # Own session: a terminal Ctrl-C reaches only the demo, which stops the children.
        self.proc = subprocess.Popen(command, env=env, cwd=os.getcwd(), stdout=self._file,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> Optional[int]:
        """SIGINT (rclpy's clean shutdown), then SIGTERM, then SIGKILL."""
        for sig, wait in ((signal.SIGINT, 8.0), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            if self.proc.poll() is not None:
                break
            try:
                self.proc.send_signal(sig)
                self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                break
        self._file.close()
        return self.proc.poll()

    def text(self) -> str:
        try:
            return self.log.read_text(errors='replace')
        except OSError:
            return ''

    def tail(self, lines: int = 15) -> str:
        return '\n'.join(self.text().splitlines()[-lines:])


def ros_list(values) -> str:
    return '[' + ','.join(repr(float(v)) for v in values) + ']'


def child_env(args: argparse.Namespace) -> Dict[str, str]:
    env = dict(os.environ)
    env['ROS_DOMAIN_ID'] = str(args.domain_id)
    if args.no_large_data:
        env.pop('FASTDDS_BUILTIN_TRANSPORTS', None)
    else:
        env['FASTDDS_BUILTIN_TRANSPORTS'] = 'LARGE_DATA'
        # Measured here (tools/dds_image_probe.py): ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST makes
        # rmw_fastrtps replace the LARGE_DATA transports with UDP on localhost: a reliable
        # 640x480 image then takes 11.9 instead of 2.0 ms, and a best-effort reader gets 4 of
        # 480. The private domain id isolates the run instead.
        env.pop('ROS_AUTOMATIC_DISCOVERY_RANGE', None)
    # Run from the source tree as well as installed.
    env['PYTHONPATH'] = os.pathsep.join(p for p in (str(ROOT), env.get('PYTHONPATH')) if p)
    env['PYTHONUNBUFFERED'] = '1'
    return env


def configure_ros_environment(args: argparse.Namespace) -> Dict[str, str]:
    """Pick a private ROS_DOMAIN_ID (unless given), apply it and the DDS transport to this
    process, and return the environment for the child processes."""
    if args.domain_id is None:
        args.domain_id = 20 + os.getpid() % 80
    env = child_env(args)
    os.environ['ROS_DOMAIN_ID'] = env['ROS_DOMAIN_ID']
    if 'ROS_AUTOMATIC_DISCOVERY_RANGE' not in env:
        os.environ.pop('ROS_AUTOMATIC_DISCOVERY_RANGE', None)
    if args.no_large_data:
        os.environ.pop('FASTDDS_BUILTIN_TRANSPORTS', None)
    else:
        os.environ['FASTDDS_BUILTIN_TRANSPORTS'] = 'LARGE_DATA'
    return env


def camera_command(args: argparse.Namespace) -> List[str]:
    params = {'rate': float(args.rate), 'fov_deg': float(args.fov),
              'camera_xyz': ros_list(args.camera_xyz), 'camera_rpy': ros_list(args.camera_rpy),
              'world_frame': args.target_frame, 'objects': args.objects, 'seed': args.seed,
              'respawn_period': float(args.respawn),
              'reliability': args.qos}
    return ([sys.executable, '-m', 'mtg_grasp_ros.sim_camera', '--ros-args']
            + [a for k, v in params.items() for a in ('-p', f'{k}:={v}')])


def node_command(args: argparse.Namespace, model: Path) -> List[str]:
    params = {'model_path': str(model), 'backend': args.backend,
              'target_frame': args.target_frame, 'use_tf': 'false',
              'camera_pose.xyz': ros_list(args.camera_xyz),
              'camera_pose.rpy': ros_list(args.camera_rpy), 'table_height': 0.0,
              'object_height': float(args.object_height), 'reliability': 'auto',
              'stats_period': 5.0, 'threads': int(args.threads)}
    if args.min_quality is not None:
        params['min_quality'] = float(args.min_quality)
    return ([sys.executable, '-m', 'mtg_grasp_ros.grasp_node', '--ros-args',
             '-r', f'image:={IMAGE_TOPIC}', '-r', f'camera_info:={INFO_TOPIC}']
            + [a for k, v in params.items() for a in ('-p', f'{k}:={v}')])


# ------------------------------------------------------------------------------ bookkeeping
@dataclass
class GraspRecord:
    stamp: float
    received: float
    xyz: np.ndarray
    yaw: float
    fields: Optional[Dict[str, float]] = None


@dataclass
class TruthObject:
    name: str
    footprint: np.ndarray
    centre: np.ndarray
    major_yaw: float

    @property
    def aspect(self) -> float:
        """Length / breadth of the footprint's minimum-area rectangle."""
        import cv2
        (_, _), (a, b), _ = cv2.minAreaRect(np.asarray(self.footprint, dtype=np.float32))
        return max(a, b) / max(min(a, b), 1e-9)


def stamp_seconds(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def cdr_stamp(raw: bytes) -> float:
    """header.stamp of a serialised message that starts with a std_msgs/Header (CDR: a 4-byte
    encapsulation header whose 2nd byte is odd for little endian, then int32 sec, uint32
    nanosec)."""
    order = '<' if raw[1] & 1 else '>'
    sec, nanosec = struct.unpack_from(order + 'iI', raw, 4)
    return sec + nanosec * 1e-9


def yaw_of(q) -> float:
    """Yaw of the x axis of a quaternion (x, y, z, w)."""
    x, y, z, w = q
    return math.atan2(2 * (x * y + z * w), 1 - 2 * (y * y + z * z))


def half_turn(angle: float) -> float:
    return (angle + math.pi / 2) % math.pi - math.pi / 2


def evaluate(grasp: GraspRecord, objects: List[TruthObject]) -> Optional[Tuple[str, float,
                                                                               float, float]]:
    """(object, distance to its footprint, to its centre, jaw angle from across (deg)) of the
    object nearest to the grasp."""
    if not objects:
        return None
    best = min(objects, key=lambda o: (polygon_distance(o.footprint, grasp.xyz[:2]),
                                       float(np.linalg.norm(o.centre - grasp.xyz[:2]))))
    across = half_turn(grasp.yaw - best.major_yaw - math.pi / 2)
    return (best.name, polygon_distance(best.footprint, grasp.xyz[:2]),
            float(np.linalg.norm(best.centre - grasp.xyz[:2])), abs(math.degrees(across)))


def percentile(values, q) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else math.nan


# ------------------------------------------------------------------------------ drawing
def draw(rgb: np.ndarray, camera: SimCamera, grasp: GraspRecord,
         objects: List[TruthObject], lines: List[str]) -> np.ndarray:
    """BGR picture: ground-truth footprints (green), the grasp (jaws red, closing line blue)."""
    import cv2
    img = np.ascontiguousarray(rgb[:, :, ::-1])
    for obj in objects:
        pts = np.c_[obj.footprint, np.zeros(len(obj.footprint))]
        u, v, _ = camera.project(pts)
        poly = np.round(np.c_[u, v]).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(img, [poly], True, (60, 200, 60), 1, cv2.LINE_AA)
    f = grasp.fields or {}
    if {'u', 'v', 'image_angle', 'width_px'} <= set(f):
        c = np.array([f['u'], f['v']])
        d = np.array([math.cos(f['image_angle']), -math.sin(f['image_angle'])])
        n = np.array([-d[1], d[0]])
        half_w, half_j = max(f['width_px'], 2.0) / 2, max(f['width_px'] / 4, 4.0)
        corners = [c - half_w * d - half_j * n, c + half_w * d - half_j * n,
                   c + half_w * d + half_j * n, c - half_w * d + half_j * n]
        p = [tuple(int(round(x)) for x in q) for q in corners]
        cv2.line(img, p[0], p[3], (0, 0, 255), 3, cv2.LINE_AA)   # jaw
        cv2.line(img, p[1], p[2], (0, 0, 255), 3, cv2.LINE_AA)   # jaw
        cv2.line(img, p[0], p[1], (255, 120, 0), 1, cv2.LINE_AA)
        cv2.line(img, p[3], p[2], (255, 120, 0), 1, cv2.LINE_AA)
        cv2.circle(img, tuple(int(round(x)) for x in c), 3, (255, 120, 0), -1, cv2.LINE_AA)
    y = 8
    for text in lines:
        (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
        cv2.rectangle(img, (4, y - 2), (10 + w, y + h + 4), (255, 255, 255), -1)
        cv2.putText(img, text, (7, y + h), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                    cv2.LINE_AA)
        y += h + 8
    return img


# ------------------------------------------------------------------------------ the run
class Monitor:
    """This process' ROS side: grasps, images, ground truth."""

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
        node.create_subscription(PoseStamped, f'{NODE}/grasp_pose', self.on_pose, reliable)
        node.create_subscription(Float32MultiArray, f'{NODE}/grasp', self.on_array, reliable)
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

    def on_pose(self, msg) -> None:
        now = time.time()
        p, q = msg.pose.position, msg.pose.orientation
        self.grasps.append(GraspRecord(stamp=stamp_seconds(msg.header.stamp), received=now,
                                       xyz=np.array([p.x, p.y, p.z]),
                                       yaw=yaw_of((q.x, q.y, q.z, q.w))))

    def on_array(self, msg) -> None:
        names = msg.layout.dim[0].label.split(',') if msg.layout.dim else []
        fields = dict(zip(names, (float(v) for v in msg.data)))
        xyz = np.array([fields.get('x', np.nan), fields.get('y', np.nan), fields.get('z', np.nan)])
        for g in reversed(self.grasps[-300:]):  # ~/grasp follows its ~/grasp_pose
            if g.fields is None and np.allclose(g.xyz, xyz, atol=1e-5):
                g.fields = fields
                break

    def on_debug(self, msg) -> None:
        self.debug = msg

    def on_image(self, raw: bytes) -> None:
        stamp = cdr_stamp(raw)
        self.image_stamps.append(stamp)
        self.images.append((stamp, raw))

    def on_objects(self, msg) -> None:
        self.truth_poses[stamp_seconds(msg.header.stamp)] = [
            (np.array([p.position.x, p.position.y]),
             yaw_of((p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w)))
            for p in msg.poses]

    def on_footprints(self, msg) -> None:
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


def node_statistics(text: str) -> Optional[str]:
    """The grasp node's last statistics line from its log."""
    found = re.findall(r'(frames in \d+, processed.*)', text)
    return found[-1].strip() if found else None


def run(args: argparse.Namespace) -> int:
    from mtg_grasp_ros.grasp_node import DEFAULT_MODEL_STEM, default_model_path

    model = args.model if args.model is not None else default_model_path()
    model = Path(model).expanduser().resolve()
    if not (model.with_suffix('.json').is_file() or model.is_file() or model.is_dir()):
        which = ('the default model' if args.model is None else 'the model')
        print(f'error: {which} {model} does not exist (no {model.name}.json).\n'
              f'  The default models/{DEFAULT_MODEL_STEM} is trained and exported with '
              f'`python -m training export ...`; `make train-demo` gives a small one in '
              f'runs/demo/model/mtgcnn_demo: pass it with --model.', file=sys.stderr)
        return 1
    env = configure_ros_environment(args)
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    camera = SimCamera(fov_deg=args.fov, xyz=tuple(args.camera_xyz), rpy=tuple(args.camera_rpy))
    transport = ('Fast DDS defaults' if args.no_large_data
                 else 'FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA')
    print(f'node demo: ROS_DOMAIN_ID {args.domain_id}, {transport}, camera '
          f'{args.qos} {args.rate:g} Hz, model {model}')
    print(f'logs: {out.parent / "sim_camera.log"}, {out.parent / "grasp_node.log"}')

    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    try:
        from rclpy.signals import SignalHandlerOptions
        rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    except ImportError:
        rclpy.init()
    children: List[Child] = []
    node = None
    # Ctrl-C and SIGTERM end the run cleanly (also when started with SIGINT ignored, as a
    # background job of a non-interactive shell is).
    previous_term = signal.signal(signal.SIGTERM, _raise_interrupt)
    previous_int = signal.signal(signal.SIGINT, _raise_interrupt)
    try:
        children.append(Child('sim camera', camera_command(args), env,
                              out.parent / 'sim_camera.log'))
        children.append(Child('grasp node', node_command(args, model), env,
                              out.parent / 'grasp_node.log'))
        node = rclpy.create_node('node_demo_monitor')
        monitor = Monitor(node, debug=not args.no_debug_image)
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        return _measure(args, camera, children, monitor, executor, out,
                        ExternalShutdownException)
    except KeyboardInterrupt:
        print('\ninterrupted: stopping the nodes')
        return 130
    finally:
        # A second Ctrl-C must not leave the children running: ignore it while stopping them.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            for child in reversed(children):
                code = child.stop()
                if code not in (0, None, -signal.SIGINT, 130):
                    print(f'{child.name} exited with {code} (log: {child.log})')
            if node is not None:
                node.destroy_node()
            rclpy.try_shutdown()
        finally:
            signal.signal(signal.SIGTERM, previous_term)
            signal.signal(signal.SIGINT, previous_int)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _measure(args, camera, children, monitor, executor, out, shutdown_exc) -> int:
    start = time.monotonic()
    first: Optional[float] = None
    last_print = -math.inf
    interrupted = False
    print('waiting for the camera and the node (loading the model)...')
    try:
        while True:
            executor.spin_once(timeout_sec=0.05)
            now = time.monotonic()
            for child in children:
                if not child.running():
                    fatal = [ln for ln in child.text().splitlines()
                             if 'FATAL' in ln or 'Error' in ln or 'error' in ln]
                    print(f'error: the {child.name} exited with code {child.proc.returncode} '
                          f'before the demo ended:', file=sys.stderr)
                    print('  ' + '\n  '.join(fatal[-5:] or child.tail().splitlines()),
                          file=sys.stderr)
                    return 1
            if first is None:
                if monitor.grasps:
                    first = now
                    print(f'first grasp after {now - start:.1f} s; measuring for '
                          f'{args.seconds:g} s')
                elif now - start > args.startup_timeout:
                    print(f'error: no grasp within {args.startup_timeout:g} s. Camera log '
                          f'tail:\n{children[0].tail(5)}\nNode log tail:\n'
                          + children[1].tail(), file=sys.stderr)
                    return 1
                continue
            if monitor.grasps and now - last_print >= 1.0:
                last_print = now
                # The newest grasp whose ~/grasp (width, quality) is in as well.
                g = next((g for g in reversed(monitor.grasps[-10:]) if g.fields),
                         monitor.grasps[-1])
                _print_grasp(now - first, g, monitor.truth_at(g.stamp))
            if now - first >= args.seconds:
                break
    except (KeyboardInterrupt, shutdown_exc):
        interrupted = True
        print('\ninterrupted: summary of what was measured so far')
    if first is None:
        return 130 if interrupted else 1
    grasps = list(monitor.grasps)
    fps, latency = _summary(args, monitor, grasps, children)
    try:
        _write_picture(args, camera, monitor, executor, out, latency, fps)
    except KeyboardInterrupt:
        interrupted = True
    return 130 if interrupted else 0


def _print_grasp(t: float, g: GraspRecord, objects: List[TruthObject]) -> None:
    f = g.fields or {}
    text = (f'{t:5.1f} s  grasp in world: x {g.xyz[0]:+.3f} y {g.xyz[1]:+.3f} z {g.xyz[2]:+.3f} m,'
            f' yaw {math.degrees(g.yaw):+4.0f} deg')
    if f:
        text += f', opening {f.get("width", 0) * 100:.1f} cm, quality {f.get("quality", 0):.2f}'
    result = evaluate(g, objects)
    if result is not None:
        name, d_fp, d_c, ang = result
        text += (f' | {name}: {d_fp * 100:.1f} cm off its footprint, {d_c * 100:.1f} cm from '
                 f'its centre, jaws {ang:.0f} deg from across')
    print(text, flush=True)


def _summary(args, monitor, grasps, children) -> Tuple[float, List[float]]:
    """Print the measurement; returns (processed frames/s, latencies in ms)."""
    span = max(grasps[-1].received - grasps[0].received, 1e-9)
    latency = [(g.received - g.stamp) * 1000.0 for g in grasps]
    evals = [(g, evaluate(g, monitor.truth_at(g.stamp))) for g in grasps]
    evals = [(g, e) for g, e in evals if e is not None]
    # The camera publishes at a fixed rate: the frames it sent between the first and the last
    # grasped frame follow from their stamps (this process may itself miss best-effort images).
    sent = int(round((grasps[-1].stamp - grasps[0].stamp) * args.rate)) + 1
    distinct = len({g.stamp for g in grasps})
    print('\n=== summary ===')
    print(f'processed: {distinct} frames with a grasp in {span:.1f} s = '
          f'{(distinct - 1) / span:.1f} frames/s (camera {args.rate:g} Hz, '
          f'{args.qos})')
    print(f'frames dropped: {max(sent - distinct, 0)} of the ~{sent} the camera sent meanwhile '
          f'({100.0 * max(sent - distinct, 0) / sent:.0f}%: lost in transport, replaced in the '
          f'keep-last-1 queue, superseded in the node, or best quality < min_quality)')
    print(f'latency, image stamp -> grasp received here: p50 {percentile(latency, 50):.1f} ms, '
          f'p99 {percentile(latency, 99):.1f} ms (max {max(latency):.1f} ms)')
    stats = node_statistics(children[1].text())
    if stats:
        print(f'node statistics (last line of its log): {stats}')
    if evals:
        d_fp = [e[1] for _, e in evals]
        d_c = [e[2] for _, e in evals]
        # "Across" is defined only for elongated footprints (a round object has no minor axis).
        elongated = {o.name for g, _ in evals for o in monitor.truth_at(g.stamp)
                     if o.aspect >= ELONGATED_ASPECT}
        ang = [e[3] for _, e in evals if e[0] in elongated]
        on = sum(d <= 0.01 for d in d_fp)
        print(f'error against the true object (nearest object, {len(evals)} grasps): '
              f'{on}/{len(evals)} ({100.0 * on / len(evals):.0f}%) within 1 cm of its '
              f'footprint; distance to the footprint median {np.median(d_fp) * 100:.2f} cm, '
              f'max {max(d_fp) * 100:.2f} cm; to its centre median {np.median(d_c) * 100:.2f} '
              f'cm')
        names = sorted({e[0] for _, e in evals})
        if ang:
            within = sum(a <= 15.0 for a in ang)
            print(f'jaws from across the minor axis, on the elongated objects '
                  f'({", ".join(sorted(elongated))} of {", ".join(names)}; aspect >= '
                  f'{ELONGATED_ASPECT:g}): median {np.median(ang):.0f} deg, within 15 deg in '
                  f'{within}/{len(ang)} grasps')
        else:
            print(f'jaws from across: no elongated object in this run ({", ".join(names)})')
    return (distinct - 1) / span, latency


def _write_picture(args, camera, monitor, executor, out, latency, fps) -> None:
    """Subscribe to the images now, wait for one whose grasp arrives, draw it."""
    import cv2
    monitor.subscribe_images()
    chosen = None
    end = time.monotonic() + 5.0
    while time.monotonic() < end and chosen is None:
        executor.spin_once(timeout_sec=0.05)
        if args.no_debug_image or monitor.debug is not None:
            for g in reversed(monitor.grasps[-30:]):
                if g.fields is not None:
                    msg = monitor.image_at(g.stamp)
                    if msg is not None:
                        chosen = (g, msg)
                        break
    if chosen is None:
        print('no camera image matched a grasp within 5 s: no picture written')
        return
    g, msg = chosen
    rgb = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.width, 3)
    objects = monitor.truth_at(g.stamp)
    f = g.fields or {}
    lines = [f'grasp in {args.target_frame}: x {g.xyz[0]:+.3f}  y {g.xyz[1]:+.3f}  '
             f'z {g.xyz[2]:+.3f} m',
             f'yaw {math.degrees(g.yaw):+.0f} deg, opening {f.get("width", math.nan) * 100:.1f} '
             f'cm, quality {f.get("quality", math.nan):.2f}']
    result = evaluate(g, objects)
    if result is not None:
        lines.append(f'{result[0]}: {result[1] * 100:.1f} cm off footprint, jaws '
                     f'{result[3]:.0f} deg from across')
    lines.append(f'{fps:.1f} grasps/s, stamp->grasp p50 {percentile(latency, 50):.0f} ms')
    cv2.imwrite(str(out), draw(rgb, camera, g, objects, lines))
    print(f'wrote {out} (camera image, true footprints green, grasp: jaws red)')
    if monitor.debug is not None:
        d = monitor.debug
        debug = np.frombuffer(d.data, np.uint8).reshape(d.height, d.width, 3)
        path = out.with_name(out.stem + '_debug.png')
        cv2.imwrite(str(path), np.ascontiguousarray(debug[:, :, ::-1]))
        print(f"wrote {path} (the node's ~/debug_image: network input, quality heat-map)")


def main(argv=None) -> int:
    args = parse_args(argv)
    return run(args)


if __name__ == '__main__':
    sys.exit(main())
