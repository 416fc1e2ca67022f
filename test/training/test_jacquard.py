"""Jacquard discovery and parsing, sample decoding, auxiliary targets and the tiny generator."""

import argparse
import logging
import math
from pathlib import Path
import shutil

import cv2
import numpy as np
import pytest

from mtg_grasp_ros.grasp import Grasp
from training import tinydata
from training.formats import find_samples, load_sample
from training.jacquard import find_jacquard, read_jacquard_grasps
from training.samples import DatasetError, depth_target, saliency_target
from training.tinydata import make_tiny_jacquard

N_OBJECTS, VIEWS, SIZE = 4, 2, 96


@pytest.fixture(scope='module')
def tiny_root(tmp_path_factory) -> Path:
    return make_tiny_jacquard(tmp_path_factory.mktemp('jacquard'), n_objects=N_OBJECTS,
                              views=VIEWS, size=SIZE, seed=1)


@pytest.fixture
def tiny_copy(tiny_root, tmp_path) -> Path:
    """A private copy the test may break."""
    return Path(shutil.copytree(tiny_root, tmp_path / 'copy'))


def test_find_jacquard_lists_every_view_sorted(tiny_root):
    samples = find_jacquard(tiny_root)
    assert len(samples) == N_OBJECTS * VIEWS
    assert [s.grasps for s in samples] == sorted(s.grasps for s in samples)
    objects = sorted({s.object_id for s in samples})
    assert objects == sorted(p.name for p in tiny_root.iterdir())
    for s in samples:
        view, obj = s.name.split('_', 1)
        assert obj == s.object_id == s.rgb.parent.name
        assert s.rgb.name == f'{view}_{obj}_RGB.png'
        assert s.depth.name == f'{view}_{obj}_perfect_depth.tiff'
        assert s.mask.name == f'{view}_{obj}_mask.png'
        assert s.fmt == 'jacquard'
    assert find_samples(tiny_root) == samples  # auto detection picks Jacquard


def test_find_jacquard_nested_part_folders(tiny_copy):
    parts = [tiny_copy / 'Jacquard_Dataset_0', tiny_copy / 'Jacquard_Dataset_1']
    objects = sorted(p for p in tiny_copy.iterdir())
    for i, folder in enumerate(objects):
        parts[i % 2].mkdir(exist_ok=True)
        folder.rename(parts[i % 2] / folder.name)
    samples = find_jacquard(tiny_copy)
    assert len(samples) == N_OBJECTS * VIEWS
    assert sorted({s.object_id for s in samples}) == sorted(p.name for p in objects)


def test_symlinked_object_folders_are_found(tiny_root, tmp_path):
    # Datasets are often assembled from links to object folders (e.g. a subset for a quick run).
    linked = tmp_path / 'subset'
    linked.mkdir()
    objects = sorted(p for p in tiny_root.iterdir() if p.is_dir())[:2]
    for folder in objects:
        (linked / folder.name).symlink_to(folder, target_is_directory=True)
    found = find_samples(linked)
    assert sorted({f.object_id for f in found}) == sorted(p.name for p in objects)
    assert len(found) == len(find_jacquard(tiny_root)) * 2 // len(
        {f.object_id for f in find_jacquard(tiny_root)})


def test_optional_companions_become_none(tiny_copy):
    first = find_jacquard(tiny_copy)[0]
    first.depth.unlink()
    first.mask.unlink()
    again = find_jacquard(tiny_copy)[0]
    assert again.name == first.name and again.depth is None and again.mask is None
    sample = load_sample(again)
    assert sample.depth is None and sample.mask is None and sample.rgb.shape == (SIZE, SIZE, 3)


def test_missing_root_and_empty_root(tmp_path):
    with pytest.raises(DatasetError, match='does not exist') as info:
        find_jacquard(tmp_path / 'nowhere')
    assert 'nowhere' in str(info.value)
    with pytest.raises(DatasetError, match=r'no Jacquard samples.*_grasps\.txt'):
        find_jacquard(tmp_path)
    with pytest.raises(DatasetError, match='no Jacquard samples'):
        find_samples(tmp_path)  # auto on an empty folder explains the Jacquard layout
    with pytest.raises(DatasetError, match='unknown dataset format'):
        find_samples(tmp_path, fmt='coco')


