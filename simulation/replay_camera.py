"""A light replay camera for benchmarks: pre-rendered frames published at a fixed rate.

``python -m simulation.replay_camera`` (not installed on a robot: the simulation layer) renders
``--frames`` views of held-out objects on a table ONCE at start-up with
:class:`simulation.tabletop.SimulatedScene` (or loads them from ``--frames-file``), builds a
``sensor_msgs/Image`` (640x480 ``rgb8``) per view and one ``sensor_msgs/CameraInfo``, and then
publishes ``camera/color/image_raw`` + ``camera/color/camera_info`` at ``--rate`` Hz, cycling
through the views. Per frame only ``header.stamp`` changes (the current ROS time, taken right
before the publish), so a frame costs one publish (~0.05-1 ms), not a render: unlike
:mod:`simulation.camera_node` it takes almost no CPU from the node being measured.

Scheduling is on the wall clock (monotonic), not an rclpy timer: frame ``k`` is due at
``start + k / rate`` (the deadline advances by one period, so there is no drift). A frame whose
deadline has passed is published at once and counted ``late`` when it is more than
``--late-tolerance`` behind; when the process woke up more than a whole period behind (starved
by the scheduler), the slots already past are ``skipped`` rather than sent in a burst -- a real
camera cannot deliver frames it did not expose either (:func:`next_deadline`).

On SIGINT/SIGTERM (or after ``--duration``) it logs a final count and prints one line
``replay summary: {json}`` (frames published, late, skipped, lateness and publish-time
percentiles) that the end-to-end ROS benchmark parses; ``--stamps-file`` also writes the
stamp of every published frame (``.npz``), so a benchmark can count the frames of any window.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path
import signal
import sys
import threading
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from simulation.camera import DEFAULT_FOV_DEG, DEFAULT_RPY, DEFAULT_SIZE, DEFAULT_XYZ, SimCamera
from simulation.camera_node import RELIABILITIES

NODE_NAME = 'replay_camera'
IMAGE_TOPIC = 'camera/color/image_raw'
INFO_TOPIC = 'camera/color/camera_info'
SUMMARY_PREFIX = 'replay summary: '
#: Version of the --frames-file layout (bumped when the rendering changes; 2: the object poses
#: a seed draws are scipy's uniform random rotations).
FRAMES_FORMAT = 2


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line (without ROS arguments); exits 2 on a bad value, as argparse does."""
    parser = argparse.ArgumentParser(
        prog='python -m simulation.replay_camera',
        description='Publish pre-rendered 640x480 rgb8 camera frames (held-out objects on a '
                    'table) and CameraInfo at a fixed rate, stamped with the current ROS time; '
                    'a light camera for benchmarks. ROS arguments (--ros-args -r ...) are '
                    'passed to rclpy.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--rate', type=float, default=30.0, help='frames per second')
    parser.add_argument('--reliability', choices=RELIABILITIES, default='best_effort',
                        help='publisher reliability. Best-effort, as camera drivers publish: '
                             'with the shared-memory profile config/fastdds_localhost.xml '
                             '(what the benchmark gives it) every frame arrived here; with '
                             'the Fast DDS defaults a best-effort reader gets almost none')
    parser.add_argument('--depth', type=int, default=1,
                        help='publisher history (keep last); 1 = a slow reader gets the newest '
                             'frame, never a backlog')
    parser.add_argument('--frames', type=int, default=8,
                        help='distinct views rendered at start-up (one scene each)')
    parser.add_argument('--objects', type=int, default=1, help='objects per view')
    parser.add_argument('--seed', type=int, default=0, help='seed of the object draws')
    parser.add_argument('--frames-file', type=Path, default=None,
                        help='.npz cache of the rendered views: loaded when it matches the '
                             'settings, else rendered and written')
    parser.add_argument('--stamps-file', type=Path, default=None,
                        help='on exit, write the stamp (ROS time, s) and lateness of every '
                             'published frame here (.npz)')
    parser.add_argument('--duration', type=float, default=0.0,
                        help='stop after this many seconds (0 = until SIGINT/SIGTERM)')
    parser.add_argument('--late-tolerance', type=float, default=0.002,
                        help='a frame published more than this many seconds after its '
                             'deadline counts as late')
    parser.add_argument('--report-period', type=float, default=10.0,
                        help='seconds between progress log lines (0 = none)')
    parser.add_argument('--frame-id', default='replay_camera_optical_frame',
                        help='header frame_id (the camera optical frame)')
    parser.add_argument('--fov', type=float, default=DEFAULT_FOV_DEG,
                        help='vertical field of view of the render, degrees')
    parser.add_argument('--camera-xyz', type=float, nargs=3, default=list(DEFAULT_XYZ),
                        metavar=('X', 'Y', 'Z'), help='camera optical frame in the world, m')
    parser.add_argument('--camera-rpy', type=float, nargs=3, default=list(DEFAULT_RPY),
                        metavar=('R', 'P', 'Y'), help='camera optical frame orientation, rad')
    args = parser.parse_args(argv)
    if not 0.1 <= args.rate <= 1000:
        parser.error('--rate must be in [0.1, 1000] Hz')
    if args.depth < 1 or args.frames < 1 or args.objects < 1:
        parser.error('--depth, --frames and --objects must be at least 1')
    if args.duration < 0 or args.late_tolerance < 0 or args.report_period < 0:
        parser.error('--duration, --late-tolerance and --report-period must be >= 0')
    return args


