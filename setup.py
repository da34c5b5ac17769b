"""Maps the four rooms (app/, models/, build/, resources/) onto the one import package `posefinder`.

Everything else about the project is in pyproject.toml; this file only lists the packages, because
setuptools' automatic discovery cannot rename folders, and keeps setuptools' work files in .pybuild/
(`build` and `egg_info` would otherwise write into build/, the training module's sources; pyproject.toml's
[tool.distutils] table could say the same, but setuptools warns that it is experimental).
"""

from setuptools import find_namespace_packages, setup

ROOMS = ("app", "models", "build", "resources")

packages = ["posefinder"]
package_dir = {"posefinder": "posefinder"}
for room in ROOMS:
    package_dir[f"posefinder.{room}"] = room
    # namespace discovery: data folders without an __init__.py (resources/icons, resources/onnx) are packages
    # too, as setuptools counts them when it copies package data (it warns about any left out)
    found = find_namespace_packages(where=".", include=[room, f"{room}.*"], exclude=["*.__pycache__"])
    packages += [f"posefinder.{p}" for p in found]

WORK_DIR = ".pybuild"  # exists in every checkout (.pybuild/.gitkeep)

setup(
    packages=packages,
    package_dir=package_dir,
    options={"build": {"build_base": WORK_DIR}, "egg_info": {"egg_base": WORK_DIR}},
)
