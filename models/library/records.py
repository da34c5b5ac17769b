"""The records the library hands out: search results, counts, image facts, import and index reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from posefinder.models.pose import Pose


@dataclass
class SearchResult:
    pose_id: int
    image_id: int
    image: str  # the image's name as stored: the file's path for indexed images, the pose file's name for imports
    path: Path | None  # the linked image file, None for a pose imported without its image
    distance: float
    mirrored: bool  # the query's mirror image matched (left and right swapped)
    pose: Pose


@dataclass(frozen=True)
class LibraryCounts:
    images: int  # images recorded (bad ones excluded)
    poses: int
    images_without_character: int  # estimated, no character found
    images_not_estimated: int  # recorded while no pose model was available
    images_bad: int = 0  # could not be read; skipped until they change


@dataclass(frozen=True)
class ImageInfo:
    id: int
    name: str
    path: Path | None
    folder: Path | None
    origin: str  # "index" or "import"
    status: str  # "estimated", "imported", "pending" or "bad"
    error: str | None
    width: int | None
    height: int | None
    content_hash: str | None


@dataclass
class ImportReport:
    added: int = 0  # new poses
    updated: int = 0  # poses re-imported with new keypoints
    unchanged: int = 0  # poses already in the library as they are
    kept_hand_edited: int = 0  # re-imported poses that were edited by hand: kept as edited
    removed: int = 0  # poses of a re-imported image that the file no longer has (same source)
    images_linked: int = 0  # images found in images_dir (thumbnail made)
    images_missing: int = 0  # images not found in images_dir (the poses are still searchable)
    problems: list[str] = field(default_factory=list)  # one line each (unreadable images)

    def summary(self) -> str:
        parts = [f"{self.added} poses added", f"{self.updated} updated", f"{self.unchanged} unchanged"]
        if self.removed:
            parts.append(f"{self.removed} removed")
        if self.kept_hand_edited:
            parts.append(f"{self.kept_hand_edited} hand-edited kept")
        if self.images_linked or self.images_missing:
            parts.append(f"{self.images_linked} images linked, {self.images_missing} not found")
        return ", ".join(parts)


@dataclass
class IndexReport:
    scanned: int = 0  # image files found in the folders
    unchanged: int = 0  # skipped: same path, size and modification time
    added: int = 0  # new images recorded
    changed: int = 0  # images whose content changed (re-estimated unless hand-edited)
    moved: int = 0  # recognised by content hash at a new path (poses kept)
    removed: int = 0  # pruned: their file is gone
    estimated: int = 0  # images run through the estimator
    poses: int = 0  # poses stored by this run
    not_estimated: int = 0  # recorded without poses because no pose model is available
    bad: list[str] = field(default_factory=list)  # "path: reason" of images that could not be read
    missing_folders: list[str] = field(default_factory=list)  # folders not found (nothing pruned there)
    model_message: str | None = None  # why no pose model ran, when none did
    cancelled: bool = False
    skipped: list[str] = field(default_factory=list)  # "path: reason" of entries that are not regular files
    unavailable: dict[str, int] = field(default_factory=dict)  # type -> files its missing plugin leaves unread
    tagged: int = 0  # images run through the tagger
    tagger: str | None = None  # name@version of the tagger that ran
    tag_message: str | None = None  # why no tagger ran, when none did

    def unavailable_line(self) -> str | None:
        """One line for every file left unread for want of the extra [formats], or None."""
        if not self.unavailable:
            return None
        from posefinder.models.imageio.plugins import INSTALL_HINT

        kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.unavailable.items()))
        total = sum(self.unavailable.values())
        return f"{total} files not read ({kinds}): they need the optional formats support; {INSTALL_HINT}"

    def summary(self) -> str:
        parts = [
            f"{self.scanned} images found",
            f"{self.added} new",
            f"{self.changed} changed",
            f"{self.moved} moved",
            f"{self.removed} removed",
            f"{self.unchanged} unchanged",
            f"{self.poses} poses stored",
        ]
        if self.not_estimated:
            parts.append(f"{self.not_estimated} waiting for a pose model")
        if self.tagged:
            parts.append(f"{self.tagged} tagged")
        if self.bad:
            parts.append(f"{len(self.bad)} unreadable")
        if self.skipped:
            parts.append(f"{len(self.skipped)} not regular files")
        if self.unavailable:
            parts.append(f"{sum(self.unavailable.values())} need the formats extra")
        return ", ".join(parts) + (" (cancelled)" if self.cancelled else "")


@dataclass(frozen=True)
class Correction:
    """A pose corrected (or drawn) by hand on a library image: a labelled example of the artist's own art."""

    pose_id: int
    image_id: int
    path: Path | None  # the image file; None when the pose was imported without its image
    content_hash: str | None  # the image's content hash (keys the held-out split by image)
    pose: Pose

    @property
    def image_key(self) -> str:
        """What identifies the image across moves: its content hash, else its path, else its id."""
        return self.content_hash or (str(self.path) if self.path else f"image:{self.image_id}")
