"""A large pose corpus for the search benchmarks: real ADD poses augmented to any size, else generated ones.

Base poses: the AnimeDrawingsDataset annotations of ../shared/data/add (train + val: 1,500 hand-labelled
poses of illustrated characters, 21 of the 25 keypoints: ADD has no eyes or ears) when present; otherwise
figures generated from a standing pose with jittered joints. Library entries and queries come from
disjoint base poses (ADD train -> entries, ADD val -> queries).

Each entry is one base pose, augmented like the poses an estimator returns for a large illustration
collection: every limb bent at its proximal joint (shoulder/elbow/hip/knee, normal angles, sd 0.3 rad),
the head turned, the whole figure rotated (sd 0.3 rad, 4% of figures at any angle: lying, handstands),
mirrored for half of them, scaled and placed anywhere, a little per-point noise; and some joints absent:
lower legs out of frame, the body below the hips cut, one to three random joints not found. Limb midpoints
follow their endpoints (present when both are). Everything is vectorised: 1M poses take seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from posefinder.models import skeleton

K = skeleton.NUM_KEYPOINTS
I = skeleton.INDEX
#: (proximal joint, [joints that turn with the limb]): bent in this order (parents before children).
_LIMB_CHAINS = [
    (I["left_shoulder"], [I["left_elbow"], I["left_wrist"]]),
    (I["right_shoulder"], [I["right_elbow"], I["right_wrist"]]),
    (I["left_elbow"], [I["left_wrist"]]),
    (I["right_elbow"], [I["right_wrist"]]),
    (I["left_hip"], [I["left_knee"], I["left_ankle"]]),
    (I["right_hip"], [I["right_knee"], I["right_ankle"]]),
    (I["left_knee"], [I["left_ankle"]]),
    (I["right_knee"], [I["right_ankle"]]),
]
_HEAD = [I[n] for n in skeleton.GROUPS["head"]]
_SHOULDERS = [I["left_shoulder"], I["right_shoulder"]]
_LOWER_LEGS = [I[n] for n in ("left_knee", "right_knee", "left_ankle", "right_ankle")]
_BELOW_HIPS = [I[n] for n in ("left_hip", "right_hip")] + _LOWER_LEGS
_LIMB_ENDS = [I[n] for n in ("left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_ankle", "right_ankle",
                              "left_knee", "right_knee", "nose")]  # fmt: skip


def add_dir_candidates() -> list[Path]:
    """Where ../shared/data/add may be: beside the project, or beside the main checkout of a worktree."""
    here = Path(__file__).resolve().parents[1]
    return [here.parent / "shared" / "data" / "add", here.parent.parent / "shared" / "data" / "add"]


def load_base_poses(add_dir: Path | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """(entry bases (B, 25, 3), query bases (Q, 25, 3), description) from ADD when present, else generated."""
    from posefinder.models.formats import read_poses

    dirs = [Path(add_dir)] if add_dir is not None else add_dir_candidates()
    for d in dirs:
        if (d / "train.json").is_file() and (d / "val.json").is_file():
            train = np.stack([r.pose.keypoints for r in read_poses(d / "train.json")])
            val = np.stack([r.pose.keypoints for r in read_poses(d / "val.json")])
            return train, val, f"ADD poses from {d} ({len(train)} entry bases, {len(val)} query bases)"
    rng = np.random.default_rng(1234)
    return (
        generated_poses(1400, rng),
        generated_poses(100, rng),
        "generated poses (../shared/data/add is absent): 1400 entry bases, 100 query bases",
    )


def generated_poses(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 25, 3) standing figures with jittered joints (all 25 present), in pixels: the canvas's "standing"
    preset (models/editing/presets.py, about one unit tall, y down) doubled, jittered, then scaled to pixels."""
    from posefinder.models.editing.presets import preset_keypoints

    kp = np.zeros((n, K, 3))
    kp[:, :, :2] = preset_keypoints("standing") * 2.0
    kp[:, :, 2] = 2
    kp[:, : skeleton.NUM_COCO, :2] += rng.normal(0, 0.15, (n, skeleton.NUM_COCO, 2))
    kp[:, :, :2] = kp[:, :, :2] * 200 + 300
    fill_midpoints_many(kp)
    return kp


def fill_midpoints_many(kp: np.ndarray) -> np.ndarray:
    """skeleton.fill_midpoints for (n, 25, 3) arrays, in place."""
    for m, (a, b) in skeleton.MIDPOINT_ENDPOINTS.items():
        both = (kp[:, a, 2] > 0) & (kp[:, b, 2] > 0)
        kp[:, m, :2] = np.where(both[:, None], (kp[:, a, :2] + kp[:, b, :2]) / 2, 0.0)
        kp[:, m, 2] = np.where(both, np.minimum(kp[:, a, 2], kp[:, b, 2]), 0.0)
    return kp


