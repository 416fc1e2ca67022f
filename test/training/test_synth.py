"""The synthetic Jacquard generator: files, labels, determinism, splits and candidate sampling.

The simulation it runs on (render camera, poses, gripper trial) is tested in test/simulation."""

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from mtg_grasp_ros.grasp import Grasp
from simulation.camera import SimCamera
from simulation.gripper import build_grippers
from simulation.objects import list_objects, select_objects
from simulation.poses import grasp_to_pose, pose_to_grasp
from simulation.scene import Scene
from training.formats import load_sample
from training.jacquard import find_jacquard, read_jacquard_grasps
from training.synth import HELDOUT_OBJECT_IDS
from training.synth.__main__ import main as synth_main
from training.synth.preview import draw_preview, label, panel_labels, TILE
from training.synth.sampling import (Candidate, CONTACT_MARGIN, contact_opening,
                                     footprint_is_free, label_opening, OpeningStats,
                                     sample_candidates)
from training.synth.stereo import simulate_stereo_depth
from training.synth.writer import format_grasp, SUFFIXES, write_view

SIZE = 128
ARGS = ['--objects', '2', '--views', '2', '--image-size', str(SIZE), '--trials', '12',
        '--seed', '3', '--quiet']


def _generate(out: Path, workers: int, *extra: str) -> Path:
    assert synth_main(['--out', str(out), '--workers', str(workers), *ARGS, *extra]) == 0
    return out


@pytest.fixture(scope='module')
def dataset(tmp_path_factory) -> Path:
    """One worker's dataset; its ``--preview`` is ``preview.png`` beside it."""
    root = tmp_path_factory.mktemp('synth')
    return _generate(root / 'one_worker', 1, '--preview', str(root / 'preview.png'))


def _views(root: Path):
    return sorted(root.glob('*/*_grasps.txt'))


def test_writes_exactly_the_jacquard_file_set(dataset):
    folders = sorted(p for p in dataset.iterdir() if p.is_dir())
    assert len(folders) == 2
    for folder in folders:
        object_id = folder.name
        expected = {f'{v}_{object_id}{s}' for v in range(2) for s in SUFFIXES}
        assert {p.name for p in folder.iterdir()} == expected
    assert (dataset / 'summary.json').is_file() and (dataset / 'views.json').is_file()


def test_images_have_jacquard_dtypes_and_shapes(dataset):
    for grasps_path in _views(dataset):
        stem = str(grasps_path)[:-len('_grasps.txt')]
        rgb = cv2.imread(stem + '_RGB.png', cv2.IMREAD_UNCHANGED)
        assert rgb.dtype == np.uint8 and rgb.shape == (SIZE, SIZE, 3)
        for kind in ('_perfect_depth.tiff', '_stereo_depth.tiff'):
            depth = cv2.imread(stem + kind, cv2.IMREAD_UNCHANGED)
            assert depth.dtype == np.float32 and depth.shape == (SIZE, SIZE)
            assert np.isfinite(depth).all()
        perfect = cv2.imread(stem + '_perfect_depth.tiff', cv2.IMREAD_UNCHANGED)
        assert 0.1 < perfect.min() and perfect.max() < 3.0  # metres, camera tens of cm away
        mask = cv2.imread(stem + '_mask.png', cv2.IMREAD_UNCHANGED)
        assert mask.dtype == np.uint8 and mask.shape == (SIZE, SIZE)
        assert set(np.unique(mask)) == {0, 255}
        # The object is nearer the camera than the plane around it.
        assert perfect[mask > 0].mean() < perfect[mask == 0].mean()


def test_grasp_lines_parse_and_centres_lie_on_the_mask(dataset):
    total = 0
    for grasps_path in _views(dataset):
        mask = cv2.imread(str(grasps_path).replace('_grasps.txt', '_mask.png'), 0)
        lines = grasps_path.read_text().splitlines()
        assert lines, f'{grasps_path} has no grasps'
        for line in lines:
            fields = [float(v) for v in line.split(';')]
            assert len(fields) == 5 and all(math.isfinite(v) for v in fields)
            x, y, theta, w, h = fields
            assert w > 0 and h > 0 and -90.0 <= theta <= 90.0
            assert mask[int(round(y)), int(round(x))] == 255
            total += 1
    assert total >= 4


