"""A library of the artist's corrections for the fine-tuning tests: synthetic figures saved as PNG files,
imported with their images, each pose then corrected by hand (source "hand"), as the app stores them."""

from __future__ import annotations

from pathlib import Path

from posefinder.models.library import Library


def correction_library(root: Path, n: int = 30, *, seed: int = 0, size: int = 64, style: str | None = None,
                       extra_estimated: int = 0) -> Path:  # fmt: skip
    """A library at root/lib with n hand-corrected poses on n images (root/images), plus extra_estimated
    images whose poses stay as imported (not corrections)."""
    from posefinder.build.synthetic import render_figure
    from posefinder.models.formats import write_poses
    from posefinder.models.formats.record import PoseRecord
    from posefinder.models.imageio import save_image

    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(n + extra_estimated):
        fig = render_figure(seed * 100_003 + i, size=(size, size), style=style)
        name = f"fig{i:04d}.png"
        save_image(fig.image, images / name)
        records.append(PoseRecord(fig.pose, name))
    write_poses(records, root / "poses.json", "coco")
    lib_path = root / "lib"
    with Library.open(lib_path, create=True) as lib:
        lib.import_records(records, images_dir=images)
        rows = lib._con().execute(
            "SELECT p.id, i.name FROM poses p JOIN images i ON i.id = p.image_id ORDER BY i.name"
        ).fetchall()
        for pose_id, name in rows[:n]:
            lib.set_pose(pose_id, lib.get_pose(pose_id))  # the artist's correction: stored as hand-edited
    return lib_path
