"""``python -m training refit-width``: refit a trained network's opening (width) head alone.

Why: the width head of GG-CNN / MTG-CNN is a 1x1 convolution (16 weights and a bias) on the
decoder's last features. A network fine-tuned from weights trained on other labels keeps much of
the old head: version 2 learned pre-grasp openings (up to the gripper's maximum), and after two
fine-tunes on contact openings (Jacquard's convention) version 3 still opened 1.36x the label
on the real Jacquard samples and 4.6x on thin rods, while its quality and angle were fine.
Gradient descent moves this bias slowly (6 more epochs with thin rods at 16-37% of the images
moved the thin-rod ratio from 4.8 to 4.4), but with the features fixed the head is a linear
regression, solved exactly in seconds.

Method: the checkpoint's network runs on ``--views`` un-augmented views of the train split (the
central square resized to the network input, as evaluation prepares them); at every pixel of a
label's centre third (the pixels the width loss trains, :func:`training.targets.grasp_maps`) the
decoder's 16 features and the width target are kept (at most ``--pixels-per-view`` a view, so
every view weighs alike); ridge regression (NumPy normal equations, ``--ridge`` on the diagonal)
gives the head's new weights. Everything else is unchanged, so the quality map and the angles
stay bit for bit those of the source checkpoint (the node's grasps move only where its
post-processing reads the opening: grasp centring walks within it, jaw clearance and
``jaws_outside_view`` place the fingers by it). Writes a
checkpoint (same format, ``refit_width`` added to it) that ``training export`` takes.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Dict, Tuple

import numpy as np
import torch
from tqdm import tqdm

from mtg_grasp_ros.models import GRASP_OUTPUTS
from mtg_grasp_ros.postprocess import DEFAULT_WIDTH_SCALE
from training.checkpoint import CheckpointError, model_from_checkpoint
from training.evaluate import split_files
from training.targets import grasp_maps

WIDTH_HEAD = GRASP_OUTPUTS.index('width')


def collect(model: torch.nn.Module, dataset, views: int, pixels_per_view: int,
            seed: int, progress: bool = False) -> Tuple[np.ndarray, np.ndarray, int]:
    """Decoder features (P, 16) float32, width targets (P,) and the number of views used, at
    label pixels of ``views`` views (all when fewer) drawn by a seeded permutation
    (``pixels_per_view`` at most each, also seeded; views without labels are skipped)."""
    rng = np.random.default_rng(seed)
    chosen = rng.permutation(len(dataset))[:views]
    features, targets = [], []
    used = 0
    model.eval()
    with torch.no_grad():
        for i in tqdm(chosen, desc='refit-width', unit='view', disable=not progress,
                      leave=False):
            x = torch.as_tensor(dataset[int(i)][0])[None]
            # The decoder's last features, the input of its 1x1 heads (models.GraspDecoder).
            feat = model.grasp.body(model.encoder(x))[0].numpy()
            maps = grasp_maps(dataset.ground_truth(int(i)), feat.shape[1:], DEFAULT_WIDTH_SCALE)
            on = maps[0] > 0.5
            if not on.any():
                continue
            used += 1
            pick = rng.permutation(int(on.sum()))[:pixels_per_view]
            features.append(feat[:, on].T[pick])
            targets.append(maps[3][on][pick])
    if not features:
        raise ValueError('no labelled pixels in the chosen views')
    return np.concatenate(features), np.concatenate(targets), used


def fit_head(features: np.ndarray, targets: np.ndarray, ridge: float) -> np.ndarray:
    """Ridge regression ``targets ~ features @ w + b``: ``[w..., b]`` (float64)."""
    design = np.hstack([features, np.ones((len(features), 1))])
    return np.linalg.solve(design.T @ design + ridge * np.eye(design.shape[1]),
                           design.T @ targets)


def _fit_figures(features: np.ndarray, targets: np.ndarray, weights: np.ndarray,
                 bias: float) -> Dict[str, float]:
    predicted = features @ weights + bias
    ok = targets > 0
    return {'rmse': float(np.sqrt(np.mean((predicted - targets) ** 2))),
            'median_ratio': float(np.median(predicted[ok] / targets[ok]))}


def refit_width(checkpoint: Path, data: str, out: Path, views: int = 300,
                pixels_per_view: int = 400, ridge: float = 1e-3, seed: int = 0, fold: int = 0,
                n_folds: int = 5, split_seed: int = 0, progress: bool = False
                ) -> Dict[str, Any]:
    """Refit the width head of ``checkpoint`` on the train split of ``data`` and save it to
    ``out``; the figures (pixels, RMSE and median predicted / target before and after, in units
    of the width scale). Raises CheckpointError / ValueError for unusable inputs."""
    from training.checkpoint import save_checkpoint
    from training.dataset import GraspDataset

    model, state = model_from_checkpoint(Path(checkpoint))
    config = state['config']
    size = int(config.get('input_size') or 300)
    files = split_files(data, 'auto', 'train', fold, n_folds, split_seed, None)
    dataset = GraspDataset(files, input_mode=config['input_mode'], aux='none',
                           output_size=size, augment=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: the same sums, so the same head, on every machine
    try:
        features, targets, used = collect(model, dataset, views, pixels_per_view, seed,
                                          progress)
    finally:
        torch.set_num_threads(threads)
    head = model.grasp.heads[WIDTH_HEAD]
    before = _fit_figures(features, targets, head.weight.detach().numpy().reshape(-1),
                          float(head.bias.detach()[0]))
    solution = fit_head(features, targets, ridge)
    after = _fit_figures(features, targets, solution[:-1], float(solution[-1]))
    with torch.no_grad():
        head.weight.copy_(torch.tensor(solution[:-1], dtype=torch.float32).reshape(
            head.weight.shape))
        head.bias.copy_(torch.tensor([solution[-1]], dtype=torch.float32))
    report = {'source': str(checkpoint), 'data': str(data), 'views': int(used),
              'pixels': int(len(targets)), 'pixels_per_view': int(pixels_per_view),
              'ridge': float(ridge), 'seed': int(seed), 'before': before, 'after': after}
    save_checkpoint(out, model, dict(config, refit_width=report), int(state.get('epoch', 0)),
                    history=state.get('history'),
                    best_accuracy=float(state.get('best_accuracy', 0.0)))
    return report


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        'refit-width', help="refit a checkpoint's opening (width) head alone, by least "
                            'squares on the train split',
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--checkpoint', required=True, type=Path, help='training checkpoint')
    parser.add_argument('--data', required=True, help='data set root (its train split is used)')
    parser.add_argument('--out', required=True, type=Path, help='the new checkpoint (.pt)')
    parser.add_argument('--views', type=int, default=300, help='views to fit on (300)')
    parser.add_argument('--pixels-per-view', type=int, default=400,
                        help='label pixels kept per view at most (400)')
    parser.add_argument('--ridge', type=float, default=1e-3, help='ridge term (1e-3)')
    parser.add_argument('--seed', type=int, default=0, help='draw of views and pixels (0)')
    parser.add_argument('--fold', type=int, default=0,
                        help="fold whose train split is used (0; use the checkpoint's, so no "
                             'validation object is fitted on)')
    parser.add_argument('--n-folds', type=int, default=5, help='folds of the object split (5)')
    parser.add_argument('--split-seed', type=int, default=0, help='seed of the object split (0)')
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """0 on success, 2 for an unusable checkpoint or data set."""
    try:
        report = refit_width(args.checkpoint, args.data, args.out, args.views,
                             args.pixels_per_view, args.ridge, args.seed, args.fold,
                             args.n_folds, args.split_seed, progress=True)
    except (CheckpointError, FileNotFoundError, ValueError) as exc:
        print(f'error: {exc}')
        return 2
    b, a = report['before'], report['after']
    print(f'width head refitted on {report["pixels"]} label pixels of {report["views"]} views: '
          f'RMSE {b["rmse"]:.3f} -> {a["rmse"]:.3f}, median predicted / label '
          f'{b["median_ratio"]:.2f} -> {a["median_ratio"]:.2f}; wrote {args.out}')
    return 0
