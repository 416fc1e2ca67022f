"""Grasp centring: a grasp moves along its closing axis to the middle of its object."""

import math

import numpy as np
import pytest

from mtg_grasp_ros.centring import centre_on_object
from mtg_grasp_ros.grasp import Grasp
from mtg_grasp_ros.postprocess import GraspMaps, top_grasps


def box_quality():
    """(100, 100) map: an object over columns 30-69 and rows 40-59 whose quality is highest
    near its left and right ends (0.9) and lower in the middle (0.5); background 0."""
    q = np.zeros((100, 100), np.float32)
    q[40:60, 30:70] = 0.5
    q[40:60, 30:36] = 0.9
    q[40:60, 64:70] = 0.9
    return q


def test_a_grasp_at_an_end_moves_to_the_middle_along_its_closing_axis():
    q = box_quality()
    g = Grasp(row=50.0, col=33.0, angle=0.0, width=60.0, jaw_size=30.0, quality=0.9)
    centred = centre_on_object(g, q, 0.3)
    # Closing axis along the columns (angle 0): the object spans columns 30-69, middle 49.5-50.
    assert centred.col == pytest.approx(49.75, abs=0.75)
    assert centred.row == pytest.approx(50.0)
    assert (centred.angle, centred.width, centred.quality) == (g.angle, g.width, g.quality)


def test_across_the_object_the_centre_moves_along_the_rows():
    q = box_quality()
    g = Grasp(row=43.0, col=50.0, angle=math.pi / 2, width=40.0, jaw_size=20.0, quality=0.5)
    centred = centre_on_object(g, q, 0.3)
    assert centred.row == pytest.approx(49.75, abs=0.75)
    assert centred.col == pytest.approx(50.0, abs=1e-6)


def test_a_run_longer_than_the_opening_or_no_fraction_leaves_the_grasp():
    q = box_quality()
    g = Grasp(row=50.0, col=33.0, angle=0.0, width=20.0, jaw_size=10.0, quality=0.9)
    assert centre_on_object(g, q, 0.3) is g          # the object reaches beyond the opening
    wide = Grasp(row=50.0, col=33.0, angle=0.0, width=60.0, jaw_size=30.0, quality=0.9)
    assert centre_on_object(wide, q, 0.0) is wide
    with pytest.raises(ValueError):
        centre_on_object(wide, q[None], 0.3)


def test_an_object_cut_by_the_map_edge_ends_at_the_edge():
    q = np.zeros((50, 50), np.float32)
    q[20:30, 0:20] = 0.8                               # columns 0-19, cut by the left edge
    g = Grasp(row=25.0, col=15.0, angle=0.0, width=40.0, jaw_size=20.0, quality=0.8)
    assert centre_on_object(g, q, 0.3).col == pytest.approx(9.75, abs=0.75)


def test_top_grasps_centre_only_when_asked():
    q = box_quality()
    maps = GraspMaps(quality=q, angle=np.zeros_like(q), width=np.full_like(q, 60.0))
    peak = top_grasps(maps)[0]
    assert peak.col < 36
    assert top_grasps(maps, centring_fraction=0.3)[0].col == pytest.approx(49.75, abs=0.75)


def test_the_pipeline_takes_centring_fractions_from_0_to_0_99():
    from mtg_grasp_ros.pipeline import PipelineConfig, PipelineConfigError

    assert PipelineConfig().centring_fraction == 0.3
    PipelineConfig(centring_fraction=0.0).validate()
    PipelineConfig(centring_fraction=0.99).validate()
    for bad in (-0.1, 1.0, float('nan')):
        with pytest.raises(PipelineConfigError, match='centring_fraction'):
            PipelineConfig(centring_fraction=bad).validate()
