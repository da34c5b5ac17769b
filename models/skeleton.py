"""The 25-keypoint illustrated-character skeleton: names, order, flip pairs, limbs and OKS sigmas.

COCO-17 in COCO order, then the 8 limb midpoints of Khungurn et al. (paper section 3.1): left/right
upper arm, forearm, thigh and shin. Left and right are the character's own sides. This module is the only
place that knows keypoint indices; everything else asks it by name.
"""

from __future__ import annotations

import numpy as np

COCO17_NAMES: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)

#: Limb midpoints: name -> (endpoint, endpoint). A midpoint's default position is the mean of its endpoints.
MIDPOINTS: dict[str, tuple[str, str]] = {
    "left_upper_arm": ("left_shoulder", "left_elbow"),
    "right_upper_arm": ("right_shoulder", "right_elbow"),
    "left_forearm": ("left_elbow", "left_wrist"),
    "right_forearm": ("right_elbow", "right_wrist"),
    "left_thigh": ("left_hip", "left_knee"),
    "right_thigh": ("right_hip", "right_knee"),
    "left_shin": ("left_knee", "left_ankle"),
    "right_shin": ("right_knee", "right_ankle"),
}

KEYPOINT_NAMES: tuple[str, ...] = COCO17_NAMES + tuple(MIDPOINTS)
NUM_KEYPOINTS = len(KEYPOINT_NAMES)  # 25
NUM_COCO = len(COCO17_NAMES)  # 17
INDEX: dict[str, int] = {name: i for i, name in enumerate(KEYPOINT_NAMES)}

#: COCO keypoint OKS sigmas (pycocotools' values).
COCO_SIGMAS: tuple[float, ...] = (
    0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072,
    0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089,
)  # fmt: skip


def side(name: str) -> str:
    """'left', 'right' or 'center' for a keypoint name (the character's own side)."""
    if name.startswith("left_"):
        return "left"
    if name.startswith("right_"):
        return "right"
    return "center"


def _mirror_name(name: str) -> str:
    if name.startswith("left_"):
        return "right_" + name[5:]
    if name.startswith("right_"):
        return "left_" + name[6:]
    return name


def _build_sigmas() -> np.ndarray:
    sig = list(COCO_SIGMAS)
    for a, b in MIDPOINTS.values():
        sig.append((COCO_SIGMAS[INDEX[a]] + COCO_SIGMAS[INDEX[b]]) / 2.0)
    out = np.asarray(sig, dtype=np.float64)
    out.setflags(write=False)
    return out


#: OKS sigma of each of the 25 keypoints; a midpoint's is the mean of its endpoints' (paper section 3.1).
OKS_SIGMAS: np.ndarray = _build_sigmas()

#: FLIP_INDEX[i] is the keypoint that i becomes when the image is mirrored (left and right swapped).
FLIP_INDEX: np.ndarray = np.asarray([INDEX[_mirror_name(n)] for n in KEYPOINT_NAMES], dtype=np.int64)
FLIP_INDEX.setflags(write=False)

#: Unordered left/right pairs, each once.
FLIP_PAIRS: tuple[tuple[int, int], ...] = tuple(
    (i, int(j)) for i, j in enumerate(FLIP_INDEX) if i < int(j)
)

#: Midpoint index -> (endpoint index, endpoint index).
MIDPOINT_ENDPOINTS: dict[int, tuple[int, int]] = {
    INDEX[m]: (INDEX[a], INDEX[b]) for m, (a, b) in MIDPOINTS.items()
}


def _limbs() -> tuple[tuple[int, int], ...]:
    """Segments to draw: the face, the torso, and each limb through its midpoint."""
    names = [
        ("nose", "left_eye"),
        ("nose", "right_eye"),
        ("left_eye", "left_ear"),
        ("right_eye", "right_ear"),
        ("left_shoulder", "right_shoulder"),
        ("left_shoulder", "left_hip"),
        ("right_shoulder", "right_hip"),
        ("left_hip", "right_hip"),
    ]
    for mid, (a, b) in MIDPOINTS.items():
        names.append((a, mid))
        names.append((mid, b))
    return tuple((INDEX[a], INDEX[b]) for a, b in names)


