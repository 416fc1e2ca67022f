"""The closed loop over ROS (issue 13): the three command lines and their wiring, the verdict of
the demo's monitor, the launch file's description (with the real launch, where installed) and,
over real topics, the wrist camera node, the grasp node and the servo controller node in three
processes (``python -m tools.closed_loop_demo``) lifting held-out object 460 (seed 3) within a
bounded time. The last one skips without tf2_ros / vision_msgs (no PyPI wheels; CI builds them
from ../shared/ros-extras, ``make ros-extras``) or pybullet."""

import importlib.util
import json
import os
from pathlib import Path
import signal
import subprocess
import sys

import pytest

from tools.closed_loop_commands import ClosedLoopConfig, commands, NAMES
from tools.closed_loop_monitor import LoopRecord, summarise

ROOT = Path(__file__).resolve().parents[2]
LAUNCH_FILE = ROOT / 'tools' / 'launch' / 'closed_loop.launch.py'
MODEL = Path('/m/model')
#: The whole run's bound (s): model loading, ~8 s of servoing, on a loaded 2-core machine.
TIMEOUT = 90.0


def ros_args(command):
    """The ``-r`` remaps and ``-p`` parameters of a command line as two dicts."""
    out = {'-r': {}, '-p': {}}
    for flag, item in zip(command, command[1:]):
        if flag in out:
            key, value = item.split(':=')
            out[flag][key] = value
    return out['-r'], out['-p']


def test_commands_wire_the_three_nodes():
    cmds = commands(ClosedLoopConfig(object=120, seed=1, rate=12.0), MODEL)
    assert list(cmds) == list(NAMES)
    camera, node, controller = (ros_args(cmds[n]) for n in NAMES)
    assert cmds['wrist_camera'][1:3] == ['-m', 'simulation.wrist_camera_node']
    assert camera[0] == {'wrist_camera/gripper': 'servo_controller/gripper'}
    assert camera[1]['object_ids'] == 'r120' and camera[1]['seed'] == '1'
    assert camera[1]['rate'] == '12.0' and camera[1]['shadows'] == 'false'
    assert node[0] == {'image': '/camera/color/image_raw',
                       'camera_info': '/camera/color/camera_info'}
    assert node[1]['target_frame'] == 'base_link' and node[1]['use_tf'] == 'true'
    assert node[1]['tracking.enabled'] == 'true' and node[1]['model_path'] == str(MODEL)
    assert float(node[1]['object_height']) == pytest.approx(0.005)
    assert controller[0] == {'detections': '/grasp_detection/detections',
                             'cmd_twist': '/wrist_camera/cmd_twist'}
    assert camera[1]['push_seed'] == '-1'   # a static scene unless moving
    moving = ros_args(commands(ClosedLoopConfig(object=120, seed=7, moving=True),
                               MODEL)['wrist_camera'])
    assert moving[1]['push_seed'] == '7'
    assert camera[1]['renderer'] == 'composite'
    reference = ros_args(commands(ClosedLoopConfig(renderer='reference'), MODEL)['wrist_camera'])
    assert reference[1]['renderer'] == 'reference'
    # The demo watches the end itself: its controller keeps running after DONE.
    assert controller[1]['exit_when_done'] == 'false'
    exiting = ros_args(commands(ClosedLoopConfig(exit_when_done=True), MODEL)['servo_controller'])
    assert exiting[1]['exit_when_done'] == 'true'
    with pytest.raises(ValueError):
        ClosedLoopConfig(rate=0.0)
    with pytest.raises(ValueError):
        ClosedLoopConfig(renderer='opengl')


def test_summary_of_a_lift_and_of_a_timeout():
    r = LoopRecord()
    r.states = [(1.0, 'approach'), (5.0, 'final'), (8.0, 'close'), (8.5, 'lift'),
                (10.5, 'done')]
    r.detections = [(4.0 + 0.2 * i, 1) for i in range(11)] + [(7.0, 0)]
    r.commands = [4.0 + 0.01 * i for i in range(651)]   # 100 Hz from 4 to 10.5 s
    r.holding = [(0.5, False), (8.1, True)]
    r.object_z = [0.02, 0.11]
    res = summarise(r, t0=0.0, t_end=11.5, lift_height=0.1)
    assert res.lifted and res.state == 'done' and res.rise_m == pytest.approx(0.09)
    assert res.grasp_s == pytest.approx(6.5) and res.close_s == pytest.approx(8.0)
    assert res.detections == 12 and res.with_grasp == 11
    assert res.detection_rate == pytest.approx(11 / 3.0, abs=0.01)   # 12 arrays in 4-7 s
    assert res.command_rate == pytest.approx(100.0, abs=0.5)
    r.object_z = [0.02, 0.05]   # slipped: risen less than half the lift
    assert not summarise(r, 0.0, 11.5, lift_height=0.1).lifted
    timed_out = summarise(LoopRecord(states=[(1.0, 'approach')]), 0.0, 60.0)
    assert not timed_out.lifted and timed_out.grasp_s is None and timed_out.detections == 0


def test_demo_prints_waiting_until_the_first_detections():
    from tools.closed_loop_demo import _log_events
    r, lines = LoopRecord(), []
    seen = {'states': 0, 'holding': None, 'detection': False}
    r.states = [(6.5, 'waiting')]   # the controller's first state: it holds still
    _log_events(r, seen, 0.0, lines.append)
    assert lines == ['  6.50 s  controller: waiting for the first detections (holding still)']
    r.detections = [(10.1, 1)]
    r.states.append((10.2, 'approach'))
    _log_events(r, seen, 0.0, lines.append)
    assert lines[1:] == [' 10.10 s  first detections (1 grasps): the servo starts',
                         ' 10.20 s  controller: approach']


