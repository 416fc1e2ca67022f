"""One camera frame -> 3-D grasps in the target frame: the ROS-free core of the node.

Stages (each timed, see :attr:`FrameResult.timings`):

1. **preprocess** -- crop the camera image to a square and resize it to the model's
   ``input_size`` (:mod:`mtg_grasp_ros.crop`), then :func:`mtg_grasp_ros.preprocess.network_input`
   (the only normalisation, shared with training).
2. **inference** -- the deploy model in PyTorch (CPU or CUDA) or ONNX Runtime, loaded by
   :func:`mtg_grasp_ros.backends.load_predictor`.
3. **postprocess** -- Gaussian smoothing and the top-k quality peaks: on the torch device with
   :class:`mtg_grasp_ros.device_postprocess.TorchPostprocess` (on CUDA, so only the k grasps are
   copied back), else through :func:`mtg_grasp_ros.postprocess.smooth_maps` / ``top_grasps``.
4. **geometry** -- each grasp pixel back to the camera image and into the target frame, on the
   support plane or at the aligned depth (:mod:`mtg_grasp_ros.grasp_geometry`).

The debug image of a frame is :func:`mtg_grasp_ros.debug_image.render_debug_image`.

The settings are a :class:`mtg_grasp_ros.pipeline_config.PipelineConfig` (imported here too);
:meth:`GraspPipeline.configure` changes them between frames.

Bad input raises an exception with a ``reason`` attribute (what the node counts frames by):
``size_mismatch``, ``no_depth``, ``no_plane_hit``, ``bad_crop``, ``bad_transform`` ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math
import time
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from mtg_grasp_ros.backends import load_predictor, PipelineConfigError
from mtg_grasp_ros.camera_model import CameraModel, RayPlaneError
from mtg_grasp_ros.centring import centre_on_object
from mtg_grasp_ros.crop import CropRegion
from mtg_grasp_ros.device_postprocess import TorchPostprocess
from mtg_grasp_ros.grasp import Grasp
from mtg_grasp_ros.grasp_geometry import Grasp3D, GraspGeometry, NoDepthError
from mtg_grasp_ros.inference import autocast, GraspPredictor
from mtg_grasp_ros.jaw_clearance import fingers_blocked
from mtg_grasp_ros.pipeline_config import (APPROACHES, DEPTH_SOURCES, JAWS_OUTSIDE_VIEW,
                                           PipelineConfig)
from mtg_grasp_ros.postprocess import (as_map, gaussian_smooth, GraspMaps,
                                       grasps_from_smoothed_quality, top_grasps)
from mtg_grasp_ros.preprocess import network_input
from mtg_grasp_ros.reorientation import turn_to_narrowest
from mtg_grasp_ros.transforms import RigidTransform, TransformError


class SizeMismatchError(ValueError):
    """The image, CameraInfo or depth image sizes do not agree."""

    reason = 'size_mismatch'


@dataclass
class FrameResult:
    """The outcome of one frame."""

    grasps: List[Grasp3D]                  # best first; empty when no peak >= min_quality
    best_quality: float                    # highest quality of the frame (before min_quality)
    region: CropRegion
    timings: Dict[str, float] = field(default_factory=dict)  # seconds per stage and 'total'
    rejected: int = 0                      # candidates with no 3-D point (no depth / plane)
    outside: int = 0                       # candidates with a jaw outside the crop (top-k)
    blocked: int = 0                       # grasps moved last: a finger on another object
    maps: Optional[GraspMaps] = None       # smoothed maps, when asked for (debug image)
    network_image: Optional[np.ndarray] = None  # the S x S RGB crop fed to the network
    network_grasps: List[Grasp] = field(default_factory=list)


class GraspPipeline:
    """Camera frame -> grasps in the target frame. Thread-compatible, not thread-safe.

    ``predictor``: the network; ``config`` (default :class:`PipelineConfig`; a new one with
    :meth:`configure`) is validated here and its ``sigma_*`` >= 0 override the model's;
    ``device`` (``'cpu'``/``'cuda'``, for :attr:`backend_label`) defaults to the model's.
    Raises :class:`PipelineConfigError` for an invalid config or a depth-input model without
    ``depth_source='depth_topic'``.
    """

    def __init__(self, predictor: GraspPredictor, config: Optional[PipelineConfig] = None,
                 device: Optional[str] = None) -> None:
        self.predictor = predictor
        #: The model's own smoothing sigmas (its metadata), what ``sigma_* = -1`` selects.
        self.model_sigmas = dict(predictor.sigmas)
        self.input_size = int(predictor.input_size or 300)
        self.input_mode = predictor.input_mode or 'rgb'
        self.torch_device = None
        if predictor.model is not None:
            parameter = next(predictor.model.parameters(), None)
            self.torch_device = parameter.device if parameter is not None else torch.device(
                'cpu')
        self.device = device or (self.torch_device.type if self.torch_device is not None
                                 else 'cpu')
        self.configure(config or PipelineConfig())

    def configure(self, config: PipelineConfig) -> None:
        """Use ``config`` (validated) from the next :meth:`process` on, with the same model; call
        it from the thread that calls :meth:`process` (the node's worker, between frames).
        Raises :class:`PipelineConfigError` (keeping the previous settings) for an invalid config
        or a depth-input model without ``depth_source='depth_topic'``."""
        config.validate()
        if self.input_mode in ('depth', 'rgbd') and config.depth_source != 'depth_topic':
            raise PipelineConfigError(
                f'the model takes {self.input_mode} input: set depth_source to depth_topic and '
                f'provide an aligned depth image')
        self.config = config
        for name in ('quality', 'angle', 'width'):
            value = getattr(config, f'sigma_{name}')
            self.predictor.sigmas[name] = (float(value) if value is not None and value >= 0
                                           else self.model_sigmas[name])
        c = config
        self.geometry = GraspGeometry(
            depth_source=c.depth_source, plane_point=np.asarray(c.plane_point, np.float64),
            plane_normal=c.unit_normal, object_height=c.object_height,
            depth_window=c.depth_window, depth_min=c.depth_min, depth_max=c.depth_max,
            approach=c.approach, rectified=c.rectified)
        use_device = config.device_postprocess
        self.device_postprocess: Optional[TorchPostprocess] = None
        if self.torch_device is not None and (
                use_device == 'always' or (use_device == 'auto' and self.device == 'cuda')):
            self.device_postprocess = TorchPostprocess(self.predictor.sigmas,
                                                       self.predictor.width_scale,
                                                       self.torch_device)

    @classmethod
    def from_deploy(cls, path, backend: str = 'torch', device: str = 'auto', threads: int = 0,
                    config: Optional[PipelineConfig] = None,
                    precision: str = 'fp32') -> 'GraspPipeline':
        """A pipeline on a deploy model loaded by :func:`mtg_grasp_ros.backends.load_predictor`.

        ``backend``, ``device``, ``threads``, ``precision``: as there (the node passes its
        parameters of the same names). Raises :class:`mtg_grasp_ros.deploy.DeployModelError`
        for a missing or corrupt model and :class:`PipelineConfigError` for an impossible
        backend/device/precision choice or an invalid ``config``.
        """
        predictor, resolved = load_predictor(path, backend=backend, device=device,
                                             threads=threads, precision=precision)
        return cls(predictor, config, device=resolved)

    @property
    def backend(self) -> str:
        """``'torch'`` or ``'onnx'``."""
        return self.predictor.backend

    @property
    def backend_label(self) -> str:
        """E.g. ``torch/cpu channels_last bf16`` or ``onnxruntime/cpu`` (always fp32), for
        logs and benchmarks: the precision is always named, so a start-up log says which one
        ``precision: auto`` chose."""
        if self.predictor.model is None:
            return f'onnxruntime/{self.device}'
        layout = (' channels_last' if self.predictor.memory_format == torch.channels_last
                  else '')
        return f'torch/{self.device}{layout} {self.predictor.precision}'

    def describe(self) -> str:
        """One line for the start-up log: backend, device, model and input."""
        meta = self.predictor.metadata
        post = 'device' if self.device_postprocess is not None else 'OpenCV/CPU'
        return (f'{meta.get("network", "?")} ({self.input_mode}, {self.input_size} px) on '
                f'{self.backend_label}, post-processing on {post}, sigmas '
                f'{self.predictor.sigmas}')

    def warm_up(self) -> None:
        """Run the network once on a blank input (first-call allocations, CUDA kernels)."""
        channels = {'rgb': 3, 'depth': 1, 'rgbd': 4}[self.input_mode]
        x = np.zeros((channels, self.input_size, self.input_size), np.float32)
        self._detect(x, want_maps=False)

    # ---------------------------------------------------------------- per frame
    def process(self, rgb: np.ndarray, camera: CameraModel, camera_to_target: RigidTransform,
                depth: Optional[np.ndarray] = None, want_maps: bool = False) -> FrameResult:
        """Detect grasps in one frame.

        ``rgb``: (H, W, 3) uint8 RGB; ``camera``: its intrinsics; ``camera_to_target``: the pose
        of the camera's optical frame in the target frame; ``depth``: (H, W) metres aligned with
        ``rgb`` (required for ``depth_topic`` and depth-input models).
        """
        t0 = time.perf_counter()
        cfg = self.config
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise SizeMismatchError(f'expected an (H, W, 3) RGB image, got {rgb.shape}')
        height, width = rgb.shape[:2]
        try:
            camera.check_image_size(width, height)
        except ValueError as exc:
            raise SizeMismatchError(str(exc)) from exc
        needs_depth = cfg.depth_source == 'depth_topic' or self.input_mode != 'rgb'
        if needs_depth:
            if depth is None:
                raise NoDepthError('no depth image for this frame')
            if depth.shape[:2] != (height, width):
                raise SizeMismatchError(
                    f'depth image is {depth.shape[1]}x{depth.shape[0]} but the colour image is '
                    f'{width}x{height}: the depth must be aligned (registered) to the colour '
                    f'camera')
        region = CropRegion.for_image(width, height, self.input_size, cfg.crop_size,
                                      cfg.crop_x, cfg.crop_y)
        net_rgb = region.apply(rgb)
        net_depth = region.apply(depth.astype(np.float32)) if (
            depth is not None and self.input_mode != 'rgb') else None
        x = network_input(self.input_mode, rgb=net_rgb, depth=net_depth)
        t1 = time.perf_counter()
        grasps, best_quality, maps, timings, quality_map = self._detect(x, want_maps)
        t2 = time.perf_counter()
        grasps_3d: List[Grasp3D] = []
        errors: List[Exception] = []
        size = x.shape[-1]
        in_view = [jaws_in_view(g, size) for g in grasps]
        outside = in_view.count(False)
        if cfg.jaws_outside_view == 'drop':
            grasps = [g for g, v in zip(grasps, in_view) if v]
        elif cfg.jaws_outside_view == 'last':  # stable sort: each group stays best first
            grasps = [g for _, g in sorted(zip(in_view, grasps), key=lambda p: not p[0])]
        for g in grasps:
            if g.quality < cfg.min_quality:
                continue
            try:
                grasps_3d.append(self.geometry.lift(g, region, camera, camera_to_target,
                                                    depth))
            except (RayPlaneError, NoDepthError, TransformError) as exc:
                errors.append(exc)
        if errors and not grasps_3d:
            raise errors[0]
        lifted = {id(g.network) for g in grasps_3d}
        if cfg.max_opening > 0 and quality_map is not None:
            for i, g in enumerate(grasps_3d):
                turned = (turn_to_narrowest(g.network, quality_map, cfg.centring_fraction,
                                            cfg.max_opening * g.network.width / g.width_m)
                          if g.width_m > cfg.max_opening else g.network)
                if turned is not g.network:
                    try:
                        grasps_3d[i] = self.geometry.lift(turned, region, camera,
                                                          camera_to_target, depth)
                    except (RayPlaneError, NoDepthError, TransformError):
                        pass  # no 3-D point where it moved (no depth there): as it was
        blocked = self._clear_jaws_first(grasps_3d, quality_map)
        t3 = time.perf_counter()
        timings.update(preprocess=t1 - t0, geometry=t3 - t2, total=t3 - t0)
        return FrameResult(grasps=grasps_3d, best_quality=best_quality, region=region,
                           timings=timings, rejected=len(errors), outside=outside, maps=maps,
                           blocked=blocked, network_image=net_rgb if want_maps else None,
                           network_grasps=[g.network for g in grasps_3d] + [
                               g for g in grasps
                               if g.quality >= cfg.min_quality and id(g) not in lifted])

    def _clear_jaws_first(self, grasps: List[Grasp3D], quality: Optional[np.ndarray]) -> int:
        """Jaw clearance (:mod:`mtg_grasp_ros.jaw_clearance`): sort ``grasps`` in place so that
        those whose fingers would land on another object come after every clear one (each group
        keeps its order); ``quality``: the smoothed (H, W) map the grasps were read from.
        Returns how many are blocked (0 when the check is off)."""
        cfg = self.config
        if cfg.jaw_clearance <= 0 or quality is None or not grasps:
            return 0
        flags = [g.width_m > 0 and fingers_blocked(
            g.network, quality, cfg.jaw_clearance * g.network.width / g.width_m,
            cfg.clearance_fraction) for g in grasps]
        grasps[:] = [g for _, g in sorted(zip(flags, grasps), key=lambda p: p[0])]
        return sum(flags)

    def _detect(self, x: np.ndarray, want_maps: bool
                ) -> Tuple[List[Grasp], float, Optional[GraspMaps], Dict[str, float],
                           Optional[np.ndarray]]:
        """Network + post-processing: grasps in network pixels (best first, no quality cut),
        the best quality, the maps (when asked for), timings and the smoothed (H, W) quality
        map (None on the device path when neither centring nor jaw clearance needs it)."""
        cfg = self.config
        t0 = time.perf_counter()
        if self.device_postprocess is not None:
            model = self.predictor.model
            tensor = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None]
            with torch.no_grad():
                with autocast(self.torch_device.type, self.predictor.precision):
                    outputs = model(tensor.to(self.torch_device))[:4]
                # Smoothing and peak search in float32, whatever the network ran in.
                outputs = [o.float() for o in outputs]
                if self.torch_device.type == 'cuda':
                    torch.cuda.synchronize(self.torch_device)
                t1 = time.perf_counter()
                quality, angle, width = self.device_postprocess.maps(outputs)
                grasps = self.device_postprocess.grasps(quality, angle, width, cfg.top_k,
                                                        cfg.min_distance)
                maps = quality_map = None
                if grasps is None or want_maps:
                    maps = GraspMaps(quality=quality.cpu().numpy(), angle=angle.cpu().numpy(),
                                     width=width.cpu().numpy())
                    quality_map = maps.quality.squeeze()
                elif cfg.centring_fraction > 0 or cfg.jaw_clearance > 0:
                    quality_map = quality.cpu().numpy().squeeze()
                if grasps is None:
                    grasps = top_grasps(maps, top_k=cfg.top_k, min_distance=cfg.min_distance,
                                        centring_fraction=cfg.centring_fraction)
                elif cfg.centring_fraction > 0:
                    grasps = [centre_on_object(g, quality_map, cfg.centring_fraction)
                              for g in grasps]
        else:
            raw = self.predictor.raw_maps(x)
            t1 = time.perf_counter()
            if want_maps:  # the debug image shows the whole smoothed maps
                maps = self.predictor.smooth(raw)
                grasps = top_grasps(maps, top_k=cfg.top_k, min_distance=cfg.min_distance,
                                    centring_fraction=cfg.centring_fraction)
                quality_map = maps.quality
            else:  # the same grasps; angle and width smoothed at the peaks only
                maps = None
                sigmas = self.predictor.sigmas
                quality_map = gaussian_smooth(as_map(raw[0]), sigmas['quality'])
                grasps = grasps_from_smoothed_quality(
                    quality_map, *raw[1:], sigma_angle=sigmas['angle'],
                    sigma_width=sigmas['width'], width_scale=self.predictor.width_scale,
                    top_k=cfg.top_k, min_distance=cfg.min_distance,
                    centring_fraction=cfg.centring_fraction)
        t2 = time.perf_counter()
        best = grasps[0].quality if grasps else -math.inf
        return (grasps, best, maps, {'inference': t1 - t0, 'postprocess': t2 - t1},
                quality_map)


def jaws_in_view(grasp: Grasp, size: int) -> bool:
    """True when the 4 corners of ``grasp``'s rectangle (network px) lie inside the
    ``size`` x ``size`` network input (pixel centres 0 .. size - 1, half a pixel of slack)."""
    corners = grasp.corners()
    return bool(np.all(corners >= -0.5) and np.all(corners <= size - 0.5))


def describe_exception(exc: BaseException) -> Tuple[str, str]:
    """``(reason, message)`` of a per-frame exception, for counting and logging."""
    reason = getattr(exc, 'reason', None)
    if not isinstance(reason, str):
        reason = 'internal_error'
    return reason, f'{type(exc).__name__}: {exc}'


__all__ = ['APPROACHES', 'DEPTH_SOURCES', 'FrameResult', 'Grasp3D', 'GraspPipeline',
           'JAWS_OUTSIDE_VIEW', 'NoDepthError', 'PipelineConfig', 'PipelineConfigError',
           'SizeMismatchError', 'describe_exception', 'jaws_in_view']
