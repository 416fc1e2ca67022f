"""The reference grasp servo (issue 13 part 2, no ROS, no pybullet): poses integrated in pure
Python at the controller's rate."""

import math

import numpy as np
import pytest

from mtg_grasp_ros.transforms import RigidTransform
from simulation.servo import (GraspServo, GraspTarget, ServoGains, ServoState, tool_yaw,
                              yaw_error)
from simulation.wrist_rig import tool_rotation, Twist

DT = 0.01  # 100 Hz


class Tool:
    """A kinematic tool: integrates twists exactly."""

    def __init__(self, xyz=(0.0, 0.0, 0.35), yaw=0.0) -> None:
        self.position = np.asarray(xyz, dtype=np.float64)
        self.yaw = float(yaw)

    def pose(self) -> RigidTransform:
        return RigidTransform(tool_rotation(self.yaw), self.position)

    def step(self, twist: Twist, dt: float = DT) -> None:
        self.position = self.position + np.asarray(twist.linear) * dt
        self.yaw = math.remainder(self.yaw + twist.yaw_rate * dt, 2 * math.pi)


def run(servo, tool, target, seconds, stop=None, t0=0.0):
    """Step ``seconds``; returns the twists and the states seen. ``stop(state)`` ends early."""
    twists, states = [], []
    for k in range(int(round(seconds / DT))):
        twist = servo.update(tool.pose(), target, t0 + k * DT)
        tool.step(twist)
        twists.append(twist)
        states.append(servo.state)
        if stop is not None and stop(servo.state):
            break
    return twists, states


def test_yaw_helpers():
    assert yaw_error(0.1, 0.0) == pytest.approx(0.1)
    # Modulo pi: a grasp at yaw 3 is the same grasp as 3 - pi: turn by -0.14, not 3.
    assert yaw_error(3.0, 0.0) == pytest.approx(3.0 - math.pi)
    assert yaw_error(-1.5, 1.5) == pytest.approx(math.pi - 3.0)
    assert abs(yaw_error(1.2345, -2.0)) <= math.pi / 2
    for yaw in (-3.0, -1.0, 0.0, 0.7, 2.5):
        assert tool_yaw(RigidTransform(tool_rotation(yaw), np.zeros(3))) == pytest.approx(yaw)
    with pytest.raises(ValueError):
        ServoGains(k_xy=0.0)
    with pytest.raises(ValueError):
        ServoGains(final_speed=-1.0)


def test_converges_to_the_pregrasp_then_descends_closes_and_lifts():
    gains = ServoGains()
    servo = GraspServo(gains)
    tool = Tool((0.0, 0.0, 0.35), 0.0)
    target = GraspTarget(0.08, -0.05, 0.01, 0.6, 0.05)
    pregrasp = target.position + [0.0, 0.0, gains.pregrasp_height]
    _, states = run(servo, tool, target, 5.0, stop=lambda s: s is not ServoState.APPROACH)
    assert servo.state is ServoState.FINAL, states[-1]
    # Reached the pre-grasp (within the tolerances) before freezing, yaw aligned.
    assert np.linalg.norm(tool.position[:2] - pregrasp[:2]) < gains.xy_tolerance
    assert abs(tool.position[2] - pregrasp[2]) < gains.z_tolerance
    assert abs(yaw_error(0.6, tool.yaw)) < gains.yaw_tolerance
    approach_time = len(states) * DT
    assert approach_time < 3.0
    # FINAL: straight down to the grasp, never faster than final_speed; xy held.
    twists, states = run(servo, tool, target, 5.0, stop=lambda s: s is not ServoState.FINAL,
                         t0=approach_time)
    assert servo.state is ServoState.CLOSE
    assert all(-tw.linear[2] <= gains.final_speed + 1e-9 for tw in twists)
    assert tool.position[2] == pytest.approx(target.z + gains.grasp_offset,
                                             abs=gains.z_tolerance)
    assert np.linalg.norm(tool.position[:2] - target.position[:2]) < gains.xy_tolerance
    assert servo.gripper == 'close'
    # CLOSE holds still for close_time, then LIFT raises lift_height, then DONE.
    t0 = approach_time + len(states) * DT
    closed_at = tool.position.copy()
    twists, states = run(servo, tool, None, 10.0, stop=lambda s: s is ServoState.DONE, t0=t0)
    assert servo.state is ServoState.DONE and servo.finished
    assert states.count(ServoState.CLOSE) * DT == pytest.approx(gains.close_time, abs=2 * DT)
    assert tool.position[2] - closed_at[2] == pytest.approx(gains.lift_height, abs=1e-3)
    np.testing.assert_allclose(tool.position[:2], closed_at[:2])
    assert servo.update(tool.pose(), None, 100.0) == Twist()


