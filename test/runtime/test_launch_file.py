"""The launch file and parameter file, checked without `launch` (no PyPI wheel): executables are
console scripts, referenced files are installed, YAML parameters are declared and reach a node
in a namespace. test/ros_real/test_launch_real.py runs it with the real `ros2 launch`."""

import ast
import os
from pathlib import Path
import runpy

from model_fixtures import save_model
import pytest

from mtg_grasp_ros import grasp_node
from mtg_grasp_ros.node_outputs import OUTPUT_TOPICS
from mtg_grasp_ros.node_parameters import PARAMETERS

#: PyYAML: every ROS 2 install has it (launch reads YAML with it), but it is no requirement of
#: the runtime package itself.
yaml = pytest.importorskip('yaml', reason='PyYAML (python3-yaml) is not installed')

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = 'mtg_grasp_ros'
LAUNCH = ROOT / 'launch' / 'grasp_detection.launch.py'
CONFIG = ROOT / 'config' / 'grasp_detection.yaml'
RVIZ = ROOT / 'config' / 'grasp_detection.rviz'
#: The params file's node key: the node under any namespace (a plain node name would apply to
#: /grasp_detection only, not to the node launched with namespace:=...).
YAML_KEY = f'/**/{grasp_node.NODE_NAME}'


@pytest.fixture(scope='module')
def setup_kwargs():
    """The keyword arguments setup.py passes to setuptools.setup (globs evaluated in the repo)."""
    setuptools = pytest.importorskip('setuptools', reason='setuptools (what builds setup.py) '
                                     'is not installed')

    captured = {}
    original, cwd = setuptools.setup, os.getcwd()
    setuptools.setup = lambda **kwargs: captured.update(kwargs)
    try:
        os.chdir(ROOT)
        runpy.run_path(str(ROOT / 'setup.py'))
    finally:
        setuptools.setup = original
        os.chdir(cwd)
    return captured


def console_scripts(kwargs):
    scripts = {}
    for entry in kwargs['entry_points']['console_scripts']:
        name, target = (s.strip() for s in entry.split('='))
        scripts[name] = target
    return scripts


def installed_share_files(kwargs):
    """{path relative to share/<pkg>: source path} of setup.py's data_files."""
    files = {}
    for dest, sources in kwargs['data_files']:
        if dest == f'share/{PACKAGE}' or dest.startswith(f'share/{PACKAGE}/'):
            sub = dest[len(f'share/{PACKAGE}'):].strip('/')
            for src in sources:
                files[str(Path(sub) / Path(src).name)] = src
    return files


def launch_calls(name):
    tree = ast.parse(LAUNCH.read_text())
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and getattr(n.func, 'id', getattr(n.func, 'attr', None)) == name]


def node_calls():
    """The node actions: ``Node(...)``, or its type chosen at launch (``managed``)."""
    tree = ast.parse(LAUNCH.read_text())
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and keyword(n, 'executable') is not None]


def keyword(call, name):
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def test_launch_file_parses_and_defines_the_entry_point():
    tree = ast.parse(LAUNCH.read_text())
    assert any(isinstance(n, ast.FunctionDef) and n.name == 'generate_launch_description'
               for n in tree.body)


def test_every_executable_is_a_console_script(setup_kwargs):
    scripts = console_scripts(setup_kwargs)
    nodes = node_calls()
    assert nodes
    for call in nodes:
        assert ast.literal_eval(keyword(call, 'package')) == PACKAGE
        executable = ast.literal_eval(keyword(call, 'executable'))
        assert executable in scripts, f'{executable} is not a console script in setup.py'
        module, func = scripts[executable].split(':')
        assert module == 'mtg_grasp_ros.grasp_node' and callable(getattr(grasp_node, func))
        assert ast.literal_eval(keyword(call, 'name')) == grasp_node.NODE_NAME


def test_every_referenced_file_is_installed(setup_kwargs):
    installed = installed_share_files(setup_kwargs)
    assert 'launch/grasp_detection.launch.py' in installed
    referenced = []
    for call in launch_calls('PathJoinSubstitution'):
        parts = call.args[0].elts
        assert getattr(parts[0].func, 'id', None) == 'FindPackageShare'
        assert ast.literal_eval(parts[0].args[0]) == PACKAGE
        referenced.append('/'.join(ast.literal_eval(p) for p in parts[1:]))
    assert sorted(referenced) == ['config/fastdds_localhost.xml', 'config/grasp_detection.yaml']
    for rel in referenced:
        assert (ROOT / rel).is_file(), rel
        assert rel in installed, f'{rel} is not installed by setup.py data_files'


