"""Flat distractors (simulation.distractors): shapes painted on the table plane at their true
place and size, under the rendered light, never on objects; random draws deterministic."""

import numpy as np
import pytest

from simulation.camera import SimCamera
from simulation.distractors import (COUNT_RANGE, FlatDistractors, MIN_SPREAD, random_distractors,
                                    table_light, TEXELS_PER_METRE)


def _camera(size=64):
    # 0.5 m above the origin looking down, image up = world +x.
    return SimCamera.look_at([0, 0, 0.5], [0, 0, 0], [1, 0, 0], size, 35.0, 0.1, 2.0)


def _square(metres=0.2, centre=(0.0, 0.0), colour=(200, 40, 40), alpha=255):
    """A tile ``metres`` wide whose middle half (a 0.1 m square) is one opaque colour."""
    side = int(metres * TEXELS_PER_METRE)
    tile = np.zeros((side, side, 4), np.uint8)
    q = side // 4
    tile[q:side - q, q:side - q] = (*colour, alpha)
    return FlatDistractors(image=tile, metres=metres, centre=centre, count=1)


def test_shape_lands_at_its_place_and_size_under_the_light_and_only_on_the_table():
    camera = _camera()
    rgb = np.full((64, 64, 3), 90, np.uint8)
    table = np.ones((64, 64), bool)
    table[28:36, 28:36] = False  # an object on top: keeps its pixels
    light = np.full((64, 64, 3), 0.5, np.float32)
    out = _square().paint(rgb, table, light, camera)
    assert out.dtype == np.uint8 and out.shape == rgb.shape
    assert np.array_equal(out[28:36, 28:36], rgb[28:36, 28:36])
    # Which pixels see the table within 5 cm of the origin (the square's half side)?
    cols, rows = np.meshgrid(np.arange(64.0), np.arange(64.0))
    points = camera.deproject(cols.ravel(), rows.ravel(), np.full(64 * 64, 0.5))
    inside = (np.abs(points[:, :2]).max(axis=1) < 0.045).reshape(64, 64) & table
    outside = (np.abs(points[:, :2]).max(axis=1) > 0.055).reshape(64, 64)
    assert inside.sum() > 100 and outside.sum() > 1000
    assert np.allclose(out[inside], [100, 20, 20], atol=1)  # the colour times half the light
    assert np.array_equal(out[outside], rgb[outside])


def test_shape_off_centre_moves_with_its_centre_and_alpha_blends():
    camera = _camera()
    rgb = np.full((64, 64, 3), 100, np.uint8)
    table = np.ones((64, 64), bool)
    light = np.ones((64, 64, 3), np.float32)
    square = _square(centre=(0.08, 0.0), colour=(0, 0, 0), alpha=128)
    out = square.paint(rgb, table, light, camera)
    changed = np.any(out != rgb, axis=2)
    rows = np.nonzero(changed.any(axis=1))[0]
    x = camera.deproject(np.full(rows.size, 32.0), rows.astype(float),
                         np.full(rows.size, 0.5))[:, 0]
    assert x.min() > 0.02 and abs(x.max() - 0.13) < 0.02  # the square spans x = 0.03 .. 0.13
    assert 45 <= out[changed].min() <= 55  # half covered by black: half the grey


def test_table_light_divides_by_the_albedo():
    render = np.full((2, 2, 3), 64, np.uint8)
    assert np.allclose(table_light(render, (0.5, 0.5, 0.5)), 64 / 127.5)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_random_distractors_are_deterministic_sized_and_cover_a_little_table(seed):
    a = random_distractors(np.random.default_rng(seed), (0.1, -0.2), 0.05)
    b = random_distractors(np.random.default_rng(seed), (0.1, -0.2), 0.05)
    assert np.array_equal(a.image, b.image) and a.count == b.count
    assert COUNT_RANGE[0] <= a.count <= COUNT_RANGE[1]
    assert a.metres == pytest.approx(MIN_SPREAD) and a.centre == (0.1, -0.2)
    assert a.image.shape == (int(round(MIN_SPREAD * TEXELS_PER_METRE)),) * 2 + (4,)
    covered = (a.image[..., 3] > 0).mean()
    assert 0.0005 < covered < 0.6
    wide = random_distractors(np.random.default_rng(seed), (0, 0), 0.3)
    assert wide.metres == pytest.approx(0.9)
