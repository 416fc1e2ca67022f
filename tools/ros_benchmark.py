"""``python -m tools.ros_benchmark``: end-to-end throughput and latency through ROS 2.

Three processes, as on a robot (all with the Fast DDS profile ``config/fastdds_localhost.xml``:
shared memory, UDP on 127.0.0.1, unicast discovery, so no DDS traffic leaves this machine; plus
``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` and a private ``ROS_DOMAIN_ID``; ``--transport
default`` swaps the profile for Fast DDS's own transports; the harness of
:mod:`tools.ros_processes`):

1. **camera**: :mod:`simulation.replay_camera` publishes pre-rendered 640x480 ``rgb8``
   images of held-out objects + CameraInfo at a fixed rate (wall-clock schedule, stamped with
   the ROS time right before the publish; best-effort, keep last 1 by default). It costs almost no
   CPU per frame, so the node gets the machine. It is restarted for every rate of ``--rates``.
2. **the node**: ``grasp_detection_node`` (the model, backend and threads given here, camera
   pose as parameters, ``reliability: auto``, statistics logged every ``--stats-period`` s).
   It stays up across the rates: the model loads once, and ``--rss`` follows one node lifetime.
3. **this process**: subscribes to the node's ``~/detections`` only (``~/grasp_pose`` where
   vision_msgs is not installed; serialised: just the header stamp is read; no image
   subscription, which would load the machine) and records per grasp its image stamp and its
   receive time.

Per rate: wait for the first grasp of the new camera, warm up ``--warmup`` s, then measure a
window of ``--seconds`` s, defined on **image stamps** (the camera's clock = this machine's
wall clock): a frame belongs to the window when its stamp does, so grasps that arrive after
the window for frames inside it are still collected (a short drain). Reported:

* camera frames **published** in the window (from the camera's own per-frame stamp file) and
  how many were **late** (published > ``--late-tolerance`` after their deadline);
* **processed FPS** = distinct grasp stamps in the window / window length, and **dropped** =
  published - processed (lost in transport, replaced in a keep-last-1 queue, superseded in the
  node, or no grasp above min_quality). The node's counters over the window (read from its
  ``/diagnostics`` status; from its statistics log lines where diagnostic_updater is absent)
  say which of its own counters grew; published - its ``frames in`` are frames that never
  reached its image callback, which the node cannot count
  (:func:`tools.latency_stats.undelivered`);
* **latency** image stamp -> grasp received here, p50/p99/max (ms); the node's own frame period
  (1 / processed FPS) and whether p99 < 2 periods -- the target "at 60 Hz input, latency p99
  stays below 2 frame periods of the node's own rate: frames are dropped, never queued";
* **CPU**: the machine's busy share over the window (/proc/stat) and the load average, and
  the CPU of the node, the camera and this process, so a run next to another job is visible;
* the node's resident memory (VmRSS) at the window's start and end; with ``--rss`` (soak) the
  series every second, growth after warm-up (target < 5 %) and latency p50 of the first vs the
  last minute (not growing), e.g. ``--seconds 600 --rates 30 --rss``.

Output: a Markdown table (one row per rate, for the README) and a JSON file with every number
(``--json``); logs of all processes in ``--logs``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import platform
import signal
import sys
from typing import Any, Dict, Optional, Sequence

from tools.benchmark_report import json_clean, markdown_table, soak_report
from tools.benchmark_run import Benchmark
from tools.ros_processes import (add_domain_argument, add_transport_argument, ChildDied,
                                 configure_ros_environment, init_rclpy, raise_interrupt,
                                 resolve_model, transport_label)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The benchmark's options (``--help``); exits with a usage error for impossible values."""
    parser = argparse.ArgumentParser(
        prog='python -m tools.ros_benchmark',
        description='End-to-end benchmark of the grasp detection node through ROS 2: a replay '
                    'camera (pre-rendered 640x480 rgb8 frames at a fixed rate), the node and '
                    'this process (subscribed to ~/detections, or ~/grasp_pose without '
                    'vision_msgs) in three processes. Per camera '
                    'rate: frames published and late, processed FPS, frames dropped, image '
                    'stamp -> grasp latency p50/p99/max, p99 against 2 node frame periods, '
                    "the node's statistics, CPU load and the node's memory. Prints a Markdown "
                    'table and writes a JSON file.',
        epilog='Examples: %(prog)s --seconds 10 --rates 30 60 | '
               '%(prog)s --seconds 600 --rates 30 --rss (10-minute soak) | '
               '%(prog)s --model runs/demo/model/mtgcnn_demo --param top_k:=1',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--rates', type=float, nargs='+', default=[30.0, 60.0],
                        help='camera rates to measure, Hz (the camera restarts per rate)')
    parser.add_argument('--seconds', type=float, default=20.0,
                        help='measurement window per rate, after the warm-up')
    parser.add_argument('--warmup', type=float, default=5.0,
                        help='seconds from the first grasp of each camera to the window start')
    parser.add_argument('--model', type=Path, default=None,
                        help='deploy model (stem, file or directory); default: the package '
                             'default models/mtgcnn_depth_p')
    parser.add_argument('--backend', default='auto', choices=('auto', 'torch', 'onnx'),
                        help="the node's inference backend")
    parser.add_argument('--threads', type=int, default=0,
                        help="the node's inference threads (0 = the library default)")
    parser.add_argument('--min-quality', type=float, default=None,
                        help="the node's min_quality (default: the node's default)")
    parser.add_argument('--param', action='append', default=[], metavar='KEY:=VALUE',
                        help='extra node parameter (repeatable), passed as -p KEY:=VALUE after '
                             "the benchmark's own, so it overrides them")
    parser.add_argument('--stats-period', type=float, default=1.0,
                        help="the node's stats_period: its counters are read from these log "
                             'lines at the window edges, so short periods align them better')
    parser.add_argument('--qos', choices=('reliable', 'best_effort'), default='best_effort',
                        help='camera reliability (the node matches it); best-effort is what '
                             'camera drivers publish')
    parser.add_argument('--camera-depth', type=int, default=1,
                        help='camera publisher history (keep last)')
    parser.add_argument('--frames', type=int, default=8,
                        help='distinct camera views (rendered once, then cached in --logs)')
    parser.add_argument('--objects', type=int, default=1, help='objects per camera view')
    parser.add_argument('--seed', type=int, default=0, help='seed of the camera views')
    parser.add_argument('--late-tolerance', type=float, default=0.002,
                        help='a camera frame published this many seconds after its deadline '
                             'counts as late')
    parser.add_argument('--rss', action='store_true',
                        help='soak report: node VmRSS every second (series in the JSON), growth '
                             'after warm-up, latency p50 first vs last minute')
    parser.add_argument('--progress', type=float, default=10.0,
                        help='print a progress line every this many seconds (0 = never)')
    parser.add_argument('--json', type=Path, default=Path('runs/benchmark/ros_benchmark.json'),
                        help='where to write every number')
    parser.add_argument('--logs', type=Path, default=Path('runs/benchmark'),
                        help='directory of the node and camera logs (and the camera frames)')
    add_transport_argument(parser)
    add_domain_argument(parser)
    parser.add_argument('--startup-timeout', type=float, default=120.0,
                        help='seconds to wait for the first grasp of each camera')
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.warmup < 0 or any(r <= 0 or r > 1000 for r in args.rates):
        parser.error('--seconds and --rates must be positive (rates <= 1000), --warmup >= 0')
    if args.stats_period <= 0:
        parser.error('--stats-period must be positive (the window counters come from it)')
    for item in args.param:
        if ':=' not in item or item.startswith(':='):
            parser.error(f'--param {item!r}: use KEY:=VALUE')
    return args


