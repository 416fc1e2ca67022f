"""``python -m tools.closed_loop_bench``: closed vs open loop, static vs moving objects.

Runs the ROS-free wrist-rig trial of :mod:`simulation.closed_loop` (the node's pipeline on the
wrist frames, the node's tracker, the reference servo at 100 Hz; no ROS) for every held-out
object x seed x setting and reports, per setting, the success rate (lifted) with its 95% Wilson
interval, the median time to grasp (simulated s from the start to the close, lifted trials),
the mean wall time per trial and the failure outcomes (:mod:`tools.closed_loop_report`).

A setting is a scene (``static``, or ``moving``: the object pushed 3-6 cm and turned 20-45 deg
during the approach, :class:`~simulation.disturbance.Disturbance` defaults, a smooth 0.4 s
motion), a loop (``closed``: every frame re-plans; ``open``: plan once from the first
detection, then the same servo executes it) and the node's rate (Hz: frames processed per
simulated second; each detection arrives one frame period after its frame, a node that keeps
up with its camera; ``--latency`` overrides). Each trial builds a fresh rig from (object,
seed), so every setting of one (object, seed) starts from the same scene and draws the same
push: a trial is reproducible from (object, seed, setting). Bounded: each trial ends within
``--max-time`` simulated seconds.

Output: a tqdm progress bar; ``--json FILE``: one JSON line per trial, written as it ends;
the Markdown table on stdout; ``--plot FILE``: a bar chart (PNG); ``--failures DIR``: an
animated GIF of every failed trial (wrist + third-person view, :mod:`simulation.trial_gif`).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
import itertools
import json
import math
from pathlib import Path
import time
from typing import List, Optional, Sequence

from simulation.closed_loop import make_pipeline, run_trial, TrialConfig
from simulation.disturbance import Disturbance
from simulation.fast_render import RENDERERS
from simulation.trial_gif import TrialRecorder
from simulation.wrist_rig import RigConfig, WristRig
from tools.closed_loop_report import LOOPS, markdown, plot, SCENES, summarise

#: The benchmark's held-out objects (catalogue indices); the servo was tuned on DEV_OBJECTS.
BENCH_OBJECTS = tuple(range(500, 700, 10))
DEV_OBJECTS = tuple(range(0, 200, 10))


@dataclass(frozen=True)
class Setting:
    """``scene`` (SCENES), ``loop`` (LOOPS) and the node's ``rate`` (Hz)."""

    scene: str
    loop: str
    rate: float

    def __post_init__(self) -> None:
        if self.scene not in SCENES or self.loop not in LOOPS or not self.rate > 0:
            raise ValueError(f'bad setting {self}: scene in {SCENES}, loop in {LOOPS}, rate > 0')


@dataclass(frozen=True)
class BenchOptions:
    """The rig's image ``width``/``height`` (px), ``max_time`` (simulated s per trial),
    ``latency`` (s from a frame to its detection; None: one frame period), the servo's
    ``control_rate`` (Hz) and the rig's ``renderer`` (:data:`simulation.fast_render.RENDERERS`;
    both give the same images)."""

    width: int = 320
    height: int = 240
    max_time: float = 15.0
    latency: Optional[float] = None
    control_rate: float = 100.0
    renderer: str = 'composite'


def trial_config(setting: Setting, seed: int, options: BenchOptions) -> TrialConfig:
    """The :class:`TrialConfig` of one trial."""
    latency = 1.0 / setting.rate if options.latency is None else options.latency
    return TrialConfig(control_rate=options.control_rate, camera_rate=setting.rate,
                       latency=latency, max_time=options.max_time,
                       replan=setting.loop == 'closed', seed=seed,
                       disturbance=Disturbance() if setting.scene == 'moving' else None)


def run_one(pipeline, obj: int, seed: int, setting: Setting, options: BenchOptions,
            gif: Optional[Path] = None) -> dict:
    """One trial on a fresh rig; its JSON record. ``gif``: where to write the trial's GIF if
    it fails."""
    config = trial_config(setting, seed, options)
    recorder = TrialRecorder() if gif is not None else None
    start = time.perf_counter()
    with WristRig(RigConfig(width=options.width, height=options.height, object_ids=[obj],
                            seed=seed, shadows=False, renderer=options.renderer)) as rig:
        result = run_trial(rig, pipeline, config, observer=recorder)
    if recorder is not None and not result.lifted:
        recorder.save(gif)
    push = result.push
    return {
        'object': obj, 'seed': seed, 'scene': setting.scene, 'loop': setting.loop,
        'rate': setting.rate, 'latency': config.latency,
        'control_rate': config.control_rate, 'lifted': result.lifted,
        'outcome': result.outcome, 'state': result.state.value, 'reason': result.reason,
        'sim_time': round(result.sim_time, 3),
        'closed_at': None if result.closed_at is None else round(result.closed_at, 3),
        'close_offset': None if result.close_offset is None else round(result.close_offset, 4),
        'rise': round(result.rise, 4), 'frames': result.frames, 'targets': len(result.targets),
        'push': None if push is None else {'shift': [round(v, 4) for v in push.shift],
                                           'turn_deg': round(math.degrees(push.turn), 1),
                                           'started': result.pushed_at},
        'wall_time': round(time.perf_counter() - start, 2), 'renderer': options.renderer,
    }


