"""``python -m tools.stage_benchmark``: per-stage latency of one camera frame, in-process.

What it measures, for a 640x480 ``rgb8`` ``sensor_msgs/Image`` of a held-out object on a table
(rendered once with pybullet when it is installed, else a synthetic picture), through the same
code the node runs (:class:`mtg_grasp_ros.pipeline.GraspPipeline`):

* ``convert``     message -> (H, W, 3) uint8 RGB
  (:func:`mtg_grasp_ros.image_conversion.image_to_rgb`)
* ``preprocess``  crop to a square, resize to the network input, normalise
* ``inference``   the network (each backend: PyTorch CPU, ONNX Runtime, ...)
* ``postprocess`` Gaussian smoothing and the top-k peak search
* ``geometry``    pixel -> ray -> support plane -> target frame, orientation

and the **naive baseline** in the same run: what a GG-CNN-style ROS wrapper does per frame
(NumPy message copy, OpenCV resize, a plain contiguous PyTorch forward under ``no_grad``,
``scipy.ndimage.gaussian_filter`` on the quality, angle and width maps, ``argmax``, pinhole
deprojection). The variants run **interleaved** (blocks of ``--block`` frames of each in turn,
in a shuffled order per round), so a noisy machine slows them all alike and the speed-up over
the baseline is a ratio that survives it. Reported per variant and stage: p50 and p99 in
milliseconds; FPS is 1 / mean total. ``--json`` writes every number.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path
import platform
import sys
import time
from types import SimpleNamespace
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from mtg_grasp_ros.deploy import default_model_path, DeployModelError
from mtg_grasp_ros.image_conversion import image_to_rgb
from mtg_grasp_ros.pipeline import GraspPipeline, PipelineConfig, PipelineConfigError
from simulation.camera import SimCamera
from simulation.messages import image_message
from simulation.tabletop import SimulatedScene

STAGES = ('convert', 'preprocess', 'inference', 'postprocess', 'geometry')
WIDTH, HEIGHT = 640, 480


# ------------------------------------------------------------------------------ the frame
def test_frame(seed: int = 0) -> np.ndarray:
    """A 640x480 RGB picture of a held-out object on the table (synthetic without pybullet)."""
    try:
        with SimulatedScene(camera=SimCamera(width=WIDTH, height=HEIGHT), seed=seed) as scene:
            scene.reset()
            return scene.render().rgb
    except Exception:  # no pybullet (e.g. on a robot): a bar on a textured table
        rng = np.random.default_rng(seed)
        rgb = (rng.normal(170, 12, (HEIGHT, WIDTH, 3))).clip(0, 255).astype(np.uint8)
        import cv2
        box = cv2.boxPoints(((WIDTH / 2, HEIGHT / 2), (160, 40), 30.0)).astype(np.int32)
        cv2.fillConvexPoly(rgb, box, (200, 60, 40))
        return rgb


def frame_message(rgb: np.ndarray):
    """The ``sensor_msgs/Image`` (``rgb8``) of an (H, W, 3) uint8 frame
    (:func:`simulation.messages.image_message`), or a stand-in with the same fields where the
    ROS message packages are missing."""
    try:
        return image_message(rgb)
    except ImportError:
        return SimpleNamespace(height=rgb.shape[0], width=rgb.shape[1], encoding='rgb8',
                               is_bigendian=0, step=rgb.shape[1] * 3, data=rgb.tobytes())


# ------------------------------------------------------------------------------ variants
class Variant:
    """One way to process a frame; ``run(msg)`` returns the stage timings in seconds."""

    name = ''

    def run(self, msg) -> Dict[str, float]:
        raise NotImplementedError


class PipelineVariant(Variant):
    """The node's own code path on one backend."""

    def __init__(self, name: str, pipeline, camera, camera_to_target, threads: int = 0) -> None:
        self.name, self.pipeline, self.threads = name, pipeline, threads
        self.camera, self.pose = camera, camera_to_target
        self._convert = image_to_rgb
        self.grasp = None

    def run(self, msg) -> Dict[str, float]:
        if self.pipeline.backend == 'torch':  # PyTorch's thread count is per process
            _set_torch_threads(self.threads)
        t0 = time.perf_counter()
        rgb = self._convert(msg)
        t1 = time.perf_counter()
        result = self.pipeline.process(rgb, self.camera, self.pose)
        timings = {k: result.timings[k] for k in STAGES[1:]}
        timings['convert'] = t1 - t0
        self.grasp = result.grasps[0] if result.grasps else None
        return timings


