"""The ROS-free frame pipeline: geometry end to end, depth sources, backends, GPU post-processing
(run here on the CPU with the same torch code), bad inputs."""

import math

import cv2
from model_fixtures import save_model, SIZE
import numpy as np
import pytest
import torch
from torch import nn

from mtg_grasp_ros import backends, deploy, inference
from mtg_grasp_ros.camera_model import CameraModel, RayPlaneError
from mtg_grasp_ros.crop import CropError
from mtg_grasp_ros.debug_image import render_debug_image
from mtg_grasp_ros.device_postprocess import TorchPostprocess
from mtg_grasp_ros.grasp import Grasp
from mtg_grasp_ros.inference import GraspPredictor
from mtg_grasp_ros.pipeline import (describe_exception, GraspPipeline, jaws_in_view,
                                    NoDepthError, PipelineConfig, PipelineConfigError,
                                    SizeMismatchError)
from mtg_grasp_ros.postprocess import gaussian_kernel, smooth_maps, top_grasps
from mtg_grasp_ros.transforms import RigidTransform

CAMERA = CameraModel(fx=500.0, fy=500.0, cx=319.5, cy=239.5, width=640, height=480)
TOP_DOWN = RigidTransform.from_xyz_rpy([0.1, -0.05, 0.5], [math.pi, 0.0, 0.0])


class RedDetector(nn.Module):
    """A stand-in network: quality = redness of the input, constant angle and width."""

    def __init__(self, angle: float = 0.0, width_px: float = 20.0) -> None:
        super().__init__()
        self.angle, self.width = angle, width_px

    def forward(self, x):
        q = x[:, 0:1] - 0.5 * (x[:, 1:2] + x[:, 2:3])
        ones = torch.ones_like(q)
        return (q, ones * math.cos(2 * self.angle), ones * math.sin(2 * self.angle),
                ones * self.width / 150.0)


def red_predictor(angle=0.0, width_px=20.0, sigma=2.0):
    meta = {'input_size': SIZE, 'input_mode': 'rgb', 'sigma': sigma, 'width_scale': 150.0,
            'network': 'red-detector'}
    return GraspPredictor(model=RedDetector(angle, width_px), metadata=meta)


def red_image(u0: int, v0: int, half: int = 20) -> np.ndarray:
    image = np.full((480, 640, 3), 90, np.uint8)
    image[v0 - half:v0 + half + 1, u0 - half:u0 + half + 1] = (255, 0, 0)
    return image


def plane_point(u, v, transform, height):
    """The point of pixel (u, v) on the plane z = height of the target frame (reference)."""
    origin = transform.translation
    ray = transform.rotate(CAMERA.pixel_to_ray(u, v))
    return origin + ray * (height - origin[2]) / ray[2]


@pytest.fixture(scope='module')
def random_model(tmp_path_factory):
    """Random weights, safetensors + JSON only (what the runtime can write)."""
    return save_model(tmp_path_factory.mktemp('model') / 'random')


@pytest.fixture(scope='module')
def random_onnx_model(tmp_path_factory):
    """The same weights with an ONNX graph too (skipped without the training layer)."""
    return save_model(tmp_path_factory.mktemp('model') / 'random', onnx=True)


