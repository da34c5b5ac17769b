"""Sets up PoseFinder's development environment (once; reused while the dependencies are unchanged) and runs
one job in it. Python and its venv module only, so the same lines work in PowerShell, cmd, macOS Terminal
and Linux shells (`python3` or `py` where `python` is not on the PATH):

    python tools/dev.py demo         set up, then open the app on the demo library (built on first use)
    python tools/dev.py test [ARGS]  set up, then run the test suite (ARGS go to pytest)
    python tools/dev.py run CMD...   set up, then run CMD with the environment's scripts first on the PATH
    python tools/dev.py setup        set up only

The environment lives in .venv/ (git-ignored), or where POSEFINDER_VENV points (CI keeps one in its cache).
It is made again only when what decides it changes: the Python version, the build requirements, and
pyproject.toml's dependencies and extras (not its tool settings, pytest markers included). The checkout is
installed editable, and a link tree in the environment (posefinder/app -> app/, models -> models/, ...;
symlinks, or junctions on Windows) on its site path lets static tools (pyright, mypy, VS Code) resolve every
posefinder.* import, files added later included. Another checkout that reuses the environment re-links it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The extras a development environment installs (the tests, training, the ANN index, the painting
#: applications' file formats, the linters, Ray for cluster indexing).
EXTRAS = ("test", "train", "ann", "formats", "lint", "cluster")
#: The folders mapped onto posefinder.<room> (setup.py's ROOMS).
ROOMS = ("app", "models", "build", "resources")
LINKS = "posefinder-links"  # the link tree's folder inside the environment
DEPS_STAMP = ".posefinder-deps"  # hash of what decides the environment
ROOT_STAMP = ".posefinder-root"  # the checkout the environment's editable install and link tree point at


def venv_dir(root: Path = ROOT) -> Path:
    return Path(os.environ.get("POSEFINDER_VENV") or root / ".venv")


def scripts_dir(env: Path) -> Path:
    """The environment's executables: Scripts\\ on Windows, bin/ elsewhere."""
    return env / ("Scripts" if os.name == "nt" else "bin")


def venv_python(env: Path) -> Path:
    return scripts_dir(env) / ("python.exe" if os.name == "nt" else "python")


# -- what decides the environment ------------------------------------------------------------------------


def _toml_tables(text: str) -> dict[str, str]:
    """pyproject.toml's tables as text, by header (enough to pick tables without a TOML parser on 3.10)."""
    tables: dict[str, list[str]] = {"": []}
    current = ""
    for line in text.splitlines():
        header = re.match(r"^\s*\[([^\[\]]+)\]\s*(#.*)?$", line)
        if header:
            current = header.group(1).strip()
            tables.setdefault(current, [])
            continue
        if line.strip() and not line.strip().startswith("#"):
            tables[current].append(line.rstrip())
    return {k: "\n".join(v) for k, v in tables.items()}


