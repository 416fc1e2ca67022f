"""Latency and throughput maths of a grasp stream: windows, the period target, trends, memory.

Pure functions of recorded numbers (no ROS, no processes), shared by :mod:`tools.demo` and
:mod:`tools.ros_benchmark`: per grasp its image stamp and its receive time here (seconds, the
same wall clock), per camera frame its stamp and how late it was published. Latencies are in
milliseconds, memory in kB.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

#: Soak verdicts: RSS growth after warm-up, and latency p50 of the last vs the first minute.
RSS_GROWTH_LIMIT_PCT = 5.0
LATENCY_GROWTH_FACTOR = 1.25
LATENCY_GROWTH_SLACK_MS = 2.0


def percentile(values, q) -> float:
    """The ``q``-th percentile (0-100) of ``values``, NaN when there are none."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else math.nan


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