class NaiveVariant(Variant):
    """The per-frame path of a GG-CNN-style ROS wrapper (see the module docstring)."""

    name = 'naive torch (baseline)'

    def __init__(self, model_path, camera, camera_to_target, input_size: int = 300,
                 sigma: float = 2.0) -> None:
        import torch

        from mtg_grasp_ros import deploy

        self.torch = torch
        self.model, _ = deploy.load_torch_model(model_path, device='cpu')
        self.camera, self.pose = camera, camera_to_target
        self.size, self.sigma = input_size, sigma
        self.grasp_pixel = None

    def run(self, msg) -> Dict[str, float]:
        import cv2
        from scipy.ndimage import gaussian_filter

        torch = self.torch
        _set_torch_threads(0)
        t0 = time.perf_counter()
        rgb = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width, 3).copy()
        t1 = time.perf_counter()
        side = min(msg.height, msg.width)
        top, left = (msg.height - side) // 2, (msg.width - side) // 2
        crop = cv2.resize(rgb[top:top + side, left:left + side], (self.size, self.size))
        x = crop.astype(np.float32) / 255.0
        x -= x.mean()
        tensor = torch.from_numpy(x.transpose(2, 0, 1).copy()).unsqueeze(0)
        t2 = time.perf_counter()
        with torch.no_grad():
            quality, cos2, sin2, width = self.model(tensor)[:4]
        t3 = time.perf_counter()
        q = quality.squeeze().numpy()
        angle = 0.5 * np.arctan2(sin2.squeeze().numpy(), cos2.squeeze().numpy())
        w = width.squeeze().numpy() * 150.0
        q = gaussian_filter(q, self.sigma)
        angle = gaussian_filter(angle, self.sigma)
        w = gaussian_filter(w, self.sigma)
        row, col = np.unravel_index(int(np.argmax(q)), q.shape)
        t4 = time.perf_counter()
        scale = side / self.size
        u, v = left + (col + 0.5) * scale - 0.5, top + (row + 0.5) * scale - 0.5
        ray = self.camera.pixel_to_ray(np.array([u]), np.array([v]))[0]
        origin, direction = self.pose.translation, self.pose.rotate(ray)
        point = origin + direction * (-origin[2] / direction[2])  # the z = 0 table
        self.grasp_pixel = (float(u), float(v), float(angle[row, col]), float(w[row, col]),
                            point)
        t5 = time.perf_counter()
        return {'convert': t1 - t0, 'preprocess': t2 - t1, 'inference': t3 - t2,
                'postprocess': t4 - t3, 'geometry': t5 - t4}


_TORCH_DEFAULT_THREADS: Optional[int] = None


def _set_torch_threads(threads: int) -> None:
    """``threads`` > 0, else the count PyTorch chose at start (one per core)."""
    global _TORCH_DEFAULT_THREADS
    import torch
    if _TORCH_DEFAULT_THREADS is None:
        _TORCH_DEFAULT_THREADS = torch.get_num_threads()
    wanted = threads if threads > 0 else _TORCH_DEFAULT_THREADS
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)


# ------------------------------------------------------------------------------ the run
def default_camera():
    """The simulated camera's intrinsics and its top-down pose in ``world``."""
    camera = SimCamera(width=WIDTH, height=HEIGHT)
    return camera.model, camera.pose


