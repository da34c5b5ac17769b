"""The pose descriptor (paper section 5.2) and the query distance built on it: partial, mirror, orientation.

The paper's descriptor: keypoints normalised by the longest side of the bounding box, then the 300 pairwise
euclidean distances of the 25 points; retrieval is euclidean k-nearest-neighbours over descriptors.

PoseFinder's bbox is the tight box around the compared keypoints (the paper uses the detector's character
box; a canvas query has no such box, and a partial query must be scaled on the joints it compares, so the
keypoint box is the only scale defined on both sides of every comparison).

The query distance extends the paper's euclidean distance without changing it where it applies:

- joints: a query compares only the joints switched on. With S = (query joints) & (entry's present
  joints), only the pairs inside S count, and both poses are rescaled by the longest side of their own
  keypoint box restricted to S (`bbox_longest_side`): a pose with its legs switched off finds itself (or the
  full figure it came from) at distance 0. Entries missing some of the query's joints are compared on S too
  (never with zeros standing in for missing points); their sum is multiplied by |pairs(J)| / |pairs(S)| so
  that fewer compared pairs do not mean a smaller distance. Entries sharing fewer than
  max(3, min_shared * |J|) joints with the query are not compared.
- mirror: the query's mirror image (left and right labels swapped) is compared too; the better counts.
- orientation: pairwise distances do not change when a pose is rotated, so a handstand matches standing.
  `orientation_weight * |u_q - u_e|^2` is added to the squared distance, with u the unit "up" vector of
  the torso (hip centre -> shoulder centre) in image coordinates; skipped when either side lacks it.
  Weight 0 (the default) is the paper's ranking exactly.

When both poses have all their compared joints and the weight is 0, `query_distance` is exactly the
euclidean distance between `pose_descriptor`s, the paper's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from posefinder.models import skeleton
from posefinder.models.errors import PoseFinderError
from posefinder.models.pose import Pose

NUM_PAIRS = skeleton.NUM_KEYPOINTS * (skeleton.NUM_KEYPOINTS - 1) // 2  # 300

#: (300, 2) keypoint index pairs (i, j), i < j, in row-major order: the descriptor's dimensions.
PAIRS: np.ndarray = np.array(
    [(i, j) for i in range(skeleton.NUM_KEYPOINTS) for j in range(i + 1, skeleton.NUM_KEYPOINTS)], dtype=np.int64
)
PAIRS.setflags(write=False)

#: Fewest joints a query may compare (one pair has no shape).
MIN_QUERY_JOINTS = 3

_SHOULDERS = (skeleton.INDEX["left_shoulder"], skeleton.INDEX["right_shoulder"])
_HIPS = (skeleton.INDEX["left_hip"], skeleton.INDEX["right_hip"])


class QueryError(PoseFinderError):
    """A query that cannot be searched (too few joints switched on, no extent)."""


def pair_mask(joints: np.ndarray) -> np.ndarray:
    """(300,) bool: which descriptor pairs have both keypoints in the (25,) bool mask `joints`."""
    joints = np.asarray(joints, dtype=bool)
    return joints[..., PAIRS[:, 0]] & joints[..., PAIRS[:, 1]]


def num_pairs(n_joints: int) -> int:
    return n_joints * (n_joints - 1) // 2


def bbox_longest_side(xy: np.ndarray, joints: np.ndarray) -> float:
    """Longest side of the tight box around the keypoints selected by `joints` (0 when fewer than 2)."""
    joints = np.asarray(joints, dtype=bool)
    if joints.sum() < 2:
        return 0.0
    pts = np.asarray(xy, dtype=np.float64)[joints]
    return float(np.max(pts.max(axis=0) - pts.min(axis=0)))


def pairwise_distances(xy: np.ndarray) -> np.ndarray:
    """(300,) euclidean distances between the keypoint pairs of PAIRS, for (25, 2) coordinates."""
    xy = np.asarray(xy, dtype=np.float64)
    diff = xy[..., PAIRS[:, 0], :] - xy[..., PAIRS[:, 1], :]
    return np.sqrt((diff**2).sum(axis=-1))


def normalized_keypoints(pose: Pose, joints: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """(coords (25, 2), mask (25,), scale_px): keypoints of `joints` (default: present) centred on their
    mean and divided by their bbox's longest side; other rows 0. scale_px is 0 when they have no extent."""
    mask = pose.present.copy() if joints is None else (np.asarray(joints, dtype=bool) & pose.present)
    scale = bbox_longest_side(pose.xy, mask)
    out = np.zeros((skeleton.NUM_KEYPOINTS, 2))
    if scale > 0:
        pts = pose.xy[mask]
        out[mask] = (pts - pts.mean(axis=0)) / scale
    return out, mask, scale


def pose_descriptor(pose: Pose) -> np.ndarray:
    """The paper's descriptor (section 5.2): pairwise distances of the keypoints / the bbox's longest side.

    (300,) float32 in PAIRS order. Pairs touching an absent keypoint hold 0, which `query_distance` and the
    library never compare; a pose with fewer than 2 present keypoints (no extent) gives all zeros.
    """
    xy, mask, scale = normalized_keypoints(pose)
    if scale <= 0:
        return np.zeros(NUM_PAIRS, dtype=np.float32)
    return np.where(pair_mask(mask), pairwise_distances(xy), 0.0).astype(np.float32)


