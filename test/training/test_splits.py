"""Object-wise k-fold splits: disjoint, complete, deterministic, every object held out once."""

from pathlib import Path

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest

from training.samples import DatasetError, SampleFiles
from training.splits import object_folds, split_by_object


def make_samples(n_objects: int, views: int = 3) -> list:
    samples = []
    for i in range(n_objects):
        obj = f'obj{i:03d}'
        for view in range(views):
            name = f'{view}_{obj}'
            samples.append(SampleFiles(rgb=Path(f'{obj}/{name}_RGB.png'),
                                       grasps=Path(f'{obj}/{name}_grasps.txt'), depth=None,
                                       mask=None, object_id=obj, name=name))
    return samples


def objects(samples) -> set:
    return {s.object_id for s in samples}


def check_split_properties(samples, n_folds, seed):
    all_objects = objects(samples)
    tested, validated = [], []
    for fold in range(n_folds):
        split = split_by_object(samples, fold, n_folds, seed)
        train, val, test = objects(split.train), objects(split.val), objects(split.test)
        assert not (train & val) and not (train & test) and not (val & test)
        assert train | val | test == all_objects
        assert len(split.train) + len(split.val) + len(split.test) == len(samples)
        assert val and test
        # Whole objects move: all views of an object are on the same side.
        for part in (split.train, split.val, split.test):
            assert len(part) == sum(s.object_id in objects(part) for s in samples)
        tested += sorted(test)
        validated += sorted(val)
    # 80/10/10 over k folds: the held-out groups (val + test) partition the objects, so every
    # object is held out in exactly one fold and tested in at most one.
    assert sorted(tested + validated) == sorted(all_objects)
    assert len(tested) == len(set(tested)) and len(validated) == len(set(validated))


def test_five_folds_80_10_10():
    samples = make_samples(20)
    check_split_properties(samples, 5, seed=0)
    split = split_by_object(samples, 2)
    assert (len(objects(split.train)), len(objects(split.val)), len(objects(split.test))) == \
        (16, 2, 2)
    assert (len(split.train), len(split.val), len(split.test)) == (48, 6, 6)
    # Samples keep the order they were given in.
    assert split.train == [s for s in samples if s in split.train]


def test_uneven_groups():
    samples = make_samples(23, views=1)
    sizes = [len(g) for g in object_folds([s.object_id for s in samples], 5, seed=1)]
    assert sorted(sizes) == [4, 4, 5, 5, 5]
    split = split_by_object(samples, 0, seed=1)
    assert (len(split.val), len(split.test)) == (2, 3)  # val gets the half rounded down


def test_deterministic_and_seed_dependent():
    samples = make_samples(30, views=2)
    first = split_by_object(samples, 1, seed=7)
    assert split_by_object(samples, 1, seed=7) == first
    # The order in which samples were found does not matter: object ids are sorted first.
    shuffled = [samples[i] for i in np.random.default_rng(0).permutation(len(samples))]
    again = split_by_object(shuffled, 1, seed=7)
    assert objects(again.test) == objects(first.test) and objects(again.val) == objects(first.val)
    other = [objects(split_by_object(samples, fold, seed=8).test) for fold in range(5)]
    assert [objects(split_by_object(samples, fold, seed=7).test) for fold in range(5)] != other


def test_too_few_objects():
    with pytest.raises(DatasetError, match='needs at least 10 distinct objects') as info:
        split_by_object(make_samples(9), 0)
    assert 'show 9' in str(info.value)
    split = split_by_object(make_samples(10), 4)  # the minimum: one val, one test object
    assert len(objects(split.val)) == len(objects(split.test)) == 1
    assert len(objects(split.train)) == 8
    split_by_object(make_samples(4), 1, n_folds=2)


def test_bad_fold_arguments():
    samples = make_samples(12)
    with pytest.raises(ValueError, match='fold must be in 0..4'):
        split_by_object(samples, 5)
    with pytest.raises(ValueError, match='fold must be in'):
        split_by_object(samples, -1)
    with pytest.raises(ValueError, match='n_folds must be at least 2'):
        split_by_object(samples, 0, n_folds=1)


@settings(max_examples=40, deadline=None)
@given(n_folds=st.integers(2, 6), extra=st.integers(0, 25), views=st.integers(1, 3),
       seed=st.integers(0, 2 ** 32 - 1))
def test_split_properties_hold_for_any_size(n_folds, extra, views, seed):
    check_split_properties(make_samples(2 * n_folds + extra, views), n_folds, seed)
