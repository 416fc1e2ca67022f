"""``python -m training study-report``: training runs compared by accuracy per CPU-hour.

Reads a folder of ``python -m training train`` runs (one sub-folder each, as
``tools/training_study.sh`` makes them) and prints one Markdown table, a row per run: how it
started (``--init`` or random weights), network and auxiliary task, input size, training views,
epochs and images seen, the CPU time it used, its best validation accuracy (on its own split),
and, where the run folder has ``heldout.json`` (``python -m training evaluate --out``), the
accuracy, opening ratio and off-object share on the held-out views. ``--plot`` draws validation
accuracy per epoch against CPU minutes, one line per run.

CPU time: ``time.txt`` in the run folder (``/usr/bin/time -f '%U %S %e'``: user, system and
wall seconds of the whole ``train`` process) where present, else the wall time of the epochs
(``train_seconds`` of ``log.csv``). Per-epoch CPU time shares the total out in proportion to the
epochs' wall seconds. A run with one thread on a core of its own uses about its wall time in
CPU time; two runs on two cores double the throughput of one.
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass, field
import json
from pathlib import Path
from typing import List, Optional


class StudyReportError(ValueError):
    """A folder that holds no training run this command can read."""


@dataclass
class StudyRun:
    """One training run's figures (times in seconds, accuracies 0-1)."""

    name: str
    init: str                          # checkpoint it started from, or 'random'
    network: str
    aux: str
    input_size: int
    data: str
    train_views: Optional[int]
    batch_size: int
    images_per_epoch: Optional[int]    # None: one pass over the train split
    epochs: List[int] = field(default_factory=list)
    val_accuracy: List[float] = field(default_factory=list)
    epoch_cpu_s: List[float] = field(default_factory=list)  # cumulative, per epoch
    cpu_s: float = 0.0
    heldout: Optional[dict] = None     # accuracy, opening ratio, off-object share, images

    @property
    def best_val(self) -> float:
        return max(self.val_accuracy) if self.val_accuracy else float('nan')


def _train_views(log: Path) -> Optional[int]:
    """Train images of the run from its train.log line '... N train / M val images ...'."""
    if not log.is_file():
        return None
    for line in log.read_text(errors='replace').splitlines():
        if ' train / ' in line:
            before = line.split(' train / ')[0].split()
            if before and before[-1].isdigit():
                return int(before[-1])
    return None


def read_run(folder: Path) -> StudyRun:
    """The figures of the run in ``folder``; raises :class:`StudyReportError` without its
    ``config.json`` or ``log.csv``."""
    config_file, log_file = folder / 'config.json', folder / 'log.csv'
    if not config_file.is_file() or not log_file.is_file():
        raise StudyReportError(f'{folder}: no config.json and log.csv (not a train run)')
    config = json.loads(config_file.read_text())
    with log_file.open(newline='') as handle:
        rows = list(csv.DictReader(handle))
    run = StudyRun(name=folder.name, init=Path(config['init']).name if config.get('init')
                   else 'random', network=config['network'], aux=config.get('aux', 'none'),
                   input_size=int(config['input_size']), data=str(config['data']),
                   train_views=_train_views(folder / 'train.log'),
                   batch_size=int(config['batch_size']),
                   images_per_epoch=(int(config['batches_per_epoch']) * int(config['batch_size'])
                                     if config.get('batches_per_epoch') else None))
    walls = [float(r['train_seconds']) for r in rows]
    run.epochs = [int(r['epoch']) for r in rows]
    run.val_accuracy = [float(r['val_accuracy']) for r in rows]
    total = sum(walls)
    time_file = folder / 'time.txt'
    fields = time_file.read_text().split() if time_file.is_file() else []
    if len(fields) >= 2:  # empty while the run is still going
        total = float(fields[0]) + float(fields[1])
    scale = total / sum(walls) if sum(walls) > 0 else 0.0
    cumulative = 0.0
    for wall in walls:
        cumulative += wall * scale
        run.epoch_cpu_s.append(cumulative)
    run.cpu_s = total
    heldout = folder / 'heldout.json'
    if heldout.is_file():
        result = json.loads(heldout.read_text())
        run.heldout = {'accuracy': result['accuracy'], 'images': result['n_images'],
                       'opening_ratio': (result.get('opening') or {}).get('median_ratio'),
                       'off_object': (result.get('background') or {}).get('share')}
    return run


def collect(root: Path) -> List[StudyRun]:
    """Every run folder under ``root`` (sub-folders with a log.csv), sorted by name."""
    folders = sorted(p for p in Path(root).iterdir() if (p / 'log.csv').is_file())
    if not folders:
        raise StudyReportError(f'{root}: no run folders (sub-folders with log.csv)')
    return [read_run(p) for p in folders]


def _pct(value: Optional[float]) -> str:
    return '' if value is None else f'{100 * value:.1f}%'


def markdown(runs: List[StudyRun]) -> str:
    """The Markdown table of ``runs`` (see the module docstring)."""
    lines = ['| run | start | network (aux) | input px | train views | epochs x images | '
             'CPU min | best val | held-out acc | opening ratio | off object |',
             '|---|---|---|---|---|---|---|---|---|---|---|']
    for r in runs:
        h = r.heldout or {}
        ratio = h.get('opening_ratio')
        lines.append(
            f'| {r.name} | {r.init} | {r.network} ({r.aux}) | {r.input_size} | '
            f'{r.train_views if r.train_views is not None else "?"} | '
            f'{len(r.epochs)} x {r.images_per_epoch or "all"} | {r.cpu_s / 60:.1f} | '
            f'{_pct(r.best_val)} | '
            f'{_pct(h.get("accuracy"))} | {"" if ratio is None else f"{ratio:.2f}"} | '
            f'{_pct(h.get("off_object"))} |')
    return '\n'.join(lines)


def plot(runs: List[StudyRun], out: Path) -> None:
    """Validation accuracy per epoch against cumulative CPU minutes, to ``out`` (PNG)."""
    from training.plots import save_figure  # first: sets matplotlib's headless backend (Agg)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 4.5))
    for r in runs:
        label = r.name + (f' (held-out {100 * r.heldout["accuracy"]:.0f}%)' if r.heldout
                          else '')
        ax.plot([s / 60 for s in r.epoch_cpu_s], [100 * a for a in r.val_accuracy],
                marker='o', label=label)
    ax.set_xlabel('CPU minutes (training process)')
    ax.set_ylabel('validation accuracy (%)')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title('accuracy per CPU time')
    fig.tight_layout()
    save_figure(fig, out)


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        'study-report', help='training runs compared by accuracy per CPU-hour',
        description=__doc__.split('\n\n', 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('root', type=Path, help='folder of run folders (runs/study)')
    parser.add_argument('--plot', type=Path, default=None,
                        help='also draw accuracy against CPU minutes to this PNG')
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    try:
        runs = collect(args.root)
    except (StudyReportError, OSError, KeyError, ValueError) as exc:
        print(f'error: {exc}')
        return 2
    print(markdown(runs))
    if args.plot is not None:
        plot(runs, args.plot)
        print(f'wrote {args.plot}')
    return 0
