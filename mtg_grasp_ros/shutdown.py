"""The end of a node's process: destroy the node and shut rclpy down, a second SIGINT ignored.

A terminal's Ctrl-C reaches ``ros2 launch`` and every process it started, and launch then sends
each of them SIGINT again; the second one, raised as KeyboardInterrupt inside ``destroy_node``,
killed the process in the middle of its clean-up (a traceback, exit code -2).
"""

from __future__ import annotations

import signal

import rclpy


def shut_down(node=None) -> None:
    """Destroy ``node`` (unless None), then ``rclpy.try_shutdown()``, with SIGINT ignored
    meanwhile (the previous handler is restored after). Call it from the main thread (Python
    sets signal handlers there only: ValueError elsewhere)."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    finally:
        signal.signal(signal.SIGINT, previous)
