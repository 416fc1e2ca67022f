"""One affine matrix for images and grasps: base crop, random crop/zoom/quarter turns."""

import math

import cv2
import numpy as np
import pytest

from mtg_grasp_ros.grasp import angle_difference, Grasp
from training.augment import (base_transform, compose, random_transform, resize_matrix,
                              rotation_matrix, scale_of, to_3x3, warp_grasps, warp_image)
from training.targets import grasp_index_map


def apply(matrix, x, y):
    return tuple(np.asarray(matrix) @ (x, y, 1.0))


def test_base_transform_square_is_a_resize():
    matrix = base_transform((1024, 1024), 300)
    np.testing.assert_allclose(matrix, resize_matrix((1024, 1024), (300, 300)))
    image = np.random.default_rng(0).random((600, 600)).astype(np.float32)
    # Exactly 2x: bilinear sampling between pixel pairs is the 2x2 box filter (INTER_AREA).
    np.testing.assert_allclose(warp_image(image, base_transform((600, 600), 300), 300),
                               cv2.resize(image, (300, 300), interpolation=cv2.INTER_AREA),
                               atol=1e-5)


def test_base_transform_crops_the_central_square():
    matrix = base_transform((480, 640), 300)
    # Pixel edges of the central square [79.5, 559.5] x [-0.5, 479.5] -> [-0.5, 299.5].
    assert apply(matrix, 79.5, -0.5) == pytest.approx((-0.5, -0.5))
    assert apply(matrix, 559.5, 479.5) == pytest.approx((299.5, 299.5))
    assert scale_of(matrix) == pytest.approx(300 / 480)


def test_identity_round_trips():
    identity = base_transform((50, 50), 50)
    np.testing.assert_allclose(identity, np.eye(3)[:2], atol=1e-12)
    image = np.random.default_rng(1).integers(0, 255, (50, 50, 3), dtype=np.uint8)
    np.testing.assert_array_equal(warp_image(image, identity, 50), image)
    grasps = [Grasp(row=10.0, col=20.0, angle=0.5, width=8.0, jaw_size=3.0, quality=0.7)]
    assert warp_grasps(grasps, identity) == grasps
    # A transform followed by its inverse gives the grasps back.
    matrix = random_transform(np.random.default_rng(2), (80, 90), 40, rotate=True)
    inverse = np.linalg.inv(to_3x3(matrix))[:2]
    (back,) = warp_grasps(warp_grasps(grasps, matrix), inverse)
    assert (back.row, back.col, back.width, back.jaw_size) == pytest.approx((10, 20, 8, 3))
    assert angle_difference(back.angle, 0.5) < 1e-9 and back.quality == 0.7


@pytest.mark.parametrize('turns', [1, 2, 3])
def test_quarter_turns_match_rot90_and_turn_the_angle(turns):
    size = 30
    image = np.random.default_rng(3).integers(0, 255, (size, size), dtype=np.uint8)
    matrix = rotation_matrix(turns, size)
    # np.rot90 turns counter-clockwise as the image is displayed.
    np.testing.assert_array_equal(warp_image(image, matrix, size), np.rot90(image, turns))
    grasp = Grasp(row=5.0, col=9.0, angle=0.2, width=6.0, jaw_size=2.0)
    (turned,) = warp_grasps([grasp], matrix)
    assert angle_difference(turned.angle, 0.2 + turns * math.pi / 2) < 1e-9
    # The grasp's pixel moves where rot90 moves it.
    marker = np.zeros((size, size), np.uint8)
    marker[5, 9] = 1
    assert np.argwhere(np.rot90(marker, turns)).tolist() == [[round(turned.row),
                                                              round(turned.col)]]
    assert (turned.width, turned.jaw_size) == pytest.approx((6.0, 2.0))


def test_rotation_by_90_degrees_changes_angle_by_90():
    grasp = Grasp(row=15.0, col=15.0, angle=0.0, width=6.0, jaw_size=2.0)
    (turned,) = warp_grasps([grasp], rotation_matrix(1, 31))
    assert turned.angle == pytest.approx(-math.pi / 2)  # +90 deg, wrapped into [-90, 90)
    assert (turned.row, turned.col) == pytest.approx((15.0, 15.0))


def rectangle_mask(grasp: Grasp, shape) -> np.ndarray:
    """The full grasp rectangle, rasterised (a centre third of a grasp 3x as wide)."""
    wide = Grasp(row=grasp.row, col=grasp.col, angle=grasp.angle, width=3 * grasp.width,
                 jaw_size=grasp.jaw_size)
    return grasp_index_map([wide], shape) > 0


