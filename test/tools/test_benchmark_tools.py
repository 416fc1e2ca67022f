"""Pure parts of the stage benchmark and of scene-eval (no timing asserted)."""

import math

import numpy as np
import pytest

from tools.stage_benchmark import markdown_table, measure, STAGES, summarise
from training.scene_eval import closing_angle_error_deg, summarise as scene_summary


class Fixed:
    """A variant whose stages take known (fake) times."""

    def __init__(self, name, seconds):
        self.name, self.seconds, self.calls = name, seconds, 0

    def run(self, msg):
        self.calls += 1
        return {s: self.seconds for s in STAGES}


def test_measure_interleaves_blocks_and_summarise_gives_ratios():
    slow, fast = Fixed('slow', 0.004), Fixed('fast', 0.001)
    samples = measure([slow, fast], msg=None, frames=25, warmup=2, block=10)
    assert all(len(samples[v.name]['total']) == 25 for v in (slow, fast))
    # warm-up 2 + 3 blocks (10, 10, 5) each preceded by one untimed frame.
    assert slow.calls == fast.calls == 2 + 25 + 3
    summary = summarise(samples, baseline='slow')
    assert summary['slow']['total']['p50'] == pytest.approx(5 * 4.0)
    assert summary['fast']['fps'] == pytest.approx(1000.0 / 5.0)
    assert summary['fast']['speedup_p50'] == pytest.approx(4.0)
    table = markdown_table(summary)
    assert table.count('\n') == 3 and '4.00x' in table and '| slow |' in table


class Obj:
    """The part of SimObject that the angle error reads: the major axis yaw."""

    def __init__(self, major_yaw):
        self.major_yaw = major_yaw

    def axes(self):
        return (self.major_yaw, 0.1, 0.02)


def rotation_with_closing_yaw(yaw):
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


@pytest.mark.parametrize('major', [0.0, 0.7, -1.4])
def test_closing_angle_error_is_measured_from_the_minor_axis_modulo_a_half_turn(major):
    obj = Obj(major)
    across = major + math.pi / 2
    for offset, expected in ((0.0, 0.0), (0.2, 11.46), (-0.2, 11.46), (math.pi, 0.0),
                             (math.pi / 2, 90.0)):
        error = closing_angle_error_deg(obj, rotation_with_closing_yaw(across + offset))
        assert error == pytest.approx(expected, abs=0.01)


def test_scene_summary_counts_shares():
    records = [{'distance_m': 0.0, 'angle_deg': 5.0}, {'distance_m': 0.02, 'angle_deg': 40.0},
               {'distance_m': 0.005, 'angle_deg': None}]
    s = scene_summary(records, on_object=0.01, across=15.0)
    assert s['scenes'] == 3 and s['on_object_share'] == pytest.approx(2 / 3)
    assert s['elongated_scenes'] == 2 and s['across_share'] == 0.5
    assert s['angle_median_deg'] == pytest.approx(22.5)
