"""One atomic-write helper (models/atomic.py) for every file PoseFinder writes in place."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from posefinder.models import atomic

PACKAGE = Path(__file__).resolve().parents[2]


def test_write_text_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "card.json"
    target.write_text("old")
    atomic.write_text(target, "new ü")
    assert target.read_text(encoding="utf-8") == "new ü"
    assert [p.name for p in tmp_path.iterdir()] == ["card.json"]
    atomic.write_bytes(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"


def test_an_error_while_writing_keeps_the_old_file(tmp_path):
    target = tmp_path / "descriptors.npy"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic.atomic_open(target, "wb") as f:
        f.write(b"half")
        raise RuntimeError("disk full")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["descriptors.npy"]


def test_atomic_path_keeps_the_suffix_and_marks_the_temporary(tmp_path):
    target = tmp_path / "figure.png"
    with atomic.atomic_path(target, durable=False) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".png" and atomic.is_temporary(tmp)
        assert not atomic.is_temporary(target)
        np.save(tmp.with_suffix(".npy"), np.zeros(1))  # a writer may add files of its own; only tmp is moved
        tmp.write_bytes(b"png")
    assert target.read_bytes() == b"png"
    assert atomic.temporary_name(target) != atomic.temporary_name(target)  # concurrent writers never share one


def test_atomic_open_refuses_appending(tmp_path):
    with pytest.raises(ValueError, match="whole files"), atomic.atomic_open(tmp_path / "x", "ab"):
        pass


def test_no_other_module_renames_files_into_place():
    """Every in-place write goes through models/atomic.py: no module of the package calls os.replace or
    os.rename, or Path.replace/rename on a path (str.replace with string arguments is fine)."""
    offenders = []
    for room in ("app", "models", "build"):
        for path in sorted((PACKAGE / room).rglob("*.py")):
            if path == PACKAGE / "models" / "atomic.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                    continue
                if node.func.attr not in ("replace", "rename"):
                    continue
                owner = node.func.value.id if isinstance(node.func.value, ast.Name) else ""
                # Path.replace(target) / Path.rename(target): one positional argument, not a string, no
                # keywords (str.replace takes two; dataclasses.replace and datetime.replace take keywords)
                path_like = len(node.args) == 1 and not node.keywords and not isinstance(node.args[0], ast.Constant)
                if owner == "os" or (path_like and owner != "dataclasses"):
                    offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not offenders, "write through posefinder.models.atomic instead:\n" + "\n".join(offenders)
