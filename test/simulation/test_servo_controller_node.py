"""The reference servo controller node over real topics (issue 13 part 2): a tester plays the
robot (integrates the node's TwistStamped commands, broadcasts base_link -> gripper_tool on a
real /tf) and the grasp node (a Detection3DArray in base_link); the node's commands arrive at
about its 100 Hz rate and bring the tool to the pre-grasp above the tracked detection, then down.
Skips without tf2_ros or vision_msgs."""

import math
from pathlib import Path
import signal
import subprocess
import sys
import time

from geometry_msgs.msg import TransformStamped, TwistStamped
import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile
from std_msgs.msg import String

from mtg_grasp_ros.transforms import quaternion_from_matrix, quaternion_from_rpy
from simulation.servo import GraspTarget, ServoGains
from simulation.servo_controller_node import choose, quaternion_yaw
from simulation.wrist_rig import tool_rotation

tf2_ros = pytest.importorskip('tf2_ros', reason='tf2_ros is not installed (no PyPI wheel)')
vision_msgs = pytest.importorskip('vision_msgs.msg', reason='vision_msgs is not installed')

ROOT = Path(__file__).resolve().parents[2]


def test_quaternion_yaw():
    for yaw in (-2.0, 0.0, 0.4, 3.0):
        assert quaternion_yaw(*quaternion_from_rpy(0.0, 0.0, yaw)) == pytest.approx(yaw)
        # A top-down grasp pose (roll pi) has the same closing-axis yaw.
        assert quaternion_yaw(*quaternion_from_rpy(math.pi, 0.0, yaw)) == pytest.approx(yaw)


def detection(det_id, xyz, yaw, opening=0.05, score=0.9):
    d = vision_msgs.Detection3D()
    d.id = det_id
    d.header.frame_id = 'base_link'
    h = vision_msgs.ObjectHypothesisWithPose()
    h.hypothesis.class_id, h.hypothesis.score = 'grasp', score
    h.pose.pose.position.x, h.pose.pose.position.y, h.pose.pose.position.z = xyz
    q = quaternion_from_rpy(math.pi, 0.0, yaw)
    o = h.pose.pose.orientation
    o.x, o.y, o.z, o.w = (float(v) for v in q)
    d.results.append(h)
    d.bbox.center = h.pose.pose
    d.bbox.size.x = opening
    return d


def test_choose_the_tracked_id_else_the_nearest_to_the_previous_target_else_the_best():
    best = detection('7', (0.2, 0.2, 0.005), 0.0, score=0.95)
    tracked = detection('3', (0.06, -0.04, 0.005), 0.5)
    renumbered = detection('9', (0.075, -0.04, 0.005), 0.6)   # 1.5 cm from the previous
    previous = GraspTarget(0.06, -0.04, 0.005, 0.5, 0.05, 0.9)
    assert choose([best, tracked, renumbered], '3', previous, 0.03) is tracked
    assert choose([best, renumbered], '3', previous, 0.03) is renumbered
    assert choose([best, renumbered], '3', previous, 0.01) is best   # too far
    assert choose([best, renumbered], '3', previous, 0.0) is best    # switched off
    assert choose([best, renumbered], None) is best
    assert choose([], '3', previous, 0.03) is None


