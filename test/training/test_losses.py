"""The paper's equations (2) and (3) against hand-computed values."""

import pytest
import torch

from training.losses import grasp_loss


def _maps(values):
    """(1, 1, 1, 2) maps from pairs of pixel values: one image of 2 pixels per map."""
    return tuple(torch.tensor(v, dtype=torch.float32).view(1, 1, 1, 2) for v in values)


def test_mse_is_equation_2_by_hand():
    pred = _maps([[0.5, 0.0], [1.0, 0.0], [0.0, 0.2], [0.4, 0.0], [0.3, 0.9]])
    target = torch.cat(_maps([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.2, 0.0], [0.3, 0.5]]), 1)
    terms = grasp_loss(pred, target, 'mse')
    # N = 2 pixels: each term is (1/2) * sum of squared errors.
    assert terms['quality'].item() == pytest.approx(0.25 / 2)
    assert terms['cos'].item() == pytest.approx(1.0 / 2)
    assert terms['sin'].item() == pytest.approx(0.04 / 2)
    assert terms['width'].item() == pytest.approx(0.04 / 2)
    assert terms['aux'].item() == pytest.approx(0.16 / 2)
    assert terms['loss'].item() == pytest.approx((0.25 + 1.0 + 0.04 + 0.04 + 0.16) / 2)


def test_positional_is_equation_3_by_hand():
    # Q_GT = (0.5, 0): angle/width errors count with weight 0.5 at pixel 0, not at pixel 1.
    pred = _maps([[0.0, 0.0], [1.0, 3.0], [0.0, -2.0], [0.6, 5.0]])
    target = torch.cat(_maps([[0.5, 0.0], [0.0, 0.0], [0.4, 0.0], [0.2, 0.0]]), 1)
    terms = grasp_loss(pred, target, 'positional')
    assert terms['quality'].item() == pytest.approx(0.25 / 2)
    assert terms['cos'].item() == pytest.approx((0.5 * 1.0) ** 2 / 2)
    assert terms['sin'].item() == pytest.approx((0.5 * 0.4) ** 2 / 2)
    assert terms['width'].item() == pytest.approx((0.5 * 0.4) ** 2 / 2)
    assert terms['loss'].item() == pytest.approx((0.25 + 0.25 + 0.04 + 0.04) / 2)
    assert 'aux' not in terms


def test_positional_ignores_angle_and_width_where_quality_is_zero():
    torch.manual_seed(0)
    target = torch.zeros(2, 5, 8, 8)
    target[:, 0, 2:5, 2:5] = 1.0
    pred = [torch.rand(2, 1, 8, 8) for _ in range(5)]
    base = grasp_loss(pred, target, 'positional')['loss']
    wild = [p.clone() for p in pred]
    for i in (1, 2, 3):  # change angle and width only where Q_GT = 0
        wild[i][target[:, :1] == 0] = 100.0
    assert grasp_loss(wild, target, 'positional')['loss'].item() == pytest.approx(base.item())
    assert grasp_loss(wild, target, 'mse')['loss'].item() > base.item() + 100
    # ...but not where Q_GT = 1.
    wild[1][target[:, :1] == 1] = 100.0
    assert grasp_loss(wild, target, 'positional')['loss'].item() > base.item() + 100


def test_quality_and_aux_terms_are_not_masked():
    target = torch.zeros(1, 5, 4, 4)
    pred = [torch.zeros(1, 1, 4, 4) for _ in range(5)]
    pred[0] += 1.0
    pred[4] += 2.0
    terms = grasp_loss(pred, target, 'positional')
    assert terms['quality'].item() == pytest.approx(1.0)
    assert terms['aux'].item() == pytest.approx(4.0)


def test_mismatched_channels_and_unknown_loss_are_errors():
    pred = [torch.zeros(1, 1, 4, 4) for _ in range(4)]
    with pytest.raises(ValueError, match='auxiliary'):
        grasp_loss(pred, torch.zeros(1, 5, 4, 4))
    with pytest.raises(ValueError, match='unknown loss'):
        grasp_loss(pred, torch.zeros(1, 4, 4, 4), 'l1')
