"""Maps the four rooms (app/, models/, build/, resources/) onto the one import package `posefinder`.

Everything else about the project is in pyproject.toml; this file only lists the packages, because
setuptools' automatic discovery cannot rename folders, and keeps setuptools' work files in .pybuild/
(`build` and `egg_info` would otherwise write into build/, the training module's sources; pyproject.toml's
[tool.distutils] table could say the same, but setuptools warns that it is experimental).
"""

from setuptools import find_packages, setup

ROOMS = ("app", "models", "build", "resources")

packages = ["posefinder"]
package_dir = {"posefinder": "posefinder"}
for room in ROOMS:
    package_dir[f"posefinder.{room}"] = room
    packages += [f"posefinder.{p}" for p in find_packages(where=".", include=[room, f"{room}.*"])]

WORK_DIR = ".pybuild"  # exists in every checkout (.pybuild/.gitkeep)

setup(
    packages=packages,
    package_dir=package_dir,
    options={"build": {"build_base": WORK_DIR}, "egg_info": {"egg_base": WORK_DIR}},
)