def test_same_seed_same_bytes_whatever_the_worker_count(dataset, tmp_path):
    other = _generate(tmp_path / 'two_workers', 2)
    files = sorted(p.relative_to(dataset) for p in dataset.glob('*/*'))
    assert files == sorted(p.relative_to(other) for p in other.glob('*/*'))
    for rel in files:
        assert (dataset / rel).read_bytes() == (other / rel).read_bytes(), rel
    assert (dataset / 'views.json').read_bytes() == (other / 'views.json').read_bytes()


def test_heldout_objects_never_in_the_train_split(dataset):
    catalogue = list_objects()
    assert len(HELDOUT_OBJECT_IDS) == 100
    train = select_objects(catalogue, 'train', None, seed=0)
    heldout = select_objects(catalogue, 'heldout', None, seed=0)
    assert len(train) == 900 and not {s.object_id for s in train} & set(HELDOUT_OBJECT_IDS)
    assert [s.object_id for s in heldout] == list(HELDOUT_OBJECT_IDS)
    for seed in range(5):
        ids = {s.object_id for s in select_objects(catalogue, 'train', 50, seed)}
        assert len(ids) == 50 and not ids & set(HELDOUT_OBJECT_IDS)
    # A bigger draw with the same seed grows the data set instead of redrawing it.
    assert ({s.object_id for s in select_objects(catalogue, 'train', 10, 7)}
            <= {s.object_id for s in select_objects(catalogue, 'train', 20, 7)})
    assert not {p.name for p in dataset.iterdir() if p.is_dir()} & set(HELDOUT_OBJECT_IDS)


def test_training_jacquard_reader_reads_the_output_unchanged(dataset):
    samples = find_jacquard(dataset)
    assert len(samples) == 4
    for files in samples:
        grasps = read_jacquard_grasps(files.grasps)
        lines = files.grasps.read_text().splitlines()
        assert grasps and [format_grasp(g) for g in grasps] == lines
        sample = load_sample(files)
        assert sample.rgb.shape == (SIZE, SIZE, 3)
        assert files.object_id == files.grasps.parent.name


def test_grasp_line_format_round_trips():
    grasp = Grasp(row=10.5, col=20.25, angle=math.radians(30), width=40.0, jaw_size=12.0)
    line = format_grasp(grasp)
    assert line == '20.25;10.50;-30.00;40.00;12.00'
    back = Grasp.from_jacquard(*(float(v) for v in line.split(';')))
    assert back.angle == pytest.approx(grasp.angle)


# Fast rejection of candidates in the depth image ------------------------------------------------

BOX = (0.02, 0.04, 0.025)  # half sizes: 4 cm x 8 cm x 5 cm
YAW = 0.3


@pytest.fixture
def box_scene():
    with Scene() as scene:
        box = scene.add_box(BOX, yaw=YAW)
        scene.settle([box])
        cam = SimCamera.look_at([0.0, 0.0, 0.45], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0], 256, 35.0,
                                0.05, 2.0)
        render = scene.render(cam)
        mask = np.where(render.mask(box), 255, 0).astype(np.uint8)
        yield scene, box, cam, render.depth, mask


def _top_grasp(cam: SimCamera, axis_world) -> Grasp:
    """The image grasp on the top centre of the box whose closing axis is ``axis_world``."""
    centre = np.array([0.0, 0.0, 2 * BOX[2]])
    cols, rows, _ = cam.project(np.array([centre - 0.01 * axis_world, centre + 0.01 * axis_world]))
    col, row, _ = cam.project(centre)
    return Grasp(row=float(row), col=float(col), angle=math.atan2(-(rows[1] - rows[0]),
                                                                  cols[1] - cols[0]),
                 width=1.0, jaw_size=1.0)


@pytest.mark.parametrize('axis, free', [((math.cos(YAW), math.sin(YAW), 0.0), True),
                                        ((-math.sin(YAW), math.cos(YAW), 0.0), False)])
def test_fingers_that_would_land_on_the_object_are_rejected(box_scene, axis, free):
    """Opening 6 cm across the 4 cm side leaves both fingers free; across the 8 cm side both
    would come down on the box."""
    scene, box, cam, depth, mask = box_scene
    grasp = _top_grasp(cam, np.array(axis))
    row, col = int(round(grasp.row)), int(round(grasp.col))
    assert mask[row, col] == 255
    tip_depth = float(depth[row, col]) + 0.025
    position, rotation = grasp_to_pose(cam, grasp, tip_depth)
    assert footprint_is_free(depth, cam, position, rotation, 0.06, 0.02, tip_depth) == free


