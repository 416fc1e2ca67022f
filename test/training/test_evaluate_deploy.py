"""evaluate --model (a deploy model through the runtime's loader), the opening error and the
background share."""

import argparse
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from mtg_grasp_ros.grasp import Grasp
from mtg_grasp_ros.models import build_model
from training import evaluate as evaluate_module
from training.augment import base_transform, warp_grasps
from training.checkpoint import save_checkpoint
from training.evaluate import evaluate_model
from training.opening_error import (add_opening_and_background, centre_off_mask,
                                    matching_label, to_original)

SIZE = 64


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    from training.tinydata import make_tiny_jacquard
    return make_tiny_jacquard(tmp_path_factory.mktemp('tiny'), n_objects=6, views=1, size=96,
                              seed=3)


@pytest.fixture(scope='module')
def exported(tmp_path_factory, tiny):
    """A random-weight MTG-CNN checkpoint at 64 px and its deploy model (safetensors + ONNX)."""
    from training.export import export
    folder = tmp_path_factory.mktemp('model')
    torch.manual_seed(1)
    config = {'network': 'mtgcnn', 'aux': 'depth', 'input_mode': 'rgb', 'loss': 'mse',
              'input_size': SIZE, 'fold': 0, 'n_folds': 5, 'seed': 0, 'data': str(tiny)}
    checkpoint = folder / 'c.pt'
    model = build_model('mtgcnn', 'rgb')
    with torch.no_grad():  # positive openings, so a wrong width scale would show
        model.grasp.heads[3].bias += 0.6
    save_checkpoint(checkpoint, model, config, epoch=1)
    report = export(checkpoint, folder / 'm', log=lambda *a: None)
    assert report['ok']
    return checkpoint, folder / 'm'


def run_cli(*argv):
    parser = argparse.ArgumentParser()
    evaluate_module.register(parser.add_subparsers(dest='command'))
    args = parser.parse_args(['evaluate', *map(str, argv)])
    return args.func(args)


def evaluate_json(tmp_path, *argv):
    out = tmp_path / 'r.json'
    assert run_cli(*argv, '--device', 'cpu', '--out', out) == 0
    return json.loads(out.read_text())


def test_a_checkpoint_and_its_export_score_the_same(exported, tiny, tmp_path):
    checkpoint, model = exported
    results = [evaluate_json(tmp_path, '--checkpoint', checkpoint, '--split', 'all')]
    for backend in ('torch', 'onnx'):
        results.append(evaluate_json(tmp_path, '--model', model, '--data', tiny,
                                     '--backend', backend))
        assert results[-1]['config']['backend'] == backend
    want = results[0]
    assert want['n_images'] == 6
    assert all(r['pred']['width'] > 5.0 for r in want['per_image'])
    for got in results[1:]:
        assert got['config']['split'] == 'all' and got['sigma'] == want['sigma']
        assert [r['name'] for r in got['per_image']] == [r['name'] for r in want['per_image']]
        assert [r['correct'] for r in got['per_image']] == \
            [r['correct'] for r in want['per_image']]
        for g, w in zip(got['per_image'], want['per_image']):
            assert (g['pred']['row'], g['pred']['col']) == (w['pred']['row'], w['pred']['col'])
            assert g['pred']['angle'] == pytest.approx(w['pred']['angle'], abs=1e-3)
            assert g['pred']['width'] == pytest.approx(w['pred']['width'], abs=1e-2)
            assert g['opening']['label_width_px'] == w['opening']['label_width_px']
        assert got['opening']['median_ratio'] == pytest.approx(want['opening']['median_ratio'],
                                                               abs=1e-3)
        assert got['background'] == want['background']


def test_model_cli_reports_opening_and_background(exported, tiny, tmp_path, capsys):
    _, model = exported
    result = evaluate_json(tmp_path, '--model', model, '--data', tiny)
    printed = capsys.readouterr().out
    assert 'accuracy' in printed and 'median ratio' in printed and 'off the object mask' in printed
    assert result['opening']['n'] == 6 and result['background']['n_with_mask'] == 6
    for row in result['per_image']:
        opening = row['opening']
        assert opening['abs_error_px'] == pytest.approx(
            abs(opening['pred_width_px'] - opening['label_width_px']), abs=0.011)
        assert opening['ratio'] == pytest.approx(
            opening['pred_width_px'] / opening['label_width_px'], rel=1e-3)
        # Original px (96) are 1.5 x network px (64).
        assert opening['pred_width_px'] == pytest.approx(1.5 * row['pred']['width'], abs=0.01)
        assert isinstance(opening['off_mask'], bool)


def test_model_cli_errors(exported, tiny, tmp_path, capsys):
    checkpoint, model = exported
    assert run_cli('--model', model) == 2                        # no --data
    assert run_cli('--model', tmp_path / 'nothing', '--data', tiny) == 2
    assert run_cli('--model', model, '--data', tiny, '--input-size', '128') == 2
    assert run_cli('--model', model, '--data', tiny, '--device', 'cuda:1') == 2
    err = capsys.readouterr().err
    assert '--data' in err and 'nothing' in err and '128' in err and 'cuda:1' in err
    for argv in ((), ('--checkpoint', checkpoint, '--model', model)):  # exactly one of them
        with pytest.raises(SystemExit):
            run_cli(*argv)


