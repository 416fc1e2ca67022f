"""A closed-loop grasp trial on the wrist rig (issue 13 part 2, no ROS): the node's pipeline on
the wrist frames, the node's tracker, the reference servo at 100 Hz. Bounded: each trial ends
within TrialConfig.max_time simulated seconds (a few seconds of wall time here)."""

from types import SimpleNamespace

import pytest

from simulation.closed_loop import make_pipeline, run_trial, TrialConfig
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
