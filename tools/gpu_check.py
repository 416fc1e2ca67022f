"""``python -m tools.gpu_check``: the node's pipeline on CUDA, per stage and end to end.

The measured figure for the paper's "30+ FPS on a GPU": one 640x480 ``rgb8`` frame of a
held-out object through :class:`mtg_grasp_ros.pipeline.GraspPipeline` on ``--device`` (default
``cuda``), for each precision (fp32, fp16, bf16) of the PyTorch backend and for ONNX Runtime's
CUDA execution provider. Timing is :mod:`tools.stage_benchmark`'s (the same variants, frame,
interleaved blocks and summary): per stage (``convert``, ``preprocess``, ``inference``,
``postprocess``, ``geometry``) p50 / p99 in ms, end to end (their sum per frame) and FPS =
1 / mean end-to-end time. On CUDA the pipeline synchronises the device after the network and
smooths and finds the peaks there, as the node does.

A combination the node cannot run is a row marked ``unsupported`` or ``not available`` with the
reason (fp16 off CUDA: float16 autocast is for the GPU only; bf16 and fp16 with ONNX: the graph
is fp32; ONNX with CUDA: the CPU ``onnxruntime`` wheel has no ``CUDAExecutionProvider``), never
a crash. Without a GPU it exits
2 with a message, unless ``--device cpu`` (the same check on the CPU, used by the tests).
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field
import json
import os
from pathlib import Path
import platform
import sys
from typing import Dict, List, Optional, Tuple

import torch

from mtg_grasp_ros import backends
from mtg_grasp_ros.deploy import default_model_path, DeployModelError
from tools.stage_benchmark import (build_variants, frame_message, HEIGHT, markdown_table,
                                   measure, STAGES, summarise, test_frame, Variant, WIDTH)

PRECISIONS = ('fp32', 'fp16', 'bf16')
BACKENDS = ('torch', 'onnx')
TARGET_FPS = 30.0
NO_CUDA = ('PyTorch sees no GPU (CPU-only torch build, no driver, or CUDA_VISIBLE_DEVICES '
           'empty): run this on a GPU machine, or add --device cpu to check the same pipeline '
           'on the CPU')


@dataclass
class Row:
    """One backend and precision: its timings (ms) or why it was not measured."""

    backend: str
    precision: str
    status: str = 'measured'            # measured | unsupported | not available
    reason: str = ''
    variant: str = ''                   # the pipeline's label, e.g. torch/cuda bf16
    stages: Dict[str, Dict[str, float]] = field(default_factory=dict)  # ms: p50, p99, mean
    end_to_end: Dict[str, float] = field(default_factory=dict)          # ms: p50, p99, mean
    fps: Optional[float] = None         # 1 / mean end-to-end time
    meets_target: Optional[bool] = None  # fps >= TARGET_FPS


def unsupported_reason(backend: str, precision: str, device: str = 'cuda') -> Optional[str]:
    """Why the node has no such combination on ``device``, or None when it has."""
    if backend == 'onnx' and precision != 'fp32':
        return 'the ONNX graph is fp32 only'
    if precision not in backends.PRECISIONS:
        offered = tuple(p for p in backends.PRECISIONS if p != 'auto')
        return f'mtg_grasp_ros.backends offers precisions {offered}, no {precision}'
    if precision == 'fp16' and device != 'cuda':
        return 'needs CUDA: fp16 (float16 autocast) runs on a GPU only'
    return None


def prepare(model: Path, device: str, precisions: List[str], with_onnx: bool
            ) -> Tuple[List[Row], Dict[int, Variant]]:
    """A row per backend and precision; the variants to time, by row index."""
    rows: List[Row] = []
    variants: Dict[int, Variant] = {}
    for backend in BACKENDS if with_onnx else BACKENDS[:1]:
        for precision in precisions:
            row = Row(backend, precision)
            rows.append(row)
            reason = unsupported_reason(backend, precision, device)
            if reason:
                row.status, row.reason = 'unsupported', reason
                continue
            try:
                variant = build_variants(model, [backend], [0], naive=False,
                                         precisions=[precision], device=device)[0]
            except backends.PipelineConfigError as exc:
                row.status, row.reason = 'not available', str(exc)
                continue
            except RuntimeError as exc:  # e.g. bf16/fp16 kernels missing on an older GPU
                row.status, row.reason = 'unsupported', f'{type(exc).__name__}: {exc}'
                continue
            if precision != 'fp32' and precision not in variant.name:
                # the rows are timed together by name: keep an fp32-looking label apart
                variant.name = f'{variant.name} {precision}'
            row.variant = variant.name
            if device == 'cpu' and precision == 'bf16' and not backends.native_bf16_cpu():
                row.reason = 'bf16 emulated: this CPU has no hardware bfloat16'
            variants[len(rows) - 1] = variant
    return rows, variants


def environment(device: str) -> Dict[str, object]:
    """What ran the check: GPU, library versions, ONNX Runtime providers."""
    try:
        import onnxruntime
        providers = onnxruntime.get_available_providers()
        ort_version = onnxruntime.__version__
    except ImportError:
        providers, ort_version = [], None
    gpu = torch.cuda.get_device_name(0) if device == 'cuda' else None
    return {'device': device, 'gpu': gpu, 'torch': torch.__version__,
            'cuda': torch.version.cuda, 'onnxruntime': ort_version,
            'onnxruntime_providers': providers, 'cpus': os.cpu_count(),
            'machine': platform.processor() or platform.machine()}


def run_check(args: argparse.Namespace) -> Dict[str, object]:
    """Time every available row; the JSON document (rows, environment, settings)."""
    rows, variants = prepare(args.model, args.device, args.precisions, not args.no_onnx)
    if variants:
        msg = frame_message(test_frame())
        samples = measure(list(variants.values()), msg, args.frames, args.warmup,
                          block=args.block)
        summary = summarise(samples, baseline=None)
        for index, variant in variants.items():
            stats = summary[variant.name]
            row = rows[index]
            row.stages = {s: stats[s] for s in STAGES}
            row.end_to_end, row.fps = stats['total'], stats['fps']
            row.meets_target = stats['fps'] >= TARGET_FPS
        print(f'\n{args.device}: per stage p50 / p99 in ms ({WIDTH}x{HEIGHT} rgb8, '
              f'{args.frames} frames per row)\n')
        print(markdown_table({v.name: summary[v.name] for v in variants.values()}))
    print()
    for row in rows:
        if row.status != 'measured':
            print(f'{row.backend} {row.precision}: {row.status} ({row.reason})')
        else:
            print(f'{row.backend} {row.precision}: {row.fps:.1f} FPS end to end '
                  f'({"meets" if row.meets_target else "below"} {TARGET_FPS:g} FPS)'
                  + (f'; {row.reason}' if row.reason else ''))
    return {'model': str(args.model), 'frames': args.frames, 'warmup': args.warmup,
            'frame': f'{WIDTH}x{HEIGHT} rgb8', 'target_fps': TARGET_FPS,
            'environment': environment(args.device), 'rows': [asdict(r) for r in rows]}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='python -m tools.gpu_check', description=__doc__.split('\n\n')[1],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--model', type=Path, default=None,
                        help=f'deploy model path; None = {default_model_path()}')
    parser.add_argument('--device', choices=('cuda', 'cpu'), default='cuda',
                        help='cpu: the same check without a GPU (tests)')
    parser.add_argument('--precisions', nargs='+', choices=PRECISIONS, default=list(PRECISIONS),
                        help='torch precisions to time (default: all)')
    parser.add_argument('--no-onnx', action='store_true', help='skip ONNX Runtime')
    parser.add_argument('--frames', type=int, default=300, help='timed frames per row')
    parser.add_argument('--warmup', type=int, default=20, help='untimed frames per row')
    parser.add_argument('--block', type=int, default=10,
                        help='frames a row runs in a row before the next one takes over')
    parser.add_argument('--json', type=Path, default=None, help='write all numbers here')
    args = parser.parse_args(argv)
    if args.frames < 1 or args.warmup < 0 or args.block < 1:
        parser.error('--frames and --block must be >= 1 and --warmup >= 0')
    if args.model is None:
        args.model = default_model_path()
    return args


def main(argv=None) -> int:
    """0; 2 without CUDA (unless ``--device cpu``) or for an unusable model."""
    args = parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        print(f'error: --device cuda: {NO_CUDA}', file=sys.stderr)
        return 2
    try:
        report = run_check(args)
    except DeployModelError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + '\n')
        print(f'\nwrote {args.json}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