def test_missing_rgb_companion_is_named(tiny_copy, caplog):
    victim = find_jacquard(tiny_copy)[3]
    victim.rgb.unlink()
    with pytest.raises(DatasetError) as info:
        find_jacquard(tiny_copy)
    assert str(victim.rgb) in str(info.value)
    assert info.value.path == victim.rgb
    with caplog.at_level(logging.WARNING):
        kept = find_jacquard(tiny_copy, skip_missing=True)
    assert len(kept) == N_OBJECTS * VIEWS - 1 and victim not in kept
    assert 'skipped 1 Jacquard views' in caplog.text


def test_read_jacquard_grasps_values_and_blank_lines(tmp_path):
    path = tmp_path / '0_obj_grasps.txt'
    path.write_text('100.5;200.25;30;40;10\n\n   \n12;34;-90;5.5;2\n')
    grasps = read_jacquard_grasps(path)
    assert len(grasps) == 2
    g = grasps[0]
    assert (g.col, g.row, g.width, g.jaw_size) == (100.5, 200.25, 40.0, 10.0)
    # Jacquard's theta is in image axes (rows down): +30 there is -30 degrees on screen.
    assert g.angle == pytest.approx(math.radians(-30.0))
    # theta -90 is +90 on screen, which wraps to -90 (the same parallel grasp).
    assert grasps[1].angle == pytest.approx(-math.pi / 2)


@pytest.mark.parametrize('line, what', [
    ('1;2;3;4', 'expected 5 fields'),
    ('1;2;3;4;5;6', 'expected 5 fields'),
    ('1,2,3,4,5', 'expected 5 fields'),
    ('1;2;abc;4;5', 'not a number'),
    ('1;2;3;nan;5', 'non-finite'),
    ('1;inf;3;4;5', 'non-finite'),
    ('1;2;3;0;5', 'must be positive'),
    ('1;2;3;4;-2', 'must be positive'),
])
def test_malformed_grasp_line_names_file_and_line(tmp_path, line, what):
    path = tmp_path / '0_obj_grasps.txt'
    path.write_text(f'1;2;3;4;5\n\n{line}\n1;2;3;4;5\n')
    with pytest.raises(DatasetError, match=what) as info:
        read_jacquard_grasps(path)
    assert f'{path}, line 3' in str(info.value)


def test_unreadable_grasp_file(tmp_path):
    with pytest.raises(DatasetError, match='does not exist'):
        read_jacquard_grasps(tmp_path / 'missing_grasps.txt')
    binary = tmp_path / 'bin_grasps.txt'
    binary.write_bytes(b'\xff\xfe\x00garbage')
    with pytest.raises(DatasetError, match='cannot read grasp file'):
        read_jacquard_grasps(binary)


