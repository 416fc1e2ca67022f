"""``python -m training export``: checkpoint -> deploy model (safetensors + ONNX + JSON).

The checkpoint is read safely (``weights_only``), the auxiliary branch of MTG-CNN is dropped
(it never feeds the grasp outputs), and :mod:`mtg_grasp_ros.deploy`'s three files are written.
Then parity is *proved* on random inputs: the reloaded safetensors model must give exactly the
full model's grasp outputs, and ONNX Runtime must agree within 1e-4; otherwise the metadata is
removed (so the node cannot load a wrong model) and the command exits with code 1.

The ONNX graph has a dynamic batch axis and a fixed input_size x input_size image: the node
always feeds the network's input size, and a fixed size lets ONNX Runtime plan its memory once.
It is exported with PyTorch's TorchScript-based exporter, which needs no ``onnxscript``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys
from typing import Dict, List, Optional
import warnings

import numpy as np
import torch

from mtg_grasp_ros import deploy
from mtg_grasp_ros.models import count_parameters, GRASP_OUTPUTS, GraspCNN
from mtg_grasp_ros.postprocess import sigma_for_input_size
from training.checkpoint import CheckpointError, model_from_checkpoint

ONNX_TOLERANCE = 1e-4
DEFAULT_OPSET = 17


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        'export', help='export a checkpoint as a deploy model (safetensors + ONNX + JSON)',
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--checkpoint', required=True, type=Path, help='training checkpoint')
    parser.add_argument('--out', required=True, type=Path,
                        help='output stem, e.g. models/NAME -> models/NAME.{safetensors,onnx,'
                             'json}; an existing directory D writes D/D.*')
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET, help='ONNX opset version')
    parser.add_argument('--no-onnx', action='store_true', help='write no ONNX graph')
    parser.add_argument('--input-size', type=int, default=None,
                        help="image size of the ONNX graph (default: the checkpoint's)")
    parser.add_argument('--parity-batches', type=int, default=3,
                        help='random input batches for the parity check')
    parser.set_defaults(func=run)


def output_stem(out: Path) -> Path:
    """``models/NAME`` -> ``models/NAME``; an existing directory ``D`` -> ``D/D``."""
    out = Path(out)
    if out.is_dir():
        return out / out.name
    if out.suffix in deploy.SUFFIXES:
        return out.with_suffix('')
    return out


def export_onnx(model: GraspCNN, path: Path, input_size: int, opset: int = DEFAULT_OPSET,
                output_names: Optional[List[str]] = None) -> None:
    """Write ``model`` as ONNX: input ``input`` (batch, C, S, S), dynamic batch axis."""
    names = list(output_names or GRASP_OUTPUTS)
    if getattr(model, 'has_aux', False) and len(names) == len(GRASP_OUTPUTS):
        names.append('aux')
    example = torch.zeros(1, model.in_channels, input_size, input_size)
    axes = {name: {0: 'batch'} for name in [deploy.INPUT_NAME] + names}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + '.tmp')
    with warnings.catch_warnings():
        # The legacy exporter announces its own deprecation and warns that the input-size
        # check in forward() is traced as a constant: the graph has a fixed H, W anyway.
        warnings.simplefilter('ignore', DeprecationWarning)
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        warnings.filterwarnings('ignore', message='.*legacy TorchScript-based ONNX export.*')
        torch.onnx.export(model.eval(), (example,), str(tmp), dynamo=False,
                          opset_version=opset, input_names=[deploy.INPUT_NAME],
                          output_names=names, dynamic_axes=axes, do_constant_folding=True)
    tmp.replace(path)


def training_summary(state: Dict) -> Dict:
    """What the deploy metadata keeps of a checkpoint's training configuration."""
    config = state.get('config', {})
    summary = {k: config.get(k) for k in ('network', 'aux', 'loss', 'input_mode', 'input_size',
                                          'fold', 'n_folds', 'seed')}
    summary['epoch'] = state.get('epoch')
    # The validation accuracy of these weights (their epoch's row), not the run's best: a
    # last.pt exported after a better epoch must not claim that epoch's figure.
    rows = [h for h in state.get('history') or []
            if h.get('epoch') == state.get('epoch') and 'val_accuracy' in h]
    summary['val_accuracy'] = float(rows[-1]['val_accuracy']) if rows else None
    if config.get('init'):
        summary['init'] = Path(str(config['init'])).name  # fine-tuned from (file name only)
    if config.get('data'):
        summary['data'] = Path(str(config['data'])).name
    refit = config.get('refit_width')
    if refit:  # training refit-width: the width head was refitted afterwards, on this data
        summary['refit_width'] = {'data': Path(str(refit['data'])).name,
                                  'views': refit['views'], 'pixels': refit['pixels'],
                                  'ridge': refit['ridge'], 'seed': refit['seed']}
    return summary


