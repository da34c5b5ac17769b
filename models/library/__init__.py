"""The pose library: a folder with library.sqlite (truth), descriptors.npy (derived cache) and thumbs/.

Modules: library (the Library class), database (schema, versions, rows), cache (descriptors.npy),
live (the cache plus what changed since), cache_keeper (keeps it up to date, merges in the background),
search (exact k-NN: index, plan, scan, pruning), ann (approximate index past a few million entries),
importer (pose files), indexer (image folders), thumbs (thumbnails and content hashes), lock (one writer at
a time), records (results and reports).
"""

from posefinder.models.descriptor import Query
from posefinder.models.library.library import ANN_THRESHOLD, Library
from posefinder.models.library.records import (
    Correction,
    ImageInfo,
    ImportReport,
    IndexReport,
    LibraryCounts,
    SearchResult,
)

__all__ = [
    "ANN_THRESHOLD",
    "Correction",
    "ImageInfo",
    "ImportReport",
    "IndexReport",
    "Library",
    "LibraryCounts",
    "Query",
    "SearchResult",
]
