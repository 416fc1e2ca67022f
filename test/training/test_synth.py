"""The synthetic Jacquard generator: files, labels, determinism, splits and the physics trial."""

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from mtg_grasp_ros.grasp import Grasp
from training.synth import HELDOUT_OBJECT_IDS
from training.synth.__main__ import main as synth_main
from training.synth.camera import Camera
from training.synth.gripper import build_grippers
from training.synth.objects import list_objects, select_objects
from training.synth.poses import grasp_to_pose, pose_to_grasp
from training.synth.sampling import footprint_is_free, sample_candidates
from training.synth.scene import Scene
from training.synth.stereo import simulate_stereo_depth
from training.synth.writer import format_grasp, read_grasps, SUFFIXES

SIZE = 128
ARGS = ['--objects', '2', '--views', '2', '--image-size', str(SIZE), '--trials', '12',
        '--seed', '3', '--quiet']


def _generate(out: Path, workers: int) -> Path:
    assert synth_main(['--out', str(out), '--workers', str(workers), *ARGS]) == 0
    return out


@pytest.fixture(scope='module')
def dataset(tmp_path_factory) -> Path:
    return _generate(tmp_path_factory.mktemp('synth') / 'one_worker', 1)


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
    jacquard = pytest.importorskip('training.jacquard')
    from training.samples import load_sample

    samples = jacquard.find_jacquard(dataset)
    assert len(samples) == 4
    for files in samples:
        ours = read_grasps(files.grasps)
        theirs = jacquard.read_jacquard_grasps(files.grasps)
        assert theirs == ours and theirs
        sample = load_sample(files)
        assert sample.rgb.shape == (SIZE, SIZE, 3)
        assert files.object_id == files.grasps.parent.name


def test_grasp_line_format_round_trips():
    grasp = Grasp(row=10.5, col=20.25, angle=math.radians(30), width=40.0, jaw_size=12.0)
    line = format_grasp(grasp)
    assert line == '20.25;10.50;-30.00;40.00;12.00'
    back = Grasp.from_jacquard(*(float(v) for v in line.split(';')))
    assert back.angle == pytest.approx(grasp.angle)


# Camera geometry --------------------------------------------------------------------------------

def test_camera_matrices_match_pybullet_and_its_pixels():
    import pybullet as p
    eye, target, up = [0.05, 0.02, 0.5], [0.01, -0.01, 0.0], [0, 1, 0]
    cam = Camera.look_at(eye, target, up, 101, 35.0, 0.05, 2.0)
    assert np.allclose(p.computeViewMatrix(eye, target, up), cam.view_matrix(), atol=1e-6)
    assert np.allclose(p.computeProjectionMatrixFOV(35.0, 1.0, 0.05, 2.0),
                       cam.projection_matrix(), atol=1e-6)
    # A sphere's silhouette is centred where the camera model projects its centre: this pins
    # TinyRenderer's principal point (a half-pixel error would shift every label).
    with Scene() as scene:
        for point in ([0.0, 0.0, 0.0], [0.04, 0.03, 0.02], [-0.05, 0.01, 0.0]):
            sphere = p.createVisualShape(p.GEOM_SPHERE, radius=0.02,
                                         physicsClientId=scene.client)
            body = p.createMultiBody(0, -1, sphere, basePosition=point,
                                     physicsClientId=scene.client)
            scene.object = body
            _, depth, mask = scene.render(cam)
            rows, cols = np.nonzero(mask)
            row, col, z = cam.project(np.array(point))
            assert abs(rows.mean() - row) < 0.3 and abs(cols.mean() - col) < 0.3
            # Depth is camera z: the front of the sphere is ~its radius nearer than its centre.
            assert depth[int(round(row)), int(round(col))] == pytest.approx(z - 0.02, abs=2e-3)
            p.removeBody(body, physicsClientId=scene.client)


def test_grasp_pose_round_trip():
    cam = Camera.look_at([0.02, -0.03, 0.45], [0.0, 0.0, 0.0], [0.3, 1.0, 0.0], 256, 35.0,
                         0.05, 2.0)
    grasp = Grasp(row=100.3, col=140.7, angle=0.7, width=1.0, jaw_size=1.0)
    position, rotation = grasp_to_pose(cam, grasp, 0.43)
    assert np.allclose(rotation.T @ rotation, np.eye(3)) and np.linalg.det(rotation) > 0
    assert np.dot(rotation[:, 2], cam.forward) == pytest.approx(-1.0)  # approach = optical axis
    back = pose_to_grasp(cam, position, rotation, 0.05, 0.02, reference_depth=0.43)
    assert (back.row, back.col, back.angle) == pytest.approx((grasp.row, grasp.col, grasp.angle))
    assert back.width == pytest.approx(0.05 * cam.focal / 0.43)
    assert back.jaw_size == pytest.approx(0.02 * cam.focal / 0.43)


