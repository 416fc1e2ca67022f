"""One camera frame -> 3-D grasps in the target frame: the ROS-free core of the node.

Stages (each timed, see :attr:`FrameResult.timings`):

1. **preprocess** -- crop the camera image to a square and resize it to the model's
   ``input_size`` (:mod:`mtg_grasp_ros.crop`), then :func:`mtg_grasp_ros.preprocess.network_input`
   (the only normalisation, shared with training).
2. **inference** -- the deploy model in PyTorch (CPU or CUDA) or ONNX Runtime.
3. **postprocess** -- Gaussian smoothing and the top-k quality peaks. On CUDA the smoothing is a
   separable ``conv2d`` with the same Gaussian kernel and border as OpenCV's and the peak search
   a ``max_pool2d``/``topk`` on the GPU, so only the k grasps are copied back; on the CPU the
   maps go through :func:`mtg_grasp_ros.postprocess.smooth_maps` / ``top_grasps``.
4. **geometry** -- each grasp pixel back to the camera image, its ray intersected with the
   support plane (``depth_source='plane'``) or deprojected at the aligned depth
   (``'depth_topic'``), the jaw end points likewise, everything moved into the target frame, and
   the orientation built as :mod:`mtg_grasp_ros.transforms` documents.

Bad input raises an exception with a ``reason`` attribute (what the node counts frames by):
``size_mismatch``, ``no_depth``, ``no_plane_hit``, ``bad_crop``, ``bad_transform`` ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math
import time
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from mtg_grasp_ros.camera_model import CameraModel, intersect_ray_plane, RayPlaneError
from mtg_grasp_ros.crop import CropRegion
from mtg_grasp_ros.grasp import Grasp
from mtg_grasp_ros.inference import GraspPredictor, native_bf16_cpu
from mtg_grasp_ros.postprocess import (gaussian_kernel, GraspMaps, grasps_from_raw,
                                       top_grasps)
from mtg_grasp_ros.preprocess import network_input
from mtg_grasp_ros.transforms import grasp_orientation, RigidTransform, TransformError

BACKENDS = ('auto', 'torch', 'onnx')
PRECISIONS = ('auto', 'fp32', 'bf16')
DEVICES = ('auto', 'cuda', 'cpu')
DEPTH_SOURCES = ('plane', 'depth_topic')
APPROACHES = ('top_down', 'camera')
#: The GPU peak search copies back this many peaks per requested grasp before the distance
#: filter; if that is not enough (plateaus), it falls back to copying the whole map.
_PEAKS_PER_GRASP = 16


class PipelineConfigError(ValueError):
    """An invalid pipeline setting (raised at start-up, not per frame)."""


class SizeMismatchError(ValueError):
    """The image, CameraInfo or depth image sizes do not agree."""

    reason = 'size_mismatch'


class NoDepthError(ValueError):
    """No valid depth reading at the grasp pixel (or no depth image at all)."""

    reason = 'no_depth'


@dataclass
class PipelineConfig:
    """Settings of :class:`GraspPipeline` (the node's parameters of the same names)."""

    top_k: int = 5
    min_distance: int = 10           # px of the network's output, between top-k peaks
    min_quality: float = 0.2
    sigma_quality: float = -1.0      # < 0: the model's metadata value; 0: no smoothing
    sigma_angle: float = -1.0
    sigma_width: float = -1.0
    crop_size: int = -1              # camera px; <= 0: min(width, height)
    crop_x: int = -1                 # < 0: centred
    crop_y: int = -1
    depth_source: str = 'plane'
    plane_point: Tuple[float, float, float] = (0.0, 0.0, 0.0)   # target frame
    plane_normal: Tuple[float, float, float] = (0.0, 0.0, 1.0)  # target frame, towards camera
    object_height: float = 0.0       # grasp centre this far above the plane, along the normal
    depth_window: int = 5            # odd side of the median window for depth_topic
    depth_min: float = 0.05
    depth_max: float = 10.0
    approach: str = 'top_down'
    rectified: bool = True           # False: undistort grasp pixels with CameraInfo's D
    device_postprocess: str = 'auto'  # auto (on CUDA only), always, never

    def validate(self) -> 'PipelineConfig':
        problems = []
        if self.top_k < 1:
            problems.append('top_k must be >= 1')
        if self.min_distance < 1:
            problems.append('min_distance must be >= 1')
        if self.depth_source not in DEPTH_SOURCES:
            problems.append(f'depth_source must be one of {DEPTH_SOURCES}')
        if self.approach not in APPROACHES:
            problems.append(f'approach must be one of {APPROACHES}')
        if self.device_postprocess not in ('auto', 'always', 'never'):
            problems.append('device_postprocess must be auto, always or never')
        if self.depth_window < 1:
            problems.append('depth_window must be >= 1')
        if not 0 <= self.depth_min < self.depth_max:
            problems.append('need 0 <= depth_min < depth_max')
        normal = np.asarray(self.plane_normal, dtype=np.float64)
        if normal.shape != (3,) or not np.isfinite(normal).all() or np.linalg.norm(normal) < 1e-9:
            problems.append('plane_normal must be 3 finite numbers, not all zero')
        point = np.asarray(self.plane_point, dtype=np.float64)
        if point.shape != (3,) or not np.isfinite(point).all():
            problems.append('plane_point must be 3 finite numbers')
        if not math.isfinite(self.object_height):
            problems.append('object_height must be finite')
        if problems:
            raise PipelineConfigError('; '.join(problems))
        return self

    @property
    def unit_normal(self) -> np.ndarray:
        normal = np.asarray(self.plane_normal, dtype=np.float64)
        return normal / np.linalg.norm(normal)


@dataclass
class Grasp3D:
    """A grasp in the target frame (see :mod:`mtg_grasp_ros.transforms` for the pose axes)."""

    position: np.ndarray       # (3,) grasp centre, metres
    orientation: np.ndarray    # (4,) quaternion (x, y, z, w)
    rotation: np.ndarray       # (3, 3) columns: closing axis, z x x, approach
    yaw: float                 # closing axis about the target z axis, [-pi/2, pi/2)
    width_m: float             # gripper opening, metres
    quality: float
    depth: float               # z of the centre in the camera's optical frame (GG-CNN's depth)
    pixel: Grasp               # in camera image pixels
    network: Grasp             # in network input pixels
    jaw_points: np.ndarray     # (2, 3) the two jaw positions, target frame

    @property
    def closing_axis(self) -> np.ndarray:
        return self.rotation[:, 0]

    @property
    def approach(self) -> np.ndarray:
        return self.rotation[:, 2]


@dataclass
class FrameResult:
    """The outcome of one frame."""

    grasps: List[Grasp3D]                  # best first; empty when no peak >= min_quality
    best_quality: float                    # highest quality of the frame (before min_quality)
    region: CropRegion
    timings: Dict[str, float] = field(default_factory=dict)  # seconds per stage and 'total'
    rejected: int = 0                      # candidates with no 3-D point (no depth / plane)
    maps: Optional[GraspMaps] = None       # smoothed maps, when asked for (debug image)
    network_image: Optional[np.ndarray] = None  # the S x S RGB crop fed to the network
    network_grasps: List[Grasp] = field(default_factory=list)


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when PyTorch sees a GPU, else ``cpu``; ``cuda`` without one fails."""
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


class TorchPostprocess:
    """Smoothing and top-k peaks on the model's device; copies back only the grasps."""

    def __init__(self, sigmas: Dict[str, float], width_scale: float,
                 device: torch.device) -> None:
        self.device = torch.device(device)
        self.width_scale = float(width_scale)
        self.kernels = {name: (torch.as_tensor(gaussian_kernel(s), dtype=torch.float32,
                                               device=self.device) if s > 0 else None)
                        for name, s in sigmas.items()}

    def smooth(self, x: torch.Tensor, name: str) -> torch.Tensor:
        """Separable Gaussian of an (N, 1, H, W) map with a replicated border (as OpenCV)."""
        kernel = self.kernels[name]
        if kernel is None:
            return x
        r = (kernel.numel() - 1) // 2
        x = F.conv2d(F.pad(x, (r, r, 0, 0), mode='replicate'), kernel.view(1, 1, 1, -1))
        return F.conv2d(F.pad(x, (0, 0, r, r), mode='replicate'), kernel.view(1, 1, -1, 1))

    def maps(self, outputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        """Smoothed ``(quality, angle, width_px)`` maps, each (H, W), on the device."""
        quality, cos2, sin2, width = (o.float().reshape(1, 1, *o.shape[-2:]) for o in outputs)
        quality = self.smooth(quality, 'quality')
        angle = 0.5 * torch.atan2(self.smooth(sin2, 'angle'), self.smooth(cos2, 'angle'))
        width = self.smooth(width, 'width') * self.width_scale
        return quality[0, 0], angle[0, 0], width[0, 0]

    def grasps(self, quality: torch.Tensor, angle: torch.Tensor, width: torch.Tensor,
               top_k: int, min_distance: int) -> Optional[List[Grasp]]:
        """The same grasps as :func:`mtg_grasp_ros.postprocess.top_grasps` (no min_quality).

        Returns None in the rare case that the copied peaks do not hold ``top_k`` grasps far
        enough apart (quality plateaus); the caller then falls back to the full maps.
        """
        h, w = quality.shape
        if top_k == 1:
            index = torch.argmax(quality.reshape(-1)).reshape(1)
        else:
            size = 2 * max(1, int(min_distance)) + 1
            dilated = F.max_pool2d(quality[None, None], size, stride=1,
                                   padding=size // 2)[0, 0]
            peaks = torch.where(quality >= dilated, quality,
                                torch.full_like(quality, -math.inf)).reshape(-1)
            k = min(peaks.numel(), top_k * _PEAKS_PER_GRASP)
            index = torch.topk(peaks, k, sorted=True).indices
        flat = torch.stack([quality.reshape(-1)[index], angle.reshape(-1)[index],
                            width.reshape(-1)[index]])
        values = flat.cpu().numpy()  # the only device -> host copy of the frame
        index = index.cpu().numpy()
        chosen: List[Tuple[int, int, int]] = []
        for j, flat_index in enumerate(index):
            if not math.isfinite(values[0, j]):
                break  # -inf: no more peaks
            r, c = divmod(int(flat_index), w)
            if all((r - r0) ** 2 + (c - c0) ** 2 >= min_distance ** 2 for r0, c0, _ in chosen):
                chosen.append((r, c, j))
            if len(chosen) == top_k:
                break
        if (len(chosen) < top_k and len(index) < quality.numel()
                and np.isfinite(values[0]).all()):
            return None  # plateaus: too few distinct peaks among those copied; caller falls back
        result = []
        for r, c, j in chosen:
            wd = max(float(values[2, j]), 0.0)
            result.append(Grasp(row=float(r), col=float(c), angle=float(values[1, j]), width=wd,
                                jaw_size=wd / 2.0, quality=float(values[0, j])))
        return result


class GraspPipeline:
    """Camera frame -> grasps in the target frame. Thread-compatible, not thread-safe."""

    def __init__(self, predictor: GraspPredictor, config: Optional[PipelineConfig] = None,
                 device: Optional[str] = None) -> None:
        self.predictor = predictor
        self.config = (config or PipelineConfig()).validate()
        for name in ('quality', 'angle', 'width'):
            value = getattr(self.config, f'sigma_{name}')
            if value is not None and value >= 0:
                predictor.sigmas[name] = float(value)
        self.input_size = int(predictor.input_size or 300)
        self.input_mode = predictor.input_mode or 'rgb'
        if self.input_mode in ('depth', 'rgbd') and self.config.depth_source != 'depth_topic':
            raise PipelineConfigError(
                f'the model takes {self.input_mode} input: set depth_source to depth_topic and '
                f'provide an aligned depth image')
        self.torch_device = None
        if predictor.model is not None:
            parameter = next(predictor.model.parameters(), None)
            self.torch_device = parameter.device if parameter is not None else torch.device(
                'cpu')
        self.device = device or (self.torch_device.type if self.torch_device is not None
                                 else 'cpu')
        use_device = self.config.device_postprocess
        self.device_postprocess: Optional[TorchPostprocess] = None
        if self.torch_device is not None and (
                use_device == 'always' or (use_device == 'auto' and self.device == 'cuda')):
            self.device_postprocess = TorchPostprocess(predictor.sigmas, predictor.width_scale,
                                                       self.torch_device)

    @classmethod
    def from_deploy(cls, path, backend: str = 'torch', device: str = 'auto', threads: int = 0,
                    config: Optional[PipelineConfig] = None,
                    precision: str = 'fp32') -> 'GraspPipeline':
        """Load a deploy model (:mod:`mtg_grasp_ros.deploy`) on a backend and device.

        ``backend='auto'``: PyTorch (channels_last on a CPU) when the model has its safetensors
        weights, else ONNX Runtime. Measured through ROS 2 on a 2-core CPU at 60 Hz, PyTorch
        processed 59.9 frames/s at 74% CPU where ONNX Runtime reached 57.3 at 100%
        (``python -m mtg_grasp_ros.ros_benchmark``; README "Real time on a CPU").
        ``precision``: ``fp32``, ``bf16`` (bfloat16 autocast, torch only) or ``auto`` = bf16 on a
        CPU that computes bfloat16 in hardware (measured here: the same held-out accuracy,
        348/388, at half the inference time), else fp32.
        Raises :class:`mtg_grasp_ros.deploy.DeployModelError` for a missing or corrupt model and
        :class:`PipelineConfigError` for an impossible backend/device/precision choice.
        """
        from mtg_grasp_ros import deploy

        if backend not in BACKENDS:
            raise PipelineConfigError(f'backend must be one of {BACKENDS}, got {backend!r}')
        if precision not in PRECISIONS:
            raise PipelineConfigError(
                f'precision must be one of {PRECISIONS}, got {precision!r}')
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
            model, metadata = deploy.load_torch_model(path, device=resolved)
            predictor = GraspPredictor(model=model, metadata=metadata, precision=precision)
            return cls(predictor, config, device=resolved)
        if precision == 'bf16':
            raise PipelineConfigError('precision bf16 needs backend torch (the ONNX graph is '
                                      'fp32); use precision: auto or fp32 with backend onnx')
        providers, resolved = onnx_providers(device)
        session, metadata = deploy.load_onnx_session(path, threads=threads or None,
                                                     providers=providers)
        active = session.get_providers()
        if resolved == 'cuda' and 'CUDAExecutionProvider' not in active:
            if device == 'cuda':
                raise PipelineConfigError(
                    f'device is cuda but ONNX Runtime runs on {active} (CUDA libraries missing?)')
            resolved = 'cpu'
        predictor = GraspPredictor(session=session, metadata=metadata)
        return cls(predictor, config, device=resolved)

    @property
    def backend(self) -> str:
        return self.predictor.backend

    @property
    def backend_label(self) -> str:
        """E.g. ``torch/cpu channels_last bf16`` or ``onnxruntime/cpu``, for logs and
        benchmarks."""
        if self.predictor.model is None:
            return f'onnxruntime/{self.device}'
        layout = (' channels_last' if self.predictor.memory_format == torch.channels_last
                  else '')
        precision = ' bf16' if self.predictor.precision == 'bf16' else ''
        return f'torch/{self.device}{layout}{precision}'

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
        grasps, best_quality, maps, timings = self._detect(x, want_maps)
        t2 = time.perf_counter()
        grasps_3d: List[Grasp3D] = []
        errors: List[Exception] = []
        for g in grasps:
            if g.quality < cfg.min_quality:
                continue
            try:
                grasps_3d.append(self._to_3d(g, region, camera, camera_to_target, depth))
            except (RayPlaneError, NoDepthError, TransformError) as exc:
                errors.append(exc)
        if errors and not grasps_3d:
            raise errors[0]
        t3 = time.perf_counter()
        timings.update(preprocess=t1 - t0, geometry=t3 - t2, total=t3 - t0)
        return FrameResult(grasps=grasps_3d, best_quality=best_quality, region=region,
                           timings=timings, rejected=len(errors), maps=maps,
                           network_image=net_rgb if want_maps else None,
                           network_grasps=[g for g in grasps if g.quality >= cfg.min_quality])

    def _detect(self, x: np.ndarray, want_maps: bool
                ) -> Tuple[List[Grasp], float, Optional[GraspMaps], Dict[str, float]]:
        """Network + post-processing: grasps in network pixels (best first, no quality cut)."""
        cfg = self.config
        t0 = time.perf_counter()
        if self.device_postprocess is not None:
            model = self.predictor.model
            tensor = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None]
            with torch.no_grad(), torch.autocast(self.torch_device.type, dtype=torch.bfloat16,
                                                 enabled=self.predictor.precision == 'bf16'):
                outputs = model(tensor.to(self.torch_device))[:4]
                if self.torch_device.type == 'cuda':
                    torch.cuda.synchronize(self.torch_device)
                t1 = time.perf_counter()
                quality, angle, width = self.device_postprocess.maps(outputs)
                grasps = self.device_postprocess.grasps(quality, angle, width, cfg.top_k,
                                                        cfg.min_distance)
                maps = None
                if grasps is None or want_maps:
                    maps = GraspMaps(quality=quality.cpu().numpy(), angle=angle.cpu().numpy(),
                                     width=width.cpu().numpy())
                if grasps is None:
                    grasps = top_grasps(maps, top_k=cfg.top_k, min_distance=cfg.min_distance)
        else:
            raw = self.predictor.raw_maps(x)
            t1 = time.perf_counter()
            if want_maps:  # the debug image shows the whole smoothed maps
                maps = self.predictor.smooth(raw)
                grasps = top_grasps(maps, top_k=cfg.top_k, min_distance=cfg.min_distance)
            else:  # the same grasps; angle and width smoothed at the peaks only
                maps = None
                sigmas = self.predictor.sigmas
                grasps = grasps_from_raw(*raw, sigma_quality=sigmas['quality'],
                                         sigma_angle=sigmas['angle'], sigma_width=sigmas['width'],
                                         width_scale=self.predictor.width_scale,
                                         top_k=cfg.top_k, min_distance=cfg.min_distance)
        t2 = time.perf_counter()
        best = grasps[0].quality if grasps else -math.inf
        return grasps, best, maps, {'inference': t1 - t0, 'postprocess': t2 - t1}

    def _to_3d(self, net_grasp: Grasp, region: CropRegion, camera: CameraModel,
               camera_to_target: RigidTransform, depth: Optional[np.ndarray]) -> Grasp3D:
        cfg = self.config
        g = region.grasp_to_camera(net_grasp)
        # Centre and jaw end points in camera pixels (u, v); the closing axis on screen is
        # (du, dv) = (cos a, -sin a). A zero width still needs a direction: use +-0.5 px.
        du, dv = math.cos(g.angle), -math.sin(g.angle)
        half = max(g.width / 2.0, 0.5)
        pixels = np.array([[g.col, g.row], [g.col - half * du, g.row - half * dv],
                           [g.col + half * du, g.row + half * dv]])
        raw_centre = pixels[0].copy()
        if not cfg.rectified:
            pixels = camera.rectify_pixels(pixels)
        rays = camera.pixel_to_ray(pixels[:, 0], pixels[:, 1])
        if cfg.depth_source == 'plane':
            normal = cfg.unit_normal
            point = np.asarray(cfg.plane_point, dtype=np.float64) + cfg.object_height * normal
            origin = camera_to_target.translation
            rays_t = camera_to_target.rotate(rays)
            points_t = np.stack([intersect_ray_plane(r, point, normal, origin) for r in rays_t])
            centre_cam = camera_to_target.inverse().apply(points_t[0])
            z = float(centre_cam[2])
            if not cfg.depth_min <= z <= cfg.depth_max:
                raise RayPlaneError(
                    f'the pixel ray meets the support plane {z:.3g} m from the camera, outside '
                    f'[depth_min, depth_max] = [{cfg.depth_min}, {cfg.depth_max}] m (grazing ray)')
        else:
            z = self._depth_at(depth, raw_centre)
            points_cam = rays * (z / rays[:, 2:3])
            points_t = camera_to_target.apply(points_cam)
        closing = points_t[2] - points_t[1]
        span = float(np.linalg.norm(closing))
        width_m = span * (g.width / 2.0) / half
        centre = points_t[0]
        if cfg.approach == 'top_down':
            approach = np.array([0.0, 0.0, -1.0])
        else:
            approach = camera_to_target.rotate(np.array([0.0, 0.0, 1.0]))
        orientation = grasp_orientation(closing, approach)
        jaws = np.stack([centre - orientation.closing_axis * width_m / 2.0,
                         centre + orientation.closing_axis * width_m / 2.0])
        return Grasp3D(position=centre, orientation=orientation.quaternion,
                       rotation=orientation.rotation, yaw=orientation.yaw, width_m=width_m,
                       quality=g.quality, depth=z, pixel=g, network=net_grasp, jaw_points=jaws)

    def _depth_at(self, depth: Optional[np.ndarray], pixel: np.ndarray) -> float:
        """Median of the valid depths in a window around ``pixel`` (u, v); NaN/0 ignored."""
        if depth is None:
            raise NoDepthError('no depth image for this frame')
        cfg = self.config
        h, w = depth.shape[:2]
        u, v = int(round(float(pixel[0]))), int(round(float(pixel[1])))
        r = cfg.depth_window // 2
        patch = np.asarray(depth[max(0, v - r):min(h, v + r + 1), max(0, u - r):min(w, u + r + 1)],
                           dtype=np.float64)
        valid = patch[np.isfinite(patch) & (patch >= cfg.depth_min) & (patch <= cfg.depth_max)]
        if valid.size == 0:
            raise NoDepthError(
                f'no valid depth within {cfg.depth_window} px of pixel ({u}, {v}) '
                f'(NaN, 0 or outside [{cfg.depth_min}, {cfg.depth_max}] m)')
        return float(np.median(valid))


def onnx_providers(device: str) -> Tuple[List[str], str]:
    """ONNX Runtime execution providers for ``device`` and the device they resolve to."""
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


def render_debug_image(result: FrameResult) -> Optional[np.ndarray]:
    """RGB uint8 image: the network's input crop under a quality heat-map, grasps drawn.

    The best grasp is green, the others yellow; each rectangle is jaw-size x opening, the
    closing axis along the long side. Returns None without maps (``want_maps=False``).
    """
    if result.maps is None or result.network_image is None:
        return None
    image = np.ascontiguousarray(result.network_image, dtype=np.uint8)
    quality = np.clip(np.nan_to_num(result.maps.quality), 0.0, 1.0)
    heat = cv2.applyColorMap((quality * 255).astype(np.uint8), cv2.COLORMAP_JET)[:, :, ::-1]
    if heat.shape[:2] != image.shape[:2]:
        heat = cv2.resize(heat, (image.shape[1], image.shape[0]))
    overlay = cv2.addWeighted(image, 0.5, np.ascontiguousarray(heat), 0.5, 0.0)
    for i, g in reversed(list(enumerate(result.network_grasps))):
        corners = np.round(g.corners()[:, ::-1]).astype(np.int32)  # (row, col) -> (x, y)
        colour = (0, 255, 0) if i == 0 else (255, 255, 0)
        cv2.polylines(overlay, [corners.reshape(-1, 1, 2)], True, colour, 2 if i == 0 else 1)
        cv2.circle(overlay, (int(round(g.col)), int(round(g.row))), 2, colour, -1)
    return overlay


def describe_exception(exc: BaseException) -> Tuple[str, str]:
    """``(reason, message)`` of a per-frame exception, for counting and logging."""
    reason = getattr(exc, 'reason', None)
    if not isinstance(reason, str):
        reason = 'internal_error'
    return reason, f'{type(exc).__name__}: {exc}'


__all__ = ['APPROACHES', 'BACKENDS', 'DEPTH_SOURCES', 'DEVICES', 'FrameResult', 'Grasp3D',
           'PRECISIONS', 'GraspPipeline', 'NoDepthError', 'PipelineConfig', 'PipelineConfigError',
           'SizeMismatchError', 'TorchPostprocess', 'describe_exception', 'gaussian_kernel',
           'onnx_providers', 'render_debug_image', 'resolve_device']
