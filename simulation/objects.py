"""The object catalogue of the simulation, the objects' stable ids and the held-out split.

By default the objects are pybullet_data's ``random_urdfs/000..999`` (1000 procedurally made
"blob" objects, each a compound of a few convex pieces). Object ``NNN`` gets the stable id
``rNNN`` (``r042`` for ``random_urdfs/042/042.urdf``); the id names the output folder and the
``<view>_<id>_*`` files. With ``--object-dir`` every ``*.urdf`` and ``*.obj`` file under the
folder (sorted by path, an OBJ that a URDF beside it already uses is skipped) is an object whose
id is its file stem with every character other than letters, digits and ``-`` replaced by ``-``
(Jacquard-style loaders split ``<view>_<id>`` at the first underscore, so ids carry none).

Procedural shapes (:mod:`simulation.shapes`: boxes, plates, bars, cylinders, discs, capsules,
convex superquadrics, L/T compounds): shape ``n`` (0..499) has the stable id ``sNNN`` and the
catalogue index ``SHAPE_INDEX_OFFSET + n`` (1000 + n), so its index differs from every random_urdfs
object's (the index seeds the generator's per-object randomness) and ``index % 10 == n % 10``: the
held-out shapes are s000, s010, ..., s490. :func:`list_objects` with ``shapes='procedural'`` lists
them, ``'both'`` lists random_urdfs and then them; the default ``'random_urdfs'`` is unchanged.
``shapes='thin'`` lists the thin shapes (rods and rod frames) s500..s599 (indices 1500..1599,
held out: s500, s510, ..., s590), a catalogue of their own so that the others draw as before.

Held-out objects: the object at catalogue index ``i`` is held out when ``i % 10 == 0``. For
random_urdfs that is :data:`HELDOUT_OBJECT_IDS` = ``r000, r010, ..., r990`` (100 objects,
:data:`HELDOUT_INDICES`). They never appear in data generated with ``--split train`` and are
the only ones used with ``--split heldout``, and the simulated cameras show only them
(:func:`heldout_path`, :func:`parse_object_ids`), so a network trained on generated data is
tested on objects it never saw. :func:`heldout_indices` lists the held-out objects of a
catalogue (random_urdfs, the procedural shapes s000, s010, ..., s490, or both) and
:func:`heldout_path` finds either kind's model file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
import re
from typing import List, Optional, Sequence, Tuple

import numpy as np

#: Number of objects in pybullet_data/random_urdfs.
RANDOM_URDF_COUNT = 1000

#: Every tenth catalogue index is held out (the rule applies to ``--object-dir`` too).
HELDOUT_EVERY = 10

#: The catalogue indices of the held-out random_urdfs objects (0, 10, ..., 990).
HELDOUT_INDICES: Tuple[int, ...] = tuple(range(0, RANDOM_URDF_COUNT, HELDOUT_EVERY))

#: The held-out objects of random_urdfs, by stable id (index % 10 == 0: 100 objects).
HELDOUT_OBJECT_IDS: Tuple[str, ...] = tuple(f'r{i:03d}' for i in HELDOUT_INDICES)

SPLITS = ('train', 'heldout', 'all')

#: Catalogues :func:`list_objects` can list: pybullet's random_urdfs, the procedural shapes, both,
#: or the thin procedural shapes (rods and rod frames).
SHAPE_SOURCES = ('random_urdfs', 'procedural', 'both', 'thin')

#: Catalogue index of procedural shape 0 (a multiple of HELDOUT_EVERY: the held-out rule holds).
SHAPE_INDEX_OFFSET = RANDOM_URDF_COUNT

_UNSAFE = re.compile(r'[^A-Za-z0-9-]')


@dataclass(frozen=True)
class ObjectSpec:
    """One object of the catalogue: its index (seeds its RNG), stable id and model file."""

    index: int
    object_id: str
    path: str

    @property
    def heldout(self) -> bool:
        return is_heldout_index(self.index)


def is_heldout_index(index: int) -> bool:
    """Whether the object at catalogue index ``index`` belongs to the held-out split."""
    return index % HELDOUT_EVERY == 0


def is_thin_index(index: int) -> bool:
    """Whether catalogue index ``index`` is a thin procedural shape (s500..s599: rods, frames)."""
    from simulation.shapes import THIN_SHAPE_COUNT, THIN_SHAPE_START
    start = SHAPE_INDEX_OFFSET + THIN_SHAPE_START
    return start <= index < start + THIN_SHAPE_COUNT


def check_heldout(index: int) -> None:
    """Raise ValueError unless ``index`` is a held-out random_urdfs object (0..999, % 10 == 0)."""
    if not 0 <= index < RANDOM_URDF_COUNT or not is_heldout_index(index):
        raise ValueError(f'object {index} is not a held-out object (held out: index % '
                         f'{HELDOUT_EVERY} == 0, 0..{RANDOM_URDF_COUNT - 1})')


def random_urdf_dir() -> Path:
    """pybullet_data's random_urdfs folder (imported lazily: pybullet prints on import)."""
    import pybullet_data
    return Path(pybullet_data.getDataPath()) / 'random_urdfs'


