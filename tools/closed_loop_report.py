"""The closed-loop bench's summary: success rates, times and failure causes per setting.

Reads the per-trial records of :mod:`tools.closed_loop_bench` (dicts, one per trial, as in
its ``--json`` file) and groups them by setting (scene, loop, rate): :func:`summarise` gives a
:class:`SettingSummary` per setting (success rate with its 95% Wilson interval, the median
time to grasp: simulated seconds from the trial's start until the fingers closed, over the
lifted trials; the mean wall time per trial; the count of each failure outcome),
:func:`markdown` the table and :func:`plot` grouped bars (closed vs open loop, per scene and
rate) with the intervals. ``python -m tools.closed_loop_report FILE.jsonl [--plot PNG]``
re-reads a saved run.
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass, field
import json
import math
from pathlib import Path
import statistics
from typing import Dict, Iterable, List, Sequence, Tuple

from simulation.success_rate import wilson

#: Order of the table's rows.
SCENES, LOOPS = ('static', 'moving'), ('closed', 'open')

Key = Tuple[str, str, float]   # (scene, loop, rate Hz)


@dataclass
class SettingSummary:
    """One setting's trials: ``ok`` lifted of ``n``; ``low``/``high`` (fractions, 95%
    Wilson); ``time_to_grasp`` (median simulated s to the close, lifted trials; nan: none);
    ``wall`` (mean wall s per trial); ``failures`` (outcome -> count)."""

    scene: str
    loop: str
    rate: float
    n: int = 0
    ok: int = 0
    low: float = math.nan
    high: float = math.nan
    time_to_grasp: float = math.nan
    wall: float = math.nan
    failures: Dict[str, int] = field(default_factory=dict)

    @property
    def success(self) -> float:
        """Lifted share (nan without trials)."""
        return self.ok / self.n if self.n else math.nan


def setting_key(record: dict) -> Key:
    """(scene, loop, rate) of a trial record."""
    return (str(record['scene']), str(record['loop']), float(record['rate']))


def _order(key: Key) -> tuple:
    scene, loop, rate = key
    rank = (SCENES.index(scene) if scene in SCENES else len(SCENES),
            LOOPS.index(loop) if loop in LOOPS else len(LOOPS))
    return (rank[0], rank[1], rate, scene, loop)


def summarise(records: Iterable[dict]) -> List[SettingSummary]:
    """A :class:`SettingSummary` per setting, ordered static/moving, closed/open, rate."""
    groups: Dict[Key, List[dict]] = {}
    for record in records:
        groups.setdefault(setting_key(record), []).append(record)
    rows = []
    for key in sorted(groups, key=_order):
        trials = groups[key]
        ok = sum(bool(t['lifted']) for t in trials)
        low, high = wilson(ok, len(trials))
        times = [t['closed_at'] for t in trials if t['lifted'] and t.get('closed_at') is not None]
        failures = Counter(t['outcome'] for t in trials if not t['lifted'])
        rows.append(SettingSummary(
            *key, n=len(trials), ok=ok, low=low, high=high,
            time_to_grasp=statistics.median(times) if times else math.nan,
            wall=statistics.fmean(float(t['wall_time']) for t in trials),
            failures=dict(sorted(failures.items(), key=lambda kv: (-kv[1], kv[0])))))
    return rows


def _number(value: float, digits: int = 1) -> str:
    return '-' if math.isnan(value) else f'{value:.{digits}f}'


def markdown(rows: Sequence[SettingSummary]) -> str:
    """The summary as a Markdown table (percentages, seconds)."""
    lines = ['| scene | loop | rate (Hz) | success | 95% CI | time to grasp (s, median) '
             '| wall (s/trial) | failures |',
             '|---|---|---|---|---|---|---|---|']
    for r in rows:
        interval = (f'{100 * r.low:.0f}-{100 * r.high:.0f}%' if r.n else '-')
        failures = ', '.join(f'{k} {v}' for k, v in r.failures.items()) or '-'
        lines.append(f'| {r.scene} | {r.loop} | {r.rate:g} | '
                     f'**{_number(100 * r.success, 0)}%** ({r.ok}/{r.n}) | {interval} | '
                     f'{_number(r.time_to_grasp, 2)} | {_number(r.wall)} | {failures} |')
    return '\n'.join(lines)


def plot(rows: Sequence[SettingSummary], path: Path, title: str = '') -> Path:
    """Grouped bars (closed vs open loop) per scene and rate with the 95% intervals (PNG)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    groups = sorted({(r.scene, r.rate) for r in rows},
                    key=lambda g: (SCENES.index(g[0]) if g[0] in SCENES else 9, g[1]))
    loops = [loop for loop in LOOPS if any(r.loop == loop for r in rows)]
    loops += sorted({r.loop for r in rows} - set(loops))
    by_key = {(r.scene, r.rate, r.loop): r for r in rows}
    width = 0.8 / max(len(loops), 1)
    fig, ax = plt.subplots(figsize=(2.8 + 1.5 * len(groups), 3.6))
    for j, loop in enumerate(loops):
        xs, ys, errors = [], [], [[], []]
        for i, (scene, rate) in enumerate(groups):
            r = by_key.get((scene, rate, loop))
            if r is None or not r.n:
                continue
            xs.append(i - 0.4 + width * (j + 0.5))
            ys.append(100 * r.success)
            errors[0].append(100 * (r.success - r.low))
            errors[1].append(100 * (r.high - r.success))
        ax.bar(xs, ys, width, yerr=errors, capsize=3, label=f'{loop} loop')
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([f'{scene}\n{rate:g} Hz' for scene, rate in groups])
    ax.set_ylim(0, 105)
    ax.set_ylabel('lifted (%), 95% Wilson')
    ax.legend(loc='upper left', bbox_to_anchor=(1.0, 1.0))
    if title:
        ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def read_records(path: Path) -> List[dict]:
    """The trial records of a ``--json`` file (JSON lines; blank lines skipped)."""
    with open(path, encoding='utf-8') as f:
        return [json.loads(line) for line in f if line.strip()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('json', type=Path, nargs='+', help='--json files of closed_loop_bench')
    parser.add_argument('--plot', type=Path, default=None, help='write a bar chart (PNG)')
    args = parser.parse_args(argv)
    rows = summarise(r for path in args.json for r in read_records(path))
    print(markdown(rows))
    if args.plot is not None:
        print(f'wrote {plot(rows, args.plot)}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
