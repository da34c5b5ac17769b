"""OpenPose JSON as ControlNet pose editors use it: 18 points (COCO-OpenPose order, with neck) per person.

    {"canvas_width": W, "canvas_height": H, "people": [{"pose_keypoints_2d": [x, y, c] x 18}]}

Confidence 0 marks a missing point. Editors that store coordinates normalised to [0, 1] are recognised
(every coordinate within [0, 1] and a canvas size given) and scaled to pixels. The neck is written as the
mean of the shoulders and ignored on reading; midpoints are derived from the limb endpoints. PoseFinder
writes each person's pose source ("source": "hand" for a canvas pose); a person without one, as other
editors write them, is read as an "annotation".
"""

from __future__ import annotations

import numpy as np

from posefinder.models import skeleton
from posefinder.models.errors import PoseFileError
from posefinder.models.formats.record import PoseRecord
from posefinder.models.pose import SOURCE_ANNOTATION, VISIBLE, Pose

#: OpenPose-18 order; None is the neck, which the 25-point skeleton does not have.
OPENPOSE18: tuple[str | None, ...] = (
    "nose", None, "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
    "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
)  # fmt: skip
NECK = 1


def detect(obj) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("people"), list) or (
        isinstance(obj, list) and len(obj) > 0 and isinstance(obj[0], dict) and "people" in obj[0]
    )


def parse(obj) -> list[PoseRecord]:
    docs = obj if isinstance(obj, list) else [obj]  # some editors save a list of frames
    out = []
    for doc in docs:
        w, h = doc.get("canvas_width"), doc.get("canvas_height")
        size = (int(w), int(h)) if w and h else None
        for person in doc["people"]:
            flat = person.get("pose_keypoints_2d")
            if flat is None:
                raise PoseFileError("an OpenPose person without pose_keypoints_2d")
            arr = np.asarray(flat, dtype=np.float64)
            if arr.size != 54:
                raise PoseFileError(f"OpenPose pose_keypoints_2d has {arr.size} numbers; expected 54 (18 points)")
            arr = arr.reshape(18, 3)
            present = arr[:, 2] > 0
            if size and present.any() and arr[present, :2].max() <= 1.0:
                arr[:, 0] *= size[0]
                arr[:, 1] *= size[1]
            kp = np.zeros((skeleton.NUM_KEYPOINTS, 3))
            for i, name in enumerate(OPENPOSE18):
                if name is not None and present[i]:
                    kp[skeleton.INDEX[name]] = (arr[i, 0], arr[i, 1], VISIBLE)
            skeleton.fill_midpoints(kp)
            if not (kp[:, 2] > 0).any():
                continue
            source = str(person.get("source", SOURCE_ANNOTATION))  # PoseFinder writes it; editors do not
            out.append(PoseRecord(Pose(keypoints=kp, image_size=size, source=source)))
    return out


def to_openpose18(pose: Pose) -> np.ndarray:
    """(18, 3) OpenPose-order array of x, y, confidence (1 present, 0 missing; neck from shoulders)."""
    arr = np.zeros((18, 3))
    for i, name in enumerate(OPENPOSE18):
        if name is None:
            continue
        j = skeleton.INDEX[name]
        if pose.present[j]:
            arr[i] = (pose.keypoints[j, 0], pose.keypoints[j, 1], 1.0)
    ls, rs = skeleton.INDEX["left_shoulder"], skeleton.INDEX["right_shoulder"]
    if pose.present[ls] and pose.present[rs]:
        arr[NECK, :2] = (pose.xy[ls] + pose.xy[rs]) / 2.0
        arr[NECK, 2] = 1.0
    return arr


def dump(records: list[PoseRecord]) -> dict:
    size = next((r.pose.image_size for r in records if r.pose.image_size), None)
    if size is None:  # no image: a canvas around every pose
        boxes = np.array([r.pose.bbox() for r in records]) if records else np.zeros((1, 4))
        size = (int(np.ceil((boxes[:, 0] + boxes[:, 2]).max())) + 1, int(np.ceil((boxes[:, 1] + boxes[:, 3]).max())) + 1)
    people = [
        {"pose_keypoints_2d": [float(v) for v in to_openpose18(r.pose).ravel()], "source": r.pose.source}
        for r in records
    ]
    return {"version": 1.3, "canvas_width": int(size[0]), "canvas_height": int(size[1]), "people": people}
