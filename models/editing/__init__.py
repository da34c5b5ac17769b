"""posefinder.models.editing: Qt-free pose editing, what the canvas does to a skeleton as plain numpy,
shared by the canvas, the CLI and the benchmarks.

Modules: pose_state (the canvas's immutable skeleton state: drag, toggle, mirror, placing absent joints),
mannequin (posing by rotating limbs about their joints, body types), presets (the standing pose and the
poses artists start from), export (writing an edited pose to PoseFinder, OpenPose, COCO JSON or a ControlNet
PNG), correction (mapping a stored library pose onto its image's real pixels and back, exactly).
"""