#: Pairs of keypoint indices joined by a line when a skeleton is drawn.
LIMBS: tuple[tuple[int, int], ...] = _limbs()

#: COCO's own 19-segment skeleton (0-based indices into the first 17 keypoints), for COCO exports.
COCO_SKELETON: tuple[tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8),
    (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)  # fmt: skip

#: Keypoint groups for selecting joints by body part (CLI --joints/--without, GUI presets).
GROUPS: dict[str, tuple[str, ...]] = {
    "head": ("nose", "left_eye", "right_eye", "left_ear", "right_ear"),
    "face": ("nose", "left_eye", "right_eye", "left_ear", "right_ear"),
    "torso": ("left_shoulder", "right_shoulder", "left_hip", "right_hip"),
    "left_arm": ("left_shoulder", "left_elbow", "left_wrist", "left_upper_arm", "left_forearm"),
    "right_arm": ("right_shoulder", "right_elbow", "right_wrist", "right_upper_arm", "right_forearm"),
    "left_leg": ("left_hip", "left_knee", "left_ankle", "left_thigh", "left_shin"),
    "right_leg": ("right_hip", "right_knee", "right_ankle", "right_thigh", "right_shin"),
}
GROUPS["arms"] = GROUPS["left_arm"] + GROUPS["right_arm"]
GROUPS["legs"] = GROUPS["left_leg"] + GROUPS["right_leg"]
GROUPS["upper_body"] = GROUPS["head"] + GROUPS["arms"] + ("left_hip", "right_hip")
GROUPS["lower_body"] = ("left_hip", "right_hip") + tuple(
    n for n in GROUPS["legs"] if n not in ("left_hip", "right_hip")
)


def resolve_names(spec: str | list[str] | tuple[str, ...]) -> list[int]:
    """Keypoint indices named by a comma-separated list of keypoint names and/or GROUPS names.

    Raises ValueError with the valid names when one is unknown.
    """
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out: list[int] = []
    for raw in items:
        name = raw.strip().lower().replace("-", "_").replace(" ", "_")
        if not name:
            continue
        if name in INDEX:
            idx = [INDEX[name]]
        elif name in GROUPS:
            idx = [INDEX[n] for n in GROUPS[name]]
        else:
            raise ValueError(
                f"unknown joint or group {raw.strip()!r}; use one of: "
                + ", ".join(list(GROUPS) + list(KEYPOINT_NAMES))
            )
        for i in idx:
            if i not in out:
                out.append(i)
    return out


def midpoints_from_endpoints(xyv17: np.ndarray) -> np.ndarray:
    """Extend COCO-17 keypoints (17, 3) [x, y, v] to the 25-point skeleton.

    A midpoint is the mean of its endpoints; it is present only when both endpoints are, with the lower of
    their two visibilities.
    """
    xyv17 = np.asarray(xyv17, dtype=np.float64)
    if xyv17.shape != (NUM_COCO, 3):
        raise ValueError(f"expected ({NUM_COCO}, 3) keypoints, got {xyv17.shape}")
    out = np.zeros((NUM_KEYPOINTS, 3), dtype=np.float64)
    out[:NUM_COCO] = xyv17
    fill_midpoints(out)
    return out


def fill_midpoints(xyv25: np.ndarray, only_missing: bool = False) -> np.ndarray:
    """Set the 8 midpoints of a (25, 3) array in place from their endpoints; returns the array.

    With only_missing, midpoints already present (v > 0) are kept.
    """
    for m, (a, b) in MIDPOINT_ENDPOINTS.items():
        if only_missing and xyv25[m, 2] > 0:
            continue
        va, vb = xyv25[a, 2], xyv25[b, 2]
        if va > 0 and vb > 0:
            xyv25[m, :2] = (xyv25[a, :2] + xyv25[b, :2]) / 2.0
            xyv25[m, 2] = min(va, vb)
        else:
            xyv25[m] = 0.0
    return xyv25
