"""Generation of whole objects (views, trials, files) and the pool of worker processes.

Determinism: everything random about object ``i`` comes from NumPy generators seeded with
``(seed, i)`` (the object's scale and look) and ``(seed, i, attempt)`` (each view attempt), and
every view is simulated in a fresh pybullet client, so the files of an object depend on the
seed and the object only, not on the number of workers or the order they finish in.

A view attempt that yields no successful grasp (object resting in a pose too wide for the
gripper, say) is discarded and the object dropped again, up to ``2 * views`` attempts; the views
that are written are numbered 0, 1, ... without gaps. An object with no successful view gets no
folder at all and is listed in the summary.

Throughput measured on the 2-core development machine (``--workers 2``, default 40 trials per
view, other jobs sharing the machine at times): 1024 px, 50 objects x 4 views in 82 s, i.e.
2.4 views/s, 97 trials/s, ~29 grasps per view, 2.4 MB per view on disk (so 300 objects x 4
views take ~9 minutes and ~3 GB); 256 px, the same objects in 38 s (5.3 views/s, 210 trials/s).
Per view and core at 1024 px: drop + settle + render ~0.25 s, 40 trials ~0.35 s (~9 ms each),
stereo simulation and writing ~0.2 s. ``summary.json`` records these figures for every run.
Those figures are of ``--opening pregrasp`` labels; the default ``contact`` labels try each
success again from its label's opening (:func:`.sampling.label_opening`): on 20 objects x 2
views (1024 px, ``--workers 1``, shared machine) 1.64x the trials, 214 s instead of 174 s.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
import json
import multiprocessing
import os
from pathlib import Path
import time
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np

from simulation.gripper import build_grippers
from simulation.objects import ObjectSpec
from simulation.poses import pose_to_grasp
from simulation.scene import random_quaternion, Scene
from training.synth.appearance import object_look, random_look
from training.synth.framing import random_view_camera
from training.synth.sampling import (deduplicate, label_opening, OPENINGS, OpeningStats,
                                     sample_candidates, SamplerStats)
from training.synth.sensor import apply_sensor_effects
from training.synth.stereo import simulate_stereo_depth
from training.synth.writer import SUFFIXES, write_view

#: Objects are rescaled so their largest side is drawn from this range (m): random_urdfs have
#: no physical size, and Jacquard likewise rescaled its ShapeNet models to gripper scale.
OBJECT_SIZE_RANGE = (0.05, 0.13)
#: A view whose object covers less of the image than this is redrawn (rolled out of view).
MIN_MASK_FRACTION = 0.005


@dataclass(frozen=True)
class SynthConfig:
    """What to generate for each object."""

    out: str
    views: int = 4
    image_size: int = 1024
    trials: int = 40
    seed: int = 0
    #: Label opening convention, one of sampling.OPENINGS (contact: Jacquard's, pregrasp: old).
    opening: str = OPENINGS[0]
    #: Looks (appearance.LOOKS), share of robot views, sensor effects on the written RGB; the
    #: defaults here are the behaviour before these options (the CLI's defaults differ).
    looks: str = 'plain'
    robot_views: float = 0.0
    sensor_effects: bool = False

    @property
    def max_attempts(self) -> int:
        return 2 * self.views


@dataclass
class ViewRecord:
    """Bookkeeping of one written view (goes to ``views.json`` and the summary)."""

    view: int
    attempt: int
    grasps: int
    trials: int
    successes: int
    reasons: Dict[str, int]
    sampler: Dict[str, int]
    validation: Dict[str, int]
    camera: dict
    scale: float
    scene_s: float
    trial_s: float
    write_s: float


@dataclass
class ObjectRecord:
    object_id: str
    index: int
    views: List[ViewRecord] = field(default_factory=list)
    attempts: int = 0
    trials: int = 0
    retrials: int = 0
    successes: int = 0
    trial_s: float = 0.0
    seconds: float = 0.0
    bytes: int = 0
    error: Optional[str] = None


def object_rng(seed: int, index: int, *extra: int) -> np.random.Generator:
    """The generator for (seed, object index, ...): independent of workers and of other objects."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(index), *extra]))


