"""Procedural shapes: valid closed meshes, determinism, the held-out rule, catalogue selection
and physics (they load in pybullet and settle on the table at the asked size); the thin shapes'
catalogue of its own."""

import math
import os

import numpy as np
import pytest

from simulation.objects import (heldout_indices, heldout_path, is_thin_index, list_objects,
                                list_shapes, select_objects, SHAPE_INDEX_OFFSET)
from simulation.shapes import (FAMILIES, mesh_volume, NATIVE_SIZE, Shape, SHAPE_COUNT,
                               shape_urdf, superquadric_mesh, THIN_FAMILIES, THIN_SHAPE_COUNT,
                               THIN_SHAPE_START)

ConvexHull = pytest.importorskip('scipy.spatial').ConvexHull
SAMPLE = range(0, SHAPE_COUNT, 7)


THIN = range(THIN_SHAPE_START, THIN_SHAPE_START + THIN_SHAPE_COUNT)
#: Families whose collision shapes are boxes (their mesh is not convex).
BOXED = ('compound', 'frame')


def first_of_each_family():
    found = {}
    for n in list(range(SHAPE_COUNT)) + list(THIN):
        found.setdefault(Shape(n).family, n)
        if len(found) == len(FAMILIES) + len(THIN_FAMILIES):
            return found
    missing = set(FAMILIES + THIN_FAMILIES) - set(found)
    raise AssertionError(f'families missing from the catalogue: {missing}')


@pytest.fixture(scope='module')
def cache_home(tmp_path_factory):
    """An XDG_CACHE_HOME whose default shape folder holds the whole catalogue."""
    home = tmp_path_factory.mktemp('cache')
    list_shapes(str(home / 'mtg_grasp_ros' / 'shapes'))
    return home


@pytest.fixture(scope='module')
def catalogue(cache_home):
    return list_shapes(str(cache_home / 'mtg_grasp_ros' / 'shapes'))


def test_meshes_are_closed_outward_and_convex_where_they_must_be():
    for n in list(SAMPLE) + list(first_of_each_family().values()):
        shape = Shape(n)
        verts, faces = shape.verts, shape.faces
        assert faces.min() >= 0 and faces.max() < len(verts), n
        assert len(np.unique(faces, axis=0)) == len(faces), n
        # Closed and consistently oriented: every directed edge has its reverse, once.
        edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
        directed = set(map(tuple, edges))
        assert len(directed) == len(edges), n
        assert all((b, a) in directed for a, b in directed), n
        extent = verts.max(axis=0) - verts.min(axis=0)
        assert extent.max() == pytest.approx(NATIVE_SIZE), n
        assert np.abs(verts.mean(axis=0)).max() < 0.25 * NATIVE_SIZE, n
        volume = mesh_volume(verts, faces)
        assert volume > 0, n  # outward-facing
        if shape.family in BOXED:
            boxes = sum(8 * float(np.prod(h)) for h, _ in shape.boxes)
            assert volume == pytest.approx(boxes, rel=1e-6), n
        else:  # convex: pybullet's convex hull is the mesh itself
            assert volume / ConvexHull(verts).volume > 0.999, (n, shape.family)


@pytest.mark.parametrize('eps1, eps2', [(1.0, 1.0), (0.2, 0.2), (0.5, 1.0), (1.0, 0.3)])
def test_superquadric_volume_matches_the_closed_form(eps1, eps2):
    axes = (0.05, 0.03, 0.02)
    verts, faces = superquadric_mesh(axes, eps1, eps2)

    def beta(x, y):
        return math.gamma(x) * math.gamma(y) / math.gamma(x + y)

    exact = 2 * np.prod(axes) * eps1 * eps2 * beta(eps1 / 2 + 1, eps1) * beta(eps2 / 2, eps2 / 2)
    assert 0.93 < mesh_volume(verts, faces) / exact <= 1.0


def test_same_index_same_bytes_and_no_temporary_files(tmp_path):
    for n in (0, 7, 123):
        first = shape_urdf(n, str(tmp_path / 'a'))
        second = shape_urdf(n, str(tmp_path / 'b'))
        again = shape_urdf(n, str(tmp_path / 'a'))
        assert os.path.basename(first) == os.path.basename(second) and again == first
        for suffix in ('.urdf', '.obj'):
            a, b = (open(p[:-5] + suffix, 'rb').read() for p in (first, second))
            assert a == b
    assert not [p for p in os.listdir(tmp_path / 'a') if p.startswith('.')]
    assert Shape(5).obj_text() != Shape(6).obj_text()
    with pytest.raises(ValueError):
        Shape(THIN_SHAPE_START + THIN_SHAPE_COUNT)


def test_catalogue_ids_heldout_rule_and_selection(catalogue):
    assert [s.object_id for s in catalogue] == [f's{n:03d}' for n in range(SHAPE_COUNT)]
    assert [s.index for s in catalogue] == [SHAPE_INDEX_OFFSET + n for n in range(SHAPE_COUNT)]
    assert all(os.path.isfile(s.path) for s in catalogue)
    heldout = select_objects(catalogue, 'heldout', None, 0)
    assert [s.object_id for s in heldout] == [f's{n:03d}' for n in range(0, SHAPE_COUNT, 10)]
    train = select_objects(catalogue, 'train', 20, 3)
    assert len(train) == 20 and not any(s.heldout for s in train)
    assert all(int(s.object_id[1:]) % 10 for s in train)
    assert select_objects(catalogue, 'train', 20, 3) == train
    assert len(select_objects(catalogue, 'all', None, 0)) == SHAPE_COUNT


