"""The ament_python package: conventions, colcon build, lint and the runtime/offline split."""

import ast
from pathlib import Path
import shutil
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


def test_runtime_never_imports_training():
    for path in (ROOT / PACKAGE).rglob('*.py'):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n.split('.')[0] == 'training' for n in names), path


def test_colcon_build_installs_the_package(tmp_path):
    colcon = shutil.which('colcon') or str(Path(sys.executable).parent / 'colcon')
    if not Path(colcon).exists():
        pytest.fail('colcon is not installed (requirements-dev.txt installs it)')
    # Build from a copy of the package sources so the run leaves nothing in the repo.
    src = tmp_path / 'src' / PACKAGE
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        '.venv', '.git', 'runs', 'build', 'install', 'log', '__pycache__', '*.egg-info',
        'test', 'training', 'docs'))
    result = subprocess.run(
        [colcon, 'build', '--base-paths', str(tmp_path / 'src'),
         '--build-base', str(tmp_path / 'build'), '--install-base', str(tmp_path / 'install')],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    install = tmp_path / 'install' / PACKAGE
    share = install / 'share' / PACKAGE
    assert (install / 'share/ament_index/resource_index/packages' / PACKAGE).is_file()
    assert (share / 'package.xml').is_file()
    site = list(install.glob('lib/python3*/site-packages'))
    assert site and (site[0] / PACKAGE / 'models.py').is_file()
    assert not (site[0] / 'training').exists(), 'training/ is offline and must not be installed'
    for pattern in ('launch/*.launch.py', 'config/*.yaml', 'models/*'):
        for f in ROOT.glob(pattern):
            if f.name != '.gitkeep':
                assert (share / f.relative_to(ROOT)).is_file(), f


def test_flake8_ament_style():
    result = subprocess.run(
        [sys.executable, '-m', 'flake8', 'mtg_grasp_ros', 'training', 'test', 'tools', 'setup.py'],
        cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
