"""The launch file with the REAL launch / launch_ros / ``ros2 launch``, after ``colcon build`` of
this package: with the replay camera (simulation/replay_camera.py) it runs until grasps arrive,
and its arguments work -- ``namespace`` (the node, its outputs and its parameter services move
into it), ``managed`` (the node waits unconfigured for its lifecycle transitions),
``use_sim_time`` (the node's clock follows /clock: its /diagnostics are stamped in the
simulated time), ``params_file`` (its values reach the node, also under a namespace) and
``dds`` (the default gives the node the package's localhost Fast DDS profile, and -- traced with
strace where it is installed -- every datagram the launched processes send goes to 127.0.0.1).
Every wait is bounded and every process is killed at the end. Skips where launch_ros /
ros2launch are not installed (PyPI wheels alone; CI builds them from ../shared/ros-extras,
``make ros-extras``).
"""

import os
from pathlib import Path
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest
import rclpy
from rclpy.parameter import parameter_value_to_python
from rclpy.qos import QoSProfile, ReliabilityPolicy

pytest.importorskip('launch_ros', reason='launch_ros is not installed (no PyPI wheel): a ROS 2 '
                                         'install has it; CI builds it from '
                                         '../shared/ros-extras (make ros-extras)')
pytest.importorskip('ros2launch', reason='ros2launch (ros2 launch) is not installed')
if shutil.which('ros2') is None:
    pytest.skip('the ros2 command is not on PATH', allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = 'mtg_grasp_ros'
NS = f'lt{os.getpid()}'
SIM_T0 = 1000                   # s: /clock starts here (far from the wall clock)
#: ``ros2 launch`` runs under strace (where installed), which records the destination of every
#: datagram the launched processes send.
STRACE = (['strace', '-f', '-qq', '--seccomp-bpf', '-e', 'signal=none', '-e',
           'trace=sendto,sendmsg,sendmmsg,connect', '-o', 'strace.txt']
          if shutil.which('strace') else [])
WAIT = 120.0                    # s: model load, camera render and first grasp, on a busy CPU


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """``colcon build`` of a copy of the repository; the install prefix."""
    tmp = tmp_path_factory.mktemp('launch_ws')
    colcon = shutil.which('colcon') or str(Path(sys.executable).parent / 'colcon')
    shutil.copytree(ROOT, tmp / 'src' / PACKAGE, ignore=shutil.ignore_patterns(
        '.venv*', '.git', 'runs', 'data', 'build', 'install', 'log', '__pycache__',
        '*.egg-info', '.pytest_cache'))
    result = subprocess.run(
        [colcon, 'build', '--base-paths', str(tmp / 'src'), '--build-base', str(tmp / 'build'),
         '--install-base', str(tmp / 'install')],
        cwd=tmp, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return tmp / 'install'


@pytest.fixture(scope='module')
def ros_env(ros):
    """This process' environment under the DDS isolation of conftest's ``ros`` fixture (private
    domain, localhost profile), for the child processes."""
    return dict(os.environ)


def child_env(env, install, tmp):
    env = dict(env)
    site, = (install / PACKAGE).glob('lib/python3*/site-packages')
    env['AMENT_PREFIX_PATH'] = os.pathsep.join(
        p for p in (str(install / PACKAGE), env.get('AMENT_PREFIX_PATH')) if p)
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (str(site), str(ROOT), env.get('PYTHONPATH')) if p)
    env['ROS_LOG_DIR'] = str(tmp / 'roslog')
    # The launch file's dds:=localhost sets the profile; prove it is the launch that does.
    env.pop('FASTDDS_DEFAULT_PROFILES_FILE', None)
    env.pop('FASTRTPS_DEFAULT_PROFILES_FILE', None)
    return env


def start(command, env, log):
    return subprocess.Popen(command, env=env, cwd=log.parent, stdout=open(log, 'w'),
                            stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc):
    """SIGINT to the process group (launch shuts its nodes down), then SIGKILL."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(timeout=15)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


def descendants(pid):
    """Process ids below ``pid`` (from /proc)."""
    children = {}
    for entry in Path('/proc').iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / 'stat').read_text().rsplit(')', 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def node_environment(launch_pid):
    """The environment of the grasp node started by ``ros2 launch`` (its /proc/PID/environ)."""
    for pid in descendants(launch_pid):
        try:
            cmdline = Path(f'/proc/{pid}/cmdline').read_bytes()
            if b'grasp_detection_node' in cmdline:
                raw = Path(f'/proc/{pid}/environ').read_bytes()
                return dict(kv.split('=', 1) for kv in raw.decode().split('\0') if '=' in kv)
        except OSError:
            continue
    return None


def get_parameters(node, names, timeout=20.0):
    """The launched node's parameters through its get_parameters service."""
    from rcl_interfaces.srv import GetParameters
    client = node.create_client(GetParameters, f'/{NS}/grasp_detection/get_parameters')
    assert client.wait_for_service(timeout_sec=timeout), 'no parameter service in the namespace'
    future = client.call_async(GetParameters.Request(names=names))
    rclpy.spin_until_future_complete(node, future, timeout_sec=timeout)
    assert future.done(), 'get_parameters timed out'
    return dict(zip(names, (parameter_value_to_python(v) for v in future.result().values)))


class SimClock:
    """/clock at 100 Hz from a thread: SIM_T0 + the wall time since the start."""

    def __init__(self, node):
        from rosgraph_msgs.msg import Clock
        self.msg_type = Clock
        self.pub = node.create_publisher(Clock, '/clock', 10)
        self.stop_event = threading.Event()
        self.t0 = time.monotonic()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        end = self.t0 + 2 * WAIT
        while not self.stop_event.is_set() and time.monotonic() < end:
            elapsed = time.monotonic() - self.t0
            msg = self.msg_type()
            msg.clock.sec = SIM_T0 + int(elapsed)
            msg.clock.nanosec = int((elapsed % 1.0) * 1e9)
            self.pub.publish(msg)
            self.stop_event.wait(0.01)

    def close(self):
        self.stop_event.set()
        self.thread.join(timeout=5)


def test_ros2_launch_with_namespace_sim_time_and_params_file(installed, ros_env, tmp_path):
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import PoseStamped

    params = tmp_path / 'params.yaml'
    # Keyed /**/grasp_detection as the shipped config/grasp_detection.yaml: it must reach the
    # node under a namespace.
    params.write_text("/**/grasp_detection:\n  ros__parameters:\n    use_tf: 'false'\n"
                      '    target_frame: world\n    top_k: 2\n    min_quality: 0.0\n'
                      '    stats_period: 0.0\n    backend: torch\n')
    env = child_env(ros_env, installed, tmp_path)
    launch = camera = clock = None
    node = rclpy.create_node('launch_tester')
    poses, diagnostics = [], []
    node.create_subscription(PoseStamped, f'/{NS}/grasp_detection/grasp_pose', poses.append,
                             QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    node.create_subscription(DiagnosticArray, '/diagnostics', diagnostics.append, 10)
    try:
        clock = SimClock(node)
        launch = start(STRACE + [
            'ros2', 'launch', PACKAGE, 'grasp_detection.launch.py', f'namespace:={NS}',
            'use_sim_time:=true', f'params_file:={params}', 'image:=camera/color/image_raw',
            'camera_info:=camera/color/camera_info'], env, tmp_path / 'launch.log')
        camera = start([sys.executable, '-m', 'simulation.replay_camera', '--rate', '10',
                        '--frames', '1', '--report-period', '0',
                        '--ros-args', '-r', f'__ns:=/{NS}'], env, tmp_path / 'camera.log')
        end = time.monotonic() + WAIT
        while time.monotonic() < end and len(poses) < 3:
            rclpy.spin_once(node, timeout_sec=0.05)
            assert launch.poll() is None, (tmp_path / 'launch.log').read_text()[-3000:]
            assert camera.poll() is None, (tmp_path / 'camera.log').read_text()[-3000:]
        log = (tmp_path / 'launch.log').read_text()
        assert len(poses) >= 3, log[-3000:]
        assert poses[-1].header.frame_id == 'world'

        got = get_parameters(node, ['use_sim_time', 'top_k', 'min_quality', 'target_frame'])
        assert got == {'use_sim_time': True, 'top_k': 2, 'min_quality': 0.0,
                       'target_frame': 'world'}
        end = time.monotonic() + 30.0
        ours = []
        while time.monotonic() < end and not ours:
            rclpy.spin_once(node, timeout_sec=0.05)
            ours = [a for a in diagnostics
                    if any(s.name == 'grasp_detection: grasp detection' for s in a.status)]
        assert ours, 'no grasp detection status on /diagnostics'
        # Stamped by the node's clock: /clock's time, not the wall clock.
        assert SIM_T0 <= ours[-1].header.stamp.sec < SIM_T0 + 2 * WAIT

        node_env = node_environment(launch.pid)
        assert node_env is not None, 'the launched node process was not found'
        share = installed / PACKAGE / 'share' / PACKAGE
        assert node_env['FASTDDS_DEFAULT_PROFILES_FILE'] == str(
            share / 'config' / 'fastdds_localhost.xml')
        assert node_env['ROS_AUTOMATIC_DISCOVERY_RANGE'] == 'LOCALHOST'
        assert 'FASTDDS_BUILTIN_TRANSPORTS' not in node_env
    finally:
        for proc in (camera, launch):
            if proc is not None:
                stop(proc)
        if clock is not None:
            clock.close()
        node.destroy_node()
    assert not any(Path(f'/proc/{p}').exists() for p in (launch.pid, camera.pid))
    if STRACE:
        # Every datagram and connection of ros2 launch and the node went to 127.0.0.1 (the
        # localhost profile: no multicast, no other interface).
        addresses = re.findall(r'inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)"',
                               (tmp_path / 'strace.txt').read_text())
        seen = {a or b for a, b in addresses}
        assert seen == {'127.0.0.1'}, seen


def call(node, service_type, name, request, timeout=30.0):
    """A service of the launched node, from ``node``; the response."""
    client = node.create_client(service_type, name)
    assert client.wait_for_service(timeout_sec=timeout), f'no service {name}'
    future = client.call_async(request)
    rclpy.spin_until_future_complete(node, future, timeout_sec=timeout)
    assert future.done(), f'{name} timed out'
    node.destroy_client(client)
    return future.result()


def test_ros2_launch_managed_starts_unconfigured(installed, ros_env, tmp_path):
    """``managed:=true``: the node waits unconfigured (no subscription, no grasp) until
    configure and activate arrive through its lifecycle services, then grasps."""
    from geometry_msgs.msg import PoseStamped
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState, GetState

    ns = f'{NS}m'
    params = tmp_path / 'params.yaml'
    params.write_text("/**/grasp_detection:\n  ros__parameters:\n    use_tf: 'false'\n"
                      '    target_frame: world\n    min_quality: 0.0\n    stats_period: 0.0\n'
                      '    backend: torch\n')
    env = child_env(ros_env, installed, tmp_path)
    launch = camera = None
    node = rclpy.create_node('managed_tester')
    poses = []
    node.create_subscription(PoseStamped, f'/{ns}/grasp_detection/grasp_pose', poses.append,
                             QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    base = f'/{ns}/grasp_detection'
    try:
        launch = start(['ros2', 'launch', PACKAGE, 'grasp_detection.launch.py',
                        f'namespace:={ns}', 'managed:=true', f'params_file:={params}',
                        'image:=camera/color/image_raw', 'camera_info:=camera/color/camera_info'],
                       env, tmp_path / 'launch.log')
        camera = start([sys.executable, '-m', 'simulation.replay_camera', '--rate', '10',
                        '--frames', '1', '--report-period', '0',
                        '--ros-args', '-r', f'__ns:=/{ns}'], env, tmp_path / 'camera.log')
        state = call(node, GetState, f'{base}/get_state', GetState.Request(), WAIT)
        assert state.current_state.label == 'unconfigured'
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.05)
        assert not poses and not node.get_subscriptions_info_by_topic(
            f'/{ns}/camera/color/image_raw')
        for transition in (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
            request = ChangeState.Request(transition=Transition(id=transition))
            assert call(node, ChangeState, f'{base}/change_state', request, WAIT).success, (
                (tmp_path / 'launch.log').read_text()[-3000:])
        end = time.monotonic() + WAIT
        while time.monotonic() < end and not poses:
            rclpy.spin_once(node, timeout_sec=0.05)
            assert launch.poll() is None, (tmp_path / 'launch.log').read_text()[-3000:]
        assert poses, (tmp_path / 'launch.log').read_text()[-3000:]
        state = call(node, GetState, f'{base}/get_state', GetState.Request())
        assert state.current_state.label == 'active'
    finally:
        for proc in (camera, launch):
            if proc is not None:
                stop(proc)
        node.destroy_node()


def test_launch_arguments(installed, ros_env, tmp_path):
    """``ros2 launch --show-args`` lists the arguments with their defaults (dds: localhost)."""
    env = child_env(ros_env, installed, tmp_path)
    result = subprocess.run(['ros2', 'launch', PACKAGE, 'grasp_detection.launch.py',
                             '--show-args'], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ('namespace', 'use_sim_time', 'params_file', 'dds', 'image', 'camera_info',
                 'target_frame', 'model_path', 'managed'):
        assert f"'{name}':" in result.stdout, name
    assert "(default: 'localhost')" in result.stdout


@pytest.mark.parametrize('choice,distro,expected', [
    ('localhost', 'kilted', {'FASTDDS_BUILTIN_TRANSPORTS': None,
                             'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST',
                             'FASTDDS_DEFAULT_PROFILES_FILE': 'PROFILE'}),
    ('localhost', 'jazzy', {'FASTDDS_BUILTIN_TRANSPORTS': None,
                            'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST',
                            'FASTDDS_DEFAULT_PROFILES_FILE': 'PROFILE',
                            'FASTRTPS_DEFAULT_PROFILES_FILE': 'PROFILE'}),
    ('large_data', 'jazzy', {'ROS_AUTOMATIC_DISCOVERY_RANGE': None,
                             'FASTDDS_BUILTIN_TRANSPORTS': 'LARGE_DATA'}),
    ('environment', 'kilted', {}),
])
def test_dds_argument_sets_the_environment(installed, ros_env, monkeypatch, choice, distro,
                                           expected):
    """What each ``dds`` choice does to the environment of the launched processes (evaluated by
    the real launch, without starting anything: large_data would multicast)."""
    import importlib.util

    from launch import LaunchContext

    monkeypatch.setenv('AMENT_PREFIX_PATH', os.pathsep.join(
        p for p in (str(installed / PACKAGE), os.environ.get('AMENT_PREFIX_PATH')) if p))
    monkeypatch.setenv('ROS_DISTRO', distro)
    spec = importlib.util.spec_from_file_location(
        'grasp_detection_launch', ROOT / 'launch' / 'grasp_detection.launch.py')
    launch_file = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch_file)
    context = LaunchContext()
    context.launch_configurations['dds'] = choice
    actions = launch_file.dds_actions(context)
    got = {}
    profile = str(installed / PACKAGE / 'share' / PACKAGE / 'config' / 'fastdds_localhost.xml')
    for action in actions:
        name = ''.join(p.perform(context) for p in action.name)
        if type(action).__name__ == 'UnsetEnvironmentVariable':
            got[name] = None
        else:
            value = ''.join(p.perform(context) for p in action.value)
            got[name] = 'PROFILE' if value == profile else value
    assert got == expected