def test_sampled_candidates_pass_the_exact_collision_check(box_scene):
    scene, box, cam, depth, mask = box_scene
    gripper = build_grippers(scene, (0.02,))[0.02]
    rng = np.random.default_rng(0)
    candidates = list(sample_candidates(rng, cam, depth, mask, 20, jaw_sizes=(0.02,)))
    assert len(candidates) == 20
    clear = 0
    for cand in candidates:
        assert mask[int(round(cand.grasp.row)), int(round(cand.grasp.col))] == 255
        gripper.place(cand.position, cand.rotation, cand.opening)
        clear += not gripper.collides((box, scene.table))
        gripper.park()
    assert clear >= 18


# Label openings -------------------------------------------------------------------------------

def _short_side_candidate(cam: SimCamera, depth: np.ndarray, opening: float) -> Candidate:
    """A candidate on the top centre of the box, closing across its 4 cm side."""
    grasp = _top_grasp(cam, np.array([math.cos(YAW), math.sin(YAW), 0.0]))
    tip_depth = float(depth[int(round(grasp.row)), int(round(grasp.col))]) + 0.025
    position, rotation = grasp_to_pose(cam, grasp, tip_depth)
    return Candidate(grasp=grasp, opening=opening, jaw_size=0.02, tip_depth=tip_depth,
                     position=position, rotation=rotation)


@pytest.mark.parametrize('pregrasp', [0.05, 0.09])
def test_contact_labels_open_the_contact_width_plus_the_margin(box_scene, tmp_path, pregrasp):
    """Started 5 or 9 cm open, the label is 1.5 x the 4 cm the fingers closed to, validated by
    a second trial, and that is the width written to the grasp file; pregrasp keeps the start."""
    scene, box, cam, depth, mask = box_scene
    gripper = build_grippers(scene, (0.02,))[0.02]
    state = scene.p.saveState(physicsClientId=scene.client)
    cand = _short_side_candidate(cam, depth, pregrasp)
    result = gripper.trial(box, cand.position, cand.rotation, cand.opening, state)
    assert result.success and result.contact_width == pytest.approx(2 * BOX[0], abs=0.002)
    stats = OpeningStats()
    opening = label_opening('contact', cand, result, gripper, box, state, cam, depth, stats)
    assert opening == pytest.approx(result.contact_width * (1 + CONTACT_MARGIN))
    assert opening == contact_opening(result.contact_width)
    assert (stats.retrials, stats.validated, stats.blocked) == (1, 1, 0)
    assert label_opening('pregrasp', cand, result, gripper, box, state, cam, depth) == pregrasp

    row, col = int(round(cand.grasp.row)), int(round(cand.grasp.col))
    label = pose_to_grasp(cam, cand.position, cand.rotation, opening, 0.02,
                          float(depth[row, col]))
    write_view(tmp_path, 'box', 0, np.zeros((256, 256, 3), np.uint8), depth, depth, mask,
               [label])
    written = read_jacquard_grasps(tmp_path / 'box' / '0_box_grasps.txt')[0]
    expected = cam.metres_to_pixels(result.contact_width * (1 + CONTACT_MARGIN),
                                    float(depth[row, col]))
    assert written.width == pytest.approx(expected, abs=0.006)


def test_contact_opening_is_capped_and_unknown_conventions_refused(box_scene):
    assert contact_opening(0.09) == pytest.approx(0.10)
    scene, box, cam, depth, mask = box_scene
    gripper = build_grippers(scene, (0.02,))[0.02]
    cand = _short_side_candidate(cam, depth, 0.06)
    result = gripper.trial(box, cand.position, cand.rotation, cand.opening)
    with pytest.raises(ValueError):
        label_opening('chord', cand, result, gripper, box, -1, cam, depth)


def test_contact_labels_are_validated_and_same_scenes_as_pregrasp(dataset, tmp_path):
    """The default (contact) run and a pregrasp run of the same seed render the same views; every
    contact label passed its second trial."""
    views = json.loads((dataset / 'views.json').read_text())
    assert all(v['validation']['validated'] >= v['grasps'] for v in views)
    assert json.loads((dataset / 'summary.json').read_text())['config']['opening'] == 'contact'
    old = tmp_path / 'pregrasp'
    assert synth_main(['--out', str(old), '--workers', '1', '--opening', 'pregrasp',
                       *ARGS]) == 0
    old_views = json.loads((old / 'views.json').read_text())
    assert all(v['validation'] == {'retrials': 0, 'blocked': 0, 'validated': 0}
               for v in old_views)
    assert ([(v['object_id'], v['view'], v['camera']) for v in views]
            == [(v['object_id'], v['view'], v['camera']) for v in old_views])
    for rgb in dataset.glob('*/*_RGB.png'):
        assert rgb.read_bytes() == (old / rgb.relative_to(dataset)).read_bytes()


