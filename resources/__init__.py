"""posefinder.resources: data files (tag rulebook, icons, default settings) read through importlib.resources."""
