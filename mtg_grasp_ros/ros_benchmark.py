"""``python -m mtg_grasp_ros.ros_benchmark``: end-to-end throughput and latency through ROS 2.

Three processes, as on a robot (all with ``FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA`` on a private
``ROS_DOMAIN_ID``; helpers shared with :mod:`mtg_grasp_ros.demo`):

1. **camera**: :mod:`mtg_grasp_ros.replay_camera` publishes pre-rendered 640x480 ``rgb8``
   images of held-out objects + CameraInfo at a fixed rate (wall-clock schedule, stamped with
   the ROS time right before the publish; best-effort, keep last 1 by default). It costs almost no
   CPU per frame, so the node gets the machine. It is restarted for every rate of ``--rates``.
2. **the node**: ``grasp_detection_node`` (the model, backend and threads given here, camera
   pose as parameters, ``reliability: auto``, statistics logged every ``--stats-period`` s).
   It stays up across the rates: the model loads once, and ``--rss`` follows one node lifetime.
3. **this process**: subscribes to the node's ``~/grasp_pose`` only (serialised: just the
   header stamp is read; no image subscription, which would load the machine) and records per
   grasp its image stamp and its receive time.

Per rate: wait for the first grasp of the new camera, warm up ``--warmup`` s, then measure a
window of ``--seconds`` s, defined on **image stamps** (the camera's clock = this machine's
wall clock): a frame belongs to the window when its stamp does, so grasps that arrive after
the window for frames inside it are still collected (a short drain). Reported:

* camera frames **published** in the window (from the camera's own per-frame stamp file) and
  how many were **late** (published > ``--late-tolerance`` after their deadline);
* **processed FPS** = distinct grasp stamps in the window / window length, and **dropped** =
  published - processed (lost in transport, replaced in a keep-last-1 queue, superseded in the
  node, or no grasp above min_quality). The node's statistics delta over the window says which
  of its own counters grew; published - its ``frames in`` are frames that never reached its
  image callback, which the node cannot count (:func:`undelivered`);
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
import math
import os
from pathlib import Path
import platform
import re
import signal
import sys
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from mtg_grasp_ros.demo import (cdr_stamp, Child, configure_ros_environment,
                                node_command, node_statistics, percentile)
from mtg_grasp_ros.replay_camera import SUMMARY_PREFIX
from mtg_grasp_ros.sim_camera import DEFAULT_FOV_DEG, DEFAULT_RPY, DEFAULT_XYZ

GRASP_TOPIC = '/grasp_detection/grasp_pose'
#: After a window ends, keep receiving this long: grasps of frames stamped inside the window
#: may still be on their way (the node's latency is tens of ms; queued latency would be more,
#: and would fail the p99 target anyway).
DRAIN_S = 2.0
#: Soak verdicts: RSS growth after warm-up, and latency p50 of the last vs the first minute.
RSS_GROWTH_LIMIT_PCT = 5.0
LATENCY_GROWTH_FACTOR = 1.25
LATENCY_GROWTH_SLACK_MS = 2.0


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='python -m mtg_grasp_ros.ros_benchmark',
        description='End-to-end benchmark of the grasp detection node through ROS 2: a replay '
                    'camera (pre-rendered 640x480 rgb8 frames at a fixed rate), the node and '
                    'this process (subscribed to ~/grasp_pose) in three processes. Per camera '
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
    parser.add_argument('--no-large-data', action='store_true',
                        help='do not set FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA')
    parser.add_argument('--domain-id', type=int, default=None,
                        help='ROS_DOMAIN_ID (default: a private one from the process id)')
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


# ------------------------------------------------------------------------------ pure maths
def window_summary(grasp_stamps: Sequence[float], grasp_received: Sequence[float],
                   camera_stamps: Optional[Sequence[float]], t0: float, t1: float,
                   camera_lateness: Optional[Sequence[float]] = None,
                   late_tolerance: float = 0.002, rate: Optional[float] = None
                   ) -> Dict[str, Any]:
    """Numbers of one measurement window ``[t0, t1)`` of image stamps (seconds).

    ``grasp_*``: every grasp received (a stamp may repeat; its first receipt counts);
    ``camera_stamps``/``camera_lateness``: every frame the camera published (None: unknown,
    then ``rate * (t1 - t0)`` is used and ``published_estimated`` is set).
    """
    span = float(t1 - t0)
    if span <= 0:
        raise ValueError('empty window')
    stamps = np.asarray(grasp_stamps, dtype=np.float64)
    received = np.asarray(grasp_received, dtype=np.float64)
    inside = (stamps >= t0) & (stamps < t1)
    stamps, received = stamps[inside], received[inside]
    order = np.argsort(received, kind='stable')
    unique, first = np.unique(stamps[order], return_index=True)
    latency = (received[order][first] - unique) * 1000.0
    processed = int(len(unique))
    out: Dict[str, Any] = {'window_s': span, 'grasps_received': int(inside.sum()),
                           'processed': processed, 'processed_fps': processed / span}
    if camera_stamps is not None:
        cam = np.asarray(camera_stamps, dtype=np.float64)
        cam_inside = (cam >= t0) & (cam < t1)
        out['published'] = int(cam_inside.sum())
        out['published_estimated'] = False
        if camera_lateness is not None and len(camera_lateness) == len(cam):
            late = np.asarray(camera_lateness, dtype=np.float64)[cam_inside]
            out['late'] = int((late > late_tolerance).sum())
            out['camera_lateness_p99_ms'] = (float(np.percentile(late, 99)) * 1000.0
                                             if len(late) else None)
        else:
            out['late'] = None
    else:
        out['published'] = int(round(rate * span)) if rate else None
        out['published_estimated'] = True
        out['late'] = None
    published = out['published']
    if published:
        out['dropped'] = max(published - processed, 0)
        out['dropped_pct'] = 100.0 * out['dropped'] / published
    else:
        out['dropped'], out['dropped_pct'] = None, None
    values = latency.tolist()
    out['latency_ms'] = {'n': len(values), 'p50': percentile(values, 50),
                         'p99': percentile(values, 99),
                         'max': float(latency.max()) if len(values) else math.nan,
                         'mean': float(latency.mean()) if len(values) else math.nan}
    out.update(period_verdict(out['latency_ms']['p99'], out['processed_fps']))
    return out


def undelivered(published: Optional[int], window_s: float,
                stats: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """Frames the camera published that never reached the node's image callback: replaced in
    a keep-last-1 queue (DDS writer or reader history) or lost in transport. The node cannot
    count them; its ``frames in`` over (almost) the same window tells. The two windows differ
    by up to a statistics period at each edge, so rates are compared, not counts."""
    if not published or not stats or not stats.get('span_s') or 'frames_in' not in stats:
        return {'undelivered_to_node': None, 'undelivered_pct': None}
    arrived = stats['frames_in'] / stats['span_s'] * window_s
    missing = max(published - arrived, 0.0)
    return {'undelivered_to_node': int(round(missing)),
            'undelivered_pct': 100.0 * missing / published}


def period_verdict(p99_ms: float, fps: float, periods: float = 2.0) -> Dict[str, Any]:
    """The node's frame period (1 / processed FPS) and whether latency p99 < ``periods`` of it.

    No frames (fps 0) or no latency: no verdict (None), never a pass.
    """
    if not fps or fps <= 0 or not math.isfinite(p99_ms):
        return {'node_period_ms': math.nan, 'p99_periods': math.nan, 'p99_below_2_periods': None}
    period = 1000.0 / fps
    return {'node_period_ms': period, 'p99_periods': p99_ms / period,
            'p99_below_2_periods': bool(p99_ms < periods * period)}


def latency_trend(grasp_stamps: Sequence[float], grasp_received: Sequence[float], t0: float,
                  t1: float, minute: float = 60.0) -> Dict[str, Any]:
    """Latency p50 of the first vs the last ``minute`` of a window (shortened to a third of
    windows shorter than 3 minutes), and the least-squares slope (ms per minute)."""
    stamps = np.asarray(grasp_stamps, dtype=np.float64)
    latency = (np.asarray(grasp_received, dtype=np.float64) - stamps) * 1000.0
    inside = (stamps >= t0) & (stamps < t1)
    stamps, latency = stamps[inside], latency[inside]
    part = min(minute, (t1 - t0) / 3.0)
    first = latency[stamps < t0 + part]
    last = latency[stamps >= t1 - part]
    p_first = percentile(first.tolist(), 50)
    p_last = percentile(last.tolist(), 50)
    slope = math.nan
    if len(stamps) >= 2 and np.ptp(stamps) > 0:
        slope = float(np.polyfit((stamps - t0) / 60.0, latency, 1)[0])
    growing = None
    if math.isfinite(p_first) and math.isfinite(p_last):
        growing = bool(p_last > p_first * LATENCY_GROWTH_FACTOR + LATENCY_GROWTH_SLACK_MS)
    return {'part_s': part, 'first_p50_ms': p_first, 'last_p50_ms': p_last,
            'slope_ms_per_min': slope, 'latency_growing': growing}


def rss_summary(samples: Sequence[Tuple[float, int]], t0: float, t1: float) -> Dict[str, Any]:
    """Resident memory over ``[t0, t1]`` from ``(time, kB)`` samples: the first sample at or
    after ``t0`` (after warm-up), the last one up to ``t1``, the maximum and the growth."""
    inside = [(t, kb) for t, kb in samples if t0 <= t <= t1 and kb is not None]
    if not inside:
        return {'samples': 0, 'start_kb': None, 'end_kb': None, 'max_kb': None,
                'growth_pct': None, 'growth_ok': None}
    start, end = inside[0][1], inside[-1][1]
    growth = 100.0 * (end - start) / start if start else math.nan
    return {'samples': len(inside), 'start_kb': start, 'end_kb': end,
            'max_kb': max(kb for _, kb in inside), 'growth_pct': growth,
            'growth_ok': bool(growth < RSS_GROWTH_LIMIT_PCT) if math.isfinite(growth) else None}


# ------------------------------------------------------------------------------ node statistics
_STATS_LINE = re.compile(r'\[(?P<time>\d+(?:\.\d+)?)\]\s*\[[^\]]*\]:\s*(?P<line>frames in \d+.*)')
_TIMING = re.compile(r'(\S+) p50 ([\d.]+) ms / p95 ([\d.]+) ms')
_COUNTERS = (('frames_in', r'frames in (\d+)'), ('processed', r'processed (\d+)'),
             ('published', r'published (\d+)'), ('no_grasp', r'no grasp[^,;]*?(\d+)'))


def parse_statistics(line: str) -> Dict[str, Any]:
    """The node's statistics line (:meth:`FrameStatistics.summary`) -> counters, drop reasons
    and ``{label: (p50, p95)}`` timings; fields it lacks are left out."""
    out: Dict[str, Any] = {'line': line.strip()}
    for key, pattern in _COUNTERS:
        m = re.search(pattern, line)
        if m:
            out[key] = int(m.group(1))
    dropped: Dict[str, int] = {}
    m = re.search(r'dropped:\s*([^;]*)', line)
    if m:
        for item in m.group(1).split(','):
            parts = item.strip().rsplit(' ', 1)
            if len(parts) == 2 and parts[1].isdigit():
                dropped[parts[0]] = int(parts[1])
    out['dropped'] = dropped
    out['timings_ms'] = {label: (float(p50), float(p95))
                         for label, p50, p95 in _TIMING.findall(line)}
    return out


def statistics_entries(log_text: str) -> List[Tuple[float, Dict[str, Any]]]:
    """``(log time, parsed line)`` of every statistics line of a node log (ROS console format
    ``[INFO] [sec.nsec] [name]: ...``)."""
    return [(float(m.group('time')), parse_statistics(m.group('line')))
            for m in _STATS_LINE.finditer(log_text)]


def statistics_delta(entries: Sequence[Tuple[float, Dict[str, Any]]], t0: float, t1: float
                     ) -> Optional[Dict[str, Any]]:
    """The node's counters over ``[t0, t1]``: the last statistics line at or before each edge,
    subtracted (the node counts from its start). None without a line on both sides."""
    before = [e for e in entries if e[0] <= t0]
    after = [e for e in entries if e[0] <= t1]
    if not before or not after or after[-1][0] <= before[-1][0]:
        return None
    (ta, a), (tb, b) = before[-1], after[-1]
    delta: Dict[str, Any] = {'from': ta, 'to': tb, 'span_s': tb - ta}
    for key, _ in _COUNTERS:
        if key in a and key in b:
            delta[key] = b[key] - a[key]
    reasons = set(a['dropped']) | set(b['dropped'])
    delta['dropped'] = {r: b['dropped'].get(r, 0) - a['dropped'].get(r, 0)
                        for r in sorted(reasons)}
    delta['timings_ms'] = b['timings_ms']   # the node's last window (300 frames)
    return delta


# ------------------------------------------------------------------------------ /proc readers
def read_cpu_times() -> Optional[Tuple[int, int]]:
    """``(busy, total)`` jiffies of all cores since boot (/proc/stat), None off Linux."""
    try:
        with open('/proc/stat') as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)   # idle + iowait
    total = sum(fields[:8])   # guest time is already in user/nice
    return total - idle, total


def process_cpu_seconds(pid: int) -> Optional[float]:
    """User + system CPU seconds of a process (/proc/PID/stat), None when it is gone."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rfind(')') + 2:].split()   # the name may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def read_rss_kb(pid: int) -> Optional[int]:
    """VmRSS (kB) of a process, None when it is gone."""
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def cpu_usage(before: Dict[str, Any], after: Dict[str, Any]) -> Dict[str, Any]:
    """CPU over a window from two :func:`cpu_snapshot` results: the machine's busy share (%
    of all cores), and per process % of one core."""
    out: Dict[str, Any] = {'cores': os.cpu_count(), 'loadavg_1m_end': after.get('loadavg')}
    wall = after['wall'] - before['wall']
    if before.get('machine') and after.get('machine') and wall > 0:
        busy = after['machine'][0] - before['machine'][0]
        total = after['machine'][1] - before['machine'][1]
        out['machine_busy_pct'] = 100.0 * busy / total if total > 0 else math.nan
    for name, seconds in after['processes'].items():
        start = before['processes'].get(name)
        if seconds is not None and start is not None and wall > 0:
            out[f'{name}_pct'] = 100.0 * (seconds - start) / wall
    ours = [out[k] for k in ('node_pct', 'camera_pct', 'benchmark_pct') if k in out]
    if 'machine_busy_pct' in out and len(ours) == 3 and out['cores']:
        # Busy cores not explained by the three processes: another job on the machine.
        out['other_cores'] = max(out['machine_busy_pct'] / 100.0 * out['cores']
                                 - sum(ours) / 100.0, 0.0)
    return out


