"""User-facing errors: each message is one sentence that says what is wrong and what to do."""


class PoseFinderError(Exception):
    """An error caused by the user's input or environment, reported without a traceback."""


class PoseFileError(PoseFinderError):
    """A pose file that cannot be read or is in no known format."""


class ImageError(PoseFinderError):
    """An image that cannot be read: missing, truncated, not an image, or too large."""


class LibraryError(PoseFinderError):
    """A library that cannot be opened or written: missing, locked, corrupt or from a newer version."""


class ModelError(PoseFinderError):
    """A pose model that is unavailable or whose weights do not fit its architecture."""
