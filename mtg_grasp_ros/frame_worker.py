"""The node's worker thread: the newest camera frame only, never a queue (ROS-free).

The image callback hands each frame to :meth:`FrameWorker.offer` and returns at once; one
worker thread takes the newest frame and runs the node's ``process(frame, received)`` on it. A
frame offered before the previous one was taken replaces it (the node counts it
``superseded``), so latency cannot build up. An exception of ``process`` goes to
``on_error(exc)``, which returns False to stop the worker (the context shut down mid-frame) and
True to take the next frame: the thread never dies of a bad frame.

:meth:`FrameWorker.discard` and :meth:`FrameWorker.wait_idle` let the node's deactivate
transition drop the waiting frame and wait for the one in progress, so nothing is published
after it returns.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Optional, Tuple


class FrameWorker:
    """One daemon thread (:attr:`thread`, named ``name``) processing the newest offered frame.

    :attr:`lock` is the condition guarding the slot; holding it keeps the worker from taking a
    frame (tests use that to offer several frames at once).
    """

    def __init__(self, process: Callable[[Any, float], None],
                 on_error: Callable[[Exception], bool], name: str = 'grasp_worker') -> None:
        self._process, self._on_error = process, on_error
        self.lock = threading.Condition()
        self._pending: Optional[Tuple[Any, float]] = None
        self._busy = False
        self._stop = False
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def offer(self, frame: Any, received: Optional[float] = None) -> bool:
        """Make ``frame`` the next one (``received``: its time.monotonic(), default now); True
        when it replaced a frame that was not taken yet."""
        received = time.monotonic() if received is None else received
        with self.lock:
            superseded = self._pending is not None
            self._pending = (frame, received)
            self.lock.notify_all()
        return superseded

    @property
    def waiting(self) -> bool:
        """True while a frame waits for the worker."""
        return self._pending is not None

    def discard(self) -> bool:
        """Drop the waiting frame, if any; True when there was one."""
        with self.lock:
            dropped = self._pending is not None
            self._pending = None
        return dropped

    def wait_idle(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until no frame is being processed; True when idle.

        Returns at once when called from the worker thread itself.
        """
        if threading.current_thread() is self.thread:
            return False
        deadline = time.monotonic() + timeout
        with self.lock:
            while self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.lock.wait(left)
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread after the frame in progress (joined for at most ``timeout`` s)."""
        with self.lock:
            self._stop = True
            self.lock.notify_all()
        if self.thread is not threading.current_thread():
            self.thread.join(timeout=timeout)

    def _run(self) -> None:
        while True:
            with self.lock:
                while self._pending is None and not self._stop:
                    self.lock.wait(0.5)
                if self._stop:
                    return
                frame, received = self._pending
                self._pending = None
                self._busy = True
            try:
                self._process(frame, received)
                keep_going = True
            except Exception as exc:  # never let the worker die of a frame
                keep_going = self._on_error(exc)
            finally:
                with self.lock:
                    self._busy = False
                    self.lock.notify_all()
            if not keep_going:
                return
