"""Maps the four rooms (app/, models/, build/, resources/) onto the one import package `posefinder`.

Everything else about the project is in pyproject.toml; this file only lists the packages, because
setuptools' automatic discovery cannot rename folders.
"""

from setuptools import find_packages, setup

ROOMS = ("app", "models", "build", "resources")

packages = ["posefinder"]
package_dir = {"posefinder": "posefinder"}
for room in ROOMS:
    package_dir[f"posefinder.{room}"] = room
    packages += [f"posefinder.{p}" for p in find_packages(where=".", include=[room, f"{room}.*"])]

setup(packages=packages, package_dir=package_dir)
