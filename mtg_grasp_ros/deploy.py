"""The deploy-model format: grasp-branch weights, ONNX graph and JSON metadata (ROS-free).

``python -m training export --out models/NAME`` writes three files side by side::

    models/NAME.safetensors   grasp-branch weights only (no auxiliary branch, no pickle)
    models/NAME.onnx          the same network for ONNX Runtime (optional: --no-onnx)
    models/NAME.json          metadata, written last; this module checks it on every load

A deploy model is named by its *stem* (``models/NAME``), by any of its three files, or by a
directory holding them (``models/NAME/`` containing ``NAME.json``, or a single ``*.json``).

The JSON holds the format version, the network it came from, the input mode and channels, the
input size (300), the input normalisation (:data:`mtg_grasp_ros.preprocess.NORMALISATION`),
the width scale (150 px), the default smoothing sigmas, the output names, parameter counts, a
summary of the training configuration, and the byte size and SHA-256 of the weight files, so a
truncated, swapped or half-copied file is reported as such. The ONNX graph has a dynamic batch
axis and a fixed ``input_size`` x ``input_size`` image (what the node feeds).

Every problem is raised as :class:`DeployModelError` with a message that names the file and
says what is wrong. ``safetensors`` and ``onnxruntime`` are imported only when needed.

The package's default model (:data:`DEFAULT_MODEL_STEM`) is found by
:func:`default_model_path`: in ``share/mtg_grasp_ros/models/`` when installed with colcon, in
the repository's ``models/`` in a source checkout.
"""

from __future__ import annotations

from dataclasses import dataclass
import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import torch

from mtg_grasp_ros.models import GRASP_OUTPUTS, GraspCNN, INPUT_CHANNELS
from mtg_grasp_ros.postprocess import DEFAULT_SIGMA, DEFAULT_WIDTH_SCALE
from mtg_grasp_ros.preprocess import NORMALISATION

FORMAT = 'mtg_grasp_ros.deploy/1'
PACKAGE = 'mtg_grasp_ros'
#: The default model's stem, in share/mtg_grasp_ros/models/ (installed) or the repo's models/.
DEFAULT_MODEL_STEM = 'mtgcnn_depth_p'
INPUT_NAME = 'input'
SUFFIXES = ('.json', '.safetensors', '.onnx')
REQUIRED_KEYS = ('format', 'network', 'input_mode', 'in_channels', 'input_size', 'outputs',
                 'width_scale', 'sigma')

PathLike = Union[str, os.PathLike]


class DeployModelError(RuntimeError):
    """A deploy model is missing, truncated, corrupt or inconsistent with its metadata."""


@dataclass(frozen=True)
class DeployPaths:
    """The three files of one deploy model."""

    json: Path
    safetensors: Path
    onnx: Path

    @property
    def stem(self) -> Path:
        """The model's name: the path without suffix (``models/NAME``)."""
        return self.json.with_suffix('')


def deploy_paths(path: PathLike) -> DeployPaths:
    """Resolve a stem, one of the three files, or a directory to the model's file paths."""
    path = Path(path)
    if path.is_dir():
        own = path / (path.name + '.json')
        if own.is_file():
            stem = own.with_suffix('')
        else:
            candidates = sorted(path.glob('*.json'))
            if len(candidates) != 1:
                raise DeployModelError(
                    f'{path} is a directory but holds {len(candidates)} *.json metadata files; '
                    f'name the model by its stem (e.g. {path}/NAME) or one of its files')
            stem = candidates[0].with_suffix('')
    elif path.suffix in SUFFIXES:
        stem = path.with_suffix('')
    else:
        stem = path
    return DeployPaths(json=Path(f'{stem}.json'), safetensors=Path(f'{stem}.safetensors'),
                       onnx=Path(f'{stem}.onnx'))


def default_model_candidates() -> List[Path]:
    """Where the default model is looked for: the installed share directory, then the repo.

    The share directory comes from ``ament_index_python`` (skipped when it is missing or the
    package is not installed); the repository (the folder above this package) is added when it
    holds ``package.xml`` or when there is no share directory.
    """
    candidates = []
    try:
        from ament_index_python.packages import get_package_share_directory
        candidates.append(Path(get_package_share_directory(PACKAGE)) / 'models'
                          / DEFAULT_MODEL_STEM)
    except Exception:  # ament_index_python missing, or the package is not installed
        pass
    repo = Path(__file__).resolve().parents[1]
    if (repo / 'package.xml').is_file() or not candidates:  # a source checkout
        candidates.append(repo / 'models' / DEFAULT_MODEL_STEM)
    return candidates