def test_top_down_grasp_lands_on_the_object():
    # u = 82 + 5k, v = 2 + 5k sit exactly on network pixel centres (crop 80..560, x0.2).
    u0, v0, angle = 82 + 5 * 50, 2 + 5 * 30, math.radians(30)
    pipe = GraspPipeline(red_predictor(angle, 20.0), PipelineConfig(top_k=1, min_quality=0.5))
    result = pipe.process(red_image(u0, v0), CAMERA, TOP_DOWN)
    assert len(result.grasps) == 1 and result.rejected == 0
    g = result.grasps[0]
    assert (g.pixel.col, g.pixel.row) == pytest.approx((u0, v0))
    np.testing.assert_allclose(g.position, plane_point(u0, v0, TOP_DOWN, 0.0), atol=1e-9)
    assert g.position[2] == pytest.approx(0.0)
    assert g.yaw == pytest.approx(angle, abs=1e-6)         # CCW on screen = +yaw (looking down)
    assert g.width_m == pytest.approx(CAMERA.width_to_metres(100.0, 0.5))  # 20 px x 5 = 100 px
    assert g.depth == pytest.approx(0.5)
    np.testing.assert_allclose(g.approach, [0, 0, -1], atol=1e-12)
    np.testing.assert_allclose(g.closing_axis, [math.cos(angle), math.sin(angle), 0], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(g.jaw_points[1] - g.jaw_points[0]), g.width_m)
    assert set(result.timings) >= {'preprocess', 'inference', 'postprocess', 'geometry',
                                   'total'}


def test_object_height_and_a_tilted_camera():
    # A camera 0.6 m up and 0.3 m back, pitched down 60 degrees (optical frame, REP-103).
    look = RigidTransform.from_xyz_rpy([0, 0, 0], [-math.pi / 2, 0, -math.pi / 2])
    tilt = RigidTransform.from_xyz_rpy([-0.3, 0.0, 0.6], [0.0, math.radians(60), 0.0])
    camera_to_base = tilt @ look
    target = np.array([0.05, 0.02, 0.03])
    u, v = CAMERA.project(camera_to_base.inverse().apply(target))
    k_u, k_v = round((u - 82) / 5), round((v - 2) / 5)
    u0, v0 = 82 + 5 * k_u, 2 + 5 * k_v
    config = PipelineConfig(top_k=1, min_quality=0.5, object_height=0.03, approach='camera')
    result = GraspPipeline(red_predictor(), config).process(red_image(u0, v0), CAMERA,
                                                            camera_to_base)
    g = result.grasps[0]
    np.testing.assert_allclose(g.position, plane_point(u0, v0, camera_to_base, 0.03), atol=1e-9)
    assert np.linalg.norm(g.position - target) < 0.006  # within the 2.5 px pixel snapping
    np.testing.assert_allclose(g.approach, camera_to_base.rotation[:, 2], atol=1e-9)
    assert abs(np.dot(g.closing_axis, g.approach)) < 1e-9


def test_depth_topic_source_uses_the_median_valid_depth():
    u0, v0 = 82 + 5 * 40, 2 + 5 * 50
    depth = np.full((480, 640), 0.5, np.float32)
    depth[v0 - 1:v0 + 2, u0 - 1:u0 + 2] = np.nan
    depth[v0 + 2, u0 - 2:u0 + 3] = 0.0
    depth[v0 - 2, u0 - 2] = 0.52
    config = PipelineConfig(top_k=1, min_quality=0.5, depth_source='depth_topic')
    pipe = GraspPipeline(red_predictor(), config)
    g = pipe.process(red_image(u0, v0), CAMERA, TOP_DOWN, depth=depth).grasps[0]
    np.testing.assert_allclose(g.position, plane_point(u0, v0, TOP_DOWN, 0.0), atol=1e-9)
    assert g.width_m == pytest.approx(0.1)
    depth[v0 - 5:v0 + 6, u0 - 5:u0 + 6] = np.nan
    with pytest.raises(NoDepthError, match='no valid depth'):
        pipe.process(red_image(u0, v0), CAMERA, TOP_DOWN, depth=depth)
    with pytest.raises(NoDepthError):
        pipe.process(red_image(u0, v0), CAMERA, TOP_DOWN, depth=None)
    with pytest.raises(SizeMismatchError, match='aligned'):
        pipe.process(red_image(u0, v0), CAMERA, TOP_DOWN, depth=depth[:240])


