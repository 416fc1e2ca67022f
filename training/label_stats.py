"""``python -m training label-stats``: what a Jacquard/Cornell-format label set looks like.

Per data set: views, objects, grasps per view and per object, the labelled openings and jaw
sizes in pixels and relative to the image's shorter side (median, p10, p90), and, where the
views have object masks, the **opening relative to the object's extent at the grasp**: the
chord of the mask through the grasp centre along the closing axis (the contiguous run of mask
pixels that holds the centre). That ratio shows a label set's width convention directly: near
1 (plus a clearance) when the opening follows the object's width at the grasp, as Jacquard's
labels do; larger and more spread when it is the gripper's opening before closing (a pre-grasp
opening, up to the gripper's maximum). Grasp centres off the mask (e.g. a grasp across both
bars of a rack) are counted and left out of the ratio.

Give several ``--data`` roots to see them side by side. Labels and masks are read with the
shared readers (:func:`training.formats.find_samples`, :func:`training.formats.read_grasps`,
:func:`training.samples.read_mask`); the RGB image is decoded only for its size when a view has
no mask.
"""

from __future__ import annotations

import argparse
from collections import Counter
import json
from pathlib import Path
import sys
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from tqdm import tqdm

from mtg_grasp_ros.grasp import Grasp
from training.formats import find_samples, read_grasps
from training.samples import DatasetError, read_mask, read_rgb

#: Sampling step along the closing axis when measuring a chord, in pixels.
CHORD_STEP_PX = 0.5
#: Grasps measured at once (bounds the (grasps x steps) sample array).
_CHUNK = 256


def mask_chords(grasps: Sequence[Grasp], mask: np.ndarray,
                step: float = CHORD_STEP_PX) -> np.ndarray:
    """Length in px of the mask's chord through each grasp centre along its closing axis.

    ``mask`` is (H, W) bool in the grasps' pixels. From the centre (rounded to the nearest
    pixel when sampling) the line is walked both ways in ``step`` px until it leaves the mask
    or the image; each end is put half a step before the first sample off the mask, so a run of
    ``n`` mask pixels along a row measures ``n`` px (within ``step``). Returns (G,) float64;
    NaN where the centre itself is off the mask (no object there to measure).
    """
    mask = np.asarray(mask, dtype=bool)
    height, width = mask.shape
    out = np.full(len(grasps), np.nan)
    if not len(grasps):
        return out
    reach = float(np.hypot(height, width)) + 2.0 * step
    t = np.arange(0.0, reach, step)
    for start in range(0, len(grasps), _CHUNK):
        chunk = grasps[start:start + _CHUNK]
        rows = np.array([g.row for g in chunk])[:, None]
        cols = np.array([g.col for g in chunk])[:, None]
        axis = np.array([g.closing_axis for g in chunk])  # (G, 2): (d_row, d_col)
        ends = []
        for sign in (1.0, -1.0):
            r = np.rint(rows + sign * t * axis[:, :1]).astype(np.int64)
            c = np.rint(cols + sign * t * axis[:, 1:]).astype(np.int64)
            inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
            on = np.zeros(r.shape, bool)
            on[inside] = mask[r[inside], c[inside]]
            first_off = np.argmin(on, axis=1)  # the walk always ends off the image
            ends.append(first_off * step - 0.5 * step)
        centre_on = np.array([_on_mask(g, mask) for g in chunk])
        out[start:start + len(chunk)] = np.where(centre_on, ends[0] + ends[1], np.nan)
    return out


def _on_mask(grasp: Grasp, mask: np.ndarray) -> bool:
    row, col = int(np.rint(grasp.row)), int(np.rint(grasp.col))
    return 0 <= row < mask.shape[0] and 0 <= col < mask.shape[1] and bool(mask[row, col])


def spread(values: Sequence[float], digits: int = 4) -> Dict[str, Any]:
    """``n``, ``median``, ``p10``, ``p90`` and ``mean`` of ``values`` (None figures if empty)."""
    values = np.asarray([v for v in values if np.isfinite(v)], dtype=np.float64)
    if not values.size:
        return {'n': 0, 'median': None, 'p10': None, 'p90': None, 'mean': None}
    p10, median, p90 = np.percentile(values, [10, 50, 90])
    return {'n': int(values.size), 'median': round(float(median), digits),
            'p10': round(float(p10), digits), 'p90': round(float(p90), digits),
            'mean': round(float(values.mean()), digits)}


