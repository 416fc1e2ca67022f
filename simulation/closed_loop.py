"""One closed-loop grasp trial on the wrist rig, without ROS (issue 13 part 2).

The node's ROS-free pipeline (:class:`mtg_grasp_ros.pipeline.GraspPipeline`, the node's
defaults but ``object_height`` DEFAULT_OBJECT_HEIGHT, as the benchmark's node planner) runs on
the wrist camera's frames at ``camera_rate`` Hz; its candidates go through the node's tracking
option (:class:`mtg_grasp_ros.tracking.GraspTracker`) and the tracked grasp, delivered
``latency`` s after its frame was taken (the node's processing time), is the
:class:`~simulation.servo.GraspServo`'s target; the servo's twist drives
:meth:`WristRig.step` at ``control_rate`` Hz (>= 100). Frames are rendered only while the servo
may re-plan (APPROACH). CLOSE is :meth:`WristRig.close`, LIFT :meth:`WristRig.lift` (the rig's
kinematic steps would not carry the object). Success: the object ends ``SUCCESS_RISE`` of the
lift height above where it rested, between both fingers. Options of
:class:`TrialConfig`: open loop (plan once, no re-planning; the same servo executes) and a
dynamic scene (:class:`~simulation.disturbance.Disturbance`: the object pushed and turned
during the approach, drawn from the trial's seed and the object).

``python -m simulation.closed_loop [--object 460] [--seed 3] [--moving] [--open-loop]
[--save DIR] [--gif FILE]`` runs one trial and prints its log; ``--save`` writes the wrist
frames with their target (PNG), ``--gif`` an animated GIF of the trial
(:mod:`simulation.trial_gif`).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
import time
from typing import Callable, List, Optional, Tuple

from simulation.disturbance import Disturbance, ObjectPush, Push
from simulation.fast_render import RENDERERS
from simulation.servo import GraspServo, GraspTarget, ServoGains, ServoState
from simulation.trial_gif import draw_jaws, TrialRecorder
from simulation.wrist_rig import RigConfig, WristRig

#: The object must rise by this share of the lift height to count as lifted.
SUCCESS_RISE = 0.5
#: How a trial ends: lifted; the servo never had a target / lost it; out of time; the fingers
#: closed on nothing or with their centre more than MISS_OFFSET (m) off the object's footprint
#: (missed), or the object did not come up with them (dropped).
MISS_OFFSET = 0.01
OUTCOMES = ('lifted', 'no_target', 'target_lost', 'timeout', 'missed', 'dropped')
#: ``observer(rig, servo)``: called after every control step of a trial.
Observer = Callable[[WristRig, GraspServo], None]


@dataclass(frozen=True)
class TrialConfig:
    """``control_rate`` and ``camera_rate`` (Hz), ``latency`` (s, frame -> target),
    ``max_time`` (simulated s: the trial's bound), ``object_height`` (m, the pipeline's grasp
    plane above the table), the servo's ``gains``; ``replan``: closed loop (True: every frame
    re-plans) or open loop (False: plan once, from the first frame with a detection, then the
    same servo executes that one target); ``disturbance``: push the object during the
    approach (None: a static scene), drawn from ``seed`` and the object's catalogue index."""

    control_rate: float = 100.0
    camera_rate: float = 10.0
    latency: float = 0.1
    max_time: float = 15.0
    object_height: float = 0.005
    gains: ServoGains = field(default_factory=ServoGains)
    replan: bool = True
    disturbance: Optional[Disturbance] = None
    seed: int = 0


@dataclass
class TrialResult:
    """``lifted``; the servo's final ``state`` and ``reason``; ``sim_time`` / ``wall_time``
    (s); ``frames`` processed; ``rise`` of the object (m); ``log``: one line per event;
    ``targets``: (sim time, GraspTarget) per detection used; ``outcome`` (OUTCOMES);
    ``close_offset``: the tool's distance (m) from the object's footprint when it closed
    (0 inside; None if it never closed) and ``closed_at`` when (simulated s); ``push``: the
    drawn push (None: static) and ``pushed_at``: when it started (None: not applied)."""

    lifted: bool
    state: ServoState
    reason: str
    sim_time: float
    wall_time: float
    frames: int
    rise: float
    log: List[str]
    targets: List[Tuple[float, GraspTarget]]
    outcome: str = ''
    close_offset: Optional[float] = None
    closed_at: Optional[float] = None
    push: Optional[Push] = None
    pushed_at: Optional[float] = None


