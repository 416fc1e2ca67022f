"""Domain randomisation of the generator: textures, support painting, robot views, sensor
effects and their command-line options (simulation.textures, simulation.floor,
training.synth.appearance, .framing, .sensor)."""

import argparse
import math

import numpy as np
import pytest

from simulation.camera import SimCamera
from simulation.floor import FLOOR_GREY, PlaneTexture, ViewPaint
from simulation.scene import Scene
from simulation.textures import PHOTO_NAMES, random_texture_image, TEXTURE_KINDS
from training.synth import register
from training.synth.appearance import (LOOKS, object_look, random_appearance, random_look,
                                       random_object_look)
from training.synth.framing import (random_robot_camera, random_top_down_camera,
                                    random_view_camera, ROBOT_FOV_DEG, ROBOT_HEIGHT,
                                    ROBOT_MAX_TILT_DEG, TABLE_REACH)
from training.synth.sensor import apply_sensor_effects, SensorEffects

BASE = (0.6, 0.5, 0.4)


def _rng(*seed):
    return np.random.default_rng(np.random.SeedSequence(list(seed)))


# Textures -------------------------------------------------------------------------------------

@pytest.mark.parametrize('kind', TEXTURE_KINDS)
def test_texture_is_deterministic_sized_uint8_and_differs_between_draws(kind):
    first = random_texture_image(_rng(1, 2), BASE, 96, kinds=[kind])
    again = random_texture_image(_rng(1, 2), BASE, 96, kinds=[kind])
    other = random_texture_image(_rng(1, 3), BASE, 96, kinds=[kind])
    assert first.dtype == np.uint8 and first.shape == (96, 96, 3)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    assert first.std() > 1.0  # a pattern, not a flat colour


def test_photo_textures_come_from_the_installed_scikit_image():
    import skimage.data
    for name in PHOTO_NAMES:
        assert min(np.asarray(getattr(skimage.data, name)()).shape[:2]) >= 256


def test_unknown_texture_kind_is_refused():
    with pytest.raises(ValueError, match='unknown texture kind'):
        random_texture_image(_rng(0), BASE, 32, kinds=['marble'])


# Looks ----------------------------------------------------------------------------------------

def test_plain_looks_draw_exactly_what_they_drew_before():
    rgb, texture = object_look(_rng(5), 'plain')
    old_rgb, old_texture = random_object_look(_rng(5))
    assert rgb == old_rgb and (texture is None) == (old_texture is None)
    for seed in range(10):
        look, floor = random_look(_rng(seed), rgb, texture, 'plain')
        old = random_appearance(_rng(seed), rgb, texture)
        assert floor is None
        assert look.table_rgb == old.table_rgb and look.light == old.light
        assert (look.table_texture is None) == (old.table_texture is None)


def test_rich_looks_are_deterministic_and_mostly_paint_the_support():
    floors = decals = 0
    for seed in range(20):
        rgb, texture = object_look(_rng(seed), 'rich')
        look, paint = random_look(_rng(seed, 1), rgb, texture, 'rich')
        again, paint_again = random_look(_rng(seed, 1), rgb, texture, 'rich')
        assert look.light == again.light and look.table_rgb == again.table_rgb
        assert look.table_texture is None and look.object_texture is None
        if paint is not None and paint.floor is not None:
            floors += 1
            assert np.array_equal(paint.floor.image, paint_again.floor.image)
            assert look.table_rgb == (FLOOR_GREY,) * 3
        if texture is not None:  # painted on the object: rendered grey
            decals += 1
            assert paint.object.image is texture and look.object_rgb == (FLOOR_GREY,) * 3
        else:
            assert look.object_rgb == rgb
    assert 12 <= floors < 20  # 90% are painted, 10% keep a flat colour
    assert 4 <= decals <= 16  # half the objects are textured
    with pytest.raises(ValueError, match='unknown looks'):
        random_look(_rng(0), BASE, None, 'fancy')
    assert LOOKS == ('plain', 'rich')


