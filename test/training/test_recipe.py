"""``python -m training recipe``: the tiny preset end to end on the CPU, and the GPU preset's
clear refusal without CUDA."""

import json

import torch

from mtg_grasp_ros.backends import load_predictor
from mtg_grasp_ros.pipeline import GraspPipeline
from training.__main__ import build_parser, main
from training.recipe import PRESETS, settings_from_args

STEPS = ['synth-train', 'synth-mixed', 'synth-thin', 'synth-heldout', 'train', 'relabel',
         'finetune', 'evaluate', 'export']


def test_tiny_preset_runs_every_step_and_exports_a_loadable_model(tmp_path):
    out = tmp_path / 'recipe'
    assert main(['recipe', '--preset', 'tiny', '--out', str(out)]) == 0
    summary = json.loads((out / 'recipe.json').read_text())
    assert [s['name'] for s in summary['steps']] == STEPS
    assert all(s['ok'] and s['seconds'] >= 0 for s in summary['steps'])
    assert summary['error'] is None and summary['device'] == 'cpu'
    assert summary['settings']['train_objects'] == PRESETS['tiny'].train_objects
    assert 0.0 <= summary['heldout_accuracy'] <= 1.0 and summary['heldout_images'] >= 1
    assert len(summary['export']['files']) == 3
    stem = summary['export']['stem']
    predictor, device = load_predictor(stem, backend='torch', device='cpu')
    assert device == 'cpu' and predictor.input_size == PRESETS['tiny'].input_size
    assert GraspPipeline.from_deploy(stem, backend='onnx', device='cpu').backend == 'onnx'


def test_gpu_preset_without_cuda_fails_with_a_clear_message(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    out = tmp_path / 'gpu'
    assert main(['recipe', '--preset', 'gpu', '--out', str(out)]) == 2
    err = capsys.readouterr().err
    assert 'PyTorch sees no GPU' in err and '--device cpu' in err
    assert not out.exists()  # nothing generated before the device check


def test_overrides_change_only_their_fields():
    args = build_parser().parse_args(['recipe', '--out', 'x', '--objects', '50', '--epochs',
                                      '3', '--device', 'cpu', '--init', 'a.pt'])
    settings = settings_from_args(args)
    assert (settings.train_objects, settings.epochs, settings.device, settings.init) == (
        50, 3, 'cpu', 'a.pt')
    assert settings.views == PRESETS['gpu'].views and settings.finetune_epochs == 15


def test_epochs_zero_needs_a_model_to_fine_tune(tmp_path, capsys):
    out = tmp_path / 'no_init'
    data = tmp_path / 'data'
    data.mkdir()
    # Existing (empty) data: no generation; the check comes before any training.
    assert main(['recipe', '--preset', 'tiny', '--out', str(out), '--epochs', '0',
                 '--data', str(data), '--heldout-data', str(data)]) == 2
    assert '--init' in capsys.readouterr().err


def test_init_from_a_deploy_model_makes_a_full_checkpoint(tmp_path):
    from mtg_grasp_ros.deploy import default_model_path
    from training.checkpoint import model_from_checkpoint
    from training.recipe import init_checkpoint

    path = init_checkpoint(default_model_path(), PRESETS['gpu'], tmp_path)
    model, state = model_from_checkpoint(path)
    assert model.has_aux and state['config']['network'] == 'mtgcnn'
    assert init_checkpoint(path, PRESETS['gpu'], tmp_path) == path  # a .pt passes through