def make_pipeline(object_height: float = 0.005):
    """The node's pipeline with the default model on the CPU (as the benchmark's planner)."""
    from mtg_grasp_ros.deploy import default_model_path
    from mtg_grasp_ros.pipeline import GraspPipeline, PipelineConfig

    return GraspPipeline.from_deploy(default_model_path(), backend='auto', device='cpu',
                                     config=PipelineConfig(object_height=object_height)
                                     .validate())


def detect(pipeline, tracker, frame) -> Optional[GraspTarget]:
    """The tracked best grasp of one :class:`~simulation.wrist_rig.WristFrame`, world frame."""
    result = pipeline.process(frame.rgb, frame.camera.model, frame.camera.pose)
    if not result.grasps:
        return None
    index = tracker.select([(g.position, g.quality) for g in result.grasps], frame.time)
    g = result.grasps[index]
    return GraspTarget(float(g.position[0]), float(g.position[1]), float(g.position[2]),
                       float(g.yaw), float(g.width_m), float(g.quality))


def run_trial(rig: WristRig, pipeline, config: Optional[TrialConfig] = None,
              save: Optional[Path] = None, observer: Optional[Observer] = None) -> TrialResult:
    """One trial from the rig's current state (call :meth:`WristRig.reset` before).

    ``save``: a folder for the processed frames with their target (PNG); ``observer``: called
    as ``observer(rig, servo)`` after every control step, close and lift (a recorder)."""
    from mtg_grasp_ros.tracking import GraspTracker

    cfg = config or TrialConfig()
    servo, tracker = GraspServo(cfg.gains), GraspTracker()
    obj = rig.scene.objects[0]
    push = (None if cfg.disturbance is None
            else ObjectPush(rig.scene, obj, cfg.disturbance.draw(cfg.seed, obj.index)))
    p, client = rig.scene.p, rig.scene.client
    z0 = p.getBasePositionAndOrientation(obj.body, physicsClientId=client)[0][2]
    dt, frame_period = 1.0 / cfg.control_rate, 1.0 / cfg.camera_rate
    log: List[str] = []
    targets: List[Tuple[float, GraspTarget]] = []
    pending: List[Tuple[float, GraspTarget]] = []   # (delivery time, target)
    plan: Optional[GraspTarget] = None              # open loop: the one target
    next_frame, frames, state = rig.time, 0, servo.state
    close_offset, closed_at, held_at_close = None, None, False
    wall0 = time.perf_counter()
    while rig.time < cfg.max_time and not servo.finished:
        approaching = servo.state is ServoState.APPROACH
        if push is not None and push.update(rig.time, rig.position[2], approaching):
            if push.started == rig.time:
                log.append(f't={rig.time:.2f} s push starts: {push.push.describe()}; tool z '
                           f'{rig.position[2]:.3f}')
        wants_frame = cfg.replan or (plan is None and not pending)
        if approaching and wants_frame and rig.time >= next_frame - 1e-9:
            next_frame += frame_period
            frame = rig.render()
            frames += 1
            target = detect(pipeline, tracker, frame)
            if save is not None:
                _save_frame(save / f'frame_{frames:03d}.png', frame, target)
            if target is not None:
                pending.append((rig.time + cfg.latency, target))
        target = None
        while pending and pending[0][0] <= rig.time + 1e-9:
            target = pending.pop(0)[1]
            targets.append((rig.time, target))
            plan = plan if cfg.replan else target
        twist = servo.update(rig.tool_pose(), target or plan, rig.time)
        if servo.state is not state:
            log.append(_transition(rig, servo, state))
            state = servo.state
            if state is ServoState.CLOSE:
                close_offset = obj.distance_to_footprint(rig.position[:2])
                closed_at = rig.time
                gap, held_at_close = rig.close(), rig.holding()
                log.append(f't={rig.time:.2f} s closed to {gap * 1000:.1f} mm, holding '
                           f'{held_at_close}, tool {close_offset * 1000:.0f} mm from the '
                           'footprint')
            elif state is ServoState.LIFT:
                risen = rig.lift(cfg.gains.lift_height, cfg.gains.lift_speed)
                log.append(f't={rig.time:.2f} s lifted {risen * 1000:.0f} mm')
        else:
            rig.step(dt, twist)
        if observer is not None:
            observer(rig, servo)
    z1 = p.getBasePositionAndOrientation(obj.body, physicsClientId=client)[0][2]
    rise = float(z1 - z0)
    lifted = (servo.state is ServoState.DONE
              and rise > SUCCESS_RISE * cfg.gains.lift_height and rig.holding())
    if not servo.finished:
        log.append(f't={rig.time:.2f} s timed out in {servo.state.value}')
    return TrialResult(lifted, servo.state, servo.reason, rig.time,
                       time.perf_counter() - wall0, frames, rise, log, targets,
                       outcome=_outcome(lifted, servo, held_at_close, close_offset),
                       close_offset=close_offset, closed_at=closed_at,
                       push=None if push is None else push.push,
                       pushed_at=None if push is None else push.started)