def test_unrectified_pixels_are_undistorted():
    k = [500.0, 0, 319.5, 0, 500.0, 239.5, 0, 0, 1]
    d = [-0.25, 0.08, 0.0, 0.0, 0.0]
    raw_cam = CameraModel.from_camera_info(k, k[:3] + [0] + k[3:6] + [0] + k[6:] + [0], 640,
                                           480, d=d, distortion_model='plumb_bob')
    target = np.array([0.3, 0.12, 0.0])
    p_cam = TOP_DOWN.inverse().apply(target)
    raw, _ = cv2.projectPoints(p_cam[None], np.zeros(3), np.zeros(3), np.array(k).reshape(3, 3),
                               np.array(d))
    u, v = raw.reshape(2)
    u0, v0 = 82 + 5 * round((u - 82) / 5), 2 + 5 * round((v - 2) / 5)
    assert 80 < u0 < 560 and 0 < v0 < 480
    image = red_image(u0, v0, half=15)
    base = dict(top_k=1, min_quality=0.2)
    fixed = GraspPipeline(red_predictor(), PipelineConfig(rectified=False, **base))
    naive = GraspPipeline(red_predictor(), PipelineConfig(rectified=True, **base))
    err_fixed = np.linalg.norm(fixed.process(image, raw_cam, TOP_DOWN).grasps[0].position - target)
    err_naive = np.linalg.norm(naive.process(image, raw_cam, TOP_DOWN).grasps[0].position - target)
    assert err_fixed < 0.004 < err_naive


def test_min_quality_gives_no_grasps_but_the_best_quality():
    pipe = GraspPipeline(red_predictor(), PipelineConfig(top_k=3, min_quality=5.0))
    result = pipe.process(red_image(300, 200), CAMERA, TOP_DOWN)
    assert result.grasps == [] and 0.5 < result.best_quality < 5.0


def test_top_k_best_first():
    image = red_image(132, 152)
    image[300:341, 400:441] = (200, 0, 0)  # a second, less red object
    pipe = GraspPipeline(red_predictor(), PipelineConfig(top_k=4, min_quality=0.2))
    grasps = pipe.process(image, CAMERA, TOP_DOWN).grasps
    assert len(grasps) == 2
    assert grasps[0].quality > grasps[1].quality
    assert grasps[0].pixel.col == pytest.approx(132) and grasps[1].pixel.col > 400


def test_bad_inputs_raise_specific_errors():
    pipe = GraspPipeline(red_predictor(), PipelineConfig(top_k=1, min_quality=0.5))
    with pytest.raises(SizeMismatchError, match='CameraInfo says 640x480'):
        pipe.process(np.zeros((240, 320, 3), np.uint8), CAMERA, TOP_DOWN)
    with pytest.raises(SizeMismatchError):
        pipe.process(np.zeros((480, 640), np.uint8), CAMERA, TOP_DOWN)
    # The camera lies in the table plane: every ray is parallel to it or meets it at the camera.
    level = RigidTransform.from_xyz_rpy([0, 0, 0], [-math.pi / 2, 0, -math.pi / 2])
    with pytest.raises(RayPlaneError) as info:
        pipe.process(red_image(300, 200), CAMERA, level)
    assert describe_exception(info.value)[0] == 'no_plane_hit'
    # Looking up: the table is behind the camera.
    up = RigidTransform.from_xyz_rpy([0, 0, 0.5], [0, 0, 0])
    with pytest.raises(RayPlaneError, match='behind'):
        pipe.process(red_image(300, 200), CAMERA, up)
    cropped = GraspPipeline(red_predictor(), PipelineConfig(crop_size=600))
    with pytest.raises(CropError):
        cropped.process(red_image(300, 200), CAMERA, TOP_DOWN)
    assert describe_exception(KeyError('x'))[0] == 'internal_error'


