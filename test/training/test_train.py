"""Training end to end on a tiny drawn Jacquard-format dataset: overfit, CLI, resume, table."""

import csv
import json
from pathlib import Path
import subprocess
import sys

import pytest
import torch

from mtg_grasp_ros.models import build_model
from training.__main__ import build_parser, main
from training.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint
from training.dataset import GraspDataset
from training.evaluate import evaluate_model
from training.formats import find_samples
from training.losses import grasp_loss
from training.splits import split_by_object
from training.tinydata import make_tiny_jacquard


@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory) -> Path:
    return make_tiny_jacquard(tmp_path_factory.mktemp('tiny'), n_objects=10, views=1,
                              size=128, seed=3)


@pytest.mark.parametrize('loss', ['mse', 'positional'])
def test_training_overfits_two_images_to_full_accuracy(tiny_data, loss):
    torch.manual_seed(0)
    files = find_samples(tiny_data)[:2]
    dataset = GraspDataset(files, input_mode='rgb', aux='depth', output_size=96, augment=False)
    assert evaluate_model(build_model('mtgcnn'), dataset, torch.device('cpu'))['accuracy'] < 1.0
    x = torch.stack([dataset[i][0] for i in range(2)])
    y = torch.stack([dataset[i][1] for i in range(2)])
    model = build_model('mtgcnn')
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(400):
        optimizer.zero_grad()
        grasp_loss(model(x), y, loss)['loss'].backward()
        optimizer.step()
    result = evaluate_model(model, dataset, torch.device('cpu'))
    assert result['n_images'] == 2
    assert result['accuracy'] == 1.0


def _train(data, out, *extra):
    return main(['train', '--data', str(data), '--out', str(out), '--input-size', '64',
                 '--batches-per-epoch', '2', '--batch-size', '2', '--device', 'cpu', *extra])


def test_train_cli_writes_checkpoints_log_curve_and_resumes(tiny_data, tmp_path):
    out = tmp_path / 'run'
    assert _train(tiny_data, out, '--network', 'mtgcnn', '--aux', 'saliency', '--loss',
                  'positional', '--epochs', '1') == 0
    for name in ('best.pt', 'last.pt', 'log.csv', 'curve.png', 'config.json'):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader(open(out / 'log.csv')))
    assert len(rows) == 1 and 0.0 <= float(rows[0]['val_accuracy']) <= 1.0
    assert float(rows[0]['train_aux']) > 0  # the auxiliary term is trained
    assert json.loads((out / 'config.json').read_text())['aux'] == 'saliency'

    assert _train(tiny_data, out, '--network', 'mtgcnn', '--aux', 'saliency', '--loss',
                  'positional', '--epochs', '2', '--resume') == 0
    state = load_checkpoint(out / 'last.pt')
    assert state['epoch'] == 2 and len(state['history']) == 2
    assert len(list(csv.DictReader(open(out / 'log.csv')))) == 2
    model, best = model_from_checkpoint(out / 'best.pt')
    assert model.has_aux and best['config']['loss'] == 'positional'


def test_train_rejects_inconsistent_configuration(tiny_data, tmp_path):
    assert _train(tiny_data, tmp_path, '--network', 'ggcnn', '--aux', 'depth') == 2
    assert _train(tiny_data, tmp_path, '--input-size', '30') == 2
    assert _train(tmp_path / 'nowhere', tmp_path / 'r') == 2


def test_truncated_or_foreign_checkpoint_is_a_clear_error(tiny_data, tmp_path):
    out = tmp_path / 'run'
    assert _train(tiny_data, out, '--epochs', '1') == 0
    data = (out / 'last.pt').read_bytes()
    (tmp_path / 'cut.pt').write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match='truncated'):
        load_checkpoint(tmp_path / 'cut.pt')
    torch.save({'weights': torch.zeros(3)}, tmp_path / 'other.pt')
    with pytest.raises(CheckpointError, match='not a mtg_grasp_ros checkpoint'):
        load_checkpoint(tmp_path / 'other.pt')
    state = load_checkpoint(out / 'last.pt')
    state['config']['network'] = 'mtgcnn'  # weights of GG-CNN claimed to be MTG-CNN
    torch.save(state, tmp_path / 'mismatch.pt')
    with pytest.raises(CheckpointError, match='do not match'):
        model_from_checkpoint(tmp_path / 'mismatch.pt')


def test_table_runs_configurations_over_folds_and_resumes(tiny_data, tmp_path, capsys):
    args = ['table', '--data', str(tiny_data), '--out', str(tmp_path), '--folds', '0', '1',
            '--epochs', '1', '--batches-per-epoch', '1', '--batch-size', '2',
            '--input-size', '32', '--device', 'cpu', '--configs', 'ggcnn', 'mtgcnn_p_depth']
    assert main(args) == 0
    table = (tmp_path / 'table.md').read_text()
    assert '| GG-CNN |' in table and '| MTG-CNN_p | Depth |' in table
    rows = list(csv.DictReader(open(tmp_path / 'table.csv')))
    assert [r['folds'] for r in rows] == ['2', '2']
    assert (tmp_path / 'curves.png').stat().st_size > 1000
    for key in ('ggcnn', 'mtgcnn_p_depth'):
        for fold in (0, 1):
            assert (tmp_path / key / f'fold{fold}' / 'best.pt').is_file()
    stamp = (tmp_path / 'ggcnn' / 'fold0' / 'last.pt').stat().st_mtime_ns
    assert main(args) == 0  # complete runs are reused, not retrained
    assert (tmp_path / 'ggcnn' / 'fold0' / 'last.pt').stat().st_mtime_ns == stamp


@pytest.mark.parametrize('command', ['train', 'evaluate', 'export', 'table', 'benchmark'])
def test_every_command_explains_itself(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([command, '--help'])
    assert exit_info.value.code == 0
    assert len(capsys.readouterr().out) > 300


def test_distributed_training_with_torchrun(tiny_data, tmp_path):
    # DistributedDataParallel over 2 CPU processes (gloo): the same code path as multi-GPU.
    torchrun = Path(sys.executable).parent / 'torchrun'
    out = tmp_path / 'ddp'
    result = subprocess.run(
        [str(torchrun), '--nproc_per_node=2', '-m', 'training', 'train', '--data',
         str(tiny_data), '--out', str(out), '--network', 'mtgcnn', '--epochs', '2',
         '--input-size', '32', '--batch-size', '2', '--device', 'cpu'],
        cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    state = load_checkpoint(out / 'last.pt')
    assert state['epoch'] == 2 and len(state['history']) == 2
    assert json.loads((out / 'config.json').read_text())['network'] == 'mtgcnn'
    # Each of the 2 ranks trains on its half of the training images per epoch.
    n_train = len(split_by_object(find_samples(tiny_data), 0).train)
    assert f'{n_train // 4} steps of 2 per epoch' in result.stderr
