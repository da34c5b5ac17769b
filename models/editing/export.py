"""Exporting the canvas pose: PoseFinder JSON, OpenPose JSON (ControlNet), COCO keypoints, ControlNet PNG.

Joints switched off are written as absent. The JSON formats are written by models/formats (so an export
reads back with `read_poses`); the PNG is models/drawing.render_openpose, the 18-point skeleton on black
that ControlNet's OpenPose model expects, at the pose's image_size (the canvas gives its frame: the guide
image's size, else its page). COCO and OpenPose carry no limb midpoints: readers derive them from the limb
endpoints, so a midpoint moved by hand survives only in PoseFinder JSON.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from posefinder.models.errors import PoseFileError
from posefinder.models.formats import PoseRecord, write_poses
from posefinder.models.pose import Pose

#: format -> (label for file dialogs, file suffix).
EXPORT_FORMATS: dict[str, tuple[str, str]] = {
    "posefinder": ("PoseFinder pose JSON", ".json"),
    "openpose": ("OpenPose JSON (ControlNet)", ".json"),
    "coco": ("COCO keypoints JSON", ".json"),
    "png": ("ControlNet pose image (PNG)", ".png"),
}


def dialog_filters() -> str:
    """The file dialog filter string of EXPORT_FORMATS, in its order ("Label (*.json);;...")."""
    return ";;".join(f"{label} (*{suffix})" for label, suffix in EXPORT_FORMATS.values())


def format_for_filter(selected_filter: str) -> str:
    """The format name of a filter string from dialog_filters(); PoseFileError for another one."""
    for fmt, (label, suffix) in EXPORT_FORMATS.items():
        if selected_filter == f"{label} (*{suffix})":
            return fmt
    raise PoseFileError(f"unknown export type {selected_filter!r}")


def png_size(pose: Pose) -> tuple[int, int]:
    """(width, height) of the PNG export: the pose's image_size, else a frame around its joints."""
    if pose.image_size is not None:
        return pose.image_size
    x, y, w, h = pose.bbox()
    return max(1, math.ceil(x + w + max(x, 0))), max(1, math.ceil(y + h + max(y, 0)))


def export_pose(pose: Pose, joints: np.ndarray, path: str | Path, fmt: str) -> None:
    """Write the pose with only `joints` ((25,) bool, the ones switched on) to path in format fmt.

    PoseFileError with a one-line reason for an unknown format or a file that cannot be written.
    """
    if fmt not in EXPORT_FORMATS:
        raise PoseFileError(f"unknown export format {fmt!r}; use one of: {', '.join(EXPORT_FORMATS)}")
    path = Path(path)
    kept = pose.with_only(np.asarray(joints, dtype=bool))
    if not kept.present.any():
        raise PoseFileError("every joint is switched off: there is no pose to export")
    try:
        if fmt == "png":
            from posefinder.models.drawing import render_openpose
            from posefinder.models.imageio import save_image

            save_image(render_openpose(kept, png_size(kept)), path)
        else:
            write_poses([PoseRecord(kept)], path, fmt)
    except OSError as exc:
        raise PoseFileError(f"{path}: cannot write ({exc.strerror or exc})") from None