def default_model_path() -> Path:
    """The first default-model stem whose metadata exists (else the first candidate)."""
    candidates = default_model_candidates()
    for candidate in candidates:
        if candidate.with_suffix('.json').is_file():
            return candidate
    return candidates[0]


def file_record(path: Path) -> Dict[str, Any]:
    """``{'file', 'bytes', 'sha256'}`` of a file, as stored in the metadata."""
    return {'file': path.name, 'bytes': path.stat().st_size, 'sha256': _sha256(path)}


def make_metadata(network: str, input_mode: str, input_size: int,
                  parameters: int, parameters_full: Optional[int] = None,
                  training: Optional[Dict[str, Any]] = None,
                  sigma: float = DEFAULT_SIGMA,
                  width_scale: float = DEFAULT_WIDTH_SCALE) -> Dict[str, Any]:
    """The metadata dict of a new deploy model; :func:`write_metadata` adds ``files``."""
    if input_mode not in INPUT_CHANNELS:
        raise ValueError(f'unknown input mode {input_mode!r}')
    return {
        'format': FORMAT,
        'network': network,
        'input_mode': input_mode,
        'in_channels': INPUT_CHANNELS[input_mode],
        'input_size': int(input_size),
        'input_name': INPUT_NAME,
        'outputs': list(GRASP_OUTPUTS),
        'normalisation': NORMALISATION,
        'width_scale': float(width_scale),
        'sigma': {'quality': float(sigma), 'angle': float(sigma), 'width': float(sigma)},
        'parameters': int(parameters),
        'parameters_full': int(parameters_full if parameters_full is not None else parameters),
        'training': dict(training or {}),
        'files': {},
    }


def save_weights(path: PathLike, model: GraspCNN) -> None:
    """Write the grasp-branch weights (encoder + grasp decoder) as safetensors, atomically."""
    from safetensors.torch import save_file

    model = getattr(model, 'module', model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()
               if not k.startswith('aux.')}
    tmp = path.with_name(path.name + '.tmp')
    save_file(tensors, str(tmp), metadata={'format': FORMAT,
                                           'in_channels': str(model.in_channels)})
    os.replace(tmp, path)


def write_metadata(path: PathLike, metadata: Dict[str, Any]) -> Dict[str, Any]:
    """Record size and hash of the weight files next to ``path`` and write the JSON atomically."""
    paths = deploy_paths(path)
    metadata = dict(metadata)
    files = {'safetensors': file_record(paths.safetensors)}
    if paths.onnx.is_file():
        files['onnx'] = file_record(paths.onnx)
    metadata['files'] = files
    tmp = paths.json.with_name(paths.json.name + '.tmp')
    tmp.write_text(json.dumps(metadata, indent=2, sort_keys=False) + '\n')
    os.replace(tmp, paths.json)
    return metadata


def load_deploy_metadata(path: PathLike) -> Dict[str, Any]:
    """Read and check a deploy model's JSON metadata."""
    paths = deploy_paths(path)
    where = paths.json
    if not where.is_file():
        raise DeployModelError(
            f'deploy model metadata not found: {where} (export one with '
            f'"python -m training export --checkpoint CKPT --out {paths.stem}")')
    try:
        metadata = json.loads(where.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DeployModelError(
            f'cannot read deploy metadata {where}: the file is truncated or not JSON '
            f'({type(exc).__name__}: {exc})') from exc
    if not isinstance(metadata, dict):
        raise DeployModelError(f'{where}: deploy metadata must be a JSON object')
    if metadata.get('format') != FORMAT:
        raise DeployModelError(
            f'{where}: unsupported deploy format {metadata.get("format")!r} (expected {FORMAT!r})')
    missing = [k for k in REQUIRED_KEYS if k not in metadata]
    if missing:
        raise DeployModelError(f'{where}: deploy metadata lacks {missing}')
    mode = metadata['input_mode']
    if mode not in INPUT_CHANNELS or INPUT_CHANNELS[mode] != metadata['in_channels']:
        raise DeployModelError(
            f'{where}: input_mode {mode!r} does not fit in_channels {metadata["in_channels"]!r}')
    size = metadata['input_size']
    if not isinstance(size, int) or size <= 0 or size % 4:
        raise DeployModelError(f'{where}: input_size must be a positive multiple of 4, '
                               f'got {size!r}')
    if list(metadata['outputs']) != list(GRASP_OUTPUTS):
        raise DeployModelError(f'{where}: outputs {metadata["outputs"]!r} are not the grasp '
                               f'outputs {list(GRASP_OUTPUTS)}')
    sigma = metadata['sigma']
    numbers = [metadata['width_scale']] + (list(sigma.values()) if isinstance(sigma, dict)
                                           else [sigma])
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in numbers):
        raise DeployModelError(f'{where}: width_scale and sigma must be finite numbers')
    return metadata


