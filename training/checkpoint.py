"""Training checkpoints that load without unpickling arbitrary objects.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts saved with
``torch.save`` and always read back with ``torch.load(..., weights_only=True)``, so a file from
an untrusted source cannot run code. Truncated, corrupt or mismatched files raise
:class:`CheckpointError` with a message that names the file and says what is wrong.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Optional

import torch

from mtg_grasp_ros.models import build_model, GraspCNN

FORMAT = 'mtg_grasp_ros.checkpoint/1'
REQUIRED_CONFIG = ('network', 'input_mode')


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, unreadable, truncated or does not fit the model."""


def save_checkpoint(path: Path, model: torch.nn.Module, config: Dict[str, Any], epoch: int,
                    optimizer: Optional[torch.optim.Optimizer] = None,
                    history: Optional[list] = None, best_accuracy: float = 0.0) -> None:
    """Write atomically (temp file + rename), so an interrupted save never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        'format': FORMAT,
        'config': dict(config),
        'epoch': int(epoch),
        'model': {k: v.detach().cpu() for k, v in _unwrap(model).state_dict().items()},
        'optimizer': optimizer.state_dict() if optimizer is not None else None,
        'history': list(history or []),
        'best_accuracy': float(best_accuracy),
    }
    tmp = path.with_name(path.name + '.tmp')
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, map_location: str = 'cpu') -> Dict[str, Any]:
    """Read a checkpoint safely, checking its format; raise CheckpointError on any problem."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f'checkpoint not found: {path}')
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for truncated/corrupt zips
        raise CheckpointError(
            f'cannot read checkpoint {path}: the file is truncated, corrupt or not a '
            f'mtg_grasp_ros checkpoint ({type(exc).__name__}: {exc})') from exc
    if not isinstance(state, dict) or state.get('format') != FORMAT:
        raise CheckpointError(f'{path} is not a mtg_grasp_ros checkpoint (format {FORMAT})')
    missing = [k for k in REQUIRED_CONFIG if k not in state.get('config', {})]
    if missing:
        raise CheckpointError(f'{path}: checkpoint config lacks {missing}')
    return state


def model_from_checkpoint(path: Path, map_location: str = 'cpu') -> tuple:
    """Rebuild the network a checkpoint was trained with; returns ``(model, state)``."""
    state = load_checkpoint(path, map_location)
    config = state['config']
    model = build_model(config['network'], config['input_mode'])
    load_weights(model, state['model'], source=str(path))
    return model, state


def load_weights(model: GraspCNN, weights: Dict[str, torch.Tensor], source: str) -> None:
    """``load_state_dict`` with an error that says which tensors do not fit."""
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(
            f'{source}: weights do not match the {type(model).__name__} they were loaded into '
            f'(wrong network, auxiliary branch or input channels?): {exc}') from exc


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain module inside DistributedDataParallel / DataParallel wrappers."""
    return getattr(model, 'module', model)