# Stereo -----------------------------------------------------------------------------------------

def test_stereo_depth_has_occlusion_holes_left_of_objects_and_small_noise():
    depth = np.full((256, 256), 0.5, np.float32)
    depth[96:160, 96:160] = 0.4
    stereo = simulate_stereo_depth(depth, focal=400.0, rng=np.random.default_rng(0))
    assert stereo.dtype == np.float32 and stereo.shape == depth.shape
    # The right camera cannot see the background just left of the raised square: a band as
    # wide as the disparity step, 400 * 0.055 * (1 / 0.4 - 1 / 0.5) = 11 px.
    assert (stereo[110:150, 87:94] == 0).mean() > 0.8
    assert (stereo[110:150, 162:169] == 0).mean() < 0.2
    valid = stereo > 0
    assert valid.mean() > 0.9
    assert np.median(np.abs(stereo[valid] - depth[valid])) < 0.005


def test_cli_help_describes_gripper_and_outputs(capsys):
    with pytest.raises(SystemExit):
        synth_main(['--help'])
    text = capsys.readouterr().out
    for word in ('--object-dir', '--split', 'gripper:', 'success:', 'summary.json', 'r990',
                 '--opening', 'pregrasp', 'openings:'):
        assert word in text
    # The help states the contact margin the sampler uses.
    assert f'{1 + CONTACT_MARGIN:g} x the contact width' in text


def _labelled(panel: np.ndarray, text: str, **kwargs) -> bool:
    """Whether ``panel`` (BGR) already carries ``label(text)``: labelling it again changes
    nothing (the box hides whatever was under it)."""
    return np.array_equal(panel, label(panel.copy(), text, **kwargs))


def test_preview_panels_are_labelled(tmp_path):
    """Two views of a grey image and a depth ramp (a hole in the middle): one row of two tiles,
    each with its caption and both panels labelled (RGB + grasps, the stereo depth's range)."""
    rgb = np.full((256, 256, 3), 128, np.uint8)
    depth = np.tile(np.linspace(0.5, 0.7, 256, dtype=np.float32), (256, 1))
    depth[100:150, 100:150] = 0.0
    grasp = Grasp(row=128.0, col=128.0, angle=0.3, width=60.0, jaw_size=20.0)
    for view in (0, 1):
        write_view(tmp_path / 'data', 'r001', view, rgb, depth, depth, depth > 0, [grasp])
    out = draw_preview(tmp_path / 'data', tmp_path / 'sheet' / 'preview.png', n=2)
    sheet = cv2.imread(str(out))
    assert sheet.shape == (TILE, 4 * TILE, 3)
    rgb_text, depth_text = panel_labels(depth)
    assert rgb_text.startswith('RGB + grasps') and depth_text.startswith('stereo depth 0.50-0.70')
    for i, stem in enumerate(('0_r001', '1_r001')):
        tile = sheet[:, 2 * i * TILE:2 * (i + 1) * TILE]
        assert _labelled(tile[:, :TILE], rgb_text) and _labelled(tile[:, TILE:], depth_text)
        assert _labelled(tile, f'{stem}: 1 of 1 grasps', bottom=False, scale=0.5)
        assert not _labelled(tile[:, TILE:], rgb_text)   # each panel its own label
    # The label box is black, its text white, the grey image around it untouched.
    box = sheet[TILE - 10:TILE - 1, :TILE]
    assert (box == 0).all(axis=2).any() and (box == 255).all(axis=2).any()
    assert (sheet[TILE // 2, 10] == 128).all()


def test_cli_preview_is_written_and_labelled(dataset):
    sheet = cv2.imread(str(dataset.parent / 'preview.png'))
    assert sheet is not None and sheet.shape[0] % TILE == 0 and sheet.shape[1] == 4 * TILE
    first = sorted(dataset.glob('*/*_grasps.txt'))[0]
    stem = first.name[:-len('_grasps.txt')]
    stereo = cv2.imread(str(first.with_name(stem + '_stereo_depth.tiff')), cv2.IMREAD_UNCHANGED)
    rgb_text, depth_text = panel_labels(stereo)
    assert _labelled(sheet[:TILE, :TILE], rgb_text)
    assert _labelled(sheet[:TILE, TILE:2 * TILE], depth_text)
