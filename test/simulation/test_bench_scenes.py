"""The physical benchmark's scenes on textured tables and with procedural shapes
(simulation.looks.TexturedTable, SimulatedScene's ``table`` and ``object_set``)."""

import numpy as np
import pytest

from simulation.clearance import clutter_scene, isolated_scene
from simulation.objects import HELDOUT_INDICES, heldout_indices, heldout_path, object_id
from simulation.planners import BlobPlanner, View
from simulation.tabletop import SimulatedScene

pytest.importorskip('pybullet')


@pytest.fixture
def shape_cache(monkeypatch, tmp_path):
    """Procedural shapes written to a temporary cache, not the user's."""
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path))


def _isolated_frame(table, index=30, seed=1):
    with SimulatedScene(table=table) as scene:
        assert isolated_scene(scene, index, seed)
        render = scene.render()
        return render.rgb, render.segmentation == scene.world.table, scene.objects[0].position


def test_textured_frames_repeat_from_their_seed_and_differ_from_plain():
    textured, table, position = _isolated_frame('textured')
    again, _, position_again = _isolated_frame('textured')
    assert np.array_equal(textured, again)
    assert np.allclose(position, position_again, atol=1e-6)
    other, _, _ = _isolated_frame('textured', seed=2)
    assert not np.array_equal(other, textured)
    # The same objects and poses as on the plain table; only the looks change.
    plain, _, plain_position = _isolated_frame('plain')
    assert np.allclose(plain_position, position, atol=1e-6)
    assert np.abs(plain.astype(int) - textured.astype(int)).mean() > 5.0
    # The support is textured: its pixels vary far more than the plain table's (shading).
    spread = textured[table].astype(float).std(axis=0).mean()
    assert spread > 2.0 * plain[table].astype(float).std(axis=0).mean()


def test_textured_clutter_scene_paints_every_frame_and_the_baseline_copes():
    with SimulatedScene(objects=4, object_size=(0.05, 0.08), table='textured') as scene:
        clutter_scene(scene, 3)
        dressing = scene.dressing
        assert dressing.floor is not None
        assert set(dressing.colours) == {o.body for o in scene.objects}
        assert [o.colour for o in scene.objects] == [dressing.colours[o.body]
                                                     for o in scene.objects]
        first = scene.render().rgb
        assert np.array_equal(scene.render().rgb, first)  # same world, same painted frame
        plan = BlobPlanner().plan(View(rgb=first, camera=scene.camera))
        assert plan.reason in ('ok', 'no_blob')
        assert (plan.grasp is None) == (plan.reason != 'ok')


def test_heldout_indices_of_each_catalogue():
    assert heldout_indices('random_urdfs') == HELDOUT_INDICES
    procedural = heldout_indices('procedural')
    assert [object_id(i) for i in procedural[:3]] == ['s000', 's010', 's020']
    assert len(procedural) == 50 and all(i % 10 == 0 for i in procedural)
    both = heldout_indices('both')
    assert [object_id(i) for i in both[:4]] == ['r000', 's000', 'r010', 's010']
    assert sorted(both) == sorted(HELDOUT_INDICES + procedural)
    thin = heldout_indices('thin')
    assert [object_id(i) for i in thin[:2]] == ['s500', 's510'] and len(thin) == 10
    assert heldout_path(1500).endswith('.urdf')  # a held-out thin shape
    for index in (1001, 1005, 1600, 1):  # training shapes, past the catalogue, training blob
        with pytest.raises(ValueError):
            heldout_path(index)
    with pytest.raises(ValueError):
        heldout_indices('household')
    with pytest.raises(ValueError):
        SimulatedScene(table='marble')


def test_procedural_scenes_hold_heldout_shapes_only(shape_cache):
    with SimulatedScene(objects=5, object_size=(0.05, 0.08), object_set='procedural') as scene:
        seen = set()
        for seed in range(3):
            clutter_scene(scene, seed)
            seen |= {o.object_id for o in scene.objects}
        assert isolated_scene(scene, heldout_indices('procedural')[2], 0)
        assert scene.objects[0].object_id == 's020'
    assert all(i.startswith('s') and int(i[1:]) % 10 == 0 for i in seen), seen
    assert len(seen) > 5
