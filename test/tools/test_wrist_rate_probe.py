"""The wrist camera rate probe: bad options refused, short real runs (both render paths) print
both rates, the render time and the load."""

import pytest

from tools import wrist_rate_probe


def test_seconds_out_of_range_are_refused():
    for bad in (['--seconds', '0'], ['--seconds', '-1'], ['--seconds', '301'],
                ['--renderer', 'opengl']):
        with pytest.raises(SystemExit) as exc:
            wrist_rate_probe.main(bad)
        assert exc.value.code == 2


@pytest.mark.parametrize('renderer', ['composite', 'reference'])
def test_a_short_run_prints_the_moving_and_still_rates(capsys, monkeypatch, renderer):
    pytest.importorskip('rclpy')
    pytest.importorskip('pybullet')
    monkeypatch.setattr(wrist_rate_probe, 'STILL_S', 1.0)
    assert wrist_rate_probe.main(['--seconds', '1', '--width', '160', '--height', '120',
                                  '--renderer', renderer]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f'160x120, shadows on, {renderer} render: moving ')
    assert 'standing still' in out and 'render p50' in out and 'load average' in out
    moving = int(out.split('moving ')[1].split(' frames')[0])
    assert moving >= 1
