"""The wrist camera rate probe: bad options refused, a short real run prints both rates."""

import pytest

from tools import wrist_rate_probe


def test_seconds_out_of_range_are_refused():
    for bad in ('0', '-1', '301'):
        with pytest.raises(SystemExit) as exc:
            wrist_rate_probe.main(['--seconds', bad])
        assert exc.value.code == 2


def test_a_short_run_prints_the_moving_and_still_rates(capsys, monkeypatch):
    pytest.importorskip('rclpy')
    pytest.importorskip('pybullet')
    monkeypatch.setattr(wrist_rate_probe, 'STILL_S', 1.0)
    assert wrist_rate_probe.main(['--seconds', '1', '--width', '160', '--height', '120']) == 0
    out = capsys.readouterr().out
    assert out.startswith('160x120, shadows on: moving ') and 'standing still' in out
    moving = int(out.split('moving ')[1].split(' frames')[0])
    assert moving >= 1
