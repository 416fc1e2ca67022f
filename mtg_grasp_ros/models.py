"""GG-CNN and MTG-CNN network definitions (Prew et al., ICPR 2020, Section III-B).

Both networks use the GG-CNN2 backbone with transposed-convolution up-sampling:

* shared first half: conv 11x11 (16), conv 5x5 (16), max-pool 2, conv 5x5 (16) x2, max-pool 2;
* second half (a :class:`GraspDecoder`): dilated conv 5x5 d=2 (32), dilated conv 5x5 d=4 (32),
  two stride-2 transposed convolutions (16), then 1x1 heads.

GG-CNN has one second half with four heads (quality, cos 2phi, sin 2phi, width). MTG-CNN
duplicates the second half for an auxiliary task (depth reconstruction or saliency) with one
head. The auxiliary branch only reads the shared features, so the grasp outputs never depend on
it and :meth:`GraspCNN.without_aux` can drop it for deployment.

This module is part of the runtime package: the node and the training code share it.
"""

from __future__ import annotations

import copy
from typing import Tuple

import torch
from torch import nn

NETWORKS = ('ggcnn', 'mtgcnn')
INPUT_CHANNELS = {'rgb': 3, 'depth': 1, 'rgbd': 4}
GRASP_OUTPUTS = ('quality', 'cos', 'sin', 'width')


def _conv(c_in: int, c_out: int, kernel: int, dilation: int = 1) -> nn.Sequential:
    padding = dilation * (kernel - 1) // 2
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, padding=padding, dilation=dilation), nn.ReLU(inplace=True))


def _up(c_in: int, c_out: int) -> nn.Sequential:
    # kernel 3, stride 2, padding 1, output_padding 1 doubles the size exactly.
    return nn.Sequential(
        nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1),
        nn.ReLU(inplace=True))


class Encoder(nn.Module):
    """The shared first half: full-resolution features down-sampled by 4."""

    def __init__(self, in_channels: int, filters: int = 16) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            _conv(in_channels, filters, 11), _conv(filters, filters, 5), nn.MaxPool2d(2),
            _conv(filters, filters, 5), _conv(filters, filters, 5), nn.MaxPool2d(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, 16, H / 4, W / 4) features."""
        return self.layers(x)


class GraspDecoder(nn.Module):
    """The second half: dilated convolutions, transposed-conv up-sampling, 1x1 heads."""

    def __init__(self, n_outputs: int, filters: int = 16, dilated_filters: int = 32) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv(filters, dilated_filters, 5, dilation=2),
            _conv(dilated_filters, dilated_filters, 5, dilation=4),
            _up(dilated_filters, filters), _up(filters, filters))
        self.heads = nn.ModuleList(nn.Conv2d(filters, 1, 1) for _ in range(n_outputs))

    def forward(self, features: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """(N, 16, h, w) features -> one (N, 1, 4h, 4w) map per head."""
        x = self.body(features)
        return tuple(head(x) for head in self.heads)


class GraspCNN(nn.Module):
    """GG-CNN (``aux=False``) or MTG-CNN (``aux=True``).

    ``forward`` returns ``(quality, cos, sin, width)`` for GG-CNN and
    ``(quality, cos, sin, width, aux)`` for MTG-CNN, each of shape (N, 1, H, W).
    H and W must be multiples of 4 (two max-pools, two x2 up-samplings).
    """

    def __init__(self, in_channels: int = 3, aux: bool = False) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.encoder = Encoder(in_channels)
        self.grasp = GraspDecoder(len(GRASP_OUTPUTS))
        self.aux = GraspDecoder(1) if aux else None

    @property
    def has_aux(self) -> bool:
        """True for MTG-CNN (with its auxiliary branch)."""
        return self.aux is not None

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """See the class docstring; ValueError unless H and W are multiples of 4."""
        if x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(
                f'input height and width must be multiples of 4, got {tuple(x.shape)}')
        features = self.encoder(x)
        outputs = self.grasp(features)
        if self.aux is not None:
            outputs = outputs + self.aux(features)
        return outputs

    def without_aux(self) -> 'GraspCNN':
        """A copy with the auxiliary branch removed: the deployable grasp network."""
        stripped = copy.deepcopy(self)
        stripped.aux = None
        return stripped


def build_model(network: str = 'ggcnn', input_mode: str = 'rgb') -> GraspCNN:
    """Build ``ggcnn`` or ``mtgcnn`` for an input mode in :data:`INPUT_CHANNELS`."""
    if network not in NETWORKS:
        raise ValueError(f'unknown network {network!r}; choose one of {NETWORKS}')
    if input_mode not in INPUT_CHANNELS:
        raise ValueError(
            f'unknown input mode {input_mode!r}; choose one of {tuple(INPUT_CHANNELS)}')
    return GraspCNN(INPUT_CHANNELS[input_mode], aux=(network == 'mtgcnn'))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
