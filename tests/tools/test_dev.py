"""tools/dev.py, the one set-up for every system: the environment it makes, when it reuses it, the link tree
that lets static tools resolve posefinder.* (pip is not run here: --no-install; the real set-up runs in CI)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEV = ROOT / "tools" / "dev.py"


def _load_dev():
    spec = importlib.util.spec_from_file_location("posefinder_dev_script", DEV)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


dev = _load_dev()


def _run_dev(env: Path, *args: str) -> subprocess.CompletedProcess:
    environ = dict(os.environ, POSEFINDER_VENV=str(env))
    return subprocess.run([sys.executable, str(DEV), "--no-install", *args], capture_output=True, text=True,
                          env=environ, timeout=300)  # fmt: skip


def test_setup_makes_a_venv_whose_site_path_holds_the_whole_package(tmp_path):
    env = tmp_path / "env"
    proc = _run_dev(env, "setup")
    assert proc.returncode == 0, proc.stderr
    assert "setting up the environment" in proc.stderr
    python = env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    assert python.is_file() and dev.venv_python(env) == python
    assert (env / dev.DEPS_STAMP).read_text().strip() == dev.environment_key(ROOT)
    tree = env / dev.LINKS / "posefinder"
    for room in dev.ROOMS:
        assert (tree / room).resolve() == ROOT / room
    assert (tree / "__init__.py").resolve() == ROOT / "posefinder" / "__init__.py"
    assert (tree / "py.typed").is_file()  # mypy analyses the package (PEP 561)
    # the environment's Python (started outside the checkout) imports every room through the tree
    code = ("import posefinder.app, posefinder.models, posefinder.build, posefinder.resources, pathlib\n"
            "for m in (posefinder.app, posefinder.models, posefinder.build, posefinder.resources):\n"
            "    print(pathlib.Path(m.__file__).resolve())")  # fmt: skip
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(ROOT / room / "__init__.py") for room in dev.ROOMS]


def test_a_second_run_reuses_the_environment_and_runs_the_job(tmp_path):
    env = tmp_path / "env"
    assert _run_dev(env, "setup").returncode == 0
    made = (env / "pyvenv.cfg").stat()
    proc = _run_dev(env, "run", "python", "-c", "import sys; print(sys.prefix)")
    assert proc.returncode == 0, proc.stderr
    assert "setting up" not in proc.stderr
    assert Path(proc.stdout.strip()).resolve() == env.resolve()  # `run` puts the environment first on the PATH
    assert (env / "pyvenv.cfg").stat().st_ino == made.st_ino
    assert _run_dev(env, "run").returncode == 2  # run without a command: usage error


def _project(tmp_path: Path, pyproject: str) -> Path:
    root = tmp_path / "checkout"
    root.mkdir(exist_ok=True)
    (root / "pyproject.toml").write_text(pyproject)
    return root


BASE = """[build-system]
requires = ["setuptools>=77"]

[project]
name = "posefinder"
version = "0.1.0"
description = "one"
dependencies = ["numpy>=1.24"]

[project.optional-dependencies]
test = ["pytest>=7.4"]
train = ["lightning>=2.1"]

[tool.pytest.ini_options]
markers = ["slow: slow"]
"""


@pytest.mark.parametrize(
    "old, new, same",
    [
        ('markers = ["slow: slow"]', 'markers = ["slow: slow", "gpu: needs a GPU"]', True),
        ('description = "one"', 'description = "two"', True),
        ('version = "0.1.0"', 'version = "0.2.0"', True),
        ('"numpy>=1.24"', '"numpy>=2"', False),
        ('"pytest>=7.4"', '"pytest>=8"', False),
        ('requires = ["setuptools>=77"]', 'requires = ["setuptools>=80"]', False),
    ],
)
def test_only_what_decides_the_environment_is_hashed(tmp_path, old, new, same):
    before = dev.environment_key(_project(tmp_path, BASE), ("test", "train"))
    after = dev.environment_key(_project(tmp_path, BASE.replace(old, new)), ("test", "train"))
    assert (before == after) is same


def test_the_extras_installed_decide_the_environment(tmp_path):
    root = _project(tmp_path, BASE)
    assert dev.environment_key(root, ("test",)) != dev.environment_key(root, ("test", "train"))


def test_python_3_10_without_tomllib_hashes_the_tables_that_decide(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tomllib", None)  # import tomllib raises ImportError, as on 3.10
    before = dev.environment_key(_project(tmp_path, BASE), ("test",))
    assert before == dev.environment_key(_project(tmp_path, BASE.replace("slow: slow", "slow: long")), ("test",))
    assert before != dev.environment_key(_project(tmp_path, BASE.replace("numpy>=1.24", "numpy>=2")), ("test",))


def test_another_checkout_relinks_the_environment_without_making_it_again(tmp_path):
    env = tmp_path / "env"
    dev.ensure_environment(ROOT, env, install=False)
    other = tmp_path / "clone"
    for name in ("posefinder", *dev.ROOMS):
        shutil.copytree(ROOT / name, other / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "pyproject.toml", other / "pyproject.toml")
    shutil.copy2(ROOT / "setup.py", other / "setup.py")
    made = (env / "pyvenv.cfg").stat().st_ino
    dev.ensure_environment(other, env, install=False)
    assert (env / "pyvenv.cfg").stat().st_ino == made
    assert (env / dev.LINKS / "posefinder" / "models").resolve() == other / "models"
    # the rooms are linked as folders: a module added later is in the tree at once
    (other / "models" / "added_later.py").write_text("X = 1\n")
    assert (env / dev.LINKS / "posefinder" / "models" / "added_later.py").is_file()


def test_a_folder_that_is_not_an_environment_is_never_removed(tmp_path):
    env = tmp_path / "documents"
    env.mkdir()
    (env / "thesis.txt").write_text("keep me")
    proc = _run_dev(env, "setup")
    assert proc.returncode != 0 and "not a virtual environment" in proc.stderr
    assert (env / "thesis.txt").read_text() == "keep me"
