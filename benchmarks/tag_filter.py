"""Tag-filtered pose search against the unfiltered one, at library size with the paper's 1,062 tags.

Run alone: `.venv/bin/python benchmarks/tag_filter.py [--size 1000000] [--tags-per-image 12] [--quick]`, or
as the "tag filter" section of benchmarks/search.py (its largest size).

Measured in one run, per filter, as the median over repeats x queries (k = 10, "full" queries):
- unfiltered: `exact_knn(index, query, k)` over the DescriptorIndex of a library cache (what Library.search
  runs below the ANN threshold);
- filtered: what Library.search adds for `tags=TagFilter(...)`: library_tags.tag_row_mask (each tag's
  image ids at the threshold from the library's TagIdCache, filled from SQLite's covering index
  tags(tag, score, image_id) by the filter's first search, which is not timed; a lookup table over the
  rows' image ids), the passing image ids handed to LiveIndex.search, which masks the rows with
  them (library_tags.ids_mask) and runs `exact_knn(..., row_mask=mask)`. The first search's time is printed apart.
Tags: a real library.sqlite (models/library/database.py's schema) with one image row per entry and
1,062 tag names, drawn per image with Zipf-like frequencies (rank r has weight 1 / r^0.9), tags_per_image
stored on average with scores uniform in [0.05, 1] (the stored floor upwards), so about half of a tag's
rows pass the 0.5 threshold. Filters: the most frequent tag, a mid-frequency tag (rank 50), a rare one
(rank 500), and two tags included + one excluded.
The last line is `tag_filter_ratio=<x>`: the largest median filtered / unfiltered ratio (goal <= 1.5).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from posefinder.models.library import database as db  # noqa: E402
from posefinder.models.library.library_tags import TagFilter, TagIdCache, ids_mask, tag_row_mask  # noqa: E402
from posefinder.models.library.search import exact_knn  # noqa: E402

NUM_TAGS = 1062
K_RESULTS = 10


def tag_names() -> list[str]:
    return [f"tag{r:04d}" for r in range(NUM_TAGS)]


def tags_database(path: Path, image_ids: np.ndarray, tags_per_image: float, seed: int = 0) -> sqlite3.Connection:
    """library.sqlite at path with an image row per id and their generated tags; a read connection."""
    db.create(path)
    con = sqlite3.connect(str(path), isolation_level=None)
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, NUM_TAGS + 1) ** 0.9
    weights /= weights.sum()
    names = tag_names()
    con.execute("BEGIN")
    con.executemany("INSERT INTO images (id, name, origin, status, added) VALUES (?, ?, 'index', 'estimated', 0)",
                    ((int(i), f"img{int(i)}") for i in np.unique(image_ids)))  # fmt: skip
    chunk = 100_000
    uniq = np.unique(image_ids)
    for start in range(0, len(uniq), chunk):
        ids = uniq[start : start + chunk]
        counts = np.minimum(rng.poisson(tags_per_image, len(ids)), NUM_TAGS)
        owners = np.repeat(ids, counts)
        picks = rng.choice(NUM_TAGS, size=len(owners), p=weights)
        scores = rng.uniform(0.05, 1.0, len(owners))
        keys, first = np.unique(owners * NUM_TAGS + picks, return_index=True)  # one score per (image, tag)
        rows = zip((keys // NUM_TAGS).tolist(), (names[t] for t in (keys % NUM_TAGS).tolist()), scores[first].tolist())
        con.executemany("INSERT INTO tags (image_id, tag, score) VALUES (?, ?, ?)", rows)
    con.execute("COMMIT")
    con.execute("ANALYZE")
    return con


def filters() -> dict[str, TagFilter]:
    names = tag_names()
    return {
        "most frequent tag": TagFilter((names[0],)),
        "rank-50 tag": TagFilter((names[50],)),
        "rank-500 tag": TagFilter((names[500],)),
        "2 tags, 1 excluded": TagFilter((names[3], names[10]), (names[1],)),
    }


def bench(index, queries, args, tmp: Path) -> list[dict]:
    """Rows {filter, share, unfiltered, filtered} for the index (DescriptorIndex) and Query objects."""
    t = time.perf_counter()
    con = tags_database(tmp / "library.sqlite", index.image_ids, args.tags_per_image, seed=args.seed)
    n_tags = con.execute("SELECT count(*) FROM tags").fetchone()[0]
    print(f"\ntag filter: {len(index):,} entries, {NUM_TAGS} tags, {n_tags:,} stored tag scores "
          f"({n_tags / max(len(index), 1):.1f} per image), made in {time.perf_counter() - t:.1f} s", flush=True)  # fmt: skip
    for q in queries[:1]:  # warm up
        exact_knn(index, q, K_RESULTS)
    out = []
    for name, flt in filters().items():
        ids_of = TagIdCache()  # as Library.search keeps it: filled by the first search with the filter
        t = time.perf_counter()
        tag_row_mask(con, flt, index.image_ids, ids_of=ids_of)
        first = time.perf_counter() - t
        unf, fil, share = [], [], 0.0
        for _ in range(args.repeats):
            for q in queries:
                t = time.perf_counter()
                exact_knn(index, q, K_RESULTS)
                unf.append(time.perf_counter() - t)
                t = time.perf_counter()
                mask = tag_row_mask(con, flt, index.image_ids, ids_of=ids_of)
                mask = ids_mask(index.image_ids, index.image_ids[mask])  # the ids handed to LiveIndex.search
                exact_knn(index, q, K_RESULTS, row_mask=mask)
                fil.append(time.perf_counter() - t)
                share = float(mask.mean())
        out.append(
            {
                "filter": name,
                "share": share,
                "unfiltered": float(np.median(unf)),
                "filtered": float(np.median(fil)),
                "first": first,
            }
        )
    con.close()
    return out


def report(rows: list[dict]) -> None:
    print(
        f"\n{'filter':20}  {'passing':>8}  {'unfiltered ms':>13}  {'filtered ms':>11}  {'ratio':>5}  {'first mask ms':>13}"
    )
    for r in rows:
        print(f"{r['filter']:20}  {r['share']:8.2%}  {r['unfiltered'] * 1e3:13.1f}  {r['filtered'] * 1e3:11.1f}  "
              f"{r['filtered'] / r['unfiltered']:5.2f}  {r['first'] * 1e3:13.1f}")  # fmt: skip
    print(f"tag_filter_ratio={max(r['filtered'] / r['unfiltered'] for r in rows):.2f}")


def main(argv=None) -> int:
    import pose_corpus

    from posefinder.models.descriptor import Query
    from posefinder.models.pose import Pose

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="library entries (default 1,000,000)")
    parser.add_argument("--tags-per-image", type=float, default=12.0, help="stored tag scores per image (mean)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--queries", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="20,000 entries, 1 round of 3 queries")
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.repeats, args.queries = 20_000, 1, 3
    with tempfile.TemporaryDirectory(prefix="posefinder-bench-") as tmp:
        index, query_kp, desc, _, _ = pose_corpus.library_index(args.size, Path(tmp), seed=args.seed)
        queries = [Query(Pose(kp)) for kp in query_kp[: args.queries]]
        report(bench(index, queries, args, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
