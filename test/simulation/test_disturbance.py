"""Dynamic scenes (issue 13 part 2b, no ROS): a drawn push is seeded and in its ranges; applied,
it slides and turns the object smoothly by the drawn amount, and the object stays resting on
the table."""

import math

import numpy as np
import pytest

from simulation.disturbance import Disturbance, ObjectPush, Push, smoothstep
from simulation.wrist_rig import RigConfig, WristRig

pytest.importorskip('pybullet')


def test_a_push_is_seeded_and_drawn_in_its_ranges():
    spec = Disturbance()
    assert spec.draw(7) == spec.draw(7) and spec.draw(7) != spec.draw(8) != spec.draw(8, 10)
    for seed in range(50):
        push = spec.draw(seed)
        assert 0.03 <= push.distance <= 0.06
        assert 20.0 <= abs(math.degrees(push.turn)) <= 45.0
        assert 0.5 <= push.start_time <= 1.5 and 0.15 <= push.start_height <= 0.20
    turns = [spec.draw(seed).turn for seed in range(50)]
    assert min(turns) < 0 < max(turns)   # both senses
    for bad in ({'distance': (0.06, 0.03)}, {'angle_deg': (-5.0, 10.0)}, {'duration': 0.0}):
        with pytest.raises(ValueError):
            Disturbance(**bad)
    assert smoothstep(-1) == 0.0 and smoothstep(0.5) == 0.5 and smoothstep(2) == 1.0


def footprint_yaw(obj) -> float:
    """The object's heading from its base orientation (rad)."""
    x, y, z, w = obj.quaternion
    return math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


def test_the_push_moves_the_object_smoothly_by_the_drawn_amount_on_the_table():
    with WristRig(RigConfig(width=160, height=120, object_ids=[460], seed=3,
                            shadows=False)) as rig:
        scene, obj = rig.scene, rig.scene.objects[0]
        push = Push(start_time=1.0, start_height=0.2, shift=(0.03, -0.04), turn=math.radians(30),
                    duration=0.4)
        mover = ObjectPush(scene, obj, push)
        centre0, yaw0 = obj.centre.copy(), footprint_yaw(obj)
        low0 = obj.vertices[:, 2].min()
        # Not yet: before the start time with the tool high; never while not approaching.
        assert not mover.update(0.5, 0.3) and not mover.update(2.0, 0.1, approaching=False)
        assert mover.started is None
        # The tool below the start height triggers it before the start time.
        t, halfway = 0.6, None
        while mover.finished is None:
            assert mover.update(t, 0.18)
            if halfway is None and t - mover.started >= 0.2 - 1e-9:
                halfway = obj.centre - centre0
            rig.step(0.01)
            t += 0.01
        assert mover.started == pytest.approx(0.6) and mover.moving is False
        assert mover.finished - mover.started == pytest.approx(0.4, abs=0.011)
        # Half the time, half the way (smoothstep): frames in between see it move.
        np.testing.assert_allclose(halfway, 0.5 * np.array(push.shift), atol=0.003)
        # Let it rest a second: still where it was pushed, turned, on the table.
        rig.step(1.0)
        scene.update_truth()
        np.testing.assert_allclose(obj.centre - centre0, push.shift, atol=0.002)
        turned = math.remainder(footprint_yaw(obj) - yaw0, 2 * math.pi)
        assert turned == pytest.approx(push.turn, abs=math.radians(1.5))
        assert obj.vertices[:, 2].min() == pytest.approx(low0, abs=0.002)
        assert not mover.update(t + 1.0, 0.1)   # done: no second push


def test_a_push_describes_itself_for_the_logs():
    push = Push(start_time=1.0, start_height=0.2, shift=(0.03, 0.04), turn=-0.5, duration=0.4)
    assert push.describe() == '50 mm, -29 deg over 0.4 s'
