"""What ``python -m tools.closed_loop_demo`` watches of the closed loop, and its verdict.

:class:`LoopMonitor` subscribes (on a node of the demo's process) to the controller's
``~/state`` (latched), the wrist camera's ``~/holding`` and ``~/object_pose`` (the simulation's
truth), the grasp node's ``~/detections`` and the controller's commands
(``/wrist_camera/cmd_twist``), and records each message's arrival (``time.monotonic()``, s).
:func:`summarise` turns the record into a :class:`LoopResult`: lifted or not, the time to the
grasp, how many detections arrived and at what rate, the command rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import time
from typing import List, Optional, Tuple

from simulation.closed_loop import SUCCESS_RISE
from simulation.servo import ServoGains
from tools.closed_loop_commands import (CMD_TWIST_TOPIC, DETECTIONS_TOPIC, HOLDING_TOPIC,
                                        OBJECT_POSE_TOPIC, STATE_TOPIC)

#: The controller's final phases.
FINAL_STATES = ('done', 'failed')
#: How the demo prints a controller state that is not a servo phase (the node's ``WAITING``:
#: no detections yet, it holds still).
STATE_TEXT = {'waiting': 'waiting for the first detections (holding still)'}


def state_text(state: str) -> str:
    """The controller's ``~/state`` ``state`` as the demo prints it."""
    return STATE_TEXT.get(state, state)


@dataclass
class LoopRecord:
    """Arrival times (monotonic s) and contents: ``states`` (t, phase: 'waiting' until the
    servo's first step, then :class:`simulation.servo.ServoState` values), ``holding`` (t, bool),
    ``object_z`` (first and newest z of the object's base in base_link, m), ``detections``
    (t, number of detections in the array), ``commands`` (t of each TwistStamped)."""

    states: List[Tuple[float, str]] = field(default_factory=list)
    holding: List[Tuple[float, bool]] = field(default_factory=list)
    object_z: List[float] = field(default_factory=list)
    detections: List[Tuple[float, int]] = field(default_factory=list)
    commands: List[float] = field(default_factory=list)

    @property
    def state(self) -> str:
        """The newest phase ('' before the first)."""
        return self.states[-1][1] if self.states else ''

    def finished_at(self) -> Optional[float]:
        """When the controller entered DONE or FAILED, or None."""
        return next((t for t, s in self.states if s in FINAL_STATES), None)


class LoopMonitor:
    """The subscriptions of the module docstring on ``node`` (an rclpy node); ``record``."""

    def __init__(self, node) -> None:
        from geometry_msgs.msg import PoseStamped, TwistStamped
        from rclpy.qos import DurabilityPolicy, QoSProfile
        from std_msgs.msg import Bool, String
        from vision_msgs.msg import Detection3DArray

        self.record = r = LoopRecord()
        latched = QoSProfile(depth=10, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        now = time.monotonic
        self._subs = [
            node.create_subscription(String, STATE_TOPIC,
                                     lambda m: r.states.append((now(), m.data)), latched),
            node.create_subscription(Bool, HOLDING_TOPIC,
                                     lambda m: r.holding.append((now(), bool(m.data))), 10),
            node.create_subscription(PoseStamped, OBJECT_POSE_TOPIC, self._on_object, 10),
            node.create_subscription(
                Detection3DArray, DETECTIONS_TOPIC,
                lambda m: r.detections.append((now(), len(m.detections))), 10),
            node.create_subscription(TwistStamped, CMD_TWIST_TOPIC,
                                     lambda m: r.commands.append(now()), 100),
        ]

    def _on_object(self, msg) -> None:
        z = self.record.object_z
        z[1:] = [float(msg.pose.position.z)]
        if len(z) == 1:   # the first: also the newest
            z.append(z[0])


@dataclass
class LoopResult:
    """The verdict of one run. ``lifted``: the controller DONE, the object between both fingers
    (``holding``) and risen (``rise_m``) more than ``SUCCESS_RISE`` of the lift height (as
    :mod:`simulation.closed_loop`). Times in s from the start of the processes:
    ``first_detection_s`` (the servo starts then), ``close_s`` and ``finished_s`` (DONE or
    FAILED; None: not reached); ``grasp_s`` = first detection -> DONE. ``detections`` arrays
    received (``with_grasp`` of them non-empty) and ``detection_rate`` (Hz) from the first
    detection to the end of the servo's run (or of the run); ``command_rate`` (Hz) of
    ``cmd_twist`` over the same span; ``phases``: (s, phase); ``wall_s``: the whole run;
    ``target_switches``: the controller's changes of tracked id while approaching (from its
    log; None: not counted)."""

    lifted: bool
    state: str
    holding: Optional[bool]
    rise_m: Optional[float]
    first_detection_s: Optional[float]
    close_s: Optional[float]
    finished_s: Optional[float]
    grasp_s: Optional[float]
    detections: int
    with_grasp: int
    detection_rate: float
    command_rate: float
    phases: List[Tuple[float, str]]
    wall_s: float
    target_switches: Optional[int] = None


def _rate(times: List[float], start: float, end: float) -> float:
    inside = [t for t in times if start <= t <= end]
    return (len(inside) - 1) / (inside[-1] - inside[0]) if len(inside) > 1 else 0.0


def summarise(record: LoopRecord, t0: float, t_end: float,
              lift_height: float = ServoGains().lift_height) -> LoopResult:
    """The :class:`LoopResult` of ``record``; ``t0`` = the start of the processes, ``t_end``
    = the end of the run (monotonic s)."""
    first = record.detections[0][0] if record.detections else None
    finished = record.finished_at()
    end = finished if finished is not None else t_end
    close = next((t for t, s in record.states if s == 'close'), None)
    holding = record.holding[-1][1] if record.holding else None
    rise = record.object_z[-1] - record.object_z[0] if record.object_z else None
    lifted = (record.state == 'done' and bool(holding) and rise is not None
              and rise > SUCCESS_RISE * lift_height)
    since = (lambda t: None if t is None else round(t - t0, 3))
    span = [t for t, _ in record.detections]
    return LoopResult(
        lifted=lifted, state=record.state, holding=holding,
        rise_m=None if rise is None else round(rise, 4),
        first_detection_s=since(first), close_s=since(close), finished_s=since(finished),
        grasp_s=(round(finished - first, 3) if record.state == 'done' and first is not None
                 and finished is not None else None),
        detections=len(record.detections),
        with_grasp=sum(1 for _, n in record.detections if n),
        detection_rate=round(_rate(span, first, end), 2) if first is not None else 0.0,
        command_rate=round(_rate(record.commands, first, end), 1) if first is not None else 0.0,
        phases=[(round(t - t0, 3), s) for t, s in record.states],
        wall_s=round(t_end - t0, 3))