def check_parity(full: GraspCNN, stem: Path, input_size: int, batches: int = 3,
                 with_onnx: bool = True, seed: int = 0) -> Dict[str, float]:
    """Compare the full model with the reloaded deploy model; returns the max differences.

    ``torch_exact`` must be True (bit-identical outputs) and ``onnx_max_abs`` below
    :data:`ONNX_TOLERANCE`.
    Batches of 1, 2, 3, ... images exercise the dynamic batch axis.
    """
    full = full.eval()
    reloaded, _ = deploy.load_torch_model(stem)
    session = deploy.load_onnx_session(stem)[0] if with_onnx else None
    generator = torch.Generator().manual_seed(seed)
    exact, torch_diff, onnx_diff = True, 0.0, 0.0
    for b in range(batches):
        x = torch.randn(b + 1, full.in_channels, input_size, input_size, generator=generator)
        with torch.no_grad():
            want = full(x)[:len(GRASP_OUTPUTS)]
            got = reloaded(x)
        for w, g in zip(want, got):
            exact = exact and torch.equal(w, g)
            torch_diff = _worst(torch_diff, float((w - g).abs().max()))
        if session is not None:
            outs = session.run(list(GRASP_OUTPUTS), {deploy.INPUT_NAME: x.numpy()})
            for w, o in zip(want, outs):
                onnx_diff = _worst(onnx_diff, float(np.abs(w.numpy() - o).max()))
    result = {'torch_exact': exact, 'torch_max_abs': torch_diff}
    if with_onnx:
        result['onnx_max_abs'] = onnx_diff
    return result


def _worst(a: float, b: float) -> float:
    """The larger of two differences, NaN winning (a NaN output is never parity)."""
    return b if not b <= a else a


def export(checkpoint: Path, out: Path, opset: int = DEFAULT_OPSET, onnx: bool = True,
           input_size: Optional[int] = None, parity_batches: int = 3,
           log=print) -> Dict:
    """Export a checkpoint; returns a report dict with ``ok``, paths, parity and sizes.

    Raises :class:`training.checkpoint.CheckpointError` for a bad checkpoint.
    """
    full, state = model_from_checkpoint(checkpoint)
    full.eval()
    config = state['config']
    size = int(input_size or config.get('input_size') or 300)
    stripped = full.without_aux().eval()
    stem = output_stem(out)
    paths = deploy.deploy_paths(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    # Remove the metadata first: until the new files are proven, no stale JSON may vouch for them.
    paths.json.unlink(missing_ok=True)
    deploy.save_weights(paths.safetensors, stripped)
    if onnx:
        export_onnx(stripped, paths.onnx, size, opset)
    else:
        paths.onnx.unlink(missing_ok=True)
    metadata = deploy.make_metadata(
        network=config['network'], input_mode=config['input_mode'], input_size=size,
        parameters=count_parameters(stripped), parameters_full=count_parameters(full),
        training=training_summary(state), sigma=sigma_for_input_size(size))
    if onnx:
        metadata['onnx_opset'] = int(opset)
    metadata = deploy.write_metadata(paths.json, metadata)

    parity = check_parity(full, stem, size, batches=parity_batches, with_onnx=onnx)
    ok = parity['torch_exact'] and parity.get('onnx_max_abs', 0.0) < ONNX_TOLERANCE
    log(f'exported {checkpoint} ({config["network"]}, {config["input_mode"]}, '
        f'{size}x{size}) -> {stem}.*')
    log(f'parameters: full {count_parameters(full):,}, exported {count_parameters(stripped):,}'
        f' (auxiliary branch dropped: {count_parameters(full) - count_parameters(stripped):,})')
    for kind in ('safetensors', 'onnx', 'json'):
        path = getattr(paths, kind)
        if path.is_file():
            log(f'  {path}: {path.stat().st_size / 1024:.1f} KiB')
    log(f'parity on {parity_batches} random batches (1..{parity_batches} images):')
    log(f'  full model vs reloaded safetensors: max |diff| = {parity["torch_max_abs"]:.3g} '
        f'(must be exactly 0)')
    if onnx:
        log(f'  full model vs ONNX Runtime:         max |diff| = {parity["onnx_max_abs"]:.3g} '
            f'(must be < {ONNX_TOLERANCE:g})')
    if not ok:
        paths.json.unlink(missing_ok=True)
        log(f'PARITY FAILED: removed {paths.json} so this model cannot be deployed')
    else:
        log('parity OK')
    return {'ok': ok, 'stem': str(stem), 'parity': parity, 'metadata': metadata}


def run(args: argparse.Namespace) -> int:
    try:
        report = export(args.checkpoint, args.out, opset=args.opset, onnx=not args.no_onnx,
                        input_size=args.input_size, parity_batches=args.parity_batches)
    except (CheckpointError, deploy.DeployModelError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    return 0 if report['ok'] else 1
