"""Camera sensor effects on a generated RGB image: slight blur, Gaussian noise, JPEG artefacts.

Rendered images are perfectly sharp and noise-free; a robot's colour camera is neither, and its
frames often travel JPEG-compressed. :func:`apply_sensor_effects` degrades the written RGB image
only (never the depth images or the mask, which the labels are checked against), with
strengths drawn from the view's generator, in the order a camera applies them: lens and
demosaicing blur, sensor noise, then compression.

Blur and noise are given for a 480 px square (the grasp node's centred crop of a 640x480
camera) and scaled with the image side, so a 1024 px view looks like that crop enlarged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import cv2
import numpy as np

#: Reference image side (px) for the blur figures.
REFERENCE_SIDE = 480


@dataclass(frozen=True)
class SensorEffects:
    """Ranges the effects are drawn from; each effect is applied with its probability."""

    blur_p: float = 0.7
    blur_sigma: Tuple[float, float] = (0.3, 1.0)  # px at REFERENCE_SIDE
    noise_p: float = 0.8
    noise_sigma: Tuple[float, float] = (1.0, 6.0)  # grey levels of 255
    jpeg_p: float = 0.7
    jpeg_quality: Tuple[int, int] = (35, 95)


DEFAULT_EFFECTS = SensorEffects()


def apply_sensor_effects(rgb: np.ndarray, rng: np.random.Generator,
                         effects: SensorEffects = DEFAULT_EFFECTS) -> np.ndarray:
    """``rgb`` (uint8 HxWx3) as a camera would deliver it: a new uint8 image of the same shape.

    Every random number comes from ``rng`` (same generator state, same image). The input is
    not changed.
    """
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f'expected a uint8 HxWx3 image, got {rgb.dtype} {rgb.shape}')
    out = rgb
    scale = min(rgb.shape[:2]) / REFERENCE_SIDE
    # Draw every number whatever is applied, so one effect's choice never shifts the others.
    blur = rng.random() < effects.blur_p
    sigma = rng.uniform(*effects.blur_sigma) * scale
    noisy = rng.random() < effects.noise_p
    noise_sigma = rng.uniform(*effects.noise_sigma)
    jpeg = rng.random() < effects.jpeg_p
    quality = int(rng.integers(effects.jpeg_quality[0], effects.jpeg_quality[1] + 1))
    if blur:
        out = cv2.GaussianBlur(out, (0, 0), sigmaX=sigma, sigmaY=sigma,
                               borderType=cv2.BORDER_REFLECT_101)
    if noisy:
        noise = rng.normal(0.0, noise_sigma, size=out.shape).astype(np.float32)
        out = np.clip(out.astype(np.float32) + noise + 0.5, 0, 255).astype(np.uint8)
    if jpeg:
        ok, data = cv2.imencode('.jpg', np.ascontiguousarray(out[..., ::-1]),
                                [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError('JPEG encoding failed')
        out = cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]
    return np.ascontiguousarray(out) if out is not rgb else rgb.copy()
