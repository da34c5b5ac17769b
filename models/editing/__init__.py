"""posefinder.models.editing: pose editing without Qt, shared by the canvas, the CLI and the benchmarks.

Modules: pose_state (the canvas's immutable skeleton state: drag, toggle, mirror, placing absent joints),
presets (the standing pose and the poses artists start from), export (writing an edited pose to
PoseFinder, OpenPose, COCO JSON or a ControlNet PNG), correction (mapping a stored library pose onto its
image's real pixels and back, exactly).
"""