# ------------------------------------------------------------------------------ scheduling
def next_deadline(deadline: float, now: float, period: float) -> Tuple[float, int]:
    """``(next deadline, slots skipped)`` after the frame due at ``deadline`` was published
    (woken up) at ``now``.

    The deadline advances by exactly one period (a fixed grid: no drift from publish times or
    sleep overshoot). When the next slot is already past -- the process woke up a whole period
    or more late -- the slots before ``now`` are skipped (a slot due exactly at ``now`` is
    kept), so a starved publisher resumes on the grid instead of sending a burst.
    """
    if period <= 0:
        raise ValueError('period must be positive')
    nxt = deadline + period
    if nxt >= now:
        return nxt, 0
    skipped = int(math.ceil((now - nxt) / period))
    return nxt + skipped * period, skipped


class PublishStats:
    """Counters and per-frame records of the publish loop (pure; no ROS)."""

    def __init__(self, late_tolerance: float) -> None:
        self.late_tolerance = late_tolerance
        self.published = 0
        self.late = 0
        self.skipped = 0
        self.stamps: List[float] = []
        self.lateness: List[float] = []
        self.publish_s: List[float] = []
        self.started: Optional[float] = None   # monotonic time of the first publish
        self.last: Optional[float] = None

    def record(self, stamp: float, lateness: float, publish_s: float, now: float) -> None:
        """One published frame: ROS ``stamp`` (s), ``lateness`` behind its deadline (s),
        publish duration (s) and the monotonic time ``now`` (s)."""
        if self.started is None:
            self.started = now
        self.last = now
        self.published += 1
        if lateness > self.late_tolerance:
            self.late += 1
        self.stamps.append(stamp)
        self.lateness.append(lateness)
        self.publish_s.append(publish_s)

    def summary(self, rate: float) -> Dict[str, float]:
        """Counts, achieved rate and lateness/publish percentiles (ms) for target ``rate``."""
        span = (self.last - self.started) if self.published > 1 else 0.0
        lateness = np.asarray(self.lateness, dtype=np.float64) * 1000.0
        publish = np.asarray(self.publish_s, dtype=np.float64) * 1000.0

        def pct(values: np.ndarray, q: float) -> Optional[float]:
            return round(float(np.percentile(values, q)), 3) if len(values) else None

        return {
            'rate_hz': rate, 'published': self.published, 'late': self.late,
            'skipped': self.skipped, 'late_tolerance_ms': self.late_tolerance * 1000.0,
            'span_s': round(span, 3),
            'achieved_hz': round((self.published - 1) / span, 3) if span > 0 else None,
            'lateness_p50_ms': pct(lateness, 50), 'lateness_p99_ms': pct(lateness, 99),
            'lateness_max_ms': round(float(lateness.max()), 3) if len(lateness) else None,
            'publish_p50_ms': pct(publish, 50), 'publish_p99_ms': pct(publish, 99),
            'first_stamp': self.stamps[0] if self.stamps else None,
            'last_stamp': self.stamps[-1] if self.stamps else None,
        }