def label_stats(root, fmt: str = 'auto', limit: Optional[int] = None,
                progress: bool = True) -> Dict[str, Any]:
    """Statistics of the label set under ``root`` (Jacquard or Cornell layout).

    Returns ``views``, ``objects``, ``grasps``, ``grasps_per_view`` / ``grasps_per_object``,
    ``opening_px``, ``opening_rel``, ``jaw_px``, ``jaw_rel`` (relative to each view's shorter
    image side), ``image_side_px``, ``views_with_mask`` and, over the grasps of masked views,
    ``chord_px``, ``opening_over_chord`` and ``centre_off_mask`` (grasps whose centre is not on
    the mask, left out of the ratio); each spread is :func:`spread`'s dict. ``limit`` reads the
    first N views only. Raises :class:`training.samples.DatasetError` for a missing root or an
    unreadable file (the message names it).
    """
    files = list(find_samples(root, fmt))
    if limit:
        files = files[:limit]
    per_view, per_object = [], Counter()
    openings, jaws, sides = [], [], []
    openings_rel, jaws_rel, chords, ratios = [], [], [], []
    masked_views, off_mask = 0, 0
    for item in tqdm(files, desc=f'label-stats {Path(root).name}', unit='view',
                     disable=not progress):
        grasps = read_grasps(item)
        mask = read_mask(item.mask) if item.mask is not None else None
        shape = mask.shape if mask is not None else read_rgb(item.rgb).shape[:2]
        side = float(min(shape))
        per_view.append(len(grasps))
        per_object[item.object_id] += len(grasps)
        sides.append(side)
        for g in grasps:
            openings.append(g.width)
            jaws.append(g.jaw_size)
            openings_rel.append(g.width / side)
            jaws_rel.append(g.jaw_size / side)
        if mask is not None:
            masked_views += 1
            chord = mask_chords(grasps, mask)
            off_mask += int(np.isnan(chord).sum())
            measured = ~np.isnan(chord) & (chord > 0)
            chords.extend(chord[measured].tolist())
            ratios.extend((np.array([g.width for g in grasps])[measured]
                           / chord[measured]).tolist())
    return {'data': str(root), 'views': len(files), 'objects': len(per_object),
            'grasps': int(sum(per_view)), 'grasps_per_view': spread(per_view, 2),
            'grasps_per_object': spread(list(per_object.values()), 2),
            'image_side_px': spread(sides, 1),
            'opening_px': spread(openings, 2), 'opening_rel': spread(openings_rel),
            'jaw_px': spread(jaws, 2), 'jaw_rel': spread(jaws_rel),
            'views_with_mask': masked_views, 'centre_off_mask': off_mask,
            'chord_px': spread(chords, 2), 'opening_over_chord': spread(ratios)}


#: The rows of the printed table: (label, key); spreads print as median [p10, p90].
_ROWS = (('views', 'views'), ('objects', 'objects'), ('grasps', 'grasps'),
         ('image side px', 'image_side_px'),
         ('grasps per view', 'grasps_per_view'), ('grasps per object', 'grasps_per_object'),
         ('opening px', 'opening_px'), ('opening / side', 'opening_rel'),
         ('jaw px', 'jaw_px'), ('jaw / side', 'jaw_rel'),
         ('views with mask', 'views_with_mask'),
         ('grasp centre off mask', 'centre_off_mask'),
         ('mask chord px', 'chord_px'), ('opening / chord', 'opening_over_chord'))


def format_table(results: List[Dict[str, Any]]) -> str:
    """The figures of one or more :func:`label_stats` results side by side, one column each;
    spreads as ``median [p10, p90]``."""
    def number(x: float) -> str:
        return f'{x:.0f}' if abs(x) >= 100 else f'{x:.3g}'

    def cell(value) -> str:
        if isinstance(value, dict):
            if value['median'] is None:
                return '-'
            return f'{number(value["median"])} [{number(value["p10"])}, {number(value["p90"])}]'
        return str(value)

    header = ['', *[Path(r['data']).name or r['data'] for r in results]]
    rows = [header] + [[label, *[cell(r[key]) for r in results]] for label, key in _ROWS]
    widths = [max(len(row[k]) for row in rows) for k in range(len(header))]
    lines = ['  '.join(text.ljust(w) for text, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, '  '.join('-' * w for w in widths))
    return '\n'.join(lines)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        'label-stats', help='statistics of a Jacquard/Cornell label set (openings, widths)',
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data', required=True, nargs='+', type=Path,
                        help='dataset root(s); several print side by side')
    parser.add_argument('--format', default='auto', help='dataset format: auto, jacquard, cornell')
    parser.add_argument('--limit', type=int, default=None,
                        help='read only the first N views of each root')
    parser.add_argument('--json', type=Path, default=None,
                        help='write the figures as JSON (a list, one entry per root)')
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        results = [label_stats(root, args.format, args.limit) for root in args.data]
    except DatasetError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    print(format_table(results))
    print('spreads: median [p10, p90]; side = the shorter image side; chord = the object '
          "mask's extent through the grasp centre along the closing axis")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1) + '\n')
        print(f'wrote {args.json}')
    return 0