def test_remappings_are_the_nodes_topics():
    (call,) = node_calls()
    remapped = [ast.literal_eval(pair.elts[0]) for pair in keyword(call, 'remappings').elts]
    assert tuple(remapped) == grasp_node.INPUT_TOPICS


def flatten(d, prefix=''):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f'{prefix}{k}.'))
        else:
            out[f'{prefix}{k}'] = v
    return out


def test_yaml_parameters_are_declared_with_matching_types():
    data = yaml.safe_load(CONFIG.read_text())
    assert list(data) == [YAML_KEY]
    params = flatten(data[YAML_KEY]['ros__parameters'])
    specs = {p.name: p for p in PARAMETERS}
    assert set(params) <= set(specs), f'undeclared: {set(params) - set(specs)}'
    assert set(specs) <= set(params), f'not documented in the YAML: {set(specs) - set(params)}'
    for name, value in params.items():
        default = specs[name].default
        assert type(value) is type(default), (name, value, default)
        assert value == default, f'{name}: YAML {value!r} != node default {default!r}'


def test_the_node_loads_the_yaml(tmp_path):
    """rclpy itself reads the parameter file (as launch passes it) into the node, also under a
    namespace (as ``namespace:=`` of the launch file puts it)."""
    import rclpy
    from rclpy.parameter import Parameter

    stem = save_model(tmp_path / 'model', kind='constant')
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    context = rclpy.Context()
    rclpy.init(args=['--ros-args', '--params-file', str(CONFIG)], context=context)
    try:
        node = grasp_node.GraspDetectionNode(
            context=context, namespace='robot1',
            parameter_overrides=[Parameter('model_path', value=str(stem))])
        try:
            params = flatten(yaml.safe_load(CONFIG.read_text())[YAML_KEY][
                'ros__parameters'])
            for name, value in params.items():
                if name != 'model_path':
                    got = node.get_parameter(name).value
                    assert (list(got) if isinstance(value, list) else got) == value, name
        finally:
            node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)


def rviz_displays(config):
    """Every display of an RViz config (groups flattened)."""
    todo, found = list(config['Visualization Manager']['Displays']), []
    while todo:
        display = todo.pop(0)
        found.append(display)
        todo.extend(display.get('Displays', []))
    return found


def launch_default(name):
    for call in launch_calls('DeclareLaunchArgument'):
        if ast.literal_eval(call.args[0]) == name:
            return ast.literal_eval(keyword(call, 'default_value'))
    raise KeyError(name)


def test_rviz_config_shows_the_nodes_topics_and_is_installed(setup_kwargs):
    """The RViz config parses, names only the node's published topics (and the launch file's
    default camera image), uses only rviz_default_plugins and vision_msgs_rviz_plugins, and
    is installed."""
    config = yaml.safe_load(RVIZ.read_text())
    assert config['Visualization Manager']['Global Options']['Fixed Frame'] == 'base_link'
    topics = {}
    for display in rviz_displays(config):
        assert display['Class'].split('/')[0] in ('rviz_default_plugins',
                                                  'vision_msgs_rviz_plugins'), display
        if 'Topic' in display:
            topics[display['Class']] = topics.get(display['Class'], []) + [
                display['Topic']['Value']]
    node = f'/{grasp_node.NODE_NAME}/'
    named = [t for values in topics.values() for t in values]
    outputs = {t[len(node):] for t in named if t.startswith(node)}
    assert outputs <= set(OUTPUT_TOPICS), outputs - set(OUTPUT_TOPICS)
    assert outputs == {'debug_image', 'markers', 'grasp_pose', 'detections'}
    assert set(named) - {node + o for o in outputs} == {launch_default('image')}
    assert topics['vision_msgs_rviz_plugins/Detection3DArray'] == [node + 'detections']
    assert topics['rviz_default_plugins/Pose'] == [node + 'grasp_pose']
    assert 'config/grasp_detection.rviz' in installed_share_files(setup_kwargs)
