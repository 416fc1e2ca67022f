"""A closed-loop grasp trial on the wrist rig (issue 13 part 2, no ROS): the node's pipeline on
the wrist frames, the node's tracker, the reference servo at 100 Hz. Bounded: each trial ends
within TrialConfig.max_time simulated seconds (a few seconds of wall time here)."""

import math
from types import SimpleNamespace
from unittest.mock import patch

import pytest

from simulation.closed_loop import make_pipeline, run_trial, TrialConfig
from simulation.disturbance import Disturbance, Push
from simulation.servo import ServoGains, ServoState
from simulation.wrist_rig import RigConfig, WristRig

pytest.importorskip('pybullet')


@pytest.fixture(scope='module')
def rig():
    with WristRig(RigConfig(width=320, height=240, object_ids=[460], seed=3,
                            shadows=False)) as r:
        yield r


def test_static_trial_lifts_a_held_out_object(rig):
    rig.reset()
    config = TrialConfig(max_time=15.0)
    result = run_trial(rig, make_pipeline(config.object_height), config)
    assert result.lifted, '\n'.join(result.log)
    assert result.state is ServoState.DONE and result.sim_time < config.max_time
    assert result.rise > 0.05
    # Closed loop: the target was updated repeatedly during the approach, at the camera rate.
    assert len(result.targets) >= 5
    assert result.frames <= result.sim_time * config.camera_rate + 1
    final = result.targets[-1][1]
    obj = rig.scene.objects[0]
    assert abs(final.x - obj.centre[0]) < 0.03 and abs(final.y - obj.centre[1]) < 0.03


def test_nothing_detected_fails_after_the_timeout(rig):
    rig.reset()
    empty = SimpleNamespace(process=lambda *args, **kwargs: SimpleNamespace(grasps=[]))
    config = TrialConfig(max_time=5.0, gains=ServoGains(lost_timeout=1.0))
    result = run_trial(rig, empty, config)
    assert not result.lifted and result.state is ServoState.FAILED
    assert result.reason == 'no target' and result.sim_time == pytest.approx(1.0, abs=0.05)
    assert rig.position.tolist() == list(rig.config.start_xyz)  # held still


#: A quicker final descent and a shorter lift: a shorter test.
FAST = ServoGains(final_speed=0.1, k_z=4.0, lift_height=0.05)


class Oracle:
    """A stand-in for the pipeline: the object's true top-down grasp (its footprint centre,
    closing across its footprint's minor axis) as seen now; counts its calls."""

    def __init__(self, rig):
        self.rig, self.calls = rig, 0

    def process(self, rgb, model, pose):
        self.calls += 1
        obj = self.rig.scene.objects[0]
        major, _, breadth = obj.axes()
        grasp = SimpleNamespace(position=[*obj.centre, 0.005], quality=0.9,
                                yaw=major + math.pi / 2, width_m=breadth + 0.02)
        return SimpleNamespace(grasps=[grasp])


def test_open_loop_plans_once_and_misses_a_pushed_object_the_closed_loop_lifts(rig):
    # A push of 10 cm along the grasp's closing axis: beyond the open jaws (12 cm wide).
    results = {}
    for replan in (True, False):
        rig.reset()
        obj = rig.scene.objects[0]
        major = obj.axes()[0]
        push = Disturbance(distance=(0.1, 0.1), angle_deg=(20.0, 20.0))
        oracle = Oracle(rig)
        config = TrialConfig(camera_rate=15.0, latency=1 / 15.0, replan=replan, seed=5,
                             disturbance=push, gains=FAST)
        spec = push.draw(5, obj.index)
        # The direction: across the footprint's major axis (the oracle's closing axis).
        across = major + math.pi / 2
        drawn = Push(spec.start_time, spec.start_height,
                     (0.1 * math.cos(across), 0.1 * math.sin(across)), spec.turn, spec.duration)
        with patch.object(Disturbance, 'draw', return_value=drawn):
            results[replan] = result = run_trial(rig, oracle, config)
        assert result.pushed_at is not None and result.push == drawn, '\n'.join(result.log)
        if not replan:
            assert oracle.calls == 1 and result.frames == 1 and len(result.targets) == 1
    closed, opened = results[True], results[False]
    assert closed.lifted and closed.outcome == 'lifted', '\n'.join(closed.log)
    assert len(closed.targets) >= 10 and closed.close_offset == 0.0
    assert not opened.lifted and opened.outcome == 'missed', '\n'.join(opened.log)
