"""`posefinder import`, `index` and `search`: results, JSON, and one-line errors for bad input."""

import json
import sqlite3
import subprocess
import sys

import numpy as np
import pytest
from library_helpers import random_poses, write_coco, write_json, write_pngs

from posefinder.app.cli import main
from posefinder.models import skeleton
from posefinder.models.errors import ModelError
from posefinder.models.estimators import chain
from posefinder.models.formats import write_poses
from posefinder.models.formats.record import PoseRecord
from posefinder.models.library import Library
from posefinder.models.library import database as db

pytestmark = pytest.mark.torchfree


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(code, err):
    assert code == 1
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("posefinder: error: ")
    assert "Traceback" not in err


@pytest.fixture
def coco_lib(tmp_path, capsys):
    poses = random_poses(60, seed=3)
    coco = write_coco(tmp_path / "poses.json", [(f"img{i}.png", p) for i, p in enumerate(poses)])
    code, out, err = _run(capsys, "import", coco, "--library", tmp_path / "lib")
    assert code == 0, err
    assert "60 poses added" in out
    return tmp_path / "lib", poses, coco


def test_import_then_search_json_and_table(tmp_path, capsys, coco_lib):
    lib, poses, coco = coco_lib
    code, out, _ = _run(capsys, "import", coco, "--library", lib)
    assert code == 0 and "0 poses added" in out and "60 unchanged" in out
    # the query: a COCO file with one annotation
    query = write_coco(tmp_path / "q.json", [("q.png", poses[17])])
    code, out, err = _run(capsys, "search", "--pose", query, "--library", lib, "-k", "4", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert len(res) == 4 and res[0]["image"] == "img17.png" and res[0]["distance"] < 1e-6
    assert [r["distance"] for r in res] == sorted(r["distance"] for r in res)
    assert {"image", "distance", "mirrored", "path", "pose_id"} <= set(res[0])
    code, out, _ = _run(capsys, "search", "--pose", query, "--library", lib, "-k", "2")
    assert code == 0 and "img17.png" in out.splitlines()[1] and "distance" in out.splitlines()[0]


def test_search_partial_and_mirror_options(tmp_path, capsys, coco_lib):
    lib, poses, _ = coco_lib
    mirrored = write_poses([PoseRecord(poses[5].mirrored(), "m.png")], tmp_path / "m.json", "posefinder")
    del mirrored
    code, out, _ = _run(capsys, "search", "--pose", tmp_path / "m.json", "--library", lib, "-k", "1", "--mirror", "--json")
    res = json.loads(out)
    assert code == 0 and res[0]["image"] == "img5.png" and res[0]["mirrored"] and res[0]["distance"] < 1e-6
    # legs switched off: the same figure with other legs is still at 0
    kp = poses[9].keypoints.copy()
    for i in skeleton.resolve_names("legs"):
        if skeleton.KEYPOINT_NAMES[i] not in ("left_hip", "right_hip"):
            kp[i, :2] += np.array([13.0, -4.0]) * (i % 3 + 1)
    from posefinder.models.pose import Pose

    write_poses([PoseRecord(Pose(kp), "x.png")], tmp_path / "legs.json", "posefinder")
    code, out, _ = _run(capsys, "search", "--pose", tmp_path / "legs.json", "--library", lib, "-k", "1", "--json",
                        "--without", "left_knee,right_knee,left_ankle,right_ankle,left_thigh,right_thigh,left_shin,right_shin")  # fmt: skip
    res = json.loads(out)
    assert res[0]["image"] == "img9.png" and res[0]["distance"] < 1e-6
    code, out, _ = _run(capsys, "search", "--pose", tmp_path / "legs.json", "--library", lib, "-k", "1", "--json",
                        "--joints", "upper_body")  # fmt: skip
    assert json.loads(out)[0]["image"] == "img9.png"


def test_index_command_without_model_and_with_bad_images(tmp_path, capsys, monkeypatch):
    def refuse(name=None, device="cpu"):
        raise ModelError(chain.NO_MODEL_MESSAGE)

    monkeypatch.setattr(chain, "select_estimator", refuse)
    pics = tmp_path / "pics"
    write_pngs(pics, 3)
    code, out, err = _run(capsys, "index", pics, "--library", tmp_path / "lib")
    assert code == 0, err
    assert "no pose model is available" in err and "3 images recorded without poses" in err
    assert "3 waiting for a pose model" in out
    (pics / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    code, out, err = _run(capsys, "index", "--library", tmp_path / "lib")
    _one_line_error(code, err)
    assert "broken.jpg" in err and "1 images could not be read" in err
    with Library.open(tmp_path / "lib", readonly=True) as lib:
        assert lib.counts().images == 3 and lib.counts().images_bad == 1


def test_bad_input_gets_one_line_errors_and_changes_nothing(tmp_path, capsys, coco_lib):
    lib, poses, coco = coco_lib
    query = write_coco(tmp_path / "q.json", [("q.png", poses[1])])
    before = (lib / "library.sqlite").read_bytes()
    cases = [
        ("search", "--pose", tmp_path / "missing.json", "--library", lib),
        ("search", "--pose", write_json(tmp_path / "bad.json", "[1, 2"), "--library", lib),
        ("search", "--pose", write_json(tmp_path / "other.json", {"hello": "world"}), "--library", lib),
        ("search", "--pose", query, "--library", tmp_path / "nolib"),
        ("search", "--pose", query, "--library", lib, "--joints", "tail"),
        ("search", "--pose", query, "--library", lib, "--joints", "nose,left_eye"),
        ("search", "--pose", query, "--library", lib, "-k", "0"),
        ("import", tmp_path / "bad.json", "--library", lib),
        ("import", write_json(tmp_path / "trunc.json", {"annotations": [{"keypoints": [1, 2]}]}), "--library", lib),
        ("import", coco, "--library", lib, "--images", tmp_path / "no_such_dir"),
        ("index", tmp_path / "no_such_dir", "--library", lib),
    ]
    (tmp_path / "bad.json").write_text("[1, 2")
    for argv in cases:
        code, out, err = _run(capsys, *argv)
        _one_line_error(code, err)
    assert (lib / "library.sqlite").read_bytes() == before
    assert not (tmp_path / "nolib").exists()


def test_locked_and_newer_libraries(tmp_path, capsys, coco_lib):
    lib, poses, coco = coco_lib
    query = write_coco(tmp_path / "q.json", [("q.png", poses[1])])
    holder = Library.open(lib)  # another writer (in-process: a separate lock)
    try:
        code, _, err = _run(capsys, "import", coco, "--library", lib)
        _one_line_error(code, err)
        assert "locked by another PoseFinder process" in err
        code, out, err = _run(capsys, "search", "--pose", query, "--library", lib, "--json")
        assert code == 0 and json.loads(out)[0]["image"] == "img1.png"  # readers still work
    finally:
        holder.close()
    con = sqlite3.connect(lib / "library.sqlite")
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(db.SCHEMA_VERSION + 5),))
    con.commit()
    con.close()
    for argv in (("search", "--pose", query, "--library", lib), ("import", coco, "--library", lib)):
        code, _, err = _run(capsys, *argv)
        _one_line_error(code, err)
        assert "newer" in err and "update PoseFinder" in err


