"""``python -m training demo``: the whole offline pipeline in a few minutes, no download.

Generates a small Jacquard-format dataset of drawn objects, trains MTG-CNN (depth auxiliary
task, positional loss) on fold 0 at a reduced input size, evaluates it on the held-out test
objects, exports the deployable model and writes a picture of its grasps. It is a smoke run of
the real commands (the same code paths as ``train``, ``evaluate`` and ``export``), not a
benchmark: the figures it prints are for its tiny data.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
import time

from training.checkpoint import model_from_checkpoint
from training.evaluate import draw_overlay, evaluate_model, resolve_device
from training.export import export
from training.table import make_test_set
from training.tinydata import make_tiny_jacquard
from training.train import train, TrainConfig

LOG = logging.getLogger('training.demo')


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        'demo', help='generate tiny data, train, evaluate, export and draw (a few minutes)',
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default='runs/demo', help='output directory (runs/demo)')
    parser.add_argument('--objects', type=int, default=150, help='drawn objects (150)')
    parser.add_argument('--epochs', type=int, default=30, help='training epochs (30)')
    parser.add_argument('--input-size', type=int, default=128,
                        help='network input side; the paper uses 300 (demo: 128)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--device', default='auto')
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(name)s: %(message)s')
    out = Path(args.out)
    started = time.perf_counter()
    data = make_tiny_jacquard(out / 'data', n_objects=args.objects, views=2, size=256,
                              seed=args.seed)
    LOG.info('generated %d objects x 2 views in %s', args.objects, data)
    config = TrainConfig(data=str(data), out=str(out / 'run'), network='mtgcnn', aux='depth',
                         loss='positional', epochs=args.epochs, input_size=args.input_size,
                         batch_size=8, seed=args.seed, device=args.device)
    summary = train(config, resume=True)
    device = resolve_device(args.device)
    model, state = model_from_checkpoint(Path(summary['best_checkpoint']))
    test_set = make_test_set(state['config'])
    result = evaluate_model(model.to(device), test_set, device)
    overlay = draw_overlay(test_set, result, out / 'grasps.png', count=8)
    report = export(Path(summary['best_checkpoint']), out / 'model' / 'mtgcnn_demo')
    if not report['ok']:
        LOG.error('export parity check failed')
        return 1
    (out / 'result.json').write_text(json.dumps({
        'test_accuracy': result['accuracy'], 'n_test_images': result['n_images'],
        'best_val_accuracy': summary['best_accuracy'],
        'seconds': round(time.perf_counter() - started, 1)}, indent=2))
    print(f'\nMTG-CNN_p (depth) on {result["n_images"]} test images of unseen objects: '
          f'{100 * result["accuracy"]:.1f}% grasp accuracy (IoU > 0.25, angle < 30 deg)')
    print(f'picture of the predicted grasps: {overlay}')
    print(f'deployable model (auxiliary branch stripped): '
          f'{report["stem"]}.{{json,safetensors,onnx}}')
    print(f'total time {time.perf_counter() - started:.0f} s')
    return 0
