"""``python -m training train``: train GG-CNN or MTG-CNN on Jacquard-format data.

Each epoch trains on augmented data (random crop and zoom, as the paper) and then measures the
grasp accuracy on the **un-augmented** validation split, so the validation curve does not move
with the augmentation's random draws (the reference projects validate on augmented data). The
run directory gets ``best.pt`` (highest validation accuracy), ``last.pt`` (for ``--resume``),
``log.csv`` and ``curve.png`` (validation accuracy per epoch, like the paper's Fig. 6).

Multi-GPU: ``torchrun --nproc_per_node=N -m training train ...`` runs DistributedDataParallel;
rank 0 validates, logs and saves.
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import asdict, dataclass
import json
import logging
import math
import os
from pathlib import Path
import time
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler
from tqdm import tqdm

from mtg_grasp_ros.models import build_model, count_parameters, INPUT_CHANNELS, NETWORKS
from training.checkpoint import CheckpointError, load_checkpoint, load_weights, save_checkpoint
from training.dataset import GraspDataset
from training.evaluate import evaluate_model, resolve_device
from training.formats import find_samples
from training.losses import grasp_loss, LOSSES, TERMS
from training.plots import plot_validation_curves
from training.splits import split_by_object

LOG = logging.getLogger('training.train')
AUX_TASKS = ('none', 'depth', 'saliency')


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved in every checkpoint)."""

    data: str
    out: str
    network: str = 'ggcnn'
    aux: str = 'none'
    loss: str = 'mse'
    input_mode: str = 'rgb'
    fold: int = 0
    n_folds: int = 5
    seed: int = 0
    epochs: int = 40
    batch_size: int = 8
    lr: float = 1e-3
    batches_per_epoch: Optional[int] = None
    input_size: int = 300
    zoom_min: float = 0.5
    rotate: bool = False
    device: str = 'auto'
    workers: int = 0
    skip_bad: bool = False
    channels_last: bool = True
    val_limit: Optional[int] = None
    cache_mb: float = 8192.0
    init: Optional[str] = None

    def validate(self) -> None:
        if self.network not in NETWORKS:
            raise ValueError(f'--network must be one of {NETWORKS}')
        if self.loss not in LOSSES:
            raise ValueError(f'--loss must be one of {LOSSES}')
        if self.input_mode not in INPUT_CHANNELS:
            raise ValueError(f'--input must be one of {tuple(INPUT_CHANNELS)}')
        if self.network == 'ggcnn' and self.aux != 'none':
            raise ValueError('GG-CNN has no auxiliary branch: use --aux none or --network mtgcnn')
        if self.network == 'mtgcnn' and self.aux not in ('depth', 'saliency'):
            raise ValueError('MTG-CNN needs an auxiliary task: --aux depth or --aux saliency')
        if self.input_size % 4:
            raise ValueError('--input-size must be a multiple of 4')
        if not 0 <= self.fold < self.n_folds:
            raise ValueError(f'--fold must be in [0, {self.n_folds - 1}]')


def _distributed() -> Tuple[int, int]:
    """(rank, world size), initialising the process group when started by torchrun."""
    world = int(os.environ.get('WORLD_SIZE', '1'))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group('nccl' if torch.cuda.is_available() else 'gloo')
    return dist.get_rank(), world


def make_datasets(config: TrainConfig) -> Tuple[GraspDataset, GraspDataset]:
    """The augmented training set and the un-augmented validation set of a fold."""
    samples = find_samples(config.data)
    split = split_by_object(samples, config.fold, config.n_folds, config.seed)
    common = dict(input_mode=config.input_mode, aux=config.aux, output_size=config.input_size,
                  skip_bad=config.skip_bad, cache_mb=config.cache_mb)
    train_set = GraspDataset(split.train, augment=True, rotate=config.rotate,
                             zoom=(config.zoom_min, 1.0), seed=config.seed, **common)
    val_files = split.val[:config.val_limit] if config.val_limit else split.val
    val_set = GraspDataset(val_files, augment=False, seed=config.seed, **common)
    return train_set, val_set


