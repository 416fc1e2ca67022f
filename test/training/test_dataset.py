"""GraspDataset: shapes, exact un-augmented path, augmentation consistency, bad samples."""

import logging
from pathlib import Path
import shutil

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from mtg_grasp_ros.preprocess import network_input
from training.dataset import GraspDataset
from training.formats import load_sample
from training.jacquard import find_jacquard
from training.samples import DatasetError
from training.targets import grasp_maps
from training.tinydata import make_tiny_jacquard

SIZE, OUT = 128, 64  # source and output size; the working size is then 2 * OUT = SIZE


@pytest.fixture(scope='module')
def root(tmp_path_factory) -> Path:
    return make_tiny_jacquard(tmp_path_factory.mktemp('tiny'), n_objects=4, views=2, size=SIZE,
                              seed=3)


@pytest.fixture(scope='module')
def files(root) -> list:
    return find_jacquard(root)


@pytest.fixture
def broken(root, tmp_path) -> Path:
    return Path(shutil.copytree(root, tmp_path / 'broken'))


@pytest.mark.parametrize('input_mode, aux, channels, targets', [
    ('rgb', 'none', 3, 4), ('rgb', 'depth', 3, 5), ('rgb', 'saliency', 3, 5),
    ('depth', 'none', 1, 4), ('rgbd', 'depth', 4, 5)])
def test_item_shapes(files, input_mode, aux, channels, targets):
    dataset = GraspDataset(files, input_mode=input_mode, aux=aux, output_size=OUT, augment=True,
                           rotate=True)
    assert len(dataset) == len(files) and dataset.input_channels == channels
    assert len(dataset.target_names) == targets
    x, y = dataset[1]
    assert x.dtype == y.dtype == torch.float32
    assert tuple(x.shape) == (channels, OUT, OUT) and tuple(y.shape) == (targets, OUT, OUT)
    if aux != 'none':
        assert y[4].min() >= 0.0 and y[4].max() <= 1.0


def test_unaugmented_item_is_exact(files):
    dataset = GraspDataset(files, aux='depth', output_size=OUT)
    for index in (0, 5):
        x, y = dataset[index]
        sample = load_sample(files[index])
        # 128 -> 64 is an exact 2x2 box filter, which INTER_AREA also computes.
        rgb = cv2.resize(sample.rgb, (OUT, OUT), interpolation=cv2.INTER_AREA)
        np.testing.assert_allclose(x.numpy(), network_input('rgb', rgb), atol=1.5 / 255)
        truth = dataset.ground_truth(index)
        assert len(truth) == len(sample.grasps)
        for g, source in zip(truth, sample.grasps):
            assert (g.row, g.col) == pytest.approx(((source.row + 0.5) * 0.5 - 0.5,
                                                    (source.col + 0.5) * 0.5 - 0.5))
            assert (g.width, g.jaw_size, g.angle) == pytest.approx(
                (source.width * 0.5, source.jaw_size * 0.5, source.angle))
        np.testing.assert_array_equal(y[:4].numpy(), grasp_maps(truth, (OUT, OUT)))
        depth = cv2.resize(sample.depth, (OUT, OUT), interpolation=cv2.INTER_AREA)
        expected = (depth - depth.min()) / (depth.max() - depth.min())
        np.testing.assert_allclose(y[4].numpy(), expected, atol=1e-5)


def test_large_sources_are_reduced_to_working_size(root):
    # With a 32 px output the 128 px images are area-reduced to 64 px first, then halved.
    dataset = GraspDataset(find_jacquard(root)[:1], output_size=32)
    assert dataset._working(0).shape == (64, 64)
    # Two area reductions by 2 are one by 4: the input is properly low-pass filtered.
    rgb = load_sample(dataset.files[0]).rgb
    np.testing.assert_allclose(dataset[0][0].numpy(), network_input(
        'rgb', cv2.resize(rgb, (32, 32), interpolation=cv2.INTER_AREA)), atol=1.5 / 255)
    (g,), (source,) = dataset.ground_truth(0)[:1], load_sample(dataset.files[0]).grasps[:1]
    assert g.row == pytest.approx((source.row + 0.5) * 0.25 - 0.5)
    assert g.width == pytest.approx(source.width * 0.25)


@pytest.mark.parametrize('rotate', [False, True])
def test_augmented_labels_stay_on_the_object(files, rotate):
    # Every grasp's centre third lies on the object, so after any crop, zoom and turn the
    # quality map must still fall on the (identically warped) object mask.
    dataset = GraspDataset(files, aux='saliency', output_size=OUT, augment=True, rotate=rotate,
                           seed=11)
    on_object, total = 0, 0
    for epoch in range(3):
        dataset.set_epoch(epoch)
        for index in range(len(dataset)):
            _, y = dataset[index]
            quality, mask = y[0] > 0, y[4] > 0
            on_object += int((quality & mask).sum())
            total += int(quality.sum())
    assert total > 500
    assert on_object / total > 0.97


def test_augmentation_is_reproducible_per_seed_epoch_index(files):
    def item(dataset, index):
        return torch.cat(dataset[index])

    a = GraspDataset(files, output_size=OUT, augment=True, rotate=True, seed=5)
    b = GraspDataset(files, output_size=OUT, augment=True, rotate=True, seed=5, cache=False)
    assert torch.equal(item(a, 3), item(b, 3))  # the cache changes nothing
    first = item(a, 3)
    a.set_epoch(1)
    assert not torch.equal(item(a, 3), first)
    b.set_epoch(1)
    assert torch.equal(item(a, 3), item(b, 3))
    c = GraspDataset(files, output_size=OUT, augment=True, rotate=True, seed=6)
    c.set_epoch(1)
    assert not torch.equal(item(a, 3), item(c, 3))
    plain = GraspDataset(files, output_size=OUT)
    plain.set_epoch(4)
    assert torch.equal(item(plain, 2), item(GraspDataset(files, output_size=OUT), 2))


