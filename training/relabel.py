"""``python -m training relabel``: keep only the antipodal grasp labels of a synthetic data set.

Writes a new data set (the source is never changed): for every view, the grasps whose closing
axis lies within ``--cone`` degrees of the object outline's normal at both contacts
(:mod:`training.synth.antipodal`), and symbolic links to the view's images. Views left with
no grasp are dropped (an image without labels would teach "no grasp here"). Prints and saves
``relabel.json`` (labels and views kept).

With ``--keep-every-object``, an object whose labels all fail the cone keeps its best ones
(antipodal error within ``--cone`` of its smallest): in a clutter view the filter would
otherwise strip one object of every label while its neighbours keep theirs, and the network
would learn that it is not graspable. An "object" is a connected part of the view's mask (the
synthetic clutter mask is the union of the objects, so touching objects count as one).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from training.jacquard import read_jacquard_grasps
from training.samples import find_files
from training.synth.antipodal import (
    angles_from_minor_axis_deg, antipodal_errors_deg, NO_CONTACT_DEG)
from training.synth.writer import format_grasp

GRASPS_SUFFIX = '_grasps.txt'
LINKED_SUFFIXES = ('_RGB.png', '_perfect_depth.tiff', '_stereo_depth.tiff', '_mask.png')


class RelabelError(RuntimeError):
    """The source is not a data set this command can relabel."""


def keep_mask(errors: np.ndarray, components: np.ndarray, cone_deg: float,
              every_object: bool) -> np.ndarray:
    """Which labels to keep, shape (N,) bool.

    ``errors``: antipodal error of each label in degrees, shape (N,); ``components``: the
    connected part of the mask under each label's centre, shape (N,) int (0 = background).
    With ``every_object``, a part none of whose labels is within ``cone_deg`` keeps those
    within ``cone_deg`` of its smallest error (never labels centred off the mask)."""
    keep = errors <= cone_deg
    if not every_object:
        return keep
    for part in np.unique(components[components > 0]):
        mine = components == part
        if not keep[mine].any():
            keep |= mine & (errors <= errors[mine].min() + cone_deg) & (errors < NO_CONTACT_DEG)
    return keep


def label_components(grasps, mask: np.ndarray) -> np.ndarray:
    """The connected part of ``mask`` (8-connected, cv2) under each grasp centre; 0 = off."""
    _, parts = cv2.connectedComponents((np.asarray(mask) > 0).astype(np.uint8), connectivity=8)
    h, w = parts.shape
    return np.array([parts[min(max(int(round(g.row)), 0), h - 1),
                           min(max(int(round(g.col)), 0), w - 1)] for g in grasps], dtype=int)


def relabel(source: Path, out: Path, cone_deg: float, progress: bool = True,
            every_object: bool = False) -> dict:
    """Filter every view of ``source`` into ``out``; return the summary.

    ``every_object``: see the module docstring (``--keep-every-object``)."""
    source, out = Path(source).resolve(), Path(out)
    if out.resolve() == source:
        raise RelabelError('--out must differ from --data: the source is never changed')
    files = find_files(source, GRASPS_SUFFIX)
    if not files:
        raise RelabelError(f'no *{GRASPS_SUFFIX} files under {source}')
    kept_labels = total_labels = kept_views = widened_labels = 0
    dropped_views = []
    off_axis = {'before': [], 'after': []}  # elongated views: label angles from "across"
    for grasp_file in tqdm(files, desc='relabel', unit='view', disable=not progress):
        stem = grasp_file.name[:-len(GRASPS_SUFFIX)]
        mask_file = grasp_file.with_name(stem + '_mask.png')
        mask = cv2.imread(str(mask_file), cv2.IMREAD_UNCHANGED)
        if mask is None:
            raise RelabelError(f'{mask_file}: missing or unreadable (the check needs the mask)')
        grasps = read_jacquard_grasps(grasp_file)
        errors = antipodal_errors_deg(grasps, mask)
        keep = keep_mask(errors, label_components(grasps, mask), cone_deg, every_object)
        widened_labels += int(np.sum(keep & (errors > cone_deg)))
        kept = [g for g, k in zip(grasps, keep) if k]
        angles = angles_from_minor_axis_deg(grasps, mask)
        if angles is not None:
            off_axis['before'].extend(angles)
            off_axis['after'].extend(angles[keep])
        total_labels += len(grasps)
        # The source's folder layout is kept (nested data sets, e.g. single/ and clutter/,
        # may hold views of the same name).
        relative = grasp_file.parent.relative_to(source)
        if not kept:
            dropped_views.append(f'{relative.as_posix()}/{stem}')
            continue
        kept_labels += len(kept)
        kept_views += 1
        folder = out / relative
        folder.mkdir(parents=True, exist_ok=True)
        for suffix in LINKED_SUFFIXES:
            target = grasp_file.with_name(stem + suffix)
            link = folder / (stem + suffix)
            if target.exists() and not link.exists():
                os.symlink(target, link)
        (folder / (stem + GRASPS_SUFFIX)).write_text(
            ''.join(format_grasp(g) + '\n' for g in kept), encoding='utf-8')
    summary = {
        'source': str(source), 'cone_deg': cone_deg, 'keep_every_object': every_object,
        'labels_kept_beyond_cone': widened_labels,
        'views': len(files), 'views_kept': kept_views, 'views_dropped': dropped_views,
        'labels': total_labels, 'labels_kept': kept_labels,
        'labels_kept_share': round(kept_labels / max(total_labels, 1), 4),
        'elongated_labels': len(off_axis['before']),
    }
    for when, angles in off_axis.items():  # share more than 15 / 30 degrees from across
        for limit in (15, 30):
            summary[f'elongated_over_{limit}deg_{when}'] = (
                round(float(np.mean(np.asarray(angles) > limit)), 4) if angles else None)
    out.mkdir(parents=True, exist_ok=True)
    (out / 'relabel.json').write_text(json.dumps(summary, indent=1))
    return summary


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        'relabel', help='keep only antipodal grasp labels (new data set of links)',
        description=__doc__.split('\n\n', 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data', required=True, type=Path,
                        help='source data set (DIR/<object>/<view>_<object>_grasps.txt + mask)')
    parser.add_argument('--out', required=True, type=Path, help='new data set folder')
    parser.add_argument('--cone', type=float, default=15.0,
                        help='largest angle in degrees between the closing axis and the '
                             "outline's normal at either contact (default 15)")
    parser.add_argument('--keep-every-object', action='store_true',
                        help='an object (connected part of the mask) whose labels all fail '
                             'the cone keeps those within --cone of its best one, so no '
                             'object of a clutter view loses every label')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    if not 0.0 < args.cone <= 90.0:
        print('error: --cone must be in (0, 90] degrees')
        return 2
    try:
        summary = relabel(args.data, args.out, args.cone, progress=not args.quiet,
                          every_object=args.keep_every_object)
    except (RelabelError, ValueError) as exc:
        print(f'error: {exc}')
        return 2
    print(f'kept {summary["labels_kept"]} of {summary["labels"]} labels '
          f'({100 * summary["labels_kept_share"]:.1f}%) within {args.cone:g} deg; '
          f'{summary["views_kept"]} of {summary["views"]} views '
          f'({len(summary["views_dropped"])} left without labels dropped) -> {args.out}')
    if args.keep_every_object:
        print(f'{summary["labels_kept_beyond_cone"]} of the kept labels are beyond the cone: '
              'the best of objects that had none within it')
    if summary['elongated_labels']:
        print(f'on elongated objects (mask aspect >= 2, {summary["elongated_labels"]} labels): '
              f'more than 15 deg from across '
              f'{100 * summary["elongated_over_15deg_before"]:.0f}% before, '
              f'{100 * summary["elongated_over_15deg_after"]:.0f}% after; more than 30 deg '
              f'{100 * summary["elongated_over_30deg_before"]:.0f}% before, '
              f'{100 * summary["elongated_over_30deg_after"]:.0f}% after')
    return 0 if summary['views_kept'] else 1
