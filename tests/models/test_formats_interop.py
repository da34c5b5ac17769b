"""Pose formats as other tools write them (issue 3 point 4), checked against literal files rather than our
own writer: COCO with absent eyes and ears or all 25 named points, OpenPose-18 from ControlNet editors,
ADD annotations (mapping written out by hand), and every format accepted by `posefinder search --pose`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from library_helpers import random_poses, write_coco

from posefinder.app.cli import main
from posefinder.models import skeleton
from posefinder.models.formats import PoseRecord, read_poses, write_poses
from posefinder.models.pose import Pose

pytestmark = pytest.mark.torchfree


I = skeleton.INDEX

#: OpenPose-18 (COCO-OpenPose) order as ControlNet editors write it, written out independently of the reader.
OPENPOSE_ORDER = ["nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
                  "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
                  "right_eye", "left_eye", "right_ear", "left_ear"]  # fmt: skip


def test_coco_file_without_eyes_and_ears_reads_13_points_and_8_midpoints(tmp_path):
    kp = []
    for i, name in enumerate(skeleton.COCO17_NAMES):
        if "eye" in name or "ear" in name:
            kp += [0, 0, 0]
        else:
            kp += [100 + 10 * i, 50 + 20 * i, 1 if name == "left_knee" else 2]
    doc = {
        "images": [{"id": 7, "file_name": "a/b.jpg", "width": 640, "height": 800}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 1, "keypoints": kp, "num_keypoints": 13,
             "bbox": [80, 40, 200, 400]},
            {"id": 2, "image_id": 7, "category_id": 1, "keypoints": [0] * 51, "num_keypoints": 0, "bbox": [1, 1, 5, 5]},
        ],
        "categories": [{"id": 1, "name": "person", "keypoints": list(skeleton.COCO17_NAMES)}],
    }
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(doc))
    (rec,) = read_poses(path)  # the annotation without keypoints is skipped
    p = rec.pose
    assert rec.image == "a/b.jpg" and p.image_size == (640, 800) and p.bbox_xywh == (80, 40, 200, 400)
    assert p.present.sum() == 13 + 8
    for name in ("left_eye", "right_eye", "left_ear", "right_ear"):
        assert not p.present[I[name]]
    assert tuple(p.xy[I["left_wrist"]]) == (190, 230) and p.keypoints[I["left_knee"], 2] == 1
    m = I["left_shin"]  # the mean of knee and ankle, with the lower visibility
    assert np.allclose(p.xy[m], (p.xy[I["left_knee"]] + p.xy[I["left_ankle"]]) / 2) and p.keypoints[m, 2] == 1
    again = tmp_path / "again.json"
    write_poses([rec], again, "coco")
    assert read_poses(again)[0].pose.allclose(p)


def test_coco_absent_points_with_coordinates_are_absent_and_25_named_points_keep_their_midpoints(tmp_path):
    names = list(skeleton.KEYPOINT_NAMES)
    kp25 = np.zeros((25, 3))
    kp25[:17, :2] = np.arange(34).reshape(17, 2) * 7 + 30
    kp25[:17, 2] = 2
    skeleton.fill_midpoints(kp25)
    kp25[I["right_thigh"], :2] += (9, -4)  # a midpoint placed by hand, not the mean
    kp25[I["nose"]] = (55, 66, 0)  # absent, but with coordinates as some tools write them
    doc = {"annotations": [{"image_id": 1, "category_id": 3, "keypoints": kp25.ravel().tolist()}],
           "categories": [{"id": 3, "name": "character", "keypoints": names}]}  # fmt: skip
    path = tmp_path / "c25.json"
    path.write_text(json.dumps(doc))
    p = read_poses(path)[0].pose
    assert not p.present[I["nose"]] and tuple(p.xy[I["nose"]]) == (0, 0)
    assert np.allclose(p.xy[I["right_thigh"]], kp25[I["right_thigh"], :2])  # kept as stored
    assert np.allclose(p.xy[I["left_thigh"]], kp25[I["left_thigh"], :2])


def test_openpose_18_from_an_editor_maps_every_point_by_its_openpose_name(tmp_path):
    flat = []
    for i, name in enumerate(OPENPOSE_ORDER):
        flat += [10.0 + i, 200.0 + 3 * i, 0.9]
    flat[3 * OPENPOSE_ORDER.index("left_wrist") + 2] = 0.0  # not detected
    second = [0.0] * 54
    second[0:3] = [300, 40, 1]
    second[15:18] = [280, 90, 1]  # left shoulder
    second[6:9] = [320, 90, 1]  # right shoulder
    doc = {"canvas_width": 512, "canvas_height": 768, "version": 1.3,
           "people": [{"pose_keypoints_2d": flat, "face_keypoints_2d": [], "hand_left_keypoints_2d": []},
                      {"pose_keypoints_2d": second}, {"pose_keypoints_2d": [0.0] * 54}]}  # fmt: skip
    path = tmp_path / "editor.json"
    path.write_text(json.dumps(doc))
    recs = read_poses(path)
    assert len(recs) == 2  # the person without any point is skipped
    p = recs[0].pose
    assert p.image_size == (512, 768)
    for i, name in enumerate(OPENPOSE_ORDER):
        if name in ("neck", "left_wrist"):
            continue
        assert tuple(p.xy[I[name]]) == (10.0 + i, 200.0 + 3 * i), name
    assert not p.present[I["left_wrist"]] and not p.present[I["left_forearm"]] and p.present[I["right_forearm"]]
    q = recs[1].pose
    assert q.present.sum() == 3 and q.xy[I["left_shoulder"], 0] < q.xy[I["right_shoulder"], 0]
    out = tmp_path / "out.json"
    write_poses(recs, out, "openpose")
    written = json.loads(out.read_text())
    back = np.array(written["people"][0]["pose_keypoints_2d"]).reshape(18, 3)
    ls, rs = OPENPOSE_ORDER.index("left_shoulder"), OPENPOSE_ORDER.index("right_shoulder")
    assert np.allclose(back[1, :2], (back[ls, :2] + back[rs, :2]) / 2) and back[1, 2] > 0  # the neck
    assert back[OPENPOSE_ORDER.index("left_wrist"), 2] == 0  # still missing
    assert [r.pose.allclose(o.pose) for r, o in zip(read_poses(out), recs)] == [True, True]


def test_add_annotations_map_onto_the_skeleton_by_name_and_keep_their_extra_points(tmp_path):
    add_to_coco = {"nose_tip": "nose", "arm_left": "left_shoulder", "arm_right": "right_shoulder",
                   "elbow_left": "left_elbow", "elbow_right": "right_elbow", "wrist_left": "left_wrist",
                   "wrist_right": "right_wrist", "leg_left": "left_hip", "leg_right": "right_hip",
                   "knee_left": "left_knee", "knee_right": "right_knee", "ankle_left": "left_ankle",
                   "ankle_right": "right_ankle"}  # fmt: skip  (../shared/data/README.md)
    points = {name: [float(5 * i + 1), float(7 * i + 2)] for i, name in enumerate(add_to_coco)}
    extras = {"head": [11.0, 12.0], "neck": [13.0, 14.0], "nose_root": [15.0, 16.0], "body_upper": [17.0, 18.0],
              "thumb_left": [1.5, 2.5], "tiptoe_right": [3.5, 4.5]}  # fmt: skip
    entries = [{"file_name": "data/images/123.jpg", "width": 300, "height": 500, "points": {**points, **extras}}]
    path = tmp_path / "add.json"
    path.write_text(json.dumps(entries))
    (rec,) = read_poses(path)
    p = rec.pose
    assert rec.image == "data/images/123.jpg" and p.image_size == (300, 500) and p.source == "annotation"
    for add_name, name in add_to_coco.items():
        assert tuple(p.xy[I[name]]) == tuple(points[add_name]), add_name
    assert p.present.sum() == 13 + 8
    assert not any(p.present[I[n]] for n in ("left_eye", "right_eye", "left_ear", "right_ear"))
    out = tmp_path / "again.json"
    write_poses([rec], out, "add")
    assert json.loads(out.read_text()) == entries  # extras and names come back exactly


def test_search_takes_the_query_in_every_format(tmp_path, capsys):
    poses = random_poses(30, seed=12)
    coco = write_coco(tmp_path / "lib.json", [(f"img{i}.png", p) for i, p in enumerate(poses)])
    assert main(["import", str(coco), "--library", str(tmp_path / "lib")]) == 0
    capsys.readouterr()
    query = poses[21]
    firsts = {}
    for fmt in ("posefinder", "coco", "openpose", "add"):
        path = tmp_path / f"q_{fmt}.json"
        write_poses([PoseRecord(query, "q.png")], path, fmt)
        code = main(["search", "--pose", str(path), "--library", str(tmp_path / "lib"), "-k", "3", "--json"])
        res = json.loads(capsys.readouterr().out)
        assert code == 0 and len(res) == 3
        assert [r["distance"] for r in res] == sorted(r["distance"] for r in res)  # best first
        firsts[fmt] = (res[0]["image"], res[0]["distance"])
    for fmt, (image, distance) in firsts.items():
        assert image == "img21.png" and distance < 1e-6, fmt  # ADD lacks eyes and ears: compared without them


@pytest.mark.parametrize("fmt", ["posefinder", "coco", "openpose", "add"])
def test_each_format_round_trips_a_pose_with_absent_joints(tmp_path, fmt):
    kp = np.zeros((25, 3))
    rng = np.random.default_rng(1)
    kp[:17, :2] = rng.uniform(20, 300, (17, 2)).round(3)
    kp[:17, 2] = 2
    for name in ("right_eye", "left_ear", "left_ankle"):
        kp[I[name]] = 0
    skeleton.fill_midpoints(kp)
    pose = Pose(kp, image_size=(320, 320), source="annotation" if fmt == "add" else "hand")
    path = tmp_path / f"p.{fmt}.json"
    write_poses([PoseRecord(pose, "p.png")], path, fmt)
    back = read_poses(path)[0].pose
    face = [I[n] for n in ("left_eye", "right_eye", "left_ear", "right_ear")]
    expected = pose.with_only(~np.isin(np.arange(25), face)) if fmt == "add" else pose  # ADD has no eyes, ears
    assert back.allclose(expected) and not back.present[I["left_shin"]]
