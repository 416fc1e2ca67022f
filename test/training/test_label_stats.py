"""label-stats: mask chords on drawn masks, figures of a hand-made label set, the command."""

import argparse
import json
import math

import cv2
import numpy as np
import pytest

from mtg_grasp_ros.grasp import Grasp
from training import label_stats as label_stats_module
from training.label_stats import label_stats, mask_chords, spread


def bar_mask(size=100, rows=(20, 80), cols=(30, 70)):
    """A (size, size) bool mask with a rectangle ``rows[0]:rows[1]``, ``cols[0]:cols[1]``."""
    mask = np.zeros((size, size), bool)
    mask[rows[0]:rows[1], cols[0]:cols[1]] = True
    return mask


def test_chord_of_a_rectangle_along_and_across():
    mask = bar_mask()  # 40 px wide (cols), 60 px tall (rows)
    across = Grasp(row=50, col=50, angle=0.0, width=60, jaw_size=10)  # closes along the row
    upright = Grasp(row=50, col=50, angle=math.pi / 2, width=60, jaw_size=10)
    off_centre = Grasp(row=25, col=66, angle=0.0, width=60, jaw_size=10)
    chords = mask_chords([across, upright, off_centre], mask)
    assert chords[0] == pytest.approx(40.0, abs=0.3)
    assert chords[1] == pytest.approx(60.0, abs=0.3)
    assert chords[2] == pytest.approx(40.0, abs=0.3)  # the whole run, wherever the centre is


def test_chord_is_nan_off_the_mask_and_stops_at_the_image_edge():
    mask = bar_mask(cols=(0, 40))  # touches the left image edge
    chords = mask_chords([Grasp(50, 90, 0.0, 10, 5), Grasp(50, 10, 0.0, 10, 5)], mask)
    assert math.isnan(chords[0])
    assert chords[1] == pytest.approx(40.0, abs=0.3)
    assert mask_chords([], mask).shape == (0,)


def test_chord_of_a_disc_on_the_diagonal_is_its_diameter():
    rows, cols = np.mgrid[0:200, 0:200]
    disc = (rows - 100) ** 2 + (cols - 100) ** 2 <= 50 ** 2
    chords = mask_chords([Grasp(100, 100, a, 10, 5) for a in (0.3, math.pi / 4, -1.2)], disc)
    assert chords == pytest.approx([101.0] * 3, abs=1.5)


def test_chord_stops_at_a_gap_in_the_mask():
    mask = bar_mask(cols=(10, 30)) | bar_mask(cols=(50, 90))  # two bars, a 20 px gap
    chords = mask_chords([Grasp(50, 20, 0.0, 10, 5), Grasp(50, 40, 0.0, 10, 5)], mask)
    assert chords[0] == pytest.approx(20.0, abs=0.3) and math.isnan(chords[1])


def test_spread():
    assert spread(range(1, 12)) == {'n': 11, 'median': 6.0, 'p10': 2.0, 'p90': 10.0,
                                    'mean': 6.0}
    assert spread([])['median'] is None and spread([math.nan])['n'] == 0


def write_view(folder, view, obj, grasps, mask, size=100):
    """One Jacquard view by hand: RGB, mask and grasp file (no depth)."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f'{view}_{obj}'
    cv2.imwrite(f'{stem}_RGB.png', np.full((size, size, 3), 200, np.uint8))
    if mask is not None:
        cv2.imwrite(f'{stem}_mask.png', mask.astype(np.uint8) * 255)
    lines = ['{:.2f};{:.2f};{:.2f};{:.2f};{:.2f}'.format(*g.to_jacquard()) for g in grasps]
    (folder / f'{view}_{obj}_grasps.txt').write_text('\n'.join(lines) + '\n')


@pytest.fixture
def hand_made(tmp_path):
    """Object a: 2 views x 2 grasps (openings 60 and 80 on a 40 px bar); object b: 1 view,
    1 grasp off its mask and 1 grasp 20 px wide on a 20 px bar; object c: no mask."""
    root = tmp_path / 'set'
    wide = bar_mask()
    for view in (0, 1):
        write_view(root / 'a', view, 'a', [Grasp(50, 50, 0.0, 60, 20),
                                           Grasp(40, 50, 0.0, 80, 30)], wide)
    write_view(root / 'b', 0, 'b', [Grasp(50, 95, 0.0, 50, 10), Grasp(50, 40, 0.0, 20, 10)],
               bar_mask(cols=(30, 50)))
    write_view(root / 'c', 0, 'c', [Grasp(50, 50, 0.0, 10, 5)], None)
    return root


def test_label_stats_of_a_hand_made_set(hand_made):
    stats = label_stats(hand_made, progress=False)
    assert (stats['views'], stats['objects'], stats['grasps']) == (4, 3, 7)
    assert stats['grasps_per_view']['median'] == 2.0
    assert sorted([stats['grasps_per_object']['p10'], stats['grasps_per_object']['p90']]) == \
        pytest.approx([1.2, 3.6])  # objects hold 4, 2 and 1 grasps
    assert stats['opening_px']['median'] == 60.0 and stats['opening_px']['n'] == 7
    assert stats['opening_rel']['median'] == pytest.approx(0.6)
    assert stats['jaw_rel']['mean'] == pytest.approx(np.mean([20, 30, 20, 30, 10, 10, 5]) / 100,
                                                     abs=1e-4)
    assert stats['image_side_px']['median'] == 100.0
    assert stats['views_with_mask'] == 3 and stats['centre_off_mask'] == 1
    # Measured grasps: 60/40 and 80/40 twice, 20/20 once.
    assert stats['opening_over_chord']['n'] == 5
    assert stats['opening_over_chord']['median'] == pytest.approx(1.5, abs=0.02)
    assert stats['opening_over_chord']['p10'] == pytest.approx(1.2, abs=0.02)
    assert stats['chord_px']['median'] == pytest.approx(40.0, abs=0.3)


def run_cli(*argv):
    parser = argparse.ArgumentParser()
    label_stats_module.register(parser.add_subparsers(dest='command'))
    args = parser.parse_args(['label-stats', *map(str, argv)])
    return args.func(args)


def test_cli_side_by_side_json_and_errors(hand_made, tmp_path, capsys):
    from training.tinydata import make_tiny_jacquard
    tiny = make_tiny_jacquard(tmp_path / 'tiny', n_objects=3, views=2, size=64, seed=1)
    out = tmp_path / 'stats.json'
    assert run_cli('--data', hand_made, tiny, '--json', out) == 0
    printed = capsys.readouterr().out
    header = printed.splitlines()[0]
    assert 'set' in header and 'tiny' in header and 'opening / chord' in printed
    results = json.loads(out.read_text())
    assert [r['views'] for r in results] == [4, 6]
    # tiny-data labels open 1.3 x the object's thickness plus 2% of the image: ratio above 1.
    assert 1.2 < results[1]['opening_over_chord']['median'] < 2.0
    assert run_cli('--data', tmp_path / 'missing') == 2
    assert 'missing' in capsys.readouterr().err


def test_the_training_command_line_lists_label_stats():
    from training.__main__ import build_parser
    args = build_parser().parse_args(['label-stats', '--data', 'x'])
    assert args.func is label_stats_module.run
