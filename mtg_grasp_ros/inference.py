"""Network input -> grasps, with a PyTorch model or an ONNX Runtime session (ROS-free).

The pipeline of the paper: raw maps from the network, Gaussian smoothing
(:func:`mtg_grasp_ros.postprocess.smooth_maps`), then the highest-quality pixel
(:func:`mtg_grasp_ros.postprocess.top_grasps`). The input is the (C, H, W) float32 array that
:func:`mtg_grasp_ros.preprocess.network_input` makes; resizing or cropping the camera image to
the network's input size is the caller's job. Grasps are in the pixels of that input.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import torch

from mtg_grasp_ros.grasp import Grasp
from mtg_grasp_ros.models import GRASP_OUTPUTS
from mtg_grasp_ros.postprocess import (DEFAULT_SIGMA, DEFAULT_WIDTH_SCALE, GraspMaps,
                                       smooth_maps, top_grasps)

RawMaps = Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


#: The arithmetic a predictor runs in (``auto`` is resolved by
#: :func:`mtg_grasp_ros.backends.load_predictor` before a predictor is made).
ARITHMETIC = ('fp32', 'bf16', 'fp16')

#: The autocast dtype of each reduced precision (fp32 runs without autocast).
AUTOCAST_DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}

#: Precisions that need the network on a CUDA device (float16 autocast is a GPU feature here;
#: on a CPU it is emulated and slow).
CUDA_ONLY = ('fp16',)


def autocast(device_type: str, precision: str) -> torch.autocast:
    """The autocast context of ``precision`` on ``device_type`` (``'cpu'`` or ``'cuda'``).

    bf16 -> bfloat16 autocast, fp16 -> float16 autocast, fp32 -> disabled. Raises ValueError
    for an unknown precision and for fp16 off CUDA.
    """
    if precision not in ARITHMETIC:
        raise ValueError(f'precision must be one of {ARITHMETIC}, got {precision!r}')
    if precision in CUDA_ONLY and device_type != 'cuda':
        raise ValueError(f'precision {precision} needs a CUDA device (float16 autocast), the '
                         f'model is on {device_type}; use precision fp32 or bf16 there')
    return torch.autocast(device_type, dtype=AUTOCAST_DTYPES.get(precision, torch.bfloat16),
                          enabled=precision in AUTOCAST_DTYPES)


def predict_maps(model: torch.nn.Module, x: Union[torch.Tensor, np.ndarray],
                 memory_format: torch.memory_format = torch.contiguous_format,
                 precision: str = 'fp32') -> RawMaps:
    """Raw grasp maps ``(quality, cos, sin, width)`` of a GraspCNN, as float32 NumPy arrays.

    ``x`` is (C, H, W) or (N, C, H, W); each map is then (H, W) or (N, H, W). An auxiliary
    output, if the model has one, is dropped. The model is run under ``torch.inference_mode``
    on the device of its parameters, the input in ``memory_format``, under bfloat16 autocast
    when ``precision`` is ``bf16`` and float16 autocast when it is ``fp16`` (CUDA only, see
    :func:`autocast`); the maps come back as float32 either way. Its train/eval mode is left
    as it is.
    """
    x = torch.as_tensor(x, dtype=torch.float32)
    single = x.dim() == 3
    if single:
        x = x.unsqueeze(0)
    if x.dim() != 4:
        raise ValueError(f'expected a (C, H, W) or (N, C, H, W) input, got {tuple(x.shape)}')
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device('cpu')
    with torch.inference_mode(), autocast(device.type, precision):
        outputs = model(x.to(device).contiguous(memory_format=memory_format))
        maps = tuple(o.float().cpu().contiguous().numpy()[:, 0]
                     for o in outputs[:len(GRASP_OUTPUTS)])
    return tuple(m[0] for m in maps) if single else maps


class GraspPredictor:
    """Owns a model (PyTorch module or ONNX Runtime session) and its post-processing settings.

    Give exactly one of ``model`` (a GraspCNN-like module returning at least the four grasp
    maps) and ``session`` (an ONNX Runtime session of the deploy graph), else ValueError.
    ``metadata`` is the deploy model's JSON (:mod:`mtg_grasp_ros.deploy`): it gives the
    smoothing sigmas (network px), ``width_scale`` (px per unit of the width output),
    ``input_size`` and ``input_mode``; ``sigma`` / ``width_scale`` override it. ``precision``
    is one of :data:`ARITHMETIC` (bf16 only with a torch model, fp16 only with a torch model on
    a CUDA device). Deploy models are loaded with
    :func:`mtg_grasp_ros.backends.load_predictor`:

    >>> predictor, device = load_predictor('models/mtgcnn_rgb')           # doctest: +SKIP
    >>> grasps = predictor.predict(network_input('rgb', rgb=image_300))  # doctest: +SKIP
    """

    def __init__(self, model: Optional[torch.nn.Module] = None, session: Any = None,
                 metadata: Optional[Dict[str, Any]] = None,
                 sigma: Optional[float] = None, width_scale: Optional[float] = None,
                 precision: str = 'fp32') -> None:
        if (model is None) == (session is None):
            raise ValueError('give exactly one of a torch model or an ONNX Runtime session')
        if precision not in ARITHMETIC:
            raise ValueError(f'precision must be one of {ARITHMETIC}, got {precision!r}')
        if precision != 'fp32' and model is None:
            raise ValueError(f'precision {precision} needs the torch backend (the ONNX graph is '
                             f'fp32)')
        if precision in CUDA_ONLY and _device_type(model) != 'cuda':
            raise ValueError(f'precision {precision} needs the model on a CUDA device (float16 '
                             f'autocast), it is on {_device_type(model)}; use fp32 or bf16 there')
        self.precision = precision
        self.model = model.eval() if model is not None else None
        self.memory_format = torch.contiguous_format
        if model is not None and _on_cpu(model):
            # oneDNN's convolutions run NHWC about 1.6x faster than NCHW on a CPU (measured:
            # python -m training benchmark); same numbers, so it is always on there.
            self.memory_format = torch.channels_last
            self.model = self.model.to(memory_format=torch.channels_last)
        self.session = session
        self.metadata = dict(metadata or {})
        meta_sigma = self.metadata.get('sigma', DEFAULT_SIGMA)
        if not isinstance(meta_sigma, dict):
            meta_sigma = {'quality': meta_sigma, 'angle': meta_sigma, 'width': meta_sigma}
        self.sigmas = {k: float(sigma if sigma is not None else meta_sigma.get(k, DEFAULT_SIGMA))
                       for k in ('quality', 'angle', 'width')}
        self.width_scale = float(width_scale if width_scale is not None
                                 else self.metadata.get('width_scale', DEFAULT_WIDTH_SCALE))
        if session is not None:
            self._input_name = session.get_inputs()[0].name
            shape = session.get_inputs()[0].shape
            self._fixed_hw = tuple(d if isinstance(d, int) else None for d in shape[2:4])

    @property
    def backend(self) -> str:
        """``'torch'`` or ``'onnx'``."""
        return 'torch' if self.model is not None else 'onnx'

    @property
    def input_size(self) -> Optional[int]:
        """Side of the square network input in px (the metadata's ``input_size``), or None."""
        return self.metadata.get('input_size')

    @property
    def input_mode(self) -> Optional[str]:
        """``'rgb'``, ``'depth'`` or ``'rgbd'`` (the metadata's ``input_mode``), or None."""
        return self.metadata.get('input_mode')

    def raw_maps(self, x: Union[np.ndarray, torch.Tensor]) -> RawMaps:
        """``(quality, cos, sin, width)`` for a (C, H, W) or (N, C, H, W) input."""
        if self.model is not None:
            return predict_maps(self.model, x, self.memory_format, self.precision)
        x = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
        single = x.ndim == 3
        if single:
            x = x[None]
        if x.ndim != 4:
            raise ValueError(f'expected a (C, H, W) or (N, C, H, W) input, got {x.shape}')
        for got, want in zip(x.shape[2:], self._fixed_hw):
            if want is not None and got != want:
                raise ValueError(f'the ONNX model takes {self._fixed_hw[0]}x{self._fixed_hw[1]} '
                                 f'images, got {x.shape[2]}x{x.shape[3]}: resize or crop first')
        outputs = self.session.run(list(GRASP_OUTPUTS), {self._input_name: x})
        maps = tuple(np.asarray(o, dtype=np.float32)[:, 0] for o in outputs)
        return tuple(m[0] for m in maps) if single else maps

    def smooth(self, raw: RawMaps) -> GraspMaps:
        """Smoothed quality / angle / width maps of one image's raw maps."""
        return smooth_maps(*raw, sigma_quality=self.sigmas['quality'],
                           sigma_angle=self.sigmas['angle'], sigma_width=self.sigmas['width'],
                           width_scale=self.width_scale)

    def maps(self, x: Union[np.ndarray, torch.Tensor]) -> GraspMaps:
        """Smoothed maps of one (C, H, W) input."""
        raw = self.raw_maps(x)
        if raw[0].ndim != 2:
            raise ValueError('maps() takes one (C, H, W) image')
        return self.smooth(raw)

    def predict(self, x: Union[np.ndarray, torch.Tensor], top_k: int = 1,
                min_distance: int = 10, min_quality: float = -math.inf) -> List[Grasp]:
        """The best grasps of one (C, H, W) input, best first (``top_k=1``: the paper's rule)."""
        return top_grasps(self.maps(x), top_k=top_k, min_distance=min_distance,
                          min_quality=min_quality)

    __call__ = predict


def _on_cpu(model: torch.nn.Module) -> bool:
    return _device_type(model) == 'cpu'


def _device_type(model: torch.nn.Module) -> str:
    parameter = next(model.parameters(), None)
    return 'cpu' if parameter is None else parameter.device.type
