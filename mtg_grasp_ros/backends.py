"""Where the network runs: backend, device and precision choice, and the one deploy-model loader.

Every loader of a deploy model (:mod:`mtg_grasp_ros.deploy`) in this package -- the node, the
benchmarks, the node-level evaluation -- goes through :func:`load_predictor`, so the rules
live here once:

* **backend** (:data:`BACKENDS`): ``torch`` (the safetensors weights in PyTorch), ``onnx`` (the
  ONNX graph in ONNX Runtime) or ``auto`` = torch when the model has its safetensors weights,
  else onnx;
* **device** (:data:`DEVICES`): ``cpu``, ``cuda`` or ``auto`` = CUDA when the backend sees a GPU;
  ``cuda`` without one is an error, never a silent fallback;
* **precision** (:data:`PRECISIONS`): ``fp32``, ``bf16`` (bfloat16 autocast, torch only),
  ``fp16`` (float16 autocast, torch on a CUDA device only) or ``auto`` = bf16 on a CPU that
  computes bfloat16 in hardware (:func:`native_bf16_cpu`), else fp32 (auto never picks fp16:
  its accuracy is unmeasured).

Impossible choices raise :class:`PipelineConfigError` (at start-up, never per frame); a missing
or corrupt model raises :class:`mtg_grasp_ros.deploy.DeployModelError`.
"""

from __future__ import annotations

from typing import List, Tuple

import torch

from mtg_grasp_ros import deploy
from mtg_grasp_ros.inference import GraspPredictor

BACKENDS = ('auto', 'torch', 'onnx')
DEVICES = ('auto', 'cuda', 'cpu')
PRECISIONS = ('auto', 'fp32', 'bf16', 'fp16')


class PipelineConfigError(ValueError):
    """An invalid pipeline setting (raised at start-up, not per frame).

    Raised here for a backend, device or precision that cannot be used, and by
    :meth:`mtg_grasp_ros.pipeline.PipelineConfig.validate` for the other settings.
    """


def native_bf16_cpu() -> bool:
    """True when this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX).

    There oneDNN runs the network about twice as fast in bf16; elsewhere bf16 is emulated and
    slower. Asks PyTorch's private ``torch.cpu._is_avx512_bf16_supported`` /
    ``_is_amx_tile_supported``; False when they are absent or fail (an older torch).
    """
    cpu = getattr(torch, 'cpu', None)
    for name in ('_is_avx512_bf16_supported', '_is_amx_tile_supported'):
        check = getattr(cpu, name, None)
        try:
            if check is not None and check():
                return True
        except Exception:  # private API: absent or failing on an older torch
            continue
    return False


def resolve_device(device: str) -> str:
    """The PyTorch device of a :data:`DEVICES` choice: ``'cuda'`` or ``'cpu'``.

    ``auto`` -> ``cuda`` when PyTorch sees a GPU, else ``cpu``. Raises
    :class:`PipelineConfigError` for an unknown name and for ``cuda`` without a GPU.
    """
    if device not in DEVICES:
        raise PipelineConfigError(f'device must be one of {DEVICES}, got {device!r}')
    has_cuda = torch.cuda.is_available()
    if device == 'auto':
        return 'cuda' if has_cuda else 'cpu'
    if device == 'cuda' and not has_cuda:
        raise PipelineConfigError(
            'device is cuda but PyTorch sees no GPU (CPU-only torch build, no driver, or '
            'CUDA_VISIBLE_DEVICES empty); use device: auto or cpu')
    return device