def test_load_sample_types_and_channel_order(tiny_copy):
    files = find_jacquard(tiny_copy)[0]
    # A known RGB pixel: write pure red in RGB order (OpenCV writes BGR).
    rgb = np.zeros((SIZE, SIZE, 3), np.uint8)
    rgb[..., 0] = 255
    cv2.imwrite(str(files.rgb), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    sample = load_sample(files)
    assert sample.rgb.dtype == np.uint8 and tuple(sample.rgb[5, 5]) == (255, 0, 0)
    assert sample.depth.dtype == np.float32 and sample.depth.shape == (SIZE, SIZE)
    assert sample.depth.max() == pytest.approx(1.0) and sample.depth.min() < 0.99
    assert sample.mask.dtype == np.bool_ and 0 < sample.mask.sum() < SIZE * SIZE
    # The object is closer than the background exactly where the mask says.
    assert np.all(sample.depth[sample.mask] < 1.0) and np.all(sample.depth[~sample.mask] == 1.0)
    assert sample.grasps == read_jacquard_grasps(files.grasps)


def test_truncated_png_is_named(tiny_copy):
    files = find_jacquard(tiny_copy)[1]
    data = files.rgb.read_bytes()
    files.rgb.write_bytes(data[:len(data) // 2])
    with pytest.raises(DatasetError, match='cannot decode RGB image') as info:
        load_sample(files)
    assert str(files.rgb) in str(info.value) and info.value.path == files.rgb


def test_bad_depth_files_are_named(tiny_copy):
    files = find_jacquard(tiny_copy)[2]
    files.depth.write_bytes(files.depth.read_bytes()[:40])
    with pytest.raises(DatasetError, match='cannot decode depth image') as info:
        load_sample(files)
    assert str(files.depth) in str(info.value)
    cv2.imwrite(str(files.depth), np.full((SIZE, SIZE), 1000, np.uint16))
    with pytest.raises(DatasetError, match='expected float depth in metres'):
        load_sample(files)
    assert load_sample(files, depth=False).depth is None  # not read when not needed
    cv2.imwrite(str(files.depth), np.ones((SIZE // 2, SIZE), np.float32))
    with pytest.raises(DatasetError, match=f'is {SIZE}x{SIZE // 2} px but the RGB'):
        load_sample(files)


def test_depth_target_min_max_per_image():
    depth = np.array([[1.0, 0.9], [0.8, np.nan]], np.float32)
    target = depth_target(depth)
    assert target.dtype == np.float32
    np.testing.assert_allclose(target, [[1.0, 0.5], [0.0, 1.0]], atol=1e-6)
    assert np.all(depth_target(np.full((3, 3), 0.7, np.float32)) == 0.0)
    assert np.all(depth_target(np.zeros((2, 2), np.float32)) == 0.0)
    mask = np.array([[True, False], [False, True]])
    np.testing.assert_array_equal(saliency_target(mask), [[1.0, 0.0], [0.0, 1.0]])


def test_tiny_jacquard_grasps_are_consistent(tiny_root):
    for files in find_jacquard(tiny_root):
        sample = load_sample(files)
        assert len(sample.grasps) >= 9
        for g in sample.grasps:
            row, col = int(round(g.row)), int(round(g.col))
            assert sample.mask[row, col], 'every grasp centre lies on the object'
            # The closing axis crosses the object: both jaw positions are off the object.
            axis = g.closing_axis * g.width / 2.0
            for sign in (-1, 1):
                r, c = np.round(np.array([g.row, g.col]) + sign * axis).astype(int)
                if 0 <= r < SIZE and 0 <= c < SIZE:
                    assert not sample.mask[r, c]


def test_tiny_jacquard_is_deterministic(tmp_path):
    a = make_tiny_jacquard(tmp_path / 'a', n_objects=2, views=2, size=48, seed=5)
    b = make_tiny_jacquard(tmp_path / 'b', n_objects=2, views=2, size=48, seed=5)
    c = make_tiny_jacquard(tmp_path / 'c', n_objects=2, views=2, size=48, seed=6)

    def contents(root):
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob('*'))
                if p.is_file()}

    assert contents(a) == contents(b)
    assert len(contents(a)) == 2 * 2 * 5
    assert contents(a) != contents(c)


def test_tiny_data_command(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    tinydata.register(parser.add_subparsers(dest='command'))
    args = parser.parse_args(['tiny-data', '--out', str(tmp_path / 'd'), '--objects', '2',
                              '--views', '1', '--size', '40', '--seed', '3'])
    assert args.func(args) == 0
    assert 'wrote 2 objects' in capsys.readouterr().out
    samples = find_jacquard(tmp_path / 'd')
    assert len(samples) == 2 and load_sample(samples[0]).rgb.shape == (40, 40, 3)
    with pytest.raises(SystemExit):
        parser.parse_args(['tiny-data', '--out', 'x', '--objects', '0'])


def test_grasp_round_trip_through_jacquard_text(tmp_path):
    grasp = Grasp(row=10.25, col=20.5, angle=0.3, width=12.0, jaw_size=4.0)
    path = tmp_path / '0_o_grasps.txt'
    path.write_text('{};{};{};{};{}\n'.format(*grasp.to_jacquard()))
    (back,) = read_jacquard_grasps(path)
    assert back.angle == pytest.approx(0.3) and (back.row, back.col) == (10.25, 20.5)
