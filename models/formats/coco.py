"""COCO keypoint annotations: 17 points per person (x, y, v flattened), midpoints derived on reading.

Reads a full COCO file (images, annotations, categories), a bare list of annotations, or a single
annotation object; eyes and ears may be absent (v = 0). Files whose category names all 25 PoseFinder
keypoints keep the midpoints as stored. Writing produces a full COCO file with the person category.
"""

from __future__ import annotations

import numpy as np

from posefinder.models import skeleton
from posefinder.models.errors import PoseFileError
from posefinder.models.formats.record import PoseRecord
from posefinder.models.pose import SOURCE_ANNOTATION, Pose


def _is_annotation(obj) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("keypoints"), list) and (
        len(obj["keypoints"]) == 0 or not isinstance(obj["keypoints"][0], list)
    )


def detect(obj) -> bool:
    if isinstance(obj, dict) and isinstance(obj.get("annotations"), list):
        return True
    if _is_annotation(obj):
        return True
    return isinstance(obj, list) and len(obj) > 0 and all(_is_annotation(a) for a in obj)


def _category_names(obj, category_id) -> list[str]:
    cats = obj.get("categories") if isinstance(obj, dict) else None
    if cats:
        for c in cats:
            if c.get("id") == category_id and c.get("keypoints"):
                return [str(n) for n in c["keypoints"]]
    return list(skeleton.COCO17_NAMES)


def _keypoints25(flat, names: list[str]) -> np.ndarray:
    arr = np.asarray(flat, dtype=np.float64)
    if arr.size != 3 * len(names):
        raise PoseFileError(f"a COCO annotation has {arr.size} keypoint numbers; expected {3 * len(names)}")
    arr = arr.reshape(len(names), 3)
    out = np.zeros((skeleton.NUM_KEYPOINTS, 3))
    known = 0
    for name, row in zip(names, arr):
        key = name.strip().lower().replace(" ", "_")
        if key in skeleton.INDEX:
            out[skeleton.INDEX[key]] = row
            known += 1
    if known == 0:
        raise PoseFileError("COCO keypoint names do not match the person skeleton")
    has_midpoints = all(m in [n.lower() for n in names] for m in skeleton.MIDPOINTS)
    skeleton.fill_midpoints(out, only_missing=has_midpoints)
    return out


def parse(obj) -> list[PoseRecord]:
    if isinstance(obj, dict) and "annotations" in obj:
        anns = obj["annotations"]
        images = {im["id"]: im for im in obj.get("images", []) if isinstance(im, dict) and "id" in im}
    elif isinstance(obj, list):
        anns, images = obj, {}
    else:
        anns, images = [obj], {}
    out = []
    for ann in anns:
        if not isinstance(ann, dict) or "keypoints" not in ann:
            raise PoseFileError("a COCO annotation without keypoints")
        if ann.get("num_keypoints", 1) == 0 and not any(ann["keypoints"][2::3]):
            continue  # a person box without keypoints: nothing to search by
        names = _category_names(obj, ann.get("category_id", 1))
        kp = _keypoints25(ann["keypoints"], names)
        im = images.get(ann.get("image_id"), {})
        size = (im["width"], im["height"]) if "width" in im and "height" in im else None
        bbox = ann.get("bbox")
        pose = Pose(
            keypoints=kp,
            bbox_xywh=bbox if bbox and len(bbox) == 4 and bbox[2] > 0 and bbox[3] > 0 else None,
            image_size=size,
            source=str(ann.get("source", SOURCE_ANNOTATION)),
            score=None if ann.get("score") is None else float(ann["score"]),
        )
        if isinstance(ann.get("area"), (int, float)) and ann["area"] > 0:
            pose.meta["area"] = float(ann["area"])  # the segment area, COCO's OKS scale
        out.append(PoseRecord(pose, im.get("file_name")))
    return out


def dump(records: list[PoseRecord]) -> dict:
    images, image_ids, annotations = [], {}, []
    for r in records:
        key = r.image if r.image is not None else f"<pose {len(annotations)}>"
        if key not in image_ids:
            image_ids[key] = len(images) + 1
            im = {"id": image_ids[key], "file_name": r.image}
            if r.pose.image_size is not None:
                im["width"], im["height"] = r.pose.image_size
            images.append(im)
        kp17 = r.pose.keypoints[: skeleton.NUM_COCO]
        ann = {
            "id": len(annotations) + 1,
            "image_id": image_ids[key],
            "category_id": 1,
            "keypoints": [v for x, y, vis in kp17 for v in (float(x), float(y), int(vis))],
            "num_keypoints": int((kp17[:, 2] > 0).sum()),
            "bbox": list(r.pose.bbox()),
            "iscrowd": 0,
            "source": r.pose.source,
        }
        x, y, w, h = ann["bbox"]
        ann["area"] = float(r.pose.meta.get("area") or w * h)  # the segment area when known
        if r.pose.score is not None:
            ann["score"] = r.pose.score
        annotations.append(ann)
    return {
        "images": images,
        "annotations": annotations,
        "categories": [
            {
                "id": 1,
                "name": "person",
                "supercategory": "person",
                "keypoints": list(skeleton.COCO17_NAMES),
                "skeleton": [[a + 1, b + 1] for a, b in skeleton.COCO_SKELETON],
            }
        ],
    }
