"""``python -m tools.demo``: the grasp node on a simulated camera, end to end.

Starts two processes, as on a robot: the simulated camera (:mod:`simulation.camera_node`,
held-out objects on a table, 640x480 rgb8 at 30 Hz, best-effort) and the grasp detection node
(:mod:`mtg_grasp_ros.grasp_node`, the default model unless ``--model``), both with the Fast DDS
profile ``config/fastdds_localhost.xml`` (shared memory, UDP on 127.0.0.1, unicast discovery: no
DDS traffic leaves this machine), ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` and a private
``ROS_DOMAIN_ID`` (:func:`tools.ros_processes.configure_ros_environment`). The node gets the
camera pose (``camera_pose.*``, ``use_tf: false``) and the table (``table_height: 0``) in
``world``. This process subscribes to the node's ``~/detections`` (where vision_msgs is not
installed: ``~/grasp_pose`` and ``~/grasp``) and ``~/debug_image``, to the camera image and to
the camera's ground truth; it prints each new grasp
in the robot frame (at most once a second) and at the end the processed frame rate, the
image-stamp-to-grasp latency, the frames without a grasp and the grasp's error against the
object's true footprint; it writes the camera image with the grasp drawn (``--out``).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
import signal
import sys
import time
from typing import List, Optional, Tuple

import numpy as np

from simulation.camera import DEFAULT_FOV_DEG, DEFAULT_RPY, DEFAULT_XYZ, SimCamera
from tools.child_metrics import node_statistics
from tools.demo_monitor import Monitor
from tools.demo_truth import draw, ELONGATED_ASPECT, grasp_error, GraspRecord, TruthObject
from tools.latency_stats import percentile
from tools.ros_processes import (add_domain_argument, add_transport_argument, Child,
                                 configure_ros_environment, init_rclpy, node_command,
                                 raise_interrupt, resolve_model, sim_camera_command,
                                 stop_children, transport_label)


def parse_args(argv=None) -> argparse.Namespace:
    """The demo's options (``--help``); exits with a usage error for impossible values."""
    parser = argparse.ArgumentParser(
        prog='python -m tools.demo',
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
                             'Best-effort is what camera drivers do; with the localhost '
                             'profile it delivered every frame here, reliable costs ~1 ms more '
                             'CPU per frame (README "Real time on a CPU")')
    add_transport_argument(parser)
    parser.add_argument('--no-debug-image', action='store_true',
                        help='do not subscribe to ~/debug_image (the node then skips drawing it)')
    add_domain_argument(parser)
    parser.add_argument('--startup-timeout', type=float, default=120.0,
                        help='seconds to wait for the first grasp')
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.objects < 1 or args.rate <= 0:
        parser.error('--seconds and --rate must be positive, --objects at least 1')
    return args


def run(args: argparse.Namespace) -> int:
    """The whole demo: returns the exit code (0, 1 on an error, 130 interrupted)."""
    model, error = resolve_model(args.model)
    if model is None:
        print(error, file=sys.stderr)
        return 1
    env = configure_ros_environment(args)
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    camera = SimCamera(fov_deg=args.fov, xyz=tuple(args.camera_xyz), rpy=tuple(args.camera_rpy))
    transport = transport_label(args)
    print(f'node demo: ROS_DOMAIN_ID {args.domain_id}, {transport}, camera '
          f'{args.qos} {args.rate:g} Hz, model {model}')
    print(f'logs: {out.parent / "sim_camera.log"}, {out.parent / "grasp_node.log"}')

    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    init_rclpy()
    children: List[Child] = []
    node = None
    # Ctrl-C and SIGTERM end the run cleanly (also when started with SIGINT ignored, as a
    # background job of a non-interactive shell is).
    previous_term = signal.signal(signal.SIGTERM, raise_interrupt)
    previous_int = signal.signal(signal.SIGINT, raise_interrupt)
    try:
        children.append(Child('sim camera', sim_camera_command(args), env,
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
            stop_children(list(reversed(children)))
            if node is not None:
                node.destroy_node()
            rclpy.try_shutdown()
        finally:
            signal.signal(signal.SIGTERM, previous_term)
            signal.signal(signal.SIGINT, previous_int)


def _measure(args, camera, children, monitor, executor, out, shutdown_exc) -> int:
    start = time.monotonic()
    first: Optional[float] = None
    last_print = -math.inf
    interrupted = False
    print(f'waiting for the camera and the node (loading the model); grasps from '
          f'{monitor.source}...')
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
    result = grasp_error(g, objects)
    if result is not None:
        name, d_fp, d_c, ang = result
        text += (f' | {name}: {d_fp * 100:.1f} cm off its footprint, {d_c * 100:.1f} cm from '
                 f'its centre, jaws {ang:.0f} deg from across')
    print(text, flush=True)


def _summary(args, monitor, grasps, children) -> Tuple[float, List[float]]:
    """Print the measurement; returns (processed frames/s, latencies in ms)."""
    span = max(grasps[-1].received - grasps[0].received, 1e-9)
    latency = [(g.received - g.stamp) * 1000.0 for g in grasps]
    evals = [(g, grasp_error(g, monitor.truth_at(g.stamp))) for g in grasps]
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
    result = grasp_error(g, objects)
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
    """``python -m tools.demo``: the exit code."""
    args = parse_args(argv)
    return run(args)


if __name__ == '__main__':
    sys.exit(main())
