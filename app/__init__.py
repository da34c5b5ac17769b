"""posefinder.app: what a user touches: the Qt desktop app and the `posefinder` command line."""
