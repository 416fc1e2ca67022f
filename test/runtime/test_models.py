"""Network definitions: shapes, parameter counts, independence of the grasp branch."""

import pytest
import torch

from mtg_grasp_ros.models import build_model, count_parameters, GraspCNN


def test_parameter_counts_match_the_paper():
    # The paper quotes ~70k (GG-CNN) and ~115k (MTG-CNN) for RGB input; the exact counts are
    # recorded in the README, so a change of architecture shows up here.
    assert count_parameters(build_model('ggcnn', 'rgb')) == 70548
    assert count_parameters(build_model('mtgcnn', 'rgb')) == 115973
    # GG-CNN2 with one depth channel: 66.7k in the reference implementation.
    assert count_parameters(build_model('ggcnn', 'depth')) == 66676


@pytest.mark.parametrize('network,outputs', [('ggcnn', 4), ('mtgcnn', 5)])
@pytest.mark.parametrize('mode,channels', [('rgb', 3), ('depth', 1), ('rgbd', 4)])
def test_output_maps_have_input_size(network, outputs, mode, channels):
    model = build_model(network, mode)
    maps = model(torch.zeros(2, channels, 64, 96))
    assert len(maps) == outputs
    assert all(m.shape == (2, 1, 64, 96) for m in maps)


def test_input_size_must_be_multiple_of_four():
    with pytest.raises(ValueError, match='multiples of 4'):
        build_model()(torch.zeros(1, 3, 30, 32))


def test_unknown_network_or_mode_is_a_clear_error():
    with pytest.raises(ValueError, match='unknown network'):
        build_model('resnet')
    with pytest.raises(ValueError, match='unknown input mode'):
        build_model('ggcnn', 'thermal')


def test_grasp_outputs_do_not_depend_on_the_aux_branch():
    torch.manual_seed(0)
    model = build_model('mtgcnn').eval()
    x = torch.randn(1, 3, 48, 48)
    before = model(x)
    with torch.no_grad():
        for p in model.aux.parameters():
            p.add_(torch.randn_like(p))
    after = model(x)
    for a, b in zip(before[:4], after[:4]):
        assert torch.equal(a, b)
    assert not torch.equal(before[4], after[4])


def test_without_aux_gives_identical_grasp_maps_and_fewer_parameters():
    torch.manual_seed(1)
    model = build_model('mtgcnn').eval()
    stripped = model.without_aux()
    assert isinstance(stripped, GraspCNN) and not stripped.has_aux and model.has_aux
    assert count_parameters(stripped) == count_parameters(build_model('ggcnn'))
    x = torch.randn(2, 3, 40, 40)
    for a, b in zip(model(x)[:4], stripped(x)):
        assert torch.equal(a, b)
