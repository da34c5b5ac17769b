"""Training data: pose crops with heatmap targets (pose.py); the tagger's Danbooru folders (danbooru.py) and
the segmenter's composites (segmentation.py) are tagseg's."""
