"""``python -m training evaluate``: rectangle-metric accuracy of a checkpoint on a data split.

As in the paper, each image gets one grasp: the highest pixel of the Gaussian-smoothed quality
map (sigma 5 px at the paper's 300 px input, scaled with the input size), with the angle and
width read there. It is correct when, for some
ground-truth rectangle, the angle is within 30 degrees and the rectangle IoU exceeds 0.25
(:mod:`training.metrics`). Evaluation runs on un-augmented images only, so the number does not
move with the random seed.

:func:`evaluate_model` is shared with the trainer's per-epoch validation and the Table I runner.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

import cv2
import numpy as np
import torch

from mtg_grasp_ros import backends
from mtg_grasp_ros.grasp import Grasp
from mtg_grasp_ros.postprocess import (DEFAULT_WIDTH_SCALE, sigma_for_input_size, smooth_maps,
                                       top_grasps)
from training.checkpoint import CheckpointError, model_from_checkpoint
from training.metrics import ANGLE_THRESHOLD_DEG, best_match, IOU_THRESHOLD

SPLITS = ('test', 'val', 'train', 'all')


def grasp_dict(grasp: Optional[Grasp]) -> Optional[Dict[str, float]]:
    """A JSON-friendly grasp, angle in degrees (CCW on screen) as well as radians."""
    if grasp is None:
        return None
    return {'row': round(grasp.row, 3), 'col': round(grasp.col, 3),
            'angle_deg': round(math.degrees(grasp.angle), 3), 'angle': grasp.angle,
            'width': round(grasp.width, 3), 'jaw_size': round(grasp.jaw_size, 3),
            'quality': round(grasp.quality, 5)}


def sample_name(dataset, index: int) -> str:
    """A readable name of sample ``index`` (its file-set name when the dataset has one)."""
    files = getattr(dataset, 'files', None)
    if files is not None:
        item = files[index]
        return str(getattr(item, 'name', item))
    return str(index)


def evaluate_model(model: torch.nn.Module, dataset, device='cpu',
                   sigma: Optional[float] = None, batch_size: int = 8,
                   width_scale: float = DEFAULT_WIDTH_SCALE,
                   iou_threshold: float = IOU_THRESHOLD,
                   angle_threshold_deg: float = ANGLE_THRESHOLD_DEG,
                   indices: Optional[Sequence[int]] = None,
                   precision: str = 'fp32') -> Dict[str, Any]:
    """Top-1 accuracy of ``model`` on ``dataset`` (a GraspDataset, no augmentation).

    ``precision='bf16'`` runs the forward passes under bfloat16 autocast, as the node's
    ``precision: bf16`` does, to measure what that costs.

    ``dataset[i]`` gives ``(x, y)`` and ``dataset.ground_truth(i)`` the grasps of image ``i`` in
    the pixels of ``x``. Forward passes are batched under ``torch.no_grad`` in eval mode; the
    model's train/eval mode is restored afterwards. Returns ``accuracy``, ``correct``,
    ``n_images``, ``seconds`` and ``per_image`` (``index``, ``name``, ``pred``, ``best_iou``,
    ``best_aligned_iou``, ``n_gt``, ``correct``).
    """
    module = getattr(model, 'module', model)  # DDP: run the plain module on this rank only
    device = torch.device(device)
    was_training = module.training
    module.eval()
    indices = list(range(len(dataset))) if indices is None else list(indices)
    started = time.perf_counter()
    per_image: List[Dict[str, Any]] = []
    try:
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16,
                                             enabled=precision == 'bf16'):
            for start in range(0, len(indices), max(1, int(batch_size))):
                batch = indices[start:start + max(1, int(batch_size))]
                x = torch.stack([torch.as_tensor(dataset[i][0]) for i in batch])
                outputs = module(x.to(device, non_blocking=True))[:4]
                if sigma is None:
                    sigma = sigma_for_input_size(x.shape[-1])
                maps = [o[:, 0].float().cpu().numpy() for o in outputs]
                for j, i in enumerate(batch):
                    smoothed = smooth_maps(maps[0][j], maps[1][j], maps[2][j], maps[3][j],
                                           sigma_quality=sigma, sigma_angle=sigma,
                                           sigma_width=sigma, width_scale=width_scale)
                    found = top_grasps(smoothed, top_k=1)
                    pred = found[0] if found else None
                    gts = dataset.ground_truth(i)
                    best_iou, best_aligned = (best_match(pred, gts, angle_threshold_deg)
                                              if pred is not None else (0.0, 0.0))
                    per_image.append({
                        'index': int(i), 'name': sample_name(dataset, i),
                        'pred': grasp_dict(pred), 'best_iou': round(best_iou, 4),
                        'best_aligned_iou': round(best_aligned, 4), 'n_gt': len(gts),
                        # == metrics.is_correct(pred, gts), without a second pass over gts
                        'correct': pred is not None and best_aligned > iou_threshold})
    finally:
        module.train(was_training)
    correct = sum(r['correct'] for r in per_image)
    n = len(per_image)
    return {'accuracy': correct / n if n else 0.0, 'correct': correct, 'n_images': n,
            'seconds': round(time.perf_counter() - started, 3), 'sigma': sigma,
            'iou_threshold': iou_threshold, 'angle_threshold_deg': angle_threshold_deg,
            'per_image': per_image}


def display_image(x: torch.Tensor) -> np.ndarray:
    """A (S, S, 3) uint8 BGR picture of a normalised network input (RGB, depth or RGB-D)."""
    x = torch.as_tensor(x).detach().float().cpu().numpy()
    picture = x[:3] if x.shape[0] >= 3 else np.repeat(x[:1], 3, axis=0)
    low, high = float(picture.min()), float(picture.max())
    picture = (picture - low) / (high - low) if high > low else np.zeros_like(picture)
    rgb = (picture.transpose(1, 2, 0) * 255.0 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(rgb[:, :, ::-1])


def draw_overlay(dataset, result: Dict[str, Any], path: Path, count: int = 8,
                 columns: int = 4) -> Path:
    """Save a grid of ``count`` evenly spaced images: GT rectangles green, the prediction blue
    when correct and red when wrong (jaw edges thicker), with the best IoU among the GT
    rectangles within the angle threshold written in the corner."""
    rows_ = result['per_image']
    if not rows_:
        raise ValueError('no evaluated images to draw')
    picks = sorted(set(np.linspace(0, len(rows_) - 1, min(count, len(rows_))).round()
                       .astype(int).tolist()))
    tiles = []
    for k in picks:
        row = rows_[k]
        image = display_image(dataset[row['index']][0])
        # Small network inputs are enlarged so rectangles and labels stay readable.
        zoom = max(1, int(np.ceil(256 / image.shape[0])))
        image = cv2.resize(image, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
        for gt in dataset.ground_truth(row['index']):
            _draw_grasp(image, gt.scaled(zoom), (0, 200, 0), 1)
        if row['pred'] is not None:
            p = row['pred']
            pred = Grasp(p['row'], p['col'], p['angle'], p['width'], p['jaw_size'])
            _draw_grasp(image, pred.scaled(zoom),
                        (255, 80, 0) if row['correct'] else (0, 0, 255), 2)
        label = f"{row['name'][:24]} IoU {row['best_aligned_iou']:.2f}"
        (text_w, text_h), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
        cv2.rectangle(image, (0, 0), (text_w + 8, text_h + 8), (0, 0, 0), -1)
        cv2.putText(image, label, (4, text_h + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(image)
    columns = min(columns, len(tiles))
    blank = np.zeros_like(tiles[0])
    tiles += [blank] * (-len(tiles) % columns)
    grid = np.vstack([np.hstack(tiles[r:r + columns]) for r in range(0, len(tiles), columns)])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), grid):
        raise OSError(f'cannot write overlay image {path}')
    return path


def _draw_grasp(image: np.ndarray, grasp: Grasp, colour, thickness: int) -> None:
    corners = grasp.corners()[:, ::-1]  # (x, y)
    points = np.round(corners * 16).astype(np.int32).reshape(4, 1, 2)
    cv2.polylines(image, [points], True, colour, thickness, cv2.LINE_AA, shift=4)
    # The jaw edges (across the closing axis) thicker, so the orientation reads at a glance.
    for a, b in ((1, 2), (3, 0)):
        cv2.line(image, tuple(int(v) for v in points[a, 0]), tuple(int(v) for v in points[b, 0]),
                 colour, thickness + 1, cv2.LINE_AA, shift=4)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        'evaluate', help='rectangle-metric accuracy of a checkpoint',
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--checkpoint', required=True, type=Path)
    parser.add_argument('--data', default=None,
                        help='dataset root (default: the one the checkpoint was trained on)')
    parser.add_argument('--format', default='auto', help='dataset format: auto, jacquard, cornell')
    parser.add_argument('--split', default='test', choices=SPLITS)
    parser.add_argument('--fold', type=int, default=None, help="default: the checkpoint's")
    parser.add_argument('--n-folds', type=int, default=None, help="default: the checkpoint's")
    parser.add_argument('--seed', type=int, default=None,
                        help="split seed; default: the checkpoint's")
    parser.add_argument('--input-size', type=int, default=None,
                        help="network input size; default: the checkpoint's")
    parser.add_argument('--sigma', type=float, default=None,
                        help='Gaussian smoothing sigma in px (default: 5 px as the paper at 300 '
                             'px input, scaled with the input size; 0 = none)')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--precision', choices=('fp32', 'bf16'), default='fp32',
                        help="bf16: bfloat16 autocast, to measure what the node's "
                             'precision: bf16 costs')
    parser.add_argument('--limit', type=int, default=None, help='evaluate the first N images')
    parser.add_argument('--device', default='auto', help='auto, cpu, cuda, cuda:1, ...')
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


def run(args: argparse.Namespace) -> int:
    from training.dataset import GraspDataset
    from training.formats import find_samples
    from training.samples import DatasetError
    from training.splits import split_by_object

    try:
        device = resolve_device(args.device)
        model, state = model_from_checkpoint(args.checkpoint)
        config = state['config']
        data = args.data or config.get('data')
        if not data:
            raise ValueError('the checkpoint does not name its dataset: give --data DIR')
        fold = args.fold if args.fold is not None else int(config.get('fold', 0))
        n_folds = args.n_folds if args.n_folds is not None else int(config.get('n_folds', 5))
        seed = args.seed if args.seed is not None else int(config.get('seed', 0))
        size = args.input_size or int(config.get('input_size', 300))
        samples = find_samples(data, args.format)
        if args.split == 'all':
            files = list(samples)
        else:
            files = list(getattr(split_by_object(samples, fold, n_folds, seed), args.split))
        if args.limit:
            files = files[:args.limit]
        if not files:
            raise ValueError(f'the {args.split} split of fold {fold}/{n_folds} of {data} is empty')
        dataset = GraspDataset(files, input_mode=config['input_mode'], aux='none',
                               output_size=size, augment=False,
                               skip_bad=bool(config.get('skip_bad', False)))
        result = evaluate_model(model.to(device), dataset, device, sigma=args.sigma,
                                batch_size=args.batch_size, precision=args.precision)
    except (CheckpointError, DatasetError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    result['config'] = {
        'checkpoint': str(args.checkpoint), 'data': str(data), 'format': args.format,
        'split': args.split, 'fold': fold, 'n_folds': n_folds, 'seed': seed, 'input_size': size,
        'network': config.get('network'), 'input_mode': config.get('input_mode'),
        'aux': config.get('aux'), 'loss': config.get('loss'), 'epoch': state.get('epoch'),
        'device': str(device)}
    print(f'{config.get("network")} ({config.get("input_mode")}, {config.get("loss")} loss), '
          f'{args.split} split of fold {fold}/{n_folds}: accuracy {100 * result["accuracy"]:.2f}% '
          f'({result["correct"]}/{result["n_images"]}) in {result["seconds"]:.1f} s')
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + '\n')
        print(f'wrote {args.out}')
    if args.overlay:
        draw_overlay(dataset, result, args.overlay, count=args.overlay_count)
        print(f'wrote {args.overlay}')
    return 0
