"""Exporting the canvas pose: every format re-imports equal; switched-off joints are absent; the PNG."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from posefinder.app.gui.canvas import PoseCanvas  # noqa: E402
from posefinder.models.editing.export import EXPORT_FORMATS, dialog_filters, export_pose, format_for_filter  # noqa: E402
from posefinder.models import skeleton  # noqa: E402
from posefinder.models.drawing import OPENPOSE_COLORS  # noqa: E402
from posefinder.models.errors import PoseFileError  # noqa: E402
from posefinder.models.formats import read_poses  # noqa: E402
from posefinder.models.imageio import load_image  # noqa: E402

I = skeleton.INDEX  # noqa: E741
OFF = ("left_wrist", "left_forearm", "right_ear", "right_knee")


@pytest.fixture
def canvas(qtbot):
    widget = PoseCanvas()
    qtbot.addWidget(widget)
    widget.apply_preset("fighting stance")
    for name in OFF:
        widget.set_joint_on(name, False)
    return widget


def expected_present(fmt: str, mask: np.ndarray) -> np.ndarray:
    """Joints a re-import has: the switched-on ones; COCO and OpenPose carry no midpoints, so there a
    midpoint is present when both its endpoints are (readers derive it)."""
    if fmt == "posefinder":
        return mask.copy()
    out = mask.copy()
    for m, (a, b) in skeleton.MIDPOINT_ENDPOINTS.items():
        out[m] = mask[a] and mask[b]
    return out


@pytest.mark.parametrize("fmt", ["posefinder", "openpose", "coco"])
def test_json_exports_reimport_equal_with_switched_off_joints_absent(canvas, tmp_path, fmt):
    pose, mask = canvas.pose(), canvas.joint_mask()
    path = tmp_path / f"pose{EXPORT_FORMATS[fmt][1]}"
    export_pose(pose, mask, path, fmt)
    records = read_poses(path)
    assert len(records) == 1
    back = records[0].pose
    np.testing.assert_array_equal(back.present, expected_present(fmt, mask))
    for name in OFF:
        if name != "left_forearm" or fmt == "posefinder":
            assert not back.present[I[name]], name
    coco = np.zeros(25, bool)
    coco[: skeleton.NUM_COCO] = True
    compare = back.present & (coco if fmt != "posefinder" else True)
    np.testing.assert_allclose(back.xy[compare], pose.xy[compare], atol=1e-6)
    if fmt != "posefinder":  # derived midpoints sit at the mean of their endpoints
        for m, (a, b) in skeleton.MIDPOINT_ENDPOINTS.items():
            if back.present[m]:
                np.testing.assert_allclose(back.xy[m], (pose.xy[a] + pose.xy[b]) / 2, atol=1e-6)
    if fmt in ("posefinder", "openpose"):
        assert back.image_size == canvas.frame_size()


def test_posefinder_json_keeps_a_midpoint_moved_by_hand(qtbot, canvas, tmp_path):
    canvas.set_joint_on("left_forearm", True)
    kp = canvas.pose().keypoints.copy()
    kp[I["left_forearm"], :2] += (9.5, -3.25)  # off the straight line, as a hand edit leaves it
    from posefinder.models.pose import Pose

    canvas.set_pose(Pose(keypoints=kp, image_size=canvas.frame_size()))
    export_pose(canvas.pose(), canvas.joint_mask(), tmp_path / "p.json", "posefinder")
    back = read_poses(tmp_path / "p.json")[0].pose
    np.testing.assert_allclose(back.xy[I["left_forearm"]], kp[I["left_forearm"], :2], atol=1e-6)


def test_png_export_is_controlnets_skeleton_on_black(canvas, tmp_path):
    pose, mask = canvas.pose(), canvas.joint_mask()
    path = tmp_path / "pose.png"
    export_pose(pose, mask, path, "png")
    image = load_image(path)
    w, h = canvas.frame_size()
    assert image.shape == (h, w, 3)
    black = (image.max(axis=2) == 0).mean()
    assert black > 0.85  # a skeleton on black
    colours = {tuple(c) for c in image.reshape(-1, 3)[image.reshape(-1, 3).max(axis=1) > 0]}
    assert len(colours) > 10  # OpenPose's many limb colours
    x, y = np.round(pose.xy[I["nose"]]).astype(int)
    assert tuple(image[y, x]) == OPENPOSE_COLORS[0]  # OpenPose point 0 = nose, drawn in its colour
    x, y = np.round(pose.xy[I["right_knee"]]).astype(int)  # switched off: neither it nor its limbs drawn
    assert image[y - 3 : y + 4, x - 3 : x + 4].max() == 0


def test_png_export_takes_the_guide_images_size(qtbot, canvas, tmp_path):
    canvas.set_guide_image(np.full((300, 220, 3), 255, np.uint8))
    export_pose(canvas.pose(), canvas.joint_mask(), tmp_path / "guide.png", "png")
    assert load_image(tmp_path / "guide.png").shape == (300, 220, 3)


def test_export_refuses_what_it_cannot_write(canvas, tmp_path):
    pose = canvas.pose()
    with pytest.raises(PoseFileError, match="unknown export format"):
        export_pose(pose, canvas.joint_mask(), tmp_path / "x.bvh", "bvh")
    with pytest.raises(PoseFileError, match="switched off"):
        export_pose(pose, np.zeros(25, bool), tmp_path / "x.json", "posefinder")
    with pytest.raises(PoseFileError, match="cannot write"):
        export_pose(pose, canvas.joint_mask(), tmp_path / "no such folder" / "x.json", "coco")
    assert not (tmp_path / "x.json").exists()


def test_file_dialog_filters_name_every_format():
    filters = dialog_filters().split(";;")
    assert len(filters) == len(EXPORT_FORMATS)
    assert [format_for_filter(f) for f in filters] == list(EXPORT_FORMATS)
    assert filters[-1].endswith("(*.png)")
