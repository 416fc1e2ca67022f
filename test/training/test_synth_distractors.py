"""``synth --distractors``: flat shapes on the support change only the support's pixels of the
RGB (never labels, depth or mask), are recorded per view, and ``--distractors 0`` changes
nothing."""

import json
from pathlib import Path

import cv2
import numpy as np

from training.synth.__main__ import main as synth_main

ARGS = ['--objects', '1', '--views', '2', '--image-size', '128', '--trials', '10', '--seed', '2',
        '--workers', '1', '--quiet', '--looks', 'plain', '--robot-views', '0',
        '--no-sensor-effects']


def _run(out: Path, *extra: str) -> Path:
    assert synth_main(['--out', str(out), *ARGS, *extra]) == 0
    return out


def _files(root: Path) -> dict:
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.glob('*/*'))}


def test_distractors_paint_the_support_only_and_keep_every_label(tmp_path):
    before = _run(tmp_path / 'before')
    zero = _run(tmp_path / 'zero', '--distractors', '0')
    printed = _run(tmp_path / 'printed', '--distractors', '1')
    assert _files(zero) == _files(before)
    old, new = _files(before), _files(printed)
    assert old.keys() == new.keys()
    rgbs = [name for name in old if name.name.endswith('_RGB.png')]
    assert rgbs
    for name in old:
        if name not in rgbs:  # grasps, depth, mask: the same bytes
            assert old[name] == new[name], name
    changed_views = 0
    for name in rgbs:
        a = cv2.imread(str(before / name))
        b = cv2.imread(str(printed / name))
        mask = cv2.imread(str(before / name.parent / name.name.replace('_RGB.png', '_mask.png')),
                          cv2.IMREAD_GRAYSCALE)
        changed = np.any(a != b, axis=2)
        assert not changed[mask > 0].any()  # never on an object
        changed_views += bool(changed.any())
    assert changed_views >= 1
    views = json.loads((printed / 'views.json').read_text())
    assert all(1 <= v['distractors'] <= 5 for v in views)
    assert all('distractors' not in v for v in json.loads((zero / 'views.json').read_text()))


def test_cli_help_describes_distractors(capsys):
    try:
        synth_main(['--help'])
    except SystemExit:
        pass
    assert '--distractors' in capsys.readouterr().out
