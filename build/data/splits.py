"""Deterministic train/val/test splits by a hash of each sample's key (a post id, a file name).

A sample's split depends on its key alone, never on which other samples exist, so adding images to a
dataset never moves an image from one split to another (paper section 4.2 splits 80-10-10).
"""

from __future__ import annotations

import hashlib
from typing import Sequence

SPLITS: tuple[str, ...] = ("train", "val", "test")

#: The paper's tagger split (section 4.2): 80% train, 10% validation, 10% test.
PAPER_FRACTIONS: tuple[float, float, float] = (0.8, 0.1, 0.1)

#: Mixed into every hash so that PoseFinder's splits are not correlated with other hash-based schemes.
DEFAULT_SALT = "posefinder-split-v1"


def unit_hash(key: str, salt: str = DEFAULT_SALT) -> float:
    """A number in [0, 1) that depends only on (salt, key): the first 8 bytes of their SHA-256."""
    digest = hashlib.sha256(f"{salt}\0{key}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def check_fractions(fractions: Sequence[float]) -> tuple[float, ...]:
    """The fractions as a tuple; ValueError unless there are three, none negative, summing to 1."""
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != len(SPLITS) or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must be three non-negative numbers summing to 1, got {fractions}")
    return fractions


def split_of(key: str | int, fractions: Sequence[float] = PAPER_FRACTIONS, salt: str = DEFAULT_SALT) -> str:
    """"train", "val" or "test" for a sample key, by where its hash falls among the cumulative fractions."""
    fractions = check_fractions(fractions)
    u = unit_hash(str(key), salt)
    edge = 0.0
    for name, fraction in zip(SPLITS, fractions):
        edge += fraction
        if u < edge:
            return name
    return SPLITS[-1]
