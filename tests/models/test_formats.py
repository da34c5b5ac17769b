"""Every pose format reads what it writes, and reads files as other tools write them."""

import json

import numpy as np
import pytest

from posefinder.models import skeleton
from posefinder.models.errors import PoseFileError
from posefinder.models.formats import PoseRecord, read_poses, write_poses
from posefinder.models.pose import Pose

pytestmark = pytest.mark.torchfree


def make_pose(seed=0, image_size=(640, 480), source="hand", absent=()):
    rng = np.random.default_rng(seed)
    kp = np.zeros((25, 3))
    kp[:17, :2] = rng.uniform(50, 400, size=(17, 2)).round(2)
    kp[:17, 2] = 2
    for i in absent:
        kp[skeleton.INDEX[i]] = 0
    skeleton.fill_midpoints(kp)
    return Pose(keypoints=kp, image_size=image_size, source=source)


def test_posefinder_json_round_trip_is_exact(tmp_path):
    p = make_pose(1)
    p.scores = np.linspace(0, 1, 25)
    p.score = 0.75
    p.bbox_xywh = (1.5, 2.5, 300.0, 400.0)
    q = make_pose(2, absent=("left_eye", "right_ear"))
    q.keypoints[skeleton.INDEX["left_thigh"], :2] += 7  # a hand-moved midpoint survives
    path = tmp_path / "p.json"
    write_poses([PoseRecord(p, "a.png"), PoseRecord(q, None)], path, "posefinder")
    back = read_poses(path)
    assert [r.image for r in back] == ["a.png", None]
    assert back[0].pose == p and back[1].pose == q


def test_coco_round_trip_keeps_coco_points_and_derives_midpoints(tmp_path):
    p = make_pose(3, absent=("left_eye", "right_eye", "left_ear", "right_ear"))
    p.bbox_xywh = (10.0, 20.0, 400.0, 420.0)
    path = tmp_path / "coco.json"
    write_poses([PoseRecord(p, "img/x.jpg")], path, "coco")
    data = json.loads(path.read_text())
    assert data["categories"][0]["keypoints"] == list(skeleton.COCO17_NAMES)
    assert len(data["annotations"][0]["keypoints"]) == 51
    assert data["annotations"][0]["num_keypoints"] == 13
    back = read_poses(path)
    assert len(back) == 1 and back[0].image == "img/x.jpg"
    assert back[0].pose.allclose(p)
    assert back[0].pose.image_size == (640, 480)


def test_coco_single_annotation_and_bare_list():
    ann = {"keypoints": [0] * 15 + [100, 100, 2, 200, 100, 2] + [0] * 30, "bbox": [90, 90, 120, 20]}
    from posefinder.models.formats import parse_poses

    (r,) = parse_poses(ann)
    assert r.pose.present.sum() == 2 and r.pose.bbox_xywh == (90, 90, 120, 20)
    assert len(parse_poses([ann, ann])) == 2


def test_openpose_round_trip_and_neck(tmp_path):
    p = make_pose(4, image_size=(512, 768))
    path = tmp_path / "op.json"
    write_poses([PoseRecord(p)], path, "openpose")
    data = json.loads(path.read_text())
    assert data["canvas_width"] == 512 and data["canvas_height"] == 768
    kp = np.array(data["people"][0]["pose_keypoints_2d"]).reshape(18, 3)
    ls, rs = skeleton.INDEX["left_shoulder"], skeleton.INDEX["right_shoulder"]
    assert np.allclose(kp[1, :2], (p.xy[ls] + p.xy[rs]) / 2)  # neck
    assert np.allclose(kp[2, :2], p.xy[rs])  # OpenPose index 2 is the right shoulder
    back = read_poses(path)[0].pose
    assert back.allclose(p)


def test_openpose_normalised_coordinates_are_scaled():
    from posefinder.models.formats import parse_poses

    flat = [0.0] * 54
    flat[0:3] = [0.5, 0.25, 1.0]  # nose
    (r,) = parse_poses({"canvas_width": 400, "canvas_height": 800, "people": [{"pose_keypoints_2d": flat}]})
    assert tuple(r.pose.xy[0]) == (200, 200)


def test_add_reads_shared_annotations_and_round_trips(add_val, tmp_path):
    records = read_poses(add_val)
    assert len(records) == 100
    pose = records[0].pose
    assert pose.present.sum() == 13 + 8  # no eyes, no ears; all 8 midpoints derived
    assert not pose.present[[1, 2, 3, 4]].any()
    path = tmp_path / "add.json"
    write_poses(records[:5], path, "add")
    again = json.loads(path.read_text())
    original = json.loads(add_val.read_text())[:5]
    assert again == original


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "malformed JSON"),
        ('{"hello": 1}', "not a pose file"),
        ('{"annotations": [{"keypoints": [1, 2]}]}', "keypoint numbers"),
        ('{"format": "posefinder-pose", "version": 99, "poses": []}', "newer PoseFinder"),
        ('{"people": [{"pose_keypoints_2d": [1, 2, 3]}]}', "expected 54"),
        ('{"format": "posefinder-pose", "version": 1, "poses": [{"keypoints": [[1, 2]]}]}', "malformed"),
    ],
)
def test_bad_pose_files_get_clear_errors(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(PoseFileError, match=message):
        read_poses(path)


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(PoseFileError, match="no such file"):
        read_poses(tmp_path / "nope.json")
    (tmp_path / "b.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(PoseFileError, match="not a JSON pose file"):
        read_poses(tmp_path / "b.json")
