"""``python -m training grasp-bench`` end to end on tiny settings (a few seconds)."""

import argparse
import json

import pytest

from training.__main__ import main
from training.grasp_bench import register

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


def test_grasp_bench_textured_table_and_procedural_objects(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path))  # procedural shapes' files
    out = tmp_path / 'bench.json'
    code = main(['grasp-bench', '--objects', '1', '--seeds', '1', '--clutter-scenes', '1',
                 '--clutter-objects', '2', '--planners', 'baseline', '--table', 'textured',
                 '--object-set', 'procedural', '--quiet', '--json', str(out)])
    assert code == 0
    assert 'textured table, procedural objects' in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data['settings']['table'] == 'textured'
    assert data['settings']['object_set'] == 'procedural'
    ids = [i for r in data['isolated'] + data['clutter'] for i in r['object_ids']]
    assert data['isolated'][0]['object_ids'] == ['s000']
    assert all(i.startswith('s') and int(i[1:]) % 10 == 0 for i in ids)


def test_grasp_bench_defaults_keep_the_plain_table_and_random_urdfs():
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(['grasp-bench'])
    assert (args.table, args.object_set) == ('plain', 'random_urdfs')
    with pytest.raises(SystemExit):
        parser.parse_args(['grasp-bench', '--table', 'marble'])
    with pytest.raises(SystemExit):
        parser.parse_args(['grasp-bench', '--object-set', 'household'])


def test_grasp_bench_rejects_bad_arguments(capsys):
    assert main(['grasp-bench', '--objects', '0', '--clutter-scenes', '0']) == 2
    assert main(['grasp-bench', '--max-opening', '0.5']) == 2
    assert main(['grasp-bench', '--model', '/nonexistent/model', '--planners', 'node']) == 2
    assert 'error' in capsys.readouterr().err


def test_node_planner_executes_the_published_opening_plus_the_margin(tmp_path, capsys):
    # The same scene with margins 0 and 0.02: the executed opening is the published one + 2 cm.
    openings = []
    for margin in ('0', '0.02'):
        out = tmp_path / f'bench_{margin}.json'
        assert main(['grasp-bench', '--objects', '1', '--seeds', '1', '--clutter-scenes', '0',
                     '--planners', 'node', '--opening-margin', margin, '--quiet', '--json',
                     str(out)]) == 0
        data = json.loads(out.read_text())
        assert data['settings']['opening_margin'] == float(margin)
        openings.append(data['isolated'][0]['attempts'][0]['grasp']['opening'])
    assert openings[1] - openings[0] == pytest.approx(0.02, abs=2e-5)  # JSON keeps 5 decimals