def test_yaw_turns_the_short_way_modulo_pi():
    servo = GraspServo()
    tool = Tool((0.0, 0.0, 0.3), 0.0)
    # Target yaw 3.0 rad: the same grasp as 3.0 - pi = -0.14 rad: turn ~0.14 rad clockwise.
    target = GraspTarget(0.0, 0.0, 0.0, 3.0)
    twists, _ = run(servo, tool, target, 3.0, stop=lambda s: s is not ServoState.APPROACH)
    assert twists[0].yaw_rate < 0
    assert tool.yaw == pytest.approx(3.0 - math.pi, abs=ServoGains().yaw_tolerance)


def test_speeds_are_clipped():
    gains = ServoGains(k_xy=50.0, k_z=50.0, k_yaw=50.0, max_linear=0.1, max_yaw_rate=0.5)
    servo = GraspServo(gains)
    tool = Tool((0.0, 0.0, 0.4), 0.0)
    target = GraspTarget(0.3, 0.2, 0.0, 1.2)
    twists, _ = run(servo, tool, target, 0.5)
    for tw in twists:
        assert np.linalg.norm(tw.linear) <= gains.max_linear + 1e-9
        assert abs(tw.yaw_rate) <= gains.max_yaw_rate + 1e-9
    assert np.linalg.norm(twists[0].linear) == pytest.approx(gains.max_linear)
    assert twists[0].yaw_rate == pytest.approx(gains.max_yaw_rate)


def test_follows_a_moving_target_and_freezes_it_below_the_replan_height():
    gains = ServoGains()
    servo = GraspServo(gains)
    tool = Tool((0.0, 0.0, 0.35), 0.0)
    # A target that moves during the approach: the pre-grasp follows it.
    for k in range(150):
        target = GraspTarget(0.05 + 0.0003 * k, 0.0, 0.0, 0.0) if k % 10 == 0 else None
        tool.step(servo.update(tool.pose(), target, k * DT))
    assert servo.state is ServoState.APPROACH
    assert tool.position[0] > 0.05 + 0.0003 * 100 - 0.01
    # Below the re-plan height above the target the target freezes: new detections are
    # ignored, the descent goes on to the frozen grasp.
    tool.position = np.array([servo.target.x, 0.0, gains.replan_height - 0.01])
    frozen = servo.target
    tool.step(servo.update(tool.pose(), GraspTarget(0.3, 0.3, 0.0, 1.0), 1.5))
    assert servo.state is ServoState.FINAL and servo.target == frozen
    twists, _ = run(servo, tool, GraspTarget(0.3, 0.3, 0.0, 1.0), 5.0, t0=1.51,
                    stop=lambda s: s is not ServoState.FINAL)
    assert servo.target == frozen and servo.state is ServoState.CLOSE
    assert tool.position[0] == pytest.approx(frozen.x, abs=1e-3)
    assert all(tw.linear[2] <= 0 for tw in twists)


def test_stale_target_holds_still_then_fails():
    gains = ServoGains(hold_timeout=0.2, lost_timeout=1.0)
    servo = GraspServo(gains)
    tool = Tool()
    assert servo.update(tool.pose(), GraspTarget(0.1, 0.0, 0.0, 0.0), 0.0) != Twist()
    assert servo.update(tool.pose(), None, 0.1) != Twist()
    assert servo.update(tool.pose(), None, 0.3) == Twist()   # stale: hold still
    assert servo.state is ServoState.APPROACH
    assert servo.update(tool.pose(), None, 1.1) == Twist()
    assert servo.state is ServoState.FAILED and servo.reason == 'target lost'
    # Never a target: fails after lost_timeout from the first update.
    servo.reset()
    servo.update(tool.pose(), None, 5.0)
    servo.update(tool.pose(), None, 6.5)
    assert servo.state is ServoState.FAILED and servo.reason == 'no target'


def test_a_jittering_target_ends_the_approach_after_the_dwell_time():
    # Two detections 12 mm apart, alternating at 15 Hz: the tool settles between them, never
    # within xy_tolerance of the newest, but near the pre-grasp: FINAL after dwell_time there.
    gains = ServoGains()
    servo, tool = GraspServo(gains), Tool((0.0, 0.0, 0.20), 0.3)
    jitter = [GraspTarget(0.05, y, 0.0, 0.3) for y in (-0.006, 0.006)]
    near_at = None
    for k in range(int(5.0 / DT)):
        target = jitter[(k // 7) % 2] if k % 7 == 0 else None
        tool.step(servo.update(tool.pose(), target, k * DT))
        error = np.linalg.norm(tool.position[:2] - servo.target.position[:2])
        if near_at is None and error < gains.dwell_xy and abs(
                tool.position[2] - gains.pregrasp_height) < gains.z_tolerance:
            near_at = k * DT
        if servo.state is not ServoState.APPROACH:
            break
    assert servo.state is ServoState.FINAL and near_at is not None
    assert k * DT - near_at == pytest.approx(gains.dwell_time, abs=0.1)
    assert np.linalg.norm(tool.position[:2] - servo.target.position[:2]) > gains.xy_tolerance
    with pytest.raises(ValueError):
        ServoGains(dwell_time=0.0)
