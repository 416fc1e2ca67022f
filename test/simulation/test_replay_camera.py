"""The replay camera's schedule (simulation/replay_camera.py): deadlines on a fixed grid,
late and skipped frames counted; no ROS needed."""

import pytest

from simulation.replay_camera import next_deadline, PublishStats

T0 = 1_700_000_000.0


def test_deadlines_stay_on_the_grid():
    period = 1.0 / 60.0
    assert next_deadline(0.0, 0.0001, period) == (pytest.approx(period), 0)      # on time
    assert next_deadline(0.0, 0.9 * period, period) == (pytest.approx(period), 0)  # late < 1
    assert next_deadline(0.0, period, period) == (pytest.approx(period), 0)   # due right now
    nxt, skipped = next_deadline(0.0, 3.5 * period, period)                   # starved
    assert skipped == 3 and nxt == pytest.approx(4 * period)
    with pytest.raises(ValueError):
        next_deadline(0.0, 0.0, 0.0)
    # Publishing always 3 ms late never drifts: deadline k stays at k * period.
    deadline = 0.0
    for k in range(1, 10001):
        deadline, skipped = next_deadline(deadline, deadline + 0.003, period)
        assert skipped == 0
    assert deadline == pytest.approx(10000 * period, abs=1e-9)


def test_publish_stats_count_late_frames():
    stats = PublishStats(late_tolerance=0.002)
    for k, lateness in enumerate((0.0, 0.001, 0.0025, 0.010, 0.0)):
        stats.record(T0 + k / 30.0, lateness, 0.0005, 100.0 + k / 30.0)
    s = stats.summary(30.0)
    assert s['published'] == 5 and s['late'] == 2
    assert s['achieved_hz'] == pytest.approx(30.0)
    assert s['lateness_max_ms'] == pytest.approx(10.0) and s['first_stamp'] == T0
    assert PublishStats(0.002).summary(30.0)['achieved_hz'] is None
