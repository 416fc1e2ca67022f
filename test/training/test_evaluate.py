"""evaluate_model with models whose predictions the test controls, and the evaluate command."""

import argparse
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from mtg_grasp_ros.grasp import angle_difference, Grasp
from mtg_grasp_ros.models import build_model
from training import evaluate as evaluate_module
from training.checkpoint import save_checkpoint
from training.evaluate import evaluate_model

SIZE = 64


def oracle_maps(grasp, size=SIZE, width_scale=150.0):
    """(4, S, S) raw maps whose top-1 grasp is ``grasp`` (quality bump at its centre)."""
    rows, cols = np.mgrid[0:size, 0:size]
    quality = np.exp(-((rows - grasp.row) ** 2 + (cols - grasp.col) ** 2) / (2 * 2.0 ** 2))
    return np.stack([quality, np.full((size, size), math.cos(2 * grasp.angle)),
                     np.full((size, size), math.sin(2 * grasp.angle)),
                     np.full((size, size), grasp.width / width_scale)]).astype(np.float32)


class LookupModel(nn.Module):
    """Returns, for each input image, maps looked up by the image's bytes (plus an aux map)."""

    def __init__(self, table):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))
        self.table = table  # bytes of x -> (4, S, S) maps

    def forward(self, x):
        maps = torch.stack([torch.from_numpy(self.table[xi.numpy().tobytes()]) for xi in x])
        maps = maps + 0 * self.dummy
        return tuple(maps[:, k:k + 1] for k in range(4)) + (torch.zeros_like(maps[:, :1]),)


class FakeDataset:
    """Images filled with their index; one hand-made ground-truth grasp each."""

    def __init__(self, grasps):
        self.grasps = grasps
        self.files = [type('F', (), {'name': f'img{i}'})() for i in range(len(grasps))]

    def __len__(self):
        return len(self.grasps)

    def __getitem__(self, i):
        return torch.full((3, SIZE, SIZE), float(i)), torch.zeros(4, SIZE, SIZE)

    def ground_truth(self, i):
        return [self.grasps[i]]


def oracle(dataset, make_pred):
    """A LookupModel predicting ``make_pred(i, ground_truth(i))`` for every image i."""
    table = {dataset[i][0].numpy().tobytes(): oracle_maps(make_pred(i, dataset.ground_truth(i)))
             for i in range(len(dataset))}
    return LookupModel(table)


def fake_dataset():
    rng = np.random.default_rng(0)
    return FakeDataset([Grasp(row=rng.uniform(20, 44), col=rng.uniform(20, 44),
                              angle=rng.uniform(-math.pi / 2, math.pi / 2), width=20.0,
                              jaw_size=20.0) for _ in range(7)])


def test_right_predictions_score_100_percent_and_wrong_angles_0():
    dataset = fake_dataset()
    right = evaluate_model(oracle(dataset, lambda i, gts: gts[0]), dataset, 'cpu', batch_size=3)
    assert right['accuracy'] == 1.0 and right['correct'] == right['n_images'] == 7
    for row, gt in zip(right['per_image'], dataset.grasps):
        # Square GT, predicted jaw = half the opening: IoU 0.5 less the pixel rounding.
        assert row['correct'] and 0.4 < row['best_iou'] <= 0.5
        assert (row['pred']['row'], row['pred']['col']) == (round(gt.row), round(gt.col))
        assert row['pred']['angle'] == pytest.approx(gt.angle, abs=1e-3)
    assert [r['name'] for r in right['per_image']] == [f'img{i}' for i in range(7)]

    # Turned 90 degrees: the rectangles still overlap (IoU 0.5) but the angle is wrong.
    turned = evaluate_model(oracle(dataset, lambda i, gts: Grasp(
        gts[0].row, gts[0].col, gts[0].angle + math.pi / 2, gts[0].width, gts[0].jaw_size)),
        dataset, 'cpu')
    assert turned['accuracy'] == 0.0 and turned['correct'] == 0
    assert all(r['best_iou'] > 0.25 and r['best_aligned_iou'] == 0.0
               for r in turned['per_image'])


def test_half_right_is_50_percent_and_batching_does_not_matter():
    dataset = FakeDataset(fake_dataset().grasps[:6])

    def every_other(i, gts):
        g = gts[0]
        return g if i % 2 == 0 else Grasp(g.row, g.col, g.angle + 0.9, g.width, g.jaw_size)

    model = oracle(dataset, every_other)
    results = [evaluate_model(model, dataset, 'cpu', batch_size=b) for b in (1, 4, 8)]
    for result in results:
        assert result['accuracy'] == 0.5
        assert [r['correct'] for r in result['per_image']] == [True, False] * 3
        assert result['per_image'] == results[0]['per_image']


