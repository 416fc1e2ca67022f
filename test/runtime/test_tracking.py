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


def test_ids_follow_the_grasps_and_are_never_reused():
    tracker = GraspTracker(radius=0.03, switch_margin=0.1, timeout=1.0)
    target, ids = tracker.track([((0, 0, 0), 0.8), ((0.2, 0, 0), 0.6)], stamp=0.0)
    assert (target, ids) == (0, [0, 1])
    # Order swapped and moved a little: each grasp keeps its id; a new one gets id 2.
    target, ids = tracker.track([((0.21, 0, 0), 0.9), ((0.01, 0, 0), 0.85),
                                 ((0.5, 0, 0), 0.3)], stamp=0.1)
    assert ids == [1, 0, 2] and target == 1
    # Two candidates near one previous grasp: the better one keeps its id.
    _, ids = tracker.track([((0.011, 0, 0), 0.5), ((0.009, 0, 0), 0.7)], stamp=0.2)
    assert ids == [3, 0]
    # After the timeout (or a reset) every grasp is new.
    _, ids = tracker.track([((0.009, 0, 0), 0.7)], stamp=5.0)
    assert ids == [4]
    tracker.reset()
    assert tracker.track([((0.009, 0, 0), 0.7)], stamp=5.1)[1] == [5]
    assert tracker.track([], stamp=5.2) == (-1, [])


def test_configure_changes_the_settings_and_keeps_the_target():
    tracker = GraspTracker(radius=0.03, switch_margin=0.5)
    tracker.select([((0, 0, 0), 0.8)], stamp=0.0)
    tracker.configure(radius=0.001, switch_margin=0.5, timeout=1.0)
    assert tracker.position is not None
    assert tracker.select([((0.01, 0, 0), 0.8), ((0.5, 0, 0), 0.7)], stamp=0.1) == 0
    with pytest.raises(ValueError):
        tracker.configure(radius=0.0, switch_margin=-1.0, timeout=1.0)
