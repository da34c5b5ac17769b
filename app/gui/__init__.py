"""The desktop app's Qt widgets (PySide6)."""