def _clear_object(out: Path, object_id: str) -> None:
    """Remove files of a previous run of this object, so stale views never mix with new ones."""
    folder = out / object_id
    if folder.is_dir():
        for path in folder.iterdir():
            if path.name.endswith(SUFFIXES) or path.name.startswith('.tmp'):
                path.unlink()


def generate_object(spec: ObjectSpec, config: SynthConfig) -> ObjectRecord:
    """Simulate and write all views of one object; return what was done."""
    start = time.perf_counter()
    out = Path(config.out)
    _clear_object(out, spec.object_id)
    record = ObjectRecord(object_id=spec.object_id, index=spec.index)
    rng = object_rng(config.seed, spec.index)
    target_size = rng.uniform(*OBJECT_SIZE_RANGE)
    object_rgb, object_texture = object_look(rng, config.looks)
    scale = None
    for attempt in range(config.max_attempts):
        if len(record.views) >= config.views:
            break
        record.attempts += 1
        view_rng = object_rng(config.seed, spec.index, attempt)
        with Scene() as scene:
            if scale is None:
                scale = float(target_size / max(float(scene.native_extent(spec.path).max()),
                                                1e-4))
            result = _simulate_view(scene, spec, config, view_rng, scale, object_rgb,
                                    object_texture, record)
        if result is None:
            continue
        view = len(record.views)
        rgb, depth, stereo, mask, grasps, info = result
        t0 = time.perf_counter()
        if config.sensor_effects:
            rgb = apply_sensor_effects(rgb, view_rng)
        paths = write_view(out, spec.object_id, view, rgb, depth, stereo, mask, grasps)
        info['write_s'] = time.perf_counter() - t0
        record.bytes += sum(p.stat().st_size for p in paths.values())
        record.views.append(ViewRecord(view=view, attempt=attempt, **info))
    record.seconds = time.perf_counter() - start
    return record


def _simulate_view(scene: Scene, spec: ObjectSpec, config: SynthConfig,
                   rng: np.random.Generator, scale: float, object_rgb, object_texture,
                   record: ObjectRecord) -> Optional[tuple]:
    """One attempt: drop, settle, render, try grasps. None when it yields no usable view."""
    t0 = time.perf_counter()
    body = scene.drop(spec.path, scale, random_quaternion(rng))
    if not scene.settle([body]):  # still rolling after 4 s: trials would start from a moving one
        return None
    lo, hi = scene.aabb(body)
    centre = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, 0.0])
    camera = random_view_camera(rng, centre, float(max(hi[0] - lo[0], hi[1] - lo[1])),
                                config.image_size, config.robot_views)
    look, paint = random_look(rng, object_rgb, object_texture, config.looks)
    scene.apply_appearance(look, body)
    render = scene.render(camera, look.light)
    rgb, depth = render.rgb, render.depth
    if paint is not None:  # rich looks: support and object textures at their true size
        rgb = paint.apply(rgb, render.segmentation, depth, camera, scene.table, body)
    mask = np.where(render.mask(body), 255, 0).astype(np.uint8)
    scene_s = time.perf_counter() - t0
    if (mask > 0).mean() < MIN_MASK_FRACTION:
        return None

    t0 = time.perf_counter()
    grippers = build_grippers(scene)
    state = scene.p.saveState(physicsClientId=scene.client)
    stats = SamplerStats()
    opening_stats = OpeningStats()
    reasons: Counter = Counter()
    successes = []
    trials = 0
    for cand in sample_candidates(rng, camera, depth, mask, config.trials, stats=stats):
        gripper = grippers[cand.jaw_size]
        result = gripper.trial(body, cand.position, cand.rotation, cand.opening, state)
        trials += 1
        reasons[result.reason] += 1
        if not result.success:
            continue
        opening = label_opening(config.opening, cand, result, gripper, body, state, camera,
                                depth, opening_stats)
        if opening is not None:
            row, col = int(round(cand.grasp.row)), int(round(cand.grasp.col))
            successes.append(pose_to_grasp(camera, cand.position, cand.rotation, opening,
                                           cand.jaw_size, float(depth[row, col])))
    trial_s = time.perf_counter() - t0
    record.trials += trials
    record.retrials += opening_stats.retrials
    record.successes += reasons['success']
    record.trial_s += trial_s
    grasps = deduplicate(successes, config.image_size)
    if not grasps:
        return None
    stereo = simulate_stereo_depth(depth, camera.focal, rng)
    info = dict(grasps=len(grasps), trials=trials, successes=reasons['success'],
                reasons=dict(sorted(reasons.items())), sampler=asdict(stats),
                validation=asdict(opening_stats),
                camera=camera.to_dict(), scale=scale, scene_s=scene_s, trial_s=trial_s)
    return rgb, depth, stereo, mask, grasps, info


