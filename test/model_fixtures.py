"""Deploy models for the runtime tests, written through :mod:`mtg_grasp_ros.deploy` only.

The safetensors weights and the JSON metadata need nothing but the runtime. An ONNX graph needs
the exporter of the training layer (``training.export``): a test that asks for one is skipped,
with the reason, where training/ is absent (``colcon test`` on a robot).
"""

from pathlib import Path

import pytest
import torch

from mtg_grasp_ros import deploy
from mtg_grasp_ros.models import count_parameters, GraspCNN

#: Network input side of the test models (small: fast to run and to export).
SIZE = 96
NO_EXPORTER = ('the ONNX graph is written by training.export (the training layer), which '
               'is not installed with the runtime')


def export_onnx(model: torch.nn.Module, path: Path, size: int) -> None:
    """Write ``model``'s ONNX graph with the training layer's exporter, or skip the test."""
    export = pytest.importorskip('training.export', reason=NO_EXPORTER)
    export.export_onnx(model, path, size)


def save_model(stem: Path, kind: str = 'random', onnx: bool = False, size: int = SIZE) -> Path:
    """A 3-channel GG-CNN deploy model at ``stem``; returns ``stem``.

    ``kind``: ``'random'`` (seeded random init) or ``'constant'`` (every weight 0, so the
    outputs are the head biases: quality 0.5, cos 1, sin 0, width 0.2 = 30 px at scale 150,
    everywhere). ``onnx``: also write the ONNX graph (skips the test without the exporter).
    """
    torch.manual_seed(0)
    model = GraspCNN(3).eval()
    if kind == 'constant':
        with torch.no_grad():
            for p in model.parameters():
                p.zero_()
            for head, bias in zip(model.grasp.heads, (0.5, 1.0, 0.0, 0.2)):
                head.bias.fill_(bias)
    paths = deploy.deploy_paths(stem)
    paths.json.parent.mkdir(parents=True, exist_ok=True)
    deploy.save_weights(paths.safetensors, model)
    if onnx:
        export_onnx(model, paths.onnx, size)
    deploy.write_metadata(paths.json, deploy.make_metadata('ggcnn', 'rgb', size,
                                                           count_parameters(model)))
    return stem
