"""``python -m training predict``: the node's grasps drawn on unlabelled pictures."""

import argparse
from pathlib import Path
import subprocess
import sys

import cv2
from model_fixtures import save_model
import numpy as np
import pytest

from training import predict

REPO = Path(__file__).resolve().parents[2]
CORNELL = REPO.parent / 'shared' / 'real' / 'cornell' / '01'


def _write_image(path: Path, width: int = 160, height: int = 120) -> Path:
    image = np.full((height, width, 3), 200, np.uint8)
    image[50:70, 60:100] = (30, 60, 200)
    cv2.imwrite(str(path), image)
    return path


def test_grid_has_one_row_per_model_and_one_column_per_image(tmp_path, capsys):
    a = save_model(tmp_path / 'a', kind='constant')
    b = save_model(tmp_path / 'b', kind='random')
    images = [_write_image(tmp_path / 'one.png'), _write_image(tmp_path / 'two.png', 200, 100)]
    out = tmp_path / 'grid.png'
    parser = argparse.ArgumentParser()
    predict.register(parser.add_subparsers())
    args = parser.parse_args(['predict', *map(str, images), '--model', str(a), '--model', str(b),
                              '--out', str(out)])
    assert args.func(args) == 0
    grid = cv2.imread(str(out))
    size = 96  # the test models' input side: the debug image is the network's crop
    assert grid.shape == (2 * (size + predict.CAPTION_HEIGHT), 2 * size, 3)
    printed = capsys.readouterr().out
    assert printed.count('one.png') == 2 and printed.count('two.png') == 2
    # The constant model's quality is 0.5 everywhere: the best grasp is reported as such.
    assert 'q 0.50' in printed


def test_unreadable_image_and_missing_model_are_clear_errors(tmp_path, capsys):
    bad = tmp_path / 'not_an_image.png'
    bad.write_text('hello')
    with pytest.raises(ValueError, match='not_an_image.png'):
        predict.read_rgb(bad)
    parser = argparse.ArgumentParser()
    predict.register(parser.add_subparsers())
    args = parser.parse_args(['predict', str(bad), '--out', str(tmp_path / 'o.png')])
    assert args.func(args) == 2
    assert 'not_an_image.png' in capsys.readouterr().err
    good = _write_image(tmp_path / 'good.png')
    args = parser.parse_args(['predict', str(good), '--model', str(tmp_path / 'nothing'),
                              '--out', str(tmp_path / 'o.png')])
    assert args.func(args) == 2
    assert 'nothing' in capsys.readouterr().err


def test_nominal_camera_looks_straight_down():
    camera, pose = predict.nominal_camera(640, 480)
    assert (camera.width, camera.height) == (640, 480)
    optical_axis = pose.rotation @ np.array([0.0, 0.0, 1.0])
    np.testing.assert_allclose(optical_axis, [0.0, 0.0, -1.0])
    assert pose.translation[2] == predict.NOMINAL_HEIGHT


@pytest.mark.skipif(not CORNELL.is_dir(), reason='../shared/real is not beside this clone')
def test_cli_on_the_cornell_photos(tmp_path):
    out = tmp_path / 'cornell.png'
    photos = sorted(CORNELL.glob('pcd*r.png'))
    done = subprocess.run([sys.executable, '-m', 'training', 'predict', *map(str, photos),
                           '--out', str(out)], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert out.is_file() and 'wrote' in done.stdout
