"""The torch-free environment: PoseFinder as an artist installs it (`pip install posefinder`, no torch).

    python tools/torchfree.py test [PYTEST ARGS]   set up (once), then run the tests marked `torchfree`
    python tools/torchfree.py path                 set up (once), then print the environment's folder
    python tools/torchfree.py run CMD...           set up (once), then run CMD with the environment first on PATH

The environment is a venv with the package's own dependencies, the [formats] extra (PSD, HEIC, JPEG XL)
and the [test] extra (pytest, pytest-qt), never torch: it proves that the app, its command line and auto-pose need none. It is kept under the user's
cache folder (`$XDG_CACHE_HOME/posefinder/venv-torchfree-KEY`, or $POSEFINDER_TORCHFREE_VENV), keyed by a
hash of pyproject.toml and setup.py, and rebuilt when they change or when it is broken; a clone elsewhere
reuses it (the editable install is pointed at the current checkout). Written with the venv module only,
so it runs the same on Windows, macOS and Linux.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAMP = ".posefinder-deps"
ROOT_STAMP = ".posefinder-root"


def deps_key(root: Path = ROOT) -> str:
    """16 hex digits of the dependency files' hash (what a rebuild depends on)."""
    h = hashlib.sha256(b"torchfree\0")
    for name in ("pyproject.toml", "setup.py"):
        h.update((root / name).read_bytes())
    return h.hexdigest()[:16]


def cache_home() -> Path:
    if os.name == "nt":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def venv_dir(root: Path = ROOT) -> Path:
    given = os.environ.get("POSEFINDER_TORCHFREE_VENV")
    return Path(given) if given else cache_home() / "posefinder" / f"venv-torchfree-{deps_key(root)}"


def bin_dir(env: Path) -> Path:
    return env / ("Scripts" if os.name == "nt" else "bin")


def env_python(env: Path) -> Path:
    return bin_dir(env) / ("python.exe" if os.name == "nt" else "python")


def _read(path: Path) -> str:
    return path.read_text().strip() if path.is_file() else ""


def _healthy(env: Path, key: str) -> bool:
    py = env_python(env)
    if not py.is_file() or _read(env / STAMP) != key:
        return False
    # Broken or polluted: the package must import, and torch must not.
    probe = "import importlib.util, posefinder.app.cli; raise SystemExit(importlib.util.find_spec('torch') is not None)"
    return subprocess.run([str(py), "-c", probe], cwd=str(env), capture_output=True).returncode == 0


def ensure(root: Path = ROOT, log=lambda line: print(line, file=sys.stderr)) -> Path:
    """The torch-free environment for this checkout, built or re-pointed as needed; its folder."""
    env, key = venv_dir(root), deps_key(root)
    py = env_python(env)
    if not _healthy(env, key):
        log(f"Setting up the torch-free environment in {env} (the first time takes a minute or two) ...")
        shutil.rmtree(env, ignore_errors=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(env)
        pip = [str(py), "-m", "pip", "install", "--quiet"]
        subprocess.run(pip + ["--upgrade", "pip", "setuptools>=68", "wheel"], check=True)
        subprocess.run(pip + ["-e", f"{root}[test,formats]"], check=True)
        (env / STAMP).write_text(key + "\n")
        (env / ROOT_STAMP).write_text(str(root) + "\n")
        if not _healthy(env, key):
            raise SystemExit(f"the torch-free environment in {env} is broken after set-up (torch crept in?)")
    elif _read(env / ROOT_STAMP) != str(root):
        # Reused from another checkout: point the editable install at this one.
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "-e", str(root)],
                       check=True)  # fmt: skip
        (env / ROOT_STAMP).write_text(str(root) + "\n")
    return env


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    job = args.pop(0) if args else "test"
    if job not in ("test", "path", "run") or (job == "run" and not args):
        print("usage: python tools/torchfree.py test [PYTEST ARGS] | path | run CMD...", file=sys.stderr)
        return 2
    env = ensure()
    if job == "path":
        print(env)
        return 0
    environ = dict(os.environ, PATH=str(bin_dir(env)) + os.pathsep + os.environ.get("PATH", ""))
    environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if job == "test":
        cmd = [str(env_python(env)), "-m", "pytest", "-m", "torchfree", "-p", "no:cacheprovider", *args]
    else:
        cmd = args
    return subprocess.run(cmd, cwd=str(ROOT), env=environ).returncode


if __name__ == "__main__":
    raise SystemExit(main())
