"""Cornell discovery and parsing (NaN rectangles, malformed files) and its use in the dataset."""

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from training.cornell import find_cornell, read_cornell_grasps
from training.dataset import GraspDataset
from training.formats import find_samples, load_sample
from training.samples import DatasetError

# Horizontal rectangle: first edge along x (the closing axis), 30 long; jaw 10.
HORIZONTAL = '10 20\n40 20\n40 30\n10 30\n'
# Vertical: first edge runs down the image (rows grow), 30 long; jaw 10.
VERTICAL = '50.0 10.0\n50.0 40.0\n60.0 40.0\n60.0 10.0\n'
NAN_RECT = '1 2\nNaN NaN\n3 4\n5 6\n'


def write_cornell(root: Path, number: str, cpos: str, depth: bool = False) -> None:
    folder = root / number[:2]
    folder.mkdir(parents=True, exist_ok=True)
    rgb = np.full((480, 640, 3), 200, np.uint8)
    cv2.imwrite(str(folder / f'pcd{number}r.png'), rgb)
    (folder / f'pcd{number}cpos.txt').write_text(cpos)
    (folder / f'pcd{number}cneg.txt').write_text(HORIZONTAL)  # negatives are ignored
    if depth:
        cv2.imwrite(str(folder / f'pcd{number}d.tiff'), np.full((480, 640), 0.6, np.float32))


def test_read_cornell_rectangles(tmp_path):
    path = tmp_path / 'pcd0100cpos.txt'
    path.write_text(HORIZONTAL + NAN_RECT + VERTICAL)
    horizontal, vertical = read_cornell_grasps(path)  # the NaN rectangle is dropped whole
    assert (horizontal.row, horizontal.col) == (25.0, 25.0)
    assert horizontal.angle == 0.0
    assert (horizontal.width, horizontal.jaw_size) == (30.0, 10.0)
    assert (vertical.row, vertical.col) == (25.0, 55.0)
    assert abs(vertical.angle) == pytest.approx(math.pi / 2)
    assert (vertical.width, vertical.jaw_size) == (30.0, 10.0)


def test_rotated_cornell_rectangle_angle(tmp_path):
    # Closing axis pointing up-right on screen (x grows, y shrinks): +45 degrees.
    path = tmp_path / 'pcd0101cpos.txt'
    path.write_text('0 10\n10 0\n14 4\n4 14\n')
    (grasp,) = read_cornell_grasps(path)
    assert grasp.angle == pytest.approx(math.pi / 4)
    assert grasp.width == pytest.approx(math.hypot(10, 10))
    assert grasp.jaw_size == pytest.approx(math.hypot(4, 4))


def test_degenerate_rectangle_dropped(tmp_path):
    path = tmp_path / 'pcd0102cpos.txt'
    path.write_text('5 5\n5 5\n6 6\n7 7\n' + HORIZONTAL)
    assert len(read_cornell_grasps(path)) == 1


@pytest.mark.parametrize('text, what, line', [
    (HORIZONTAL + '1 2 3\n', 'expected 2 numbers', 5),
    (HORIZONTAL + 'x 2\n', 'not a number', 5),
    ('1 inf\n' + HORIZONTAL.split('\n', 1)[1], 'infinite', 1),
])
def test_malformed_cornell_line(tmp_path, text, what, line):
    path = tmp_path / 'pcd0103cpos.txt'
    path.write_text(text)
    with pytest.raises(DatasetError, match=what) as info:
        read_cornell_grasps(path)
    assert f'{path}, line {line}' in str(info.value)


def test_incomplete_rectangle(tmp_path):
    path = tmp_path / 'pcd0104cpos.txt'
    path.write_text(HORIZONTAL + '1 2\n3 4\n')
    with pytest.raises(DatasetError, match='6 corner lines is not a multiple of 4') as info:
        read_cornell_grasps(path)
    assert str(path) in str(info.value) and 'line 5' in str(info.value)


def test_find_cornell(tmp_path):
    write_cornell(tmp_path, '0100', HORIZONTAL, depth=True)
    write_cornell(tmp_path, '0101', VERTICAL)
    write_cornell(tmp_path, '0200', HORIZONTAL + VERTICAL)
    samples = find_cornell(tmp_path)
    assert [s.name for s in samples] == ['pcd0100', 'pcd0101', 'pcd0200']
    assert [s.object_id for s in samples] == ['0100', '0101', '0200']  # image-wise by default
    assert samples[0].depth.name == 'pcd0100d.tiff' and samples[1].depth is None
    assert all(s.mask is None and s.fmt == 'cornell' for s in samples)
    assert find_samples(tmp_path) == samples  # auto detection picks Cornell
    mapped = find_cornell(tmp_path, object_ids={'0100': 'mug', '0101': 'mug'})
    assert [s.object_id for s in mapped] == ['mug', 'mug', '0200']
    sample = load_sample(samples[0])
    assert sample.rgb.shape == (480, 640, 3) and sample.depth.shape == (480, 640)
    assert len(sample.grasps) == 1


def test_find_cornell_errors(tmp_path):
    with pytest.raises(DatasetError, match='does not exist'):
        find_cornell(tmp_path / 'missing')
    with pytest.raises(DatasetError, match=r'no Cornell samples.*pcd0100cpos\.txt'):
        find_cornell(tmp_path)
    write_cornell(tmp_path, '0100', HORIZONTAL)
    rgb = tmp_path / '01' / 'pcd0100r.png'
    rgb.unlink()
    with pytest.raises(DatasetError, match='missing RGB image') as info:
        find_cornell(tmp_path)
    assert str(rgb) in str(info.value)


@pytest.mark.parametrize('size', [300, 100])
def test_cornell_ground_truth_uses_central_square(tmp_path, size):
    # A grasp at the image centre and one at the left edge of the central 480 x 480 square.
    write_cornell(tmp_path, '0100', '305 240\n335 240\n335 250\n305 250\n'
                                    '80 100\n110 100\n110 110\n80 110\n'
                                    '0 0\n20 0\n20 5\n0 5\n')  # outside the square: dropped
    dataset = GraspDataset(find_cornell(tmp_path), output_size=size)
    truth = dataset.ground_truth(0)
    assert len(truth) == 2
    scale = size / 480.0
    for grasp, (row, col) in zip(truth, [(245.0, 320.0), (105.0, 95.0)]):
        # Source pixel centre -> output: crop edges [79.5, 559.5] map onto [-0.5, size - 0.5].
        assert grasp.row == pytest.approx((row + 0.5) * scale - 0.5, abs=0.3)
        assert grasp.col == pytest.approx((col - 79.5) * scale - 0.5, abs=0.3)
        assert grasp.width == pytest.approx(30 * scale, rel=0.01)
        assert grasp.angle == pytest.approx(0.0, abs=0.01)
    x, y = dataset[0]
    assert tuple(x.shape) == (3, size, size) and tuple(y.shape) == (4, size, size)
    assert y[0].sum() > 0
