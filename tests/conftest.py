"""Shared fixtures: offscreen Qt, an isolated user data folder, and ../shared/data when present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


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


@pytest.fixture(scope="session")
def add_train(shared_data) -> Path:
    path = shared_data / "add" / "train.json"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="session")
def add_val(shared_data) -> Path:
    path = shared_data / "add" / "val.json"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="session")
def megumin(shared_data) -> Path:
    path = shared_data / "samples" / "megumin.png"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path
