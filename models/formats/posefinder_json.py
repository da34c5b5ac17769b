"""PoseFinder's own pose JSON (versioned): every field of a Pose, 25 named keypoints.

    {"format": "posefinder-pose", "version": 1, "keypoint_names": [25 names],
     "poses": [{"image": "a.png" | null, "keypoints": [[x, y, v] x 25], "bbox_xywh": [x, y, w, h] | null,
                "image_size": [w, h] | null, "source": "hand", "scores": [25] | null, "score": s | null}]}

"source" is always written; a pose read without one is an "annotation" (a file, not a canvas edit).
"""

from __future__ import annotations

from posefinder.models import skeleton
from posefinder.models.errors import PoseFileError
from posefinder.models.formats.record import PoseRecord
from posefinder.models.pose import SOURCE_ANNOTATION, Pose

FORMAT_NAME = "posefinder-pose"
VERSION = 1


def detect(obj) -> bool:
    return isinstance(obj, dict) and obj.get("format") == FORMAT_NAME


def parse(obj) -> list[PoseRecord]:
    version = obj.get("version")
    if not isinstance(version, int) or version < 1:
        raise PoseFileError("PoseFinder pose file without a valid version number")
    if version > VERSION:
        raise PoseFileError(
            f"pose file version {version} was written by a newer PoseFinder (this one reads up to {VERSION}); "
            "update PoseFinder"
        )
    names = obj.get("keypoint_names", list(skeleton.KEYPOINT_NAMES))
    if list(names) != list(skeleton.KEYPOINT_NAMES):
        raise PoseFileError("PoseFinder pose file with a different skeleton (keypoint_names do not match)")
    out = []
    for p in obj["poses"]:
        pose = Pose(
            keypoints=p["keypoints"],
            bbox_xywh=p.get("bbox_xywh"),
            image_size=p.get("image_size"),
            source=str(p.get("source", SOURCE_ANNOTATION)),  # a file that does not say: an annotation
            scores=p.get("scores"),
            score=None if p.get("score") is None else float(p["score"]),
        )
        out.append(PoseRecord(pose, p.get("image")))
    return out


def dump(records: list[PoseRecord]) -> dict:
    poses = []
    for r in records:
        p = r.pose
        poses.append(
            {
                "image": r.image,
                "keypoints": [[float(x), float(y), int(v)] for x, y, v in p.keypoints],
                "bbox_xywh": None if p.bbox_xywh is None else list(p.bbox_xywh),
                "image_size": None if p.image_size is None else list(p.image_size),
                "source": p.source,
                "scores": None if p.scores is None else [float(s) for s in p.scores],
                "score": p.score,
            }
        )
    return {
        "format": FORMAT_NAME,
        "version": VERSION,
        "keypoint_names": list(skeleton.KEYPOINT_NAMES),
        "poses": poses,
    }
