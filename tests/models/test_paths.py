"""User folders: POSEFINDER_HOME is the root of all of them; without it, platformdirs' places."""

from __future__ import annotations

from pathlib import Path

import pytest

from posefinder.models import paths

pytestmark = pytest.mark.torchfree


def test_posefinder_home_is_the_root_of_every_user_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("POSEFINDER_HOME", str(tmp_path))
    assert paths.user_data_dir() == tmp_path / "data"
    assert paths.config_dir() == tmp_path / "config"
    assert paths.cache_dir() == tmp_path / "cache"
    assert paths.models_dir() == tmp_path / "data" / "models"
    assert paths.demo_dir() == tmp_path / "data" / "demo"
    assert not (tmp_path / "data").exists()  # naming a folder does not create it
    made = paths.models_dir(create=True)
    assert made.is_dir()


def test_without_posefinder_home_platformdirs_places_are_used(tmp_path, monkeypatch):
    import platformdirs

    monkeypatch.delenv("POSEFINDER_HOME", raising=False)
    assert paths.user_data_dir() == Path(platformdirs.user_data_dir("posefinder", appauthor=False))
    assert paths.config_dir() == Path(platformdirs.user_config_dir("posefinder", appauthor=False))
    assert paths.cache_dir() == Path(platformdirs.user_cache_dir("posefinder", appauthor=False))
    # the conftest points XDG_DATA_HOME at a temporary folder, so this stays inside it on Linux
    assert paths.models_dir() == paths.user_data_dir() / "models"
