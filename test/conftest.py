"""Fixtures of the node tests (rclpy, the constant test model, the node harness); the helpers
they use are in node_harness.py and model_fixtures.py (importable from every test: pytest puts
this folder on sys.path, as it holds conftest.py and no __init__.py)."""

import os

from model_fixtures import save_model
from node_harness import _isolated_ros_env, Harness
import pytest
import rclpy


@pytest.fixture(scope='module')
def ros():
    old = _isolated_ros_env()
    rclpy.init()
    yield
    rclpy.try_shutdown()
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    return save_model(tmp_path_factory.mktemp('node_model') / 'constant', kind='constant')


@pytest.fixture
def harness(ros, model):
    made = []

    def make(**kwargs):
        h = Harness(model, **kwargs)
        made.append(h)
        return h
    yield make
    for h in made:
        h.close()