# The physics trial ------------------------------------------------------------------------------

BOX = (0.02, 0.04, 0.025)  # half sizes: 4 cm x 8 cm x 5 cm
YAW = 0.3


@pytest.fixture
def box_scene():
    with Scene() as scene:
        box = scene.add_box(BOX, yaw=YAW)
        scene.settle()
        cam = Camera.look_at([0.0, 0.0, 0.45], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0], 256, 35.0,
                             0.05, 2.0)
        rgb, depth, mask = scene.render(cam)
        grippers = build_grippers(scene, (0.02,))
        state = scene.p.saveState(physicsClientId=scene.client)
        yield scene, box, cam, depth, mask, grippers[0.02], state


def _image_grasp(cam: Camera, centre_world, axis_world) -> Grasp:
    """The image grasp centred on ``centre_world`` whose closing axis is ``axis_world``."""
    ends = np.array([centre_world - 0.01 * axis_world, centre_world + 0.01 * axis_world])
    rows, cols, _ = cam.project(ends)
    row, col, _ = cam.project(np.asarray(centre_world))
    return Grasp(row=float(row), col=float(col), angle=math.atan2(-(rows[1] - rows[0]),
                                                                  cols[1] - cols[0]),
                 width=1.0, jaw_size=1.0)


def test_trial_succeeds_across_the_short_side_and_fails_off_the_object(box_scene):
    scene, box, cam, depth, mask, gripper, state = box_scene
    short_axis = np.array([math.cos(YAW), math.sin(YAW), 0.0])
    top = np.array([0.0, 0.0, 2 * BOX[2]])
    grasp = _image_grasp(cam, top, short_axis)
    assert mask[int(round(grasp.row)), int(round(grasp.col))] == 255
    tip_depth = float(depth[int(round(grasp.row)), int(round(grasp.col))]) + 0.025
    position, rotation = grasp_to_pose(cam, grasp, tip_depth)
    assert footprint_is_free(depth, cam, position, rotation, 0.06, 0.02, tip_depth)
    result = gripper.trial(box, position, rotation, 0.06, state)
    assert result.success, result

    # The same grasp 12 cm to the side of the box closes on air.
    off = _image_grasp(cam, np.array([0.0, 0.12, 0.02]), short_axis)
    plane_depth = float(cam.plane_depth(off.row, off.col))
    position, rotation = grasp_to_pose(cam, off, plane_depth - 0.01)
    result = gripper.trial(box, position, rotation, 0.06, state)
    assert not result.success and result.reason == 'empty'
    # The box is back where it was for the next trial.
    pos, _ = scene.p.getBasePositionAndOrientation(box, physicsClientId=scene.client)
    assert pos[2] == pytest.approx(BOX[2], abs=2e-3)


def test_fingers_that_would_land_on_the_object_are_rejected(box_scene):
    scene, box, cam, depth, mask, gripper, state = box_scene
    long_axis = np.array([-math.sin(YAW), math.cos(YAW), 0.0])
    grasp = _image_grasp(cam, np.array([0.0, 0.0, 2 * BOX[2]]), long_axis)
    tip_depth = float(depth[int(round(grasp.row)), int(round(grasp.col))]) + 0.025
    position, rotation = grasp_to_pose(cam, grasp, tip_depth)
    # Opening 6 cm across the 8 cm side: both fingers would come down on the box.
    assert not footprint_is_free(depth, cam, position, rotation, 0.06, 0.02, tip_depth)
    assert gripper.trial(box, position, rotation, 0.06, state).reason == 'collision'


def test_sampled_candidates_pass_the_exact_collision_check(box_scene):
    scene, box, cam, depth, mask, gripper, state = box_scene
    rng = np.random.default_rng(0)
    candidates = list(sample_candidates(rng, cam, depth, mask, 20, jaw_sizes=(0.02,)))
    assert len(candidates) == 20
    clear = 0
    for cand in candidates:
        assert mask[int(round(cand.grasp.row)), int(round(cand.grasp.col))] == 255
        gripper.place(cand.position, cand.rotation, cand.opening)
        clear += not gripper.collides((box, scene.plane))
        gripper.park()
    assert clear >= 18


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
    for word in ('--object-dir', '--split', 'gripper:', 'success:', 'summary.json', 'r990'):
        assert word in text
