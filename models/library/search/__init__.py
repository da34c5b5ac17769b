"""Exact k-nearest-neighbour search over the descriptor matrix: a pruned blocked pass, then an exact re-rank.

Parts: index (DescriptorIndex: the searchable arrays; KnnResult), plan (a query against every presence
pattern: the distance's per-pattern terms and the lower-bound coefficients), scan (the blocked pass over
the matrix and the exact float64 re-rank), pruning (the principal-component bound that rules out most rows
unread), partial (the masked projections that bound partial queries the same way). exact_knn runs them in that order; the result is the exact k nearest, ties broken by pose id.
"""

from __future__ import annotations

import numpy as np

from posefinder.models.descriptor import Query
from posefinder.models.library.search.index import (
    DescriptorIndex,
    KnnResult,
    empty_result,
)
from posefinder.models.library.search.plan import SidePlan, plan_query
from posefinder.models.library.search.pruning import knn_among
from posefinder.models.library.search.scan import exact_distances_sq, rerank

__all__ = [
    "DescriptorIndex",
    "KnnResult",
    "SidePlan",
    "exact_distances_sq",
    "exact_knn",
    "knn_among",
    "plan_query",
    "rerank",
]


def exact_knn(index: DescriptorIndex, query: Query, k: int, row_mask: np.ndarray | None = None) -> KnnResult:
    """The k nearest rows (optionally only rows where row_mask is True), exact distances, best first;
    ties broken by pose id."""
    if len(index) == 0 or k <= 0:
        return empty_result()
    return knn_among(index, plan_query(index, query), [slice(0, len(index))], k, row_mask)