def test_controller_servoes_a_simulated_tool_to_the_tracked_detection(ros):
    from simulation.servo_controller_node import ServoControllerNode

    ns = f'/servo{time.monotonic_ns() % 100000}'
    node = ServoControllerNode(namespace=ns, parameter_overrides=[
        Parameter('rate', value=100.0), Parameter('max_linear', value=0.3)])
    tester = rclpy.create_node('servo_tester', namespace=ns)
    commands, states = [], []
    tester.create_subscription(TwistStamped, 'cmd_twist', commands.append, 100)
    tester.create_subscription(String, 'servo_controller/state',
                               lambda m: states.append(m.data), 10)
    det_pub = tester.create_publisher(vision_msgs.Detection3DArray, 'detections', 10)
    broadcaster = tf2_ros.TransformBroadcaster(tester)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(tester)
    position, yaw = np.array([0.0, 0.0, 0.35]), 0.0
    target = (0.06, -0.04, 0.005)
    gains = ServoGains()
    try:
        t_last = time.monotonic()
        t_end = t_last + 3.0
        next_det = 0.0
        while time.monotonic() < t_end:
            now = time.monotonic()
            if now >= next_det:   # the grasp node at 10 Hz: the best first, the tracked second
                array = vision_msgs.Detection3DArray()
                array.header.frame_id = 'base_link'
                array.detections = [detection('7', (0.2, 0.2, 0.005), 0.0, score=0.95),
                                    detection('3', target, 0.5)]
                if next_det == 0.0:   # the first frame: the target is the best one
                    array.detections = array.detections[::-1]
                det_pub.publish(array)
                next_det = now + 0.1
            # The robot: integrate the newest command, publish the tool pose.
            dt, t_last = now - t_last, now
            if commands:   # the newest command holds until the next
                cmd = commands[-1].twist
                position = position + dt * np.array([cmd.linear.x, cmd.linear.y, cmd.linear.z])
                yaw += dt * cmd.angular.z
            tf = TransformStamped()
            tf.header.stamp = tester.get_clock().now().to_msg()
            tf.header.frame_id, tf.child_frame_id = 'base_link', 'gripper_tool'
            (tf.transform.translation.x, tf.transform.translation.y,
             tf.transform.translation.z) = (float(v) for v in position)
            q = quaternion_from_matrix(tool_rotation(yaw))
            r = tf.transform.rotation
            r.x, r.y, r.z, r.w = (float(v) for v in q)
            broadcaster.sendTransform(tf)
            executor.spin_once(timeout_sec=0.002)
    finally:
        executor.shutdown()
        node.destroy_node()
        tester.destroy_node()
    # ~100 Hz of commands in base_link (a loaded 2-core machine gets fewer ticks).
    assert len(commands) >= 0.6 * 100 * 3.0, len(commands)
    assert commands[-1].header.frame_id == 'base_link'
    # The tracked target (id '3', not the better-scored '7'), reached and descended upon.
    assert 'final' in states, (states, position, yaw, len(commands))
    np.testing.assert_allclose(position[:2], target[:2], atol=0.01)
    assert position[2] < target[2] + gains.pregrasp_height - 0.02
    assert abs(math.remainder(yaw - 0.5, math.pi)) < 0.1


class Robot:
    """The tester's robot: integrates the newest command of the controller in namespace ``ns``
    and broadcasts base_link -> gripper_tool; publishes detection arrays; records ``~/state``
    (latched, as a monitor that joins late) and the commands."""

    def __init__(self, ns, position, yaw=0.0):
        self.node = rclpy.create_node('servo_robot', namespace=ns)
        self.commands, self.states = [], []
        self.node.create_subscription(TwistStamped, 'cmd_twist', self.commands.append, 100)
        self.node.create_subscription(
            String, 'servo_controller/state', lambda m: self.states.append(m.data),
            QoSProfile(depth=10, durability=DurabilityPolicy.TRANSIENT_LOCAL))
        self.detections = self.node.create_publisher(vision_msgs.Detection3DArray,
                                                     'detections', 10)
        self.broadcaster = tf2_ros.TransformBroadcaster(self.node)
        self.position, self.yaw = np.array(position, float), yaw
        self.t_last = time.monotonic()

    def publish(self, *detections):
        array = vision_msgs.Detection3DArray()
        array.header.frame_id = 'base_link'
        array.detections = list(detections)
        self.detections.publish(array)

    def step(self):
        now = time.monotonic()
        dt, self.t_last = now - self.t_last, now
        if self.commands:
            cmd = self.commands[-1].twist
            self.position += dt * np.array([cmd.linear.x, cmd.linear.y, cmd.linear.z])
            self.yaw += dt * cmd.angular.z
        tf = TransformStamped()
        tf.header.stamp = self.node.get_clock().now().to_msg()
        tf.header.frame_id, tf.child_frame_id = 'base_link', 'gripper_tool'
        (tf.transform.translation.x, tf.transform.translation.y,
         tf.transform.translation.z) = (float(v) for v in self.position)
        r = tf.transform.rotation
        r.x, r.y, r.z, r.w = (float(v) for v in quaternion_from_matrix(tool_rotation(self.yaw)))
        self.broadcaster.sendTransform(tf)


