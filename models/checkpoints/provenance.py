"""What an imported model's card says about where it came from (kept apart from metrics we measured)."""

from __future__ import annotations

RELEASE = {
    "authors": "Shuhong Chen and Matthias Zwicker",
    "paper": "Transfer Learning for Pose Estimation of Illustrated Characters (WACV 2022)",
    "repository": "https://github.com/ShuhongChen/bizarre-pose-estimator",
    "archive": "bizarre_pose_models.zip",
}

LICENCE = {
    "code": "the authors' repository is AGPL-3.0; PoseFinder copies none of it (converter written from facts)",
    "weights": "no separate licence stated by the authors; PoseFinder ships no converted weights",
}

#: Table 1 of the paper (ground-truth boxes), as reported by the authors, by released file stem.
REPORTED = {
    "feat_match+data": {"oks50": 0.8953, "oks75": 0.7907, "pckh50": 0.7851, "pdj20": 0.8423, "pcpm50": 0.8599,
                        "params": "9.9M", "ms_per_image": 147.8, "row": "Feature Matching (+new data)"},
    "feat_match": {"oks50": 0.8769, "oks75": 0.7680, "pckh50": 0.7675, "pdj20": 0.8251, "pcpm50": 0.8343,
                   "params": "9.9M", "ms_per_image": 147.8, "row": "Feature Matching"},
    "feat_concat+data": {"oks50": 0.8982, "oks75": 0.7930, "pckh50": 0.7866, "pdj20": 0.8403, "pcpm50": 0.8551,
                         "params": "86.8M", "ms_per_image": 217.7, "row": "Feature Concatenation (+new data)"},
    "feat_concat": {"oks50": 0.8827, "oks75": 0.7723, "pckh50": 0.7762, "pdj20": 0.8282, "pcpm50": 0.8435,
                    "params": "86.8M", "ms_per_image": 217.7, "row": "Feature Concatenation"},
}  # fmt: skip

TRAINING_DATA = {
    "chen2022": "the authors' Bizarre Pose and AnimeDrawingsDataset annotations (paper section 4)",
    "chen2022-data": "as chen2022, plus the authors' new data (Table 1's +new data)",
}