def test_bf16_precision_runs_the_forward_under_autocast():
    dataset = fake_dataset()
    inner = oracle(dataset, lambda i, gts: gts[0])
    seen = []

    class Spy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            seen.append(torch.is_autocast_enabled('cpu'))
            return self.inner(x)

    for precision, expected in (('fp32', False), ('bf16', True)):
        seen.clear()
        result = evaluate_model(Spy(), dataset, 'cpu', precision=precision)
        assert result['accuracy'] == 1.0 and seen and set(seen) == {expected}


def test_model_mode_is_restored():
    dataset = fake_dataset()
    model = oracle(dataset, lambda i, gts: gts[0]).train()
    evaluate_model(model, dataset, 'cpu')
    assert model.training
    evaluate_model(model.eval(), dataset, 'cpu')
    assert not model.training


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    from training.tinydata import make_tiny_jacquard
    return make_tiny_jacquard(tmp_path_factory.mktemp('tiny'), n_objects=10, views=1, size=96,
                              seed=0)


def test_real_dataset_with_ground_truth_oracle(tiny):
    from training.dataset import GraspDataset
    from training.formats import find_samples

    dataset = GraspDataset(find_samples(tiny), input_mode='rgb', output_size=SIZE)
    right = evaluate_model(oracle(dataset, lambda i, gts: gts[0]), dataset, 'cpu')
    assert right['n_images'] == len(dataset) == 10
    assert right['accuracy'] == 1.0

    def crossed(i, gts):
        g = gts[0]
        wrong = Grasp(g.row, g.col, g.angle + math.pi / 2, g.width, g.jaw_size)
        # The test is only meaningful if no ground-truth rectangle is within 30 degrees.
        assert min(angle_difference(wrong.angle, t.angle) for t in gts) > math.radians(30)
        return wrong

    assert evaluate_model(oracle(dataset, crossed), dataset, 'cpu')['accuracy'] == 0.0

    def far(i, gts):
        g = gts[0]
        return Grasp((g.row + SIZE / 2) % SIZE, (g.col + SIZE / 2) % SIZE, g.angle, g.width,
                     g.jaw_size)

    far_result = evaluate_model(oracle(dataset, far), dataset, 'cpu')
    assert far_result['accuracy'] == 0.0


def run_cli(*argv):
    parser = argparse.ArgumentParser()
    evaluate_module.register(parser.add_subparsers(dest='command'))
    args = parser.parse_args(['evaluate', *map(str, argv)])
    return args.func(args)


def test_cli_writes_json_and_overlay(tiny, tmp_path, capsys):
    torch.manual_seed(0)
    config = {'network': 'mtgcnn', 'aux': 'depth', 'input_mode': 'rgb', 'loss': 'mse',
              'input_size': SIZE, 'fold': 1, 'n_folds': 5, 'seed': 0, 'data': str(tiny)}
    save_checkpoint(tmp_path / 'c.pt', build_model('mtgcnn', 'rgb'), config, epoch=1)
    out, overlay = tmp_path / 'r.json', tmp_path / 'o.png'
    assert run_cli('--checkpoint', tmp_path / 'c.pt', '--split', 'all', '--out', out,
                   '--overlay', overlay, '--device', 'cpu') == 0
    result = json.loads(out.read_text())
    assert result['n_images'] == 10 and len(result['per_image']) == 10
    assert 0.0 <= result['accuracy'] <= 1.0
    assert result['correct'] == sum(r['correct'] for r in result['per_image'])
    assert result['config']['fold'] == 1 and result['config']['input_size'] == SIZE
    assert set(result['per_image'][0]) >= {'name', 'pred', 'best_iou', 'correct'}
    import cv2
    picture = cv2.imread(str(overlay))
    tile = SIZE * -(-256 // SIZE)  # small inputs are enlarged to at least 256 px per tile
    assert picture is not None and picture.shape == (2 * tile, 4 * tile, 3)
    assert 'accuracy' in capsys.readouterr().out

    # The test split of fold 1 (one object), overriding the data root explicitly.
    assert run_cli('--checkpoint', tmp_path / 'c.pt', '--data', tiny, '--out', out) == 0
    assert json.loads(out.read_text())['n_images'] == 1
    # Bad inputs are one-line errors with exit code 2.
    assert run_cli('--checkpoint', tmp_path / 'missing.pt') == 2
    assert run_cli('--checkpoint', tmp_path / 'c.pt', '--data', tmp_path / 'empty') == 2
    err = capsys.readouterr().err
    assert 'missing.pt' in err and 'empty' in err