def settings(scenes: Sequence[str], loops: Sequence[str], rates: Sequence[float]
             ) -> List[Setting]:
    """Every combination, in table order."""
    return [Setting(s, lo, float(r)) for s, lo, r in itertools.product(scenes, loops, rates)]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='python -m tools.closed_loop_bench',
        description='Closed vs open loop grasping of static and moving held-out objects with '
        'the wrist rig (no ROS).', epilog=__doc__.split('\n\n', 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--objects', type=int, nargs='+', default=list(BENCH_OBJECTS),
                        help='held-out catalogue indices (default: 500, 510, ..., 690; the '
                        'development set was 0, 10, ..., 190)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[1],
                        help='scene + push seeds, each run on every object (default: 1)')
    parser.add_argument('--scenes', nargs='+', choices=SCENES, default=list(SCENES),
                        help='static, and/or moving: the object pushed during the approach '
                        '(default: both)')
    parser.add_argument('--loops', nargs='+', choices=LOOPS, default=list(LOOPS),
                        help='closed: re-plan on every frame; open: plan once from the first '
                        'detection (default: both)')
    parser.add_argument('--rates', type=float, nargs='+', default=[15.0, 30.0],
                        help="the node's rate, Hz (default: 15 30)")
    parser.add_argument('--latency', type=float, default=None,
                        help='s from a frame to its detection (default: one frame period)')
    parser.add_argument('--control-rate', type=float, default=100.0,
                        help="the servo's control rate, Hz (default: 100)")
    parser.add_argument('--max-time', type=float, default=15.0,
                        help='simulated s per trial, then it ends as a timeout (default: 15)')
    parser.add_argument('--width', type=int, default=320,
                        help='wrist image width, px (default: 320)')
    parser.add_argument('--height', type=int, default=240,
                        help='wrist image height, px (default: 240)')
    parser.add_argument('--renderer', choices=RENDERERS, default='composite',
                        help="the rig's render path (simulation.fast_render; the same images, "
                        'composite faster; default: composite)')
    parser.add_argument('--json', type=Path, default=None, help='JSON lines, one per trial')
    parser.add_argument('--plot', type=Path, default=None, help='bar chart (PNG)')
    parser.add_argument('--failures', type=Path, default=None,
                        help='folder for a GIF of every failed trial (slower: renders more)')
    return parser.parse_args(argv)


def object_list(objects) -> str:
    """``objects 500, 510`` for a few, ``20 objects: 500, 510, ..., 690`` for many."""
    if len(objects) <= 6:
        return 'objects ' + ', '.join(str(o) for o in objects)
    return f'{len(objects)} objects: {objects[0]}, {objects[1]}, ..., {objects[-1]}'


def main(argv=None) -> int:
    from tqdm import tqdm

    args = parse_args(argv)
    if not args.control_rate > 0:
        print('error: --control-rate must be positive')
        return 2
    options = BenchOptions(args.width, args.height, args.max_time, args.latency,
                           args.control_rate, args.renderer)
    todo = [(obj, seed, setting) for obj in args.objects for seed in args.seeds
            for setting in settings(args.scenes, args.loops, args.rates)]
    pipeline = make_pipeline(TrialConfig().object_height)
    records, start = [], time.perf_counter()
    out = None
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        out = open(args.json, 'w', encoding='utf-8')
    try:
        for obj, seed, setting in tqdm(todo, unit='trial', desc='closed-loop bench'):
            gif = None
            if args.failures is not None:
                gif = args.failures / (f'{obj:03d}_s{seed}_{setting.scene}_{setting.loop}_'
                                       f'{setting.rate:g}hz.gif')
            record = run_one(pipeline, obj, seed, setting, options, gif)
            records.append(record)
            if out is not None:
                out.write(json.dumps(record) + '\n')
                out.flush()
    finally:
        if out is not None:
            out.close()
    rows = summarise(records)
    print(markdown(rows))
    seeds = ', '.join(str(s) for s in args.seeds)
    print(f'\n{len(records)} trials, {object_list(args.objects)}, seeds {seeds}, wall '
          f'{time.perf_counter() - start:.0f} s')
    if args.plot is not None:
        print(f'wrote {plot(rows, args.plot)}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
