"""Approximate nearest neighbours for libraries past a few million entries: faiss IVF + exact re-rank.

The [ann] extra (faiss-cpu). An inverted-file index (IndexIVFFlat, nlist ~ 4 sqrt(N) k-means cells over
the stored descriptors) proposes candidates by scanning the `nprobe` cells nearest the query (for mirror
search, the mirrored query's too); the library's exact distance then re-ranks them, so the distances
returned are exact and only the candidate set is approximate. Used for queries that compare all of the
query pose's joints when the library holds more than Library.ann_threshold entries; partial queries, and
searches with filters, run the exact scan. The index lives in `descriptors.ann` (+ `.json`), built by
`build_ann(lib)` (which `posefinder index` calls past the threshold) and used only while it matches the
library's generation.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from posefinder.models.descriptor import Query
from posefinder.models.library.search import DescriptorIndex, KnnResult, _prepare_sides, candidate_count, rerank

ANN_FILE = "descriptors.ann"
ANN_META = "descriptors.ann.json"
DEFAULT_NPROBE = 48


def available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


class IvfIndex:
    """faiss IVF-Flat over a DescriptorIndex's rows (faiss ids = row numbers)."""

    def __init__(self, faiss_index, generation: int, nprobe: int = DEFAULT_NPROBE):
        self.faiss_index = faiss_index
        self.generation = generation
        self.nprobe = nprobe

    @classmethod
    def build(cls, index: DescriptorIndex, nlist: int | None = None, train_size: int | None = None, seed: int = 0):
        import faiss

        x = np.ascontiguousarray(index.descriptors, dtype=np.float32)
        n, d = x.shape
        nlist = nlist or max(1, min(int(4 * math.sqrt(n)), n // 39))
        quantizer = faiss.IndexFlatL2(d)
        ivf = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_L2)
        rng = np.random.default_rng(seed)
        m = min(n, train_size or max(40 * nlist, 10_000))
        sample = x[np.sort(rng.choice(n, size=m, replace=False))] if m < n else x
        ivf.cp.seed = seed
        ivf.train(sample)
        ivf.add(x)
        return cls(ivf, index.generation)

    def candidates(self, index: DescriptorIndex, query: Query, n_cand: int) -> np.ndarray:
        """Row numbers proposed for the query (and its mirror image), unique."""
        self.faiss_index.nprobe = self.nprobe
        sides = _prepare_sides(query)
        q = np.stack([s.q for s in sides]).astype(np.float32)
        _, ids = self.faiss_index.search(q, n_cand)
        ids = ids.ravel()
        return np.unique(ids[ids >= 0])

    def knn(self, index: DescriptorIndex, query: Query, k: int) -> KnnResult:
        cand = self.candidates(index, query, candidate_count(k))
        return rerank(index, query, cand, k)

    def save(self, folder: Path) -> None:
        import faiss

        folder = Path(folder)
        tmp = folder / f".{ANN_FILE}.tmp"
        faiss.write_index(self.faiss_index, str(tmp))
        os.replace(tmp, folder / ANN_FILE)
        meta_tmp = folder / f".{ANN_META}.tmp"
        meta_tmp.write_text(json.dumps({"generation": self.generation, "nprobe": self.nprobe}))
        os.replace(meta_tmp, folder / ANN_META)

    @classmethod
    def load(cls, folder: Path, generation: int) -> "IvfIndex | None":
        folder = Path(folder)
        try:
            meta = json.loads((folder / ANN_META).read_text())
            if int(meta["generation"]) != int(generation):
                return None
            import faiss

            return cls(faiss.read_index(str(folder / ANN_FILE)), generation, int(meta.get("nprobe", DEFAULT_NPROBE)))
        except (OSError, ValueError, KeyError, ImportError, RuntimeError):
            return None


def _covers_pose(query: Query) -> bool:
    return query.joints is None or bool(np.all(query.joints[query.pose.present]))


def search_if_available(lib, index: DescriptorIndex, query: Query, k: int) -> KnnResult | None:
    """The approximate search when it applies (full query, fresh index, faiss installed); else None."""
    if not _covers_pose(query) or not available():
        return None
    ann = getattr(lib, "_ann", None)
    if ann is None or ann.generation != index.generation:
        ann = IvfIndex.load(lib.path, index.generation)
        if ann is None:
            return None
        lib._ann = ann
    return ann.knn(index, query, k)


def build_ann(lib) -> IvfIndex:
    """Build and save the approximate index of a library at its current generation."""
    index = lib.descriptor_index()
    ann = IvfIndex.build(index)
    ann.save(lib.path)
    lib._ann = ann
    return ann
