"""What the tools read about their child processes: logs, stamp files and /proc.

The grasp node's counters -- from its ``/diagnostics`` status (``FrameStatistics.diagnose`` of
:mod:`mtg_grasp_ros.node_statistics`, published every second where diagnostic_updater is
installed) or, without it, from its statistics lines (``FrameStatistics.summary``, logged every
``stats_period``) -- parsed into counters and subtracted over a window; the replay camera's
summary line and its per-frame stamp file; the CPU time and resident memory of a process and
the machine's busy share, from /proc (Linux; None elsewhere).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
import re
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from mtg_grasp_ros.node_statistics import TIMING_LABELS
from simulation.replay_camera import SUMMARY_PREFIX


# ------------------------------------------------------------------------------ node log
def node_statistics(text: str) -> Optional[str]:
    """The grasp node's last statistics line in its log text, None before the first."""
    found = re.findall(r'(frames in \d+, processed.*)', text)
    return found[-1].strip() if found else None


_STATS_LINE = re.compile(r'\[(?P<time>\d+(?:\.\d+)?)\]\s*\[[^\]]*\]:\s*(?P<line>frames in \d+.*)')
_TIMING = re.compile(r'(\S+) p50 ([\d.]+) ms / p95 ([\d.]+) ms')
_COUNTERS = (('frames_in', r'frames in (\d+)'), ('processed', r'processed (\d+)'),
             ('published', r'published (\d+)'), ('no_grasp', r'no grasp[^,;]*?(\d+)'))


def parse_statistics(line: str) -> Dict[str, Any]:
    """The node's statistics line (``FrameStatistics.summary``) -> counters, drop reasons and
    ``{label: (p50, p95)}`` timings; fields it lacks are left out."""
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


#: ``DiagnosticStatus.name`` of the node's status (diagnostic_updater: ``<node>: <task>``).
DIAGNOSTIC_TASK = 'grasp detection'


def diagnostic_entry(status) -> Optional[Dict[str, Any]]:
    """The node's ``diagnostic_msgs/DiagnosticStatus`` (from ``/diagnostics``; written by
    ``FrameStatistics.diagnose``) -> the counters, drop reasons and ``{label: (p50, p95)}``
    timings in the form of :func:`parse_statistics`; None for another status."""
    if not status.name.endswith(': ' + DIAGNOSTIC_TASK) and status.name != DIAGNOSTIC_TASK:
        return None
    values = {kv.key: kv.value for kv in status.values}
    out: Dict[str, Any] = {'line': status.message, 'dropped': {}, 'timings_ms': {}}
    for key, _ in _COUNTERS:
        if values.get(key, '').isdigit():
            out[key] = int(values[key])
    for key, value in values.items():
        if key.startswith('dropped ') and value.isdigit():
            out['dropped'][key[len('dropped '):]] = int(value)
    for name, label in TIMING_LABELS:
        try:
            out['timings_ms'][label] = (float(values[f'{name} p50 ms']),
                                        float(values[f'{name} p95 ms']))
        except (KeyError, ValueError):
            continue
    return out


# ------------------------------------------------------------------------------ camera
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
    """The replay camera's stamp file: ``(stamps, lateness)`` of every frame it published
    (seconds), or ``(None, None)`` when it is missing or unreadable."""
    try:
        with np.load(path) as data:
            return data['stamps'], data['lateness']
    except (OSError, KeyError, ValueError):
        return None, None


# ------------------------------------------------------------------------------ /proc
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
    """CPU seconds of the named processes (``{name: pid}``) and of this one (``benchmark``),
    the machine's busy jiffies and the 1-minute load average, now; see :func:`cpu_usage`."""
    times = os.times()
    processes = {name: (process_cpu_seconds(pid) if pid else None) for name, pid in pids.items()}
    processes['benchmark'] = times.user + times.system
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    return {'wall': time.monotonic(), 'machine': read_cpu_times(), 'processes': processes,
            'loadavg': load}
