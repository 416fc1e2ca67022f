"""``python -m training scene-eval``: does a deploy model's grasp land on the object, across it?

The Jacquard IoU metric scores a grasp rectangle against labels; a robot needs more: the grasp
the node publishes (after crop, smoothing, deprojection onto the table and the camera pose)
must lie on the object with the jaws closing across it. This command measures exactly that,
through the node's own ROS-free pipeline (:class:`mtg_grasp_ros.pipeline.GraspPipeline`), on
scenes of the simulated camera (:class:`simulation.tabletop.SimulatedScene`: a held-out
object resting on a table, 640x480, top-down): for each held-out object and drop seed, the
object settles, is turned by a random yaw, rendered, and the best grasp is compared with the
object's true footprint (the convex hull of its mesh on the table):

* **on object**: the grasp centre within ``--on-object`` m (1 cm) of the footprint;
* **across**: on elongated footprints (minimum-area rectangle aspect >= ``--min-aspect``), the
  angle between the closing axis and the rectangle's minor axis, and the share within
  ``--across`` degrees (15).

This is the node's accuracy test (``test/simulation/test_node_accuracy.py``) over many objects
instead of three.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
import sys

import numpy as np
from tqdm import tqdm

from mtg_grasp_ros.backends import BACKENDS, PRECISIONS
from mtg_grasp_ros.grasp import angle_difference
from simulation.objects import HELDOUT_INDICES


def closing_angle_error_deg(obj, rotation: np.ndarray) -> float:
    """Angle (deg, 0-90) between a grasp's closing axis (column 0 of its 3x3 world rotation)
    and the minor axis of ``obj``'s footprint (a :class:`~simulation.tabletop.SimObject`),
    modulo a half turn."""
    closing = rotation[:, 0]
    yaw = math.atan2(closing[1], closing[0])
    minor = obj.axes()[0] + math.pi / 2
    return math.degrees(angle_difference(yaw, minor))


def evaluate_scenes(model, objects, seeds: int, min_aspect: float, backend: str = 'auto',
                    progress: bool = True, precision: str = 'auto') -> list:
    """One record per scene (dict): object id, seed, footprint aspect, distance of the grasp
    centre to the footprint (m) and, for footprints at least ``min_aspect`` elongated, the
    closing angle error (deg, else None).

    ``model``: deploy model (stem or file); ``objects``: held-out catalogue indices; ``seeds``:
    drops per object. Scenes whose object leaves the view, or with no grasp, are skipped.
    Raises :class:`mtg_grasp_ros.deploy.DeployModelError` for a model that cannot load.
    """
    # Imported here: every ``python -m training`` command imports this module to register it.
    from mtg_grasp_ros.pipeline import GraspPipeline, PipelineConfig
    from simulation.tabletop import random_quaternion, SimulatedScene

    records = []
    pipelines = {}
    with SimulatedScene() as scene:
        camera = scene.camera
        jobs = [(i, s) for i in objects for s in range(seeds)]
        for index, seed in tqdm(jobs, desc='scenes', unit='scene', disable=not progress):
            rng = np.random.default_rng(index * 1000 + seed)
            scene.drop([index], positions=[(0.0, 0.0)],
                       orientations=[random_quaternion(rng)], sizes=[0.10])
            scene.settle()
            obj = scene.objects[0]
            scene.move(obj, dxy=-obj.centre, dyaw=float(rng.uniform(-math.pi, math.pi)))
            if not scene.all_in_view():
                continue
            render = scene.render()
            height = round(obj.height / 2.0, 4)
            if height not in pipelines:  # the node's object_height: half the object
                config = PipelineConfig(top_k=1, min_quality=-math.inf, object_height=height)
                pipelines[height] = GraspPipeline.from_deploy(model, backend=backend,
                                                              device='cpu', config=config,
                                                              precision=precision)
            result = pipelines[height].process(render.rgb, camera.model, camera.pose)
            if not result.grasps:
                continue
            g = result.grasps[0]
            aspect = obj.aspect
            records.append({
                'object': obj.object_id, 'seed': seed, 'aspect': round(aspect, 3),
                'distance_m': obj.distance_to_footprint(g.position[:2]),
                'angle_deg': (closing_angle_error_deg(obj, g.rotation)
                              if aspect >= min_aspect else None)})
    return records


def summarise(records: list, on_object: float, across: float) -> dict:
    """Scene count, share of grasps within ``on_object`` m of the footprint, median distance
    (cm) and, over elongated scenes, the angle median, p90 (deg) and share within ``across``
    deg."""
    distances = np.array([r['distance_m'] for r in records])
    angles = np.array([r['angle_deg'] for r in records if r['angle_deg'] is not None])
    summary = {'scenes': len(records),
               'on_object_share': float(np.mean(distances <= on_object)) if len(records) else
               math.nan,
               'distance_median_cm': float(np.median(distances) * 100) if len(records) else
               math.nan,
               'elongated_scenes': int(len(angles))}
    if len(angles):
        summary.update(angle_median_deg=float(np.median(angles)),
                       angle_p90_deg=float(np.percentile(angles, 90)),
                       across_share=float(np.mean(angles <= across)))
    return summary


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``scene-eval`` sub-command to ``python -m training``."""
    parser = subparsers.add_parser(
        'scene-eval', help='node-level accuracy: grasps on the object and across it '
                           '(simulated held-out scenes)',
        description=__doc__.split('\n\n', 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', required=True, type=Path, help='deploy model (stem or file)')
    parser.add_argument('--objects', type=int, default=40,
                        help='held-out objects r000, r010, ... (the first N; default 40)')
    parser.add_argument('--seeds', type=int, default=2, help='drops per object (default 2)')
    parser.add_argument('--min-aspect', type=float, default=1.5,
                        help='footprints at least this elongated get an angle score (1.5)')
    parser.add_argument('--on-object', type=float, default=0.01,
                        help='largest distance (m) from the footprint that counts as on it')
    parser.add_argument('--across', type=float, default=15.0,
                        help='largest angle (deg) from the minor axis that counts as across')
    parser.add_argument('--backend', default='auto', choices=BACKENDS)
    parser.add_argument('--precision', default='auto', choices=PRECISIONS,
                        help="the node's precision (auto: bf16 on a CPU with hardware "
                             'bfloat16)')
    parser.add_argument('--json', type=Path, default=None, help='write records and summary')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the figures (and write ``--json``); 2 on bad arguments or model."""
    from mtg_grasp_ros.deploy import DeployModelError

    if args.objects < 1 or args.seeds < 1:
        print('error: --objects and --seeds must be >= 1', file=sys.stderr)
        return 2
    objects = list(HELDOUT_INDICES)[:args.objects]
    try:
        records = evaluate_scenes(args.model, objects, args.seeds, args.min_aspect,
                                  args.backend, progress=not args.quiet,
                                  precision=args.precision)
    except (DeployModelError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    summary = summarise(records, args.on_object, args.across)
    print(f'{summary["scenes"]} scenes of {len(objects)} held-out objects: '
          f'{100 * summary["on_object_share"]:.1f}% of grasps within '
          f'{args.on_object * 100:g} cm of the object (median {summary["distance_median_cm"]:.2f}'
          f' cm)')
    if summary['elongated_scenes']:
        print(f'{summary["elongated_scenes"]} elongated (aspect >= {args.min_aspect:g}): jaws '
              f'within {args.across:g} deg of across in {100 * summary["across_share"]:.1f}%; '
              f'angle from across median {summary["angle_median_deg"]:.1f} deg, p90 '
              f'{summary["angle_p90_deg"]:.1f} deg')
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({'model': str(args.model), 'summary': summary,
                                         'records': records}, indent=1))
        print(f'wrote {args.json}')
    return 0
