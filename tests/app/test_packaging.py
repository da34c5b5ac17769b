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
    cmd = [sys.executable, "-m", "pip", "install", "--verbose", "--no-deps", "--no-build-isolation"]
    cmd += ["--target", str(target)]
    cmd += ["-e", str(src)] if editable else [str(src)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert _tree(src / "build") == before
    # setuptools reads our configuration without deprecation, experimental-feature or package-discovery
    # warnings (a data folder such as resources/icons left out of `packages` "would be ignored")
    said = (proc.stdout + proc.stderr).splitlines()
    flags = ("deprecat", "experimental", "would be ignored", "absent from the `packages`")
    warned = [line for line in said if any(f in line.lower() for f in flags)]
    assert not warned, "\n".join(warned)
    check = (
        "import posefinder.app.cli, posefinder.models.skeleton, posefinder.build, posefinder.resources;"
        "print(posefinder.models.skeleton.__file__)"
    )
    out = _run_installed(target, check, tmp_path)
    assert out.returncode == 0, out.stderr
    where = Path(out.stdout.strip())
    assert (src in where.parents) == editable
    # the console script is installed and runs
    script = target / "bin" / "posefinder"
    assert script.is_file()
    ran = _run_installed(target, f"import runpy; sys.argv = [{str(script)!r}, '--version']; "
                         f"runpy.run_path({str(script)!r}, run_name='__main__')", tmp_path)  # fmt: skip
    from posefinder import __version__

    assert ran.returncode == 0 and ran.stdout.strip() == f"posefinder {__version__}", ran.stderr


def _run_installed(target: Path, code: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run code with the install in target as a site folder (its .pth files processed, so an editable install's
    finder works) and this interpreter's packages behind it, but none of their .pth files: the posefinder
    the code imports is the one in target, never the checkout this interpreter's environment points at."""
    packages = [p for p in sys.path if p and Path(p).name in ("site-packages", "dist-packages")]
    prelude = f"import site, sys; site.addsitedir({str(target)!r}); sys.path += {packages!r}; "
    return subprocess.run([sys.executable, "-S", "-c", prelude + code], capture_output=True, text=True, cwd=cwd,
                          env={"PATH": "/usr/bin:/bin"})  # fmt: skip


def test_extras_and_scripts_are_declared():
    import tomllib

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert {"train", "test", "ann"} <= set(meta["optional-dependencies"])
    assert meta["scripts"]["posefinder"] == "posefinder.app.cli:main"
