"""``python -m training synth``: Jacquard-format grasp data made the way Jacquard was made.

Objects are dropped onto a plane in pybullet, rendered from a mostly top-down camera, and
grasps are *tried* by a simulated parallel-jaw gripper; only the grasps that lift and hold the
object through a shake are written, in Jacquard's own file layout, so everything that reads
Jacquard (``training/jacquard.py``) reads this data unchanged.

Usage::

    python -m training synth --out data/synth --objects 300 --views 4 --seed 0 --workers 2

The simulation it runs on (objects, scene, camera, gripper) is the :mod:`simulation` package;
this package holds the data generation only.

Objects (:mod:`simulation.objects`): pybullet_data's ``random_urdfs/000..999`` by default, or
every URDF and OBJ under ``--object-dir``. Object ``NNN`` is called ``rNNN``. Held out: every
object whose catalogue index is a multiple of 10 (``HELDOUT_OBJECT_IDS`` = r000, r010, ...,
r990; 100 objects) never appears with ``--split train`` (the default) and is all there is with
``--split heldout``. Each object is rescaled so its largest side is 5-13 cm.
``--shapes procedural`` uses :mod:`simulation.shapes` instead: 500 procedural shapes like real
graspable things (boxes, flat plates, long bars, cylinders from discs to bottles, capsules,
convex superquadrics from rounded blocks to ellipsoids, L and T compounds), ids ``s000..s499``,
held out by the same rule (s000, s010, ..., s490), written as OBJ + URDF into
``~/.cache/mtg_grasp_ros/shapes``; ``--shapes both`` draws from random_urdfs and the shapes
together; ``--shapes thin`` from the thin shapes (rods and rod frames, ``s500..s599``, held out
s500, s510, ..., s590); the default ``random_urdfs`` reproduces earlier runs.

Per view (:mod:`.generate`, :mod:`simulation.scene`, :mod:`.appearance`, :mod:`.framing`): the
object is dropped with a random orientation and settles; the plane and object get random colours
or textures (40% of planes near-white, like Jacquard's), the light a random direction, tint and
shadowing; the camera looks down with up to 10 degrees of tilt, a random yaw and a distance
that frames the object at 30-50% of the image width (35 degree field of view).

Gripper and trial (:mod:`simulation.gripper`): two 1 cm thick, 6 cm long box fingers on
prismatic joints, jaw size (across the closing axis) 1, 2 or 3 cm, opening 0-10 cm, 20 N grip
per finger, friction 1.0, on a palm with lift and shake joints. A trial restores the settled
scene, places the open gripper at the grasp pose (approach along the optical axis; pose refused
if it penetrates anything), closes, lifts 10 cm, shakes +-2 cm across the jaws and holds. Success:
the object's centre of mass rose >= 5 cm, it touches both fingers and not the plane.
Candidates (:mod:`.sampling`) are centred on the object mask; those whose fingers would hit the
object on the way down (checked in the depth image) never reach the simulator.

Clutter views (``--clutter P``, default 0; :mod:`.clutter`): a share P of the views show the
object with 1..K (``--clutter-objects``, default 4) neighbours drawn from the same split (never a
held-out object in a train run), rescaled to 4-9 cm, dropped around it and onto the pile and
settled together; the Jacquard-like camera frames the whole group. Grasps are tried on every
visible object (the trials split among them, at least 8 each; fingers checked against all of
them) and all are written: the mask is the union of the objects', ``views.json`` records the
neighbours and the grasps per object. Such files still sit under the first object's folder.

Label openings (``--opening``, :func:`.sampling.label_opening`): ``contact`` (default,
Jacquard's convention: close to the object's width at the grasp) writes the trial's contact
width (the finger gap where the closing fingers stopped on the object) x 1.5
(``CONTACT_MARGIN``), capped at 10 cm, and keeps the grasp only if a second trial from that
opening succeeds too; ``pregrasp`` writes the opening the trial started from (the convention
before; any opening wider than the object), which reproduces data made before the option.

Outputs (:mod:`.writer`): ``DIR/<id>/<view>_<id>_RGB.png``, ``_perfect_depth.tiff`` (float32
m), ``_stereo_depth.tiff`` (float32 m, simulated stereo, 0 = hole; :mod:`.stereo`),
``_mask.png`` (0/255), ``_grasps.txt`` (``x;y;theta;w;h``); ``DIR/summary.json`` (counts,
grasps per view, throughput, disk) and ``DIR/views.json`` (per view: camera intrinsics and pose,
trial outcomes). Same seed, same files, whatever ``--workers``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
import textwrap

from simulation.objects import HELDOUT_OBJECT_IDS, SHAPE_SOURCES, SPLITS

__all__ = ['HELDOUT_OBJECT_IDS', 'register', 'run', 'draw_preview']

DESCRIPTION = textwrap.fill(
    'Generate Jacquard-format grasp data the way Jacquard was made: each object is dropped '
    'onto a plane in pybullet and rendered from a mostly top-down camera (random colours, '
    'textures, light, tilt and yaw), grasps are tried by a simulated parallel-jaw gripper, and '
    'the grasps that lift and hold the object through a shake are written as grasp '
    'rectangles. Same seed, same files, whatever --workers.', width=90)
EPILOG = f'''\
gripper:  two box fingers, 1 cm thick, 6 cm long, jaw size 1, 2 or 3 cm; opening 0-10 cm;
          20 N grip per finger; friction 1.0
trial:    restore the settled scene; place the open gripper along the camera's optical axis
          (refused if it would hit anything: checked in the depth image, then exactly);
          close; lift 10 cm; shake +-2 cm across the jaws; hold 0.1 s
success:  the object's centre of mass rose >= 5 cm, it touches both fingers and not the plane
openings: --opening contact (default): w = 1.5 x the contact width (finger gap where the
          closing fingers stopped on the object), max 10 cm, kept only if a second trial from
          that opening succeeds too (Jacquard's labels: ~1.5x the object's width at the grasp);
          --opening pregrasp: w = the opening the trial started from (the old labels)
outputs:  DIR/<id>/<view>_<id>_RGB.png            RGB, size x size
          DIR/<id>/<view>_<id>_perfect_depth.tiff float32 metres
          DIR/<id>/<view>_<id>_stereo_depth.tiff  float32 metres, simulated stereo, 0 = hole
          DIR/<id>/<view>_<id>_mask.png           object mask 0/255
          DIR/<id>/<view>_<id>_grasps.txt         x;y;theta;w;h per successful grasp
          DIR/summary.json (counts, grasps per view, throughput, disk), DIR/views.json
          (per view: camera intrinsics and pose, trial outcomes)
clutter:  --clutter P: share of views with 1..K (--clutter-objects) neighbours of the same
          split around the object, grasps on all of them; mask = all objects
objects:  pybullet_data/random_urdfs NNN is called rNNN; held out ({len(HELDOUT_OBJECT_IDS)}):
          every catalogue index % 10 == 0 (r000, r010, ..., r990); --shapes procedural:
          boxes, plates, bars, cylinders, capsules, superquadrics, L/T called sNNN (s000..s499);
          --shapes thin: rods and rod frames (U, H, closed) s500..s599
'''


def draw_preview(dataset_dir, out_png, n: int = 6) -> Path:
    """Contact sheet of ``n`` generated views with their grasps (see :mod:`.preview`)."""
    from training.synth.preview import draw_preview as _draw
    return _draw(dataset_dir, out_png, n)


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``synth`` sub-command to ``python -m training``."""
    parser = subparsers.add_parser(
        'synth', help='generate Jacquard-format data by simulated grasp trials (pybullet)',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument('--out', required=True, type=Path, help='output folder (created)')
    parser.add_argument('--objects', type=int, default=None,
                        help='number of objects, drawn from --split by a seeded shuffle '
                             '(default: all of the split)')
    parser.add_argument('--views', type=int, default=4,
                        help='views per object (Jacquard: up to 5; default 4)')
    parser.add_argument('--seed', type=int, default=0, help='seed: same seed, same files')
    parser.add_argument('--workers', type=int, default=os.cpu_count() or 1,
                        help='worker processes, one pybullet client each (default: CPU count)')
    parser.add_argument('--object-dir', type=Path, default=None,
                        help='folder of *.urdf / *.obj objects to use instead of '
                             'pybullet_data/random_urdfs')
    parser.add_argument('--shapes', choices=SHAPE_SOURCES, default='random_urdfs',
                        help='object catalogue: random_urdfs (default), procedural (boxes, '
                             'cylinders, capsules, superquadrics, L/T: sNNN), both, or thin '
                             '(rods and rod frames: s500..s599)')
    parser.add_argument('--image-size', type=int, default=1024,
                        help="image side in pixels (Jacquard's 1024; e.g. 256 for a quick run)")
    parser.add_argument('--trials', type=int, default=40,
                        help='simulated grasp trials per view (candidates that the depth image '
                             'already rules out are not counted; default 40)')
    parser.add_argument('--split', choices=SPLITS, default='train',
                        help='objects to draw from: train (not held out), heldout, all')
    parser.add_argument('--preview', type=Path, default=None,
                        help='also draw some generated views into this PNG: RGB with the '
                             'grasps beside the stereo depth, each panel labelled')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')
    # Label opening convention (training.synth.sampling.label_opening).
    parser.add_argument('--opening', choices=('contact', 'pregrasp'), default='contact',
                        help='label opening: contact = 1.5 x the width the fingers closed to on '
                             "the object, validated by a second trial (default; Jacquard's "
                             'convention); pregrasp = the opening the trial started from (the '
                             'labels before this option)')
    # Looks, views and sensor effects (domain randomisation: .appearance, .framing, .sensor).

    def probability(text: str) -> float:
        value = float(text)
        if not 0.0 <= value <= 1.0:
            raise argparse.ArgumentTypeError(f'{text} is not a probability in [0, 1]')
        return value

    looks = parser.add_argument_group(
        'looks and views (domain randomisation)',
        'The defaults (rich looks, 30% robot views, sensor effects) aim at real cameras; '
        '--looks plain --robot-views 0 --no-sensor-effects reproduces data made before these '
        'options, draw for draw.')
    looks.add_argument('--looks', choices=('plain', 'rich'), default='rich',
                       help='rich (default): supports textured with texture photos (brick, '
                            'grass, gravel, moon) or procedural materials (noise, wood, '
                            'fabric, paper, tiles, checks) at their true size, light supports '
                            'with a faint texture 30%% of the time, objects textured 50%%, light '
                            'of random direction, strength, ambient and tint, shadows 70%%; '
                            'plain: flat colours and faint textures, 40%% near-white tables, '
                            'shadows 50%% (the looks before this option)')
    looks.add_argument('--robot-views', type=probability, default=0.3, metavar='P',
                       help='share of views seen as by a robot camera (default 0.3): 0.4-1.0 m '
                            'above the table, tilted up to 30 deg, 35-60 deg vertical field of '
                            "view, rendered as the node's centred square crop at --image-size; "
                            'the others are Jacquard-like (top-down, framed on the object)')
    looks.add_argument('--distractors', type=probability, default=0.0, metavar='P',
                       help='share P in [0, 1] of views with 1-5 flat shapes (stains, prints, '
                            'tape, paper; 2-15 cm, dark half the time) painted on the support '
                            'around the objects as negatives: no depth, no shadow, no label '
                            '(default 0)')
    looks.add_argument('--sensor-effects', action=argparse.BooleanOptionalAction, default=True,
                       help='degrade the written RGB like a camera (blur, Gaussian noise, JPEG '
                            're-encoding at quality 35-95; never depth or mask; default: on)')
    # Clutter views (.clutter): X plus neighbours of the same split, grasps on all of them.
    parser.add_argument('--clutter', type=probability, default=0.0, metavar='P',
                        help='share of clutter views (default 0): the object plus 1..K '
                             'neighbours from the same split (4-9 cm, dropped around and onto '
                             'it, settled together), grasps tried and written on every visible '
                             'object, mask = all objects')
    parser.add_argument('--clutter-objects', type=int, default=4, metavar='K',
                        help='largest number of neighbours in a clutter view (default 4)')
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Generate the data set described by ``args``; print and save a summary."""
    from training.synth.generate import generate, SynthConfig
    from training.synth.report import format_summary
    from simulation.objects import list_objects, select_objects

    for name in ('views', 'image_size', 'trials', 'workers', 'clutter_objects'):
        if getattr(args, name) < 1:
            print(f'error: --{name.replace("_", "-")} must be at least 1')
            return 2
    if args.image_size < 64:
        print('error: --image-size must be at least 64 pixels')
        return 2
    try:
        catalogue = list_objects(str(args.object_dir) if args.object_dir else None,
                                 shapes=getattr(args, 'shapes', 'random_urdfs'))
        specs = select_objects(catalogue, args.split, args.objects, args.seed)
    except (FileNotFoundError, ValueError) as exc:
        print(f'error: {exc}')
        return 2
    if not specs:
        print(f'error: no objects in split {args.split!r}')
        return 2
    config = SynthConfig(out=str(args.out), views=args.views, image_size=args.image_size,
                         trials=args.trials, seed=args.seed, opening=args.opening,
                         looks=args.looks, robot_views=args.robot_views,
                         sensor_effects=args.sensor_effects, clutter=args.clutter,
                         clutter_objects=args.clutter_objects,
                         distractors=args.distractors)
    # Clutter neighbours come from the whole split (never held-out ones in a train run).
    pool = select_objects(catalogue, args.split, None, args.seed)
    summary = generate(specs, config, workers=min(args.workers, len(specs)),
                       progress=not args.quiet, pool=pool)
    print(format_summary(summary))
    print(f'wrote {args.out}/summary.json')
    if args.preview is not None:
        if summary['views']:
            print(f'preview: {draw_preview(args.out, args.preview)}')
        else:
            print('no views were written, so there is no preview')
    return 0 if summary['views'] else 1
