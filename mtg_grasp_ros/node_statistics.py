"""The node's frame counters and latency windows, its statistics log line and its diagnostics.

Counters (frames): ``frames_in`` reached the image callback; ``missed`` were sent by the
camera but never reached it (:mod:`mtg_grasp_ros.delivery`); ``processed`` went through the
pipeline, of which ``published`` gave a grasp and ``no_grasp`` had none above ``min_quality``;
``dropped`` counts the others by reason (``superseded`` by a newer frame, or the ``reason`` of
the per-frame error). Timing windows (the last ``window`` values, seconds): ``transport``
(camera stamp -> callback), ``inference``, ``pipeline`` (the whole pipeline), ``latency``
(callback -> published) and ``age`` (camera stamp -> published, by the node's clock).
"""

from __future__ import annotations

from collections import Counter, deque
import threading
import time
from typing import Any, Dict, Optional, Tuple

import numpy as np

#: Timing windows, with their names in the statistics line, in its order.
TIMING_LABELS = (('transport', 'stamp->receive'), ('inference', 'inference'),
                 ('pipeline', 'pipeline'), ('latency', 'receive->publish'),
                 ('age', 'stamp->publish'))


class FrameStatistics:
    """Thread-safe frame counters and latency windows of the node.

    Writers hold :attr:`lock` while they change several counters at once, so a reader of
    :meth:`snapshot` never sees a frame half-counted.
    """

    def __init__(self, window: int = 300) -> None:
        self.lock = threading.Lock()
        self.frames_in = 0
        self.missed = 0  # sent by the camera, never received (see mtg_grasp_ros.delivery)
        self.processed = 0
        self.published = 0
        self.no_grasp = 0
        self.debug_images = 0
        self.dropped: Counter = Counter()
        self.timings: Dict[str, deque] = {}
        self.window = window
        self.last_published: Optional[float] = None  # time.monotonic() of the last grasp

    def add_time(self, name: str, seconds: float) -> None:
        """Append a duration (s) to the timing window ``name``."""
        with self.lock:
            self.timings.setdefault(name, deque(maxlen=self.window)).append(seconds)

    def count_received(self, superseded: bool) -> None:
        """An image reached the callback; ``superseded``: it replaced one not yet taken."""
        with self.lock:
            self.frames_in += 1
            if superseded:
                self.dropped['superseded'] += 1

    def count_missed(self, frames: int) -> None:
        """Frames the camera sent that never reached the callback."""
        if frames:
            with self.lock:
                self.missed += frames

    def count_no_grasp(self) -> None:
        """A processed frame without a grasp above min_quality."""
        with self.lock:
            self.processed += 1
            self.no_grasp += 1

    def count_published(self, when: float) -> None:
        """A processed frame whose grasp was published at ``when`` (time.monotonic())."""
        with self.lock:
            self.processed += 1
            self.published += 1
            self.last_published = when

    def count_debug_image(self) -> None:
        """A ``~/debug_image`` was published."""
        with self.lock:
            self.debug_images += 1

    def drop(self, reason: str) -> int:
        """Count a dropped frame; returns the count of ``reason`` so far."""
        with self.lock:
            self.dropped[reason] += 1
            return self.dropped[reason]

    def percentiles(self, name: str) -> Optional[Tuple[float, float]]:
        """``(p50, p95)`` in milliseconds of a timing window, or None when empty."""
        with self.lock:
            values = list(self.timings.get(name, ()))
        if not values:
            return None
        p50, p95 = np.percentile(np.asarray(values) * 1000.0, [50, 95])
        return float(p50), float(p95)

    def snapshot(self) -> Dict[str, Any]:
        """The counters at one instant (``dropped``: reason -> count)."""
        with self.lock:
            return {'frames_in': self.frames_in, 'missed': self.missed,
                    'processed': self.processed,
                    'published': self.published, 'no_grasp': self.no_grasp,
                    'dropped': dict(self.dropped), 'debug_images': self.debug_images}

    def summary(self) -> str:
        """The statistics log line: counters, then p50 / p95 of each non-empty window."""
        s = self.snapshot()
        dropped = ', '.join(f'{k} {v}' for k, v in sorted(s['dropped'].items())) or 'none'
        parts = [f'frames in {s["frames_in"]}, processed {s["processed"]}, published '
                 f'{s["published"]}, no grasp >= min_quality {s["no_grasp"]}, dropped: {dropped}',
                 f'missed {s["missed"]} (sent, never received: replaced in the keep-last-1 '
                 f'queue or lost in transport)']
        for name, label in TIMING_LABELS:
            p = self.percentiles(name)
            if p is not None:
                parts.append(f'{label} p50 {p[0]:.1f} ms / p95 {p[1]:.1f} ms')
        return '; '.join(parts)

    def diagnose(self, stat, stats_period: float, state: str = 'active',
                 configure_error: Optional[str] = None):
        """Fill a ``diagnostic_updater`` status (``stat.summary``/``stat.add``); returns it.

        ``state``: the node's lifecycle state; ``configure_error``: why the last configure
        failed (None: it did not). Active: WARN while no image arrived or no grasp was
        published in the last ``max(5 s, stats_period)``, else OK. Otherwise ERROR after a
        failed configure, OK while inactive (paused, the model loaded), else WARN. As values
        (strings: diagnostic_updater's ``stat.add`` takes strings) ``lifecycle state``, the
        counters, ``dropped <reason>`` and each window's ``<name> p50 ms`` / ``<name> p95 ms``
        (the tools' ROS benchmark reads them).
        """
        from diagnostic_msgs.msg import DiagnosticStatus

        s = self.snapshot()
        last = self.last_published
        recent = last is not None and time.monotonic() - last < max(5.0, stats_period)
        if state != 'active':
            if configure_error:
                stat.summary(DiagnosticStatus.ERROR, f'configure failed: {configure_error}')
            elif state == 'inactive':
                stat.summary(DiagnosticStatus.OK, 'inactive: model loaded, not subscribed')
            else:
                stat.summary(DiagnosticStatus.WARN, f'{state}: no model loaded')
        elif s['frames_in'] == 0:
            stat.summary(DiagnosticStatus.WARN, 'no images received')
        elif not recent:
            stat.summary(DiagnosticStatus.WARN, 'no grasp published recently')
        else:
            stat.summary(DiagnosticStatus.OK, 'publishing grasps')
        stat.add('lifecycle state', state)
        for key in ('frames_in', 'missed', 'processed', 'published', 'no_grasp'):
            stat.add(key, str(s[key]))
        for reason, count in sorted(s['dropped'].items()):
            stat.add(f'dropped {reason}', str(count))
        for name, _ in TIMING_LABELS:
            p = self.percentiles(name)
            if p is not None:
                stat.add(f'{name} p50 ms', f'{p[0]:.1f}')
                stat.add(f'{name} p95 ms', f'{p[1]:.1f}')
        return stat