def test_configure_changes_the_settings_and_keeps_the_model():
    """A live change: top_k, sigmas (-1 goes back to the model's own), the crop; a bad config
    is refused and the previous one kept."""
    image = red_image(132, 152)
    image[300:341, 400:441] = (200, 0, 0)  # a second, less red object
    predictor = red_predictor(sigma=2.0)
    pipe = GraspPipeline(predictor, PipelineConfig(top_k=4, min_quality=0.2, sigma_quality=0.0))
    assert predictor.sigmas == {'quality': 0.0, 'angle': 2.0, 'width': 2.0}
    assert len(pipe.process(image, CAMERA, TOP_DOWN).grasps) == 2
    pipe.configure(PipelineConfig(top_k=1, min_quality=0.2, sigma_angle=3.0))
    assert pipe.predictor is predictor
    assert predictor.sigmas == {'quality': 2.0, 'angle': 3.0, 'width': 2.0}
    (grasp,) = pipe.process(image, CAMERA, TOP_DOWN).grasps
    assert grasp.pixel.col == pytest.approx(132)
    pipe.configure(PipelineConfig(top_k=4, min_quality=0.2, crop_size=200, crop_x=300,
                                  crop_y=250))
    (grasp,) = pipe.process(image, CAMERA, TOP_DOWN).grasps   # only the second object
    assert grasp.pixel.col > 400
    with pytest.raises(PipelineConfigError, match='top_k'):
        pipe.configure(PipelineConfig(top_k=0))
    assert pipe.config.crop_size == 200


def test_invalid_configuration():
    with pytest.raises(PipelineConfigError, match='top_k'):
        PipelineConfig(top_k=0).validate()
    with pytest.raises(PipelineConfigError, match='plane_normal'):
        PipelineConfig(plane_normal=(0.0, 0.0, 0.0)).validate()
    with pytest.raises(PipelineConfigError, match='depth_source'):
        PipelineConfig(depth_source='lidar').validate()
    depth_model = GraspPredictor(model=RedDetector(), metadata={'input_mode': 'depth'})
    with pytest.raises(PipelineConfigError, match='depth_topic'):
        GraspPipeline(depth_model, PipelineConfig())


def test_gaussian_kernel_is_opencvs():
    for sigma in (0.7, 2.0, 5.0):
        k = gaussian_kernel(sigma)
        ref = cv2.getGaussianKernel(len(k), sigma, cv2.CV_64F).ravel()
        np.testing.assert_allclose(k, ref, atol=1e-12)


@pytest.mark.parametrize('top_k', [1, 5])
@pytest.mark.parametrize('sigmas', [(5.0, 5.0, 5.0), (2.0, 1.0, 0.0)])
def test_device_postprocess_equals_opencv(top_k, sigmas):
    """The CUDA path's torch smoothing and peak search, run on the CPU, give OpenCV's grasps."""
    rng = np.random.default_rng(top_k)
    raw = [cv2.GaussianBlur(rng.normal(size=(64, 80)).astype(np.float32), (0, 0), 3)
           for _ in range(4)]
    names = ('quality', 'angle', 'width')
    post = TorchPostprocess(dict(zip(names, sigmas)), 150.0, torch.device('cpu'))
    q, a, w = post.maps([torch.from_numpy(m)[None, None] for m in raw])
    ref = smooth_maps(*raw, sigma_quality=sigmas[0], sigma_angle=sigmas[1],
                      sigma_width=sigmas[2], width_scale=150.0)
    np.testing.assert_allclose(q.numpy(), ref.quality, atol=1e-5)
    np.testing.assert_allclose(a.numpy(), ref.angle, atol=1e-4)
    np.testing.assert_allclose(w.numpy(), ref.width, atol=1e-3)
    got = post.grasps(q, a, w, top_k, 10)
    want = top_grasps(ref, top_k=top_k, min_distance=10)
    assert [(g.row, g.col) for g in got] == [(g.row, g.col) for g in want]
    for g, h in zip(got, want):
        assert g.quality == pytest.approx(h.quality, abs=1e-5)
        assert g.width == pytest.approx(h.width, abs=1e-3)


