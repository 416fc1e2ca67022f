"""Plots for humans: training curves like the paper's Fig. 6."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

# Headless: training machines and CI have no display.
matplotlib.use('Agg')


def plot_validation_curves(curves: Dict[str, Sequence[Sequence[float]]], out_png: Path,
                           title: str = 'Validation accuracy (IoU > 0.25, angle < 30 deg)'
                           ) -> Path:
    """Plot validation accuracy per epoch, one line per label.

    ``curves`` maps a label to one or more runs (lists of per-epoch accuracies in [0, 1]); with
    several runs (folds) the mean is drawn with a +-1 std band, as an average over folds.
    """
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for label, runs in curves.items():
        runs = [list(r) for r in runs if len(r)]
        if not runs:
            continue
        length = min(len(r) for r in runs)
        data = np.array([r[:length] for r in runs], dtype=float) * 100.0
        epochs = np.arange(1, length + 1)
        mean = data.mean(axis=0)
        line, = ax.plot(epochs, mean, label=label, linewidth=1.6)
        if len(runs) > 1:
            std = data.std(axis=0)
            ax.fill_between(epochs, mean - std, mean + std, color=line.get_color(), alpha=0.15)
    ax.set_xlabel('epoch')
    ax.set_ylabel('validation accuracy (%)')
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc='lower right')
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png)
    plt.close(fig)
    return out_png


def save_figure(fig, out: Path, dpi: int = 110) -> Path:
    """Write ``fig`` to ``out`` (PNG; parent folders created) and close it; returns ``out``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out
