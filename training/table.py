"""``python -m training table``: reproduce the paper's Table I and Fig. 6.

Trains and tests the six configurations of Table I (GG-CNN, GG-CNN_p, MTG-CNN and MTG-CNN_p
with the saliency and the depth auxiliary task) on each requested cross-validation fold, then
writes ``table.md`` and ``table.csv`` (test accuracy mean +- sample standard deviation over the
folds), ``curves.png`` (mean validation accuracy per epoch, like Fig. 6) and ``results.json``.

Every run keeps its own directory (``OUT/<config>/fold<k>``) and is resumed or skipped when it
is already complete, so an interrupted table continues where it stopped.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
from pathlib import Path
import statistics
from typing import Dict, List, NamedTuple

from training.checkpoint import load_checkpoint, model_from_checkpoint
from training.dataset import GraspDataset, share_decoded_views
from training.evaluate import evaluate_model, resolve_device
from training.formats import find_samples
from training.plots import plot_validation_curves
from training.splits import split_by_object
from training.train import add_train_arguments, config_from_args, train

LOG = logging.getLogger('training.table')


class TableConfig(NamedTuple):
    key: str
    label: str
    network: str
    aux: str
    loss: str


#: The rows of the paper's Table I, in the paper's order.
CONFIGS = (
    TableConfig('ggcnn', 'GG-CNN', 'ggcnn', 'none', 'mse'),
    TableConfig('ggcnn_p', 'GG-CNN_p', 'ggcnn', 'none', 'positional'),
    TableConfig('mtgcnn_saliency', 'MTG-CNN', 'mtgcnn', 'saliency', 'mse'),
    TableConfig('mtgcnn_p_saliency', 'MTG-CNN_p', 'mtgcnn', 'saliency', 'positional'),
    TableConfig('mtgcnn_depth', 'MTG-CNN', 'mtgcnn', 'depth', 'mse'),
    TableConfig('mtgcnn_p_depth', 'MTG-CNN_p', 'mtgcnn', 'depth', 'positional'),
)
PAPER = {'ggcnn': '72.04% +- 3.44', 'ggcnn_p': '78.92% +- 0.97',
         'mtgcnn_saliency': '74.93% +- 1.86', 'mtgcnn_p_saliency': '76.23% +- 2.75',
         'mtgcnn_depth': '78.14% +- 0.65', 'mtgcnn_p_depth': '79.12% +- 1.40'}


def _run_complete(run_dir: Path, epochs: int) -> bool:
    last = run_dir / 'last.pt'
    return last.is_file() and load_checkpoint(last)['epoch'] >= epochs


def make_test_set(config: Dict) -> GraspDataset:
    """The un-augmented test split of the fold a training config (a checkpoint's) used."""
    split = split_by_object(find_samples(config['data']), config['fold'], config['n_folds'],
                            config['seed'])
    return GraspDataset(split.test, input_mode=config['input_mode'], aux='none',
                        output_size=config['input_size'], augment=False,
                        skip_bad=config.get('skip_bad', False))


def checkpoint_accuracy(checkpoint: Path, device) -> Dict:
    """Accuracy of a checkpoint on the test split of the fold it was trained on."""
    model, state = model_from_checkpoint(checkpoint)
    return evaluate_model(model.to(device), make_test_set(state['config']), device)


def summarise(results: Dict[str, List[float]]) -> List[Dict]:
    """Table rows: mean and sample std (ddof 1; 0 for a single fold) of test accuracy in %."""
    rows = []
    for cfg in CONFIGS:
        accs = [100.0 * a for a in results.get(cfg.key, [])]
        if not accs:
            continue
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        rows.append({'key': cfg.key, 'model': cfg.label,
                     'aux': '' if cfg.aux == 'none' else cfg.aux.capitalize(),
                     'loss': cfg.loss, 'folds': len(accs), 'mean': statistics.mean(accs),
                     'std': std, 'per_fold': accs, 'paper': PAPER[cfg.key]})
    return rows


def write_table(rows: List[Dict], out: Path, caption: str) -> None:
    lines = [f'{caption}\n', '| Model | Auxiliary task | Successful grasps (ours) | Folds | '
             'Paper (Jacquard) |', '|---|---|---|---|---|']
    for r in rows:
        lines.append(f"| {r['model']} | {r['aux']} | {r['mean']:.2f}% +- {r['std']:.2f} | "
                     f"{r['folds']} | {r['paper']} |")
    (out / 'table.md').write_text('\n'.join(lines) + '\n')
    with open(out / 'table.csv', 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['model', 'aux', 'loss', 'folds', 'mean_percent', 'std_percent',
                         'per_fold_percent'])
        for r in rows:
            writer.writerow([r['model'], r['aux'], r['loss'], r['folds'], f"{r['mean']:.2f}",
                             f"{r['std']:.2f}", ' '.join(f'{a:.2f}' for a in r['per_fold'])])


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        'table', help='reproduce Table I: six configurations x folds, mean +- std',
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_train_arguments(parser)
    parser.add_argument('--folds', type=int, nargs='+', default=[0, 1, 2, 3, 4],
                        help='folds to run (default: all 5)')
    parser.add_argument('--configs', nargs='+', default=[c.key for c in CONFIGS],
                        choices=[c.key for c in CONFIGS], help='subset of Table I rows')
    parser.add_argument('--out', required=True, help='directory for runs, table and curves')
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(name)s: %(message)s')
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(args.device)
    share_decoded_views(True)  # 6 configurations x folds train on the same decoded images
    results: Dict[str, List[float]] = {}
    curves: Dict[str, List[List[float]]] = {}
    selected = [c for c in CONFIGS if c.key in args.configs]
    for index, cfg in enumerate(selected):
        for fold in args.folds:
            run_dir = out / cfg.key / f'fold{fold}'
            config = config_from_args(args, network=cfg.network, aux=cfg.aux, loss=cfg.loss,
                                      fold=fold, out=str(run_dir))
            LOG.info('[%d/%d] %s (%s) fold %d', index + 1, len(selected), cfg.label, cfg.key,
                     fold)
            if _run_complete(run_dir, config.epochs):
                LOG.info('  already trained, reusing %s', run_dir)
                history = load_checkpoint(run_dir / 'last.pt')['history']
            else:
                history = train(config, resume=True)['history']
            accuracy = checkpoint_accuracy(run_dir / 'best.pt', device)['accuracy']
            LOG.info('  test accuracy %.2f%%', 100 * accuracy)
            results.setdefault(cfg.key, []).append(float(accuracy))
            label = f'{cfg.label} ({cfg.aux})' if cfg.aux != 'none' else cfg.label
            curves.setdefault(label, []).append([h['val_accuracy'] for h in history])
    rows = summarise(results)
    caption = (f'Test grasp accuracy (IoU > 0.25 and angle < 30 deg), mean +- sample std over '
               f'folds {args.folds}; data {args.data}; {args.epochs} epochs, input '
               f'{args.input_size} px.')
    write_table(rows, out, caption)
    plot_validation_curves(curves, out / 'curves.png')
    (out / 'results.json').write_text(json.dumps({'rows': rows, 'args': {
        k: v for k, v in vars(args).items() if k != 'func'}}, indent=2))
    print((out / 'table.md').read_text())
    return 0