def load_torch_model(path: PathLike, device: Union[str, torch.device] = 'cpu'
                     ) -> Tuple[GraspCNN, Dict[str, Any]]:
    """Load the deploy model's safetensors weights into ``GraspCNN(in_channels, aux=False)``.

    Returns ``(model in eval mode on device, metadata)``.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    metadata = load_deploy_metadata(path)
    paths = deploy_paths(path)
    _check_file(paths.safetensors, metadata, 'safetensors', paths.json)
    try:
        weights = load_file(str(paths.safetensors), device='cpu')
    except (SafetensorError, OSError, ValueError) as exc:
        raise DeployModelError(
            f'cannot read weights {paths.safetensors}: the file is truncated or not '
            f'safetensors ({type(exc).__name__}: {exc})') from exc
    model = GraspCNN(int(metadata['in_channels']), aux=False)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in weights.items()}
    problems = []
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    if missing:
        problems.append(f'missing tensors {missing}')
    if unexpected:
        problems.append(f'unexpected tensors {unexpected}')
    problems += [f'{k} has shape {found[k]}, expected {expected[k]}'
                 for k in sorted(set(found) & set(expected)) if found[k] != expected[k]]
    if problems:
        raise DeployModelError(
            f'{paths.safetensors} does not fit a {metadata["in_channels"]}-channel grasp network '
            f'as {paths.json.name} says: ' + '; '.join(problems))
    model.load_state_dict(weights, strict=True)
    return model.to(device).eval(), metadata


def load_onnx_session(path: PathLike, threads: Optional[int] = None,
                      providers: Optional[list] = None) -> Tuple[Any, Dict[str, Any]]:
    """Open the deploy model's ONNX graph in ONNX Runtime; returns ``(session, metadata)``.

    ``threads`` sets the intra-op thread count (None: ONNX Runtime's default). ``providers``
    defaults to the CPU execution provider.
    """
    metadata = load_deploy_metadata(path)
    paths = deploy_paths(path)
    if 'onnx' not in metadata.get('files', {'onnx': None}) and not paths.onnx.is_file():
        raise DeployModelError(f'{paths.stem} has no ONNX graph (exported with --no-onnx?); '
                               f'use the safetensors weights or export again')
    _check_file(paths.onnx, metadata, 'onnx', paths.json)
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise DeployModelError(f'onnxruntime is not installed; cannot open {paths.onnx}') from exc
    options = ort.SessionOptions()
    # No spin-waiting between runs: measured here (tools/ort_spin_probe.py), a spinning session
    # burnt 38.0 ms of CPU per 300 px frame instead of 24.6 ms (for 0.4 ms less latency),
    # cycles the camera driver and the node's own executor need on a small CPU.
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    if threads:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(str(paths.onnx), sess_options=options,
                                       providers=providers or ['CPUExecutionProvider'])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
        raise DeployModelError(
            f'cannot load ONNX graph {paths.onnx}: the file is truncated or not a valid model '
            f'({type(exc).__name__}: {exc})') from exc
    inputs, outputs = session.get_inputs(), session.get_outputs()
    names = [o.name for o in outputs]
    if len(inputs) != 1 or not set(GRASP_OUTPUTS) <= set(names):
        raise DeployModelError(
            f'{paths.onnx} has inputs {[i.name for i in inputs]} and outputs {names}; '
            f'expected one input and outputs {list(GRASP_OUTPUTS)}')
    shape = inputs[0].shape
    channels = shape[1] if len(shape) == 4 else None
    if channels != metadata['in_channels']:
        raise DeployModelError(
            f'{paths.onnx} takes input of shape {shape} but {paths.json.name} says '
            f'{metadata["in_channels"]} channels')
    return session, metadata


def _check_file(path: Path, metadata: Dict[str, Any], kind: str, json_path: Path) -> None:
    """The file exists and matches the size and hash the metadata recorded for it."""
    if not path.is_file():
        raise DeployModelError(f'deploy model file not found: {path} (named by {json_path})')
    record = metadata.get('files', {}).get(kind)
    if not record:
        return
    size = path.stat().st_size
    if 'bytes' in record and size != record['bytes']:
        raise DeployModelError(
            f'{path} has {size} bytes but {json_path.name} recorded {record["bytes"]}: the file '
            f'is truncated or from another export')
    if 'sha256' in record and _sha256(path) != record['sha256']:
        raise DeployModelError(
            f'{path} does not match the SHA-256 recorded in {json_path.name}: the file is '
            f'corrupt or from another export')


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()