def build_variants(model_path, backends: Sequence[str], threads: Sequence[int],
                   naive: bool = True, precisions: Sequence[str] = ('auto',),
                   device: str = 'cpu') -> List[Variant]:
    """The naive baseline (CPU) and a node pipeline per backend, precision and thread count
    on ``device`` (``cpu`` or ``cuda``: :func:`mtg_grasp_ros.backends.load_predictor`)."""
    camera, pose = default_camera()
    config = PipelineConfig(top_k=1, min_quality=-math.inf, object_height=0.02)
    variants: List[Variant] = []
    if naive:
        variants.append(NaiveVariant(model_path, camera, pose))
    _set_torch_threads(0)  # remember the default before any pipeline changes it
    for backend in backends:
        # ONNX graphs are fp32 only: one variant per thread count there.
        for precision in (dict.fromkeys(precisions) if backend != 'onnx' else ('fp32',)):
            for n in threads:
                pipeline = GraspPipeline.from_deploy(model_path, backend=backend, device=device,
                                                     threads=n, config=config,
                                                     precision=precision)
                pipeline.warm_up()
                label = f'{n} thread{"s" if n > 1 else ""}' if n > 0 else 'default threads'
                name = f'{pipeline.backend_label}, {label} (node)'
                if name not in {v.name for v in variants}:  # auto may resolve to fp32
                    variants.append(PipelineVariant(name, pipeline, camera, pose, threads=n))
    return variants


def measure(variants: Sequence[Variant], msg, frames: int, warmup: int, seed: int = 0,
            block: int = 10, progress: Optional[Callable[[int], None]] = None
            ) -> Dict[str, Dict[str, list]]:
    """Interleaved timing: rounds in which every variant, in a shuffled order, runs ``block``
    frames in a row, until each has ``frames``. Blocks rather than single frames because a
    variant right after another pays for the other's thread pools and caches (measured: the
    naive baseline took 29 ms per frame interleaved frame by frame, 21 ms alone)."""
    rng = np.random.default_rng(seed)
    for _ in range(warmup):
        for v in variants:
            v.run(msg)
    samples = {v.name: {s: [] for s in STAGES + ('total',)} for v in variants}
    done = 0
    while done < frames:
        n = min(block, frames - done)
        for j in rng.permutation(len(variants)):
            v = variants[j]
            v.run(msg)  # untimed: the first frame after a switch warms this variant up again
            for _ in range(n):
                timings = v.run(msg)
                for stage in STAGES:
                    samples[v.name][stage].append(timings[stage])
                samples[v.name]['total'].append(sum(timings[s] for s in STAGES))
        done += n
        if progress is not None:
            progress(n)
    return samples


def summarise(samples: Dict[str, Dict[str, list]], baseline: Optional[str]) -> Dict[str, dict]:
    """p50/p99 (ms) per stage, FPS = 1 / mean total, and the speed-up over ``baseline``."""
    out = {}
    for name, stages in samples.items():
        row = {}
        for stage, values in stages.items():
            ms = np.asarray(values, dtype=np.float64) * 1000.0
            row[stage] = {'p50': float(np.percentile(ms, 50)), 'p99': float(np.percentile(ms, 99)),
                          'mean': float(ms.mean())}
        row['fps'] = 1000.0 / row['total']['mean']
        out[name] = row
    if baseline in out:
        base = out[baseline]
        for row in out.values():
            row['speedup_p50'] = base['total']['p50'] / row['total']['p50']
            row['speedup_fps'] = row['fps'] / base['fps']
    return out