# Worker pool ------------------------------------------------------------------------------------

def _init_worker() -> None:
    # One process per core already: OpenCV's own threads would only oversubscribe the CPU.
    cv2.setNumThreads(1)


def _task(job) -> ObjectRecord:
    spec, config = job
    try:
        return generate_object(spec, config)
    except Exception as exc:  # one unloadable model must not end a run of hundreds
        return ObjectRecord(object_id=spec.object_id, index=spec.index,
                            error=f'{type(exc).__name__}: {exc} ({spec.path})')


def generate(specs: Sequence[ObjectSpec], config: SynthConfig, workers: int = 1,
             progress: bool = True) -> dict:
    """Generate every object (in ``workers`` processes), write the summaries, return the summary.

    ``workers <= 1`` runs in this process (no pool), which is what the tests and a debugger use.
    """
    from tqdm import tqdm

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    records: List[ObjectRecord] = []
    jobs = [(s, config) for s in specs]
    bar = tqdm(total=len(jobs), unit='obj', disable=not progress, dynamic_ncols=True)
    pool = None
    try:
        if workers <= 1:
            _init_worker()
            iterator = map(_task, jobs)
        else:
            # spawn: a clean interpreter per worker, whatever the parent imported (torch, ...).
            pool = multiprocessing.get_context('spawn').Pool(workers, initializer=_init_worker)
            iterator = pool.imap_unordered(_task, jobs, chunksize=1)
        for record in iterator:
            records.append(record)
            bar.set_postfix(views=sum(len(r.views) for r in records),
                            grasps=sum(v.grasps for r in records for v in r.views))
            bar.update(1)
    finally:
        bar.close()
        if pool is not None:  # every result is in (or we are failing): stop the workers
            pool.terminate()
            pool.join()
    wall = time.perf_counter() - start
    records.sort(key=lambda r: r.index)
    summary = summarise(records, config, wall, workers)
    _write_json(out / 'views.json', _views_table(records))
    _write_json(out / 'summary.json', summary)
    return summary


def summarise(records: Sequence[ObjectRecord], config: SynthConfig, wall: float,
              workers: int) -> dict:
    """The run's figures (also written to ``summary.json``)."""
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
        'view_attempts': sum(r.attempts for r in records),
        'grasps': int(sum(per_view)),
        'grasps_per_view': {
            'mean': float(np.mean(per_view)) if per_view else 0.0,
            'min': int(min(per_view)) if per_view else 0,
            'max': int(max(per_view)) if per_view else 0},
        'trials': trials,
        'trial_successes': sum(r.successes for r in records),
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


def _views_table(records: Sequence[ObjectRecord]) -> list:
    """Per written view: camera (intrinsics, pose), scale and trial counts; no timings."""
    return [{'object_id': r.object_id, 'view': v.view, 'attempt': v.attempt,
             'grasps': v.grasps, 'trials': v.trials, 'successes': v.successes,
             'reasons': v.reasons, 'sampler': v.sampler, 'validation': v.validation,
             'scale': v.scale,
             'camera': v.camera} for r in records for v in r.views]


def _write_json(path: Path, data) -> None:
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
        f"views: {summary['views']} ({summary['view_attempts']} attempts)",
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