def _transition(rig: WristRig, servo: GraspServo, before: ServoState) -> str:
    """The log line of a change of the servo's state."""
    x, y, z = rig.position
    tg = servo.target
    aim = ('none' if tg is None else f'({tg.x:.3f}, {tg.y:.3f}, {tg.z:.3f}) yaw '
           f'{tg.yaw:.2f} opening {tg.opening * 1000:.0f} mm q {tg.quality:.2f}')
    return (f't={rig.time:.2f} s {before.value} -> {servo.state.value}: tool '
            f'({x:.3f}, {y:.3f}, {z:.3f}) yaw {rig.yaw:.2f}; target {aim}')


def _outcome(lifted: bool, servo: GraspServo, held_at_close: bool,
             close_offset: Optional[float]) -> str:
    """One of OUTCOMES."""
    if lifted:
        return 'lifted'
    if servo.state is ServoState.FAILED:
        return servo.reason.replace(' ', '_')   # no_target, target_lost
    if not servo.finished:
        return 'timeout'
    off = close_offset is None or close_offset > MISS_OFFSET
    return 'missed' if off or not held_at_close else 'dropped'


def _save_frame(path: Path, frame, target: Optional[GraspTarget]) -> None:
    """The frame with the target's jaws drawn (PNG)."""
    import cv2

    image = draw_jaws(frame.rgb.copy(), frame.camera, target)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--object', type=int, default=460, help='held-out catalogue index')
    parser.add_argument('--seed', type=int, default=3, help='scene and push seed')
    parser.add_argument('--width', type=int, default=320)
    parser.add_argument('--height', type=int, default=240)
    parser.add_argument('--camera-rate', type=float, default=10.0, help='Hz')
    parser.add_argument('--latency', type=float, default=None,
                        help='s from a frame to its target (default: one frame period)')
    parser.add_argument('--max-time', type=float, default=15.0, help='simulated s')
    parser.add_argument('--moving', action='store_true',
                        help='push the object during the approach (the default Disturbance)')
    parser.add_argument('--open-loop', action='store_true',
                        help='plan once from the first detection, no re-planning')
    parser.add_argument('--save', type=Path, default=None, help='folder for the frames (PNG)')
    parser.add_argument('--gif', type=Path, default=None,
                        help='write an animated GIF: wrist view + third-person view')
    parser.add_argument('--renderer', choices=RENDERERS, default='composite',
                        help="the rig's render path (simulation.fast_render)")
    args = parser.parse_args(argv)
    latency = 1.0 / args.camera_rate if args.latency is None else args.latency
    config = TrialConfig(camera_rate=args.camera_rate, latency=latency, max_time=args.max_time,
                         replan=not args.open_loop, seed=args.seed,
                         disturbance=Disturbance() if args.moving else None)
    recorder = TrialRecorder() if args.gif is not None else None
    with WristRig(RigConfig(width=args.width, height=args.height, object_ids=[args.object],
                            seed=args.seed, shadows=False, renderer=args.renderer)) as rig:
        result = run_trial(rig, make_pipeline(config.object_height), config, args.save,
                           recorder)
    print('\n'.join(result.log))
    print(f'lifted={result.lifted} outcome={result.outcome} rise={result.rise * 1000:.0f} mm '
          f'sim={result.sim_time:.2f} s wall={result.wall_time:.1f} s frames={result.frames}')
    if recorder is not None:
        path = recorder.save(args.gif)
        print(f'wrote {path} ({len(recorder.frames)} frames, {path.stat().st_size // 1024} kB)')
    return 0 if result.lifted else 1


if __name__ == '__main__':
    raise SystemExit(main())