def _rotate_about(xy: np.ndarray, centre: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotate (n, m, 2) points about (n, 2) centres by (n,) angles."""
    c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
    d = xy - centre[:, None, :]
    return np.stack([c * d[..., 0] - s * d[..., 1], s * d[..., 0] + c * d[..., 1]], axis=-1) + centre[:, None, :]


def augment(base: np.ndarray, n: int, rng: np.random.Generator, absent: bool = True) -> np.ndarray:
    """(n, 25, 3) float64 poses in pixels: random base poses, bent, turned, mirrored, scaled, some joints absent."""
    kp = base[rng.integers(0, len(base), n)].copy()
    present = kp[:, :, 2] > 0
    xy = kp[:, :, :2]
    # work in units of the figure's size, centred
    lo = np.where(present[:, :, None], xy, np.inf).min(axis=1)
    hi = np.where(present[:, :, None], xy, -np.inf).max(axis=1)
    size = np.maximum((hi - lo).max(axis=1), 1e-6)
    xy = (xy - ((lo + hi) / 2)[:, None, :]) / size[:, None, None]
    for joint, children in _LIMB_CHAINS:
        xy[:, children] = _rotate_about(xy[:, children], xy[:, joint], rng.normal(0, 0.3, n))
    neck = xy[:, _SHOULDERS].mean(axis=1)
    xy[:, _HEAD] = _rotate_about(xy[:, _HEAD], neck, rng.normal(0, 0.2, n))
    xy += rng.normal(0, 0.008, xy.shape)
    angle = np.where(rng.random(n) < 0.04, rng.uniform(-np.pi, np.pi, n), rng.normal(0, 0.3, n))
    xy = _rotate_about(xy, np.zeros((n, 2)), angle)
    flip = rng.random(n) < 0.5
    xy[flip, :, 0] *= -1
    kp[:, :, :2] = xy
    kp[flip] = kp[flip][:, skeleton.FLIP_INDEX]
    scale = rng.uniform(80, 600, n)
    kp[:, :, :2] = kp[:, :, :2] * scale[:, None, None] + rng.uniform(300, 700, (n, 1, 2))
    if absent:
        u = rng.random(n)
        gone = np.zeros((n, K), dtype=bool)
        gone[np.ix_(u < 0.10, np.asarray(_LOWER_LEGS))] = True  # lower legs out of frame
        gone[np.ix_((u >= 0.10) & (u < 0.15), np.asarray(_BELOW_HIPS))] = True  # upper body only
        rows = np.flatnonzero((u >= 0.15) & (u < 0.32))  # one to three joints not found
        for p in (1.0, 0.4, 0.15):
            some = rows[rng.random(len(rows)) < p]
            gone[some, rng.choice(_LIMB_ENDS, len(some))] = True
        kp[gone] = 0.0
    kp[kp[:, :, 2] <= 0] = 0.0
    return fill_midpoints_many(kp)


def corpus(n: int, seed: int = 0, add_dir: Path | None = None, chunk: int = 200_000):
    """(entries (n, 25, 3), queries (64, 25, 3) with all their joints, description)."""
    train, val, desc = load_base_poses(add_dir)
    rng = np.random.default_rng(seed)
    entries = np.empty((n, K, 3), dtype=np.float64)
    for a in range(0, n, chunk):
        entries[a : a + chunk] = augment(train, min(chunk, n - a), rng)
    queries = augment(val, 64, np.random.default_rng(seed + 1), absent=False)
    return entries, queries, desc


def library_index(n: int, folder: Path, seed: int = 0, add_dir: Path | None = None):
    """(DescriptorIndex as a library loads it: descriptors.npy mmapped from `folder`, queries, description,
    seconds to generate, seconds to build). The in-memory copy is dropped once saved."""
    import time

    from posefinder.models.library.cache import build_index, load_index, save_index

    t = time.perf_counter()
    entries, queries, desc = corpus(n, seed=seed, add_dir=add_dir)
    t_gen = time.perf_counter() - t
    t = time.perf_counter()
    index = build_index(np.arange(n), np.arange(n), -np.ones(n, np.int64), entries, generation=1)
    t_build = time.perf_counter() - t
    del entries
    save_index(index, folder)
    del index
    index = load_index(folder, 1)
    if index is None:
        raise RuntimeError(f"the index saved in {folder} did not load back")
    return index, queries, desc, t_gen, t_build