def train(config: TrainConfig, resume: bool = False, show_progress: bool = True) -> Dict:
    """Train one configuration; returns a summary dict (best accuracy, history, paths)."""
    config.validate()
    rank, world = _distributed()
    device = resolve_device(config.device)
    if world > 1 and device.type == 'cuda':
        device = torch.device('cuda', int(os.environ.get('LOCAL_RANK', '0')))
        torch.cuda.set_device(device)
    torch.manual_seed(config.seed)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)

    train_set, val_set = make_datasets(config)
    model = build_model(config.network, config.input_mode).to(device)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)

    start_epoch, history, best = 0, [], -1.0
    if resume and (out / 'last.pt').is_file():
        state = load_checkpoint(out / 'last.pt', map_location=str(device))
        load_weights(model, state['model'], source=str(out / 'last.pt'))
        if state.get('optimizer'):
            optimizer.load_state_dict(state['optimizer'])
        start_epoch, history = state['epoch'], state['history']
        best = state['best_accuracy']
        LOG.info('resumed %s at epoch %d (best val accuracy %.3f)', out, start_epoch, best)
    elif config.init:
        # Fine-tuning: weights only; a fresh optimiser, epoch count and best accuracy.
        state = load_checkpoint(Path(config.init), map_location=str(device))
        load_weights(model, state['model'], source=config.init)
        LOG.info('initialised from the weights of %s (epoch %d)', config.init, state['epoch'])

    wrapped: nn.Module = model
    if world > 1:
        wrapped = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == 'cuda' else None)
    sampler = (DistributedSampler(train_set, seed=config.seed) if world > 1 else
               RandomSampler(train_set, generator=torch.Generator().manual_seed(config.seed)))
    loader = DataLoader(train_set, batch_size=config.batch_size, sampler=sampler,
                        num_workers=config.workers, drop_last=len(train_set) > config.batch_size,
                        persistent_workers=config.workers > 0)
    steps = len(loader) if not config.batches_per_epoch else config.batches_per_epoch

    if rank == 0:
        LOG.info('%s (%s aux, %s loss, %d parameters) fold %d: %d train / %d val images, '
                 '%d steps of %d per epoch on %s', config.network, config.aux, config.loss,
                 count_parameters(model), config.fold, len(train_set), len(val_set), steps,
                 config.batch_size, device)
        (out / 'config.json').write_text(json.dumps(asdict(config), indent=2))

    for epoch in range(start_epoch, config.epochs):
        wrapped.train()
        train_set.set_epoch(epoch)
        if isinstance(sampler, DistributedSampler):
            sampler.set_epoch(epoch)
        sums = {name: 0.0 for name in ('loss',) + TERMS}
        done = 0
        started = time.perf_counter()
        bar = tqdm(total=steps, desc=f'epoch {epoch + 1}/{config.epochs}', leave=False,
                   disable=not show_progress or rank != 0, unit='batch')
        while done < steps:
            for x, y in loader:
                x = x.to(device, memory_format=memory_format, non_blocking=True)
                y = y.to(device, non_blocking=True)
                terms = grasp_loss(wrapped(x), y, config.loss)
                optimizer.zero_grad(set_to_none=True)
                terms['loss'].backward()
                optimizer.step()
                for name, value in terms.items():
                    sums[name] += float(value.detach())
                done += 1
                bar.update()
                bar.set_postfix(loss=f'{sums["loss"] / done:.4f}')
                if done >= steps:
                    break
        bar.close()
        train_seconds = time.perf_counter() - started
        if rank != 0:
            continue
        result = evaluate_model(model, val_set, device)
        accuracy = float(result['accuracy'])
        row = {'epoch': epoch + 1, 'val_accuracy': accuracy,
               'train_seconds': round(train_seconds, 2),
               'images_per_second': round(done * config.batch_size / train_seconds, 2)}
        row.update({f'train_{k}': sums[k] / max(done, 1) for k in sums if sums[k] or k == 'loss'})
        history.append(row)
        improved = accuracy > best
        best = max(best, accuracy)
        if improved:
            save_checkpoint(out / 'best.pt', model, asdict(config), epoch + 1, None, history, best)
        save_checkpoint(out / 'last.pt', model, asdict(config), epoch + 1, optimizer, history,
                        best)
        _write_log(out / 'log.csv', history)
        plot_validation_curves({_label(config): [[h['val_accuracy'] for h in history]]},
                               out / 'curve.png')
        LOG.info('epoch %d/%d: loss %.4f, val accuracy %.1f%% (%d/%d)%s, %.1f images/s',
                 epoch + 1, config.epochs, row['train_loss'], 100 * accuracy,
                 result['correct'], result['n_images'], ' best' if improved else '',
                 row['images_per_second'])
    if world > 1:
        dist.barrier()
    return {'run': str(out), 'best_accuracy': best, 'history': history,
            'best_checkpoint': str(out / 'best.pt'), 'last_checkpoint': str(out / 'last.pt')}