# ------------------------------------------------------------------------------ frames
def frames_key(args: argparse.Namespace) -> Dict[str, object]:
    """What the rendered views depend on (a cached file must match it)."""
    return {'format': FRAMES_FORMAT, 'size': list(DEFAULT_SIZE), 'frames': args.frames,
            'objects': args.objects, 'seed': args.seed, 'fov': float(args.fov),
            'xyz': [float(v) for v in args.camera_xyz],
            'rpy': [float(v) for v in args.camera_rpy]}


def render_frames(args: argparse.Namespace, log=print) -> np.ndarray:
    """``(frames, 480, 640, 3)`` uint8 views: a new drop of held-out objects per view."""
    from simulation.tabletop import SimulatedScene

    camera = SimCamera(fov_deg=args.fov, xyz=tuple(args.camera_xyz),
                       rpy=tuple(args.camera_rpy))
    views = []
    t0 = time.monotonic()
    with SimulatedScene(camera, objects=args.objects, seed=args.seed) as scene:
        for _ in range(args.frames):
            scene.reset()
            views.append(scene.render().rgb)
            log(f'view {len(views)}: ' + ', '.join(o.object_id for o in scene.objects))
    log(f'rendered {len(views)} views in {time.monotonic() - t0:.1f} s')
    return np.stack(views)


def load_or_render(args: argparse.Namespace, log=print) -> np.ndarray:
    """The views of :func:`render_frames`, from ``--frames-file`` when it holds views rendered
    with the same settings (:func:`frames_key`); a new render is written there atomically."""
    key = json.dumps(frames_key(args), sort_keys=True)
    path = args.frames_file
    if path is not None and path.is_file():
        try:
            with np.load(path) as data:
                if str(data['key']) == key:
                    log(f'loaded {len(data["rgb"])} views from {path}')
                    return data['rgb']
            log(f'{path} was rendered with other settings: rendering again')
        except (OSError, KeyError, ValueError) as exc:
            log(f'cannot read {path} ({exc}): rendering again')
    views = render_frames(args, log)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f'.{os.getpid()}.tmp.npz')
        np.savez_compressed(tmp, rgb=views, key=np.array(key))
        os.replace(tmp, path)  # atomic: a concurrent reader never sees half a file
    return views


