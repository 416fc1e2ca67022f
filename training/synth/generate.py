"""Generation of whole objects (views, trials, files) and the pool of worker processes.

Determinism: everything random about object ``i`` comes from NumPy generators seeded with
``(seed, i)`` (the object's scale and look) and ``(seed, i, attempt)`` (each view attempt), and
every view is simulated in a fresh pybullet client, so the files of an object depend on the
seed and the object only, not on the number of workers or the order they finish in.

A view attempt that yields no successful grasp (object resting in a pose too wide for the
gripper, say) is discarded and the object dropped again, up to ``2 * views`` attempts; the views
that are written are numbered 0, 1, ... without gaps. An object with no successful view gets no
folder at all and is listed in the summary. Clutter views (X with neighbours, grasps on all of
them) and the trial loop of every view: :mod:`.clutter`.

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

from dataclasses import asdict, dataclass, field
import multiprocessing
from pathlib import Path
import time
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from simulation.distractors import random_distractors, table_light
from simulation.gripper import build_grippers
from simulation.objects import is_thin_index, ObjectSpec
from simulation.scene import random_quaternion, Scene
from simulation.shapes import THIN_SIZE_RANGE
from training.synth.appearance import object_look, random_look
import training.synth.clutter as clutter
from training.synth.framing import random_view_camera
from training.synth.report import summarise, views_table, write_json
from training.synth.sampling import OPENINGS
from training.synth.sensor import apply_sensor_effects
from training.synth.stereo import simulate_stereo_depth
from training.synth.writer import SUFFIXES, write_view

#: Objects are rescaled so their largest side is drawn from this range (m): random_urdfs have
#: no physical size, and Jacquard likewise rescaled its ShapeNet models to gripper scale.
OBJECT_SIZE_RANGE = (0.05, 0.13)
#: A view whose object covers less of the image than this is redrawn (rolled out of view).
MIN_MASK_FRACTION = 0.005


#: The last seed word of a view's distractor generator: object_rng(seed, index, attempt, it).
DISTRACTOR_STREAM = 0xD1


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
    #: Share of clutter views and their largest number of neighbours (:mod:`.clutter`).
    clutter: float = 0.0
    clutter_objects: int = 4
    #: Share of views with flat distractors printed on the support (simulation.distractors).
    distractors: float = 0.0

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
    #: clutter (bool), neighbours (ids), object_grasps (per id), neighbour_failures.
    clutter: dict = field(default_factory=dict)
    #: Flat distractor shapes painted on the support (0: none).
    distractors: int = 0


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


def object_size_range(spec: ObjectSpec) -> Tuple[float, float]:
    """Range (m) of the largest side an object is rescaled to: 5-13 cm (OBJECT_SIZE_RANGE), a
    thin shape (rod, rod frame) 15-35 cm (:data:`simulation.shapes.THIN_SIZE_RANGE`)."""
    return THIN_SIZE_RANGE if is_thin_index(spec.index) else OBJECT_SIZE_RANGE


def generate_object(spec: ObjectSpec, config: SynthConfig,
                    pool: Sequence[ObjectSpec] = ()) -> ObjectRecord:
    """Simulate and write all views of one object (clutter neighbours from ``pool``, the
    split's objects); return what was done."""
    start = time.perf_counter()
    out = Path(config.out)
    _clear_object(out, spec.object_id)
    record = ObjectRecord(object_id=spec.object_id, index=spec.index)
    rng = object_rng(config.seed, spec.index)
    target_size = rng.uniform(*object_size_range(spec))
    object_rgb, object_texture = object_look(rng, config.looks)
    scale = None
    for attempt in range(config.max_attempts):
        if len(record.views) >= config.views:
            break
        record.attempts += 1
        view_rng = object_rng(config.seed, spec.index, attempt)
        plans = clutter.draw_neighbours(  # its own generator: --clutter 0 draws nothing extra
            object_rng(config.seed, spec.index, attempt, clutter.CLUTTER_STREAM),
            config.clutter, config.clutter_objects, pool, spec, config.looks)
        # Its own generator too: --distractors 0 draws nothing extra.
        distract_rng = object_rng(config.seed, spec.index, attempt, DISTRACTOR_STREAM)
        with Scene() as scene:
            if scale is None:
                scale = float(target_size / max(float(scene.native_extent(spec.path).max()),
                                                1e-4))
            result = _simulate_view(scene, spec, config, view_rng, scale, object_rgb,
                                    object_texture, record, plans, distract_rng)
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
                   record: ObjectRecord, plans=None,
                   distract_rng: Optional[np.random.Generator] = None) -> Optional[tuple]:
    """One attempt: drop, settle, render, try grasps. None when it yields no usable view.

    ``plans``: the neighbours of a clutter view (:func:`.clutter.draw_neighbours`), or None;
    ``distract_rng``: the generator of the view's flat distractors (with config.distractors)."""
    t0 = time.perf_counter()
    body = scene.drop(spec.path, scale, random_quaternion(rng))
    if not scene.settle([body]):  # still rolling after 4 s: trials would start from a moving one
        return None
    neighbours = clutter.place_neighbours(scene, body, plans or [])
    if neighbours is None:  # still moving after 8 s
        return None
    bodies = [body] + [n.body for n in neighbours]
    centre, extent, fill = clutter.group_box(scene, bodies)
    camera = random_view_camera(rng, centre, extent, config.image_size, config.robot_views, fill)
    look, paint = random_look(rng, object_rgb, object_texture, config.looks)
    scene.apply_appearance(look, body)
    clutter.dress_neighbours(scene, neighbours, config.looks)
    render = scene.render(camera, look.light)
    rgb, depth, seg = render.rgb, render.depth, render.segmentation
    if paint is not None:  # rich looks: support and object textures at their true size
        rgb = paint.apply(rgb, seg, depth, camera, scene.table, body)
    rgb = clutter.paint_neighbours(rgb, seg, depth, camera, neighbours, config.looks)
    shapes = 0
    if distract_rng is not None and distract_rng.random() < config.distractors:
        # Negatives: painted on the table's pixels only, so no label and quality 0 there.
        printed = random_distractors(distract_rng, centre[:2], extent)
        shapes = printed.count
        rgb = printed.paint(rgb, seg == scene.table, table_light(render.rgb, look.table_rgb),
                            camera)
    masks = [render.mask(b) for b in bodies]
    mask = np.where(np.any(masks, axis=0), 255, 0).astype(np.uint8)
    scene_s = time.perf_counter() - t0
    if masks[0].mean() < MIN_MASK_FRACTION:
        return None

    t0 = time.perf_counter()
    grippers = build_grippers(scene)
    state = scene.p.saveState(physicsClientId=scene.client)
    out = clutter.try_grasps(scene, grippers, state, rng, camera, depth, bodies, masks,
                             config.trials, config.opening, config.image_size)
    trial_s = time.perf_counter() - t0
    record.trials += out.trials
    record.retrials += out.validation.retrials
    record.successes += out.reasons['success']
    record.trial_s += trial_s
    grasps = [g for gs in out.grasps for g in gs]
    if not grasps:
        return None
    stereo = simulate_stereo_depth(depth, camera.focal, rng)
    info = dict(grasps=len(grasps), trials=out.trials, successes=out.reasons['success'],
                reasons=dict(sorted(out.reasons.items())), sampler=asdict(out.sampler),
                validation=asdict(out.validation), camera=camera.to_dict(), scale=scale,
                scene_s=scene_s, trial_s=trial_s,
                clutter=clutter.view_info(spec, neighbours, plans is not None, out),
                distractors=shapes)
    return rgb, depth, stereo, mask, grasps, info


