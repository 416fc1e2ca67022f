"""Clutter views of the synthetic generator (``synth --clutter``): several objects in a view,
grasps on all of them, same split only, determinism, and ``--clutter 0`` changing nothing."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from simulation.objects import is_heldout_index, list_objects, select_objects
from training.synth import clutter
from training.synth.__main__ import main as synth_main
from training.synth.generate import generate, object_rng, SynthConfig

SIZE = 256
ARGS = ['--objects', '1', '--views', '2', '--image-size', str(SIZE), '--trials', '12',
        '--seed', '1', '--workers', '1', '--quiet']
#: Clutter runs: two neighbours at most, plain looks (fast; the looks are tested elsewhere).
CLUTTER = ['--clutter', '1', '--clutter-objects', '2', '--looks', 'plain', '--robot-views', '0',
           '--no-sensor-effects']


def _run(out: Path, *extra: str) -> Path:
    assert synth_main(['--out', str(out), *ARGS, *extra]) == 0
    return out


#: The per-object masks every view's trials were given (recorded by the fixture).
MASKS = []


@pytest.fixture(scope='module')
def cluttered(tmp_path_factory) -> Path:
    original = clutter.try_grasps

    def recording(scene, grippers, state, rng, camera, depth, bodies, masks, *args):
        MASKS.append([np.asarray(m, bool).copy() for m in masks])
        return original(scene, grippers, state, rng, camera, depth, bodies, masks, *args)

    clutter.try_grasps = recording
    try:
        return _run(tmp_path_factory.mktemp('clutter') / 'run', *CLUTTER)
    finally:
        clutter.try_grasps = original


def _files(root: Path) -> dict:
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.glob('*/*'))}


def test_clutter_views_hold_and_label_several_objects(cluttered):
    views = json.loads((cluttered / 'views.json').read_text())
    assert views and all(v['clutter'] and v['neighbours'] for v in views)
    summary = json.loads((cluttered / 'summary.json').read_text())
    assert summary['clutter_views'] == len(views)
    assert summary['config']['clutter'] == 1.0
    for v in views:
        assert list(v['object_grasps'])[0] == v['object_id']
        assert set(v['object_grasps']) == {v['object_id'], *v['neighbours']}
        assert sum(v['object_grasps'].values()) == v['grasps']
    # Grasps land on more than one object, in the views.json counts and in the files.
    assert any(sum(n > 0 for n in v['object_grasps'].values()) > 1 for v in views)
    for v in views:
        stem = cluttered / v['object_id'] / f"{v['view']}_{v['object_id']}"
        mask = cv2.imread(f'{stem}_mask.png', cv2.IMREAD_UNCHANGED)
        assert set(np.unique(mask)) == {0, 255}
        lines = Path(f'{stem}_grasps.txt').read_text().splitlines()
        assert len(lines) == v['grasps']
        for line in lines:  # every grasp centre lies on the (union) mask
            x, y = (float(c) for c in line.split(';')[:2])
            assert mask[int(round(y)), int(round(x))] == 255
        # The mask written is the union of the view's objects' masks, more than one of them
        # visible.
        unions = [m for m in MASKS if np.array_equal(np.any(m, axis=0), mask > 0)]
        assert unions and sum(x.any() for x in unions[0]) > 1
        assert len(unions[0]) == 1 + len(v['neighbours'])


def test_same_seed_same_files(cluttered, tmp_path):
    again = _run(tmp_path / 'again', *CLUTTER)
    assert _files(again) == _files(cluttered)
    assert (again / 'views.json').read_bytes() == (cluttered / 'views.json').read_bytes()


def test_clutter_zero_reproduces_the_data_before_the_option(tmp_path):
    """--clutter 0 writes exactly what a run without the option (the config's default) does."""
    plain = _run(tmp_path / 'plain', '--image-size', '128')
    zero = _run(tmp_path / 'zero', '--image-size', '128', '--clutter', '0')
    assert _files(plain) == _files(zero)
    views = json.loads((zero / 'views.json').read_text())
    assert views and not any(v['clutter'] or v['neighbours'] for v in views)
    assert SynthConfig(out='x').clutter == 0.0


@pytest.mark.parametrize('split', ['train', 'heldout'])
def test_neighbours_come_from_the_same_split(split):
    catalogue = list_objects()
    pool = select_objects(catalogue, split, None, 0)
    target = pool[3]
    for attempt in range(40):
        rng = object_rng(0, target.index, attempt, clutter.CLUTTER_STREAM)
        plans = clutter.draw_neighbours(rng, 1.0, 4, pool, target, 'plain')
        assert plans is not None and 1 <= len(plans) <= 4
        indices = [p.spec.index for p in plans]
        assert target.index not in indices and len(set(indices)) == len(indices)
        assert all(is_heldout_index(i) == (split == 'heldout') for i in indices)
        assert all(0.04 <= p.size <= 0.09 for p in plans)


def test_no_clutter_draws_nothing_and_the_share_is_respected():
    catalogue = list_objects()
    pool = select_objects(catalogue, 'train', 30, 0)
    rng = np.random.default_rng(0)
    assert clutter.draw_neighbours(rng, 0.0, 4, pool, pool[0], 'plain') is None
    assert rng.random() == np.random.default_rng(0).random()  # nothing drawn
    drawn = [clutter.draw_neighbours(np.random.default_rng(i), 0.3, 4, pool, pool[0], 'plain')
             for i in range(400)]
    assert 0.22 < np.mean([d is not None for d in drawn]) < 0.38


def test_train_run_never_draws_heldout_neighbours(tmp_path):
    """generate() with the train split as pool: every neighbour recorded is a train object."""
    catalogue = list_objects()
    specs = select_objects(catalogue, 'train', 1, 5)
    config = SynthConfig(out=str(tmp_path / 'run'), views=1, image_size=128, trials=8, seed=5,
                         clutter=1.0, clutter_objects=2)
    generate(specs, config, workers=1, progress=False,
             pool=select_objects(catalogue, 'train', None, 5))
    ids = {s.object_id: s.index for s in catalogue}
    for v in json.loads((tmp_path / 'run' / 'views.json').read_text()):
        assert 1 <= len(v['neighbours']) <= 2
        assert not any(is_heldout_index(ids[n]) for n in v['neighbours'])


def test_trial_budget_splits_the_trials_with_a_floor():
    assert clutter.trial_budget(40, 1) == 40
    assert clutter.trial_budget(40, 4) == 10
    assert clutter.trial_budget(40, 5) == clutter.MIN_TRIALS
    assert clutter.trial_budget(12, 3) == clutter.MIN_TRIALS


def test_cli_help_describes_clutter(capsys):
    with pytest.raises(SystemExit):
        synth_main(['--help'])
    text = capsys.readouterr().out
    assert '--clutter' in text and '--clutter-objects' in text and 'clutter:' in text
