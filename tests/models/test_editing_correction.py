"""Correcting a stored pose on its image without Qt: no edit is no change, the real scale maps both ways."""

from __future__ import annotations

import numpy as np
import pytest
from library_helpers import random_pose

from posefinder.models import skeleton
from posefinder.models.editing.correction import CorrectionFrame
from posefinder.models.errors import LibraryError

I = skeleton.INDEX  # noqa: E741


def _stored(size=(1000, 1500), drop: float = 0.2):
    pose = random_pose(np.random.default_rng(4), drop=drop, size_px=size)
    pose.keypoints[pose.present, :2] += 1 / 3  # coordinates a division would not give back exactly
    return pose.copy(source="model:x", scores=np.full(25, 0.5), score=0.9, bbox_xywh=(1.0, 2.0, 3.0, 4.0))


def test_no_edit_is_no_change_at_any_scale():
    stored = _stored()
    for real in ((1000, 1500), (400, 600), (401, 600), None):
        frame = CorrectionFrame.plan(stored, real)
        shown = frame.to_canvas()
        assert frame.edited(shown.keypoints, shown.present) is None


def test_a_resized_image_is_mapped_by_its_real_scale_and_back():
    stored = _stored()
    frame = CorrectionFrame.plan(stored, (400, 600))
    assert frame.scale == (0.4, 0.4)
    shown = frame.to_canvas()
    assert shown.image_size == (400, 600)
    assert np.allclose(shown.xy[stored.present], stored.xy[stored.present] * 0.4)
    kp = shown.keypoints.copy()
    wrist = I["left_wrist"]
    kp[wrist, :2] = (100.0, 200.0)
    on = shown.present.copy()
    on[wrist] = True
    off = int(np.flatnonzero(stored.present & (np.arange(25) != wrist))[0])
    on[off] = False
    out = frame.edited(kp, on)
    assert out is not None and out.source == "hand" and out.image_size == (1000, 1500)
    assert np.allclose(out.xy[wrist], (250.0, 500.0)) and out.keypoints[wrist, 2] == kp[wrist, 2]
    assert not out.present[off]
    kept = stored.present & on & (np.arange(25) != wrist)
    assert np.array_equal(out.keypoints[kept], stored.keypoints[kept])  # bit for bit, not rescaled twice


def test_other_proportions_are_refused_with_a_message():
    with pytest.raises(LibraryError, match="1000 x 1500.*400 x 400"):
        CorrectionFrame.plan(_stored(), (400, 400))
