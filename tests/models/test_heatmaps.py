"""Heatmap decoding in numpy (auto-pose without torch): known peaks, and equal to the torch decoding."""

from __future__ import annotations

import numpy as np
import pytest

from posefinder.models.estimators.heatmaps import decode_heatmaps, smooth_heatmaps

pytestmark = pytest.mark.torchfree


def _peaks(n, k, size, rng, sigma=2.5):
    """(N, K, size, size) logits of gaussian peaks at random sub-pixel centres, and the centres."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    centres = rng.uniform(2, size - 3, (n, k, 2))
    probs = np.exp(-((xs - centres[..., 0, None, None]) ** 2 + (ys - centres[..., 1, None, None]) ** 2) / (2 * sigma**2))
    p = np.clip(0.95 * probs, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p)).astype(np.float32), centres


def test_gaussian_peaks_are_found_to_a_fraction_of_a_pixel():
    logits, centres = _peaks(2, 25, 48, np.random.default_rng(0))
    uv, scores = decode_heatmaps(logits, smoothing=0.0)
    assert uv.shape == (2, 25, 2) and uv.dtype == np.float64 and scores.shape == (2, 25)
    assert np.abs(uv - centres).max() < 0.05
    assert np.all((scores > 0.8) & (scores <= 0.95 + 1e-6))


def test_smoothing_keeps_a_constant_map_and_cuts_its_kernel_to_small_maps():
    maps = np.full((1, 2, 5, 3), 0.25, np.float32)
    np.testing.assert_allclose(smooth_heatmaps(maps, 12.8), maps, rtol=1e-6)
    one = np.zeros((1, 1, 1, 7), np.float32)
    one[..., 3] = 1
    out = smooth_heatmaps(one, 1.0)  # a single row: only the columns are smoothed
    assert out.shape == one.shape and out[0, 0, 0].argmax() == 3 and abs(out.sum() - 1) < 1e-6


@pytest.mark.parametrize("shape, smoothing", [((3, 25, 64, 64), 0.1), ((2, 25, 128, 128), 0.1),
                                               ((1, 25, 32, 32), 0.0), ((2, 3, 9, 5), 0.3)])  # fmt: skip
def test_numpy_decoding_equals_the_torch_decoding_on_the_same_logits(shape, smoothing):
    torch = pytest.importorskip("torch")
    from posefinder.models.estimators import heatmaps_torch

    rng = np.random.default_rng(sum(shape))
    n, k, h, w = shape
    logits, _ = _peaks(n, k, max(h, w), rng)
    logits = (logits[..., :h, :w] + rng.normal(0, 0.3, (n, k, h, w))).astype(np.float32)  # noisy peaks
    noise = rng.normal(-2, 1.5, (1, k, h, w)).astype(np.float32)  # and one batch item of noise alone
    logits = np.concatenate([logits, noise])
    uv_np, sc_np = decode_heatmaps(logits, smoothing)
    uv_t, sc_t = heatmaps_torch.decode_heatmaps(torch.from_numpy(logits), smoothing)
    assert np.abs(uv_np - uv_t).max() <= 1e-4
    assert np.abs(sc_np - sc_t).max() <= 1e-6
    uv_tensor, _ = decode_heatmaps(torch.from_numpy(logits), smoothing)  # a tensor goes in as well
    np.testing.assert_array_equal(uv_tensor, uv_np)
