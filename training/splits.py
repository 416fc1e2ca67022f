"""Object-wise k-fold splits (the paper's 5-fold cross validation: 80% train, 10% val, 10% test).

Objects, not images, are split: the views of one object look alike, so putting them on both
sides would measure memory rather than generalisation. The unique object ids are sorted (so the
order of discovery never matters), shuffled with ``numpy.random.default_rng(seed)`` and cut into
``n_folds`` groups of nearly equal size. Fold ``k`` holds out group ``k``, its first half (rounded
down) for validation and the rest for testing; the other groups train. Over the folds every
object is held out (validation or test) in exactly one fold. With 10% test per fold the test sets
of all folds cover only half of the objects (5 x 10%); that is what the paper's 80/10/10 with
five folds implies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence

import numpy as np

from training.samples import DatasetError, SampleFiles


@dataclass(frozen=True)
class Split:
    """The samples of one fold, each list in the order the samples were given."""

    train: List[SampleFiles]
    val: List[SampleFiles]
    test: List[SampleFiles]


def object_folds(object_ids: Sequence[str], n_folds: int = 5, seed: int = 0) -> List[List[str]]:
    """The shuffled unique object ids cut into ``n_folds`` groups (sizes differ by at most 1)."""
    objects = sorted(set(object_ids))
    order = np.random.default_rng(seed).permutation(len(objects))
    return [[objects[i] for i in group] for group in np.array_split(order, n_folds)]


def split_by_object(samples: Sequence[SampleFiles], fold: int, n_folds: int = 5,
                    seed: int = 0) -> Split:
    """Train / validation / test samples of ``fold`` (0-based) of an object-wise k-fold split.

    Needs at least ``2 * n_folds`` distinct objects, so that every fold has a validation and a
    test object.
    """
    if n_folds < 2:
        raise ValueError(f'n_folds must be at least 2, got {n_folds}')
    if not 0 <= fold < n_folds:
        raise ValueError(f'fold must be in 0..{n_folds - 1} for {n_folds} folds, got {fold}')
    objects = {s.object_id for s in samples}
    if len(objects) < 2 * n_folds:
        raise DatasetError(
            f'an object-wise {n_folds}-fold split needs at least {2 * n_folds} distinct objects '
            f'(one validation and one test object per fold) but the {len(samples)} samples '
            f'show {len(objects)}; add data or use fewer folds')
    held_out = object_folds(list(objects), n_folds, seed)[fold]
    n_val = len(held_out) // 2
    val, test = set(held_out[:n_val]), set(held_out[n_val:])
    return Split(train=[s for s in samples if s.object_id not in val and s.object_id not in test],
                 val=[s for s in samples if s.object_id in val],
                 test=[s for s in samples if s.object_id in test])
