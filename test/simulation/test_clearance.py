"""The clearance protocol's bookkeeping, on a stubbed planner and executor (no grasping)."""

import math

import numpy as np
import pytest

from simulation.clearance import (BIN_ORIGIN, clear_table, clutter_scene, failure_reason,
                                  isolated_scene)
from simulation.grasp_execution import ExecutionResult, WorldGrasp
from simulation.planners import Plan
from simulation.tabletop import SimulatedScene

pytest.importorskip('pybullet')


class FirstObjectPlanner:
    """Aims at the centre of the first remaining object (ground truth), or at nothing."""

    name = 'stub'

    def __init__(self, give_up=False):
        self.give_up = give_up
        self.seen = []
        self.failed = []

    def plan(self, view):
        self.seen.append(len(view.remaining))
        self.failed.append(view.failed)
        if self.give_up:
            return Plan(None, 'no_blob')
        obj = view.remaining[0]
        return Plan(WorldGrasp(float(obj.centre[0]), float(obj.centre[1]), 0.0, 0.05, 0.02))


class ScriptedExecutor:
    """Succeeds or fails as scripted; a success lifts the object nearest the grasp."""

    max_opening = 0.12

    def __init__(self, scene, script):
        self.scene, self.script, self.calls = scene, list(script), 0

    def execute(self, grasp, bodies):
        ok = self.script[self.calls % len(self.script)]
        self.calls += 1
        if not ok:
            return ExecutionResult(False, 'dropped', opening=grasp.opening, stop_z=grasp.z)
        objects = [o for o in self.scene.objects if o.body in bodies]
        obj = min(objects, key=lambda o: o.distance_to_footprint((grasp.x, grasp.y)))
        return ExecutionResult(True, 'success', lifted=[obj.body], touched=[obj.body],
                               opening=grasp.opening, stop_z=grasp.z)


@pytest.fixture(scope='module')
def clutter():
    with SimulatedScene(objects=3) as scene:
        clutter_scene(scene, 4)
        state = scene.p.saveState(physicsClientId=scene.client)

        def fresh():
            scene.p.restoreState(stateId=state, physicsClientId=scene.client)
            scene.update_truth()
            return scene
        yield fresh


def test_success_puts_the_object_away_and_failures_in_a_row_stop(clutter):
    scene = clutter()
    planner = FirstObjectPlanner()
    # success, fail, fail, success, fail, fail, fail -> 2 cleared, stopped by 3 failures.
    executor = ScriptedExecutor(scene, [True, False, False, True, False, False, False])
    result = clear_table(scene, executor, planner)
    assert result['objects'] == 3 and result['cleared'] == 2
    assert [a['success'] for a in result['attempts']] == [True, False, False, True, False,
                                                          False, False]
    assert [a['remaining'] for a in result['attempts']] == [3, 2, 2, 2, 1, 1, 1]
    assert planner.seen == [3, 2, 2, 2, 1, 1, 1]
    first = result['attempts'][0]
    assert first['lifted'] == [first['target']] and first['plan'] == 'ok'
    assert result['attempts'][1]['failure'] == 'dropped'
    # The lifted objects rest far outside the view, the others are still in it.
    lifted = {a['target'] for a in result['attempts'] if a['success']}
    away = [o for o in scene.objects if o.object_id in lifted]
    assert len(away) == 2
    for obj in away:
        assert obj.position[0] == pytest.approx(BIN_ORIGIN[0], abs=0.1)


def test_clear_table_stops_when_clear_and_at_the_attempt_limit(clutter):
    scene = clutter()
    result = clear_table(scene, ScriptedExecutor(scene, [True]), FirstObjectPlanner())
    assert result['cleared'] == 3 and len(result['attempts']) == 3
    scene = clutter()
    result = clear_table(scene, ScriptedExecutor(scene, [False]), FirstObjectPlanner(),
                         max_failures=10, max_attempts=4)
    assert result['cleared'] == 0 and len(result['attempts']) == 4
    scene = clutter()
    result = clear_table(scene, ScriptedExecutor(scene, [True]), FirstObjectPlanner(),
                         max_attempts=1)
    assert result['cleared'] == 1 and len(result['attempts']) == 1


def test_failed_grasps_reach_the_planner_only_when_asked(clutter):
    scene = clutter()
    planner = FirstObjectPlanner()
    first = np.array(scene.objects[0].centre)   # before it is put away
    clear_table(scene, ScriptedExecutor(scene, [False, True]), planner, avoid_failed=True)
    # fail, success (object 0 put away), fail, success, fail, success: each view carries every
    # failed grasp of the scene so far, the first of them aimed at object 0.
    assert [len(f) for f in planner.failed] == [0, 1, 1, 2, 2, 3]
    assert planner.failed[1][0] == pytest.approx((first[0], first[1]), abs=1e-4)
    scene = clutter()
    planner = FirstObjectPlanner()
    clear_table(scene, ScriptedExecutor(scene, [False, True]), planner)
    assert all(f == () for f in planner.failed)


def test_a_planner_without_grasp_fails_without_executing(clutter):
    scene = clutter()
    executor = ScriptedExecutor(scene, [True])
    result = clear_table(scene, executor, FirstObjectPlanner(give_up=True))
    assert executor.calls == 0 and result['cleared'] == 0
    assert [a['failure'] for a in result['attempts']] == ['no_blob'] * 3
    with pytest.raises(ValueError):
        clear_table(scene, executor, FirstObjectPlanner(), max_failures=0)


def test_failure_reasons():
    class Obj:
        body, height = 5, 0.02
    assert failure_reason('no_blob', math.inf, None, None, '') == 'no_blob'
    assert failure_reason('ok', 0.05, Obj, None, 'empty') == 'off_object'
    assert failure_reason('ok', 0.0, Obj, 5, 'empty') == 'jaw_on_target'
    assert failure_reason('ok', 0.0, Obj, 6, 'dropped') == 'jaw_on_neighbour'
    assert failure_reason('ok', 0.0, Obj, None, 'empty', grasp_z=0.03) == 'above_object'
    assert failure_reason('ok', 0.0, Obj, None, 'empty', grasp_z=0.01) == 'empty'


def test_isolated_scenes_repeat_from_their_seed():
    with SimulatedScene() as scene:
        assert isolated_scene(scene, 30, 1)
        first = scene.objects[0].position.copy()
        assert isolated_scene(scene, 30, 1)
        assert np.allclose(scene.objects[0].position, first, atol=1e-6)
        assert scene.objects[0].object_id == 'r030'
