"""AnimeDrawingsDataset (ADD) annotations: a list of {file_name, width, height, points: {name: [x, y]}}.

ADD names map onto COCO's as in ../shared/data/README.md; ADD has no eyes or ears, and its extra points
(head, neck, nose_root, body_upper, thumbs, tiptoes) are kept in pose.meta["add_extra_points"] so that a
round trip writes them back.
"""

from __future__ import annotations

import numpy as np

from posefinder.models import skeleton
from posefinder.models.formats.record import PoseRecord
from posefinder.models.pose import VISIBLE, Pose

#: ADD point name -> PoseFinder keypoint name.
ADD_TO_KEYPOINT: dict[str, str] = {
    "nose_tip": "nose",
    "arm_left": "left_shoulder",
    "arm_right": "right_shoulder",
    "elbow_left": "left_elbow",
    "elbow_right": "right_elbow",
    "wrist_left": "left_wrist",
    "wrist_right": "right_wrist",
    "leg_left": "left_hip",
    "leg_right": "right_hip",
    "knee_left": "left_knee",
    "knee_right": "right_knee",
    "ankle_left": "left_ankle",
    "ankle_right": "right_ankle",
}
KEYPOINT_TO_ADD = {v: k for k, v in ADD_TO_KEYPOINT.items()}


def _is_entry(e) -> bool:
    return isinstance(e, dict) and isinstance(e.get("points"), dict)


def detect(obj) -> bool:
    return _is_entry(obj) or (isinstance(obj, list) and len(obj) > 0 and all(_is_entry(e) for e in obj))


def pose_from_points(points: dict, image_size=None) -> Pose:
    kp = np.zeros((skeleton.NUM_KEYPOINTS, 3))
    extra = {}
    for name, xy in points.items():
        if name in ADD_TO_KEYPOINT:
            kp[skeleton.INDEX[ADD_TO_KEYPOINT[name]]] = (float(xy[0]), float(xy[1]), VISIBLE)
        else:
            extra[name] = [float(xy[0]), float(xy[1])]
    skeleton.fill_midpoints(kp)
    pose = Pose(keypoints=kp, image_size=image_size, source="annotation")
    pose.meta["add_extra_points"] = extra
    return pose


def parse(obj) -> list[PoseRecord]:
    entries = obj if isinstance(obj, list) else [obj]
    out = []
    for e in entries:
        size = (e["width"], e["height"]) if "width" in e and "height" in e else None
        out.append(PoseRecord(pose_from_points(e["points"], size), e.get("file_name")))
    return out


def dump(records: list[PoseRecord]) -> list[dict]:
    out = []
    for r in records:
        p = r.pose
        points = {}
        for name, add_name in KEYPOINT_TO_ADD.items():
            i = skeleton.INDEX[name]
            if p.present[i]:
                points[add_name] = [float(p.keypoints[i, 0]), float(p.keypoints[i, 1])]
        points.update(p.meta.get("add_extra_points", {}))
        e = {"file_name": r.image, "points": points}
        if p.image_size is not None:
            e["width"], e["height"] = p.image_size
        out.append(e)
    return out