def _label(config: TrainConfig) -> str:
    name = 'GG-CNN' if config.network == 'ggcnn' else f'MTG-CNN ({config.aux})'
    return name + ('_p' if config.loss == 'positional' else '')


def _write_log(path: Path, history: List[Dict]) -> None:
    fields = list(dict.fromkeys(k for row in history for k in row))
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(history)


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by ``train`` and ``table`` (data, schedule, device)."""
    parser.add_argument('--data', required=True,
                        help='dataset root: Jacquard layout (folders of <view>_<object>_RGB.png, '
                             '_grasps.txt, ...) or Cornell (pcdXXXXr.png, pcdXXXXcpos.txt)')
    parser.add_argument('--input', dest='input_mode', default='rgb',
                        choices=tuple(INPUT_CHANNELS), help='network input (default: rgb)')
    parser.add_argument('--n-folds', type=int, default=5, help='cross-validation folds (5)')
    parser.add_argument('--seed', type=int, default=0, help='split and augmentation seed')
    parser.add_argument('--epochs', type=int, default=40, help='epochs (the paper: 40)')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--lr', type=float, default=1e-3, help='Adam learning rate')
    parser.add_argument('--batches-per-epoch', type=int, default=None,
                        help='optimiser steps per epoch (default: one pass over the train split)')
    parser.add_argument('--input-size', type=int, default=300,
                        help='network input side in px, multiple of 4 (the paper: 300)')
    parser.add_argument('--zoom-min', type=float, default=0.5,
                        help='smallest random crop, as a fraction of the image side (0.5)')
    parser.add_argument('--rotate', action='store_true', help='also augment by random rotation')
    parser.add_argument('--device', default='auto', help='auto (CUDA if present), cuda, cpu')
    parser.add_argument('--workers', type=int, default=0, help='DataLoader worker processes')
    parser.add_argument('--val-limit', type=int, default=None,
                        help='validate on at most this many images (faster epochs)')
    parser.add_argument('--cache-mb', type=float, default=8192.0,
                        help='memory for decoded images (MB); decoding 1024 px PNGs dominates an '
                             'epoch, so give it enough to hold the dataset (default 8192)')
    parser.add_argument('--skip-bad', action='store_true',
                        help='skip unreadable samples (and report how many) instead of stopping')


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        'train', help='train GG-CNN / MTG-CNN on one cross-validation fold',
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_train_arguments(parser)
    parser.add_argument('--network', choices=NETWORKS, default='ggcnn',
                        help='ggcnn, or mtgcnn (GG-CNN plus an auxiliary branch)')
    parser.add_argument('--aux', choices=AUX_TASKS, default=None,
                        help='auxiliary task of MTG-CNN (default: depth for mtgcnn, none for '
                             'ggcnn)')
    parser.add_argument('--loss', choices=LOSSES, default='mse',
                        help='mse = equation (2); positional = equation (3)')
    parser.add_argument('--fold', type=int, default=0, help='cross-validation fold (0)')
    parser.add_argument('--out', required=True, help='run directory for checkpoints and logs')
    parser.add_argument('--resume', action='store_true', help='continue from OUT/last.pt')
    parser.add_argument('--init', default=None, metavar='CHECKPOINT',
                        help='start from the weights of this checkpoint (same network and '
                             'input), e.g. to fine-tune on relabelled data; the optimiser and '
                             'epoch count start afresh')
    parser.set_defaults(func=run)


def config_from_args(args: argparse.Namespace, **overrides) -> TrainConfig:
    """A TrainConfig from parsed arguments (fields absent from ``args`` keep defaults)."""
    names = TrainConfig.__dataclass_fields__
    values = {k: v for k, v in vars(args).items() if k in names and v is not None}
    values.update(overrides)
    return TrainConfig(**values)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(name)s: %(message)s')
    aux = args.aux or ('depth' if args.network == 'mtgcnn' else 'none')
    config = config_from_args(args, aux=aux)
    try:
        summary = train(config, resume=args.resume)
    except (ValueError, FileNotFoundError, CheckpointError) as exc:
        LOG.error('%s', exc)
        return 2
    if math.isfinite(summary['best_accuracy']) and summary['history']:
        print(f'best validation accuracy {100 * summary["best_accuracy"]:.2f}% '
              f'-> {summary["best_checkpoint"]}')
    return 0
