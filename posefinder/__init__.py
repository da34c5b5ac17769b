"""PoseFinder: find reference illustrations by pose.

Subpackages: app (GUI and command line), models (skeleton, descriptor, library, networks, estimators; no Qt),
build (training module), resources (data files).
"""

__version__ = "0.1.0"
