"""``python -m training bench-report``: several grasp-bench runs side by side.

Reads the ``--json`` files of ``python -m training grasp-bench`` runs (any mix of tables,
object sets, models and planners) and prints one Markdown table: a row per planner (the node
planner named by its model path as given, since two exports may share a file name, and by its
``jaws_outside_view``, ``centring_fraction`` (runs before it: 0), ``jaw_clearance`` /
``clearance_fraction`` (runs before it: off), ``node_max_opening`` (runs before it: 0, the
gripper unknown to the node; the default: the gripper's) and ``opening_margin`` where they
differ from the defaults; node and
baseline rows of ``--avoid-failed`` runs say so), a column per
setting (table, object set) and one for all settings together; each cell is isolated success
/ clutter cleared in percent, with the counts. ``--plot`` draws the same as grouped bars with
95% Wilson intervals (80 drops: about +-8 points at 80% success, +-11 at 50%: read small
differences against it; clutter objects of one scene are counted as independent trials, which
they are not, so their intervals are too narrow).
"""

from __future__ import annotations

import argparse
from collections import defaultdict
import json
import math
from pathlib import Path
from typing import Dict, List, Tuple

from mtg_grasp_ros.pipeline import PipelineConfig
from simulation.planners import DEFAULT_MARGIN
from simulation.success_rate import wilson

Counts = Tuple[int, int]  # (successes, trials)


class BenchReportError(ValueError):
    """A file that is not a grasp-bench ``--json`` output."""


def row_name(planner: str, settings: dict) -> str:
    """The row label of ``planner`` in a run made with ``settings``."""
    memory = ', avoiding failed grasps' if settings.get('avoid_failed') else ''
    if planner != 'node':
        return planner + (memory if planner == 'baseline' else '')
    name = str(settings.get('model', 'node'))  # the path as given: two exports may share a stem
    try:  # grasp-bench records its default model as an absolute path
        name = Path(name).relative_to(Path.cwd()).as_posix()
    except ValueError:
        pass
    rule = settings.get('jaws_outside_view') or ('drop' if settings.get('jaws_in_view') else
                                                 'keep')
    if rule != PipelineConfig.jaws_outside_view:  # runs before the option: keep (or drop)
        name += f', jaws outside view {rule}'
    margin = settings.get('opening_margin', DEFAULT_MARGIN)
    centring = settings.get('centring_fraction')
    if centring is None and 'centring_fraction' not in settings:
        centring = 0.0  # runs before grasp centring
    if centring is not None and abs(float(centring) - PipelineConfig.centring_fraction) > 1e-9:
        name += f', centring {float(centring):g}'
    clearance = float(settings.get('jaw_clearance', 0.0))  # runs before jaw clearance: off
    fraction = float(settings.get('clearance_fraction', PipelineConfig.clearance_fraction))
    if clearance <= 0:
        if PipelineConfig.jaw_clearance > 0:
            name += ', no jaw clearance'
    elif (abs(clearance - PipelineConfig.jaw_clearance) > 1e-9
          or abs(fraction - PipelineConfig.clearance_fraction) > 1e-9):
        name += f', jaw clearance {clearance:g} m at {fraction:g}'
    told = float(settings.get('node_max_opening', 0.0))  # runs before the option: unknown
    if told <= 0:
        name += ', gripper unknown to the node'
    elif abs(told - float(settings.get('max_opening', told))) > 1e-9:
        name += f', node max opening {told:g} m'
    name += memory
    if margin is not None and abs(float(margin) - DEFAULT_MARGIN) > 1e-9:
        name += f', margin {float(margin):g} m'
    return name


