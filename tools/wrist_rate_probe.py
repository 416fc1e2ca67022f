"""Probe: the frame rate the simulated wrist camera (``simulation.wrist_camera_node``) reaches.

``python -m tools.wrist_rate_probe [--seconds 10] [--width 640 --height 480] [--no-shadows]
[--renderer composite|reference] [--object 460 --seed 3] [--descend 0.03]`` runs the node in
this process, commands a steady yaw of 0.3 rad/s for ``--seconds`` (with ``--descend``, also
down at that many m/s from 35 cm, to the workspace's floor: the object grows in the view; the
pose changes every tick, so every frame is a new render), then nothing for 5 s (the pose
stands still, so the node republishes its cached image), and prints frames, renders, the rate
of both phases, the moving phase's render time (p50 and p90 of the node's ``WristRig.render``
calls, ms: in-process, less sensitive to the load than the rate) and the load average at the
end. No subscriber is needed: the node's own counters say what it published. DDS stays on this
machine (``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``, a private ``ROS_DOMAIN_ID`` unless one
is set). Loops are bounded by time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from simulation.fast_render import RENDERERS

STILL_S = 5.0
YAW_RATE = 0.3


def timed(rig) -> list:
    """Wrap ``rig.render`` (this instance only) to record each call's wall time (s) in the
    returned list."""
    render, times = rig.render, []

    def wrapper():
        start = time.perf_counter()
        try:
            return render()
        finally:
            times.append(time.perf_counter() - start)
    rig.render = wrapper
    return times


def measure(node, executor, publish, seconds: float) -> tuple:
    """Spin ``node`` with ``executor`` for ``seconds``, calling ``publish()`` each turn (None:
    nothing); the node's (frames, renders) published meanwhile."""
    frames, renders = node.frames, node.renders
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if publish is not None:
            publish()
        executor.spin_once(timeout_sec=0.01)
    return node.frames - frames, node.renders - renders


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='python -m tools.wrist_rate_probe',
                                     description=__doc__.split('\n\n', 1)[1])
    parser.add_argument('--seconds', type=float, default=10.0, help='moving phase (s, 10)')
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--height', type=int, default=480)
    parser.add_argument('--no-shadows', action='store_true', help='render without shadows')
    parser.add_argument('--renderer', choices=RENDERERS, default='composite',
                        help='render path (simulation.fast_render), default composite')
    parser.add_argument('--object', type=int, default=None,
                        help="held-out object (catalogue index; default: the node's draw)")
    parser.add_argument('--seed', type=int, default=0, help="the node's seed (default 0)")
    parser.add_argument('--descend', type=float, default=0.0,
                        help='also move down at this speed while moving, m/s (default 0)')
    args = parser.parse_args(argv)
    if not 0 < args.seconds <= 300:
        parser.error('--seconds must be in (0, 300]')
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    os.environ.setdefault('ROS_DOMAIN_ID', str(90 + os.getpid() % 60))

    import rclpy
    from geometry_msgs.msg import TwistStamped
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from simulation.wrist_camera_node import WristCameraNode

    context = rclpy.Context()  # its own: works beside any other rclpy user of the process
    rclpy.init(context=context)
    node = WristCameraNode(context=context, parameter_overrides=[
        Parameter('width', value=args.width), Parameter('height', value=args.height),
        Parameter('shadows', value=not args.no_shadows),
        Parameter('renderer', value=args.renderer), Parameter('seed', value=args.seed),
        Parameter('object_ids', value='' if args.object is None else f'r{args.object:03d}')])
    render_s = timed(node.rig)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        pub = node.create_publisher(TwistStamped, 'wrist_camera/cmd_twist', 10)
        msg = TwistStamped()
        msg.header.frame_id = 'base_link'
        msg.twist.angular.z = YAW_RATE
        msg.twist.linear.z = -abs(args.descend)
        moving = measure(node, executor, lambda: pub.publish(msg), args.seconds)
        moving_render = np.percentile(render_s, [50, 90]) * 1000 if render_s else (0.0, 0.0)
        still = measure(node, executor, None, STILL_S)
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    size = (f'{args.width}x{args.height}, shadows {"off" if args.no_shadows else "on"}, '
            f'{args.renderer} render')
    print(f'{size}: moving {moving[0]} frames ({moving[0] / args.seconds:.1f} Hz), '
          f'{moving[1]} renders in {args.seconds:g} s (render p50 {moving_render[0]:.1f} ms, '
          f'p90 {moving_render[1]:.1f} ms); standing still {still[0]} frames '
          f'({still[0] / STILL_S:.1f} Hz), {still[1]} renders in {STILL_S:g} s; load average '
          + ' '.join(f'{v:.2f}' for v in os.getloadavg()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