def test_device_postprocess_plateau_falls_back():
    post = TorchPostprocess({'quality': 0.0, 'angle': 0.0, 'width': 0.0}, 150.0, 'cpu')
    flat = torch.zeros(40, 40)
    assert post.grasps(flat, flat, flat, 3, 30) is None  # all pixels are 'peaks'
    pipe = GraspPipeline(red_predictor(sigma=0.0),
                         PipelineConfig(top_k=3, min_quality=-1.0, min_distance=30,
                                        device_postprocess='always'))
    grasps = pipe.process(np.full((480, 640, 3), 90, np.uint8), CAMERA, TOP_DOWN).grasps
    assert len(grasps) == 3


def test_pipeline_on_device_path_matches_cpu_path():
    image = red_image(132, 152)
    image[300:341, 400:441] = (200, 0, 0)
    results = []
    for mode in ('never', 'always'):
        pipe = GraspPipeline(red_predictor(), PipelineConfig(top_k=3, min_quality=0.1,
                                                             device_postprocess=mode))
        assert (pipe.device_postprocess is not None) == (mode == 'always')
        results.append(pipe.process(image, CAMERA, TOP_DOWN, want_maps=True))
    a, b = results
    assert len(a.grasps) == len(b.grasps) == 2
    for g, h in zip(a.grasps, b.grasps):
        np.testing.assert_allclose(g.position, h.position, atol=1e-9)
        assert g.quality == pytest.approx(h.quality, abs=1e-5)
    np.testing.assert_allclose(a.maps.quality, b.maps.quality, atol=1e-5)


def test_exported_model_on_torch_and_onnx(random_onnx_model):
    image = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    config = PipelineConfig(top_k=3, min_quality=-math.inf)
    model = random_onnx_model
    torch_pipe = GraspPipeline.from_deploy(model, backend='torch', device='cpu', config=config)
    onnx_pipe = GraspPipeline.from_deploy(model, backend='onnx', device='auto', config=config)
    auto_pipe = GraspPipeline.from_deploy(model, backend='auto', device='auto', config=config)
    assert (torch_pipe.backend, onnx_pipe.backend) == ('torch', 'onnx')
    assert auto_pipe.backend == 'torch'  # the fastest on a CPU too (channels_last)
    assert 'ggcnn (rgb, 96 px)' in onnx_pipe.describe()
    for pipe in (torch_pipe, onnx_pipe):
        pipe.warm_up()
    a = torch_pipe.process(image, CAMERA, TOP_DOWN)
    b = onnx_pipe.process(image, CAMERA, TOP_DOWN, want_maps=True)
    assert len(a.grasps) == len(b.grasps) >= 1
    for g, h in zip(a.grasps, b.grasps):
        assert (g.pixel.row, g.pixel.col) == (h.pixel.row, h.pixel.col)
        np.testing.assert_allclose(g.position, h.position, atol=1e-6)
        assert g.quality == pytest.approx(h.quality, abs=1e-4)
    debug = render_debug_image(b)
    assert debug.shape == (SIZE, SIZE, 3) and debug.dtype == np.uint8
    assert render_debug_image(a) is None


def test_backend_and_device_errors(random_model, tmp_path):
    with pytest.raises(PipelineConfigError, match='backend'):
        GraspPipeline.from_deploy(random_model, backend='tensorrt')
    with pytest.raises(PipelineConfigError, match='device'):
        GraspPipeline.from_deploy(random_model, backend='torch', device='tpu')
    if not torch.cuda.is_available():
        with pytest.raises(PipelineConfigError, match='no GPU'):
            GraspPipeline.from_deploy(random_model, backend='torch', device='cuda')
    with pytest.raises(deploy.DeployModelError, match='not found'):
        GraspPipeline.from_deploy(tmp_path / 'missing', backend='onnx')
    no_onnx = save_model(tmp_path / 'plain', onnx=False)
    assert GraspPipeline.from_deploy(no_onnx, backend='auto', device='cpu').backend == 'torch'


