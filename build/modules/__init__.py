"""LightningModules that train the networks of posefinder.models.nets (one file per network family)."""
