"""``python -m training benchmark``: training throughput and inference latency on this machine.

Training: one Adam step (forward, MSE loss of :mod:`training.losses`, backward, update) on a
random batch, with the default (contiguous) and the ``channels_last`` memory format.
Inference: one image (batch 1) with PyTorch contiguous, PyTorch ``channels_last`` and ONNX
Runtime (CPU), for GG-CNN, MTG-CNN without its auxiliary branch (what is deployed) and the full
MTG-CNN. Every figure is the median over ``--iters`` timed runs after warm-up runs.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import platform
import statistics
import tempfile
import time
from typing import Callable, Dict, Optional

import torch

from mtg_grasp_ros.models import build_model, count_parameters, INPUT_CHANNELS
from training.losses import grasp_loss


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        'benchmark', help='training throughput and inference latency of both networks',
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--size', type=int, default=300, help='image size (multiple of 4)')
    parser.add_argument('--batch', type=int, default=8, help='training batch size')
    parser.add_argument('--iters', type=int, default=20, help='timed inference runs')
    parser.add_argument('--train-iters', type=int, default=5, help='timed training steps')
    parser.add_argument('--warmup', type=int, default=2, help='untimed runs before timing')
    parser.add_argument('--threads', type=int, default=None,
                        help='intra-op threads for PyTorch and ONNX Runtime (default: '
                             "PyTorch's default)")
    parser.add_argument('--input-mode', default='rgb', choices=tuple(INPUT_CHANNELS))
    parser.add_argument('--device', default='cpu', help='cpu or cuda (ONNX Runtime stays CPU)')
    parser.add_argument('--no-train', action='store_true', help='skip the training figures')
    parser.add_argument('--no-onnx', action='store_true', help='skip ONNX Runtime')
    parser.add_argument('--json', type=Path, default=None, help='also write the figures as JSON')
    parser.set_defaults(func=run)


def _median_seconds(step: Callable[[], None], iters: int, warmup: int,
                    sync: Callable[[], None]) -> float:
    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(max(1, iters)):
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def train_step_seconds(network: str, input_mode: str, size: int, batch: int,
                       channels_last: bool, iters: int, warmup: int,
                       device: torch.device, sync) -> float:
    """Median seconds of one Adam training step on a random batch."""
    torch.manual_seed(0)
    model = build_model(network, input_mode).to(device).train()
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    channels = 5 if model.has_aux else 4
    x = torch.randn(batch, model.in_channels, size, size, device=device)
    x = x.contiguous(memory_format=memory_format)
    y = torch.rand(batch, channels, size, size, device=device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = grasp_loss(model(x), y, 'mse')['loss']
        loss.backward()
        optimizer.step()

    return _median_seconds(step, iters, warmup, sync)


def torch_inference_seconds(model: torch.nn.Module, size: int, channels_last: bool,
                            iters: int, warmup: int, device: torch.device, sync) -> float:
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(device).eval().to(memory_format=memory_format)
    x = torch.randn(1, model.in_channels, size, size, device=device)
    x = x.contiguous(memory_format=memory_format)

    def step() -> None:
        with torch.no_grad():
            model(x)

    return _median_seconds(step, iters, warmup, sync)


def onnx_inference_seconds(model: torch.nn.Module, size: int, iters: int, warmup: int,
                           threads: Optional[int]) -> float:
    import numpy as np
    import onnxruntime as ort

    from training.export import export_onnx

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / 'model.onnx'
        export_onnx(model.cpu().eval(), path, size)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), sess_options=options,
                                       providers=['CPUExecutionProvider'])
    x = np.random.default_rng(0).standard_normal(
        (1, model.in_channels, size, size)).astype(np.float32)
    name = session.get_inputs()[0].name
    return _median_seconds(lambda: session.run(None, {name: x}), iters, warmup, lambda: None)


def benchmark(size: int = 300, batch: int = 8, iters: int = 20, train_iters: int = 5,
              warmup: int = 2, threads: Optional[int] = None, input_mode: str = 'rgb',
              device: str = 'cpu', train: bool = True, onnx: bool = True,
              log=print) -> Dict:
    """Measure everything; returns ``{'environment', 'training', 'inference'}``."""
    if threads:
        torch.set_num_threads(threads)
    device = torch.device(device)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == 'cuda' else (lambda: None)
    env = {'torch': torch.__version__, 'threads': torch.get_num_threads(),
           'cpu_count': os.cpu_count(), 'machine': platform.machine(),
           'processor': platform.processor(), 'device': str(device), 'size': size,
           'batch': batch, 'iters': iters, 'train_iters': train_iters, 'warmup': warmup,
           'input_mode': input_mode}
    try:
        import onnxruntime
        env['onnxruntime'] = onnxruntime.__version__
    except ImportError:
        onnx = False
    log('environment: ' + ', '.join(f'{k}={v}' for k, v in env.items()))
    results: Dict = {'environment': env, 'training': [], 'inference': []}

    if train:
        log(f'\ntraining: Adam step, batch {batch}, {size}x{size}, median of {train_iters} '
            f'steps')
        log(f'{"network":<10} {"params":>8}  {"contiguous":>18}  {"channels_last":>18}')
        for network in ('ggcnn', 'mtgcnn'):
            row = {'network': network,
                   'parameters': count_parameters(build_model(network, input_mode))}
            for key, cl in (('contiguous', False), ('channels_last', True)):
                seconds = train_step_seconds(network, input_mode, size, batch, cl, train_iters,
                                             warmup, device, sync)
                row[key] = {'step_s': round(seconds, 4),
                            'images_per_s': round(batch / seconds, 2)}
            results['training'].append(row)
            log(f'{network:<10} {row["parameters"]:>8,}  '
                + '  '.join(f'{row[k]["images_per_s"]:>7.2f} img/s {row[k]["step_s"]:>4.2f} s'
                            for k in ('contiguous', 'channels_last')))

    log(f'\ninference: batch 1, {size}x{size}, ms per image, median of {iters} runs')
    header = f'{"network":<16} {"params":>8}  {"torch":>8}  {"torch CL":>8}'
    log(header + (f'  {"onnxrt":>8}' if onnx else ''))
    torch.manual_seed(0)
    full = build_model('mtgcnn', input_mode)
    variants = (('ggcnn', build_model('ggcnn', input_mode)),
                ('mtgcnn stripped', full.without_aux()), ('mtgcnn full', full))
    for label, model in variants:
        row = {'network': label, 'parameters': count_parameters(model)}
        row['torch_ms'] = 1e3 * torch_inference_seconds(model, size, False, iters, warmup,
                                                        device, sync)
        row['torch_channels_last_ms'] = 1e3 * torch_inference_seconds(
            build_copy(model), size, True, iters, warmup, device, sync)
        if onnx:
            row['onnxruntime_ms'] = 1e3 * onnx_inference_seconds(build_copy(model), size, iters,
                                                                 warmup, threads)
        row = {k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}
        results['inference'].append(row)
        line = (f'{label:<16} {row["parameters"]:>8,}  {row["torch_ms"]:>8.1f}  '
                f'{row["torch_channels_last_ms"]:>8.1f}')
        log(line + (f'  {row["onnxruntime_ms"]:>8.1f}' if onnx else ''))
    return results


def build_copy(model: torch.nn.Module) -> torch.nn.Module:
    """An independent copy (memory-format changes must not leak between measurements)."""
    import copy
    return copy.deepcopy(model).cpu()


def run(args: argparse.Namespace) -> int:
    if args.size % 4:
        print(f'error: --size must be a multiple of 4, got {args.size}')
        return 2
    results = benchmark(size=args.size, batch=args.batch, iters=args.iters,
                        train_iters=args.train_iters, warmup=args.warmup, threads=args.threads,
                        input_mode=args.input_mode, device=args.device,
                        train=not args.no_train, onnx=not args.no_onnx)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1) + '\n')
        print(f'wrote {args.json}')
    return 0
