"""Temporal tracking of the target grasp."""

import pytest

from mtg_grasp_ros.tracking import GraspTracker


def test_first_frame_takes_the_best():
    tracker = GraspTracker(radius=0.03, switch_margin=0.1)
    assert tracker.select([((0, 0, 0), 0.5), ((0.2, 0, 0), 0.9)], stamp=0.0) == 1
    assert tracker.select([], stamp=0.1) == -1


def test_keeps_a_nearby_target_unless_another_is_much_better():
    tracker = GraspTracker(radius=0.03, switch_margin=0.1, timeout=1.0)
    tracker.select([((0, 0, 0), 0.8)], stamp=0.0)
    # The far grasp is better, but by less than the margin: stay with the near one.
    assert tracker.select([((0.3, 0, 0), 0.85), ((0.01, 0, 0), 0.78)], stamp=0.1) == 1
    # The tracked position follows the chosen candidate.
    assert tracker.select([((0.3, 0, 0), 0.85), ((0.02, 0, 0), 0.8)], stamp=0.2) == 1
    # Better by more than the margin: switch.
    assert tracker.select([((0.3, 0, 0), 0.95), ((0.02, 0, 0), 0.8)], stamp=0.3) == 0
    assert tracker.select([((0.31, 0, 0), 0.6), ((0.0, 0, 0), 0.65)], stamp=0.4) == 0


def test_nothing_near_takes_the_best():
    tracker = GraspTracker(radius=0.03, switch_margin=0.5)
    tracker.select([((0, 0, 0), 0.8)], stamp=0.0)
    assert tracker.select([((0.1, 0, 0), 0.3), ((0.2, 0, 0), 0.4)], stamp=0.1) == 1


def test_timeout_and_time_jumps_forget_the_target():
    tracker = GraspTracker(radius=0.03, switch_margin=0.5, timeout=1.0)
    tracker.select([((0, 0, 0), 0.8)], stamp=10.0)
    candidates = [((0.3, 0, 0), 0.9), ((0.0, 0, 0), 0.5)]
    assert tracker.select(candidates, stamp=10.5) == 1
    tracker.select([((0, 0, 0), 0.8)], stamp=11.0)
    assert tracker.select(candidates, stamp=12.5) == 0     # stale
    tracker.select([((0, 0, 0), 0.8)], stamp=20.0)
    assert tracker.select(candidates, stamp=5.0) == 0      # bag replayed: time went back
    tracker.reset()
    assert tracker.position is None


def test_invalid_settings():
    with pytest.raises(ValueError):
        GraspTracker(radius=-1.0)
