"""The ament_python package: conventions, what colcon installs (the runtime only, runnable
without the other layers), what colcon test runs, and lint."""

import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = 'mtg_grasp_ros'


def test_package_xml_is_format_3_ament_python():
    root = ElementTree.parse(ROOT / 'package.xml').getroot()
    assert root.get('format') == '3'
    assert root.findtext('name') == PACKAGE
    assert root.find('export/build_type').text == 'ament_python'
    # ML dependencies are pip requirements, never rosdep keys.
    deps = {e.text for e in root if e.tag.endswith('depend')}
    assert not {d for d in deps if 'torch' in d or 'onnx' in d}


def test_ament_python_layout():
    assert (ROOT / 'resource' / PACKAGE).is_file()
    cfg = (ROOT / 'setup.cfg').read_text()
    assert f'script_dir=$base/lib/{PACKAGE}' in cfg
    assert f'install_scripts=$base/lib/{PACKAGE}' in cfg


#: Modules a robot does not have: the other layers and their dependencies. The installed
#: executables and the runtime's tests must work without them.
OFFLINE_MODULES = ('simulation', 'training', 'tools', 'pybullet', 'pybullet_data', 'scipy',
                   'tqdm', 'matplotlib', 'onnx')
#: Imported at start-up by every Python process started with this folder on PYTHONPATH: makes
#: the offline modules unimportable, as they are on a robot.
SITECUSTOMIZE = '''
import importlib.abc
import os
import sys

BLOCKED = set(os.environ['MTG_BLOCKED_MODULES'].split(','))


class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED:
            raise ModuleNotFoundError(f'{name} is blocked: not on the robot', name=name)
        return None


sys.meta_path.insert(0, Blocker())
'''


def robot_environment(tmp_path, install_site=None):
    """os.environ with the offline modules blocked (and the installed package first)."""
    blocker = tmp_path / 'blocker'
    blocker.mkdir(exist_ok=True)
    (blocker / 'sitecustomize.py').write_text(SITECUSTOMIZE)
    env = dict(os.environ)
    paths = [str(blocker)] + ([str(install_site)] if install_site else [])
    env['PYTHONPATH'] = os.pathsep.join(paths + [p for p in [env.get('PYTHONPATH')] if p])
    env['MTG_BLOCKED_MODULES'] = ','.join(OFFLINE_MODULES)
    env['ROS_DOMAIN_ID'] = str(150 + os.getpid() % 50)
    env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    env.pop('FASTDDS_BUILTIN_TRANSPORTS', None)
    return env


def test_the_blocker_blocks(tmp_path):
    result = subprocess.run([sys.executable, '-c', 'import scipy'], cwd=tmp_path,
                            env=robot_environment(tmp_path), capture_output=True, text=True)
    assert result.returncode != 0 and 'blocked: not on the robot' in result.stderr


def test_colcon_build_installs_only_the_runtime(tmp_path):
    """colcon builds the repository as it is (all layers present) and installs the runtime
    only; every executable it installs starts with only the runtime's dependencies."""
    colcon = shutil.which('colcon') or str(Path(sys.executable).parent / 'colcon')
    if not Path(colcon).exists():
        pytest.fail('colcon is not installed (requirements-dev.txt installs it)')
    # Build from a copy of the sources so the run leaves nothing in the repo.
    src = tmp_path / 'src' / PACKAGE
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        '.venv*', '.git', 'runs', 'data', 'build', 'install', 'log', '__pycache__',
        '*.egg-info', '.pytest_cache'))
    result = subprocess.run(
        [colcon, 'build', '--base-paths', str(tmp_path / 'src'),
         '--build-base', str(tmp_path / 'build'), '--install-base', str(tmp_path / 'install')],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    install = tmp_path / 'install' / PACKAGE
    share = install / 'share' / PACKAGE
    assert (install / 'share/ament_index/resource_index/packages' / PACKAGE).is_file()
    assert (share / 'package.xml').is_file() and (share / 'LICENSE').is_file()
    site, = install.glob('lib/python3*/site-packages')
    packages = {p.name for p in site.iterdir() if p.is_dir() and not p.name.endswith('info')}
    assert packages == {PACKAGE}, f'installed beside the runtime: {packages - {PACKAGE}}'
    assert ({p.name for p in (site / PACKAGE).glob('*.py')}
            == {p.name for p in (ROOT / PACKAGE).glob('*.py')})
    for pattern in ('launch/*.launch.py', 'config/*.yaml', 'models/*'):
        for f in filter(Path.is_file, ROOT.glob(pattern)):
            assert (share / f.relative_to(ROOT)).is_file(), f
    # Candidate models are measured in the repository, never installed on the robot.
    assert not (share / 'models' / 'candidates').exists()
    executables = sorted((install / 'lib' / PACKAGE).iterdir())
    assert [e.name for e in executables] == ['grasp_detection_node']
    env = robot_environment(tmp_path, site)
    env['AMENT_PREFIX_PATH'] = os.pathsep.join(
        p for p in (str(install), env.get('AMENT_PREFIX_PATH')) if p)
    for executable in executables:
        # The node with the installed default model and no camera: it must get to "ready".
        proc = subprocess.Popen(
            [sys.executable, str(executable), '--ros-args', '-p', 'use_tf:=false'],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines = []
        try:
            for line in proc.stdout:  # bounded: the node logs "ready" or dies
                lines.append(line)
                if 'ready:' in line or len(lines) > 200:
                    break
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        output = ''.join(lines)
        assert 'ready:' in output and 'Traceback' not in output, output
        assert str(install) in output, 'the default model should come from the install share'
    # colcon test runs pytest on the runtime's tests (setup.cfg testpaths) without the other
    # layers; a subset keeps it short (the whole of test/runtime runs in `make test`).
    result = subprocess.run(
        [colcon, 'test', '--base-paths', str(tmp_path / 'src'),
         '--build-base', str(tmp_path / 'build'), '--install-base', str(tmp_path / 'install'),
         '--pytest-args', '-k', 'test_models or test_crop'],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    result = subprocess.run(
        [colcon, 'test-result', '--test-result-base', str(tmp_path / 'build'), '--all'],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    summary = result.stdout.strip().splitlines()[-1]
    ran, errors, failures = (int(summary.split(word)[0].split()[-1])
                             for word in (' tests', ' errors', ' failures'))
    assert ran >= 5 and errors == 0 and failures == 0, result.stdout


def test_runtime_tests_collect_without_the_other_layers(tmp_path):
    """What `colcon test` runs (setup.cfg testpaths) imports with the offline modules blocked;
    tests that need them skip with a reason."""
    result = subprocess.run(
        [sys.executable, '-m', 'pytest', '--collect-only', '-q', '-p', 'no:cacheprovider'],
        cwd=ROOT, env=robot_environment(tmp_path), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert 'test/runtime/' in result.stdout and 'test/training' not in result.stdout
    assert ' error' not in result.stdout.lower()


def test_flake8_ament_style():
    result = subprocess.run(
        [sys.executable, '-m', 'flake8', 'mtg_grasp_ros', 'simulation', 'training', 'test',
         'tools', 'setup.py', 'launch'],
        cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