def test_launch_file_describes_the_three_processes(monkeypatch):
    # launch.actions: the repository's launch/ folder alone makes ``launch`` importable.
    pytest.importorskip('launch.actions', reason='launch is not installed (no PyPI wheel): a '
                                                 'ROS 2 install has it; make ros-extras')
    import launch
    monkeypatch.setattr(sys, 'path', list(sys.path))   # the launch file adds the root
    spec = importlib.util.spec_from_file_location('closed_loop_launch', LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    context = launch.LaunchContext()
    for entity in description.entities:   # the arguments' defaults, then an override
        if isinstance(entity, launch.actions.DeclareLaunchArgument):
            entity.visit(context)
    context.launch_configurations['object'] = '300'
    env = {a.name[0].perform(context): a for a in module.environment_actions(context)}
    assert env['FASTDDS_DEFAULT_PROFILES_FILE'].value[0].perform(context).endswith(
        'config/fastdds_localhost.xml')
    assert env['ROS_AUTOMATIC_DISCOVERY_RANGE'].value[0].perform(context) == 'LOCALHOST'
    processes = module.process_actions(context)
    assert [p.name[0].perform(context) for p in processes] == list(NAMES)
    cmds = {p.name[0].perform(context): [''.join(s.perform(context) for s in part)
                                         for part in p.cmd] for p in processes}
    assert 'object_ids:=r300' in cmds['wrist_camera']
    assert 'detections:=/grasp_detection/detections' in cmds['servo_controller']
    # The defaults: composite render, static scene, no shadows, the launch ends after DONE.
    assert {'renderer:=composite', 'push_seed:=-1', 'shadows:=false'} <= set(
        cmds['wrist_camera'])
    assert 'exit_when_done:=true' in cmds['servo_controller']
    context.launch_configurations.update(renderer='reference', moving='true', shadows='true',
                                         exit_when_done='false')
    cfg = module.config_of(context)
    assert (cfg.renderer, cfg.moving, cfg.shadows, cfg.exit_when_done) == (
        'reference', True, True, False)
    cmds = {p.name[0].perform(context): [''.join(s.perform(context) for s in part)
                                         for part in p.cmd]
            for p in module.process_actions(context)}
    assert {'renderer:=reference', 'push_seed:=3', 'shadows:=true'} <= set(
        cmds['wrist_camera'])
    assert 'exit_when_done:=false' in cmds['servo_controller']
    context.launch_configurations['moving'] = 'yes'
    with pytest.raises(ValueError, match='moving'):
        module.config_of(context)
    context.launch_configurations['moving'] = 'false'
    context.launch_configurations['dds'] = 'environment'
    assert {a.name[0].perform(context) for a in module.environment_actions(context)} == {
        'PYTHONPATH', 'PYTHONUNBUFFERED'}


def test_the_three_nodes_lift_object_460_over_ros(tmp_path):
    for name in ('tf2_ros', 'vision_msgs.msg', 'pybullet'):
        pytest.importorskip(name, reason=f'{name} is not installed (no PyPI wheel for the ROS '
                                         f'ones: make ros-extras)')
    out = tmp_path / 'run'
    # A private domain, as conftest's (the demo applies the tools' localhost DDS set-up).
    command = [sys.executable, '-m', 'tools.closed_loop_demo', '--object', '460', '--seed', '3',
               '--timeout', str(TIMEOUT), '--out', str(out),
               '--domain-id', str(100 + os.getpid() % 100)]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = proc.communicate(timeout=TIMEOUT + 60)   # + imports and stopping
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)   # the demo stops its children
        output, _ = proc.communicate(timeout=30)
        pytest.fail(f'the demo did not end in time:\n{output}')
    assert proc.returncode == 0, output
    result = json.loads((out / 'summary.json').read_text())
    assert result['lifted'] and result['state'] == 'done', output
    assert result['rise_m'] > 0.05 and result['holding'], output
    assert result['grasp_s'] < 30.0, output
    # The controller's ~100 Hz (a loaded 2-core machine gets fewer ticks) and a steady flow of
    # tracked detections while the servo ran.
    assert result['command_rate'] > 50.0 and result['detection_rate'] > 1.0, output
    assert result['with_grasp'] >= 5, output
    assert 'nodes stopped' in output
    # The controller says it waits (not 'approach') until the first detections.
    assert output.index('controller: waiting') < output.index('first detections')
    assert 'controller: approach' in output


def test_demo_logs_the_wrist_cameras_push_once_it_starts():
    from tools.closed_loop_demo import _log_push

    class Camera:
        text_now = '[INFO] ready: 320x240\n'

        def text(self):
            return self.text_now

    camera, lines = Camera(), []
    assert not _log_push(camera, 3.0, lines.append) and lines == []
    camera.text_now += ('[INFO] [wrist_camera]: push starts: 50 mm, 40 deg over 0.4 s; tool z '
                        '0.18 m\n')
    assert _log_push(camera, 4.25, lines.append)
    assert lines == ['  4.25 s  wrist camera: push starts: 50 mm, 40 deg over 0.4 s; tool z '
                     '0.18 m']
