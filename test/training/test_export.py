"""Export of a checkpoint to the deploy format, parity, and clear errors for broken files."""

import argparse
import json

import pytest
import torch

from mtg_grasp_ros import deploy
from mtg_grasp_ros.deploy import DeployModelError, load_onnx_session, load_torch_model
from mtg_grasp_ros.models import build_model, count_parameters, GRASP_OUTPUTS
from training import export as export_module
from training.checkpoint import CheckpointError, save_checkpoint

SIZE = 64  # small images keep the ONNX export and parity runs fast


def make_checkpoint(path, network='mtgcnn', input_mode='rgb', seed=0, model=None):
    torch.manual_seed(seed)
    model = model if model is not None else build_model(network, input_mode)
    config = {'network': network, 'aux': 'depth' if network == 'mtgcnn' else 'none',
              'input_mode': input_mode, 'loss': 'positional', 'input_size': SIZE, 'fold': 2,
              'n_folds': 5, 'seed': 0, 'data': 'nowhere'}
    save_checkpoint(path, model, config, epoch=3, best_accuracy=0.7,
                    history=[{'epoch': 2, 'val_accuracy': 0.7}, {'epoch': 3, 'val_accuracy': 0.5}])
    return model


def run_cli(*argv):
    parser = argparse.ArgumentParser()
    export_module.register(parser.add_subparsers(dest='command'))
    args = parser.parse_args(['export', *map(str, argv)])
    return args.func(args)


def quiet(*_args, **_kwargs):
    pass


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('export')
    full = make_checkpoint(tmp / 'ckpt.pt')
    report = export_module.export(tmp / 'ckpt.pt', tmp / 'models' / 'net', log=quiet)
    return full.eval(), tmp / 'models' / 'net', report


def test_export_writes_three_files_and_proves_parity(exported):
    full, stem, report = exported
    assert report['ok']
    assert report['parity']['torch_exact'] and report['parity']['torch_max_abs'] == 0.0
    assert report['parity']['onnx_max_abs'] < 1e-4
    for suffix in ('.safetensors', '.onnx', '.json'):
        assert stem.with_suffix(suffix).is_file()
    meta = json.loads(stem.with_suffix('.json').read_text())
    assert meta['format'] == deploy.FORMAT
    assert meta['network'] == 'mtgcnn' and meta['input_mode'] == 'rgb'
    assert meta['in_channels'] == 3 and meta['input_size'] == SIZE
    assert meta['outputs'] == list(GRASP_OUTPUTS)
    # The paper's 5 px at 300 px, scaled to this input size as the evaluation does.
    assert meta['width_scale'] == 150.0
    assert meta['sigma']['quality'] == pytest.approx(5.0 * SIZE / 300)
    assert meta['parameters'] == count_parameters(full.without_aux()) < meta['parameters_full']
    assert meta['training']['loss'] == 'positional' and meta['training']['fold'] == 2
    assert meta['training']['val_accuracy'] == 0.5  # these weights' epoch, not the run's best
    assert set(meta['files']) == {'safetensors', 'onnx'}


def test_exported_outputs_equal_full_model_grasp_outputs(exported):
    full, stem, _ = exported
    model, meta = load_torch_model(stem)
    assert not model.has_aux
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        want, got = full(x), model(x)
    assert len(want) == 5 and len(got) == 4
    for w, g in zip(want[:4], got):
        assert torch.equal(w, g)
    session, _ = load_onnx_session(stem, threads=1)
    outs = session.run(list(GRASP_OUTPUTS), {'input': x.numpy()})
    for w, o in zip(want[:4], outs):
        assert float((w - torch.from_numpy(o)).abs().max()) < 1e-4


def test_deploy_paths_accept_stem_files_and_directory(exported, tmp_path):
    _, stem, _ = exported
    for name in (stem, stem.with_suffix('.json'), stem.with_suffix('.onnx'),
                 stem.with_suffix('.safetensors')):
        assert deploy.deploy_paths(name).json == stem.with_suffix('.json')
    assert deploy.load_deploy_metadata(stem.parent)['network'] == 'mtgcnn'  # single *.json


def test_aux_weights_do_not_change_the_exported_model(tmp_path):
    a = make_checkpoint(tmp_path / 'a.pt', seed=1)
    b = build_model('mtgcnn', 'rgb')
    b.load_state_dict(a.state_dict())
    with torch.no_grad():
        for p in b.aux.parameters():
            p.add_(torch.randn_like(p))
    make_checkpoint(tmp_path / 'b.pt', model=b)
    x = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        out_a, out_b = a.eval()(x), b.eval()(x)
    assert not torch.equal(out_a[4], out_b[4])  # the auxiliary output did change
    for u, v in zip(out_a[:4], out_b[:4]):
        assert torch.equal(u, v)
    for name in ('a', 'b'):
        assert export_module.export(tmp_path / f'{name}.pt', tmp_path / name, onnx=False,
                                    log=quiet)['ok']
    # The same tensors (not bytes: safetensors writes its metadata header in hash order).
    from safetensors.torch import load_file
    weights_a, weights_b = (load_file(tmp_path / f'{n}.safetensors') for n in ('a', 'b'))
    assert weights_a.keys() == weights_b.keys()
    assert not any(k.startswith('aux.') for k in weights_a)
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)


