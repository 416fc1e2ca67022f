"""predict_maps, GraspPredictor and load_predictor with PyTorch and ONNX Runtime back ends."""

import math

from model_fixtures import export_onnx
import numpy as np
import pytest
import torch
from torch import nn

from mtg_grasp_ros import deploy
from mtg_grasp_ros.backends import load_predictor, PipelineConfigError
from mtg_grasp_ros.inference import GraspPredictor, predict_maps
from mtg_grasp_ros.models import build_model, count_parameters

SIZE = 64


class MapsModel(nn.Module):
    """Outputs fixed maps: one quality peak with a known angle and width (plus an aux map)."""

    def __init__(self, row, col, angle, width_px, size=SIZE, width_scale=150.0):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))
        q = torch.zeros(1, 1, size, size)
        q[0, 0, row - 3:row + 4, col - 3:col + 4] = 0.5
        q[0, 0, row, col] = 1.0
        self.register_buffer('q', q)
        self.register_buffer('cos', torch.full_like(q, math.cos(2 * angle)))
        self.register_buffer('sin', torch.full_like(q, math.sin(2 * angle)))
        self.register_buffer('width', torch.full_like(q, width_px / width_scale))

    def forward(self, x):
        n = x.shape[0]
        maps = (self.q, self.cos, self.sin, self.width, torch.full_like(self.q, 7.0))
        return tuple(m.expand(n, -1, -1, -1) + 0 * self.dummy for m in maps)


def test_predict_maps_shapes_drop_aux_and_match_model():
    torch.manual_seed(0)
    model = build_model('mtgcnn', 'rgb').eval()
    x = torch.randn(2, 3, SIZE, SIZE)
    maps = predict_maps(model, x)
    assert len(maps) == 4
    assert all(isinstance(m, np.ndarray) and m.dtype == np.float32 and m.shape == (2, SIZE, SIZE)
               for m in maps)
    with torch.no_grad():
        want = model(x)
    for m, w in zip(maps, want):
        np.testing.assert_array_equal(m, w[:, 0].numpy())
    single = predict_maps(model, x[1].numpy())  # (C, H, W) NumPy input
    assert all(m.shape == (SIZE, SIZE) for m in single)
    np.testing.assert_allclose(single[0], maps[0][1], atol=1e-6)
    with pytest.raises(ValueError):
        predict_maps(model, torch.zeros(SIZE, SIZE))


def test_predictor_reads_the_peak_angle_and_width():
    angle = math.radians(35.0)
    predictor = GraspPredictor(model=MapsModel(20, 41, angle, 30.0))
    grasps = predictor.predict(np.zeros((3, SIZE, SIZE), np.float32))
    assert len(grasps) == 1
    g = grasps[0]
    assert (g.row, g.col) == (20.0, 41.0)
    assert g.angle == pytest.approx(angle, abs=1e-4)
    assert g.width == pytest.approx(30.0, rel=1e-4) and g.jaw_size == pytest.approx(15.0, rel=1e-4)
    # Another angle gives another answer (the test is not vacuous).
    other = GraspPredictor(model=MapsModel(20, 41, -angle, 30.0)).predict(
        np.zeros((3, SIZE, SIZE), np.float32))[0]
    assert other.angle == pytest.approx(-angle, abs=1e-4)


def test_predictor_settings_from_metadata():
    model = MapsModel(30, 30, 0.0, 30.0)
    meta = {'width_scale': 300.0, 'sigma': {'quality': 1.0, 'angle': 2.0, 'width': 3.0},
            'input_size': SIZE, 'input_mode': 'rgb'}
    predictor = GraspPredictor(model=model, metadata=meta)
    assert predictor.sigmas == {'quality': 1.0, 'angle': 2.0, 'width': 3.0}
    assert predictor.input_size == SIZE and predictor.input_mode == 'rgb'
    g = predictor.predict(torch.zeros(3, SIZE, SIZE))[0]
    assert g.width == pytest.approx(60.0, rel=1e-4)  # the model says 30 px at scale 150
    assert GraspPredictor(model=model, sigma=0.0).sigmas['angle'] == 0.0
    with pytest.raises(ValueError):
        GraspPredictor()