# Worker pool ------------------------------------------------------------------------------------

def _init_worker() -> None:
    # One process per core already: OpenCV's own threads would only oversubscribe the CPU.
    cv2.setNumThreads(1)


def _task(job) -> ObjectRecord:
    spec, config, pool = job
    try:
        return generate_object(spec, config, pool)
    except Exception as exc:  # one unloadable model must not end a run of hundreds
        return ObjectRecord(object_id=spec.object_id, index=spec.index,
                            error=f'{type(exc).__name__}: {exc} ({spec.path})')


def generate(specs: Sequence[ObjectSpec], config: SynthConfig, workers: int = 1,
             progress: bool = True, pool: Optional[Sequence[ObjectSpec]] = None) -> dict:
    """Generate every object (in ``workers`` processes), write the summaries, return the summary.

    ``pool``: the objects clutter neighbours are drawn from (default ``specs``; the CLI passes
    the whole split). ``workers <= 1`` runs in this process (no pool), as tests and debuggers do.
    """
    from tqdm import tqdm

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    records: List[ObjectRecord] = []
    pool = tuple(specs if pool is None else pool) if config.clutter > 0 else ()
    jobs = [(s, config, pool) for s in specs]
    bar = tqdm(total=len(jobs), unit='obj', disable=not progress, dynamic_ncols=True)
    procs = None
    try:
        if workers <= 1:
            _init_worker()
            iterator = map(_task, jobs)
        else:
            # spawn: a clean interpreter per worker, whatever the parent imported (torch, ...).
            procs = multiprocessing.get_context('spawn').Pool(workers, initializer=_init_worker)
            iterator = procs.imap_unordered(_task, jobs, chunksize=1)
        for record in iterator:
            records.append(record)
            bar.set_postfix(views=sum(len(r.views) for r in records),
                            grasps=sum(v.grasps for r in records for v in r.views))
            bar.update(1)
    finally:
        bar.close()
        if procs is not None:  # every result is in (or we are failing): stop the workers
            procs.terminate()
            procs.join()
    wall = time.perf_counter() - start
    records.sort(key=lambda r: r.index)
    summary = summarise(records, config, wall, workers)
    write_json(out / 'views.json', views_table(records))
    write_json(out / 'summary.json', summary)
    return summary
