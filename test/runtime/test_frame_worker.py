"""The node's worker thread without ROS: the newest frame only, errors never kill it, and the
deactivate helpers (discard the waiting frame, wait for the one in progress). Every wait is
bounded; nothing is timed."""

import threading

from mtg_grasp_ros.frame_worker import FrameWorker

WAIT = 10.0


class Recorder:
    """``process`` that records frames and can hold the worker inside one."""

    def __init__(self):
        self.frames, self.errors = [], []
        self.inside, self.release = threading.Event(), threading.Event()
        self.release.set()
        self.done = threading.Condition()

    def process(self, frame, received):
        self.inside.set()
        assert self.release.wait(WAIT)
        if frame == 'bad':
            raise ValueError('bad frame')
        with self.done:
            self.frames.append(frame)
            self.done.notify_all()

    def on_error(self, exc):
        self.errors.append(str(exc))
        with self.done:
            self.done.notify_all()
        return True

    def wait_for(self, predicate):
        with self.done:
            return self.done.wait_for(predicate, WAIT)


def test_only_the_newest_frame_is_processed_and_errors_do_not_stop_it():
    r = Recorder()
    worker = FrameWorker(r.process, r.on_error, name='test_worker')
    try:
        with worker.lock:   # the worker cannot take a frame meanwhile
            assert worker.offer(1) is False
            assert worker.offer(2) is True and worker.offer(3) is True
            assert worker.waiting
        assert r.wait_for(lambda: r.frames == [3])
        worker.offer('bad')
        assert r.wait_for(lambda: r.errors == ['bad frame'])
        worker.offer(4)
        assert r.wait_for(lambda: r.frames == [3, 4]) and worker.thread.is_alive()
    finally:
        worker.stop()
    assert not worker.thread.is_alive()


def test_discard_and_wait_idle():
    r = Recorder()
    r.release.clear()
    worker = FrameWorker(r.process, r.on_error)
    try:
        worker.offer(1)
        assert r.inside.wait(WAIT)           # frame 1 in progress
        worker.offer(2)
        assert worker.discard() is True and not worker.waiting
        assert worker.discard() is False
        assert worker.wait_idle(0.0) is False      # busy: no waiting at all
        idle = []
        waiter = threading.Thread(target=lambda: idle.append(worker.wait_idle(WAIT)))
        waiter.start()
        r.release.set()
        waiter.join(WAIT)
        assert idle == [True] and r.frames == [1]  # frame 2 was never processed
    finally:
        worker.stop()


def test_an_error_handler_returning_false_stops_the_worker():
    worker = FrameWorker(lambda frame, received: 1 / 0, lambda exc: False)
    worker.offer(1)
    worker.thread.join(WAIT)
    assert not worker.thread.is_alive()
    assert worker.wait_idle(WAIT)
