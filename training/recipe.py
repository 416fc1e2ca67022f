"""``python -m training recipe``: the whole model recipe as one command (``make gpu-train``).

The steps of ``models/README.md`` ("How it was made"), run in-process one after another:

1. ``synth-train``    physics-labelled data of the train objects (``training synth --split train``:
                      single objects, the CLI's looks: textured supports, robot views, sensor
                      effects, contact openings) into ``data/train/single``
2. ``synth-mixed``    random_urdfs and procedural shapes, a share of clutter views
                      (``--shapes``, ``--clutter``) into ``data/train/mixed`` (when
                      ``mixed_objects`` > 0)
   ``synth-thin``     thin shapes (rods, rod frames: ``--shapes thin``, 30% clutter) into
                      ``data/train/thin`` (when ``thin_objects`` > 0)
3. ``synth-heldout``  the held-out objects (``--split heldout``, the shapes of step 2 and
                      ``heldout_clutter`` clutter views, never trained on; ``heldout_objects``
                      None: all of them)
4. ``train``          MTG-CNN_p (depth auxiliary task, positional loss), fold 0 (skipped when
                      ``epochs`` is 0: the fine-tuning then starts from ``init``)
5. ``relabel``        antipodal labels (``relabel --cone --keep-every-object``) } only with
6. ``finetune``       fine-tune from step 4 on them (the last epoch is kept)    } finetune_epochs
7. ``evaluate``       top-1 accuracy on every held-out view (``training evaluate --split all``)
8. ``export``         the deploy model (safetensors + ONNX + JSON, parity checked)

Every step logs its start and duration; ``OUT/recipe.json`` gets the settings, seconds per
step, the held-out accuracy and the exported files. All numbers live in :data:`PRESETS`.

Presets: ``tiny`` (6 + 2 objects, 1 view, 128 px images, 1 + 1 epochs at 64 px on the CPU:
the test's size), ``gpu`` (the default model's recipe at full size, on CUDA, from scratch)
and ``cpu`` (below).

**Estimate for ``gpu``, not measured (no GPU was available to this work)**, one modern GPU and
16 CPU cores. Data generation, from the per-view costs measured here: models/README's v2 run
made 1170 train views in 795 s and 388 held-out views in 354 s on 2 workers (1.36 and 1.8
core-s per view); clutter views cost 1.13x a single view (``training/synth/clutter.py``).
300 train objects x 4 views -> ~1170 x 1.36 = 1590 core-s; the mixed set, 300 x 2 views ->
~600 x 1.36 x 1.13 = 920 core-s; 100 held-out objects x 2 -> ~200 x 1.8 = 360 core-s;
the thin set, 90 x 2 views -> ~180 x 4.5 core-s (measured: 267 views in 605 s on 2 workers)
= 810 core-s; 3680 core-s / 16 workers = 230 s, +25% for looks and stragglers: **~290 s**.
Training: on a GPU the 116k-parameter network is bound by the 8 DataLoader workers'
augmentation, assumed ~500 images/s. 30 epochs x ~1410 train views = 42,300 images = 85 s, +
30 validations (~1 s each) + decoding the 1024 px PNGs once per worker (~50 s): **~165 s**;
fine-tuning 15 epochs on the ~1200 views left with antipodal labels: 36 + 15 + 50 = **~100
s**; relabel ~15 s, held-out evaluation ~20 s, export ~5 s, start-up ~10 s. Total **~605 s
(~10 min)**, at the 10-minute goal; replace these figures with the measured
``recipe.json`` seconds once it has run on a GPU.

Preset ``cpu`` is how candidate 3a (not the default) was made on the 2-core development machine
(``models/README.md``): no training from scratch (``epochs`` 0), v2's weights fine-tuned for
25 epochs on the antipodal labels of 110 single-object and 200 mixed objects.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, fields, replace
import json
import logging
import os
from pathlib import Path
import sys
import time
from typing import Callable, Dict, List, Optional

import torch

from mtg_grasp_ros import deploy
from mtg_grasp_ros.models import build_model
from training import evaluate as evaluate_command
from training import relabel as relabel_command
from training import synth as synth_command
from training.checkpoint import CheckpointError, save_checkpoint
from training.evaluate import resolve_device
from training.export import export
from training.train import train, TrainConfig

LOG = logging.getLogger('training.recipe')
MODEL_NAME = 'mtgcnn_depth_p'


@dataclass(frozen=True)
class RecipeSettings:
    """Everything a recipe run does (sizes in px, angles in degrees, memory in MB)."""

    train_objects: int                 # train-split objects to simulate (single objects)
    heldout_objects: Optional[int]     # held-out objects (None: all of the held-out set)
    views: int                         # views per object
    mixed_objects: int                 # objects of the mixed set (shapes, clutter; 0: none)
    image_size: int                    # px, side of the simulated images (Jacquard: 1024)
    trials: int                        # simulated grasp trials per view
    input_size: int                    # px, network input (the paper: 300)
    epochs: int                        # training epochs
    finetune_epochs: int               # epochs on the antipodal labels (0: no relabel/finetune)
    device: str                        # torch device of training and evaluation
    loader_workers: int                # DataLoader worker processes while training
    cache_mb: float                    # MB of decoded views per process (x loader_workers)
    n_folds: int = 5                   # object-wise folds; fold 0 trains
    batch_size: int = 8
    lr: float = 1e-3                   # Adam learning rate
    finetune_lr: float = 5e-4
    cone_deg: float = 15.0             # relabel: antipodal cone
    network: str = 'mtgcnn'
    aux: str = 'depth'
    loss: str = 'positional'
    seed: int = 0                      # train data, split and training seed
    heldout_seed: int = 1
    mixed_views: int = 2               # views per object of the mixed and thin sets
    thin_objects: int = 0              # thin shapes (rods, rod frames; 0: no thin set)
    shapes: str = 'both'               # mixed and held-out sets: synth --shapes
    clutter: float = 0.6               # mixed set: share of clutter views (synth --clutter)
    heldout_clutter: float = 0.4       # held-out set: share of clutter views
    workers: int = 0                   # data generation processes (0: os.cpu_count())
    init: Optional[str] = None         # start from this checkpoint (.pt) or deploy model
    train_data: Optional[str] = None   # existing train data: skip synth-train
    heldout_data: Optional[str] = None  # existing held-out data: skip synth-heldout

    @property
    def synth_workers(self) -> int:
        return self.workers if self.workers > 0 else (os.cpu_count() or 1)


#: The presets: change the v3 numbers here.
PRESETS: Dict[str, RecipeSettings] = {
    'gpu': RecipeSettings(train_objects=300, heldout_objects=None, views=4, mixed_objects=300,
                          image_size=1024, trials=40, input_size=300, epochs=30,
                          finetune_epochs=15, device='cuda', loader_workers=8, cache_mb=4096.0,
                          thin_objects=90),
    # Candidate 3a as made on the 2-core CPU (models/README.md; not the default): v2's weights
    # fine-tuned on the antipodal labels of the new data, no training from scratch.
    'cpu': RecipeSettings(train_objects=110, heldout_objects=40, views=4, mixed_objects=200,
                          image_size=1024, trials=40, input_size=300, epochs=0,
                          finetune_epochs=25, device='cpu', loader_workers=2, cache_mb=8192.0,
                          init='models/mtgcnn_depth_p'),
    'tiny': RecipeSettings(train_objects=6, heldout_objects=2, views=1, mixed_objects=2,
                           mixed_views=1, image_size=128, trials=12, input_size=64, epochs=1,
                           finetune_epochs=1, device='cpu', loader_workers=0, cache_mb=256.0,
                           n_folds=2, thin_objects=1),
}
#: Command-line overrides: option -> settings field (all typed by the field's default).
OVERRIDES = {'objects': 'train_objects', 'heldout_objects': 'heldout_objects', 'views': 'views',
             'mixed_objects': 'mixed_objects', 'thin_objects': 'thin_objects',
             'clutter': 'clutter', 'shapes': 'shapes',
             'image_size': 'image_size', 'trials': 'trials', 'input_size': 'input_size',
             'epochs': 'epochs', 'finetune_epochs': 'finetune_epochs', 'device': 'device',
             'workers': 'workers', 'loader_workers': 'loader_workers',
             'batch_size': 'batch_size', 'seed': 'seed', 'init': 'init',
             'data': 'train_data', 'heldout_data': 'heldout_data'}


class RecipeError(RuntimeError):
    """A step failed or a setting cannot be used (the message says which)."""


def check_device(settings: RecipeSettings, preset: str) -> torch.device:
    """The training device, or RecipeError saying why CUDA cannot be used."""
    if settings.device.startswith('cuda') and not torch.cuda.is_available():
        raise RecipeError(
            f'the {preset} preset trains on CUDA but PyTorch sees no GPU (CPU-only torch '
            f'build, no driver, or CUDA_VISIBLE_DEVICES empty): run it on a GPU machine, or '
            f'add --device cpu (the same recipe on the CPU: hours), or use --preset tiny')
    try:
        return resolve_device(settings.device)
    except ValueError as exc:
        raise RecipeError(str(exc)) from None


def _command(module, argv: List[str]) -> int:
    """Run one ``python -m training`` sub-command in this process; its exit code."""
    parser = argparse.ArgumentParser(prog='python -m training')
    module.register(parser.add_subparsers(dest='command', required=True))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


def init_checkpoint(source: Path, settings: RecipeSettings, out: Path) -> Path:
    """A training checkpoint to start from: ``source`` itself (a ``.pt``), or one made from a
    deploy model (grasp branch from its weights, auxiliary branch freshly initialised)."""
    if source.suffix == '.pt':
        return source
    stripped, metadata = deploy.load_torch_model(source)
    model = build_model(settings.network, metadata['input_mode'])
    result = model.load_state_dict(stripped.state_dict(), strict=False)
    if result.unexpected_keys or any(not k.startswith('aux') for k in result.missing_keys):
        raise CheckpointError(f'{source}: a {metadata.get("network")} deploy model does not '
                              f'fit {settings.network}')
    path = out / 'init_from_model.pt'
    save_checkpoint(path, model, {'network': settings.network, 'aux': settings.aux,
                                  'input_mode': metadata['input_mode'],
                                  'init': str(source)}, epoch=0)
    return path


class Recipe:
    """One run: the steps in order, each timed into :attr:`steps`."""

    def __init__(self, settings: RecipeSettings, preset: str, out: Path) -> None:
        self.settings, self.preset, self.out = settings, preset, out
        self.steps: List[Dict] = []
        self.summary: Dict = {'preset': preset, 'settings': asdict(settings)}

    def step(self, name: str, action: Callable[[], object]) -> object:
        """Run ``action`` as step ``name``, logged and timed; RecipeError when it fails."""
        LOG.info('step %d: %s', len(self.steps) + 1, name)
        started = time.perf_counter()
        try:
            result = action()
        except (CheckpointError, deploy.DeployModelError, ValueError, OSError) as exc:
            result = exc
        seconds = round(time.perf_counter() - started, 2)
        # Sub-commands return an exit code, the others a report (or raise).
        ok = not isinstance(result, Exception) and not (isinstance(result, int) and result)
        self.steps.append({'name': name, 'seconds': seconds, 'ok': ok})
        LOG.info('step %d: %s %s in %.1f s', len(self.steps), name,
                 'done' if ok else 'FAILED', seconds)
        if not ok:
            raise RecipeError(f'step {name} failed' + (
                f': {result}' if isinstance(result, Exception) else f' (exit code {result})'))
        return result

    def synth(self, split: str, objects: Optional[int], seed: int, folder: Path,
              views: int, extra: List[str] = ()) -> int:
        s = self.settings
        argv = ['synth', '--out', str(folder), '--split', split, '--views', str(views),
                '--image-size', str(s.image_size), '--trials', str(s.trials), '--seed',
                str(seed), '--workers', str(s.synth_workers), '--quiet', *extra]
        return _command(synth_command, argv + (['--objects', str(objects)] if objects else []))

    def train(self, data: str, out: Path, epochs: int, lr: float, init: Optional[str]) -> Dict:
        s = self.settings
        if init:  # a checkpoint, or a deploy model made into one
            init = str(init_checkpoint(Path(init), s, self.out))
        config = TrainConfig(
            data=data, out=str(out), network=s.network, aux=s.aux, loss=s.loss,
            n_folds=s.n_folds, seed=s.seed, epochs=epochs, batch_size=s.batch_size, lr=lr,
            input_size=s.input_size, device=s.device, workers=s.loader_workers,
            cache_mb=s.cache_mb, init=init)
        return train(config, show_progress=sys.stderr.isatty())

    def run(self) -> Dict:
        s, out = self.settings, self.out
        started = time.perf_counter()
        self.summary['device'] = str(check_device(s, self.preset))
        out.mkdir(parents=True, exist_ok=True)
        train_data = s.train_data or str(out / 'data' / 'train')
        heldout_data = s.heldout_data or str(out / 'data' / 'heldout')
        shapes = ['--shapes', s.shapes]
        if not s.train_data:
            self.step('synth-train', lambda: self.synth(
                'train', s.train_objects, s.seed, Path(train_data) / 'single', s.views))
            if s.mixed_objects > 0:  # another seed: its own draw of objects
                self.step('synth-mixed', lambda: self.synth(
                    'train', s.mixed_objects, s.seed + 2, Path(train_data) / 'mixed',
                    s.mixed_views, shapes + ['--clutter', str(s.clutter)]))
            if s.thin_objects > 0:
                self.step('synth-thin', lambda: self.synth(
                    'train', s.thin_objects, s.seed + 4, Path(train_data) / 'thin',
                    s.mixed_views, ['--shapes', 'thin', '--clutter', '0.3']))
        if not s.heldout_data:
            self.step('synth-heldout', lambda: self.synth(
                'heldout', s.heldout_objects, s.heldout_seed, Path(heldout_data),
                s.mixed_views, shapes + ['--clutter', str(s.heldout_clutter)]))
        if s.epochs > 0:
            first = self.step('train', lambda: self.train(
                train_data, out / 'train', s.epochs, s.lr, s.init))
            checkpoint = first['best_checkpoint']
        elif s.init and s.finetune_epochs > 0:
            checkpoint = s.init
        else:
            raise RecipeError('epochs 0 needs --init (a model to fine-tune) and finetune '
                              'epochs > 0')
        if s.finetune_epochs > 0:
            relabelled = out / 'data' / f'train_ap{s.cone_deg:g}'
            self.step('relabel', lambda: _command(relabel_command, [
                'relabel', '--data', train_data, '--out', str(relabelled), '--cone',
                str(s.cone_deg), '--keep-every-object', '--quiet']))
            tuned = self.step('finetune', lambda: self.train(
                str(relabelled), out / 'finetune', s.finetune_epochs, s.finetune_lr,
                checkpoint))
            checkpoint = tuned['last_checkpoint']
        heldout_json = out / 'heldout.json'
        self.step('evaluate', lambda: _command(evaluate_command, [
            'evaluate', '--checkpoint', checkpoint, '--data', heldout_data, '--split', 'all',
            '--device', s.device, '--out', str(heldout_json)]))
        result = json.loads(heldout_json.read_text())
        report = self.step('export', lambda: export(Path(checkpoint), out / 'model' / MODEL_NAME,
                                                    log=LOG.info))
        if not report['ok']:
            raise RecipeError('step export failed: parity check (see the log)')
        paths = deploy.deploy_paths(report['stem'])
        self.summary.update(
            checkpoint=checkpoint, total_seconds=round(time.perf_counter() - started, 2),
            heldout_accuracy=result['accuracy'], heldout_correct=result['correct'],
            heldout_images=result['n_images'],
            export={'stem': report['stem'], 'parity': report['parity'],
                    'files': [str(p) for p in (paths.safetensors, paths.onnx, paths.json)
                              if p.is_file()]})
        return self.summary

    def write(self, error: Optional[str] = None) -> Path:
        self.summary['steps'] = self.steps
        self.summary['error'] = error
        path = self.out / 'recipe.json'
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.summary, indent=1) + '\n')
        return path


def settings_from_args(args: argparse.Namespace) -> RecipeSettings:
    """The preset's settings with the given command-line overrides."""
    changes = {field: getattr(args, option) for option, field in OVERRIDES.items()
               if getattr(args, option) is not None}
    return replace(PRESETS[args.preset], **changes)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        'recipe', help='the whole model recipe in one command: synth, train, (relabel, '
                       'fine-tune,) evaluate on held-out objects, export',
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--preset', choices=tuple(PRESETS), default='gpu',
                        help='the settings table to start from (default: gpu)')
    parser.add_argument('--out', required=True, type=Path,
                        help='run folder: data/, train/, finetune/, model/, recipe.json')
    types = {f.name: f.type for f in fields(RecipeSettings)}
    for option, field in OVERRIDES.items():
        kind = types[field].replace('Optional[', '').rstrip(']')
        parser.add_argument('--' + option.replace('_', '-'), dest=option, default=None,
                            metavar=field.upper(), type={'int': int, 'float': float}.get(
                                kind, str),
                            help=f'{field} (presets: ' + ', '.join(
                                f'{name} {getattr(p, field)}' for name, p in PRESETS.items())
                            + ')')
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """0 on success, 1 when a step fails, 2 for an unusable setting (e.g. no CUDA)."""
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(name)s: %(message)s')
    settings = settings_from_args(args)
    recipe = Recipe(settings, args.preset, args.out)
    try:
        check_device(settings, args.preset)
        LOG.info('recipe %s -> %s: %s', args.preset, args.out, settings)
        summary = recipe.run()
    except RecipeError as exc:
        print(f'error: {exc}', file=sys.stderr)
        if recipe.steps:
            print(f'wrote {recipe.write(str(exc))}', file=sys.stderr)
            return 1
        return 2
    path = recipe.write()
    for row in recipe.steps:
        print(f'{row["name"]:>14}: {row["seconds"]:8.1f} s')
    print(f'held-out accuracy {100 * summary["heldout_accuracy"]:.2f}% '
          f'({summary["heldout_correct"]}/{summary["heldout_images"]}) in '
          f'{summary["total_seconds"]:.0f} s; model {summary["export"]["stem"]}.*; wrote {path}')
    return 0