def torso_up(xy: np.ndarray, joints: np.ndarray) -> np.ndarray | None:
    """Unit vector from the hip centre to the shoulder centre (image coordinates, y down), using the
    shoulders and hips inside `joints`; None without at least one of each or when they coincide."""
    joints = np.asarray(joints, dtype=bool)
    sh = [i for i in _SHOULDERS if joints[i]]
    hp = [i for i in _HIPS if joints[i]]
    if not sh or not hp:
        return None
    xy = np.asarray(xy, dtype=np.float64)
    v = xy[sh].mean(axis=0) - xy[hp].mean(axis=0)
    n = float(np.hypot(v[0], v[1]))
    return None if n <= 1e-12 else v / n


def _as_joint_mask(joints) -> np.ndarray | None:
    if joints is None:
        return None
    arr = np.asarray(joints)
    if arr.dtype == bool:
        if arr.shape != (skeleton.NUM_KEYPOINTS,):
            raise ValueError(f"a joint mask has {skeleton.NUM_KEYPOINTS} entries; got shape {arr.shape}")
        return arr.copy()
    mask = np.zeros(skeleton.NUM_KEYPOINTS, dtype=bool)
    mask[arr.astype(np.int64).ravel()] = True  # indices
    return mask


@dataclass(frozen=True, eq=False)
class Query:
    """What to search for: a pose, the joints to compare, mirror search and the orientation weight.

    joints: (25,) bool mask (or keypoint indices) of the joints switched on; None = all the pose's present
    joints. min_shared: entries must share at least this fraction of the query's joints (and at least 3).
    """

    pose: Pose
    joints: np.ndarray | None = None
    mirror: bool = False
    orientation_weight: float = 0.0
    min_shared: float = 0.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "joints", _as_joint_mask(self.joints))
        if not (self.orientation_weight >= 0 and math.isfinite(self.orientation_weight)):
            raise QueryError("the orientation weight must be a finite number >= 0")

    def joint_mask(self) -> np.ndarray:
        """(25,) bool: joints switched on that the pose has."""
        pres = self.pose.present
        return pres if self.joints is None else (pres & self.joints)

    def sides(self) -> list[tuple[bool, Pose, np.ndarray]]:
        """[(mirrored, pose, joints)]: the query as drawn and, with mirror, its mirror image.

        The mirror image swaps left and right labels and flips x (pairwise distances only see the label
        swap; the orientation term sees the flip). Raises QueryError when too few joints are on."""
        joints = self.joint_mask()
        if joints.sum() < MIN_QUERY_JOINTS or bbox_longest_side(self.pose.xy, joints) <= 0:
            raise QueryError(
                f"the query has {int(joints.sum())} joints switched on; switch on at least "
                f"{MIN_QUERY_JOINTS} joints (not all at one point)"
            )
        out = [(False, self.pose, joints)]
        if self.mirror:
            out.append((True, self.pose.mirrored(width=0.0), joints[skeleton.FLIP_INDEX]))
        return out

    def min_shared_joints(self) -> int:
        """Fewest shared joints an entry needs to be compared."""
        n = int(self.joint_mask().sum())
        return max(MIN_QUERY_JOINTS, min(n, math.ceil(self.min_shared * n - 1e-9)))


def shared_distance_sq(
    q_xy: np.ndarray, q_joints: np.ndarray, e_xy: np.ndarray, e_present: np.ndarray
) -> tuple[float, int] | None:
    """Squared descriptor distance on the shared joints S = q_joints & e_present, each pose scaled by its
    own bbox over S, times |pairs(q_joints)| / |pairs(S)|; with the number of shared joints. None when S has
    no extent on either side."""
    shared = np.asarray(q_joints, bool) & np.asarray(e_present, bool)
    n = int(shared.sum())
    sq, se = bbox_longest_side(q_xy, shared), bbox_longest_side(e_xy, shared)
    if n < 2 or sq <= 0 or se <= 0:
        return None
    pm = pair_mask(shared)
    dq = pairwise_distances(q_xy)[pm] / sq
    de = pairwise_distances(e_xy)[pm] / se
    weight = num_pairs(int(np.sum(q_joints))) / num_pairs(n)
    return float(np.sum((dq - de) ** 2) * weight), n


def query_distance(query: Query, entry: Pose) -> tuple[float, bool] | None:
    """(distance, mirrored) between a query and one pose, or None when they share too few joints.

    The reference definition (float64, one entry at a time) that the library's vectorised search equals.
    """
    best: tuple[float, bool] | None = None
    e_present = entry.present
    e_up = torso_up(entry.xy, e_present)
    need = query.min_shared_joints()
    for mirrored, qpose, joints in query.sides():
        got = shared_distance_sq(qpose.xy, joints, entry.xy, e_present)
        if got is None or got[1] < need:
            continue
        d2 = got[0]
        if query.orientation_weight > 0 and e_up is not None:
            q_up = torso_up(qpose.xy, joints)
            if q_up is not None:
                d2 += query.orientation_weight * float(np.sum((q_up - e_up) ** 2))
        if best is None or d2 < best[0]:
            best = (d2, mirrored)
    return None if best is None else (math.sqrt(max(best[0], 0.0)), best[1])