def environment_key(root: Path = ROOT, extras: tuple[str, ...] = EXTRAS) -> str:
    """A hash of what decides the environment: Python's version, the build requirements, the project's
    requirements, dependencies and the extras installed. Tool settings ([tool.*]), the description and
    the version do not count."""
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    decides: dict[str, object]
    try:
        import tomllib

        data = tomllib.loads(text)
        project = data.get("project", {})
        decides = {
            "build": data.get("build-system", {}).get("requires", []),
            "python": project.get("requires-python", ""),
            "dependencies": project.get("dependencies", []),
            "extras": {e: project.get("optional-dependencies", {}).get(e, []) for e in extras},
        }
    except ImportError:  # Python 3.10: the tables' text (the [project] table whole)
        tables = _toml_tables(text)
        decides = {k: tables.get(k, "") for k in ("build-system", "project", "project.optional-dependencies")}
        decides["extras"] = list(extras)
    decides["interpreter"] = [sys.implementation.name, *sys.version_info[:2]]
    blob = json.dumps(decides, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def checkout_key(root: Path = ROOT) -> str:
    """The checkout and what its editable install records (setup.py's package map, the console scripts)."""
    tables = _toml_tables((root / "pyproject.toml").read_text(encoding="utf-8"))
    blob = "\n".join([str(root), _read(root / "setup.py"), tables.get("project.scripts", "")])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# -- set-up ------------------------------------------------------------------------------------------------


def _say(message: str) -> None:
    print(f"dev.py: {message}", file=sys.stderr, flush=True)


def _pip(env: Path, *args: str) -> None:
    # setuptools warns at every editable install that a folder named like the package (posefinder/, which
    # holds only __init__.py: the rooms are mapped onto it) may shadow it; that is the layout, not news
    quiet = ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"), "ignore:Editable installation"]))
    subprocess.run([str(venv_python(env)), "-m", "pip", "--disable-pip-version-check", *args], check=True,
                   env=dict(os.environ, PYTHONWARNINGS=quiet))  # fmt: skip


def site_packages(env: Path) -> Path:
    out = subprocess.run([str(venv_python(env)), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    return Path(out.stdout.strip())


def _link(target: Path, link: Path) -> None:
    """link -> target: a symlink; on Windows without symlink rights, a junction (folders) or a copy (files)."""
    try:
        link.symlink_to(target, target_is_directory=target.is_dir())
    except OSError:
        if os.name != "nt":
            raise
        if target.is_dir():
            import _winapi

            _winapi.CreateJunction(str(target), str(link))
        else:
            shutil.copy2(target, link)  # made again at every re-link


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        try:
            os.rmdir(path)  # a junction (Windows) is removed like an empty folder, never its target's files
        except OSError:
            shutil.rmtree(path)


def link_tree(env: Path, root: Path = ROOT) -> Path:
    """(Re)make ENV/posefinder-links/posefinder: root/posefinder's files and one link per room, and the .pth
    that puts it on the environment's site path. Returns the package folder of the tree."""
    package = env / LINKS / "posefinder"
    if package.exists():
        for entry in package.iterdir():
            _remove(entry)
    package.mkdir(parents=True, exist_ok=True)
    for entry in sorted((root / "posefinder").iterdir()):
        if entry.is_file():
            _link(entry, package / entry.name)
    for room in ROOMS:
        _link(root / room, package / room)
    (site_packages(env) / f"{LINKS}.pth").write_text(str(env / LINKS) + "\n", encoding="utf-8")
    return package


def ensure_environment(root: Path = ROOT, env: Path | None = None, *, install: bool = True,
                       extras: tuple[str, ...] = EXTRAS) -> Path:  # fmt: skip
    """The environment, made or brought up to date; install=False makes it and links the checkout without
    running pip (what the tests of this script use)."""
    env = env if env is not None else venv_dir(root)
    key = environment_key(root, extras)
    fresh = not venv_python(env).is_file() or _read(env / DEPS_STAMP) != key
    if fresh:
        _say(f"setting up the environment in {env} (the first time takes a few minutes: torch is large)")
        if env.exists():
            if not (env / "pyvenv.cfg").is_file() and any(env.iterdir()):
                raise SystemExit(f"dev.py: {env} is not a virtual environment (no pyvenv.cfg); point "
                                 "POSEFINDER_VENV at a new or empty folder")  # fmt: skip
            shutil.rmtree(env)
        venv.EnvBuilder(with_pip=install, symlinks=os.name != "nt").create(env)
        if install:
            _pip(env, "install", "--quiet", "--upgrade", "pip", "setuptools", "wheel")
            _pip(env, "install", "--quiet", "-e", f"{root}[{','.join(extras)}]")
    linked = checkout_key(root)
    if fresh or _read(env / ROOT_STAMP) != linked:
        if install and not fresh:  # another checkout, or its package map changed: re-point the editable install
            _pip(env, "install", "--quiet", "--no-deps", "--no-build-isolation", "-e", str(root))
        link_tree(env, root)
        (env / ROOT_STAMP).write_text(linked + "\n", encoding="utf-8")
    if fresh:
        (env / DEPS_STAMP).write_text(key + "\n", encoding="utf-8")  # last: an interrupted set-up starts over
    return env


# -- jobs --------------------------------------------------------------------------------------------------


def _environ(env: Path) -> dict[str, str]:
    out = dict(os.environ)
    out["PATH"] = str(scripts_dir(env)) + os.pathsep + out.get("PATH", "")
    out["VIRTUAL_ENV"] = str(env)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/dev.py", description=(__doc__ or "").split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--no-install", action="store_true",
                        help="make the environment and link the checkout without running pip (for tests)")
    parser.add_argument("job", nargs="?", default="demo", choices=("demo", "test", "run", "setup"))
    parser.add_argument("args", nargs=argparse.REMAINDER, help="pytest's arguments (test), the command (run)")
    args = parser.parse_args(argv)
    env = ensure_environment(install=not args.no_install)
    if args.job == "setup":
        return 0
    if args.job == "demo":
        cmd = [str(venv_python(env)), "-m", "posefinder", "demo", *args.args]
    elif args.job == "test":
        cmd = [str(venv_python(env)), "-m", "pytest", *args.args]
    else:
        if not args.args:
            parser.error("run needs a command: python tools/dev.py run CMD [ARGS]")
        cmd = list(args.args)
    try:
        return subprocess.call(cmd, cwd=ROOT, env=_environ(env))
    except FileNotFoundError as exc:
        _say(f"cannot run {cmd[0]}: {exc.strerror}")
        return 127
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
