"""``python -m training evaluate``: rectangle-metric accuracy of a checkpoint or a deploy model.

As in the paper, each image gets one grasp: the highest pixel of the Gaussian-smoothed quality
map (sigma 5 px at the paper's 300 px input, scaled with the input size), with the angle and
width read there. It is correct when, for some ground-truth rectangle, the angle is within 30
degrees and the rectangle IoU exceeds 0.25 (:mod:`training.metrics`). Evaluation runs on
un-augmented images only (the central square resized to the input size), so the number does
not move with the random seed.

``--checkpoint`` scores a training checkpoint; ``--model models/NAME`` a deploy model, loaded
by the node's own loader (:func:`mtg_grasp_ros.backends.load_predictor`, torch or ONNX Runtime)
and post-processed with the sigmas and width scale of its JSON and, as the node, grasp centring
(``--centring-fraction``, :mod:`mtg_grasp_ros.centring`; a checkpoint is scored by the paper's
rule, without it, unless asked). Both prepare the input the same way, so a checkpoint and its
export score the same with the same options. Beside the accuracy, both report

* the opening error: predicted opening vs the best-matching label (within 30 degrees the one of
  highest IoU, else the nearest), median |error| in original-image px and median ratio;
* where the data has object masks, the share of top-1 grasps whose centre is off the object
  (:mod:`training.opening_error`). Per-image values go into the ``--out`` JSON.

:func:`evaluate_model` is shared with the trainer's per-epoch validation and the Table I runner.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from mtg_grasp_ros import backends
from mtg_grasp_ros.inference import autocast, GraspPredictor
from mtg_grasp_ros.pipeline import PipelineConfig
from mtg_grasp_ros.postprocess import DEFAULT_WIDTH_SCALE
from training.checkpoint import CheckpointError, model_from_checkpoint
from training.eval_overlay import draw_overlay
from training.metrics import ANGLE_THRESHOLD_DEG, IOU_THRESHOLD
from training.opening_error import add_opening_and_background
from training.top1 import score_top1, SIGMA_KEYS

SPLITS = ('test', 'val', 'train', 'all')


def evaluate_model(model: torch.nn.Module, dataset, device='cpu',
                   sigma: Optional[float] = None, batch_size: int = 8,
                   width_scale: float = DEFAULT_WIDTH_SCALE,
                   iou_threshold: float = IOU_THRESHOLD,
                   angle_threshold_deg: float = ANGLE_THRESHOLD_DEG,
                   indices: Optional[Sequence[int]] = None,
                   precision: str = 'fp32', progress: bool = False,
                   centring_fraction: float = 0.0) -> Dict[str, Any]:
    """Top-1 accuracy of ``model`` on ``dataset`` (a GraspDataset, no augmentation).

    ``precision='bf16'`` runs the forward passes under bfloat16 autocast, as the node's
    ``precision: bf16`` does, to measure what that costs; ``'fp16'`` under float16 autocast
    (``device`` must be CUDA, else ValueError), as ``precision: fp16`` does.

    ``dataset[i]`` gives ``(x, y)`` and ``dataset.ground_truth(i)`` the grasps of image ``i`` in
    the pixels of ``x``. Forward passes are batched under ``torch.no_grad`` in eval mode; the
    model's train/eval mode is restored afterwards. ``sigma`` None: the paper's 5 px scaled to
    the input size. Returns ``accuracy``, ``correct``, ``n_images``, ``seconds``, ``sigma`` and
    ``per_image`` (``index``, ``name``, ``pred``, ``best_iou``, ``best_aligned_iou``, ``n_gt``,
    ``correct``).
    """
    module = getattr(model, 'module', model)  # DDP: run the plain module on this rank only
    device = torch.device(device)
    was_training = module.training
    module.eval()

    def forward(x: torch.Tensor) -> List[np.ndarray]:
        outputs = module(x.to(device, non_blocking=True))[:4]
        return [o[:, 0].float().cpu().numpy() for o in outputs]

    sigmas = None if sigma is None else {k: sigma for k in SIGMA_KEYS}
    try:
        with torch.no_grad(), autocast(device.type, precision):
            return score_top1(forward, dataset, sigmas, batch_size, width_scale, iou_threshold,
                              angle_threshold_deg, indices, progress, centring_fraction)
    finally:
        module.train(was_training)


def evaluate_predictor(predictor: GraspPredictor, dataset, sigma: Optional[float] = None,
                       batch_size: int = 8, iou_threshold: float = IOU_THRESHOLD,
                       angle_threshold_deg: float = ANGLE_THRESHOLD_DEG,
                       indices: Optional[Sequence[int]] = None,
                       progress: bool = False,
                       centring_fraction: Optional[float] = None) -> Dict[str, Any]:
    """:func:`evaluate_model` for a deploy model loaded by the runtime's one loader.

    ``predictor`` comes from :func:`mtg_grasp_ros.backends.load_predictor` (torch or ONNX
    Runtime, its precision fixed there); its raw maps are smoothed with the model's own
    sigmas and width scale from its JSON (``sigma`` overrides all three sigmas), exactly the
    post-processing the node runs. ``dataset`` must be prepared like the checkpoint path's (a
    GraspDataset of the model's ``input_mode`` at its ``input_size``, no augmentation), so a
    checkpoint and its export score the same. ``centring_fraction`` None: the node's default
    grasp centring (:attr:`mtg_grasp_ros.pipeline.PipelineConfig.centring_fraction`). Same
    result keys as :func:`evaluate_model`.
    """
    if centring_fraction is None:
        centring_fraction = PipelineConfig.centring_fraction
    sigmas = (dict(predictor.sigmas) if sigma is None
              else {k: float(sigma) for k in SIGMA_KEYS})
    return score_top1(lambda x: list(predictor.raw_maps(x.numpy())), dataset, sigmas,
                      batch_size, predictor.width_scale, iou_threshold, angle_threshold_deg,
                      indices, progress, centring_fraction)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        'evaluate', help='rectangle-metric accuracy of a checkpoint or a deploy model',
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument('--checkpoint', type=Path, help='a training checkpoint (.pt)')
    which.add_argument('--model', type=Path,
                       help='a deploy model (models/NAME: NAME.safetensors / .onnx + .json), '
                            "loaded by the node's own loader; needs --data")
    parser.add_argument('--data', default=None,
                        help='dataset root (default for --checkpoint: the one it was trained on)')
    parser.add_argument('--format', default='auto', help='dataset format: auto, jacquard, cornell')
    parser.add_argument('--split', default=None, choices=SPLITS,
                        help='which objects: default test for --checkpoint, all for --model '
                             '(a deploy model is usually scored on data it was not trained on)')
    parser.add_argument('--fold', type=int, default=None,
                        help="default: the checkpoint's (the deploy model's training fold)")
    parser.add_argument('--n-folds', type=int, default=None, help="default: the checkpoint's")
    parser.add_argument('--seed', type=int, default=None,
                        help="split seed; default: the checkpoint's")
    parser.add_argument('--input-size', type=int, default=None,
                        help="network input size; default: the checkpoint's (a deploy model "
                             'always runs at its own)')
    parser.add_argument('--sigma', type=float, default=None,
                        help='Gaussian smoothing sigma in px (default: 5 px as the paper at 300 '
                             "px input, scaled with the input size; a deploy model's JSON "
                             'sigmas; 0 = none)')
    parser.add_argument('--centring-fraction', type=float, default=None,
                        help='grasp centring on the object along the closing axis, as the '
                             "node's parameter (0 = off; default: 0 for --checkpoint, the "
                             "paper's rule, and the node's "
                             f'{PipelineConfig.centring_fraction} for --model)')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--precision', choices=('fp32', 'bf16', 'fp16'), default='fp32',
                        help='bf16 / fp16: bfloat16 / float16 autocast, to measure what the '
                             "node's precision: bf16 / fp16 costs (--model: backend torch "
                             'only; fp16: CUDA device only)')
    parser.add_argument('--backend', choices=backends.BACKENDS, default='auto',
                        help='--model only: torch (safetensors), onnx (ONNX Runtime) or auto, '
                             'as the node parameter')
    parser.add_argument('--threads', type=int, default=0,
                        help="--model only: inference threads (0: the libraries' default)")
    parser.add_argument('--limit', type=int, default=None, help='evaluate the first N images')
    parser.add_argument('--device', default='auto',
                        help='auto, cpu, cuda (--checkpoint also cuda:1, ...)')
    parser.add_argument('--out', type=Path, default=None, help='write results as JSON')
    parser.add_argument('--overlay', type=Path, default=None,
                        help='write a PNG grid of images with GT (green) and predicted '
                             '(blue right / red wrong) rectangles')
    parser.add_argument('--overlay-count', type=int, default=8)
    parser.set_defaults(func=run)


def resolve_device(name: str) -> torch.device:
    """The ``torch.device`` of a ``--device`` value (training, evaluation, table, demo).

    The runtime's resolver decides (:func:`mtg_grasp_ros.backends.resolve_device`, the one the
    node uses): ``auto`` is ``cuda`` when PyTorch sees a GPU, else ``cpu``; ``cuda`` without a
    GPU is an error. A device index is kept (``cuda:1``). Raises ValueError naming the option
    for an unknown or unavailable device.
    """
    kind, colon, index = str(name).partition(':')
    if colon and kind == 'auto':
        raise ValueError(f'--device {name}: auto takes no index; use cuda:{index}')
    try:
        resolved = backends.resolve_device(kind)
        return torch.device(f'{resolved}{colon}{index}')
    except (ValueError, RuntimeError) as exc:   # PipelineConfigError is a ValueError
        raise ValueError(f'--device {name}: {exc}') from None


def split_files(data, fmt: str, split: str, fold: int, n_folds: int, seed: int,
                limit: Optional[int] = None) -> list:
    """The sample files of ``split`` (``all`` or a by-object split of ``fold``) under ``data``.

    Raises :class:`training.samples.DatasetError` for a missing or empty root and ValueError
    for an empty split.
    """
    from training.formats import find_samples
    from training.splits import split_by_object

    samples = find_samples(data, fmt)
    if split == 'all':
        files = list(samples)
    else:
        files = list(getattr(split_by_object(samples, fold, n_folds, seed), split))
    if limit:
        files = files[:limit]
    if not files:
        raise ValueError(f'the {split} split of fold {fold}/{n_folds} of {data} is empty')
    return files


def run(args: argparse.Namespace) -> int:
    from mtg_grasp_ros.deploy import DeployModelError
    from training.samples import DatasetError

    try:
        if args.centring_fraction is not None and not 0.0 <= args.centring_fraction <= 0.99:
            raise ValueError('--centring-fraction must be in [0, 0.99], as the node parameter')
        if args.model is not None:
            result, dataset, header = _run_model(args)
        else:
            result, dataset, header = _run_checkpoint(args)
        add_opening_and_background(result, dataset, progress=True)
    except (CheckpointError, DatasetError, DeployModelError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    opening, background = result['opening'], result['background']
    if result['centring_fraction']:
        header += f', grasp centring {result["centring_fraction"]:g}'
    print(f'{header}: accuracy {100 * result["accuracy"]:.2f}% '
          f'({result["correct"]}/{result["n_images"]}) in {result["seconds"]:.1f} s')
    if opening['n']:
        print(f'opening (original px, vs the best-matching label, {opening["n"]} images): '
              f'median |error| {opening["median_abs_error_px"]:.1f} px, median ratio '
              f'predicted/label {opening["median_ratio"]:.2f} (median predicted '
              f'{opening["median_pred_px"]:.1f} px, labelled {opening["median_label_px"]:.1f} px)')
    if background['n_with_mask']:
        print(f'top-1 grasp centre off the object mask: {background["off_mask"]}/'
              f'{background["n_with_mask"]} images ({100 * background["share"]:.1f}%)')
    else:
        print('top-1 grasp centre off the object mask: no masks in this data set')
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + '\n')
        print(f'wrote {args.out}')
    if args.overlay:
        draw_overlay(dataset, result, args.overlay, count=args.overlay_count)
        print(f'wrote {args.overlay}')
    return 0


def _run_checkpoint(args: argparse.Namespace) -> tuple:
    """Evaluate ``--checkpoint``: ``(result, dataset, header line)``."""
    from training.dataset import GraspDataset

    device = resolve_device(args.device)
    if args.precision == 'fp16' and device.type != 'cuda':
        raise ValueError(f'--precision fp16 needs a CUDA device (float16 autocast), --device '
                         f'{args.device} runs on {device}; use --precision fp32 or bf16 there')
    model, state = model_from_checkpoint(args.checkpoint)
    config = state['config']
    data = args.data or config.get('data')
    if not data:
        raise ValueError('the checkpoint does not name its dataset: give --data DIR')
    split = args.split or 'test'
    fold = args.fold if args.fold is not None else int(config.get('fold', 0))
    n_folds = args.n_folds if args.n_folds is not None else int(config.get('n_folds', 5))
    seed = args.seed if args.seed is not None else int(config.get('seed', 0))
    size = args.input_size or int(config.get('input_size', 300))
    files = split_files(data, args.format, split, fold, n_folds, seed, args.limit)
    dataset = GraspDataset(files, input_mode=config['input_mode'], aux='none',
                           output_size=size, augment=False,
                           skip_bad=bool(config.get('skip_bad', False)))
    result = evaluate_model(model.to(device), dataset, device, sigma=args.sigma,
                            batch_size=args.batch_size, precision=args.precision,
                            progress=True, centring_fraction=args.centring_fraction or 0.0)
    result['config'] = {
        'checkpoint': str(args.checkpoint), 'data': str(data), 'format': args.format,
        'split': split, 'fold': fold, 'n_folds': n_folds, 'seed': seed, 'input_size': size,
        'network': config.get('network'), 'input_mode': config.get('input_mode'),
        'aux': config.get('aux'), 'loss': config.get('loss'), 'epoch': state.get('epoch'),
        'device': str(device)}
    header = (f'{config.get("network")} ({config.get("input_mode")}, {config.get("loss")} '
              f'loss), {split} split of fold {fold}/{n_folds}')
    return result, dataset, header


def _run_model(args: argparse.Namespace) -> tuple:
    """Evaluate ``--model`` through the runtime's loader: ``(result, dataset, header line)``."""
    from training.dataset import GraspDataset

    if not args.data:
        raise ValueError('--model needs --data DIR (a deploy model does not carry its data set)')
    if args.device not in backends.DEVICES:
        raise ValueError(f'--device {args.device}: --model takes one of {backends.DEVICES}')
    predictor, device = backends.load_predictor(args.model, backend=args.backend,
                                                device=args.device, threads=args.threads,
                                                precision=args.precision)
    trained = predictor.metadata.get('training') or {}
    size = int(predictor.input_size or 300)
    if args.input_size and args.input_size != size:
        raise ValueError(f'--input-size {args.input_size}: the deploy model runs at {size} px')
    split = args.split or 'all'
    fold = args.fold if args.fold is not None else int(trained.get('fold') or 0)
    n_folds = args.n_folds if args.n_folds is not None else int(trained.get('n_folds') or 5)
    seed = args.seed if args.seed is not None else int(trained.get('seed') or 0)
    files = split_files(args.data, args.format, split, fold, n_folds, seed, args.limit)
    dataset = GraspDataset(files, input_mode=predictor.input_mode, aux='none',
                           output_size=size, augment=False)
    result = evaluate_predictor(predictor, dataset, sigma=args.sigma,
                                batch_size=args.batch_size, progress=True,
                                centring_fraction=args.centring_fraction)
    result['config'] = {
        'model': str(args.model), 'backend': predictor.backend, 'device': device,
        'precision': predictor.precision, 'data': str(args.data), 'format': args.format,
        'split': split, 'fold': fold, 'n_folds': n_folds, 'seed': seed, 'input_size': size,
        'network': predictor.metadata.get('network'), 'input_mode': predictor.input_mode,
        'training': trained}
    where = 'all images' if split == 'all' else f'{split} split of fold {fold}/{n_folds}'
    header = (f'{args.model} ({predictor.metadata.get("network")}, {predictor.input_mode}, '
              f'{predictor.backend} on {device}), {where} of {args.data}')
    return result, dataset, header