def spin_for(executor, robot, seconds, until=lambda: False):
    end = time.monotonic() + seconds
    while time.monotonic() < end and not until():
        robot.step()
        executor.spin_once(timeout_sec=0.005)


def test_state_is_waiting_until_the_first_detections_then_approach(ros):
    from simulation.servo_controller_node import ServoControllerNode, WAITING

    ns = f'/wait{time.monotonic_ns() % 100000}'
    node = ServoControllerNode(namespace=ns)
    robot = Robot(ns, (0.0, 0.0, 0.35))
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(robot.node)
    try:
        spin_for(executor, robot, 0.8)   # TF, but no detections yet: the servo holds still
        assert robot.states == [WAITING] and node.servo.state.value == 'approach'
        assert len(robot.commands) > 10
        assert all(c.twist.linear.x == c.twist.linear.y == c.twist.linear.z == 0.0
                   for c in robot.commands)
        robot.publish(detection('1', (0.06, -0.04, 0.005), 0.5))
        spin_for(executor, robot, 3.0, until=lambda: len(robot.states) > 1)
        assert robot.states == [WAITING, 'approach']
        assert not node.finished.done()   # exit_when_done is off by default
    finally:
        executor.shutdown()
        node.destroy_node()
        robot.node.destroy_node()


def test_exit_when_done_ends_the_node_after_failed_with_code_1(ros):
    from simulation.servo_controller_node import EXIT_GRACE, ServoControllerNode

    ns = f'/fail{time.monotonic_ns() % 100000}'
    node = ServoControllerNode(namespace=ns, parameter_overrides=[
        Parameter('exit_when_done', value=True), Parameter('lost_timeout', value=0.3)])
    robot = Robot(ns, (0.0, 0.0, 0.35))
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(robot.node)
    try:
        robot.publish()   # an empty array: the servo starts, and never gets a target
        seen = {}

        def finished():
            if node.servo.finished:
                seen.setdefault('failed', time.monotonic())
            return node.finished.done()
        spin_for(executor, robot, 10.0, until=finished)
        assert node.finished.done() and node.finished.result() == 1
        assert time.monotonic() - seen['failed'] >= EXIT_GRACE - 0.02   # zero twists meanwhile
        assert robot.states[0] == 'waiting' and robot.states[-1] == 'failed'
    finally:
        executor.shutdown()
        node.destroy_node()
        robot.node.destroy_node()


def test_exit_when_done_ends_the_process_with_code_0_after_the_lift(ros):
    """The node as its own process (``python -m``, as ros2 launch runs it) with fast gains,
    the tester's robot starting at the pre-grasp: waiting, final (the first step is at the
    pre-grasp), close, lift, done, then the process exits by itself with code 0."""
    ns = f'/done{time.monotonic_ns() % 100000}'
    target = (0.02, 0.01, 0.005)
    params = {'exit_when_done': 'true', 'pregrasp_height': 0.03, 'replan_height': 0.02,
              'final_speed': 0.2, 'close_time': 0.1, 'lift_height': 0.02, 'lift_speed': 0.2}
    command = [sys.executable, '-m', 'simulation.servo_controller_node', '--ros-args',
               '-r', f'__ns:={ns}'] + [a for k, v in params.items() for a in ('-p', f'{k}:={v}')]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    robot = Robot(ns, (target[0], target[1], target[2] + 0.03), yaw=0.3)
    executor = SingleThreadedExecutor()
    executor.add_node(robot.node)
    try:
        def published():   # once the controller listens: a detection every 0.1 s until done
            if time.monotonic() >= published.next:
                robot.publish(detection('1', target, 0.3))
                published.next = time.monotonic() + 0.1
            return proc.poll() is not None
        published.next = 0.0
        spin_for(executor, robot, 40.0, until=published)
        output = proc.communicate(timeout=10)[0] if proc.poll() is not None else ''
        assert proc.returncode == 0, (robot.states, output)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=10)
        executor.shutdown()
        robot.node.destroy_node()
    assert robot.states == ['waiting', 'final', 'close', 'lift', 'done'], output
    assert 'exiting (done)' in output
    assert robot.position[2] > target[2] + 0.015   # lifted 2 cm from the grasp height
