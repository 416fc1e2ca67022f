"""``python -m training grasp-bench``: do the grasps lift the objects, in physics?

scene-eval checks that the node's grasp lies on the object and across it; this command
executes the grasps like a robot and counts what is lifted. A pybullet gripper (opening up to
--max-opening, 12 cm; jaws --jaw-size, 2 cm) starts above the scene, descends until it
touches something or reaches the commanded height, closes, lifts 10 cm and shakes; a grasp
succeeds when an object is held off the table (simulation/grasp_execution.py). Planners, each
seeing the same rendered 640x480 frames of the simulated camera (held-out objects only):

  node       the grasp node's pipeline on --model (node defaults, object_height from
             --object-height), opening = the published opening + --opening-margin (2 cm:
             the controller's clearance, the same as the baseline's)
  baseline   image-only geometry: the largest colour blob that differs from the table, its
             centroid, closing across its minor axis, opening = its extent + 2 cm
  lookahead  the ceiling, "what the physics allows": tries up to --candidates grasps sampled
             on the objects from ground truth in a saved copy of the world and keeps the
             first that lifts

Scenes: isolated (each of the first --objects held-out objects, --seeds drops each, one
attempt) and clutter (--clutter-scenes scenes of --clutter-objects objects, clearance
protocol: grasp, put away what was lifted, re-render, re-plan; stop when the table is clear,
after --max-failures failures in a row or after 2 x objects + max-failures attempts). The
objects come from --object-set (random_urdfs blobs, procedural shapes, both, or the thin
procedural shapes: rods and rod frames); --table
textured gives every scene a random textured support and random object colours and textures
(drawn from the scene's seed: every planner sees the same frames), plain the light flat table.

Printed per planner: isolated success, clutter clearance (objects lifted / objects),
attempts per cleared object, failure reasons (below_min_quality / no_blob / nothing_lifts: the
planner gave no grasp; off_object: centre over 1 cm from every object; jaw_on_neighbour /
jaw_on_target: the descent stopped on another object / on the target; above_object: fingertips
at or above the object's top; empty: closed on nothing; dropped; slipped), failures repeated on
the same object, failures on objects cut by the image edge, and wall time. --json writes every
attempt. Protocol details: docs/grasp_bench.md.
"""

from __future__ import annotations

import argparse
from collections import Counter
import json
from pathlib import Path
import sys
import time

from tqdm import tqdm

from mtg_grasp_ros.backends import BACKENDS, PRECISIONS
from mtg_grasp_ros.pipeline import PipelineConfig
from simulation.objects import heldout_indices, SHAPE_SOURCES
from simulation.planners import DEFAULT_MARGIN, DEFAULT_OBJECT_HEIGHT
from simulation.tabletop import TABLES
from training.predict import add_jaws_outside_view_option

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = ROOT / 'models' / 'mtgcnn_depth_p'
PLANNERS = ('node', 'baseline', 'lookahead')


def build_planners(args: argparse.Namespace) -> list:
    """The planners named by ``args.planners``, in that order."""
    from simulation.lookahead import LookaheadPlanner
    from simulation.planners import BlobPlanner, NodePlanner

    made = []
    for name in args.planners:
        if name == 'node':
            made.append(NodePlanner(args.model, object_height=args.object_height,
                                    backend=args.backend, precision=args.precision,
                                    opening_margin=args.opening_margin,
                                    jaws_outside_view=args.jaws_outside_view,
                                    centring_fraction=args.centring_fraction,
                                    jaw_clearance=args.jaw_clearance,
                                    clearance_fraction=args.clearance_fraction,
                                    max_opening=args.node_max_opening))
        elif name == 'baseline':
            made.append(BlobPlanner(object_height=args.object_height))
        else:
            made.append(LookaheadPlanner(candidates=args.candidates))
    return made


