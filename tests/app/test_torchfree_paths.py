"""The app's paths import no torch (issue 19 point 1): demo, index, import, search, pose, models and the window.

Each command runs in a fresh interpreter, which then lists the torch modules it loaded: none may be.
In the torch-free environment (tools/torchfree.py) torch is absent, so the same run also proves that
the commands work without it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.torchfree

SCRIPT = r"""
import json, sys
from posefinder.app.cli import main
codes = {}
for argv in json.loads(sys.argv[1]):
    try:
        codes[argv[0]] = main(argv)
    except SystemExit as exc:
        codes[argv[0]] = exc.code
print(json.dumps({"codes": codes, "torch": sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision", "lightning"))}))
"""


def _run(argvs, tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    out = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(argvs)], capture_output=True, text=True,
                         env=env, cwd=str(tmp_path), timeout=240)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_demo_index_import_search_pose_and_models_load_no_torch(tmp_path):
    import numpy as np
    from library_helpers import random_pose, write_pngs

    from posefinder.models.formats import write_poses

    images = tmp_path / "images"
    write_pngs(images, 3)
    pose_file = tmp_path / "query.json"
    write_poses([random_pose(np.random.default_rng(0))], pose_file)
    lib = tmp_path / "lib"
    result = _run(
        [
            ["demo", "--cli", "-n", "12", "-k", "3"],
            ["index", "--library", str(lib), str(images)],
            ["import", "--library", str(lib), str(pose_file)],
            ["search", "--library", str(lib), "--pose", str(pose_file), "-k", "2", "--json"],
            ["models", "list"],
            ["pose", str(next(images.glob("*.png")))],  # no model installed: a clear message, exit 1
        ],
        tmp_path,
    )
    assert result["torch"] == []
    codes = result["codes"]
    assert [codes[c] for c in ("demo", "index", "import", "search", "models")] == [0] * 5, codes
    assert codes["pose"] not in (0, None)


def test_the_window_and_a_screenshot_of_the_demo_load_no_torch(tmp_path):
    shot = tmp_path / "shot.png"
    result = _run([["demo", "-n", "12", "--screenshot", str(shot)]], tmp_path)
    assert result["torch"] == [] and result["codes"]["demo"] == 0
    assert shot.stat().st_size > 1000


def test_the_startup_probe_quits_after_the_first_paint_of_the_window(tmp_path, monkeypatch):
    from posefinder.app.gui import STARTUP_PROBE_ENV, STARTUP_PROBE_LINE

    monkeypatch.setenv(STARTUP_PROBE_ENV, "1")
    script = SCRIPT.replace("for argv in json.loads(sys.argv[1]):", "for argv in [[]]:").replace("argv[0]", "'gui'")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=str(tmp_path),
                         env=dict(os.environ, QT_QPA_PLATFORM="offscreen"), timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert lines[0] == STARTUP_PROBE_LINE
    assert json.loads(lines[-1]) == {"codes": {"gui": 0}, "torch": []}