def cpu_snapshot(pids: Dict[str, Optional[int]]) -> Dict[str, Any]:
    times = os.times()
    processes = {name: (process_cpu_seconds(pid) if pid else None) for name, pid in pids.items()}
    processes['benchmark'] = times.user + times.system
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    return {'wall': time.monotonic(), 'machine': read_cpu_times(), 'processes': processes,
            'loadavg': load}


# ------------------------------------------------------------------------------ reporting
def _fmt(value, spec: str = '.1f', missing: str = '-') -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return missing
    return format(value, spec)


def markdown_table(rows: Sequence[Dict[str, Any]]) -> str:
    """One row per rate, for the README."""
    lines = ['| camera | published (late) | processed | dropped | stamp -> grasp p50 / p99 / '
             'max | node period | p99 < 2 periods | node drops in window | CPU busy, load |',
             '|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        lat = r['latency_ms']
        verdict = {True: 'yes', False: '**no**', None: '-'}[r['p99_below_2_periods']]
        stats = r.get('node_window') or {}
        drops = ', '.join(f'{k} {v}' for k, v in stats.get('dropped', {}).items() if v)
        if stats.get('no_grasp'):
            drops = ', '.join(x for x in (drops, f'no grasp {stats["no_grasp"]}') if x)
        if r.get('undelivered_to_node'):
            drops = ', '.join(x for x in (f'~{r["undelivered_to_node"]} never arrived', drops)
                              if x)
        cpu = r.get('cpu', {})
        published = _fmt(r['published'], 'd')
        if r.get('published_estimated'):
            published = '~' + published
        lines.append(
            f'| {r["rate_hz"]:g} Hz | {published} ({_fmt(r.get("late"), "d")}) | '
            f'{r["processed_fps"]:.1f} FPS | {_fmt(r["dropped"], "d")} '
            f'({_fmt(r["dropped_pct"], ".0f")}%) | {_fmt(lat["p50"])} / {_fmt(lat["p99"])} / '
            f'{_fmt(lat["max"])} ms | {_fmt(r["node_period_ms"])} ms | {verdict} | '
            f'{drops or ("none" if stats else "-")} | '
            f'{_fmt(cpu.get("machine_busy_pct"), ".0f")}% of {cpu.get("cores") or "?"}, '
            f'{_fmt(cpu.get("loadavg_1m_end"), ".1f")} |')
    return '\n'.join(lines)


def describe_rate(r: Dict[str, Any]) -> str:
    """The per-rate paragraph printed after each window."""
    lat, cpu = r['latency_ms'], r.get('cpu', {})
    cam = r.get('camera_summary') or {}
    lines = [
        f'--- {r["rate_hz"]:g} Hz: window {r["window_s"]:.1f} s ---',
        f'camera: {r["published"]} frames published in the window'
        + (' (estimated: no stamp file)' if r.get('published_estimated') else '')
        + f', {_fmt(r.get("late"), "d")} late (> {r["late_tolerance_ms"]:g} ms); whole run '
          f'{cam.get("published", "?")} frames at {_fmt(cam.get("achieved_hz"), ".2f")} Hz, '
          f'lateness p99 {_fmt(cam.get("lateness_p99_ms"))} ms, skipped '
          f'{cam.get("skipped", "?")}, publish p50 {_fmt(cam.get("publish_p50_ms"), ".2f")} ms',
        f'processed: {r["processed"]} distinct frames = {r["processed_fps"]:.2f} FPS '
        f'({r["grasps_received"]} grasps received); dropped {_fmt(r["dropped"], "d")} '
        f'({_fmt(r["dropped_pct"], ".1f")}%)',
        f'latency image stamp -> grasp here: p50 {_fmt(lat["p50"])} ms, p99 {_fmt(lat["p99"])} '
        f'ms, max {_fmt(lat["max"])} ms; node frame period {_fmt(r["node_period_ms"])} ms: '
        f'p99 = {_fmt(r["p99_periods"], ".2f")} periods -> '
        # No cause is guessed here: the node's own timings (pipeline vs receive->publish vs
        # stamp->publish) below tell waiting, transport and compute jitter apart.
        + {True: 'below 2 periods: target met', False: 'NOT below 2 periods: target missed',
           None: 'no verdict'}[r['p99_below_2_periods']],
    ]
    stats = r.get('node_window')
    if stats:
        drops = ', '.join(f'{k} {v}' for k, v in stats['dropped'].items() if v) or 'none'
        lines.append(f'node counters over {_fmt(stats.get("span_s"))} s of the window: frames in '
                     f'{stats.get("frames_in", "?")}, processed {stats.get("processed", "?")}, '
                     f'published {stats.get("published", "?")}, no grasp '
                     f'{stats.get("no_grasp", "?")}, dropped: {drops}')
    if r.get('undelivered_pct') is not None:
        lines.append("never reached the node's image callback: "
                     f'~{r["undelivered_to_node"]} '
                     f'frames ({r["undelivered_pct"]:.0f}% of those published; replaced in a '
                     f'keep-last-1 DDS queue or lost; the node cannot count them)')
    if r.get('node_statistics'):
        lines.append(f'node statistics line: {r["node_statistics"]}')
    rss = r.get('rss') or {}
    if rss.get('start_kb'):
        lines.append(f'node RSS: {rss["start_kb"] / 1024:.1f} MB at the window start, '
                     f'{rss["end_kb"] / 1024:.1f} MB at its end ({_fmt(rss["growth_pct"], "+.2f")}'
                     f'%)')
    parts = [f'{k[:-4]} {cpu[k]:.0f}%' for k in ('node_pct', 'camera_pct', 'benchmark_pct')
             if k in cpu]
    lines.append(f'CPU: machine {_fmt(cpu.get("machine_busy_pct"), ".0f")}% busy of '
                 f'{cpu.get("cores")} cores, load average {_fmt(cpu.get("loadavg_1m_end"), ".2f")}'
                 f'; of one core: {", ".join(parts) or "?"}; other work '
                 f'{_fmt(cpu.get("other_cores"), ".2f")} cores')
    return '\n'.join(lines)


def json_clean(value):
    """NaN/inf -> None and tuples -> lists, recursively (strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_clean(v) for v in value]
    if isinstance(value, np.generic):
        return json_clean(value.item())
    if isinstance(value, Path):
        return str(value)
    return value


# ------------------------------------------------------------------------------ processes
class ChildDied(RuntimeError):
    def __init__(self, child: Child) -> None:
        super().__init__(f'{child.name} exited with code {child.proc.returncode}')
        self.child = child


def resolve_model(model: Optional[Path]) -> Tuple[Optional[Path], str]:
    """``(model, '')``, or ``(None, error message)`` when it does not exist."""
    from mtg_grasp_ros.grasp_node import DEFAULT_MODEL_STEM, default_model_path

    path = Path(model if model is not None else default_model_path()).expanduser().resolve()
    if path.with_suffix('.json').is_file() or path.is_file() or path.is_dir():
        return path, ''
    which = 'the default model' if model is None else 'the model'
    return None, (f'error: {which} {path} does not exist (no {path.name}.json).\n'
                  f'  The default models/{DEFAULT_MODEL_STEM} is trained and exported with '
                  f'`python -m training export ...`; `make train-demo` gives a small one in '
                  f'runs/demo/model/mtgcnn_demo: pass it with --model.')


def node_args(args: argparse.Namespace) -> argparse.Namespace:
    """What :func:`mtg_grasp_ros.demo.node_command` reads: the replay camera's pose, the table
    at z = 0 of ``world``."""
    return argparse.Namespace(backend=args.backend, target_frame='world',
                              camera_xyz=list(DEFAULT_XYZ), camera_rpy=list(DEFAULT_RPY),
                              object_height=0.02, threads=args.threads,
                              min_quality=args.min_quality)


def benchmark_node_command(args: argparse.Namespace, model: Path) -> List[str]:
    # Later -p overrides win in rcl: the stats period, then the user's --param.
    extra = ['-p', f'stats_period:={float(args.stats_period)}']
    for item in args.param:
        extra += ['-p', item]
    return node_command(node_args(args), model) + extra


def camera_command(args: argparse.Namespace, rate: float, stamps_file: Path) -> List[str]:
    return [sys.executable, '-m', 'mtg_grasp_ros.replay_camera', '--rate', f'{rate:g}',
            '--reliability', args.qos, '--depth', str(args.camera_depth),
            '--frames', str(args.frames), '--objects', str(args.objects),
            '--seed', str(args.seed), '--frames-file', str(args.logs / 'replay_frames.npz'),
            '--stamps-file', str(stamps_file), '--late-tolerance', str(args.late_tolerance),
            '--fov', str(DEFAULT_FOV_DEG), '--camera-xyz', *(str(v) for v in DEFAULT_XYZ),
            '--camera-rpy', *(str(v) for v in DEFAULT_RPY)]


def camera_summary(text: str) -> Optional[Dict[str, Any]]:
    """The replay camera's final ``replay summary: {json}`` line."""
    for line in reversed(text.splitlines()):
        if line.startswith(SUMMARY_PREFIX):
            try:
                return json.loads(line[len(SUMMARY_PREFIX):])
            except ValueError:
                return None
    return None


def load_stamps(path: Path) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    try:
        with np.load(path) as data:
            return data['stamps'], data['lateness']
    except (OSError, KeyError, ValueError):
        return None, None


# ------------------------------------------------------------------------------ the run
class Benchmark:
    """This process' side: the children, the ~/grasp_pose recorder, sampling, the windows."""

    def __init__(self, args: argparse.Namespace, env: Dict[str, str], model: Path) -> None:
        self.args, self.env, self.model = args, env, model
        self.node: Optional[Child] = None
        self.camera: Optional[Child] = None
        self.stamps: List[float] = []
        self.received: List[float] = []
        self.rss: List[Tuple[float, Optional[int]]] = []
        self.results: List[Dict[str, Any]] = []
        self._next_rss = 0.0
        self.interrupted = False
        self.ros_node = None
        self.executor = None

    # ---------------------------------------------------------------- ROS side
    def start_ros(self) -> None:
        from geometry_msgs.msg import PoseStamped
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

        self.ros_node = rclpy.create_node('ros_benchmark', start_parameter_services=False)
        # Reliable, like the node's publisher; a deep reader queue so a briefly starved
        # benchmark process does not lose grasps (it only records; it never falls behind).
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100,
                         reliability=ReliabilityPolicy.RELIABLE)
        # Serialised: only the header stamp is read, no message conversion per grasp.
        self.ros_node.create_subscription(PoseStamped, GRASP_TOPIC, self._on_grasp, qos,
                                          raw=True)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.ros_node)

    def _on_grasp(self, raw: bytes) -> None:
        now = time.time()   # the camera stamps with ROS time = this machine's wall clock
        self.stamps.append(cdr_stamp(raw))
        self.received.append(now)

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
              f'{_fmt(percentile(latency.tolist(), 50))} ms, p99 '
              f'{_fmt(percentile(latency.tolist(), 99))} ms (last {self.args.progress:g} s)'
              + (f', node RSS {rss / 1024:.1f} MB' if rss else ''), flush=True)

    # ---------------------------------------------------------------- one rate
    def measure(self, rate: float) -> Dict[str, Any]:
        args = self.args
        slug = f'{rate:g}hz'.replace('.', '_')
        stamps_file = args.logs / f'replay_camera_{slug}_stamps.npz'
        if stamps_file.exists():
            stamps_file.unlink()
        started = time.time()
        self.camera = Child(f'replay camera ({rate:g} Hz)',
                            camera_command(args, rate, stamps_file), self.env,
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
            # The node's statistics line covering the window end is logged within a period.
            self.pump(max(time.time(), t1 + args.stats_period + 0.2))
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
        result['node_window'] = statistics_delta(statistics_entries(node_text), t0, t1)
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
        for child in (self.camera, self.node):
            if child is None:
                continue
            code = child.stop()
            if code not in (0, None, -signal.SIGINT, 130):
                print(f'{child.name} exited with {code} (log: {child.log})')
        if self.ros_node is not None:
            self.ros_node.destroy_node()
            self.ros_node = None


def soak_report(args: argparse.Namespace, bench: Benchmark, node_alive: bool) -> Dict[str, Any]:
    """``--rss``: memory and latency over the whole measurement (all windows)."""
    t0 = bench.results[0]['window_start']
    t1 = bench.results[-1]['window_end']
    rss = rss_summary(bench.rss, t0, t1)
    trend = latency_trend(bench.stamps, bench.received, t0, t1)
    report = {'node_alive_at_end': node_alive, 'rss': rss, 'latency_trend': trend,
              'rss_series': [(round(t - t0, 2), kb) for t, kb in bench.rss]}
    growth = rss['growth_pct']
    print('\n=== soak (--rss) ===')
    if rss['start_kb']:
        print(f'node RSS after warm-up {rss["start_kb"] / 1024:.1f} MB, at the end '
              f'{rss["end_kb"] / 1024:.1f} MB (max {rss["max_kb"] / 1024:.1f} MB): growth '
              f'{_fmt(growth, "+.2f")}% -> '
              + ('OK' if rss['growth_ok'] else f'NOT below {RSS_GROWTH_LIMIT_PCT:g}%'))
    if trend['part_s'] < 60.0:
        print('(a window shorter than 3 minutes: its first and last thirds are compared, '
              'which says little; a soak is e.g. --seconds 600 --rates 30 --rss)')
    print(f'latency p50, first {trend["part_s"]:.0f} s: {_fmt(trend["first_p50_ms"])} ms, last '
          f'{trend["part_s"]:.0f} s: {_fmt(trend["last_p50_ms"])} ms, slope '
          f'{_fmt(trend["slope_ms_per_min"], "+.2f")} ms/min -> '
          + {True: 'GROWING', False: 'not growing', None: 'no verdict'}[
              trend['latency_growing']])
    report['targets_met'] = bool(node_alive and rss['growth_ok'] is not False
                                 and trend['latency_growing'] is not True)
    print(f'node alive at the end: {"yes" if node_alive else "NO"}; soak targets (no crash, RSS '
          f'growth < {RSS_GROWTH_LIMIT_PCT:g}%, latency not growing): '
          + ('met' if report['targets_met'] else 'MISSED'))
    return report


def run(args: argparse.Namespace) -> int:
    model, error = resolve_model(args.model)
    if model is None:
        print(error, file=sys.stderr)
        return 1
    env = configure_ros_environment(args)
    args.logs.mkdir(parents=True, exist_ok=True)
    transport = ('Fast DDS defaults' if args.no_large_data
                 else 'FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA')
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
    try:
        from rclpy.signals import SignalHandlerOptions
        rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    except ImportError:
        rclpy.init()
    bench = Benchmark(args, env, model)
    code = 0
    failure = None
    # Ctrl-C and SIGTERM end the run cleanly (also when started with SIGINT ignored, as a
    # background job of a non-interactive shell is).
    previous_term = signal.signal(signal.SIGTERM, _raise_interrupt)
    previous_int = signal.signal(signal.SIGINT, _raise_interrupt)
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
            report['soak'] = soak_report(args, bench, node_alive)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(json_clean(report), indent=1) + '\n')
    print(f'wrote {args.json}')
    return code


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run(parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
