"""Antipodal label filter: the check on known shapes, and the relabel command on a data set."""

import json
import math

import cv2
import numpy as np
import pytest

from mtg_grasp_ros.grasp import Grasp
from training.__main__ import main as training_main
from training.formats import find_samples
from training.jacquard import read_jacquard_grasps
from training.synth.antipodal import antipodal_errors_deg, NO_CONTACT_DEG
from training.synth.writer import format_grasp

SIZE = 200


def bar_mask(angle_deg=0.0):
    """A 120 x 30 px bar at the image centre, its long side at ``angle_deg`` on screen."""
    mask = np.zeros((SIZE, SIZE), np.uint8)
    box = cv2.boxPoints(((100.0, 100.0), (120.0, 30.0), -angle_deg)).astype(np.int32)
    cv2.fillConvexPoly(mask, box, 255)
    return mask


@pytest.mark.parametrize('bar_angle', [0.0, 35.0, -70.0])
def test_error_is_the_angle_from_across_on_a_bar(bar_angle):
    """On a bar, a grasp k degrees from across hits both long sides k degrees off the normal."""
    across = math.radians(bar_angle + 90.0)
    grasps = [Grasp(row=100.0, col=100.0, angle=across + math.radians(k), width=80.0,
                    jaw_size=10.0) for k in (0.0, 10.0, -25.0, 40.0)]
    errors = antipodal_errors_deg(grasps, bar_mask(bar_angle))
    np.testing.assert_allclose(errors, [0.0, 10.0, 25.0, 40.0], atol=4.0)


def test_no_contact_and_off_object_grasps_fail():
    mask = bar_mask()
    too_narrow = Grasp(row=100.0, col=100.0, angle=math.pi / 2, width=20.0, jaw_size=5.0)
    off_object = Grasp(row=20.0, col=20.0, angle=math.pi / 2, width=80.0, jaw_size=5.0)
    assert list(antipodal_errors_deg([too_narrow, off_object], mask)) == [NO_CONTACT_DEG] * 2


def write_view(root, object_id, view, mask, grasps):
    folder = root / object_id
    folder.mkdir(parents=True, exist_ok=True)
    stem = f'{view}_{object_id}'
    cv2.imwrite(str(folder / f'{stem}_RGB.png'), np.dstack([mask] * 3))
    cv2.imwrite(str(folder / f'{stem}_mask.png'), mask)
    cv2.imwrite(str(folder / f'{stem}_perfect_depth.tiff'),
                np.where(mask > 0, 0.45, 0.5).astype(np.float32))
    (folder / f'{stem}_grasps.txt').write_text(''.join(format_grasp(g) + '\n' for g in grasps))


def test_relabel_keeps_antipodal_grasps_and_drops_empty_views(tmp_path, capsys):
    src, out = tmp_path / 'src', tmp_path / 'out'
    across = Grasp(row=100.0, col=100.0, angle=math.pi / 2, width=80.0, jaw_size=10.0)
    skew = Grasp(row=100.0, col=100.0, angle=math.pi / 2 + math.radians(35), width=80.0,
                 jaw_size=10.0)
    write_view(src, 'r001', 0, bar_mask(), [across, skew])
    write_view(src, 'r002', 0, bar_mask(), [skew])  # nothing antipodal: the view goes
    before = {p: p.read_bytes() for p in src.rglob('*') if p.is_file()}
    assert training_main(['relabel', '--data', str(src), '--out', str(out), '--cone', '15',
                          '--quiet']) == 0
    assert 'kept 1 of 3 labels' in capsys.readouterr().out
    kept = read_jacquard_grasps(out / 'r001' / '0_r001_grasps.txt')
    assert len(kept) == 1 and kept[0].angle == pytest.approx(across.angle, abs=1e-3)
    assert not (out / 'r002').exists()
    assert (out / 'r001' / '0_r001_RGB.png').is_symlink()
    assert {p: p.read_bytes() for p in src.rglob('*') if p.is_file()} == before  # untouched
    summary = json.loads((out / 'relabel.json').read_text())
    assert summary['views_dropped'] == ['r002/0_r002']
    # The bar is elongated: 2 of its 3 labels were 35 deg from across, none of those kept.
    assert summary['elongated_labels'] == 3
    assert summary['elongated_over_15deg_before'] == pytest.approx(2 / 3, abs=1e-3)
    assert summary['elongated_over_15deg_after'] == 0.0
    assert [s.grasps.name for s in find_samples(out)] == ['0_r001_grasps.txt']


