"""The closed-loop bench (issue 13 part 2b): the summary of synthetic trials (rates, Wilson
intervals, times, failure counts), its table and plot, and the CLI on one real trial."""

import json
import math

import pytest

from tools import closed_loop_bench
from tools.closed_loop_report import main as report_main, markdown, plot, summarise


def record(scene, loop, rate, lifted, outcome='lifted', closed_at=5.0, wall=2.0):
    return {'scene': scene, 'loop': loop, 'rate': rate, 'lifted': lifted,
            'outcome': outcome, 'closed_at': closed_at,
            'wall_time': wall}


def synthetic():
    records = [record('moving', 'open', 15, False, 'missed') for _ in range(3)]
    records += [record('moving', 'open', 15, True, closed_at=4.0)]
    records += [record('static', 'closed', 30, True, closed_at=t) for t in (5.0, 6.0, 7.0)]
    records += [record('static', 'closed', 30, False, 'target_lost', closed_at=None),
                record('moving', 'open', 15, False, 'dropped', wall=6.0)]
    return records


def test_the_summary_counts_rates_intervals_times_and_failures():
    rows = summarise(synthetic())
    assert [(r.scene, r.loop, r.rate) for r in rows] == [('static', 'closed', 30.0),
                                                         ('moving', 'open', 15.0)]
    static, moving = rows
    assert (static.ok, static.n, static.success) == (3, 4, 0.75)
    assert static.low == pytest.approx(0.301, abs=1e-3) and static.high == pytest.approx(
        0.954, abs=1e-3)                            # Wilson 95%, 3 of 4
    assert static.time_to_grasp == 6.0              # median over the lifted trials only
    assert static.failures == {'target_lost': 1}
    assert (moving.ok, moving.n) == (1, 5) and moving.time_to_grasp == 4.0
    assert moving.failures == {'missed': 3, 'dropped': 1}
    assert moving.wall == pytest.approx(2.8)
    table = markdown(rows).splitlines()
    assert table[0].startswith('| scene | loop | rate (Hz) | success | 95% CI')
    assert table[2] == ('| static | closed | 30 | **75%** (3/4) | 30-95% | 6.00 | 2.0 '
                        '| target_lost 1 |')
    assert 'missed 3, dropped 1' in table[3]
    empty = summarise([record('static', 'open', 15, False, 'no_target', closed_at=None)])[0]
    assert math.isnan(empty.time_to_grasp) and '| - |' in markdown([empty])


def test_plot_and_report_cli(tmp_path, capsys):
    pytest.importorskip('matplotlib')
    png = plot(summarise(synthetic()), tmp_path / 'bars.png')
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    path = tmp_path / 'trials.jsonl'
    path.write_text(''.join(json.dumps(r) + '\n' for r in synthetic()))
    assert report_main([str(path)]) == 0
    assert '**75%** (3/4)' in capsys.readouterr().out


def test_settings_and_their_trial_config():
    settings = closed_loop_bench.settings(['static', 'moving'], ['closed', 'open'], [15, 30])
    assert len(settings) == 8 and settings[0] == closed_loop_bench.Setting('static', 'closed',
                                                                           15.0)
    options = closed_loop_bench.BenchOptions()
    moving_open = closed_loop_bench.trial_config(closed_loop_bench.Setting('moving', 'open', 30),
                                                 7, options)
    assert not moving_open.replan and moving_open.disturbance is not None
    assert moving_open.latency == pytest.approx(1 / 30) and moving_open.seed == 7
    slow = closed_loop_bench.trial_config(closed_loop_bench.Setting('moving', 'closed', 15), 1,
                                          closed_loop_bench.BenchOptions(latency=0.4,
                                                                         control_rate=25.0))
    assert slow.replan and slow.latency == 0.4 and slow.control_rate == 25.0
    assert closed_loop_bench.main(['--control-rate', '0']) == 2
    with pytest.raises(ValueError):
        closed_loop_bench.Setting('windy', 'closed', 15)
    assert not set(closed_loop_bench.BENCH_OBJECTS) & set(closed_loop_bench.DEV_OBJECTS)


def test_the_cli_runs_one_trial(tmp_path, capsys):
    pytest.importorskip('pybullet')
    out = tmp_path / 'trials.jsonl'
    code = closed_loop_bench.main(['--objects', '460', '--seeds', '3', '--scenes', 'static',
                                   '--loops', 'open', '--rates', '15', '--json', str(out),
                                   '--max-time', '8', '--control-rate', '50'])
    assert code == 0
    (trial,) = [json.loads(line) for line in out.read_text().splitlines()]
    key = (trial['object'], trial['seed'], trial['scene'], trial['loop'])
    assert key == (460, 3, 'static', 'open')
    assert trial['frames'] == 1 and trial['targets'] == 1 and trial['push'] is None
    assert trial['control_rate'] == 50.0
    assert trial['outcome'] in ('lifted', 'missed', 'dropped', 'timeout')
    printed = capsys.readouterr().out
    assert '| static | open | 15 |' in printed and '1 trials, objects 460, seeds 3' in printed


def test_the_summary_line_lists_a_few_objects_and_abridges_many():
    assert closed_loop_bench.object_list([500, 510]) == 'objects 500, 510'
    assert (closed_loop_bench.object_list(list(range(500, 700, 10)))
            == '20 objects: 500, 510, ..., 690')