def run_scenes(args: argparse.Namespace, planners: list) -> dict:
    """Every scene for every planner: ``{'isolated': [...], 'clutter': [...], 'seconds':
    {planner: s}, 'skipped': n}``; each scene entry has its planner's clearance record."""
    from simulation.clearance import clear_table, clutter_scene, isolated_scene
    from simulation.grasp_execution import GraspExecutor
    from simulation.tabletop import SimulatedScene

    out = {'isolated': [], 'clutter': [], 'skipped': 0, 'clutter_in_view': 0,
           'seconds': {p.name: 0.0 for p in planners}}
    jobs = ([('isolated', i, s) for i in heldout_indices(args.object_set)[:args.objects]
             for s in range(args.seeds)]
            + [('clutter', None, s) for s in range(args.clutter_scenes)])
    with SimulatedScene(objects=args.clutter_objects, object_size=tuple(args.clutter_size),
                        object_set=args.object_set, table=args.table) as scene:
        executor = GraspExecutor(scene.world, max_opening=args.max_opening,
                                 jaw_size=args.jaw_size)
        p, c = scene.p, scene.client
        for kind, index, seed in tqdm(jobs, desc='scenes', unit='scene',
                                      disable=args.quiet):
            if kind == 'isolated':
                if not isolated_scene(scene, index, seed):
                    out['skipped'] += 1
                    continue
                in_view = True
            else:
                in_view = clutter_scene(scene, seed)
                out['clutter_in_view'] += int(in_view)
            state = p.saveState(physicsClientId=c)
            try:
                for planner in planners:
                    p.restoreState(stateId=state, physicsClientId=c)
                    scene.update_truth()
                    if hasattr(planner, 'reseed'):
                        planner.reseed(seed * 1000 + (index or 0))
                    start = time.perf_counter()
                    result = clear_table(scene, executor, planner,
                                         max_failures=args.max_failures,
                                         avoid_failed=args.avoid_failed,
                                         max_attempts=1 if kind == 'isolated' else None)
                    out['seconds'][planner.name] += time.perf_counter() - start
                    out[kind].append({'planner': planner.name, 'seed': seed,
                                      'object_ids': [o.object_id for o in scene.objects],
                                      'all_in_view': in_view, **result})
            finally:
                p.removeState(state, physicsClientId=c)
    return out


def repeated_failures(attempts: list) -> int:
    """Failed attempts aimed at the same object as the failed attempt just before them."""
    count = 0
    for before, now in zip(attempts, attempts[1:]):
        if (not before['success'] and not now['success'] and now.get('target') is not None
                and now.get('target') == before.get('target')):
            count += 1
    return count


def summarise(out: dict, names: list) -> dict:
    """Per planner: isolated successes/drops, clutter cleared/objects, attempts, failure
    reason counts (isolated and clutter apart), clutter failures repeated on the same object
    and failures on objects cut by the image edge, look-ahead tries and seconds."""
    summary = {}
    for name in names:
        iso = [r for r in out['isolated'] if r['planner'] == name]
        clu = [r for r in out['clutter'] if r['planner'] == name]
        clu_attempts = [a for r in clu for a in r['attempts']]
        cleared = sum(r['cleared'] for r in clu)
        summary[name] = {
            'isolated_drops': len(iso), 'isolated_success': sum(r['cleared'] for r in iso),
            'clutter_objects': sum(r['objects'] for r in clu), 'clutter_cleared': cleared,
            'clutter_attempts': len(clu_attempts),
            'attempts_per_cleared': len(clu_attempts) / cleared if cleared else None,
            'isolated_failures': dict(Counter(a['failure'] for r in iso for a in r['attempts']
                                              if not a['success'])),
            'clutter_failures': dict(Counter(a['failure'] for a in clu_attempts
                                             if not a['success'])),
            'clutter_repeats': sum(repeated_failures(r['attempts']) for r in clu),
            'failures_on_cut_objects': sum(
                1 for r in iso + clu for a in r['attempts']
                if not a['success'] and a.get('target_in_view') is False),
            'tries': sum(a['tries'] for r in iso + clu for a in r['attempts']),
            'seconds': round(out['seconds'].get(name, 0.0), 1)}
    return summary


def _pct(a: int, b: int) -> str:
    return f'{a}/{b} {100.0 * a / b:5.1f}%' if b else '-'


