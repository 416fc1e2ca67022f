"""The figures of a generation run: ``summary.json``, ``views.json`` and the CLI's summary lines.

Kept apart from :mod:`.generate` (which simulates and writes the views) so each stays one job.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

import training.synth.clutter as clutter


def summarise(records: Sequence[Any], config: Any, wall: float,
              workers: int) -> dict:
    """The run's figures (also written to ``summary.json``) from the
    :class:`.generate.ObjectRecord` s of a run of :class:`.generate.SynthConfig` ``config``."""
    views = [v for r in records for v in r.views]
    per_view = [v.grasps for v in views]
    trials = sum(r.trials for r in records)
    retrials = sum(r.retrials for r in records)
    trial_s = sum(r.trial_s for r in records)
    scene_s = sum(v.scene_s for v in views)
    reasons: Counter = Counter()
    validation: Counter = Counter()
    for v in views:
        reasons.update(v.reasons)
        validation.update(v.validation)
    return {
        'config': asdict(config),
        'workers': workers,
        'objects_requested': len(records),
        'objects_written': sum(1 for r in records if r.views),
        'objects_without_grasps': [r.object_id for r in records if not r.views and not r.error],
        'objects_failed': {r.object_id: r.error for r in records if r.error},
        'objects_with_fewer_views': [r.object_id for r in records
                                     if 0 < len(r.views) < config.views],
        'object_ids': [r.object_id for r in records if r.views],
        'views': len(views),
        'distractor_views': sum(1 for v in views if getattr(v, 'distractors', 0)),
        'view_attempts': sum(r.attempts for r in records),
        'grasps': int(sum(per_view)),
        'grasps_per_view': {
            'mean': float(np.mean(per_view)) if per_view else 0.0,
            'min': int(min(per_view)) if per_view else 0,
            'max': int(max(per_view)) if per_view else 0},
        'trials': trials,
        'trial_successes': sum(r.successes for r in records),
        **clutter.summarise([(v.grasps, v.trials, v.clutter) for v in views]),
        'trial_outcomes_of_written_views': dict(sorted(reasons.items())),
        'validation_trials': retrials,
        'validation_of_written_views': dict(sorted(validation.items())),
        'seconds_wall': wall,
        'views_per_second': len(views) / wall if wall > 0 else 0.0,
        'trials_per_second': trials / wall if wall > 0 else 0.0,
        'trials_per_cpu_second': (trials + retrials) / trial_s if trial_s > 0 else 0.0,
        'scene_seconds_per_view': scene_s / len(views) if views else 0.0,
        'disk_bytes': int(sum(r.bytes for r in records)),
    }


def views_table(records: Sequence[Any]) -> list:
    """Per written view: camera (intrinsics, pose), scale and trial counts; no timings."""
    return [{'object_id': r.object_id, 'view': v.view, 'attempt': v.attempt,
             'grasps': v.grasps, 'trials': v.trials, 'successes': v.successes,
             'reasons': v.reasons, 'sampler': v.sampler, 'validation': v.validation,
             'scale': v.scale, **v.clutter,
             # Only when drawn, so runs without --distractors write the files they always did.
             **({'distractors': v.distractors} if getattr(v, 'distractors', 0) else {}),
             'camera': v.camera} for r in records for v in r.views]


def write_json(path: Path, data) -> None:
    tmp = path.with_name('.tmp' + path.name)
    tmp.write_text(json.dumps(data, indent=1) + '\n', encoding='utf-8')
    os.replace(tmp, path)


def format_summary(summary: dict) -> str:
    """Human-readable lines of the summary, for the end of a CLI run."""
    g = summary['grasps_per_view']
    lines = [
        f"objects: {summary['objects_written']} written of {summary['objects_requested']}"
        + (f" (no graspable view: {', '.join(summary['objects_without_grasps'])})"
           if summary['objects_without_grasps'] else ''),
        *(f'FAILED {k}: {v}' for k, v in summary['objects_failed'].items()),
        f"views: {summary['views']} ({summary['view_attempts']} attempts, "
        f"{summary['clutter_views']} clutter views"
        + (f", {summary['distractor_views']} with flat distractors"
           if summary.get('distractor_views') else '') + ')',
        f"grasps per view: mean {g['mean']:.1f}, min {g['min']}, max {g['max']} "
        f"({summary['grasps']} in all)",
        f"trials: {summary['trials']} ({summary['trial_successes']} successful) + "
        f"{summary['validation_trials']} validating {summary['config']['opening']} openings, "
        f"{summary['trials_per_second']:.1f}/s wall (first trials), "
        f"{summary['trials_per_cpu_second']:.0f}/s per worker while trying grasps",
        f"time: {summary['seconds_wall']:.1f} s wall, {summary['views_per_second']:.2f} views/s, "
        f"drop+settle+render {summary['scene_seconds_per_view'] * 1000:.0f} ms/view",
        f"disk: {summary['disk_bytes'] / 1e6:.1f} MB",
    ]
    return '\n'.join(lines)
