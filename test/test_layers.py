"""The three layers (docs/architecture.md): import arrows point one way, no import cycle, a
runtime that needs only the runtime's dependencies and modules of one job each.

Read from the source with ``ast`` (nothing is imported), so a lazy import inside a function
counts as much as one at the top of a module.
"""

import ast
from collections import defaultdict
from pathlib import Path
import sys
import xml.etree.ElementTree as ElementTree

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Layer of each top-level package, and the layers it may import (besides its own).
LAYERS = {'mtg_grasp_ros': set(), 'simulation': {'mtg_grasp_ros'},
          'training': {'mtg_grasp_ros', 'simulation'}, 'tools': {'mtg_grasp_ros', 'simulation'}}
#: Third-party modules the runtime may import: what a ROS install and the robot's pip
#: requirements (README "Installing on a robot") provide. The ROS ones must be package.xml
#: dependencies (checked below).
RUNTIME_PIP = {'numpy', 'cv2', 'torch', 'safetensors', 'onnxruntime'}
RUNTIME_ROS = {'rclpy', 'rcl_interfaces', 'builtin_interfaces', 'sensor_msgs', 'geometry_msgs',
               'std_msgs', 'visualization_msgs', 'diagnostic_msgs', 'diagnostic_updater',
               'tf2_ros', 'cv_bridge', 'ament_index_python', 'launch', 'launch_ros',
               'vision_msgs', 'lifecycle_msgs'}
#: "under ~350 lines" (DEVELOPERS.md); a runtime module above this has more than one job.
MAX_RUNTIME_LINES = 360


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix('').parts)
    if parts[-1] == '__init__':
        parts.pop()
    return '.'.join(parts)


def sources(*packages):
    for package in packages:
        yield from sorted((ROOT / package).rglob('*.py'))


def imports(path: Path):
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path).split('.')
    if path.name != '__init__.py':
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                parent = package[:len(package) - node.level + 1]
                base = '.'.join(parent + [base] if base else parent)
            yield base
            # ``from pkg import module`` imports a module too.
            yield from (f'{base}.{alias.name}' for alias in node.names)


def project_graph():
    modules = {module_name(p): p for p in sources(*LAYERS)}
    graph = defaultdict(set)
    for name, path in modules.items():
        for target in imports(path):
            if target in modules and target != name:
                graph[name].add(target)
    return modules, graph


def test_imports_point_one_way():
    wrong = []
    for path in sources(*LAYERS):
        layer = module_name(path).split('.')[0]
        for target in imports(path):
            top = target.split('.')[0]
            if top in LAYERS and top != layer and top not in LAYERS[layer]:
                wrong.append(f'{path.relative_to(ROOT)} imports {target}')
    assert not wrong, '\n'.join(wrong)


def test_no_import_cycle():
    modules, graph = project_graph()
    # Tarjan's strongly connected components: a component of more than one module is a cycle.
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    for v in sorted(modules):
        if v not in index:
            visit(v)
    assert not cycles, cycles


def third_party(path: Path):
    for target in imports(path):
        top = target.split('.')[0]
        if top and top not in LAYERS and top not in sys.stdlib_module_names \
                and top != '__future__':
            yield top


def test_runtime_imports_only_runtime_dependencies():
    wrong = sorted({f'{p.relative_to(ROOT)}: {m}' for p in sources('mtg_grasp_ros')
                    for m in third_party(p) if m not in RUNTIME_PIP | RUNTIME_ROS})
    assert not wrong, 'the robot does not have: ' + ', '.join(wrong)


def test_package_xml_declares_every_ros_package_the_runtime_imports():
    root = ElementTree.parse(ROOT / 'package.xml').getroot()
    declared = {e.text for e in root if e.tag in ('exec_depend', 'depend')}
    used = {m for p in sources('mtg_grasp_ros') for m in third_party(p)} & RUNTIME_ROS
    # The launch file is installed too; its imports count.
    used |= {m for m in third_party(ROOT / 'launch' / 'grasp_detection.launch.py')}
    assert used - RUNTIME_PIP <= declared, sorted(used - RUNTIME_PIP - declared)


def test_runtime_tests_need_only_the_runtime():
    """What `colcon test` runs (setup.cfg testpaths) imports no other layer and nothing the
    robot lacks, except through pytest.importorskip (skipped with a reason there)."""
    allowed = RUNTIME_PIP | RUNTIME_ROS | {'mtg_grasp_ros', 'pytest', 'hypothesis', 'node_harness',
                                           'model_fixtures', 'conftest'}
    paths = list(sources('test/runtime')) + [ROOT / 'test' / n for n in (
        'conftest.py', 'node_harness.py', 'model_fixtures.py') if (ROOT / 'test' / n).is_file()]
    wrong = []
    for path in paths:
        for target in imports(path):
            top = target.split('.')[0]
            if top and top not in sys.stdlib_module_names and top != '__future__' \
                    and top not in allowed and top != module_name(path).split('.')[-1] \
                    and not top.startswith('test_'):
                wrong.append(f'{path.relative_to(ROOT)}: {target}')
    assert not wrong, wrong


@pytest.mark.parametrize('path', sorted(sources('mtg_grasp_ros')),
                         ids=lambda p: p.name)
def test_runtime_modules_have_one_job(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_RUNTIME_LINES, f'{path.name} has {lines} lines: split it by job'
    assert ast.get_docstring(ast.parse(path.read_text())), f'{path.name} says not what it does'
