"""Per-sample random generators for on-the-fly augmentation and compositing."""

from __future__ import annotations

import numpy as np


def sample_rng(seed: int | None, epoch: int, index: int) -> np.random.Generator:
    """The random generator of one sample: reproducible from (seed, epoch, index) when seed is given; else
    drawn from torch's generator, which Lightning's seed_everything seeds and DataLoader workers reseed each
    epoch, so that augmentation differs between epochs and workers yet repeats for a seeded run."""
    if seed is not None:
        return np.random.default_rng([int(seed), int(epoch), int(index)])
    import torch

    return np.random.default_rng([int(torch.randint(0, 2**62, (1,)).item()), int(index)])