def test_auto_backend_without_weights_is_onnx(tmp_path):
    onnx_only = save_model(tmp_path / 'onnx_only', onnx=True)
    onnx_only.with_suffix('.safetensors').unlink()
    assert GraspPipeline.from_deploy(onnx_only, backend='auto', device='cpu').backend == 'onnx'


def test_bf16_precision_is_close_to_fp32_and_torch_only(random_model, monkeypatch):
    """bfloat16 autocast changes the maps only at bf16 resolution; ONNX cannot do it; auto
    follows the CPU's hardware support."""
    x = np.random.default_rng(3).normal(size=(3, SIZE, SIZE)).astype(np.float32) * 0.2
    fp32 = GraspPipeline.from_deploy(random_model, backend='torch', device='cpu',
                                     precision='fp32')
    bf16 = GraspPipeline.from_deploy(random_model, backend='torch', device='cpu',
                                     precision='bf16')
    assert bf16.backend_label.endswith(' bf16') and fp32.backend_label.endswith(' fp32')
    for a, b in zip(fp32.predictor.raw_maps(x), bf16.predictor.raw_maps(x)):
        assert a.dtype == b.dtype == np.float32
        scale = float(np.abs(a).max()) + 1e-6
        assert float(np.abs(a - b).max()) <= 0.05 * scale
        assert float(np.abs(a - b).max()) > 0.0  # it really ran in bf16
    with pytest.raises(PipelineConfigError, match='bf16'):
        GraspPipeline.from_deploy(random_model, backend='onnx', precision='bf16')
    with pytest.raises(PipelineConfigError, match='precision'):
        GraspPipeline.from_deploy(random_model, backend='torch', precision='fp16')
    for native, expected in ((True, 'bf16'), (False, 'fp32')):
        monkeypatch.setattr(backends, 'native_bf16_cpu', lambda: native)
        auto = GraspPipeline.from_deploy(random_model, backend='torch', device='cpu',
                                         precision='auto')
        assert auto.predictor.precision == expected


def test_onnx_precision_auto_is_fp32(random_onnx_model):
    onnx_auto = GraspPipeline.from_deploy(random_onnx_model, backend='onnx', precision='auto')
    assert onnx_auto.predictor.precision == 'fp32'


def test_fp16_precision_needs_torch_on_cuda(random_model, monkeypatch):
    """fp16 (float16 autocast) is a GPU precision: refused at start-up on a CPU (also when
    device auto finds no GPU) and with ONNX, naming the value and what to use instead; auto
    never picks it."""
    assert 'fp16' in backends.PRECISIONS
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    for device in ('cpu', 'auto'):
        with pytest.raises(PipelineConfigError,
                           match=r'precision fp16 needs a CUDA device.*fp32 or bf16'):
            GraspPipeline.from_deploy(random_model, backend='torch', device=device,
                                      precision='fp16')
    for device in ('cpu', 'auto'):
        with pytest.raises(PipelineConfigError,
                           match=r'precision fp16 needs backend torch on device cuda.*fp32'):
            GraspPipeline.from_deploy(random_model, backend='onnx', device=device,
                                      precision='fp16')
    for native in (True, False):
        monkeypatch.setattr(backends, 'native_bf16_cpu', lambda: native)
        auto = GraspPipeline.from_deploy(random_model, backend='torch', device='auto',
                                         precision='auto')
        assert auto.predictor.precision in ('bf16', 'fp32')


