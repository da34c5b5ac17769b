"""The package installs from a clean checkout, editable or not, without writing into build/ (our sources)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.torchfree


ROOT = Path(__file__).resolve().parents[2]


def _clean_copy(dest: Path) -> Path:
    """A copy of the tracked files (what a fresh clone has)."""
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout")
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, files):
        src = ROOT / name.decode()
        if src.is_file():
            (dest / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name.decode())
    return dest


def _tree(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*") if "__pycache__" not in p.parts}


@pytest.mark.slow
@pytest.mark.parametrize("editable", [False, True])
def test_pip_install_leaves_build_folder_alone(tmp_path, editable):
    src = _clean_copy(tmp_path / "src")
    before = _tree(src / "build")
    target = tmp_path / "target"
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    cmd += ["--target", str(target)]
    cmd += ["-e", str(src)] if editable else [str(src)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert _tree(src / "build") == before
    check = (
        "import posefinder.app.cli, posefinder.models.skeleton, posefinder.build, posefinder.resources;"
        "print(posefinder.models.skeleton.__file__)"
    )
    env_path = str(target)
    out = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, cwd=tmp_path,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    where = Path(out.stdout.strip())
    assert (src in where.parents) == editable
    # the console script is installed and runs
    script = target / "bin" / "posefinder"
    assert script.is_file()
    ran = subprocess.run(
        [sys.executable, str(script), "--version"], capture_output=True, text=True, cwd=tmp_path,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    from posefinder import __version__

    assert ran.returncode == 0 and ran.stdout.strip() == f"posefinder {__version__}", ran.stderr


def test_extras_and_scripts_are_declared():
    import tomllib

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert {"train", "test", "ann"} <= set(meta["optional-dependencies"])
    assert meta["scripts"]["posefinder"] == "posefinder.app.cli:main"
