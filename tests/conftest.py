"""Shared fixtures: offscreen Qt, an isolated user data folder, and ../shared/data when present."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

TESTS = Path(__file__).resolve().parent
# The shared helpers (library_helpers, estimator_fakes, gui_helpers, ...) live beside this file, above the
# folders that mirror the package (tests/models, tests/app, tests/build).
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))


def pytest_collection_modifyitems(config, items):
    """Marks what a test needs from what it uses, so `-m "not gui"` and the like select reliably:
    a test that takes pytest-qt's qtbot is `gui`; `gpu` tests skip without CUDA and `network` tests
    unless POSEFINDER_TEST_NETWORK=1 (the suite is offline by default)."""
    gpu_reason = None
    for item in items:
        if "qtbot" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.gui)
        if item.get_closest_marker("network") and os.environ.get("POSEFINDER_TEST_NETWORK") != "1":
            item.add_marker(pytest.mark.skip(reason="needs the network: set POSEFINDER_TEST_NETWORK=1"))
        if item.get_closest_marker("gpu"):
            if gpu_reason is None:
                gpu_reason = _gpu_missing()
            if gpu_reason:
                item.add_marker(pytest.mark.skip(reason=gpu_reason))


def _gpu_missing() -> str:
    try:
        import torch
    except ImportError:
        return "needs torch with CUDA (torch is not installed)"
    return "" if torch.cuda.is_available() else "needs a CUDA GPU"

SHARED_DATA = TESTS.parents[1] / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Every test gets its own user data, config and cache folders (models, demo, settings)."""
    home = tmp_path_factory.mktemp("userdirs")
    monkeypatch.setenv("POSEFINDER_HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    yield


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or a skip with the reason where it is absent (a user's clone has none)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"../shared/data is absent ({SHARED_DATA})")
    return SHARED_DATA


def _shared_file(path: Path) -> Path:
    """A file of ../shared/data, or a skip naming it where it is absent."""
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="session")
def add_train(shared_data) -> Path:
    return _shared_file(shared_data / "add" / "train.json")


@pytest.fixture(scope="session")
def add_val(shared_data) -> Path:
    return _shared_file(shared_data / "add" / "val.json")


@pytest.fixture(scope="session")
def megumin(shared_data) -> Path:
    return _shared_file(shared_data / "samples" / "megumin.png")


@pytest.fixture(scope="session")
def portrait_sample(shared_data) -> Path:
    """A real non-square illustration (550x768, one character): samples/aniseg_799905.jpg."""
    return _shared_file(shared_data / "samples" / "aniseg_799905.jpg")