def test_list_objects_sources():
    default = list_objects()
    assert [s.object_id for s in default[:2]] == ['r000', 'r001'] and len(default) == 1000
    with pytest.raises(ValueError):
        list_objects(shapes='spheres')
    with pytest.raises(ValueError):
        list_objects('/tmp', shapes='procedural')


def test_list_objects_both_has_unique_ids_and_indices(monkeypatch, cache_home, catalogue):
    monkeypatch.setenv('XDG_CACHE_HOME', str(cache_home))
    both = list_objects(shapes='both')
    assert len(both) == 1000 + SHAPE_COUNT and both[1000:] == catalogue
    assert len({s.object_id for s in both}) == len({s.index for s in both}) == len(both)
    heldout = select_objects(both, 'heldout', None, 0)
    assert len(heldout) == 100 + SHAPE_COUNT // 10


def test_shapes_load_settle_and_have_the_asked_size(tmp_path):
    pytest.importorskip('pybullet')
    from scipy.spatial.transform import Rotation

    from simulation.scene import random_quaternion, Scene
    rng = np.random.default_rng(1)
    with Scene() as scene:
        p, c = scene.p, scene.client
        for family, n in first_of_each_family().items():
            path = shape_urdf(n, str(tmp_path))
            target = 0.2 if family in THIN_FAMILIES else 0.08
            scale = target / float(scene.native_extent(path).max())
            # Like the generator, which redraws a view whose object is still rocking after 4 s
            # (a few % of the rounded shapes), allow a second drop.
            for _ in range(2):
                body = scene.drop(path, scale, random_quaternion(rng))
                if scene.settle([body]):
                    break
                scene.remove(body)
            else:
                raise AssertionError(f'{family} s{n:03d} did not settle in two drops')
            pos, orn = p.getBasePositionAndOrientation(body, physicsClientId=c)
            world = scene.mesh_vertices(body)
            local = Rotation.from_quat(orn).inv().apply(world - np.asarray(pos))
            size = float((local.max(axis=0) - local.min(axis=0)).max())
            assert size == pytest.approx(target, rel=0.01), family
            assert -1e-3 < world[:, 2].min() < 3e-3, family  # resting on the table
            assert np.linalg.norm(pos[:2]) < 0.1, family  # neither rolled off nor exploded
            scene.remove(body)


def test_thin_shapes_are_a_catalogue_of_their_own(tmp_path, monkeypatch):
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path))
    thin = list_objects(shapes='thin')
    assert [s.object_id for s in thin] == [f's{n:03d}' for n in THIN]
    assert [s.index for s in thin] == [SHAPE_INDEX_OFFSET + n for n in THIN]
    assert all(is_thin_index(s.index) for s in thin)
    assert not is_thin_index(SHAPE_INDEX_OFFSET + SHAPE_COUNT - 1) and not is_thin_index(0)
    assert {Shape(n).family for n in THIN} == set(THIN_FAMILIES)
    held = heldout_indices('thin')
    assert [s.index for s in select_objects(thin, 'heldout', None, 0)] == list(held)
    assert heldout_path(held[1]).endswith('.urdf')
    with pytest.raises(ValueError):
        heldout_path(held[0] + 1)  # not held out
    # The other catalogues do not change: the thin shapes are not in them.
    assert heldout_indices('procedural')[-1] == SHAPE_INDEX_OFFSET + SHAPE_COUNT - 10
    for n in THIN:
        shape = Shape(n)
        extent = np.sort(shape.verts.max(axis=0) - shape.verts.min(axis=0))
        assert extent[0] < 0.13 * NATIVE_SIZE, (n, shape.family)  # thin: 1/8 of the length


def test_the_generator_makes_thin_shapes_long_and_the_others_as_before():
    from simulation.objects import ObjectSpec
    from training.synth.clutter import NEIGHBOUR_SIZE_RANGE, neighbour_size_range
    from training.synth.generate import OBJECT_SIZE_RANGE, object_size_range
    rod = ObjectSpec(SHAPE_INDEX_OFFSET + THIN_SHAPE_START + 1, 's501', 'unused.urdf')
    box = ObjectSpec(SHAPE_INDEX_OFFSET + 1, 's001', 'unused.urdf')
    blob = ObjectSpec(7, 'r007', 'unused.urdf')
    assert object_size_range(box) == object_size_range(blob) == OBJECT_SIZE_RANGE == (0.05, 0.13)
    assert neighbour_size_range(box) == NEIGHBOUR_SIZE_RANGE == (0.04, 0.09)
    low, high = object_size_range(rod)
    assert low > OBJECT_SIZE_RANGE[1] and high <= 0.35
    # Their thinnest side at the middle size: 7 mm or more (the gripper's bite) for nearly all.
    thick = [sorted(Shape(n).verts.max(axis=0) - Shape(n).verts.min(axis=0))[0] * (low + high) / 2
             for n in THIN]
    assert np.mean(np.array(thick) >= 0.007) > 0.9
    assert neighbour_size_range(rod)[0] > NEIGHBOUR_SIZE_RANGE[1]
