"""``python -m tools.closed_loop_demo``: closed-loop grasping with a wrist camera, over ROS 2.

Starts three processes (:mod:`tools.closed_loop_commands`): the wrist camera node (a
free-flying gripper with a wrist camera over one held-out object), the grasp node (tracking on,
grasps in ``base_link``, the camera pose from TF at each image stamp) and the servo controller
node, all with the tools' DDS set-up (:func:`tools.ros_processes.configure_ros_environment`: a
private ``ROS_DOMAIN_ID``, ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` and the Fast DDS
profile ``config/fastdds_localhost.xml``: no DDS traffic leaves this machine). It watches the
controller's ``~/state``, the wrist camera's ``~/holding`` and ``~/object_pose``, the
detections and the commands (:mod:`tools.closed_loop_monitor`), prints each phase as it comes,
and ends when the controller is DONE or FAILED (after ``--settle`` s more) or at ``--timeout``.
It prints a summary (lifted or not, time to the grasp, detections and their rate, the command
rate), writes it to ``OUT/summary.json`` and its log to ``OUT/closed_loop.log`` (the nodes'
logs beside them) and exits 0 when the object was lifted, 1 when not (or on an error), 130
when interrupted. The children are always stopped (SIGINT, then SIGTERM, then SIGKILL).
Needs tf2_ros and vision_msgs (the ROS extras: ``. build/ros_extras/setup_ros_extras.sh``).
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
import json
from pathlib import Path
import signal
import sys
import time
from typing import List, Optional, TextIO

from simulation.fast_render import RENDERERS
from tools.closed_loop_commands import ClosedLoopConfig, commands, NAMES
from tools.closed_loop_monitor import LoopMonitor, LoopResult, state_text, summarise
from tools.ros_processes import (add_domain_argument, add_transport_argument, Child, ChildDied,
                                 configure_ros_environment, init_rclpy, raise_interrupt,
                                 resolve_model, stop_children, transport_label)


#: What the controller logs when its tracked id changes (simulation.servo_controller_node).
SWITCH_LINE = ' gone: now '
#: The wrist camera node's log line of a push (simulation/wrist_camera_node.py).
PUSH_LINE = 'push starts: '


def parse_args(argv=None) -> argparse.Namespace:
    """The demo's options (``--help``); exits with a usage error for impossible values."""
    parser = argparse.ArgumentParser(
        prog='python -m tools.closed_loop_demo',
        description='Closed-loop grasping over ROS 2: the wrist camera node, the grasp node '
                    '(tracking on) and the servo controller node in three processes on this '
                    'machine only; ends when the controller is done or failed, or at the '
                    'timeout; exits 0 when the object was lifted.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    default = ClosedLoopConfig()
    parser.add_argument('--object', type=int, default=default.object,
                        help='held-out object (catalogue index, a multiple of 10)')
    parser.add_argument('--seed', type=int, default=default.seed,
                        help="seed of the object's pose on the table")
    parser.add_argument('--rate', type=float, default=default.rate,
                        help='wrist camera frame rate, Hz (a moving frame costs a render)')
    parser.add_argument('--width', type=int, default=default.width, help='image width, px')
    parser.add_argument('--height', type=int, default=default.height, help='image height, px')
    parser.add_argument('--shadows', action='store_true', help='render shadows (slower)')
    parser.add_argument('--renderer', choices=RENDERERS, default=default.renderer,
                        help="the wrist camera's render path (simulation.fast_render)")
    parser.add_argument('--moving', action='store_true',
                        help='push the object 3-6 cm and turn it 20-45 deg during the approach '
                        '(the push the ROS-free benchmark draws for this object and seed)')
    parser.add_argument('--control-rate', type=float, default=default.control_rate,
                        help="the controller's command rate, Hz")
    parser.add_argument('--model', type=Path, default=None,
                        help='deploy model (stem, file or directory); default: the package '
                             'default')
    parser.add_argument('--object-height', type=float, default=default.object_height,
                        help="the grasp node's object_height: grasp centre above the table, m")
    parser.add_argument('--threads', type=int, default=0,
                        help="the grasp node's inference threads (0 = the library default)")
    parser.add_argument('--timeout', type=float, default=60.0,
                        help='wall-clock bound of the whole run from the start of the '
                             'processes (model loading included), s')
    parser.add_argument('--settle', type=float, default=1.0,
                        help='seconds to keep watching after DONE/FAILED (holding, object)')
    parser.add_argument('--out', type=Path, default=Path('runs/closed_loop_demo'),
                        help="folder of summary.json, closed_loop.log and the nodes' logs")
    add_transport_argument(parser)
    add_domain_argument(parser)
    args = parser.parse_args(argv)
    try:
        args.config = ClosedLoopConfig(
            object=args.object, seed=args.seed, rate=args.rate, width=args.width,
            height=args.height, shadows=args.shadows, renderer=args.renderer, model=args.model,
            object_height=args.object_height, threads=args.threads,
            control_rate=args.control_rate, moving=args.moving)
    except ValueError as exc:
        parser.error(str(exc))
    if args.timeout <= 0 or args.settle < 0:
        parser.error('--timeout must be positive and --settle >= 0')
    return args


class Log:
    """Lines printed and written to a file as they come."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file: TextIO = open(path, 'w')

    def __call__(self, text: str) -> None:
        print(text, flush=True)
        self.file.write(text + '\n')
        self.file.flush()


def missing_ros_packages() -> List[str]:
    """The ROS packages the loop needs that do not import here (tf2_ros, vision_msgs)."""
    missing = []
    for name in ('tf2_ros', 'vision_msgs.msg'):
        try:
            __import__(name)
        except ImportError:
            missing.append(name.split('.')[0])
    return missing


def run(args: argparse.Namespace) -> int:
    """The whole demo: returns the exit code (0 lifted, 1 not or an error, 130 interrupted)."""
    missing = missing_ros_packages()
    if missing:
        print(f'error: {", ".join(missing)} not importable: the closed loop needs TF and '
              f'vision_msgs. Build the ROS extras (make ros-extras) and source '
              f'build/ros_extras/setup_ros_extras.sh, or use a ROS 2 install.', file=sys.stderr)
        return 1
    model, error = resolve_model(args.config.model)
    if model is None:
        print(error, file=sys.stderr)
        return 1
    env = configure_ros_environment(args)
    log = Log(args.out / 'closed_loop.log')
    cfg = args.config
    log(f'closed loop: object {cfg.object} seed {cfg.seed}, wrist camera {cfg.width}x'
        f'{cfg.height} at up to {cfg.rate:g} Hz, controller {cfg.control_rate:g} Hz; '
        f'ROS_DOMAIN_ID {args.domain_id}, {transport_label(args)}; timeout {args.timeout:g} s')
    log(f'logs in {args.out}/')
    if cfg.moving:
        log('moving object: the wrist camera node pushes it once during the approach (the '
            "bench's push for this object and seed; the push is logged when it starts)")

    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    init_rclpy()
    children: List[Child] = []
    node = None
    previous = {s: signal.signal(s, raise_interrupt) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        node = rclpy.create_node('closed_loop_monitor')
        monitor = LoopMonitor(node)
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        t0 = time.monotonic()
        for name, command in commands(cfg, model).items():
            children.append(Child(name.replace('_', ' '), command, env,
                                  args.out / f'{name}.log'))
        result = _watch(args, monitor, executor, children, t0, log)
    except (KeyboardInterrupt, ExternalShutdownException):
        log('interrupted: stopping the nodes')
        return 130
    except ChildDied as exc:
        log(f'error: the {exc}; its log ({exc.child.log}) ends:\n{exc.child.tail()}')
        return 1
    finally:
        # A second Ctrl-C must not leave the children running: ignore it while stopping them.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            t_stop = time.monotonic()
            stop_children(list(reversed(children)))
            log(f'nodes stopped in {time.monotonic() - t_stop:.1f} s')
            if node is not None:
                node.destroy_node()
            rclpy.try_shutdown()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            log.file.close()
    return 0 if result.lifted else 1


def _watch(args, monitor: LoopMonitor, executor, children: List[Child], t0: float,
           log: Log) -> LoopResult:
    """Spin until DONE/FAILED (+ ``--settle``) or the timeout; log the events; the result."""
    record = monitor.record
    seen = {'states': 0, 'holding': None, 'detection': False, 'push': not args.config.moving}
    camera = children[NAMES.index('wrist_camera')]
    deadline = t0 + args.timeout
    end: Optional[float] = None
    while True:
        executor.spin_once(timeout_sec=0.05)
        now = time.monotonic()
        for child in children:
            if not child.running():
                raise ChildDied(child)
        _log_events(record, seen, t0, log)
        if not seen['push']:
            seen['push'] = _log_push(camera, now - t0, log)
        finished = record.finished_at()
        if finished is not None and end is None:
            end = min(now + args.settle, deadline)
        if now >= (end if end is not None else deadline):
            break
    if finished is None:
        log(f'{now - t0:6.2f} s  timed out in {record.state or "no state"} after '
            f'{args.timeout:g} s')
    result = summarise(record, t0, now)
    controller = children[NAMES.index('servo_controller')]
    result.target_switches = controller.text().count(SWITCH_LINE)
    _print_summary(result, log)
    (args.out / 'summary.json').write_text(json.dumps(asdict(result), indent=1) + '\n')
    return result


def _log_events(record, seen: dict, t0: float, log: Log) -> None:
    """Log the phases, the first detection and changes of ``~/holding`` not yet logged."""
    if not seen['detection'] and record.detections:
        seen['detection'] = True
        t, n = record.detections[0]
        log(f'{t - t0:6.2f} s  first detections ({n} grasps): the servo starts')
    for t, state in record.states[seen['states']:]:
        log(f'{t - t0:6.2f} s  controller: {state_text(state)}')
    seen['states'] = len(record.states)
    if record.holding and record.holding[-1][1] != seen['holding']:
        t, seen['holding'] = record.holding[-1]
        log(f'{t - t0:6.2f} s  wrist camera: holding {seen["holding"]}')


def _log_push(camera: Child, elapsed: float, log: Log) -> bool:
    """Log the wrist camera node's push line once it is in its log; whether it was."""
    for line in camera.text().splitlines():
        if PUSH_LINE in line:
            log(f'{elapsed:6.2f} s  wrist camera: {line[line.index(PUSH_LINE):]}')
            return True
    return False


def _print_summary(r: LoopResult, log: Log) -> None:
    rise = 'unknown' if r.rise_m is None else f'{r.rise_m * 1000:.0f} mm'
    log('=== summary ===')
    log(f'lifted: {"yes" if r.lifted else "no"} (controller {r.state or "silent"}, holding '
        f'{r.holding}, object risen {rise})')
    if r.grasp_s is not None:
        log(f'time to grasp: {r.grasp_s:.1f} s from the first detection to the end of the lift '
            f'(closed at {r.close_s:.1f} s; first detection at {r.first_detection_s:.1f} s '
            f'after the start: model loading)')
    log(f'detections: {r.detections} arrays ({r.with_grasp} with a grasp), '
        f'{r.detection_rate:.1f} Hz while the servo ran; commands {r.command_rate:.0f} Hz; '
        f'whole run {r.wall_s:.1f} s')
    if r.target_switches:
        log(f'the tracked grasp changed {r.target_switches} times while approaching (the '
            f'controller log says how far)')


def main(argv=None) -> int:
    return run(parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
