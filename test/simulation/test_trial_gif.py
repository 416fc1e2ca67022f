"""The trial GIF (issue 13 part 2b): a recorded trial ends as it would unrecorded, and its GIF
shows the wrist view beside the third-person view, one frame per 1/fps simulated s."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from simulation.closed_loop import run_trial, TrialConfig
from simulation.servo import ServoGains
from simulation.trial_gif import draw_jaws, jaw_pixels, side_camera, TrialRecorder
from simulation.wrist_rig import RigConfig, WristRig

pytest.importorskip('pybullet')


def test_jaws_are_drawn_where_the_target_projects():
    camera = side_camera([0.0, 0.0, 0.0], size=120)
    target = SimpleNamespace(position=np.zeros(3), yaw=0.0, opening=0.06)
    a, b = jaw_pixels(camera, target)
    image = draw_jaws(np.zeros((120, 120, 3), np.uint8), camera, target)
    assert a != b and image[a[1], a[0]].any() and image[b[1], b[0]].any()
    assert jaw_pixels(camera, None) is None
    with pytest.raises(ValueError):
        TrialRecorder(fps=0)


def test_a_recorded_trial_writes_a_small_gif(tmp_path):
    from PIL import Image

    with WristRig(RigConfig(width=160, height=120, object_ids=[460], seed=3,
                            shadows=False)) as rig:
        def process(rgb, model, pose):
            obj = rig.scene.objects[0]
            major, _, breadth = obj.axes()
            return SimpleNamespace(grasps=[SimpleNamespace(
                position=[*obj.centre, 0.005], quality=0.9, yaw=major + math.pi / 2,
                width_m=breadth)])

        recorder = TrialRecorder(fps=4.0, side_size=100)
        config = TrialConfig(camera_rate=5.0, latency=0.2,
                             gains=ServoGains(final_speed=0.1, k_z=4.0, lift_height=0.05))
        result = run_trial(rig, SimpleNamespace(process=process), config, observer=recorder)
    assert result.lifted, '\n'.join(result.log)
    path = recorder.save(tmp_path / 'trial.gif')
    with Image.open(path) as gif:
        assert gif.size == (160 + 100, 120)
        # One frame per 1/4 s and one more at every change of state (close and lift are one
        # call each: no frames within them; Pillow merges identical frames).
        assert result.closed_at * 4 - 3 <= gif.n_frames <= result.sim_time * 4 + 6
    assert path.stat().st_size < 1_500_000
