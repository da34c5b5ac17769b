"""Helpers for the library tests: plausible generated poses, small image folders, pose files."""

from __future__ import annotations

import contextlib

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from posefinder.models import skeleton
from posefinder.models.pose import Pose

# A standing figure in a 1 x 2 box (x right, y down): COCO-17 points, then midpoints are filled.
_STAND = {
    "nose": (0.0, -0.85), "left_eye": (0.04, -0.88), "right_eye": (-0.04, -0.88),
    "left_ear": (0.08, -0.86), "right_ear": (-0.08, -0.86),
    "left_shoulder": (0.18, -0.6), "right_shoulder": (-0.18, -0.6),
    "left_elbow": (0.24, -0.3), "right_elbow": (-0.24, -0.3),
    "left_wrist": (0.26, -0.02), "right_wrist": (-0.26, -0.02),
    "left_hip": (0.12, 0.05), "right_hip": (-0.12, 0.05),
    "left_knee": (0.13, 0.5), "right_knee": (-0.13, 0.5),
    "left_ankle": (0.14, 0.95), "right_ankle": (-0.14, 0.95),
}  # fmt: skip


def standing_keypoints() -> np.ndarray:
    kp = np.zeros((skeleton.NUM_KEYPOINTS, 3))
    for name, (x, y) in _STAND.items():
        kp[skeleton.INDEX[name]] = (x, y, 2)
    return skeleton.fill_midpoints(kp)


def random_pose(rng: np.random.Generator, jitter: float = 0.25, drop: float = 0.0, size_px=(400, 600)) -> Pose:
    """A plausible figure: the standing pose with jittered joints, random rotation, scale and position."""
    kp = standing_keypoints()
    kp[: skeleton.NUM_COCO, :2] += rng.normal(0, jitter, (skeleton.NUM_COCO, 2))
    skeleton.fill_midpoints(kp)
    angle = rng.uniform(-0.5, 0.5)
    c, s = np.cos(angle), np.sin(angle)
    xy = kp[:, :2] @ np.array([[c, s], [-s, c]])
    scale = rng.uniform(100, 250)
    kp[:, :2] = xy * scale + np.array(size_px) / 2 + rng.uniform(-30, 30, 2)
    if drop > 0:
        gone = rng.random(skeleton.NUM_KEYPOINTS) < drop
        kp[gone] = 0
    return Pose(kp, image_size=size_px, source="annotation")


def random_poses(n: int, seed: int = 0, **kw) -> list[Pose]:
    rng = np.random.default_rng(seed)
    return [random_pose(rng, **kw) for _ in range(n)]


def write_pngs(folder: Path, n: int, seed: int = 0, size=(32, 24), start: int = 0) -> list[Path]:
    """n small distinct PNG files in folder."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(start, start + n):
        arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        arr[0, 0] = (i % 256, (i // 256) % 256, 7)  # distinct content
        p = folder / f"img{i:05d}.png"
        Image.fromarray(arr).save(p)
        out.append(p)
    return out


def write_coco(path: Path, records: Sequence[tuple[str | None, Pose]]) -> Path:
    from posefinder.models.formats import write_poses
    from posefinder.models.formats.record import PoseRecord

    write_poses([PoseRecord(p, name) for name, p in records], path, "coco")
    return path


def write_json(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj))
    return path


@contextlib.contextmanager
def counting_block_reads(monkeypatch):
    """The rows each block read of the exact scan (scan._block_lower) touched, listed while the block runs."""
    from posefinder.models.library.search import scan

    read: list[int] = []
    real = scan._block_lower

    def counting(i, p, sel, rows):
        read.append(sel.stop - sel.start if rows is None else len(rows))
        return real(i, p, sel, rows)

    monkeypatch.setattr(scan, "_block_lower", counting)
    try:
        yield read
    finally:
        monkeypatch.setattr(scan, "_block_lower", real)
