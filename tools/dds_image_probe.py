"""Two-process probe: how 640x480 rgb8 images fare through a DDS set-up on this machine.

``python tools/dds_image_probe.py [--transport localhost] [--reliability best_effort]
[--rate 60] [--seconds 8]`` starts a publisher and a subscriber process (keep last 1) and prints
the images sent, received and the header-stamp-to-callback latency. Both processes get
``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``, a private ``ROS_DOMAIN_ID`` (unless one is set) and
no ``FASTDDS_BUILTIN_TRANSPORTS`` (``LARGE_DATA`` multicasts discovery out of the network
interface), so no DDS traffic leaves this machine. ``--transport localhost`` (the default) adds
the Fast DDS profile ``config/fastdds_localhost.xml`` (shared memory with 32 MiB segments, UDP on
127.0.0.1, unicast discovery); ``--transport default`` leaves Fast DDS's own transports, to see
what they do to best-effort camera images. Compare e.g.::

    python tools/dds_image_probe.py
    python tools/dds_image_probe.py --transport default
    python tools/dds_image_probe.py --reliability reliable [--transport default]
"""

import argparse
import os
import subprocess
import sys
import time

import numpy as np

#: The Fast DDS profile of ``--transport localhost`` (tools/ros_processes.py uses the same).
PROFILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'config',
                       'fastdds_localhost.xml')
PROFILE_VARIABLES = ('FASTDDS_DEFAULT_PROFILES_FILE', 'FASTRTPS_DEFAULT_PROFILES_FILE')
#: Fast DDS 2 reads only FASTRTPS_DEFAULT_PROFILES_FILE (Kilted's rmw warns that it is deprecated).
FASTDDS2_DISTROS = ('foxy', 'galactic', 'humble', 'iron', 'jazzy')


def probe_env(transport: str, environ=None) -> dict:
    """The children's environment for ``transport`` (``localhost`` or ``default``)."""
    env = dict(os.environ if environ is None else environ)
    env.setdefault('ROS_DOMAIN_ID', str(30 + os.getpid() % 60))
    env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    for key in ('FASTDDS_BUILTIN_TRANSPORTS', 'ROS_STATIC_PEERS') + PROFILE_VARIABLES:
        env.pop(key, None)
    if transport == 'localhost':
        old = env.get('ROS_DISTRO', '').lower() in FASTDDS2_DISTROS
        env.update({key: PROFILE for key in PROFILE_VARIABLES[:2 if old else 1]})
    return env


def publish(args, node, qos) -> None:
    from sensor_msgs.msg import Image
    pub = node.create_publisher(Image, 'dds_probe_image', qos)
    msg = Image(height=480, width=640, encoding='rgb8', step=1920)
    msg.data = np.random.default_rng(0).integers(0, 255, 921600, dtype=np.uint8).tobytes()
    time.sleep(2.0)  # discovery
    start, sent = time.time(), 0
    while time.time() - start < args.seconds:
        msg.header.stamp = node.get_clock().now().to_msg()
        pub.publish(msg)
        sent += 1
        time.sleep(max(0.0, start + sent / args.rate - time.time()))
    print(f'sent {sent}')


def subscribe(args, node, qos) -> None:
    import rclpy
    from sensor_msgs.msg import Image
    latency = []

    def on_image(msg) -> None:
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        latency.append(time.time() - stamp)

    node.create_subscription(Image, 'dds_probe_image', on_image, qos)
    end = time.time() + args.seconds + 4.0
    while time.time() < end:
        rclpy.spin_once(node, timeout_sec=0.1)
    ms = np.asarray(latency) * 1000.0
    text = f'p50 {np.percentile(ms, 50):.1f} ms, p99 {np.percentile(ms, 99):.1f} ms' if len(ms) \
        else 'none'
    print(f'received {len(ms)}; latency {text}')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--reliability', choices=('reliable', 'best_effort'),
                        default='best_effort')
    parser.add_argument('--rate', type=float, default=60.0)
    parser.add_argument('--seconds', type=float, default=8.0)
    parser.add_argument('--transport', choices=('localhost', 'default'), default='localhost',
                        help='localhost = the Fast DDS profile config/fastdds_localhost.xml; '
                             'default = the Fast DDS built-in transports; both with '
                             'ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, on this machine only')
    parser.add_argument('--role', choices=('pub', 'sub'), default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role is None:  # the parent: one child per role, same environment
        base = [sys.executable, __file__, '--reliability', args.reliability,
                '--rate', str(args.rate), '--seconds', str(args.seconds), '--role']
        env = probe_env(args.transport)
        print(f'transport {args.transport}, ROS_DOMAIN_ID {env["ROS_DOMAIN_ID"]}, '
              f'{args.reliability}, {args.rate:g} Hz', flush=True)
        sub = subprocess.Popen(base + ['sub'], env=env)
        pub = subprocess.Popen(base + ['pub'], env=env)
        return max(pub.wait(), sub.wait())
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    rclpy.init()
    node = rclpy.create_node(f'dds_probe_{args.role}')
    qos = QoSProfile(depth=1, reliability=(ReliabilityPolicy.RELIABLE
                                           if args.reliability == 'reliable'
                                           else ReliabilityPolicy.BEST_EFFORT))
    (publish if args.role == 'pub' else subscribe)(args, node, qos)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