@pytest.mark.parametrize('seed', range(6))
def test_warp_grasps_consistent_with_warp_image(seed):
    rng = np.random.default_rng(seed)
    # The rectangle stays inside every possible crop, so nothing of it is cut off.
    src_shape, size = (240, 260), 200
    grasp = Grasp(row=rng.uniform(110, 130), col=rng.uniform(120, 140),
                  angle=rng.uniform(-1.5, 1.5), width=rng.uniform(30, 60), jaw_size=20.0)
    matrix = random_transform(rng, src_shape, size, zoom=(0.9, 1.0), rotate=True)
    warped_mask = warp_image(rectangle_mask(grasp, src_shape), matrix, size)
    (warped,) = warp_grasps([grasp], matrix, size)
    drawn = rectangle_mask(warped, (size, size))
    iou = (warped_mask & drawn).sum() / (warped_mask | drawn).sum()
    assert iou > 0.85
    centroid = np.argwhere(warped_mask).mean(axis=0)
    assert centroid == pytest.approx((warped.row, warped.col), abs=1.0)
    assert warped.width == pytest.approx(grasp.width * scale_of(matrix))


def test_random_transform_stays_inside_and_zooms():
    src_shape, size = (200, 260), 64
    corners = np.array([[-0.5, -0.5, 1], [size - 0.5, -0.5, 1], [-0.5, size - 0.5, 1],
                        [size - 0.5, size - 0.5, 1]]).T
    rng = np.random.default_rng(4)
    scales, turns = [], set()
    for _ in range(200):
        matrix = random_transform(rng, src_shape, size, zoom=(0.5, 1.0), rotate=True)
        source = np.linalg.inv(to_3x3(matrix)) @ corners
        assert source[0].min() >= -0.5 - 1e-9 and source[0].max() <= 259.5 + 1e-9
        assert source[1].min() >= -0.5 - 1e-9 and source[1].max() <= 199.5 + 1e-9
        scales.append(scale_of(matrix))
        linear = matrix[:, :2] / scale_of(matrix)
        turns.add(tuple(np.round(linear).astype(int).ravel()))
    # Crop side in [0.5, 1] x 200 px -> scale in [64/200, 64/100].
    assert min(scales) >= size / 200 - 1e-9 and max(scales) <= size / 100 + 1e-9
    assert max(scales) / min(scales) > 1.7
    assert len(turns) == 4  # all quarter turns occur
    again = random_transform(np.random.default_rng(9), src_shape, size)
    np.testing.assert_array_equal(again, random_transform(np.random.default_rng(9), src_shape,
                                                          size))
    with pytest.raises(ValueError, match='zoom'):
        random_transform(rng, src_shape, size, zoom=(0.0, 1.0))


def test_warp_grasps_drops_outside_and_scales():
    matrix = compose(base_transform((100, 100), 50))
    inside = Grasp(row=50.0, col=20.0, angle=0.3, width=10.0, jaw_size=4.0)
    outside = Grasp(row=-5.0, col=20.0, angle=0.3, width=10.0, jaw_size=4.0)
    (kept,) = warp_grasps([inside, outside], matrix, 50)
    assert (kept.row, kept.col) == pytest.approx((24.75, 9.75))
    assert (kept.width, kept.jaw_size, kept.angle) == pytest.approx((5.0, 2.0, 0.3))
    assert len(warp_grasps([inside, outside], matrix)) == 2  # no size: nothing dropped


def test_warp_image_masks_and_borders():
    mask = np.zeros((20, 20), bool)
    mask[5:10, 5:10] = True
    shifted = np.array([[1.0, 0.0, 3.0], [0.0, 1.0, 0.0]])
    out = warp_image(mask, shifted, 20)
    assert out.dtype == np.bool_ and out.sum() == 25 and out[5:10, 8:13].all()
    # Zoomed out, the border beyond the source is background; nearest keeps it binary.
    zoom_out = np.array([[0.5, 0.0, 4.75], [0.0, 0.5, 4.75]])
    small = warp_image(np.ones((20, 20), bool), zoom_out, 20)
    assert small.dtype == np.bool_ and small[10, 10] and not small[:, :4].any()
    assert small.sum() == 10 * 10
    # RGB / depth replicate their border instead of inventing black pixels.
    depth = np.full((20, 20), 0.75, np.float32)
    assert np.all(warp_image(depth, shifted, 20) == 0.75)