def test_fp16_predictor_and_autocast_refuse_a_cpu_model():
    """The predictor and its autocast context hold the same rule as the loader; fp16 maps to
    float16 autocast, bf16 to bfloat16, fp32 to none."""
    with pytest.raises(ValueError, match='fp16 needs the model on a CUDA device'):
        GraspPredictor(model=RedDetector(), precision='fp16')
    with pytest.raises(ValueError, match='fp16 needs a CUDA device'):
        inference.autocast('cpu', 'fp16')
    with pytest.raises(ValueError, match='precision must be one of'):
        inference.autocast('cpu', 'fp8')
    assert inference.AUTOCAST_DTYPES == {'bf16': torch.bfloat16, 'fp16': torch.float16}
    bf16, fp32 = inference.autocast('cpu', 'bf16'), inference.autocast('cpu', 'fp32')
    assert bf16.fast_dtype == torch.bfloat16 and bf16._enabled and not fp32._enabled


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')
def test_fp16_on_cuda_is_close_to_fp32(random_model):
    """On a GPU: float16 autocast, float32 maps close to fp32's, the label says fp16, and the
    device post-processing runs on its outputs."""
    x = np.random.default_rng(4).normal(size=(3, SIZE, SIZE)).astype(np.float32) * 0.2
    fp32 = GraspPipeline.from_deploy(random_model, backend='torch', device='cuda',
                                     precision='fp32')
    fp16 = GraspPipeline.from_deploy(random_model, backend='torch', device='cuda',
                                     precision='fp16')
    assert fp16.predictor.precision == 'fp16' and fp16.backend_label.endswith('fp16')
    for a, b in zip(fp32.predictor.raw_maps(x), fp16.predictor.raw_maps(x)):
        assert a.dtype == b.dtype == np.float32
        assert float(np.abs(a - b).max()) <= 0.01 * (float(np.abs(a).max()) + 1e-6)
    assert fp16.device_postprocess is not None
    fp16.warm_up()


def test_jaws_in_view_rule_on_a_single_grasp():
    inside = Grasp(row=50.0, col=50.0, angle=0.0, width=40.0, jaw_size=10.0)
    assert jaws_in_view(inside, 100)
    # The closing axis runs along the columns (angle 0): 30 + 40/2 = 50 px > 99.5 leaves nothing
    # when the centre moves to column 85; across the jaws (rows) 5 px either side of the centre.
    assert not jaws_in_view(Grasp(row=50.0, col=85.0, angle=0.0, width=40.0, jaw_size=10.0),
                            100)
    assert not jaws_in_view(Grasp(row=2.0, col=50.0, angle=0.0, width=40.0, jaw_size=10.0), 100)
    turned = Grasp(row=50.0, col=85.0, angle=math.pi / 2, width=40.0, jaw_size=10.0)
    assert jaws_in_view(turned, 100)  # closing along the rows: the columns span 80-90 only


@pytest.mark.parametrize('rule', ['keep', 'last', 'drop'])
def test_grasp_of_an_object_cut_by_the_crop_edge_keeps_its_rank_goes_last_or_goes(rule):
    # Two red objects: a strip at the crop's right edge (a jaw of its grasp lies outside the
    # crop) and a square inside it.
    image = red_image(320, 240, half=12)
    image[100:180, 545:560] = (255, 0, 0)
    pipe = GraspPipeline(red_predictor(width_px=40.0),
                         PipelineConfig(top_k=3, min_quality=0.1, jaws_outside_view=rule))
    result = pipe.process(image, CAMERA, TOP_DOWN)
    grasps = result.grasps
    cut = [i for i, g in enumerate(grasps) if g.pixel.col > 500]
    assert grasps and result.outside >= 1
    if rule != 'keep':  # the square inside the crop comes first
        assert abs(grasps[0].pixel.col - 320) < 3 and abs(grasps[0].pixel.row - 240) < 3
    if rule == 'keep':  # ranked by quality alone: the strip's grasp is published
        assert cut and [g.quality for g in grasps] == sorted(
            (g.quality for g in grasps), reverse=True)
    elif rule == 'last':  # still published, after every grasp inside the crop
        assert cut and cut == list(range(len(grasps) - len(cut), len(grasps)))
    else:
        assert not cut


def test_jaws_outside_view_rule_is_validated():
    with pytest.raises(PipelineConfigError, match='jaws_outside_view'):
        PipelineConfig(jaws_outside_view='skip').validate()
