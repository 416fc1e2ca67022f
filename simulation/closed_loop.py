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
lift height above where it rested, between both fingers.

``python -m simulation.closed_loop [--object 460] [--seed 3] [--save DIR]`` runs one trial and
prints its log; ``--save`` writes the wrist frames with their target (PNG).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
import math
from pathlib import Path
import time
from typing import List, Optional, Tuple

import numpy as np

from simulation.servo import GraspServo, GraspTarget, ServoGains, ServoState
from simulation.wrist_rig import RigConfig, WristRig

#: The object must rise by this share of the lift height to count as lifted.
SUCCESS_RISE = 0.5


@dataclass(frozen=True)
class TrialConfig:
    """``control_rate`` and ``camera_rate`` (Hz), ``latency`` (s, frame -> target),
    ``max_time`` (simulated s: the trial's bound), ``object_height`` (m, the pipeline's grasp
    plane above the table) and the servo's ``gains``."""

    control_rate: float = 100.0
    camera_rate: float = 10.0
    latency: float = 0.1
    max_time: float = 15.0
    object_height: float = 0.005
    gains: ServoGains = field(default_factory=ServoGains)


@dataclass
class TrialResult:
    """``lifted``; the servo's final ``state`` and ``reason``; ``sim_time`` / ``wall_time``
    (s); ``frames`` processed; ``rise`` of the object (m); ``log``: one line per event;
    ``targets``: (sim time, GraspTarget) per detection used."""

    lifted: bool
    state: ServoState
    reason: str
    sim_time: float
    wall_time: float
    frames: int
    rise: float
    log: List[str]
    targets: List[Tuple[float, GraspTarget]]


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
              save: Optional[Path] = None) -> TrialResult:
    """One trial from the rig's current state (call :meth:`WristRig.reset` before)."""
    from mtg_grasp_ros.tracking import GraspTracker

    cfg = config or TrialConfig()
    servo, tracker = GraspServo(cfg.gains), GraspTracker()
    obj = rig.scene.objects[0]
    p, client = rig.scene.p, rig.scene.client
    z0 = p.getBasePositionAndOrientation(obj.body, physicsClientId=client)[0][2]
    dt, frame_period = 1.0 / cfg.control_rate, 1.0 / cfg.camera_rate
    log: List[str] = []
    targets: List[Tuple[float, GraspTarget]] = []
    pending: List[Tuple[float, GraspTarget]] = []   # (delivery time, target)
    next_frame, frames, state = rig.time, 0, servo.state
    wall0 = time.perf_counter()
    while rig.time < cfg.max_time and not servo.finished:
        if servo.state is ServoState.APPROACH and rig.time >= next_frame - 1e-9:
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
        twist = servo.update(rig.tool_pose(), target, rig.time)
        if servo.state is not state:
            x, y, z = rig.position
            tg = servo.target
            aim = ('none' if tg is None else f'({tg.x:.3f}, {tg.y:.3f}, {tg.z:.3f}) yaw '
                   f'{tg.yaw:.2f} opening {tg.opening * 1000:.0f} mm q {tg.quality:.2f}')
            log.append(f't={rig.time:.2f} s {state.value} -> {servo.state.value}: tool '
                       f'({x:.3f}, {y:.3f}, {z:.3f}) yaw {rig.yaw:.2f}; target {aim}')
            state = servo.state
            if state is ServoState.CLOSE:
                gap = rig.close()
                log.append(f't={rig.time:.2f} s closed to {gap * 1000:.1f} mm, holding '
                           f'{rig.holding()}')
            elif state is ServoState.LIFT:
                risen = rig.lift(cfg.gains.lift_height, cfg.gains.lift_speed)
                log.append(f't={rig.time:.2f} s lifted {risen * 1000:.0f} mm')
            continue
        rig.step(dt, twist)
    z1 = p.getBasePositionAndOrientation(obj.body, physicsClientId=client)[0][2]
    rise = float(z1 - z0)
    lifted = (servo.state is ServoState.DONE
              and rise > SUCCESS_RISE * cfg.gains.lift_height and rig.holding())
    if not servo.finished:
        log.append(f't={rig.time:.2f} s timed out in {servo.state.value}')
    return TrialResult(lifted, servo.state, servo.reason, rig.time,
                       time.perf_counter() - wall0, frames, rise, log, targets)


def _save_frame(path: Path, frame, target: Optional[GraspTarget]) -> None:
    """The frame with the target's jaws drawn (PNG)."""
    import cv2

    image = cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR)
    if target is not None:
        half = 0.5 * target.opening * np.array([math.cos(target.yaw), math.sin(target.yaw), 0])
        jaws = [frame.camera.project(target.position + s * half)[:2] for s in (-1, 1)]
        a, b = [tuple(int(round(v)) for v in jaw) for jaw in jaws]
        cv2.line(image, a, b, (0, 0, 255), 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--object', type=int, default=460, help='held-out catalogue index')
    parser.add_argument('--seed', type=int, default=3)
    parser.add_argument('--width', type=int, default=320)
    parser.add_argument('--height', type=int, default=240)
    parser.add_argument('--camera-rate', type=float, default=10.0)
    parser.add_argument('--max-time', type=float, default=15.0)
    parser.add_argument('--save', type=Path, default=None)
    args = parser.parse_args(argv)
    config = TrialConfig(camera_rate=args.camera_rate, max_time=args.max_time)
    with WristRig(RigConfig(width=args.width, height=args.height, object_ids=[args.object],
                            seed=args.seed, shadows=False)) as rig:
        result = run_trial(rig, make_pipeline(config.object_height), config, args.save)
    print('\n'.join(result.log))
    print(f'lifted={result.lifted} state={result.state.value} {result.reason} '
          f'rise={result.rise * 1000:.0f} mm sim={result.sim_time:.2f} s '
          f'wall={result.wall_time:.1f} s frames={result.frames}')
    return 0 if result.lifted else 1


if __name__ == '__main__':
    raise SystemExit(main())