def markdown_table(summary: Dict[str, dict]) -> str:
    """One row per variant of :func:`summarise`: per stage p50 / p99 (ms), total, FPS and the
    speed-up over the baseline."""
    head = ('| variant | ' + ' | '.join(STAGES) + ' | total p50 / p99 | FPS | speed-up |\n'
            '|---|' + '---|' * (len(STAGES) + 3))
    lines = [head]
    for name, row in summary.items():
        cells = [f'{row[s]["p50"]:.2f} / {row[s]["p99"]:.2f}' for s in STAGES]
        speed = f'{row["speedup_p50"]:.2f}x' if 'speedup_p50' in row else ''
        lines.append(f'| {name} | ' + ' | '.join(cells)
                     + f' | **{row["total"]["p50"]:.1f}** / {row["total"]["p99"]:.1f} | '
                     f'{row["fps"]:.1f} | {speed} |')
    return '\n'.join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    """The benchmark's options (``--help``); ``model`` defaults to the package default."""
    parser = argparse.ArgumentParser(
        prog='python -m tools.stage_benchmark',
        description='Per-stage latency (convert, preprocess, inference, postprocess, geometry) '
                    "of one 640x480 rgb8 frame through the node's pipeline for each backend, "
                    'and of a naive GG-CNN-style PyTorch baseline measured in the same run '
                    '(interleaved), so the speed-up is a ratio that survives a noisy machine.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--model', type=Path, default=None,
                        help=f'deploy model (default: {default_model_path()})')
    parser.add_argument('--backends', nargs='+', default=['torch', 'onnx'],
                        help='node backends to time (see the node parameter backend)')
    parser.add_argument('--precisions', nargs='+', default=['auto', 'fp32'],
                        choices=('auto', 'fp32', 'bf16'),
                        help='network arithmetic of the torch variants (auto = the node '
                             'default: bf16 on a CPU with hardware bfloat16)')
    parser.add_argument('--threads', type=int, nargs='+', default=[0],
                        help='inference threads of the node variants, one variant per value '
                             'and backend (0 = the library default)')
    parser.add_argument('--frames', type=int, default=300, help='timed frames per variant')
    parser.add_argument('--warmup', type=int, default=20, help='untimed frames per variant')
    parser.add_argument('--block', type=int, default=10,
                        help='frames a variant runs in a row before the next one takes over')
    parser.add_argument('--no-baseline', action='store_true', help='skip the naive baseline')
    parser.add_argument('--json', type=Path, default=Path('runs/benchmark/stages.json'),
                        help='write all numbers here')
    args = parser.parse_args(argv)
    if args.model is None:
        args.model = default_model_path()
    if args.frames < 1 or args.warmup < 0 or args.block < 1:
        parser.error('--frames and --block must be >= 1 and --warmup >= 0')
    return args


def main(argv=None) -> int:
    """``python -m tools.stage_benchmark``: 0, or 2 when the model or a setting is unusable."""
    args = parse_args(argv)
    from tqdm import tqdm

    try:
        variants = build_variants(args.model, args.backends, args.threads,
                                  naive=not args.no_baseline, precisions=args.precisions)
    except (DeployModelError, PipelineConfigError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    msg = frame_message(test_frame())
    print(f'{len(variants)} variants x {args.frames} frames (+{args.warmup} warm-up), '
          f'interleaved; model {args.model}; {os.cpu_count()} CPUs, load average '
          f'{os.getloadavg()[0]:.2f}')
    with tqdm(total=args.frames, unit='frame', desc='timing') as bar:
        samples = measure(variants, msg, args.frames, args.warmup, block=args.block,
                          progress=bar.update)
    baseline = None if args.no_baseline else NaiveVariant.name
    summary = summarise(samples, baseline)
    print(f'\nper stage p50 / p99 in ms ({WIDTH}x{HEIGHT} rgb8, load average after: '
          f'{os.getloadavg()[0]:.2f})\n')
    print(markdown_table(summary))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        'model': str(args.model), 'frames': args.frames, 'threads': args.threads,
        'cpus': os.cpu_count(), 'machine': platform.processor() or platform.machine(),
        'summary': summary}, indent=1))
    print(f'\nwrote {args.json}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
