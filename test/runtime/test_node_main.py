"""The node's ``main``: how the process ends when spinning stops (no ROS graph needed)."""

import types

import pytest

from mtg_grasp_ros import grasp_node


def fake_rclpy(monkeypatch, error, ok_after):
    """``grasp_node``'s rclpy replaced: ``spin`` raises ``error``; ``ok()`` is ``ok_after``."""
    ended = []
    fake = types.SimpleNamespace(init=lambda args=None: None, ok=lambda: ok_after,
                                 logging=grasp_node.rclpy.logging)

    def spin(node):
        raise error

    fake.spin = spin
    monkeypatch.setattr(grasp_node, 'rclpy', fake)
    monkeypatch.setattr(grasp_node, 'GraspDetectionNode', lambda: 'node')
    monkeypatch.setattr(grasp_node, 'shut_down', ended.append)
    return ended


def test_a_take_failing_during_shutdown_ends_cleanly(monkeypatch):
    ended = fake_rclpy(monkeypatch, RuntimeError('Unable to convert call argument'), False)
    assert grasp_node.main() == 0
    assert ended == ['node']


def test_the_same_error_while_rclpy_is_up_is_raised(monkeypatch):
    ended = fake_rclpy(monkeypatch, RuntimeError('a real failure'), True)
    with pytest.raises(RuntimeError, match='a real failure'):
        grasp_node.main()
    assert ended == ['node']  # cleaned up all the same


def test_ctrl_c_ends_cleanly(monkeypatch):
    ended = fake_rclpy(monkeypatch, KeyboardInterrupt(), False)
    assert grasp_node.main() == 0 and ended == ['node']
