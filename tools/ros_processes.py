"""The process harness of the demo and the ROS benchmark: children, environment, command lines.

Both tools run the grasp node and a camera in processes of their own, as on a robot, and talk
to them through ROS 2 from a third one. This module starts and stops those children
(:class:`Child`), gives them and this process the same DDS set-up
(:func:`configure_ros_environment`: a private ``ROS_DOMAIN_ID``,
``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` and the Fast DDS profile :data:`FASTDDS_PROFILE`,
which keeps all DDS traffic on this machine: shared memory, UDP on 127.0.0.1 and unicast
discovery, no multicast), builds their command lines
(:func:`node_command`, :func:`sim_camera_command`, :func:`replay_camera_command`) and reads the
header stamp of a serialised message (:func:`cdr_stamp`).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
import signal
import struct
import subprocess
import sys
from typing import Dict, List, Optional, Sequence, Tuple

from mtg_grasp_ros.deploy import default_model_path, DEFAULT_MODEL_STEM
from simulation.camera import DEFAULT_FOV_DEG, DEFAULT_RPY, DEFAULT_XYZ

#: The repository root: on the children's PYTHONPATH, so they run from the source tree too.
ROOT = Path(__file__).resolve().parents[1]
IMAGE_TOPIC = '/camera/color/image_raw'
INFO_TOPIC = '/camera/color/camera_info'
#: The grasp node's name (its topics are ``NODE + '/grasp_pose'`` etc.).
NODE = '/grasp_detection'
#: The simulated camera's name (its ground truth is under it).
CAMERA_NODE = '/sim_camera'
GRASP_NODE_MODULE = 'mtg_grasp_ros.grasp_node'
SIM_CAMERA_MODULE = 'simulation.camera_node'
REPLAY_CAMERA_MODULE = 'simulation.replay_camera'
#: The Fast DDS profile of every run: shared memory (32 MiB segments, so a 640x480 image fits),
#: UDPv4 on 127.0.0.1 only and discovery by unicast to 127.0.0.1. Unlike
#: ``FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA`` it sends no discovery multicast (239.255.0.1) out of
#: the network interface, and it delivers camera images as fast (README "QoS and DDS transport").
FASTDDS_PROFILE = ROOT / 'config' / 'fastdds_localhost.xml'
#: ``--transport`` choices: ``localhost`` = :data:`FASTDDS_PROFILE` (the default); ``default`` =
#: Fast DDS's own transports, confined to this machine by
#: ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` (it shows the problem the profile solves:
#: best-effort camera images get lost).
TRANSPORTS = ('localhost', 'default')
#: The environment variables that select a Fast DDS XML profile: FASTDDS_ for Fast DDS 3 (Kilted
#: on), FASTRTPS_ for Fast DDS 2 (:data:`FASTDDS2_DISTROS`).
PROFILE_VARIABLES = ('FASTDDS_DEFAULT_PROFILES_FILE', 'FASTRTPS_DEFAULT_PROFILES_FILE')
#: ROS 2 distributions (``ROS_DISTRO``) whose Fast DDS 2 reads only FASTRTPS_DEFAULT_PROFILES_FILE.
#: Elsewhere it stays unset: Kilted's rmw_fastrtps warns on every start that it is deprecated.
FASTDDS2_DISTROS = ('foxy', 'galactic', 'humble', 'iron', 'jazzy')


# ------------------------------------------------------------------------------ children
class Child:
    """A child process with its output in a log file; stopped by its own pid only.

    ``command`` runs with ``env`` in this process' working directory, in its own session (a
    terminal Ctrl-C reaches only the parent, which stops the children). ``log`` (its folder is
    created) receives its stdout and stderr.
    """

    def __init__(self, name: str, command: List[str], env: Dict[str, str], log: Path) -> None:
        self.name, self.log = name, log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(log, 'w')
        self.proc = subprocess.Popen(command, env=env, cwd=os.getcwd(), stdout=self._file,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def running(self) -> bool:
        """True while the process has not exited."""
        return self.proc.poll() is None

    def stop(self) -> Optional[int]:
        """SIGINT (rclpy's clean shutdown; 8 s), then SIGTERM (3 s), then SIGKILL (3 s).

        Returns the exit code (negative: the signal), None if it somehow still runs.
        """
        for sig, wait in ((signal.SIGINT, 8.0), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            if self.proc.poll() is not None:
                break
            try:
                self.proc.send_signal(sig)
                self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                break
        self._file.close()
        return self.proc.poll()

    def text(self) -> str:
        """The whole log so far ('' when it cannot be read)."""
        try:
            return self.log.read_text(errors='replace')
        except OSError:
            return ''

    def tail(self, lines: int = 15) -> str:
        """The last ``lines`` lines of the log."""
        return '\n'.join(self.text().splitlines()[-lines:])


class ChildDied(RuntimeError):
    """A child exited while it was still needed; ``child`` says which."""

    def __init__(self, child: Child) -> None:
        super().__init__(f'{child.name} exited with code {child.proc.returncode}')
        self.child = child


def stop_children(children: Sequence[Optional[Child]]) -> None:
    """Stop each child in turn; print the ones that did not exit cleanly (SIGINT, 0, 130)."""
    for child in children:
        if child is None:
            continue
        code = child.stop()
        if code not in (0, None, -signal.SIGINT, 130):
            print(f'{child.name} exited with {code} (log: {child.log})')


# ------------------------------------------------------------------------------ environment
def add_transport_argument(parser: argparse.ArgumentParser) -> None:
    """The tools' ``--transport`` option (:data:`TRANSPORTS`; default ``localhost``)."""
    parser.add_argument('--transport', choices=TRANSPORTS, default='localhost',
                        help='DDS set-up of all processes, always on this machine only '
                             '(ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, private ROS_DOMAIN_ID): '
                             'localhost = the Fast DDS profile config/fastdds_localhost.xml '
                             '(shared memory with 32 MiB segments, UDP on 127.0.0.1, unicast '
                             'discovery); default = the Fast DDS built-in transports, which '
                             'lose most best-effort 640x480 images (to see the problem the '
                             'profile solves)')


def add_domain_argument(parser: argparse.ArgumentParser) -> None:
    """The tools' ``--domain-id`` option (default None: :func:`configure_ros_environment` picks a
    private one)."""
    parser.add_argument('--domain-id', type=int, default=None,
                        help='ROS_DOMAIN_ID (default: a private one from the process id)')


def profile_variables(environ=None) -> Tuple[str, ...]:
    """The variables that must name the profile for the Fast DDS of ``environ`` (default
    ``os.environ``): FASTDDS_DEFAULT_PROFILES_FILE, plus FASTRTPS_DEFAULT_PROFILES_FILE where
    ``ROS_DISTRO`` is one of :data:`FASTDDS2_DISTROS`."""
    distro = (os.environ if environ is None else environ).get('ROS_DISTRO', '').lower()
    return PROFILE_VARIABLES if distro in FASTDDS2_DISTROS else PROFILE_VARIABLES[:1]


def dds_settings(transport: str, environ=None) -> Dict[str, Optional[str]]:
    """The DDS environment variables of ``transport`` (:data:`TRANSPORTS`) for the ROS 2 of
    ``environ`` (default ``os.environ``, :func:`profile_variables`); None = unset.

    Both keep discovery on this machine (``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``) and unset
    ``FASTDDS_BUILTIN_TRANSPORTS`` (``LARGE_DATA`` multicasts discovery out of the network
    interface); ``localhost`` adds :data:`FASTDDS_PROFILE`.
    """
    if transport not in TRANSPORTS:
        raise ValueError(f'unknown transport {transport!r}; one of {", ".join(TRANSPORTS)}')
    profile = str(FASTDDS_PROFILE) if transport == 'localhost' else None
    settings: Dict[str, Optional[str]] = {k: None for k in PROFILE_VARIABLES}
    for key in profile_variables(environ):
        settings[key] = profile
    settings['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    settings['ROS_STATIC_PEERS'] = None
    settings['FASTDDS_BUILTIN_TRANSPORTS'] = None
    return settings


def apply_settings(env, settings: Dict[str, Optional[str]]) -> None:
    """Set (or, for None, remove) each of ``settings`` in the mapping ``env``."""
    for key, value in settings.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value


def child_env(args: argparse.Namespace) -> Dict[str, str]:
    """The children's environment: ``args.domain_id``, the DDS set-up of ``args.transport``
    (:func:`dds_settings`), the repository root on PYTHONPATH, unbuffered output."""
    env = dict(os.environ)
    env['ROS_DOMAIN_ID'] = str(args.domain_id)
    apply_settings(env, dds_settings(args.transport, env))
    # Run from the source tree as well as installed.
    env['PYTHONPATH'] = os.pathsep.join(p for p in (str(ROOT), env.get('PYTHONPATH')) if p)
    env['PYTHONUNBUFFERED'] = '1'
    return env


def configure_ros_environment(args: argparse.Namespace) -> Dict[str, str]:
    """Pick a private ROS_DOMAIN_ID (unless given), apply it and the DDS set-up of
    ``args.transport`` to this process (before ``rclpy.init``), and return the environment for
    the child processes."""
    if args.domain_id is None:
        args.domain_id = 20 + os.getpid() % 80
    env = child_env(args)
    os.environ['ROS_DOMAIN_ID'] = env['ROS_DOMAIN_ID']
    apply_settings(os.environ, dds_settings(args.transport))
    return env


def transport_label(args: argparse.Namespace) -> str:
    """The DDS transport of the run, as the tools print it."""
    if args.transport == 'localhost':
        return f'Fast DDS profile {FASTDDS_PROFILE.name} + LOCALHOST discovery'
    return 'Fast DDS default transports + LOCALHOST discovery'


def init_rclpy() -> None:
    """``rclpy.init`` without rclpy's signal handlers where it has the option: the tools turn
    SIGINT and SIGTERM into KeyboardInterrupt themselves (:func:`raise_interrupt`)."""
    import rclpy
    try:
        from rclpy.signals import SignalHandlerOptions
        rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    except ImportError:
        rclpy.init()


def raise_interrupt(signum, frame):
    """Signal handler: SIGTERM (and SIGINT, also where it was ignored) end the run cleanly."""
    raise KeyboardInterrupt


# ------------------------------------------------------------------------------ command lines
def ros_list(values) -> str:
    """A ROS parameter list of floats, e.g. ``[0.0,0.0,0.55]``."""
    return '[' + ','.join(repr(float(v)) for v in values) + ']'


def resolve_model(model: Optional[Path]) -> Tuple[Optional[Path], str]:
    """``(absolute model path, '')``, or ``(None, error message)`` when it does not exist.

    ``model`` None means the package default (:func:`mtg_grasp_ros.deploy.default_model_path`).
    A model exists when its ``.json`` metadata, the file itself or a directory is there.
    """
    path = Path(model if model is not None else default_model_path()).expanduser().resolve()
    if path.with_suffix('.json').is_file() or path.is_file() or path.is_dir():
        return path, ''
    which = 'the default model' if model is None else 'the model'
    return None, (f'error: {which} {path} does not exist (no {path.name}.json).\n'
                  f'  The default models/{DEFAULT_MODEL_STEM} is trained and exported with '
                  f'`python -m training export ...`; `make train-demo` gives a small one in '
                  f'runs/demo/model/mtgcnn_demo: pass it with --model.')


def node_command(args: argparse.Namespace, model: Path) -> List[str]:
    """The grasp node on the camera topics, the camera pose given as parameters (``use_tf:
    false``), the table at z = 0 of ``args.target_frame``.

    Reads ``args.backend``, ``target_frame``, ``camera_xyz`` (m), ``camera_rpy`` (rad),
    ``object_height`` (m), ``threads`` and ``min_quality`` (None: the node's default).
    """
    params = {'model_path': str(model), 'backend': args.backend,
              'target_frame': args.target_frame, 'use_tf': 'false',
              'camera_pose.xyz': ros_list(args.camera_xyz),
              'camera_pose.rpy': ros_list(args.camera_rpy), 'table_height': 0.0,
              'object_height': float(args.object_height), 'reliability': 'auto',
              'stats_period': 5.0, 'threads': int(args.threads)}
    if args.min_quality is not None:
        params['min_quality'] = float(args.min_quality)
    return ([sys.executable, '-m', GRASP_NODE_MODULE, '--ros-args',
             '-r', f'image:={IMAGE_TOPIC}', '-r', f'camera_info:={INFO_TOPIC}']
            + [a for k, v in params.items() for a in ('-p', f'{k}:={v}')])


def sim_camera_command(args: argparse.Namespace) -> List[str]:
    """The simulated camera node (pybullet scene) with the demo's options: ``args.rate`` (Hz),
    ``fov`` (deg), ``camera_xyz``/``camera_rpy``, ``target_frame``, ``objects``, ``seed``,
    ``respawn`` (s) and ``qos``."""
    params = {'rate': float(args.rate), 'fov_deg': float(args.fov),
              'camera_xyz': ros_list(args.camera_xyz), 'camera_rpy': ros_list(args.camera_rpy),
              'world_frame': args.target_frame, 'objects': args.objects, 'seed': args.seed,
              'respawn_period': float(args.respawn),
              'reliability': args.qos}
    return ([sys.executable, '-m', SIM_CAMERA_MODULE, '--ros-args']
            + [a for k, v in params.items() for a in ('-p', f'{k}:={v}')])


def benchmark_node_command(args: argparse.Namespace, model: Path) -> List[str]:
    """:func:`node_command` for the replay camera (its default pose, the table at z = 0 of
    ``world``, object height 0.02 m), then ``-p stats_period:=args.stats_period`` and the
    user's ``args.param`` items: later ``-p`` overrides win in rcl."""
    node_args = argparse.Namespace(backend=args.backend, target_frame='world',
                                   camera_xyz=list(DEFAULT_XYZ), camera_rpy=list(DEFAULT_RPY),
                                   object_height=0.02, threads=args.threads,
                                   min_quality=args.min_quality)
    extra = ['-p', f'stats_period:={float(args.stats_period)}']
    for item in args.param:
        extra += ['-p', item]
    return node_command(node_args, model) + extra


def replay_camera_command(args: argparse.Namespace, rate: float, stamps_file: Path) -> List[str]:
    """The replay camera at ``rate`` Hz with the benchmark's options; it writes every frame's
    stamp and lateness to ``stamps_file`` when it stops."""
    return [sys.executable, '-m', REPLAY_CAMERA_MODULE, '--rate', f'{rate:g}',
            '--reliability', args.qos, '--depth', str(args.camera_depth),
            '--frames', str(args.frames), '--objects', str(args.objects),
            '--seed', str(args.seed), '--frames-file', str(args.logs / 'replay_frames.npz'),
            '--stamps-file', str(stamps_file), '--late-tolerance', str(args.late_tolerance),
            '--fov', str(DEFAULT_FOV_DEG), '--camera-xyz', *(str(v) for v in DEFAULT_XYZ),
            '--camera-rpy', *(str(v) for v in DEFAULT_RPY)]


# ------------------------------------------------------------------------------ messages
def stamp_seconds(stamp) -> float:
    """A ``builtin_interfaces/Time`` in seconds."""
    return stamp.sec + stamp.nanosec * 1e-9


def cdr_stamp(raw: bytes) -> float:
    """header.stamp (s) of a serialised message that starts with a std_msgs/Header (CDR: a
    4-byte encapsulation header whose 2nd byte is odd for little endian, then int32 sec, uint32
    nanosec)."""
    order = '<' if raw[1] & 1 else '>'
    sec, nanosec = struct.unpack_from(order + 'iI', raw, 4)
    return sec + nanosec * 1e-9