def write_stamps(path: Path, stats: PublishStats) -> None:
    """Write every published frame's stamp and lateness (s) to ``path`` (.npz, atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f'.{os.getpid()}.tmp.npz')
    np.savez(tmp, stamps=np.asarray(stats.stamps, dtype=np.float64),
             lateness=np.asarray(stats.lateness, dtype=np.float64))
    os.replace(tmp, path)


# ------------------------------------------------------------------------------ the node
def publish_loop(node, image_pub, info_pub, images, info, rate: float, stats: PublishStats,
                 stop: threading.Event, duration: float = 0.0, report_period: float = 0.0
                 ) -> None:
    """Publish ``images`` in turn at ``rate`` until ``stop`` is set (or ``duration`` passed)."""
    period = 1.0 / rate
    clock = node.get_clock()
    logger = node.get_logger()
    start = deadline = time.monotonic()
    next_report, reported = start + report_period, 0
    index = 0
    while not stop.is_set():
        now = time.monotonic()
        if duration and now - start >= duration:
            break
        if now < deadline:
            # Event.wait: a stop request ends the sleep at once.
            stop.wait(deadline - now)
            continue
        ros_now = clock.now()
        stamp = ros_now.to_msg()
        image = images[index % len(images)]
        image.header.stamp = stamp
        info.header.stamp = stamp
        t0 = time.perf_counter()
        image_pub.publish(image)
        info_pub.publish(info)
        stats.record(ros_now.nanoseconds * 1e-9, now - deadline, time.perf_counter() - t0, now)
        index += 1
        deadline, skipped = next_deadline(deadline, now, period)
        stats.skipped += skipped
        if report_period and now >= next_report:
            frames = stats.published - reported
            logger.info(f'published {frames} frames in the last {report_period:g} s '
                        f'({frames / report_period:.1f} Hz); total {stats.published}, late '
                        f'{stats.late}, skipped {stats.skipped}')
            reported = stats.published
            next_report += report_period


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m simulation.replay_camera``; 1 when it cannot start."""
    import rclpy
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
    from rclpy.utilities import remove_ros_args
    from sensor_msgs.msg import CameraInfo, Image

    from simulation.messages import camera_info_message, image_message

    full = list(sys.argv if argv is None else ['replay_camera', *argv])
    args = parse_args(remove_ros_args(full)[1:])
    stop = threading.Event()

    def request_stop(signum, frame) -> None:
        stop.set()

    # Own handlers (rclpy's would shut the context down under the publish loop): SIGINT and
    # SIGTERM just end the loop, which then reports and cleans up.
    try:
        from rclpy.signals import SignalHandlerOptions
        rclpy.init(args=full, signal_handler_options=SignalHandlerOptions.NO)
    except ImportError:  # older rclpy
        rclpy.init(args=full)
    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    node = None
    code = 0
    stats = PublishStats(args.late_tolerance)
    try:
        # No executor spins this node: a pure publisher needs none (DDS discovery runs in the
        # middleware's threads), and no parameter services means nothing else wakes it up.
        node = rclpy.create_node(NODE_NAME, start_parameter_services=False)
        logger = node.get_logger()
        views = load_or_render(args, log=logger.info)
        camera = SimCamera(width=views.shape[2], height=views.shape[1], fov_deg=args.fov,
                           xyz=tuple(args.camera_xyz), rpy=tuple(args.camera_rpy))
        # Pre-built messages: per frame only the stamp changes (no per-frame conversion).
        images = [image_message(v, frame_id=args.frame_id) for v in views]
        info = camera_info_message(camera, frame_id=args.frame_id)
        reliability = (ReliabilityPolicy.RELIABLE if args.reliability == 'reliable'
                       else ReliabilityPolicy.BEST_EFFORT)
        # Keep last 1 (default --depth): a reliable writer then never blocks and never holds a
        # backlog -- a newer frame replaces an unacknowledged older one, so a slow reader gets
        # the newest frame, as from a camera driver; a deeper history would only let a slow
        # reader fall behind (queued latency).
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=args.depth,
                         reliability=reliability, durability=DurabilityPolicy.VOLATILE)
        image_pub = node.create_publisher(Image, IMAGE_TOPIC, qos)
        info_pub = node.create_publisher(CameraInfo, INFO_TOPIC, qos)
        transport = os.environ.get('FASTDDS_BUILTIN_TRANSPORTS', 'Fast DDS defaults')
        logger.info(f'ready: {len(images)} views {camera.width}x{camera.height} rgb8 at '
                    f'{args.rate:g} Hz ({args.reliability}, keep last {args.depth}, '
                    f'{transport}) on {node.resolve_topic_name(IMAGE_TOPIC)}')
        if not stop.is_set():
            publish_loop(node, image_pub, info_pub, images, info, args.rate, stats, stop,
                         args.duration, args.report_period)
    except Exception as exc:  # cannot render, bad arguments for rclpy, ...
        print(f'replay camera: cannot run: {type(exc).__name__}: {exc}', file=sys.stderr,
              flush=True)
        code = 1
    finally:
        summary = stats.summary(args.rate)
        if args.stamps_file is not None:
            try:
                write_stamps(args.stamps_file, stats)
            except OSError as exc:
                print(f'replay camera: cannot write {args.stamps_file}: {exc}', file=sys.stderr)
        text = (f'published {summary["published"]} frames in {summary["span_s"]:.1f} s '
                f'(target {args.rate:g} Hz, achieved {summary["achieved_hz"] or 0:.2f} Hz), '
                f'late {summary["late"]} (> {args.late_tolerance * 1000:g} ms), skipped '
                f'{summary["skipped"]}')
        if node is not None:
            node.get_logger().info(text)
            node.destroy_node()
        print(SUMMARY_PREFIX + json.dumps(summary), flush=True)
        rclpy.try_shutdown()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return code


if __name__ == '__main__':
    sys.exit(main())