def print_table(summary: dict) -> None:
    """The per-planner table and failure reasons."""
    print(f'{"planner":<10} {"isolated success":>17} {"clutter cleared":>17} '
          f'{"attempts/cleared":>17} {"time":>8}')
    for name, s in summary.items():
        per = s['attempts_per_cleared']
        print(f'{name:<10} {_pct(s["isolated_success"], s["isolated_drops"]):>17} '
              f'{_pct(s["clutter_cleared"], s["clutter_objects"]):>17} '
              f'{(f"{per:.2f}" if per is not None else "-"):>17} {s["seconds"]:>7.1f}s')
    for name, s in summary.items():
        iso = ', '.join(f'{k} {v}' for k, v in sorted(s['isolated_failures'].items()))
        clu = ', '.join(f'{k} {v}' for k, v in sorted(s['clutter_failures'].items()))
        print(f'{name} failures: isolated [{iso or "none"}]; clutter [{clu or "none"}]; '
              f'{s["clutter_repeats"]} repeated on the same object, '
              f'{s["failures_on_cut_objects"]} on objects cut by the image edge'
              + (f'; {s["tries"]} trial executions' if s['tries'] else ''))


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``grasp-bench`` sub-command to ``python -m training``."""
    parser = subparsers.add_parser(
        'grasp-bench', help='physical grasp benchmark: node vs baseline vs look-ahead ceiling '
                            '(pybullet, held-out objects)',
        description=__doc__.split('\n\n', 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', type=Path, default=DEFAULT_MODEL,
                        help='deploy model of the node planner (default models/mtgcnn_depth_p)')
    parser.add_argument('--objects', type=int, default=10,
                        help='isolated scenes: the first N held-out objects of --object-set '
                             '(r000, r010, ...; s000, s010, ...; both: r000, s000, r010, ...; '
                             'default 10; 0 = none)')
    parser.add_argument('--object-set', default='random_urdfs', choices=SHAPE_SOURCES,
                        help='catalogue of the held-out objects: random_urdfs blobs (default), '
                             'the procedural shapes (boxes, cylinders, plates, ...), both, or '
                             'thin (rods and rod frames, s500, s510, ...)')
    parser.add_argument('--table', default='plain', choices=TABLES,
                        help='plain: the light flat table (default); textured: every scene '
                             'draws a random rich support texture (photo or procedural) at its '
                             'true size and random object colours and textures, painted on the '
                             'frames as the data generator paints its views')
    parser.add_argument('--seeds', type=int, default=2, help='drops per object (default 2)')
    parser.add_argument('--clutter-scenes', type=int, default=3,
                        help='clutter scenes (default 3; 0 = none)')
    parser.add_argument('--clutter-objects', type=int, default=5,
                        help='objects per clutter scene (default 5)')
    parser.add_argument('--clutter-size', type=float, nargs=2, default=[0.05, 0.08],
                        metavar=('MIN', 'MAX'),
                        help='clutter: largest side of the objects (m, 0.05 0.08; isolated '
                             'objects are 0.08-0.12, as the simulated camera shows them)')
    parser.add_argument('--planners', nargs='+', default=list(PLANNERS), choices=PLANNERS,
                        help='planners to run, in this order (default all three)')
    parser.add_argument('--object-height', type=float, default=DEFAULT_OBJECT_HEIGHT,
                        help="node's object_height and the baseline's grasp plane, where the "
                             'guarded descent aims the fingertips (m, default '
                             f'{DEFAULT_OBJECT_HEIGHT}: just above the table)')
    parser.add_argument('--opening-margin', type=float, default=DEFAULT_MARGIN,
                        help="added to the node's published opening before executing it: the "
                             "controller's clearance, as the baseline adds to its blob extent "
                             f'(m, default {DEFAULT_MARGIN}; 0 = the opening as published)')
    add_jaws_outside_view_option(parser)
    parser.add_argument('--max-opening', type=float, default=0.12,
                        help='widest gripper opening (m, 0.12); wider commands are clipped')
    parser.add_argument('--jaw-size', type=float, default=0.02, help='jaw size (m, 0.02)')
    parser.add_argument('--candidates', type=int, default=45,
                        help='look-ahead: candidate grasps tried per attempt (45)')
    parser.add_argument('--centring-fraction', type=float, default=None,
                        help="the node's centring_fraction parameter (grasp centring on its "
                             'object along the closing axis; 0 = off; default: the value of '
                             f'the node, {PipelineConfig.centring_fraction})')
    parser.add_argument('--jaw-clearance', type=float, default=None,
                        help="the node's jaw_clearance parameter: m each finger reaches "
                             'beyond an end of the published opening (here: half of '
                             '--opening-margin + the 1 cm finger); grasps whose fingers would '
                             'land on another object go last; 0 = off; default: the value of '
                             f'the node, {PipelineConfig.jaw_clearance}')
    parser.add_argument('--clearance-fraction', type=float, default=None,
                        help="the node's clearance_fraction parameter (default: the node's, "
                             f'{PipelineConfig.clearance_fraction})')
    parser.add_argument('--node-max-opening', type=float, default=None,
                        help="the node's max_opening parameter (m): grasps wider turn to their "
                             "object's narrowest direction; default: --max-opening (the node "
                             "is told its gripper); 0 = unknown (the node's own default)")
    parser.add_argument('--avoid-failed', action='store_true',
                        help="clutter: node and baseline remember the scene's failed grasps "
                             'and take their best grasp that is not within 2 cm of one (the '
                             "next of the node's top-k, the next largest blob), as a robot "
                             'that remembers its failures; default: both repeat their best')
    parser.add_argument('--max-failures', type=int, default=3,
                        help='clutter: stop after this many failures in a row (3)')
    parser.add_argument('--backend', default='auto', choices=BACKENDS,
                        help="the node's inference backend (auto: PyTorch whenever the "
                             "model's weights file is there, else ONNX Runtime)")
    parser.add_argument('--precision', default='auto', choices=PRECISIONS,
                        help="the node's precision (auto: bf16 on a CPU with hardware "
                             'bfloat16)')
    parser.add_argument('--json', type=Path, default=None,
                        help='write the settings, summary and every attempt')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the benchmark, print the table (and write ``--json``); 2 on bad arguments or
    model."""
    from mtg_grasp_ros.deploy import DeployModelError

    if (args.objects < 0 or args.seeds < 1 or args.clutter_scenes < 0
            or args.clutter_objects < 1 or args.candidates < 1 or args.max_failures < 1
            or args.objects + args.clutter_scenes == 0):
        print('error: need --objects >= 0, --clutter-scenes >= 0 (not both 0), --seeds, '
              '--clutter-objects, --candidates, --max-failures >= 1', file=sys.stderr)
        return 2
    if (not 0.01 <= args.max_opening <= 0.3 or not 0.005 <= args.jaw_size <= 0.1
            or not 0.01 <= args.clutter_size[0] <= args.clutter_size[1] <= 0.3):
        print('error: --max-opening must be in [0.01, 0.3] m, --jaw-size in [0.005, 0.1] m, '
              '--clutter-size 0.01 <= MIN <= MAX <= 0.3 m', file=sys.stderr)
        return 2
    if args.centring_fraction is None:  # recorded in --json as the value used
        args.centring_fraction = PipelineConfig.centring_fraction
    if not 0.0 <= args.centring_fraction <= 0.99:
        print('error: --centring-fraction must be in [0, 0.99], as the node parameter',
              file=sys.stderr)
        return 2
    if args.jaw_clearance is None:
        args.jaw_clearance = PipelineConfig.jaw_clearance
    if args.clearance_fraction is None:
        args.clearance_fraction = PipelineConfig.clearance_fraction
    if not 0.0 <= args.jaw_clearance <= 1.0 or not 0.0 < args.clearance_fraction <= 0.99:
        print('error: --jaw-clearance must be in [0, 1] m and --clearance-fraction in '
              '(0, 0.99], as the node parameters', file=sys.stderr)
        return 2
    if args.node_max_opening is None:
        args.node_max_opening = args.max_opening
    if not 0.0 <= args.node_max_opening <= 2.0:
        print('error: --node-max-opening must be in [0, 2] m', file=sys.stderr)
        return 2
    args.objects = min(args.objects, len(heldout_indices(args.object_set)))
    names = list(dict.fromkeys(args.planners))
    args.planners = names
    try:
        planners = build_planners(args)
    except (DeployModelError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    start = time.perf_counter()
    out = run_scenes(args, planners)
    wall = time.perf_counter() - start
    summary = summarise(out, names)
    print(f'{args.table} table, {args.object_set} objects: {args.objects} held-out objects x '
          f'{args.seeds} drops ({out["skipped"]} drops skipped: not in view), '
          f'{args.clutter_scenes} clutter scenes of {args.clutter_objects} '
          f'({out["clutter_in_view"]} with every object in view); '
          f'gripper up to {args.max_opening * 100:g} cm; {wall:.1f} s')
    print_table(summary)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                    if k != 'func'}
        args.json.write_text(json.dumps({'settings': settings, 'wall_s': round(wall, 1),
                                         'summary': summary, 'isolated': out['isolated'],
                                         'clutter': out['clutter']}, indent=1))
        print(f'wrote {args.json}')
    return 0
