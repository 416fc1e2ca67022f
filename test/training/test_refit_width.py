"""``training refit-width``: only the width head changes, its least-squares fit is exact, and the
new head fits the labels better than a deliberately biased one."""

import re

import numpy as np
import pytest
import torch

from training.__main__ import main
from training.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from training.refit_width import fit_head, refit_width, WIDTH_HEAD
from training.tinydata import make_tiny_jacquard

SIZE = 64


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """A tiny drawn data set and an untrained MTG-CNN checkpoint whose width head is biased."""
    from mtg_grasp_ros.models import build_model
    root = tmp_path_factory.mktemp('refit')
    data = make_tiny_jacquard(root / 'data', n_objects=6, views=1, size=128)
    torch.manual_seed(0)
    model = build_model('mtgcnn', 'rgb')
    with torch.no_grad():
        model.grasp.heads[WIDTH_HEAD].bias.fill_(3.0)  # openings far too wide, as v3's were
    config = {'network': 'mtgcnn', 'aux': 'depth', 'input_mode': 'rgb', 'loss': 'positional',
              'input_size': SIZE, 'fold': 0, 'n_folds': 2, 'seed': 0, 'data': str(data)}
    save_checkpoint(root / 'source.pt', model, config, epoch=4, best_accuracy=0.5)
    return data, root


def test_fit_head_recovers_a_linear_rule_exactly():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(500, 16)).astype(np.float32)
    weights, bias = rng.normal(size=16), 0.4
    solution = fit_head(features, features @ weights + bias, ridge=1e-9)
    assert np.allclose(solution[:-1], weights, atol=1e-6) and solution[-1] == pytest.approx(bias)


def test_only_the_width_head_changes_and_fits_better(tiny):
    data, root = tiny
    report = refit_width(root / 'source.pt', str(data), root / 'refit.pt', views=10,
                         pixels_per_view=200, n_folds=2)
    assert report['pixels'] > 0 and report['after']['rmse'] < report['before']['rmse'] / 2
    assert 0 < report['views'] <= 10
    assert abs(report['after']['median_ratio'] - 1) < abs(report['before']['median_ratio'] - 1)
    source, _ = model_from_checkpoint(root / 'source.pt')
    refit, state = model_from_checkpoint(root / 'refit.pt')
    changed = [k for k, v in refit.state_dict().items()
               if not torch.equal(v, source.state_dict()[k])]
    assert changed == [f'grasp.heads.{WIDTH_HEAD}.weight', f'grasp.heads.{WIDTH_HEAD}.bias']
    assert state['config']['refit_width']['pixels'] == report['pixels']
    assert state['epoch'] == 4 and state['config']['input_size'] == SIZE
    from training.export import training_summary
    assert training_summary(state)['refit_width']['pixels'] == report['pixels']
    # Same seed, same head.
    again = refit_width(root / 'source.pt', str(data), root / 'again.pt', views=10,
                        pixels_per_view=200, n_folds=2)
    assert again == dict(report)
    assert torch.equal(load_checkpoint(root / 'again.pt')['model'][changed[0]],
                       state['model'][changed[0]])


def test_cli_refits_and_refuses_a_missing_checkpoint(tiny, capsys):
    data, root = tiny
    assert main(['refit-width', '--checkpoint', str(root / 'source.pt'), '--data', str(data),
                 '--out', str(root / 'cli.pt'), '--views', '4', '--n-folds', '2']) == 0
    out = capsys.readouterr().out
    # The views it used, not the 4 asked for (the tiny set's train split has fewer).
    assert re.search(r'refitted on \d+ label pixels of [1-4] views', out)
    assert main(['refit-width', '--checkpoint', str(root / 'nothing.pt'), '--data', str(data),
                 '--out', str(root / 'x.pt')]) == 2
    assert 'error' in capsys.readouterr().out and not (root / 'x.pt').exists()
