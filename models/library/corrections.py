"""The artist's corrections (hand-edited poses on library images) as training data: export and split.

    corrections = lib.corrections()                       # Library: every hand-edited pose with its image
    usable, skipped = with_images(corrections)            # those whose image file is still there
    train, held_out = split_by_image(usable, 0.2, seed=0) # a fixed, per-image split
    export_corrections(lib, "corrections.json")           # COCO keypoints with absolute image paths

Plain Python (no torch): `posefinder export-corrections` runs on the torch-free install; fine-tuning
(posefinder.build.finetune) uses the same split.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from posefinder.models.errors import LibraryError
from posefinder.models.library.records import Correction

#: The smallest share of the corrections that fine-tuning holds out to judge the result.
MIN_HELD_OUT = 0.2


def with_images(corrections: Sequence[Correction]) -> tuple[list[Correction], list[tuple[Correction, str]]]:
    """(corrections whose image file exists, [(correction, why it was left out)])."""
    usable, skipped = [], []
    for c in corrections:
        if c.path is None:
            skipped.append((c, "imported without its image"))
        elif not c.path.is_file():
            skipped.append((c, f"{c.path}: the image file is gone"))
        else:
            usable.append(c)
    return usable, skipped


def split_by_image(
    corrections: Sequence[Correction], held_out: float = MIN_HELD_OUT, seed: int = 0
) -> tuple[list[Correction], list[Correction]]:
    """(train, held-out): whole images go to one side or the other (the characters of one image never
    straddle the split), in an order fixed by the seed and the images' content hashes, so the same library
    splits the same way every time. At least `held_out` of the corrections (rounded up) are held out, and at
    least one is trained on."""
    if not 0 < held_out < 1:
        raise ValueError(f"held_out must be a fraction between 0 and 1, got {held_out}")
    by_image: dict[str, list[Correction]] = {}
    for c in corrections:
        by_image.setdefault(c.image_key, []).append(c)
    keys = sorted(by_image)
    order = np.random.default_rng([int(seed), 15]).permutation(len(keys))
    want = math.ceil(held_out * len(corrections))
    held: list[Correction] = []
    train: list[Correction] = []
    for i in order:
        group = by_image[keys[int(i)]]
        (held if len(held) < want else train).extend(group)
    return sorted(train, key=lambda c: c.pose_id), sorted(held, key=lambda c: c.pose_id)


def export_corrections(library, out: str | Path) -> tuple[int, list[tuple[Correction, str]]]:
    """Write the library's corrections to `out` as a COCO keypoints file whose file_name is each image's
    absolute path (for training elsewhere: `posefinder-train pose --train OUT`); (poses written, skipped).

    LibraryError, and nothing written, when the library has no hand-edited pose with its image.
    """
    from posefinder.models.formats import write_poses
    from posefinder.models.formats.record import PoseRecord

    usable, skipped = with_images(library.corrections())
    if not usable:
        why = f" ({len(skipped)} without their image files)" if skipped else ""
        raise LibraryError(
            f"{library.path}: no corrected poses to export{why}; correct poses in the app first (a result's "
            "menu: Correct this pose…)"
        )
    records = [PoseRecord(c.pose.copy(meta={k: v for k, v in c.pose.meta.items() if k == "area"}), str(c.path))
               for c in usable]  # fmt: skip
    write_poses(records, out, "coco")
    return len(records), skipped