def onnx_providers(device: str) -> Tuple[List[str], str]:
    """ONNX Runtime execution providers for a :data:`DEVICES` choice, and the device they give.

    ``cuda``/``auto`` use ``CUDAExecutionProvider`` (then the CPU one) when ONNX Runtime has it
    (``onnxruntime-gpu``). Raises :class:`PipelineConfigError` for an unknown name and for
    ``cuda`` without the CUDA provider.
    """
    if device not in DEVICES:
        raise PipelineConfigError(f'device must be one of {DEVICES}, got {device!r}')
    try:
        import onnxruntime as ort
        available = ort.get_available_providers()
    except ImportError:
        available = []
    has_cuda = 'CUDAExecutionProvider' in available
    if device == 'cuda' and not has_cuda:
        raise PipelineConfigError(
            'device is cuda but ONNX Runtime has no CUDAExecutionProvider (install '
            'onnxruntime-gpu) -- or use backend: torch')
    if device in ('cuda', 'auto') and has_cuda:
        return ['CUDAExecutionProvider', 'CPUExecutionProvider'], 'cuda'
    return ['CPUExecutionProvider'], 'cpu'


def load_predictor(path: deploy.PathLike, backend: str = 'auto', device: str = 'auto',
                   threads: int = 0, precision: str = 'fp32') -> Tuple[GraspPredictor, str]:
    """Load a deploy model on a backend and device: ``(predictor, resolved device)``.

    ``path``: the model's stem, one of its files or its directory (see
    :func:`mtg_grasp_ros.deploy.deploy_paths`). ``backend``, ``device``, ``precision``: see
    the module docstring; the resolved device is ``'cpu'`` or ``'cuda'``. ``threads`` > 0 sets
    PyTorch's intra-op thread count (process-wide) and the ONNX Runtime session's; 0 keeps the
    libraries' defaults.

    ``backend='auto'`` picks PyTorch (channels_last on a CPU) whenever the weights are there:
    measured through ROS 2 on a 2-core CPU at 60 Hz, PyTorch processed 59.9 frames/s at 74% CPU
    where ONNX Runtime reached 57.3 at 100% (README "Real time on a CPU"). ``precision='auto'``
    on such a CPU: bf16 gave the same held-out accuracy (348/388) at half the inference time.

    Raises :class:`mtg_grasp_ros.deploy.DeployModelError` for a missing or corrupt model and
    :class:`PipelineConfigError` for an impossible backend/device/precision choice.
    """
    if backend not in BACKENDS:
        raise PipelineConfigError(f'backend must be one of {BACKENDS}, got {backend!r}')
    if precision not in PRECISIONS:
        raise PipelineConfigError(f'precision must be one of {PRECISIONS}, got {precision!r}')
    if threads and threads > 0:
        torch.set_num_threads(int(threads))
    if backend == 'auto':
        paths = deploy.deploy_paths(path)
        backend = ('onnx' if paths.onnx.is_file() and not paths.safetensors.is_file()
                   else 'torch')
    if backend == 'torch':
        resolved = resolve_device(device)
        if precision == 'auto':
            precision = 'bf16' if resolved == 'cpu' and native_bf16_cpu() else 'fp32'
        if precision == 'fp16' and resolved != 'cuda':
            raise PipelineConfigError(
                f'precision fp16 needs a CUDA device (float16 autocast on the GPU) but device '
                f'{device} runs on {resolved}; use precision: auto, fp32 or bf16 on a CPU')
        model, metadata = deploy.load_torch_model(path, device=resolved)
        return GraspPredictor(model=model, metadata=metadata, precision=precision), resolved
    if precision in ('bf16', 'fp16'):
        where = 'backend torch' + (' on device cuda' if precision == 'fp16' else '')
        raise PipelineConfigError(f'precision {precision} needs {where} (the ONNX graph is '
                                  f'fp32); use precision: auto or fp32 with backend onnx')
    providers, resolved = onnx_providers(device)
    session, metadata = deploy.load_onnx_session(path, threads=threads or None,
                                                 providers=providers)
    active = session.get_providers()
    if resolved == 'cuda' and 'CUDAExecutionProvider' not in active:
        if device == 'cuda':
            raise PipelineConfigError(
                f'device is cuda but ONNX Runtime runs on {active} (CUDA libraries missing?)')
        resolved = 'cpu'
    return GraspPredictor(session=session, metadata=metadata), resolved
