"""The ROS benchmark's run: the node and the replay camera as children, the grasp recorder.

:class:`Benchmark` starts the grasp node once and a replay camera per rate, records the image
stamp and the receive time (wall clock, s) of every grasp message (``~/detections``, or
``~/grasp_pose`` where vision_msgs is not installed: :func:`grasp_topic`; serialised: only the
header stamp is read) and the node's counters from its ``/diagnostics`` status (its statistics
log lines where diagnostic_updater is absent: :meth:`Benchmark.node_counters`), samples the
node's resident memory every second and measures one window per rate
(:meth:`Benchmark.measure`), as :mod:`tools.ros_benchmark` describes.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
import time
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from tools.benchmark_report import describe_rate, fmt
from tools.child_metrics import (camera_summary, cpu_snapshot, cpu_usage, diagnostic_entry,
                                 load_stamps, node_statistics, read_rss_kb, statistics_delta,
                                 statistics_entries)
from tools.latency_stats import (latency_trend, percentile, rss_summary, undelivered,
                                 window_summary)
from tools.ros_processes import (benchmark_node_command, cdr_stamp, Child, ChildDied,
                                 replay_camera_command, stamp_seconds, stop_children)

GRASP_TOPIC = '/grasp_detection/grasp_pose'
DETECTIONS_TOPIC = '/grasp_detection/detections'
#: The node's status and counters (diagnostic_updater), read instead of its log lines.
DIAGNOSTICS_TOPIC = '/diagnostics'
#: After a window ends, keep receiving this long: grasps of frames stamped inside the window
#: may still be on their way (the node's latency is tens of ms; queued latency would be more,
#: and would fail the p99 target anyway).
DRAIN_S = 2.0


def grasp_topic() -> Tuple[str, type]:
    """``(topic, message type)`` the benchmark records: the node's ``~/detections`` where
    vision_msgs imports (one message per frame with a grasp, as ``~/grasp_pose``), else
    ``~/grasp_pose``."""
    from mtg_grasp_ros.grasp_messages import vision_msgs_types
    types = vision_msgs_types()
    if types is not None:
        return DETECTIONS_TOPIC, types[0]
    from geometry_msgs.msg import PoseStamped
    return GRASP_TOPIC, PoseStamped


class Benchmark:
    """This process' side: the children, the grasp recorder, sampling, the windows.

    ``args``: :func:`tools.ros_benchmark.parse_args`; ``env``: the children's environment
    (:func:`tools.ros_processes.configure_ros_environment`); ``model``: the deploy model.
    After :meth:`run`, ``results`` holds one dictionary per rate, ``stamps``/``received`` every
    grasp (s) and ``rss`` the node's ``(time, kB)`` samples. Raises ChildDied when a child
    exits and TimeoutError when no grasp comes within ``--startup-timeout``.
    """

    def __init__(self, args: argparse.Namespace, env: Dict[str, str], model: Path) -> None:
        self.args, self.env, self.model = args, env, model
        self.node: Optional[Child] = None
        self.camera: Optional[Child] = None
        self.stamps: List[float] = []
        self.received: List[float] = []
        self.rss: List[Tuple[float, Optional[int]]] = []
        self.results: List[Dict[str, Any]] = []
        #: ``(stamp, counters)`` of the node's /diagnostics status (:func:`diagnostic_entry`)
        self.diagnostics: List[Tuple[float, Dict[str, Any]]] = []
        self._next_rss = 0.0
        self.interrupted = False
        self.ros_node = None
        self.executor = None

    # ---------------------------------------------------------------- ROS side
    def start_ros(self) -> None:
        """This process' ROS node, subscribed to the node's grasps (:func:`grasp_topic`; rclpy
        is up)."""
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

        self.ros_node = rclpy.create_node('ros_benchmark', start_parameter_services=False)
        # Reliable, like the node's publisher; a deep reader queue so a briefly starved
        # benchmark process does not lose grasps (it only records; it never falls behind).
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100,
                         reliability=ReliabilityPolicy.RELIABLE)
        # Serialised: only the header stamp is read, no message conversion per grasp.
        topic, msg_type = grasp_topic()
        self.ros_node.create_subscription(msg_type, topic, self._on_grasp, qos, raw=True)
        print(f'recording the grasps of {topic}', flush=True)
        try:
            from diagnostic_msgs.msg import DiagnosticArray
        except ImportError:   # no diagnostic_msgs here: the node's log lines only
            DiagnosticArray = None   # noqa: N806
        if DiagnosticArray is not None:
            self.ros_node.create_subscription(DiagnosticArray, DIAGNOSTICS_TOPIC,
                                              self._on_diagnostics, 10)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.ros_node)

    def _on_grasp(self, raw: bytes) -> None:
        now = time.time()   # the camera stamps with ROS time = this machine's wall clock
        self.stamps.append(cdr_stamp(raw))
        self.received.append(now)

    def _on_diagnostics(self, msg) -> None:
        stamp = stamp_seconds(msg.header.stamp)
        for status in msg.status:
            entry = diagnostic_entry(status)
            if entry is not None:
                self.diagnostics.append((stamp, entry))

    def node_counters(self) -> Tuple[str, List[Tuple[float, Dict[str, Any]]]]:
        """``(source, entries)`` of the node's counters for :func:`statistics_delta`: its
        ``/diagnostics`` status (``'diagnostics'``) when any arrived, else its statistics log
        lines (``'log'``: diagnostic_updater is not installed where the node runs)."""
        if self.diagnostics:
            return 'diagnostics', list(self.diagnostics)
        return 'log', statistics_entries(self.node.text())

    def pump(self, until: float, progress: Optional[Tuple[float, float]] = None) -> None:
        """Spin until wall time ``until``: check the children, sample the node's RSS every
        second, print progress (``(window start, rate)``) every ``--progress`` s."""
        next_progress = time.time() + self.args.progress if progress else math.inf
        mark = len(self.stamps)
        while True:
            now = time.time()
            if now >= until:
                return
            self.executor.spin_once(timeout_sec=min(0.05, max(until - now, 0.0)))
            for child in (self.node, self.camera):
                if child is not None and not child.running():
                    raise ChildDied(child)
            now = time.time()
            if now >= self._next_rss and self.node is not None:
                self._next_rss = now + 1.0
                self.rss.append((now, read_rss_kb(self.node.proc.pid)))
            if now >= next_progress:
                next_progress += self.args.progress
                self._print_progress(progress, mark, now)
                mark = len(self.stamps)

    def _print_progress(self, progress: Tuple[float, float], mark: int, now: float) -> None:
        t0, rate = progress
        stamps = np.asarray(self.stamps[mark:])
        latency = (np.asarray(self.received[mark:]) - stamps) * 1000.0
        fps = len(np.unique(stamps)) / self.args.progress
        rss = self.rss[-1][1] if self.rss else None
        print(f'  {rate:g} Hz, {now - t0:5.0f} s: {fps:5.1f} grasps/s, latency p50 '
              f'{fmt(percentile(latency.tolist(), 50))} ms, p99 '
              f'{fmt(percentile(latency.tolist(), 99))} ms (last {self.args.progress:g} s)'
              + (f', node RSS {rss / 1024:.1f} MB' if rss else ''), flush=True)

    # ---------------------------------------------------------------- one rate
    def measure(self, rate: float) -> Dict[str, Any]:
        """Start the camera at ``rate`` Hz, wait for its first grasp, warm up, measure one
        window, stop the camera; every number of that window (see the report modules)."""
        args = self.args
        slug = f'{rate:g}hz'.replace('.', '_')
        stamps_file = args.logs / f'replay_camera_{slug}_stamps.npz'
        if stamps_file.exists():
            stamps_file.unlink()
        started = time.time()
        self.camera = Child(f'replay camera ({rate:g} Hz)',
                            replay_camera_command(args, rate, stamps_file), self.env,
                            args.logs / f'replay_camera_{slug}.log')
        print(f'\n{rate:g} Hz: camera started; waiting for its first grasp...', flush=True)
        first = self._wait_first_grasp(started)
        print(f'{rate:g} Hz: first grasp {first - started:.1f} s after the camera start; '
              f'warm-up {args.warmup:g} s, then measuring {args.seconds:g} s', flush=True)
        t0 = first + args.warmup
        self.pump(t0)
        pids = {'node': self.node.proc.pid, 'camera': self.camera.proc.pid}
        cpu_before = cpu_snapshot(pids)
        t1 = t0 + args.seconds
        try:
            self.pump(t1, progress=(t0, rate) if args.progress > 0 else None)
        except KeyboardInterrupt:
            # Ctrl-C in a long (soak) window: summarise what was measured, then stop.
            self.interrupted = True
            t1 = time.time()
            if t1 - t0 < 1.0:
                raise
            print(f'\ninterrupted: summarising the {t1 - t0:.0f} s measured at {rate:g} Hz')
        cpu_after = cpu_snapshot(pids)
        if not self.interrupted:
            self.pump(t1 + DRAIN_S)
            # The node's statistics line covering the window end is logged within a period
            # (its /diagnostics status within a second).
            wait = 1.2 if self.diagnostics else args.stats_period + 0.2
            self.pump(max(time.time(), t1 + wait))
        camera = self.camera
        code = camera.stop()    # writes its stamp file and summary line on SIGINT
        self.camera = None      # only now: a Ctrl-C during the stop still reaches it in stop()
        cam_stamps, lateness = load_stamps(stamps_file)
        result = window_summary(self.stamps, self.received, cam_stamps, t0, t1, lateness,
                                args.late_tolerance, rate)
        result.update({'rate_hz': rate, 'window_start': t0, 'window_end': t1,
                       'interrupted': self.interrupted,
                       'first_grasp_after_s': first - started,
                       'late_tolerance_ms': args.late_tolerance * 1000.0,
                       'camera_exit_code': code, 'camera_log': str(camera.log),
                       'camera_summary': camera_summary(camera.text()),
                       'cpu': cpu_usage(cpu_before, cpu_after),
                       'rss': rss_summary(self.rss, t0, t1)})
        node_text = self.node.text()
        source, entries = self.node_counters()
        result['node_window'] = statistics_delta(entries, t0, t1)
        if result['node_window'] is not None:
            result['node_window']['source'] = source
        result.update(undelivered(result['published'], result['window_s'],
                                  result['node_window']))
        result['node_statistics'] = node_statistics(node_text)
        if args.rss:
            result['latency_trend'] = latency_trend(self.stamps, self.received, t0, t1)
        return result

    def _wait_first_grasp(self, started: float) -> float:
        """Receive time of the first grasp of a frame stamped after the camera started."""
        deadline = time.time() + self.args.startup_timeout
        seen = len(self.stamps)
        while True:
            self.pump(min(time.time() + 0.2, deadline))
            for i in range(seen, len(self.stamps)):
                if self.stamps[i] >= started:
                    return self.received[i]
            seen = len(self.stamps)
            if time.time() >= deadline:
                raise TimeoutError(
                    f'no grasp within {self.args.startup_timeout:g} s of the camera start.\n'
                    f'camera log tail:\n{self.camera.tail(8)}\nnode log tail:\n'
                    f'{self.node.tail(15)}')

    # ---------------------------------------------------------------- whole run
    def run(self) -> None:
        """Start the node and measure every rate of ``--rates`` in turn."""
        args = self.args
        self.node = Child('grasp node', benchmark_node_command(args, self.model), self.env,
                          args.logs / 'grasp_node.log')
        self.start_ros()
        for rate in args.rates:
            result = self.measure(rate)
            self.results.append(result)
            print(describe_rate(result), flush=True)
            if self.interrupted:
                raise KeyboardInterrupt

    def stop(self) -> None:
        """Stop the camera, then the node, and this process' ROS node."""
        stop_children((self.camera, self.node))
        if self.ros_node is not None:
            self.ros_node.destroy_node()
            self.ros_node = None
