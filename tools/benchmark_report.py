"""The ROS benchmark's report: the Markdown table, the per-rate paragraph, the soak verdict, JSON.

Formats the dictionaries of :mod:`tools.latency_stats` and :mod:`tools.child_metrics` (one per
camera rate, see :meth:`tools.benchmark_run.Benchmark.measure`) for the terminal and the README;
missing numbers print as ``-``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, Sequence

import numpy as np

from tools.latency_stats import latency_trend, RSS_GROWTH_LIMIT_PCT, rss_summary


def fmt(value, spec: str = '.1f', missing: str = '-') -> str:
    """``format(value, spec)``, or ``missing`` for None, NaN and infinity."""
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
        published = fmt(r['published'], 'd')
        if r.get('published_estimated'):
            published = '~' + published
        lines.append(
            f'| {r["rate_hz"]:g} Hz | {published} ({fmt(r.get("late"), "d")}) | '
            f'{r["processed_fps"]:.1f} FPS | {fmt(r["dropped"], "d")} '
            f'({fmt(r["dropped_pct"], ".0f")}%) | {fmt(lat["p50"])} / {fmt(lat["p99"])} / '
            f'{fmt(lat["max"])} ms | {fmt(r["node_period_ms"])} ms | {verdict} | '
            f'{drops or ("none" if stats else "-")} | '
            f'{fmt(cpu.get("machine_busy_pct"), ".0f")}% of {cpu.get("cores") or "?"}, '
            f'{fmt(cpu.get("loadavg_1m_end"), ".1f")} |')
    return '\n'.join(lines)


def describe_rate(r: Dict[str, Any]) -> str:
    """The per-rate paragraph printed after each window."""
    lat, cpu = r['latency_ms'], r.get('cpu', {})
    cam = r.get('camera_summary') or {}
    lines = [
        f'--- {r["rate_hz"]:g} Hz: window {r["window_s"]:.1f} s ---',
        f'camera: {r["published"]} frames published in the window'
        + (' (estimated: no stamp file)' if r.get('published_estimated') else '')
        + f', {fmt(r.get("late"), "d")} late (> {r["late_tolerance_ms"]:g} ms); whole run '
          f'{cam.get("published", "?")} frames at {fmt(cam.get("achieved_hz"), ".2f")} Hz, '
          f'lateness p99 {fmt(cam.get("lateness_p99_ms"))} ms, skipped '
          f'{cam.get("skipped", "?")}, publish p50 {fmt(cam.get("publish_p50_ms"), ".2f")} ms',
        f'processed: {r["processed"]} distinct frames = {r["processed_fps"]:.2f} FPS '
        f'({r["grasps_received"]} grasps received); dropped {fmt(r["dropped"], "d")} '
        f'({fmt(r["dropped_pct"], ".1f")}%)',
        f'latency image stamp -> grasp here: p50 {fmt(lat["p50"])} ms, p99 {fmt(lat["p99"])} '
        f'ms, max {fmt(lat["max"])} ms; node frame period {fmt(r["node_period_ms"])} ms: '
        f'p99 = {fmt(r["p99_periods"], ".2f")} periods -> '
        # No cause is guessed here: the node's own timings (pipeline vs receive->publish vs
        # stamp->publish) below tell waiting, transport and compute jitter apart.
        + {True: 'below 2 periods: target met', False: 'NOT below 2 periods: target missed',
           None: 'no verdict'}[r['p99_below_2_periods']],
    ]
    stats = r.get('node_window')
    if stats:
        drops = ', '.join(f'{k} {v}' for k, v in stats['dropped'].items() if v) or 'none'
        lines.append(f'node counters over {fmt(stats.get("span_s"))} s of the window: frames in '
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
                     f'{rss["end_kb"] / 1024:.1f} MB at its end ({fmt(rss["growth_pct"], "+.2f")}'
                     f'%)')
    parts = [f'{k[:-4]} {cpu[k]:.0f}%' for k in ('node_pct', 'camera_pct', 'benchmark_pct')
             if k in cpu]
    lines.append(f'CPU: machine {fmt(cpu.get("machine_busy_pct"), ".0f")}% busy of '
                 f'{cpu.get("cores")} cores, load average {fmt(cpu.get("loadavg_1m_end"), ".2f")}'
                 f'; of one core: {", ".join(parts) or "?"}; other work '
                 f'{fmt(cpu.get("other_cores"), ".2f")} cores')
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


def soak_report(bench, node_alive: bool) -> Dict[str, Any]:
    """``--rss``: memory and latency over the whole measurement (all windows), printed and
    returned. ``bench``: a :class:`tools.benchmark_run.Benchmark` after its run (its
    ``results``, ``rss`` samples and grasp ``stamps``/``received`` times)."""
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
              f'{fmt(growth, "+.2f")}% -> '
              + ('OK' if rss['growth_ok'] else f'NOT below {RSS_GROWTH_LIMIT_PCT:g}%'))
    if trend['part_s'] < 60.0:
        print('(a window shorter than 3 minutes: its first and last thirds are compared, '
              'which says little; a soak is e.g. --seconds 600 --rates 30 --rss)')
    print(f'latency p50, first {trend["part_s"]:.0f} s: {fmt(trend["first_p50_ms"])} ms, last '
          f'{trend["part_s"]:.0f} s: {fmt(trend["last_p50_ms"])} ms, slope '
          f'{fmt(trend["slope_ms_per_min"], "+.2f")} ms/min -> '
          + {True: 'GROWING', False: 'not growing', None: 'no verdict'}[
              trend['latency_growing']])
    report['targets_met'] = bool(node_alive and rss['growth_ok'] is not False
                                 and trend['latency_growing'] is not True)
    print(f'node alive at the end: {"yes" if node_alive else "NO"}; soak targets (no crash, RSS '
          f'growth < {RSS_GROWTH_LIMIT_PCT:g}%, latency not growing): '
          + ('met' if report['targets_met'] else 'MISSED'))
    return report
