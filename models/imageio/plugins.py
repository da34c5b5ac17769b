"""Pillow plugins of the optional extra [formats]: HEIC/HEIF (pillow-heif) and JPEG XL (pillow-jxl-plugin).

AVIF is read by Pillow itself where its wheel carries libavif (Pillow 11.2 and later). A file of a type
whose plugin is missing raises FormatUnavailable, which the indexer counts into one summary line instead
of recording it as broken: it becomes readable, unchanged, once the extra is installed.
"""

from __future__ import annotations

from posefinder.models.errors import ImageError

EXTRA = "formats"
INSTALL_HINT = f"pip install 'posefinder[{EXTRA}]'"

#: File name endings each plugin-read type uses, by the type's name.
PLUGIN_SUFFIXES = {
    "HEIC": frozenset({".heic", ".heif", ".hif", ".heics", ".heifs"}),
    "JPEG XL": frozenset({".jxl"}),
    "AVIF": frozenset({".avif", ".avifs"}),
}

_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}
_state: dict[str, bool] | None = None


class FormatUnavailable(ImageError):
    """An image of a type this installation cannot read until the extra [formats] is installed."""

    def __init__(self, name: str, kind: str):
        super().__init__(f"{name}: {kind} needs the optional formats support ({INSTALL_HINT})")
        self.name, self.kind = name, kind

    def __reduce__(self):  # crosses DataLoader worker processes whole
        return (type(self), (self.name, self.kind))


def register() -> dict[str, bool]:
    """Register the installed plugins with Pillow (once); {type name: readable}."""
    global _state
    if _state is None:
        state = {}
        try:
            import pillow_heif

            pillow_heif.register_heif_opener()
            state["HEIC"] = True
        except ImportError:
            state["HEIC"] = False
        try:
            import pillow_jxl  # noqa: F401  (registers the JXL plugin on import)

            state["JPEG XL"] = True
        except ImportError:
            state["JPEG XL"] = False
        from PIL import features

        state["AVIF"] = bool(features.check("avif"))
        _state = state
    return _state


def sniff(header: bytes) -> str | None:
    """The plugin-read type a file's first bytes announce ("HEIC", "AVIF", "JPEG XL"), or None."""
    if header[4:8] == b"ftyp":
        brand = header[8:12]
        if brand in _AVIF_BRANDS:
            return "AVIF"
        if brand in _HEIF_BRANDS:
            return "HEIC"
    if header.startswith(b"\xff\x0a") or header.startswith(b"\x00\x00\x00\x0cJXL \r\n\x87\n"):
        return "JPEG XL"
    return None


def readable_suffixes() -> frozenset[str]:
    """The endings of the plugin-read types this installation reads."""
    state = register()
    return frozenset().union(*(s for kind, s in PLUGIN_SUFFIXES.items() if state.get(kind)))


def all_suffixes() -> frozenset[str]:
    return frozenset().union(*PLUGIN_SUFFIXES.values())


def unavailable(header: bytes, name: str) -> FormatUnavailable | None:
    """FormatUnavailable when the header announces a plugin-read type whose plugin is not installed."""
    kind = sniff(header)
    if kind is not None and not register().get(kind):
        return FormatUnavailable(name, kind)
    return None