def run(args: argparse.Namespace) -> int:
    """The whole benchmark: returns the exit code (0, 1 on a failure, 130 interrupted)."""
    model, error = resolve_model(args.model)
    if model is None:
        print(error, file=sys.stderr)
        return 1
    env = configure_ros_environment(args)
    args.logs.mkdir(parents=True, exist_ok=True)
    transport = transport_label(args)
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    print(f'ROS benchmark: ROS_DOMAIN_ID {args.domain_id}, {transport}, camera {args.qos} keep '
          f'last {args.camera_depth}, rates {", ".join(f"{r:g}" for r in args.rates)} Hz, '
          f'{args.seconds:g} s each after {args.warmup:g} s warm-up; model {model} (backend '
          f'{args.backend}, threads {args.threads or "default"})')
    print(f'machine: {os.cpu_count()} cores, load average '
          f'{" ".join(f"{v:.2f}" for v in load) if load else "?"} at the start; logs in '
          f'{args.logs}/', flush=True)

    import rclpy
    init_rclpy()
    bench = Benchmark(args, env, model)
    code = 0
    failure = None
    # Ctrl-C and SIGTERM end the run cleanly (also when started with SIGINT ignored, as a
    # background job of a non-interactive shell is).
    previous_term = signal.signal(signal.SIGTERM, raise_interrupt)
    previous_int = signal.signal(signal.SIGINT, raise_interrupt)
    node_alive = False
    try:
        bench.run()
    except KeyboardInterrupt:
        print('\ninterrupted: stopping the processes; summary of what was measured')
        code = 130
    except ChildDied as exc:
        child = exc.child
        failure = str(exc)
        print(f'\nerror: the {child.name} exited with code {child.proc.returncode} during the '
              f'benchmark. Its log ({child.log}) ends with:\n{child.tail(25)}', file=sys.stderr)
        code = 1
    except TimeoutError as exc:
        failure = str(exc).splitlines()[0]
        print(f'\nerror: {exc}', file=sys.stderr)
        code = 1
    finally:
        # A second Ctrl-C must not leave the children running: ignore it while stopping them.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        node_alive = bench.node is not None and bench.node.running()
        try:
            bench.stop()
            rclpy.try_shutdown()
        finally:
            signal.signal(signal.SIGTERM, previous_term)
            signal.signal(signal.SIGINT, previous_int)

    report: Dict[str, Any] = {
        'settings': {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        'model': str(model), 'transport': transport,
        'machine': {'cores': os.cpu_count(), 'platform': platform.platform(),
                    'python': platform.python_version(), 'loadavg_start': load},
        'node_log': str(args.logs / 'grasp_node.log'), 'exit_code': code, 'failure': failure,
        'results': bench.results}
    if bench.results:
        print('\n' + markdown_table(bench.results))
        print(f'\n(model {model.name}, backend {args.backend}, camera {args.qos}, {transport}, '
              f'{os.cpu_count()} cores; latency = image stamp -> grasp received by a subscriber '
              f'process)')
        if args.rss:
            report['soak'] = soak_report(bench, node_alive)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(json_clean(report), indent=1) + '\n')
    print(f'wrote {args.json}')
    return code


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m tools.ros_benchmark``: the exit code."""
    return run(parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