class Oracle(nn.Module):
    """Predicts ``make(i, ground_truth(i))`` for image i (looked up by the input's bytes)."""

    def __init__(self, dataset, make):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))
        self.table = {}
        rows, cols = np.mgrid[0:SIZE, 0:SIZE]
        for i in range(len(dataset)):
            g = make(i, dataset.ground_truth(i))
            quality = np.exp(-((rows - g.row) ** 2 + (cols - g.col) ** 2) / 8.0)
            self.table[dataset[i][0].numpy().tobytes()] = np.stack([
                quality, np.full((SIZE, SIZE), math.cos(2 * g.angle)),
                np.full((SIZE, SIZE), math.sin(2 * g.angle)),
                np.full((SIZE, SIZE), g.width / 150.0)]).astype(np.float32)

    def forward(self, x):
        maps = torch.stack([torch.from_numpy(self.table[xi.numpy().tobytes()]) for xi in x])
        return tuple(maps[:, k:k + 1] + 0 * self.dummy for k in range(4))


def scored(dataset, make):
    result = evaluate_model(Oracle(dataset, make), dataset, 'cpu', sigma=0)
    return add_opening_and_background(result, dataset)


@pytest.fixture(scope='module')
def dataset(tiny):
    from training.dataset import GraspDataset
    from training.formats import find_samples
    return GraspDataset(find_samples(tiny), input_mode='rgb', output_size=SIZE)


def test_opening_error_of_right_and_doubled_openings(dataset):
    right = scored(dataset, lambda i, gts: gts[0])
    assert right['accuracy'] == 1.0
    assert right['opening']['median_ratio'] == pytest.approx(1.0, abs=0.03)
    assert right['opening']['median_abs_error_px'] < 1.0
    assert right['opening']['matched_by_iou'] == 6
    assert right['background'] == {'n_with_mask': 6, 'off_mask': 0, 'share': 0.0}

    def doubled(i, gts):
        g = gts[0]
        return Grasp(g.row, g.col, g.angle, 2 * g.width, g.jaw_size)

    wide = scored(dataset, doubled)
    assert wide['opening']['median_ratio'] == pytest.approx(2.0, abs=0.1)
    labelled = wide['opening']['median_label_px']
    assert wide['opening']['median_abs_error_px'] == pytest.approx(labelled, rel=0.1)
    assert wide['opening']['median_pred_px'] == pytest.approx(2 * labelled, rel=0.1)
    # A wider label of the same object may now overlap best (ellipses thicken at the centre).
    assert all(1.4 < row['opening']['ratio'] < 2.05 for row in wide['per_image'])


def test_grasps_in_a_corner_are_background_failures(dataset):
    corner = scored(dataset, lambda i, gts: Grasp(2.0, 2.0, gts[0].angle, 10.0, 5.0))
    assert corner['accuracy'] == 0.0
    assert corner['background'] == {'n_with_mask': 6, 'off_mask': 6, 'share': 1.0}
    assert {r['opening']['match'] for r in corner['per_image']} == {'nearest'}


def test_to_original_inverts_the_evaluation_crop():
    grasp = Grasp(row=200.0, col=300.0, angle=0.4, width=50.0, jaw_size=20.0)
    for shape in ((480, 640), (1024, 1024)):
        forward = warp_grasps([grasp], base_transform(shape, 300))[0]
        back = to_original(forward, shape, 300)
        assert (back.row, back.col, back.angle, back.width, back.jaw_size) == pytest.approx(
            (grasp.row, grasp.col, grasp.angle, grasp.width, grasp.jaw_size), abs=1e-6)
    # Cornell-like 640 x 480: the central 480 px square, network px 300 -> 1.6 original px.
    assert to_original(Grasp(149.5, 149.5, 0.0, 10.0, 5.0), (480, 640), 300).col == \
        pytest.approx(319.5)
    assert to_original(Grasp(149.5, 149.5, 0.0, 10.0, 5.0), (480, 640), 300).width == \
        pytest.approx(16.0)


def test_matching_label_prefers_aligned_overlap_then_nearest():
    pred = Grasp(50, 50, 0.0, 40, 20)
    crossed_here = Grasp(50, 50, math.pi / 2, 30, 20)    # same place, turned 90 degrees
    aligned_near = Grasp(52, 55, 0.2, 60, 20)             # overlaps, 11 degrees off
    aligned_far = Grasp(58, 50, 0.1, 40, 20)              # overlaps less
    label, how, iou = matching_label(pred, [crossed_here, aligned_far, aligned_near])
    assert label is aligned_near and how == 'iou' and iou > 0
    label, how, _ = matching_label(pred, [crossed_here, Grasp(90, 90, 0.0, 40, 20)])
    assert label is crossed_here and how == 'nearest'
    assert matching_label(pred, []) == (None, 'none', 0.0)


def test_centre_off_mask():
    mask = np.zeros((10, 10), bool)
    mask[4:6, 4:6] = True
    assert not centre_off_mask(Grasp(4.6, 5.4, 0.0, 3, 3), mask)
    assert centre_off_mask(Grasp(6.6, 5.0, 0.0, 3, 3), mask)
    assert centre_off_mask(Grasp(-3.0, 50.0, 0.0, 3, 3), mask)
