"""Segmenter data: RGBA foregrounds composited on backgrounds, mask = alpha, 5% background-only samples."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from PIL import Image  # noqa: E402

from posefinder.build.data import segmentation as seg  # noqa: E402
from posefinder.build.data.danbooru import DatasetError  # noqa: E402
from tagseg_helpers import disc_foreground, noise_backgrounds, write_image  # noqa: E402

RED = (250, 20, 20)


def _sources(tmp_path, n_fg=4, n_bg=6):
    for i in range(n_fg):
        disc_foreground(tmp_path / "fg" / f"disc{i}.png", size=40 + 4 * i, radius=12 + i, color=RED)
    noise_backgrounds(tmp_path / "bg", n=n_bg)
    fgs = seg.Sources([seg.foreground_folder(tmp_path / "fg")])
    bgs = seg.Sources([seg.background_folder(tmp_path / "bg")])
    return fgs, bgs


def test_composite_places_the_alpha_exactly_as_the_mask():
    rng = np.random.default_rng(0)
    fg = np.zeros((10, 6, 4), np.uint8)
    fg[..., :3] = rng.integers(0, 255, (10, 6, 3))
    fg[..., 3] = rng.integers(0, 256, (10, 6))
    fg[0, :, 3] = fg[-1, :, 3] = fg[:, 0, 3] = fg[:, -1, 3] = 200  # visible up to its edges: no crop
    bg = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    size, left, top = 32, 7, 11
    params = seg.CompositeParams(fg_scale=10 / size, fg_center=(left / (size - 6), top / (size - 10)))
    image, mask = seg.composite_with(fg, bg, size, params)
    alpha = fg[..., 3] / 255.0
    expected = np.zeros((size, size))
    expected[top : top + 10, left : left + 6] = alpha
    assert np.allclose(mask, expected, atol=1e-6)
    blend = fg[..., :3] * alpha[..., None] + bg[top : top + 10, left : left + 6] * (1 - alpha[..., None])
    assert np.abs(image[top : top + 10, left : left + 6].astype(float) - blend).max() <= 1.0
    outside = expected == 0
    assert np.array_equal(image[outside], bg[outside])


def test_random_composites_keep_mask_and_image_consistent(tmp_path):
    fgs, bgs = _sources(tmp_path)
    augment = seg.CompositeAugment(background_only_p=0.0, brightness=0.0, contrast=0.0)
    data = seg.CompositeDataset(fgs, bgs, size=48, length=12, seed=5, augment=augment)
    for index in range(12):
        fg_i, bg_i, params = data.plan(index)
        image, mask = data.composite(index)
        assert image.shape == (48, 48, 3) and image.dtype == np.uint8 and mask.shape == (48, 48)
        assert 0 <= mask.min() and mask.max() <= 1
        background = seg.background_crop(bgs.load(bg_i), 48, params)
        assert np.array_equal(image[mask == 0], background[mask == 0])  # no foreground: the background
        inside = mask > 0.999
        assert inside.sum() > 20 and np.abs(image[inside].astype(int) - RED).max() <= 2  # the opaque disc
        # the mask's area is the disc's, scaled as planned (rotation keeps areas)
        alpha = seg.crop_to_alpha(fgs.load(fg_i))[..., 3] / 255.0
        scale = params.fg_scale * 48 / max(alpha.shape)
        assert mask.sum() == pytest.approx(alpha.sum() * scale**2, rel=0.12)


def test_five_percent_of_training_samples_are_background_only(tmp_path):
    fgs, bgs = _sources(tmp_path)
    data = seg.CompositeDataset(fgs, bgs, size=24, length=4000, seed=1)
    plans = [data.plan(i)[2].background_only for i in range(len(data))]
    assert 0.04 <= np.mean(plans) <= 0.06
    empty = [i for i, b in enumerate(plans) if b][:5]
    full = [i for i, b in enumerate(plans) if not b][:5]
    for i in empty:
        assert data[i][1].sum() == 0  # empty mask
    for i in full:
        assert data[i][1].sum() > 0
    image, mask = data[full[0]]
    assert tuple(image.shape) == (3, 24, 24) and tuple(mask.shape) == (1, 24, 24)
    assert seg.BACKGROUND_ONLY_P == 0.05


def test_training_goes_through_every_foreground_and_varies_by_epoch(tmp_path):
    fgs, bgs = _sources(tmp_path)
    data = seg.CompositeDataset(fgs, bgs, size=24, seed=3)
    assert len(data) == len(fgs)  # each foreground is one sample per epoch
    assert sorted(data.plan(i)[0] for i in range(len(data))) == list(range(len(fgs)))
    first = data.plan(0)[2]
    data.set_epoch(1)
    assert data.plan(0)[2] != first


def test_held_out_pairs_are_fixed_and_use_their_own_images(tmp_path):
    for i in range(40):
        disc_foreground(tmp_path / "fg" / f"f{i:02d}.png", size=32, radius=10)
    noise_backgrounds(tmp_path / "bg", n=40, size=(32, 32))
    fgs = seg.Sources([seg.foreground_folder(tmp_path / "fg")])
    bgs = seg.Sources([seg.background_folder(tmp_path / "bg")])
    splits = seg.make_splits(fgs, bgs, size=24, held_out_pairs=16, seed=7, fractions=(0.6, 0.2, 0.2))
    again = seg.make_splits(fgs, bgs, size=24, held_out_pairs=16, seed=7, fractions=(0.6, 0.2, 0.2))
    assert len(splits.val) == len(splits.test) == 16
    for i in (0, 5, 15):
        a, b = splits.val.composite(i), again.val.composite(i)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    train_keys = {splits.train.foregrounds.key(i) for i in range(len(splits.train.foregrounds))}
    val_keys = {splits.val.foregrounds.key(i) for i in range(len(splits.val.foregrounds))}
    test_keys = {splits.test.foregrounds.key(i) for i in range(len(splits.test.foregrounds))}
    assert val_keys and test_keys and not (train_keys & val_keys) and not (train_keys & test_keys)
    assert len(train_keys | val_keys | test_keys) == 40


def test_folders_without_usable_images_are_clear_errors(tmp_path):
    write_image(tmp_path / "opaque" / "a.png")  # no alpha: not a foreground
    disc_foreground(tmp_path / "mixed" / "ok.png")
    write_image(tmp_path / "mixed" / "opaque.png")
    with pytest.raises(DatasetError, match="no images with transparency"):
        seg.foreground_folder(tmp_path / "opaque")
    assert [p.name for p in seg.foreground_folder(tmp_path / "mixed").paths] == ["ok.png"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no background images"):
        seg.background_folder(tmp_path / "empty")
    with pytest.raises(DatasetError, match="no such image folder"):
        seg.background_folder(tmp_path / "absent")


@pytest.mark.shared_data
def test_real_rgba_illustrations_as_foregrounds(shared_data, tmp_path):
    samples = sorted((shared_data / "samples").glob("tha3_crypko_*.png"))
    if not samples:
        pytest.skip("../shared/data/samples has no tha3_crypko_*.png RGBA files")
    fgs = seg.ImageFolder(shared_data / "samples", rgba=True, paths=samples)
    noise_backgrounds(tmp_path / "bg", n=3, size=(96, 96))
    bgs = seg.background_folder(tmp_path / "bg")
    augment = seg.CompositeAugment(background_only_p=0.0, max_rotation_deg=0.0, brightness=0.0, contrast=0.0)
    data = seg.CompositeDataset(fgs, bgs, size=128, seed=0, augment=augment)
    for index in range(len(samples)):
        fg_i, _, params = data.plan(index)
        _, mask = data.composite(index)
        alpha = seg.crop_to_alpha(np.asarray(Image.open(samples[fg_i]).convert("RGBA")))[..., 3] / 255.0
        assert 0.3 < alpha.mean() < 1.0  # a character on transparency
        scale = params.fg_scale * 128 / max(alpha.shape)
        assert mask.sum() == pytest.approx(alpha.sum() * scale**2, rel=0.05)
        ys, xs = np.nonzero(mask > 0.5)
        assert ys.max() - ys.min() + 1 == pytest.approx(alpha.shape[0] * scale, abs=3)


def test_synthetic_figures_as_a_foreground_source(tmp_path):
    pytest.importorskip("posefinder.build.synthetic", reason="the synthetic figure generator is not merged here")
    synthetic = seg.SyntheticForegrounds(3, seed=11, size=(64, 64))
    rgba = synthetic.load(0)
    assert rgba.shape == (64, 64, 4) and 0 < (rgba[..., 3] > 127).mean() < 1
    assert np.array_equal(rgba, synthetic.load(0))  # deterministic per seed
    noise_backgrounds(tmp_path / "bg", n=2)
    both = seg.Sources([synthetic, seg.foreground_folder(disc_foreground(tmp_path / "fg" / "d.png").parent)])
    assert len(both) == 4 and both.key(3) == "d.png" and both.key(0) == "synthetic:11"
    augment = seg.CompositeAugment(background_only_p=0.0)
    data = seg.CompositeDataset(both, seg.Sources([seg.background_folder(tmp_path / "bg")]), size=48, seed=0,
                                augment=augment)
    assert all(data.composite(i)[1].sum() > 10 for i in range(len(data)))
