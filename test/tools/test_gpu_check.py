"""``python -m tools.gpu_check`` on the CPU: every stage and precision row, unsupported ones
marked (fp16 off CUDA), and exit code 2 without CUDA unless ``--device cpu``."""

import json

import torch

from mtg_grasp_ros.deploy import default_model_path
from tools.gpu_check import BACKENDS, main, PRECISIONS, prepare, unsupported_reason
from tools.stage_benchmark import STAGES


def test_cpu_check_writes_every_stage_and_precision_row(tmp_path):
    path = tmp_path / 'gpu_check.json'
    assert main(['--device', 'cpu', '--frames', '2', '--warmup', '0', '--block', '2',
                 '--json', str(path)]) == 0
    report = json.loads(path.read_text())
    rows = {(r['backend'], r['precision']): r for r in report['rows']}
    assert set(rows) == {(b, p) for b in BACKENDS for p in PRECISIONS}
    assert rows['torch', 'fp16']['status'] == 'unsupported'
    assert 'needs CUDA' in rows['torch', 'fp16']['reason']
    assert rows['onnx', 'bf16']['status'] == 'unsupported'
    assert rows['onnx', 'fp16']['status'] == 'unsupported'
    for key in (('torch', 'fp32'), ('torch', 'bf16')):
        row = rows[key]
        assert row['status'] == 'measured', row
        assert set(row['stages']) == set(STAGES)
        assert row['end_to_end']['p50'] > 0 and row['fps'] > 0
    assert rows['onnx', 'fp32']['status'] in ('measured', 'not available')
    assert report['environment']['device'] == 'cpu'


def test_without_cuda_it_exits_2_with_the_message(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert main([]) == 2
    err = capsys.readouterr().err
    assert 'PyTorch sees no GPU' in err and '--device cpu' in err


def test_cuda_rows_are_not_available_rather_than_a_crash(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    rows, variants = prepare(default_model_path(), 'cuda', ['fp32', 'fp16'], with_onnx=True)
    assert not variants
    status = {(r.backend, r.precision): r.status for r in rows}
    assert status == {('torch', 'fp32'): 'not available', ('torch', 'fp16'): 'not available',
                      ('onnx', 'fp32'): 'not available', ('onnx', 'fp16'): 'unsupported'}


def test_fp16_is_a_cuda_row_of_the_torch_backend_only():
    assert unsupported_reason('torch', 'fp16', 'cuda') is None
    assert 'needs CUDA' in unsupported_reason('torch', 'fp16', 'cpu')
    assert 'fp32 only' in unsupported_reason('onnx', 'fp16', 'cuda')
    assert unsupported_reason('torch', 'bf16', 'cpu') is None
