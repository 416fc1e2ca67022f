"""bench-report: grasp-bench JSON files summed into one table per planner and setting."""

import json
import math

import pytest

from mtg_grasp_ros.pipeline_config import PipelineConfig
from training.__main__ import main as training_main
from training.bench_report import collect, markdown, row_name, wilson


def bench_json(path, model, table, object_set, node, baseline=None, **settings):
    summary = {'node': {'isolated_success': node[0], 'isolated_drops': node[1],
                        'clutter_cleared': node[2], 'clutter_objects': node[3]}}
    if baseline:
        summary['baseline'] = {'isolated_success': baseline[0], 'isolated_drops': baseline[1],
                               'clutter_cleared': baseline[2], 'clutter_objects': baseline[3]}
    settings.setdefault('centring_fraction', 0.3)   # the node's default since it exists
    settings.setdefault('jaw_clearance', PipelineConfig.jaw_clearance)
    settings.setdefault('clearance_fraction', PipelineConfig.clearance_fraction)
    settings.setdefault('max_opening', 0.12)
    settings.setdefault('node_max_opening', 0.12)
    path.write_text(json.dumps({'settings': {'model': model, 'table': table,
                                             'object_set': object_set, **settings},
                                'summary': summary}))
    return path


def test_runs_are_summed_per_planner_and_setting_with_a_total(tmp_path, capsys):
    a = bench_json(tmp_path / 'a.json', 'models/m1', 'plain', 'procedural', (8, 10, 4, 5),
                   baseline=(10, 10, 2, 5), jaws_outside_view='last')
    b = bench_json(tmp_path / 'b.json', 'models/m1', 'textured', 'procedural', (5, 10, 3, 5),
                   baseline=(9, 10, 1, 5), jaws_outside_view='last')
    c = bench_json(tmp_path / 'c.json', 'models/m1', 'plain', 'procedural', (9, 10, 5, 5),
                   jaws_outside_view='keep')
    table = collect([a, b, c])
    assert table['models/m1']['plain, procedural'] == {'isolated': (8, 10), 'clutter': (4, 5)}
    assert table['models/m1, jaws outside view keep']['plain, procedural']['isolated'] == (9, 10)
    text = markdown(table)
    assert ('| models/m1 | 80% (8/10) / 80% (4/5) | 50% (5/10) / 60% (3/5) '
            '| 65% (13/20) / 70% (7/10) |') in text
    assert '| baseline | 100% (10/10) / 40% (2/5) | 90% (9/10) / 20% (1/5) |' in text
    assert training_main(['bench-report', str(a), str(b), '--plot',
                          str(tmp_path / 'p.png')]) == 0
    assert (tmp_path / 'p.png').stat().st_size > 0
    bad = tmp_path / 'bad.json'
    bad.write_text('{"x": 1}')
    assert training_main(['bench-report', str(bad)]) == 2
    assert 'not a grasp-bench' in capsys.readouterr().out


def test_row_names_show_non_default_node_settings():
    assert row_name('baseline', {'model': 'm'}) == 'baseline'
    # Runs before an option existed: its value then (jaws kept, no centring, no clearance).
    assert (row_name('node', {'model': 'a/b', 'jaws_in_view': True})
            == 'a/b, jaws outside view drop, centring 0, no jaw clearance, gripper unknown to '
               'the node')
    assert (row_name('node', {'model': 'a/b', 'opening_margin': 0.0})
            == 'a/b, jaws outside view keep, centring 0, no jaw clearance, gripper unknown to '
               'the node, margin 0 m')
    assert row_name('node', {'model': 'a/b', 'jaws_outside_view': 'last',
                             'centring_fraction': 0.3, **DEFAULT_CLEARANCE}) == 'a/b'


def test_jaw_clearance_settings_other_than_the_default_get_their_own_row():
    base = {'model': 'm', 'jaws_outside_view': 'last', 'centring_fraction': 0.3,
            'max_opening': 0.12, 'node_max_opening': 0.12}
    assert row_name('node', {**base, 'jaw_clearance': 0.0}) == 'm, no jaw clearance'
    assert (row_name('node', {**base, 'jaw_clearance': 0.035, 'clearance_fraction': 0.5})
            == 'm, jaw clearance 0.035 m at 0.5')
    assert row_name('node', {**base, **DEFAULT_CLEARANCE}) == 'm'


def test_runs_whose_node_was_not_told_its_gripper_get_their_own_row():
    base = {'model': 'm', 'jaws_outside_view': 'last', 'centring_fraction': 0.3,
            **DEFAULT_CLEARANCE}
    assert row_name('node', {**base, 'node_max_opening': 0.0}) == 'm, gripper unknown to the node'
    assert row_name('node', {**base, 'node_max_opening': 0.1}) == 'm, node max opening 0.1 m'


DEFAULT_CLEARANCE = {'jaw_clearance': PipelineConfig.jaw_clearance,
                     'clearance_fraction': PipelineConfig.clearance_fraction,
                     'max_opening': 0.12, 'node_max_opening': 0.12}


def test_wilson_interval():
    low, high = wilson(8, 10)
    assert low == pytest.approx(0.490, abs=0.002) and high == pytest.approx(0.943, abs=0.002)
    assert all(math.isnan(v) for v in wilson(0, 0))  # no trials


def test_runs_before_grasp_centring_or_without_it_get_their_own_row():
    base = {'model': 'm', 'jaws_outside_view': 'last', **DEFAULT_CLEARANCE}
    assert row_name('node', base) == 'm, centring 0'
    assert row_name('node', {**base, 'centring_fraction': 0.0}) == 'm, centring 0'
    assert row_name('node', {**base, 'centring_fraction': 0.3}) == 'm'


def test_runs_avoiding_failed_grasps_get_their_own_node_and_baseline_rows():
    settings = {'model': 'models/m1', 'jaws_outside_view': 'last', 'avoid_failed': True,
                'centring_fraction': 0.3, **DEFAULT_CLEARANCE}
    assert row_name('node', settings) == 'models/m1, avoiding failed grasps'
    assert row_name('baseline', settings) == 'baseline, avoiding failed grasps'
    assert row_name('lookahead', settings) == 'lookahead'   # it never sees the failures
    assert row_name('baseline', {'model': 'models/m1'}) == 'baseline'