def test_relabel_refuses_its_own_source_and_a_missing_mask(tmp_path, capsys):
    src = tmp_path / 'src'
    write_view(src, 'r001', 0, bar_mask(), [])
    assert training_main(['relabel', '--data', str(src), '--out', str(src), '--quiet']) == 2
    (src / 'r001' / '0_r001_mask.png').unlink()
    assert training_main(['relabel', '--data', str(src), '--out', str(tmp_path / 'o'),
                          '--quiet']) == 2
    assert 'mask' in capsys.readouterr().out


def test_relabel_keeps_the_folder_layout_of_nested_data_sets(tmp_path, capsys):
    # single/ and clutter/ both hold a view named 0_r001: neither may overwrite the other.
    src, out = tmp_path / 'src', tmp_path / 'out'
    across = Grasp(row=100.0, col=100.0, angle=math.pi / 2, width=80.0, jaw_size=10.0)
    write_view(src / 'single', 'r001', 0, bar_mask(), [across])
    write_view(src / 'clutter', 'r001', 0, bar_mask(), [across, across])
    assert training_main(['relabel', '--data', str(src), '--out', str(out), '--quiet']) == 0
    assert 'kept 3 of 3 labels' in capsys.readouterr().out
    assert len(read_jacquard_grasps(out / 'single' / 'r001' / '0_r001_grasps.txt')) == 1
    assert len(read_jacquard_grasps(out / 'clutter' / 'r001' / '0_r001_grasps.txt')) == 2
    assert len(find_samples(out)) == 2


def test_keep_every_object_gives_each_object_its_best_labels(tmp_path, capsys):
    """Two bars in one view: the one whose labels are all 35-50 deg off keeps its 35 deg label
    with --keep-every-object (within --cone of its best), and loses all of them without."""
    mask = np.zeros((SIZE, SIZE), np.uint8)
    cv2.rectangle(mask, (40, 30), (160, 60), 255, -1)     # bar 1: rows 30-60
    cv2.rectangle(mask, (40, 130), (160, 160), 255, -1)   # bar 2: rows 130-160
    across_1 = Grasp(row=45.0, col=100.0, angle=math.pi / 2, width=60.0, jaw_size=10.0)
    skew_35 = Grasp(row=145.0, col=100.0, angle=math.pi / 2 + math.radians(35), width=80.0,
                    jaw_size=10.0)
    skew_55 = Grasp(row=145.0, col=100.0, angle=math.pi / 2 + math.radians(55), width=80.0,
                    jaw_size=10.0)
    off = Grasp(row=100.0, col=100.0, angle=math.pi / 2, width=20.0, jaw_size=10.0)
    src = tmp_path / 'src'
    write_view(src, 'r001', 0, mask, [across_1, skew_35, skew_55, off])
    assert training_main(['relabel', '--data', str(src), '--out', str(tmp_path / 'a'),
                          '--quiet']) == 0
    assert len(read_jacquard_grasps(tmp_path / 'a' / 'r001' / '0_r001_grasps.txt')) == 1
    assert training_main(['relabel', '--data', str(src), '--out', str(tmp_path / 'b'),
                          '--keep-every-object', '--quiet']) == 0
    assert '1 of the kept labels are beyond the cone' in capsys.readouterr().out
    kept = read_jacquard_grasps(tmp_path / 'b' / 'r001' / '0_r001_grasps.txt')
    assert sorted(round(g.row) for g in kept) == [45, 145]
    summary = json.loads((tmp_path / 'b' / 'relabel.json').read_text())
    assert summary['labels_kept_beyond_cone'] == 1
