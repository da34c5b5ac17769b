"""The rooms stay apart (DESIGN.md: app -> models <- build): models/ imports neither Qt, nor app, nor build.

Checked on the source (every import statement, including the lazy ones inside functions, and every
importlib.import_module of a literal name) and at run time (importing every module of posefinder.models
loads none of them).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

MODELS = Path(__file__).resolve().parents[2] / "models"
#: Names models/ never imports: the Qt bindings and the two rooms that depend on it.
FORBIDDEN = ("PySide6", "shiboken6", "PyQt5", "PyQt6", "posefinder.app", "posefinder.build")


def forbidden_imports(source: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """(line, module) of every import of a FORBIDDEN module in source (relative imports resolved as the
    package posefinder.models would resolve them, so `from ... import app` counts)."""
    path = Path(filename)
    package = ".".join(("posefinder", "models", *(path.relative_to(MODELS).parent.parts if MODELS in path.parents else ())))
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module", "__import__"
        ) and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):  # fmt: skip
            names = [node.args[0].value]
        for name in names:
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN):
                found.append((getattr(node, "lineno", 0), name))
    return found


def test_no_module_of_models_imports_qt_app_or_build():
    offenders = [
        f"{path.relative_to(MODELS.parent)}:{line}: imports {name}"
        for path in sorted(MODELS.rglob("*.py"))
        for line, name in forbidden_imports(path.read_text(encoding="utf-8"), str(path))
    ]
    assert not offenders, "models/ must not import Qt, app or build (DESIGN.md):\n" + "\n".join(offenders)


@pytest.mark.parametrize(
    "source",
    [
        "from PySide6.QtCore import QObject",
        "def f():\n    import PySide6.QtWidgets",
        "from posefinder.app.gui import theme",
        "import posefinder.build.trainer as tr",
        "from posefinder import build",
        "from ... import app",
        "import importlib\nimportlib.import_module('posefinder.build.synthetic')",
    ],
)
def test_the_check_sees_each_way_of_importing(source):
    assert forbidden_imports(source, str(MODELS / "library" / "x.py"))


def test_the_check_lets_models_own_imports_through():
    source = "from posefinder.models import skeleton\nfrom . import cache\nimport numpy\nfrom .. import paths"
    assert forbidden_imports(source, str(MODELS / "library" / "x.py")) == []


@pytest.mark.slow
def test_importing_all_of_models_loads_no_qt_app_or_build():
    code = (
        "import importlib, pkgutil, sys, posefinder.models as m\n"
        "for info in pkgutil.walk_packages(m.__path__, 'posefinder.models.'):\n"
        "    importlib.import_module(info.name)\n"
        f"print(sorted(k for k in sys.modules if k.startswith({FORBIDDEN!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
