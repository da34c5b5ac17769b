"""posefinder.build: the training module: synthetic figures, datasets, augmentation, losses, trainers,
evaluation and batch indexing. Training needs the [train] extra."""
