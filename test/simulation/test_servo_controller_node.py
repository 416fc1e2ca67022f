"""The reference servo controller node over real topics (issue 13 part 2): a tester plays the
robot (integrates the node's TwistStamped commands, broadcasts base_link -> gripper_tool on a
real /tf) and the grasp node (a Detection3DArray in base_link); the node's commands arrive at
about its 100 Hz rate and bring the tool to the pre-grasp above the tracked detection, then down.
Skips without tf2_ros or vision_msgs."""

import math
import time

from geometry_msgs.msg import TransformStamped, TwistStamped
import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from std_msgs.msg import String

from mtg_grasp_ros.transforms import quaternion_from_matrix, quaternion_from_rpy
from simulation.servo import GraspTarget, ServoGains
from simulation.servo_controller_node import choose, quaternion_yaw
from simulation.wrist_rig import tool_rotation

tf2_ros = pytest.importorskip('tf2_ros', reason='tf2_ros is not installed (no PyPI wheel)')
vision_msgs = pytest.importorskip('vision_msgs.msg', reason='vision_msgs is not installed')


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