def test_dataloader_workers_match_serial_items(files):
    dataset = GraspDataset(files[:4], output_size=32, augment=True, rotate=True, seed=2)
    dataset.set_epoch(3)
    serial = torch.stack([dataset[i][1] for i in range(4)])
    loader = DataLoader(dataset, batch_size=2, num_workers=2, multiprocessing_context='fork')
    batches = torch.cat([y for _, y in loader])
    assert torch.equal(batches, serial)


def test_preload_fills_the_cache(files):
    dataset = GraspDataset(files, output_size=OUT)
    assert dataset.preload() == len(files) == len(dataset._cache)
    assert GraspDataset(files, output_size=OUT, cache=False).preload() == 0


def test_cache_is_bounded(files):
    dataset = GraspDataset(files, output_size=OUT, cache_mb=0.1)  # about two 128 px views
    for index in range(len(dataset)):
        dataset[index]
    assert 1 <= len(dataset._cache) < len(files)
    assert dataset._cached_bytes <= 0.1 * 2 ** 20 or len(dataset._cache) == 1


def test_missing_aux_companions(broken):
    files = find_jacquard(broken)
    files[2].mask.unlink()
    files[5].depth.unlink()
    files = find_jacquard(broken)
    with pytest.raises(DatasetError, match='no mask image, needed for aux saliency'):
        GraspDataset(files, aux='saliency')
    with pytest.raises(DatasetError, match='no depth image, needed for aux depth'):
        GraspDataset(files, aux='depth')
    with pytest.raises(DatasetError, match='needed for input mode rgbd'):
        GraspDataset(files, input_mode='rgbd')
    GraspDataset(files, aux='none')  # RGB only needs neither
    kept = GraspDataset(files, aux='saliency', skip_bad=True, output_size=OUT)
    assert len(kept) == len(files) - 1
    assert kept.skipped == [(files[2].grasps, f'sample {files[2].name} has no mask image, '
                                              'needed for aux saliency')]


def test_truncated_png_raises_or_is_skipped(broken, caplog):
    files = find_jacquard(broken)
    bad = files[4].rgb
    bad.write_bytes(bad.read_bytes()[:200])
    dataset = GraspDataset(files, output_size=OUT)  # lazy: fails when the item is read
    dataset[0]
    with pytest.raises(DatasetError, match='cannot decode RGB image') as info:
        dataset[4]
    assert str(bad) in str(info.value)
    with caplog.at_level(logging.WARNING):
        dataset = GraspDataset(files, output_size=OUT, skip_bad=True)
    assert len(dataset) == len(files) - 1 and files[4] not in dataset.files
    assert [path for path, _ in dataset.skipped] == [bad]
    assert f'skipped 1 of {len(files)} samples' in caplog.text
    assert len(dataset._cache) == len(dataset)  # validation decoded and cached the rest
    assert tuple(dataset[3][0].shape) == (3, OUT, OUT)


def test_malformed_grasp_file_is_skipped_with_its_line(broken):
    files = find_jacquard(broken)
    with files[1].grasps.open('a') as handle:
        handle.write('1;2;3\n')
    lines = len(files[1].grasps.read_text().splitlines())
    with pytest.raises(DatasetError, match=f'line {lines}'):
        GraspDataset(files, output_size=OUT)[1]
    files[6].grasps.write_text('10;10;0;5;x\n')
    dataset = GraspDataset(files, output_size=OUT, skip_bad=True)
    assert [path for path, _ in dataset.skipped] == [files[1].grasps, files[6].grasps]
    assert f'line {lines}' in dataset.skipped[0][1] and 'line 1' in dataset.skipped[1][1]
    assert len(dataset) == len(files) - 2


def test_all_bad_and_bad_arguments(broken):
    files = find_jacquard(broken)[:2]
    for f in files:
        f.rgb.write_bytes(b'not a png')
    with pytest.raises(DatasetError, match='all 2 samples are bad'):
        GraspDataset(files, skip_bad=True)
    with pytest.raises(DatasetError, match='no samples'):
        GraspDataset([])
    with pytest.raises(ValueError, match='unknown input mode'):
        GraspDataset(files, input_mode='ir')
    with pytest.raises(ValueError, match='unknown auxiliary task'):
        GraspDataset(files, aux='edges')
    with pytest.raises(ValueError, match='zoom'):
        GraspDataset(files, augment=True, zoom=(0.5, 1.5))


def test_shared_decoded_views_give_identical_items(tmp_path):
    from training.dataset import share_decoded_views
    files = find_jacquard(make_tiny_jacquard(tmp_path, n_objects=2, views=1, size=64, seed=5))
    plain = GraspDataset(files, aux='depth', output_size=32, cache=False)
    share_decoded_views(True)
    try:
        first = GraspDataset(files, aux='depth', output_size=32, cache=False)
        second = GraspDataset(files, aux='depth', output_size=32, cache=False)
        for i in range(len(files)):
            assert torch.equal(first[i][0], plain[i][0]) and torch.equal(first[i][1], plain[i][1])
            # The second dataset takes the very arrays the first decoded.
            assert second._working(i) is first._working(i)
    finally:
        share_decoded_views(False)
    assert GraspDataset(files, output_size=32, cache=False)._working(0) is not first._working(0)