def test_view_paint_changes_only_the_table_and_object_pixels():
    camera = SimCamera.look_at([0, 0, 0.4], [0, 0, 0], [1, 0, 0], 64, 35.0, 0.1, 2.0)
    segmentation = np.full((64, 64), 0)  # table body 0
    segmentation[20:40, 20:40] = 3  # object body 3
    segmentation[:4] = -1  # nothing
    depth = np.full((64, 64), 0.4, np.float32)
    depth[20:40, 20:40] = 0.35  # the object's top, 5 cm up
    rgb = np.full((64, 64, 3), 128, np.uint8)
    checks = ((np.arange(64)[:, None] // 16 + np.arange(64) // 16) % 2)[..., None]
    floor = PlaneTexture((checks * [200, 150, 100]).astype(np.uint8), 0.1, 0.3, (0.0, 0.0))
    decal = PlaneTexture((checks * [40, 60, 250]).astype(np.uint8), 0.02, 0.0, (0.0, 0.0))
    out = ViewPaint(floor, decal).apply(rgb, segmentation, depth, camera, 0, 3)
    assert out.dtype == np.uint8 and out.shape == rgb.shape
    assert np.array_equal(out[:4], rgb[:4])
    table, obj = out[10:18].reshape(-1, 3), out[22:38, 22:38].reshape(-1, 3)
    assert table.std(axis=0).max() > 2 and obj.std(axis=0).max() > 2  # textured both
    assert obj[:, 2].mean() > table[:, 2].mean() + 20  # the object's bluish texture
    only_floor = ViewPaint(floor, None).apply(rgb, segmentation, depth, camera, 0, 3)
    assert np.array_equal(only_floor[20:40, 20:40], rgb[20:40, 20:40])


def test_floor_paint_lays_the_texture_at_its_true_size_under_the_light():
    camera = SimCamera.look_at([0, 0, 0.5], [0, 0, 0], [1, 0, 0], 64, 35.0, 0.1, 2.0)
    depth = np.full((64, 64), 0.5, np.float32)
    rgb = np.full((64, 64, 3), 64, np.uint8)  # half of FLOOR_GREY's 127.5: half the light
    table = np.ones((64, 64), bool)
    table[:8] = False  # not the table: kept as rendered
    tile = np.zeros((64, 64, 3), np.uint8)
    tile[:, :32] = 200  # bright for the first 0.1 m of the 0.2 m tile along its u axis
    floor = PlaneTexture(image=tile, metres=0.2, angle=0.0, offset=(0.0, 0.0))
    out = floor.paint(rgb, table, depth, camera)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert np.array_equal(out[:8], rgb[:8])
    # Image rows run along world x (up = +x); the view spans x = +-0.158 m. Mirrored repeats:
    # bright for |x| < 0.1 m, dark beyond; each row is uniform (the tile is, along y).
    x = camera.deproject(np.full(64, 32.0), np.arange(64.0), np.full(64, 0.5))[:, 0]
    for row in range(8, 64):
        if abs(abs(x[row]) - 0.1) > 0.01:
            expected = 100 if abs(x[row]) < 0.1 else 0  # 200 x half the light, or dark
            assert np.abs(out[row].astype(int) - expected).max() <= 2, row
    assert out[8:].max() >= 98 and out[8:].min() <= 2


# Robot views ----------------------------------------------------------------------------------

@pytest.mark.parametrize('seed', range(25))
def test_robot_view_respects_height_tilt_fov_and_looks_at_the_table(seed):
    target = np.array([0.02, -0.01, 0.0])
    camera = random_robot_camera(_rng(seed), target, 128)
    assert camera.width == camera.height == 128
    assert ROBOT_HEIGHT[0] - 1e-9 <= camera.position[2] <= ROBOT_HEIGHT[1] + 1e-9
    tilt = math.degrees(math.acos(-camera.forward[2]))
    assert tilt <= ROBOT_MAX_TILT_DEG + 1e-6
    assert ROBOT_FOV_DEG[0] <= camera.fov_deg <= ROBOT_FOV_DEG[1]
    # The optical axis meets the table near the object, and the object is in the picture.
    assert np.linalg.norm(camera.table_point()[:2] - target[:2]) < 0.5
    u, v, z = camera.project(target)
    assert 0.2 * 128 <= u <= 0.8 * 128 and 0.2 * 128 <= v <= 0.8 * 128 and z > 0
    last = 127
    corners = camera.deproject([0, last, 0, last], [0, 0, last, last],
                               camera.plane_depth([0, last, 0, last], [0, 0, last, last]))
    assert np.all(np.linalg.norm(corners[:, :2] - target[:2], axis=1) <= TABLE_REACH)
    assert camera.far > np.max(np.linalg.norm(corners - camera.position, axis=1))
    assert np.array_equal(camera.rotation, random_robot_camera(_rng(seed), target, 128).rotation)


@pytest.mark.parametrize('extent', [0.05, 0.09, 0.13])
def test_robot_view_keeps_the_object_at_a_useful_size(extent):
    for seed in range(20):
        camera = random_robot_camera(_rng(seed), np.zeros(3), 256, extent)
        height = camera.position[2]
        width = 2 * height / -camera.forward[2] * math.tan(math.radians(camera.fov_deg) / 2)
        assert extent / width >= 0.12 * math.cos(math.radians(ROBOT_MAX_TILT_DEG)) - 1e-9 \
            or height <= ROBOT_HEIGHT[0] + 1e-9


def test_view_choice_follows_the_probability_and_p0_draws_nothing_extra():
    target = np.zeros(3)
    for seed in range(5):
        a = random_view_camera(_rng(seed), target, 0.1, 64, 0.0)
        b = random_top_down_camera(_rng(seed), target, 0.1, 64)
        assert np.array_equal(a.rotation, b.rotation) and a.xyz == b.xyz
    robot = sum(random_view_camera(_rng(seed), target, 0.1, 64, 0.5).fov_deg != 35.0
                for seed in range(200))
    assert 70 <= robot <= 130
    assert all(random_view_camera(_rng(s), target, 0.1, 64, 1.0).fov_deg != 35.0
               for s in range(20))


def test_robot_view_renders_the_table_to_every_corner():
    camera = random_robot_camera(_rng(7), np.zeros(3), 64)
    with Scene() as scene:
        body = scene.add_box([0.03, 0.02, 0.02])
        render = scene.render(camera)
    assert np.all(render.segmentation >= 0)  # table or object everywhere: no sky
    assert render.mask(body).any()


# Sensor effects -------------------------------------------------------------------------------

def test_sensor_effects_keep_shape_and_dtype_change_the_image_and_are_seeded():
    image = random_texture_image(_rng(3), BASE, 128)
    always = SensorEffects(blur_p=1.0, noise_p=1.0, jpeg_p=1.0)
    out = apply_sensor_effects(image, _rng(4), always)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert not np.array_equal(out, image)
    assert np.abs(out.astype(int) - image.astype(int)).mean() < 12  # slight, not a new image
    assert np.array_equal(out, apply_sensor_effects(image, _rng(4), always))
    assert not np.array_equal(out, apply_sensor_effects(image, _rng(5), always))
    before = image.copy()
    apply_sensor_effects(image, _rng(4))
    assert np.array_equal(image, before)  # the input is left alone
    with pytest.raises(ValueError):
        apply_sensor_effects(image[..., 0], _rng(4))


@pytest.mark.parametrize('effect', ['blur', 'noise', 'jpeg'])
def test_each_sensor_effect_alone_changes_the_image(effect):
    # 480 px: the blur's reference side (it is scaled with the image: ~0.1 px at 64 px).
    image = np.zeros((480, 480, 3), np.uint8)
    image[(np.arange(480)[:, None] // 8 + np.arange(480) // 8) % 2 == 1] = 200  # 8 px checks
    only = SensorEffects(blur_p=float(effect == 'blur'), noise_p=float(effect == 'noise'),
                         jpeg_p=float(effect == 'jpeg'))
    out = apply_sensor_effects(image, _rng(6), only)
    assert out.shape == image.shape and not np.array_equal(out, image)


# Command line ---------------------------------------------------------------------------------

def _parse(*argv):
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(['synth', '--out', 'x', *argv])


def test_cli_accepts_the_looks_options_with_realistic_defaults():
    args = _parse()
    assert (args.looks, args.robot_views, args.sensor_effects) == ('rich', 0.3, True)
    args = _parse('--looks', 'plain', '--robot-views', '0', '--no-sensor-effects')
    assert (args.looks, args.robot_views, args.sensor_effects) == ('plain', 0.0, False)
    args = _parse('--robot-views', '1', '--sensor-effects')
    assert (args.robot_views, args.sensor_effects) == (1.0, True)
    for bad in (['--looks', 'fancy'], ['--robot-views', '1.5'], ['--robot-views', 'x']):
        with pytest.raises(SystemExit):
            _parse(*bad)