def collect(paths: List[Path]) -> Dict[str, Dict[str, Dict[str, Counts]]]:
    """``{row: {setting: {'isolated': (ok, n), 'clutter': (ok, n)}}}`` summed over files.

    Raises :class:`BenchReportError` for a file without grasp-bench's ``settings`` and
    ``summary``."""
    table: Dict[str, Dict[str, Dict[str, list]]] = defaultdict(
        lambda: defaultdict(lambda: {'isolated': [0, 0], 'clutter': [0, 0]}))
    for path in paths:
        try:
            run = json.loads(Path(path).read_text())
            settings, summary = run['settings'], run['summary']
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BenchReportError(f'{path}: not a grasp-bench --json file ({exc})') from exc
        setting = f'{settings.get("table", "plain")}, {settings.get("object_set", "random_urdfs")}'
        for planner, s in summary.items():
            cell = table[row_name(planner, settings)][setting]
            for kind, ok, n in (('isolated', 'isolated_success', 'isolated_drops'),
                                ('clutter', 'clutter_cleared', 'clutter_objects')):
                cell[kind][0] += int(s[ok])
                cell[kind][1] += int(s[n])
    return {r: {k: {kind: tuple(c) for kind, c in v.items()} for k, v in cells.items()}
            for r, cells in table.items()}


def _cell(counts: Dict[str, Counts]) -> str:
    parts = []
    for kind in ('isolated', 'clutter'):
        ok, n = counts[kind]
        parts.append(f'{100.0 * ok / n:.0f}% ({ok}/{n})' if n else '-')
    return ' / '.join(parts)


def markdown(table: Dict[str, Dict[str, Dict[str, Counts]]]) -> str:
    """The Markdown table: rows in the order met, settings sorted, then all settings."""
    settings = sorted({s for cells in table.values() for s in cells})
    lines = ['| planner | ' + ' | '.join(settings) + ' | all |',
             '|---' * (len(settings) + 2) + '|']
    for row, cells in table.items():
        total = {kind: tuple(sum(c[kind][i] for c in cells.values()) for i in (0, 1))
                 for kind in ('isolated', 'clutter')}
        values = [_cell(cells[s]) if s in cells else '' for s in settings] + [_cell(total)]
        lines.append(f'| {row} | ' + ' | '.join(values) + ' |')
    return '\n'.join(lines)


def plot(table: Dict[str, Dict[str, Dict[str, Counts]]], out: Path) -> None:
    """Grouped bars (isolated above, clutter below) with 95% Wilson intervals, to ``out``."""
    from training.plots import save_figure  # first: sets matplotlib's headless backend (Agg)
    import matplotlib.pyplot as plt
    import numpy as np

    settings = sorted({s for cells in table.values() for s in cells})
    rows = list(table)
    fig_width = max(6.0, 1.6 * len(settings) * len(rows) ** 0.5)
    fig, axes = plt.subplots(2, 1, figsize=(fig_width, 7.0), sharex=True)
    width = 0.8 / max(len(rows), 1)
    for ax, kind in zip(axes, ('isolated', 'clutter')):
        for i, row in enumerate(rows):
            rates, low, high = [], [], []
            for s in settings:
                ok, n = table[row].get(s, {}).get(kind, (0, 0))
                lo, hi = wilson(ok, n)
                rate = ok / n if n else math.nan
                rates.append(100 * rate)
                low.append(100 * (rate - lo) if n else 0.0)
                high.append(100 * (hi - rate) if n else 0.0)
            x = np.arange(len(settings)) + (i - (len(rows) - 1) / 2) * width
            ax.bar(x, rates, width, yerr=[low, high], capsize=2, label=row)
        ax.set_ylabel(f'{kind} {"success" if kind == "isolated" else "cleared"} (%)')
        ax.set_ylim(0, 105)
        ax.grid(axis='y', alpha=0.3)
    axes[1].set_xticks(range(len(settings)))
    axes[1].set_xticklabels(settings, rotation=15)
    axes[0].legend(fontsize=7, loc='lower left')
    fig.suptitle('grasp-bench (95% Wilson intervals)')
    fig.tight_layout()
    save_figure(fig, out)


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        'bench-report', help='grasp-bench runs side by side (Markdown table, optional plot)',
        description=__doc__.split('\n\n', 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('runs', nargs='+', type=Path, help='grasp-bench --json files')
    parser.add_argument('--plot', type=Path, default=None, help='also draw the bars to this PNG')
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    try:
        table = collect(args.runs)
    except BenchReportError as exc:
        print(f'error: {exc}')
        return 2
    print('cells: isolated success / clutter cleared (successes/trials)')
    print(markdown(table))
    if args.plot is not None:
        plot(table, args.plot)
        print(f'wrote {args.plot}')
    return 0
