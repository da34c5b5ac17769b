"""Character regions of a foreground mask: its large connected components, grouped into characters, as boxes.

The paper assumes one character per image and takes the box enclosing the thresholded mask (section 3.3).
PoseFinder also serves images with several characters: each large connected component of the mask is a
character, with these rules so that one character is not split into several:
- a component is large when its area is at least `min_relative_area` of the largest one and at least
  `min_image_area` of the mask;
- two large components whose boxes overlap by at least `merge_overlap` of the smaller box are one
  character (a sword, a detached sleeve, a body cut in two by a held object);
- a small component joins the character whose box, grown by `attach_margin` of its longer side, it
  touches (a hand or a foot separated from the body by a thin gap); other small components are noise;
- at most `max_characters`, largest first; a mask of one component (or of specks only) gives exactly the
  paper's box.
Boxes are (x, y, w, h) in pixel edges of the mask (geometry.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posefinder.models.pose import as_xywh


@dataclass(frozen=True)
class RegionRules:
    min_relative_area: float = 0.2
    min_image_area: float = 0.002
    merge_overlap: float = 0.5
    attach_margin: float = 0.05
    max_characters: int = 4


@dataclass
class Region:
    """One character's part of the mask: its box (pixel edges) and its area in mask pixels."""

    bbox_xywh: tuple[float, float, float, float]
    area: int


def _union(a, b):
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return (x0, y0, x1 - x0, y1 - y0)


def _intersection_area(a, b) -> float:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return float(max(w, 0) * max(h, 0))


def _grown(box, margin: float):
    m = margin * max(box[2], box[3])
    return (box[0] - m, box[1] - m, box[2] + 2 * m, box[3] + 2 * m)


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """The box enclosing every True pixel of a 2-D mask (the paper's bbox), or None when it is empty."""
    cols = np.flatnonzero(mask.any(axis=0))
    rows = np.flatnonzero(mask.any(axis=1))
    if cols.size == 0:
        return None
    return (int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))


def character_regions(mask: np.ndarray, rules: RegionRules = RegionRules()) -> list[Region]:
    """The characters of a 2-D bool mask, largest first (empty when the mask is)."""
    import cv2

    mask = np.asarray(mask, dtype=bool)
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    comps = [
        (as_xywh(stats[i, :4]), int(stats[i, cv2.CC_STAT_AREA])) for i in range(1, count)
    ]
    if not comps:
        return []
    largest = max(area for _, area in comps)
    floor = max(rules.min_relative_area * largest, rules.min_image_area * mask.size)
    large = [Region(box, area) for box, area in comps if area >= floor]
    small = [(box, area) for box, area in comps if area < floor]
    if not large:  # only specks: the paper's box around all of them
        box = mask_box(mask)
        assert box is not None  # the mask has components, so foreground
        return [Region(as_xywh(box), sum(area for _, area in comps))]
    merged = True
    while merged:  # merge characters whose boxes overlap enough, until none do
        merged = False
        for i in range(len(large)):
            for j in range(i + 1, len(large)):
                a, b = large[i].bbox_xywh, large[j].bbox_xywh
                smaller = min(a[2] * a[3], b[2] * b[3])
                if _intersection_area(a, b) >= rules.merge_overlap * smaller:
                    large[i] = Region(_union(a, b), large[i].area + large[j].area)
                    del large[j]
                    merged = True
                    break
            if merged:
                break
    for box, area in sorted(small, key=lambda c: -c[1]):
        touching = [r for r in large if _intersection_area(_grown(r.bbox_xywh, rules.attach_margin), box) > 0]
        if touching:
            region = max(touching, key=lambda r: r.area)
            region.bbox_xywh = _union(region.bbox_xywh, box)
            region.area += area
    large.sort(key=lambda r: -r.area)
    return large[: max(1, rules.max_characters)]
