"""Datasets for training: pose (COCO/ADD keypoints), tagger (Danbooru-style folders), segmenter (composites)."""
