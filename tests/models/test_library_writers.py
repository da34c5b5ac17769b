"""One writer per library per process; an index run's cancel is honoured between images."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from library_helpers import random_pose, write_pngs

from posefinder.models.errors import LibraryError
from posefinder.models.library import Library
from posefinder.models.library.indexer import default_runner
from posefinder.models.library.writers import shared_writer, users


def test_users_of_one_process_share_the_writer_and_the_last_one_releases_it(tmp_path):
    with shared_writer(tmp_path / "lib", create=True) as a:
        with shared_writer(tmp_path / "lib") as b:
            assert a is b and users(tmp_path / "lib") == 2
            with pytest.raises(LibraryError, match="locked"):
                Library.open(tmp_path / "lib")  # a writer of its own is still refused while shared
        assert users(tmp_path / "lib") == 1 and not a._closed
    assert users(tmp_path / "lib") == 0 and a._closed
    Library.open(tmp_path / "lib").close()  # the lock is free


class _CancelAt:
    """One pose per image; sets the cancel event while estimating image number `at`."""

    name = "cancel-at"

    def __init__(self, at: int, cancel: threading.Event):
        self.at, self.cancel, self.calls = at, cancel, 0

    def estimate(self, image):
        self.calls += 1
        if self.calls == self.at:
            self.cancel.set()
        return [random_pose(np.random.default_rng(self.calls))]


def test_cancel_is_honoured_between_images_not_only_between_batches(tmp_path):
    write_pngs(tmp_path / "pics", 20)
    cancel = threading.Event()
    est = _CancelAt(3, cancel)
    with Library.open(tmp_path / "lib", create=True) as lib:
        report = lib.index([tmp_path / "pics"], runner=default_runner(est), cancel=cancel, batch_size=16)
        assert report.cancelled and est.calls == 3
        assert lib.counts().images == 3 and lib.counts().poses == 3  # what was estimated is kept
        cancel.clear()
        report = lib.index(runner=default_runner(est))
        assert not report.cancelled and report.added == 17 and lib.counts().images == 20
