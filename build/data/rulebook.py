"""The tag rulebook: the tagger's classes, each the union of raw Danbooru tags (paper sections 3.2 and 4.2).

The paper replaces the several thousand most frequent Danbooru tags by 1062 classes "derived from
manually-selected union rules over 2027 raw tags" (314 body-part, 545 clothing, 203 miscellaneous): a
class is positive for an image when any of its raw tags is. A rulebook file is JSON:

    {"format": "posefinder-rulebook", "version": 1,
     "name": "...", "description": "...",
     "classes": {
        "blue_hair":    {"group": "body", "tags": ["blue_hair", "aqua_hair", "light_blue_hair"]},
        "hand_in_hair": ["hand_in_hair", "adjusting_hair", "hair_tucking"],
        ...}}

A class is either a list of raw tags or an object with "tags" and an optional "group" (one of GROUPS,
the paper's three kinds; "misc" when absent) and "description". Tags are Danbooru's canonical form
(lower case, words joined by "_"); the loader normalises case and spaces. Class order is the file's order
and is the order of the tagger's outputs. A raw tag may feed several classes. The starter rulebook ships
as posefinder.resources/rulebook.json (load_rulebook() with no path).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from posefinder.models.errors import PoseFinderError

FORMAT = "posefinder-rulebook"
VERSION = 1

#: Kinds of classes (paper section 4.2: body-part, clothing and miscellaneous classes).
GROUPS: tuple[str, ...] = ("body", "clothing", "misc")

#: The starter rulebook's resource name in posefinder.resources.
STARTER_RESOURCE = "rulebook.json"

_TAG_RE = re.compile(r"^[^\s,]+$")


class RulebookError(PoseFinderError):
    """A rulebook file that cannot be read or breaks the format."""


def normalize_tag(tag: str) -> str:
    """Danbooru's canonical form: stripped, lower case, inner spaces as underscores ("Long Hair" -> long_hair)."""
    return "_".join(str(tag).strip().lower().split())


@dataclass(frozen=True)
class TagClass:
    """One class of the rulebook: its name, kind (GROUPS) and the raw tags whose union it is."""

    name: str
    tags: tuple[str, ...]
    group: str = "misc"
    description: str = ""


@dataclass
class Rulebook:
    """The classes in output order; encode(tags) gives an image's multi-hot label vector."""

    classes: tuple[TagClass, ...]
    name: str = ""
    description: str = ""
    version: int = VERSION
    _index: dict[str, tuple[int, ...]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        index: dict[str, list[int]] = {}
        for i, cls in enumerate(self.classes):
            for tag in cls.tags:
                index.setdefault(tag, []).append(i)
        self._index = {tag: tuple(ids) for tag, ids in index.items()}

    def __len__(self) -> int:
        return len(self.classes)

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    @property
    def raw_tags(self) -> set[str]:
        """Every raw tag that some class uses."""
        return set(self._index)

    def group_counts(self) -> dict[str, int]:
        return {g: sum(c.group == g for c in self.classes) for g in GROUPS}

    def class_indices(self, tags: Iterable[str]) -> list[int]:
        """Sorted indices of the classes that the raw tags make positive (tags are normalised)."""
        hits: set[int] = set()
        for tag in tags:
            hits.update(self._index.get(normalize_tag(tag), ()))
        return sorted(hits)

    def encode(self, tags: Iterable[str]) -> np.ndarray:
        """(C,) float32 multi-hot labels: class i is 1 when any of its raw tags is among `tags`."""
        labels = np.zeros(len(self.classes), dtype=np.float32)
        labels[self.class_indices(tags)] = 1.0
        return labels

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": self.version,
            "name": self.name,
            "description": self.description,
            "classes": {
                c.name: {"group": c.group, "tags": list(c.tags), **({"description": c.description} if c.description else {})}
                for c in self.classes
            },
        }

    @classmethod
    def from_dict(cls, obj: Any, source: str = "rulebook") -> "Rulebook":
        """Validate decoded JSON; RulebookError naming the first problem and where it is."""
        if not isinstance(obj, dict):
            raise RulebookError(f"{source}: a rulebook is a JSON object with \"format\": \"{FORMAT}\"")
        if obj.get("format") != FORMAT:
            raise RulebookError(f"{source}: not a PoseFinder rulebook (needs \"format\": \"{FORMAT}\")")
        version = obj.get("version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise RulebookError(f"{source}: \"version\" must be a whole number (this PoseFinder writes {VERSION})")
        if version > VERSION:
            raise RulebookError(
                f"{source}: rulebook version {version} is newer than this PoseFinder reads ({VERSION}); update PoseFinder"
            )
        raw_classes = obj.get("classes")
        if not isinstance(raw_classes, Mapping) or not raw_classes:
            raise RulebookError(f"{source}: \"classes\" must be a non-empty object of class name -> raw tags")
        classes = [_parse_class(name, spec, source) for name, spec in raw_classes.items()]
        names = [c.name for c in classes]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise RulebookError(f"{source}: class {dup!r} is defined twice (after normalising its name)")
        for key in ("name", "description"):
            if not isinstance(obj.get(key, ""), str):
                raise RulebookError(f"{source}: \"{key}\" must be a string")
        return cls(tuple(classes), name=obj.get("name", ""), description=obj.get("description", ""), version=version)


def _parse_class(name: Any, spec: Any, source: str) -> TagClass:
    where = f"{source}: class {name!r}"
    if not isinstance(name, str) or not normalize_tag(name):
        raise RulebookError(f"{source}: class names must be non-empty strings, got {name!r}")
    group, description = "misc", ""
    if isinstance(spec, Mapping):
        unknown = set(spec) - {"tags", "group", "description"}
        if unknown:
            raise RulebookError(f"{where}: unknown key {sorted(unknown)[0]!r} (use tags, group, description)")
        group = spec.get("group", "misc")
        description = spec.get("description", "")
        if group not in GROUPS:
            raise RulebookError(f"{where}: group {group!r} is not one of {', '.join(GROUPS)}")
        if not isinstance(description, str):
            raise RulebookError(f"{where}: description must be a string")
        spec = spec.get("tags")
    if not isinstance(spec, list) or not spec:
        raise RulebookError(f"{where}: needs a non-empty list of raw tags")
    tags: list[str] = []
    for tag in spec:
        if not isinstance(tag, str) or not normalize_tag(tag):
            raise RulebookError(f"{where}: raw tags must be non-empty strings, got {tag!r}")
        norm = normalize_tag(tag)
        if not _TAG_RE.match(norm):
            raise RulebookError(f"{where}: raw tag {tag!r} contains a comma")
        if norm in tags:
            raise RulebookError(f"{where}: raw tag {norm!r} is listed twice")
        tags.append(norm)
    return TagClass(normalize_tag(name), tuple(tags), group, description)


def load_rulebook(path: str | Path | None = None) -> Rulebook:
    """The rulebook in a JSON file, or the starter rulebook shipped in posefinder.resources when path is None."""
    if path is None:
        source = f"posefinder.resources/{STARTER_RESOURCE}"
        text = resources.files("posefinder.resources").joinpath(STARTER_RESOURCE).read_text(encoding="utf-8")
    else:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise RulebookError(f"{source}: no such rulebook file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise RulebookError(f"{source}: cannot read the rulebook ({exc})") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RulebookError(f"{source}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    return Rulebook.from_dict(obj, source)


def save_rulebook(rulebook: Rulebook, path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(rulebook.to_dict(), indent=1) + "\n", encoding="utf-8")
    return path
