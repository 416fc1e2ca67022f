"""``python -m training grasp-bench`` end to end on tiny settings (a few seconds)."""

import json

import pytest

from training.__main__ import main

pytest.importorskip('pybullet')


def test_grasp_bench_cli_tiny(tmp_path, capsys):
    out = tmp_path / 'bench.json'
    code = main(['grasp-bench', '--objects', '1', '--seeds', '1', '--clutter-scenes', '1',
                 '--clutter-objects', '2', '--candidates', '3', '--quiet', '--json', str(out)])
    assert code == 0
    text = capsys.readouterr().out
    for name in ('node', 'baseline', 'lookahead'):
        assert f'\n{name} ' in text and f'{name} failures:' in text
    data = json.loads(out.read_text())
    assert set(data['summary']) == {'node', 'baseline', 'lookahead'}
    for name, s in data['summary'].items():
        assert s['isolated_drops'] == 1 and s['clutter_objects'] == 2
        assert 0 <= s['clutter_cleared'] <= 2
    # The same scenes for every planner, one record per attempt.
    scenes = {(r['planner'], tuple(r['object_ids'])) for r in data['clutter']}
    assert len({ids for _, ids in scenes}) == 1
    attempt = data['isolated'][0]['attempts'][0]
    assert {'plan', 'success', 'remaining'} <= set(attempt)


def test_grasp_bench_rejects_bad_arguments(capsys):
    assert main(['grasp-bench', '--objects', '0', '--clutter-scenes', '0']) == 2
    assert main(['grasp-bench', '--max-opening', '0.5']) == 2
    assert main(['grasp-bench', '--model', '/nonexistent/model', '--planners', 'node']) == 2
    assert 'error' in capsys.readouterr().err