def random_urdf_path(index: int) -> str:
    """The URDF file of random_urdfs object ``index`` (``.../random_urdfs/NNN/NNN.urdf``)."""
    return str(random_urdf_dir() / f'{index:03d}' / f'{index:03d}.urdf')


def heldout_path(index: int) -> str:
    """The URDF of held-out object ``index``: random_urdfs ``index`` or, from
    SHAPE_INDEX_OFFSET, procedural shape ``index - SHAPE_INDEX_OFFSET`` (its URDF written to
    the shape cache if not there); ValueError for an index that is not held out."""
    if index >= SHAPE_INDEX_OFFSET:
        from simulation.shapes import shape_urdf, THIN_SHAPE_COUNT, THIN_SHAPE_START
        number = index - SHAPE_INDEX_OFFSET
        if number >= THIN_SHAPE_START + THIN_SHAPE_COUNT or not is_heldout_index(index):
            raise ValueError(f'object {index} is not a held-out procedural shape (s000, s010, '
                             f'... = {SHAPE_INDEX_OFFSET}, {SHAPE_INDEX_OFFSET + HELDOUT_EVERY}, '
                             '...)')
        return shape_urdf(number)
    check_heldout(index)
    return random_urdf_path(index)


def heldout_indices(shapes: str = 'random_urdfs') -> Tuple[int, ...]:
    """Catalogue indices of the held-out objects of ``shapes`` (one of SHAPE_SOURCES):
    HELDOUT_INDICES (r000, r010, ...), the held-out procedural shapes (s000, s010, ...: indices
    SHAPE_INDEX_OFFSET, + 10, ...), or both interleaved (r000, s000, r010, s010, ..., then the
    remaining random_urdfs), so that the first N of ``'both'`` mix the catalogues."""
    if shapes not in SHAPE_SOURCES:
        raise ValueError(f'shapes must be one of {SHAPE_SOURCES}, got {shapes!r}')
    from simulation.shapes import SHAPE_COUNT, THIN_SHAPE_COUNT, THIN_SHAPE_START
    procedural = tuple(range(SHAPE_INDEX_OFFSET, SHAPE_INDEX_OFFSET + SHAPE_COUNT, HELDOUT_EVERY))
    if shapes == 'thin':
        start = SHAPE_INDEX_OFFSET + THIN_SHAPE_START
        return tuple(range(start, start + THIN_SHAPE_COUNT, HELDOUT_EVERY))
    if shapes == 'random_urdfs':
        return HELDOUT_INDICES
    if shapes == 'procedural':
        return procedural
    mixed = [i for pair in zip(HELDOUT_INDICES, procedural) for i in pair]
    return tuple(mixed + list(HELDOUT_INDICES[len(procedural):]))


def object_id(index: int) -> str:
    """The stable id of catalogue index ``index``: ``rNNN`` (random_urdfs) or ``sNNN``
    (procedural shapes, from SHAPE_INDEX_OFFSET)."""
    if index >= SHAPE_INDEX_OFFSET:
        return f's{index - SHAPE_INDEX_OFFSET:03d}'
    return f'r{index:03d}'


def parse_object_ids(text: str) -> List[int]:
    """``'r010, 250'`` -> ``[10, 250]``: held-out objects by id (rNNN) or catalogue index.

    Items are separated by commas or semicolons; blank items are skipped. Raises ValueError for
    an item that is not ``rNNN``/``NNN`` or names an object that is not held out.
    """
    ids = []
    for item in text.replace(';', ',').split(','):
        item = item.strip().lower()
        if not item:
            continue
        number = item[1:] if item.startswith('r') else item
        if not number.isdigit():
            raise ValueError(f'bad object id {item!r}: use rNNN or NNN')
        index = int(number)
        check_heldout(index)
        ids.append(index)
    return ids


