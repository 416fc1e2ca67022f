"""The parameter table without a running node: which parameters are live, and the check of a
live change (the same rules and messages as at configure)."""

import pytest

from mtg_grasp_ros.node_parameters import (LIVE_PARAMETERS, PARAMETERS, read_parameters,
                                           StartupError, updated_parameters)

DEFAULTS = {p.name: p.default for p in PARAMETERS}


def value_of(name):
    return DEFAULTS[name]


def test_live_parameters_are_the_per_frame_settings():
    assert set(LIVE_PARAMETERS) == {
        'min_quality', 'top_k', 'min_distance', 'sigma_quality', 'sigma_angle', 'sigma_width',
        'crop_size', 'crop_x', 'crop_y', 'jaws_outside_view', 'centring_fraction', 'jaw_clearance',
        'clearance_fraction', 'max_opening', 'finger_depth',
        'tracking.enabled', 'tracking.radius', 'tracking.switch_margin', 'tracking.timeout',
        'stats_period'}
    for name in ('model_path', 'backend', 'device', 'precision', 'threads', 'target_frame',
                 'reliability', 'depth_source', 'autostart'):
        assert name not in LIVE_PARAMETERS


def test_a_live_change_gives_new_parameters():
    params = updated_parameters(value_of, {'top_k': 2, 'min_quality': 0,
                                           'tracking.enabled': True, 'not_ours': 'x'})
    assert (params.top_k, params.min_quality, params.tracking.enabled) == (2, 0.0, True)
    assert isinstance(params.min_quality, float)
    assert params.pipeline_config().top_k == 2
    assert read_parameters(value_of).top_k == 5      # the defaults are untouched


@pytest.mark.parametrize('changes,reason', [
    ({'model_path': 'other'}, 'parameter model_path is read-only'),
    ({'top_k': 0}, 'parameter top_k = 0 is outside [1, 100]'),
    ({'top_k': 2.5}, 'parameter top_k must be an integer'),
    ({'min_quality': 'high'}, 'parameter min_quality must hold finite numbers'),
    ({'min_quality': float('nan')}, 'must hold finite numbers'),
    ({'tracking.radius': -1}, 'parameter tracking.radius = -1.0 is outside [0.0, 10.0]'),
    ({'tracking.enabled': 1}, 'parameter tracking.enabled must be true or false'),
    ({'jaws_outside_view': 'never'}, 'choose one of keep, last, drop'),
    ({'crop_size': -2}, 'parameter crop_size = -2 is outside [-1, 100000]'),
])
def test_a_bad_live_change_is_refused_with_the_reason(changes, reason):
    with pytest.raises(StartupError, match=reason.replace('[', r'\[').replace(']', r'\]')):
        updated_parameters(value_of, changes)