def test_import_with_images_links_and_reports_broken_ones(tmp_path, capsys):
    pics = tmp_path / "pics"
    paths = write_pngs(pics, 2)
    paths[1].write_bytes(paths[1].read_bytes()[:50])
    poses = random_poses(3, seed=8)
    coco = write_coco(tmp_path / "c.json", [(paths[0].name, poses[0]), (paths[1].name, poses[1]), ("gone.png", poses[2])])
    code, out, err = _run(capsys, "import", coco, "--library", tmp_path / "lib", "--images", pics)
    _one_line_error(code, err)
    assert "img00001.png" in err and "1 images linked, 1 not found" in out
    with Library.open(tmp_path / "lib", readonly=True) as lib:
        assert lib.counts().poses == 3


def test_cli_in_a_subprocess_has_no_traceback_and_search_does_not_import_torch(tmp_path, coco_lib):
    lib, poses, _ = coco_lib
    query = write_coco(tmp_path / "q.json", [("q.png", poses[2])])
    r = subprocess.run([sys.executable, "-m", "posefinder", "search", "--pose", str(tmp_path / "nope.json"),
                        "--library", str(lib)], capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 1 and r.stderr.startswith("posefinder: error:") and "Traceback" not in r.stderr
    code = (
        "import sys; from posefinder.app.cli import main; rc = main(['search', '--pose', %r, '--library', %r]);"
        "heavy = [m for m in ('torch', 'torchvision', 'PySide6', 'sklearn', 'cv2') if m in sys.modules];"
        "print('HEAVY', heavy); sys.exit(rc)"
    ) % (str(query), str(lib))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "img2.png" in r.stdout and "HEAVY []" in r.stdout


def test_search_by_tag_says_plainly_when_the_library_has_no_tags_yet(tmp_path, capsys, coco_lib):
    lib, poses, _ = coco_lib
    query = write_coco(tmp_path / "q.json", [("q.png", poses[5])])
    code, out, err = _run(capsys, "search", "--pose", query, "--library", lib, "--tag", "sword")
    _one_line_error(code, err)
    assert "has no tags yet" in err and "posefinder tags --install" in err and out == ""
    with Library.open(lib) as w:  # tags stored without scores: the filter works
        w.set_tags(6, ["sword"])
    code, out, err = _run(capsys, "search", "--pose", query, "--library", lib, "--tag", "sword", "--json")
    assert code == 0, err
    with Library.open(lib, readonly=True) as r:
        assert [x["image"] for x in json.loads(out)] == [r.image_info(6).name]
    code, out, err = _run(capsys, "search", "--pose", query, "--library", lib, "--tag", "shield")
    _one_line_error(code, err)
    assert "'shield'" in err


def test_search_by_character_count(tmp_path, capsys):
    poses = random_poses(5, seed=8)
    coco = write_coco(tmp_path / "p.json", [("a.png", poses[0]), ("b.png", poses[1]), ("b.png", poses[2]),
                                            ("c.png", poses[3]), ("d.png", poses[4])])  # fmt: skip
    assert _run(capsys, "import", coco, "--library", tmp_path / "lib")[0] == 0
    query = write_coco(tmp_path / "q.json", [("q.png", poses[1])])
    code, out, err = _run(capsys, "search", "--pose", query, "--library", tmp_path / "lib", "--json",
                          "--characters", "several")  # fmt: skip
    assert code == 0, err
    assert [r["image"] for r in json.loads(out)] == ["b.png", "b.png"]
    code, out, err = _run(capsys, "search", "--pose", query, "--library", tmp_path / "lib", "--json",
                          "--characters", "one")  # fmt: skip
    assert code == 0 and sorted(r["image"] for r in json.loads(out)) == ["a.png", "c.png", "d.png"]
    with pytest.raises(SystemExit) as exc:
        main(["search", "--pose", str(query), "--library", str(tmp_path / "lib"), "--characters", "2"])
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err
