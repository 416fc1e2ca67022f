"""evaluate --model and label-stats on the real Jacquard views of ../shared/real (checks only).

That folder sits beside the repository on the project's machines and is absent from a user's
clone: then these tests skip. They check that the commands run and that their figures are
sane, never an accuracy (the views are for checks and figures, not for tuning).
"""

import json
from pathlib import Path

import pytest

from training.__main__ import main

REPO = Path(__file__).resolve().parents[2]
REAL = REPO.parent / 'shared' / 'real' / 'jacquard'
MODEL = REPO / 'models' / 'mtgcnn_depth_p'

pytestmark = pytest.mark.skipif(not REAL.is_dir(),
                                reason=f'{REAL} is absent (real Jacquard views, not in a clone)')


def test_shipped_model_on_real_jacquard(tmp_path):
    if not MODEL.with_suffix('.json').is_file():
        pytest.skip(f'{MODEL}.json is absent')
    out = tmp_path / 'real.json'
    assert main(['evaluate', '--model', str(MODEL), '--data', str(REAL), '--device', 'cpu',
                 '--out', str(out)]) == 0
    result = json.loads(out.read_text())
    n = result['n_images']
    assert n >= 2 and len(result['per_image']) == n
    assert 0.0 <= result['accuracy'] <= 1.0
    assert result['correct'] == sum(r['correct'] for r in result['per_image'])
    opening, background = result['opening'], result['background']
    assert opening['n'] == n and background['n_with_mask'] == n
    assert 0 < opening['median_label_px'] < 1024 and 0 < opening['median_pred_px'] < 1024
    assert opening['median_ratio'] > 0 and opening['median_abs_error_px'] >= 0
    assert 0.0 <= background['share'] <= 1.0
    assert background['off_mask'] == sum(r['opening']['off_mask'] for r in result['per_image'])


def test_label_stats_on_real_jacquard(tmp_path):
    out = tmp_path / 'stats.json'
    assert main(['label-stats', '--data', str(REAL), '--json', str(out)]) == 0
    stats = json.loads(out.read_text())[0]
    assert stats['views'] >= 2 and stats['objects'] >= 1 and stats['grasps'] > 0
    assert stats['image_side_px']['median'] == 1024
    assert stats['views_with_mask'] == stats['views']
    assert 0 < stats['opening_rel']['p10'] <= stats['opening_rel']['median'] \
        <= stats['opening_rel']['p90'] < 1
    # Jacquard's openings follow the object's width at the grasp: same order as the chord.
    assert 0.5 < stats['opening_over_chord']['median'] < 5