def write_deploy_model(stem, onnx):
    """A random-init MTG-CNN deployed without a checkpoint: weights, metadata and, with
    ``onnx``, the ONNX graph (skipped without the training layer's exporter)."""
    torch.manual_seed(1)
    full = build_model('mtgcnn', 'rgb').eval()
    stripped = full.without_aux()
    deploy.save_weights(f'{stem}.safetensors', stripped)
    if onnx:
        export_onnx(stripped, stem.with_suffix('.onnx'), SIZE)
    meta = deploy.make_metadata('mtgcnn', 'rgb', SIZE, count_parameters(stripped),
                                count_parameters(full))
    deploy.write_metadata(stem, meta)
    return full, stem


@pytest.fixture(scope='module')
def deploy_model(tmp_path_factory):
    """Weights and metadata only: what the runtime itself can write."""
    return write_deploy_model(tmp_path_factory.mktemp('deploy') / 'mtg', onnx=False)


@pytest.fixture(scope='module')
def onnx_deploy_model(tmp_path_factory):
    """The same model with its ONNX graph."""
    return write_deploy_model(tmp_path_factory.mktemp('deploy') / 'mtg', onnx=True)


def test_torch_predictor_matches_the_full_model(deploy_model):
    full, stem = deploy_model
    x = torch.randn(3, SIZE, SIZE, generator=torch.Generator().manual_seed(2)).numpy()
    by_torch, device = load_predictor(stem, backend='torch', device='cpu')
    assert (by_torch.backend, device) == ('torch', 'cpu')
    assert by_torch.memory_format == torch.channels_last  # on a CPU: NHWC convolutions
    for a, b in zip(predict_maps(full, x), by_torch.raw_maps(x)):
        # Same weights; NHWC sums in another order than the full model's NCHW.
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert load_predictor(stem)[0].backend == 'torch'  # auto: the weights are there


def test_torch_and_onnx_predictors_agree(onnx_deploy_model):
    full, stem = onnx_deploy_model
    x = torch.randn(3, SIZE, SIZE, generator=torch.Generator().manual_seed(2)).numpy()
    by_torch, _ = load_predictor(stem, backend='torch', device='cpu')
    by_onnx, device = load_predictor(stem, backend='onnx', device='cpu', threads=1)
    assert (by_torch.backend, by_onnx.backend, device) == ('torch', 'onnx', 'cpu')
    raw_full = predict_maps(full, x)
    assert by_torch.memory_format == torch.channels_last  # on a CPU: NHWC convolutions
    for a, b, c in zip(raw_full, by_torch.raw_maps(x), by_onnx.raw_maps(x)):
        # Same weights; NHWC sums in another order than the full model's NCHW.
        np.testing.assert_allclose(a, b, atol=1e-5)
        np.testing.assert_allclose(a, c, atol=1e-4)
    batch = by_onnx.raw_maps(np.stack([x, x]))
    assert batch[0].shape == (2, SIZE, SIZE)
    g_torch = by_torch.predict(x, top_k=3)
    g_onnx = by_onnx.predict(x, top_k=3)
    assert len(g_torch) == 3
    for a, b in zip(g_torch, g_onnx):
        assert (a.row, a.col) == (b.row, b.col)
        assert a.angle == pytest.approx(b.angle, abs=1e-3)
        assert a.width == pytest.approx(b.width, rel=1e-3)
    assert by_onnx(x)[0] == by_onnx.predict(x)[0]


def test_onnx_predictor_rejects_other_sizes(onnx_deploy_model):
    predictor, _ = load_predictor(onnx_deploy_model[1], backend='onnx', device='cpu')
    with pytest.raises(ValueError, match='64x64'):
        predictor.predict(np.zeros((3, 32, 32), np.float32))


def test_unknown_backend_is_an_error(deploy_model):
    with pytest.raises(PipelineConfigError, match='backend'):
        load_predictor(deploy_model[1], backend='tensorrt')