def test_cli_export_ggcnn_without_onnx(tmp_path, capsys):
    make_checkpoint(tmp_path / 'g.pt', network='ggcnn', input_mode='depth')
    (tmp_path / 'out').mkdir()
    assert run_cli('--checkpoint', tmp_path / 'g.pt', '--out', tmp_path / 'out', '--no-onnx') == 0
    printed = capsys.readouterr().out
    assert 'parity OK' in printed and 'parameters: full' in printed
    stem = tmp_path / 'out' / 'out'  # an existing directory D gets D/D.*
    model, meta = load_torch_model(stem)
    assert meta['in_channels'] == 1 and 'onnx' not in meta['files']
    with pytest.raises(DeployModelError, match='no ONNX'):
        load_onnx_session(stem)


def test_parity_failure_exits_1_and_removes_metadata(tmp_path, monkeypatch, capsys):
    make_checkpoint(tmp_path / 'c.pt', network='ggcnn')
    real = deploy.load_torch_model

    def perturbed(path, device='cpu'):
        model, meta = real(path, device)
        with torch.no_grad():
            model.grasp.heads[0].bias.add_(1e-3)
        return model, meta

    monkeypatch.setattr(deploy, 'load_torch_model', perturbed)
    assert run_cli('--checkpoint', tmp_path / 'c.pt', '--out', tmp_path / 'c', '--no-onnx') == 1
    assert 'PARITY FAILED' in capsys.readouterr().out
    assert not (tmp_path / 'c.json').exists()


def truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


def copy_model(stem, dest):
    for suffix in ('.safetensors', '.onnx', '.json'):
        dest.with_suffix(suffix).write_bytes(stem.with_suffix(suffix).read_bytes())
    return dest


def drop_file_records(stem):
    meta = json.loads(stem.with_suffix('.json').read_text())
    meta['files'] = {}
    stem.with_suffix('.json').write_text(json.dumps(meta))


def test_truncated_safetensors_is_a_clear_error(exported, tmp_path):
    stem = copy_model(exported[1], tmp_path / 'm')
    truncate(stem.with_suffix('.safetensors'))
    with pytest.raises(DeployModelError, match=r'm\.safetensors.*truncated'):
        load_torch_model(stem)
    drop_file_records(stem)  # without the recorded size, safetensors itself must fail cleanly
    with pytest.raises(DeployModelError, match=r'cannot read weights .*m\.safetensors'):
        load_torch_model(stem)


def test_truncated_onnx_is_a_clear_error(exported, tmp_path):
    stem = copy_model(exported[1], tmp_path / 'm')
    truncate(stem.with_suffix('.onnx'))
    with pytest.raises(DeployModelError, match=r'm\.onnx.*truncated'):
        load_onnx_session(stem)
    drop_file_records(stem)
    with pytest.raises(DeployModelError, match=r'cannot load ONNX graph .*m\.onnx'):
        load_onnx_session(stem)


def test_truncated_or_wrong_json_is_a_clear_error(exported, tmp_path):
    stem = copy_model(exported[1], tmp_path / 'm')
    truncate(stem.with_suffix('.json'))
    with pytest.raises(DeployModelError, match=r'm\.json.*truncated'):
        load_torch_model(stem)
    stem.with_suffix('.json').write_text(json.dumps({'format': 'something else'}))
    with pytest.raises(DeployModelError, match='unsupported deploy format'):
        load_torch_model(stem)
    stem.with_suffix('.json').unlink()
    with pytest.raises(DeployModelError, match=r'not found: .*m\.json'):
        load_torch_model(stem)
    with pytest.raises(DeployModelError, match='not found'):
        load_torch_model(tmp_path / 'nothing_here')


def test_mismatched_weights_are_a_clear_error(exported, tmp_path):
    stem = copy_model(exported[1], tmp_path / 'm')
    deploy.save_weights(stem.with_suffix('.safetensors'), build_model('ggcnn', 'depth'))
    with pytest.raises(DeployModelError, match='SHA-256|bytes'):
        load_torch_model(stem)
    drop_file_records(stem)
    with pytest.raises(DeployModelError, match=r'encoder\.layers\.0\.0\.weight has shape'):
        load_torch_model(stem)


def test_truncated_checkpoint_is_a_clear_error(tmp_path, capsys):
    make_checkpoint(tmp_path / 'k.pt', network='ggcnn')
    truncate(tmp_path / 'k.pt')
    with pytest.raises(CheckpointError, match=r'k\.pt.*truncated'):
        export_module.export(tmp_path / 'k.pt', tmp_path / 'k', log=quiet)
    assert run_cli('--checkpoint', tmp_path / 'k.pt', '--out', tmp_path / 'k') == 2
    assert 'k.pt' in capsys.readouterr().err
    assert not (tmp_path / 'k.json').exists()