def list_shapes(cache_dir: Optional[str] = None, thin: bool = False) -> List[ObjectSpec]:
    """The procedural shapes s000..s499 (``thin``: the thin shapes s500..s599), index
    SHAPE_INDEX_OFFSET + n, their URDFs written into ``cache_dir`` (default:
    :func:`simulation.shapes.default_cache_dir`) if not there."""
    from simulation.shapes import shape_urdf, SHAPE_COUNT, THIN_SHAPE_COUNT, THIN_SHAPE_START
    numbers = (range(THIN_SHAPE_START, THIN_SHAPE_START + THIN_SHAPE_COUNT) if thin
               else range(SHAPE_COUNT))
    return [ObjectSpec(SHAPE_INDEX_OFFSET + n, f's{n:03d}', shape_urdf(n, cache_dir))
            for n in numbers]


def list_objects(object_dir: Optional[str] = None, shapes: str = 'random_urdfs',
                 shape_dir: Optional[str] = None) -> List[ObjectSpec]:
    """The full catalogue, ordered by index: random_urdfs, or the URDF/OBJ files of a folder;
    ``shapes`` (one of SHAPE_SOURCES) replaces random_urdfs by the procedural shapes
    (``'procedural'``, files in ``shape_dir``), adds them (``'both'``) or replaces it by the
    thin shapes (``'thin'``).

    Raises FileNotFoundError when random_urdfs is incomplete, ``object_dir`` is not a folder or
    holds no model file; ValueError for an unknown ``shapes`` or shapes with ``object_dir``.
    """
    if shapes not in SHAPE_SOURCES:
        raise ValueError(f'shapes must be one of {SHAPE_SOURCES}, got {shapes!r}')
    if shapes != 'random_urdfs':
        if object_dir is not None:
            raise ValueError('procedural shapes cannot be combined with an object folder')
        return ((list_objects() if shapes == 'both' else [])
                + list_shapes(shape_dir, thin=shapes == 'thin'))
    if object_dir is None:
        specs = [ObjectSpec(i, f'r{i:03d}', random_urdf_path(i))
                 for i in range(RANDOM_URDF_COUNT)]
        missing = [s.path for s in specs if not Path(s.path).is_file()]
        if missing:
            raise FileNotFoundError(f'pybullet_data random_urdfs is incomplete, e.g. {missing[0]}')
        return specs
    root = Path(object_dir)
    if not root.is_dir():
        raise FileNotFoundError(f'--object-dir {root} is not a folder')
    urdfs = sorted(root.rglob('*.urdf'))
    # A URDF usually references an OBJ beside it; that OBJ is the same object, not another one.
    used = {p.with_suffix('.obj') for p in urdfs}
    files = sorted(urdfs + [p for p in root.rglob('*.obj') if p not in used])
    if not files:
        raise FileNotFoundError(f'no *.urdf or *.obj files under --object-dir {root}')
    specs = []
    seen = set()
    for index, path in enumerate(files):
        object_id = _UNSAFE.sub('-', path.stem) or f'o{index:04d}'
        if object_id in seen:  # same stem in two sub-folders: keep both, distinctly named
            object_id = f'{object_id}-{index:04d}'
        seen.add(object_id)
        specs.append(ObjectSpec(index, object_id, str(path)))
    return specs


def select_objects(catalogue: Sequence[ObjectSpec], split: str, count: Optional[int],
                   seed: int) -> List[ObjectSpec]:
    """Pick ``count`` objects of ``split`` (all of them when ``count`` is None), sorted by index.

    The choice is a seeded permutation of the split, so a larger ``count`` with the same seed
    gives a superset of the objects of a smaller one (a dataset can be grown, not redrawn).
    Raises ValueError for an unknown ``split`` or a negative ``count``.
    """
    if split not in SPLITS:
        raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
    pool = [s for s in catalogue
            if split == 'all' or (s.heldout == (split == 'heldout'))]
    if count is None or count >= len(pool):
        return list(pool)
    if count < 0:
        raise ValueError(f'object count must be >= 0, got {count}')
    order = np.random.default_rng([int(seed), 0x5E1EC7]).permutation(len(pool))
    return sorted((pool[i] for i in order[:count]), key=lambda s: s.index)
