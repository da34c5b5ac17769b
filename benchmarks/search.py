"""Single-query latency of the library's exact search against scikit-learn's brute force and the memory bound.

Run: `.venv/bin/python benchmarks/search.py [--sizes 136000,1000000] [--repeats 3] [--queries 8] [--quick]`

Measured in one run, per library size and query kind, as the median over repeats x queries of one query
each (k = 10):

- ours: `posefinder.models.library.search.exact_knn` over the `DescriptorIndex` of a library cache saved to
  a temporary folder and loaded back as `Library.search` gets it (descriptors.npy memory-mapped): what
  `Library.search` runs for an unfiltered query below the ANN threshold, the pass and the exact float64
  re-rank included; the SQLite lookup of the k results' file names (k rows by primary key) is NOT included.
- sklearn: `NearestNeighbors(algorithm="brute", metric="euclidean").kneighbors` fitted on the SAME float32
  descriptor matrix (no copy), for the query's descriptor (the mirrored one too for mirror queries: two
  query rows). It ranks by the paper's plain euclidean distance; ours also handles absent joints, partial
  queries and mirror; the timing compares one k-NN over the same matrix.
- bound: the memory-bandwidth bound of one pass over the descriptor matrix,
  bound = (N x 300 x 4 bytes) / copy bandwidth, where copy bandwidth = 2 x B / t_copy with t_copy the median
  time of `np.copyto(dst, src)` for float32 buffers of B = 256 MiB each (read + write both counted, as in
  STREAM's "copy"), measured in the same run, interleaved with the searches. It is the time to stream the
  matrix once at the rate this process can copy memory; the coords and norms arrays the search also reads
  for some rows are not counted. No query streams the matrix: an exact lower bound from a 16-component
  projection (search/pruning.py; for partial queries the projection of their joint mask, search/partial.py)
  rules out most rows, so their time can be well below this bound.

- numpy: the plain baseline over the same memory-mapped matrix: `D @ q` (q: the sklearn query rows) with
  the precomputed squared norms, then `np.argpartition` for the k best: one pass, no absent-joint handling.

Query kinds: "full" (all the query pose's joints), "legs off" (hips, knees, ankles and leg midpoints
switched off), "arms off", "head off", "upper body" (only the upper body's joints on), "mirror" (all joints,
mirror search: both sides in the same pass). Each partial kind's time is also given against the full
query's ("/full", goal <= 2), and every kind's results are checked against the exhaustive scan (the same
index without its projection: every row read).

Library (the largest size, or --library-size): the corpus written to a real library.sqlite, then
- the full build of the descriptor cache from SQLite (streamed, as `Library.search` makes it when there is
  no cache): its time and its peak memory (tracemalloc: every numpy array and Python object; SQLite's own
  page cache is not counted) against the size of the arrays it makes;
- `Library.search` on the static library (median), and the first search after adding 1,000 poses with
  `Library.import_records` (median over rounds, the library growing by 1,000 each round): the update from
  the changed rows included (they join the live segment, scanned whole; no merge within these rounds at
  1M), goal under 2x the static search.
Entries: ADD poses augmented to size (see pose_corpus.py), some joints absent like real estimates.

The last line is `speedup_vs_sklearn=<x> bound_ratio=<y>` for the largest size's full queries, where
speedup = sklearn time / our time and bound_ratio = our time / bound time.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pose_corpus  # noqa: E402

from posefinder.models import skeleton  # noqa: E402
from posefinder.models.descriptor import Query, pose_descriptor  # noqa: E402
from posefinder.models.library.search import exact_knn  # noqa: E402
from posefinder.models.pose import Pose  # noqa: E402

K_RESULTS = 10
COPY_BYTES = 256 * 1024 * 1024


class CopyBandwidth:
    """np.copyto timings of two float32 buffers of COPY_BYTES each; bandwidth counts read + write."""

    def __init__(self, nbytes: int = COPY_BYTES):
        self.nbytes = nbytes
        self.src = np.ones(nbytes // 4, dtype=np.float32)
        self.dst = np.zeros_like(self.src)
        self.times: list[float] = []

    def sample(self, n: int = 3) -> None:
        for _ in range(n):
            t = time.perf_counter()
            np.copyto(self.dst, self.src)
            self.times.append(time.perf_counter() - t)

    def bytes_per_s(self) -> float:
        return 2 * self.nbytes / float(np.median(self.times))


KINDS = ("full", "legs off", "arms off", "head off", "upper body", "mirror")
PARTIAL = ("legs off", "arms off", "head off", "upper body")


def _group(name: str) -> np.ndarray:
    mask = np.zeros(skeleton.NUM_KEYPOINTS, bool)
    mask[skeleton.resolve_names(name)] = True
    return mask


def query_kinds(pose: Pose) -> dict[str, Query]:
    return {
        "full": Query(pose),
        "legs off": Query(pose, joints=~_group("legs")),
        "arms off": Query(pose, joints=~_group("arms")),
        "head off": Query(pose, joints=~_group("head")),
        "upper body": Query(pose, joints=_group("upper_body")),
        "mirror": Query(pose, mirror=True),
    }


def numpy_knn(desc: np.ndarray, norms2: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """The plain baseline: squared euclidean distances by one matrix product, the k best by argpartition."""
    d = norms2[:, None] - 2.0 * (desc @ rows.T)  # (+ |q|^2, the same for every row)
    best = d.min(axis=1)
    part = np.argpartition(best, k - 1)[:k]
    return part[np.argsort(best[part])]


def _without_projection(index):
    from posefinder.models.library.search import DescriptorIndex

    fields = ("descriptors", "coords", "norms2", "up", "patterns", "starts", "pose_ids", "image_ids", "folder_ids")
    return DescriptorIndex(**{f: getattr(index, f) for f in fields}, generation=index.generation)


def sklearn_rows(query: Query) -> np.ndarray:
    """The query's descriptor(s) as sklearn sees them: the pose on its joints (and the mirror image)."""
    rows = [pose_descriptor(p.with_only(j)) for _, p, j in query.sides()]
    return np.stack(rows).astype(np.float32)


def blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info

        return ", ".join(f"{i['internal_api']} {i['num_threads']} threads" for i in threadpool_info())
    except ImportError:  # pragma: no cover
        return "threadpoolctl not installed"


def bench_size(n: int, args, bw: CopyBandwidth) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="posefinder-bench-") as tmp:
        index, query_kp, corpus_desc, t_gen, t_build = pose_corpus.library_index(n, Path(tmp), seed=args.seed)
        return _bench_index(index, query_kp, corpus_desc, t_gen, t_build, n, args, bw)


def _bench_index(index, query_kp, corpus_desc, t_gen, t_build, n, args, bw: CopyBandwidth) -> list[dict]:
    from sklearn.neighbors import NearestNeighbors

    gc.collect()
    print(f"\n{n:,} entries: {corpus_desc}; {len(index):,} searchable, {len(index.patterns)} presence patterns; "
          f"generated in {t_gen:.1f} s, indexed in {t_build:.1f} s; matrix {index.descriptors.nbytes / 1e9:.2f} GB "
          "(descriptors.npy, memory-mapped as a library opens it)", flush=True)  # fmt: skip
    nn = NearestNeighbors(n_neighbors=K_RESULTS, algorithm="brute", metric="euclidean").fit(index.descriptors)
    assert nn._fit_X is index.descriptors or np.shares_memory(nn._fit_X, index.descriptors)
    queries = [Pose(kp) for kp in query_kp[: args.queries]]
    kinds = {name: [query_kinds(q)[name] for q in queries] for name in KINDS}
    sk_rows = {name: [sklearn_rows(q) for q in qs] for name, qs in kinds.items()}
    times = {name: {"ours": [], "sklearn": [], "numpy": []} for name in kinds}
    exhaustive = _without_projection(index)
    same = {}
    for name, qs in kinds.items():  # warm up (page faults, lazily built arrays), and the exactness check
        same[name] = True
        for q in qs[:2]:
            a, b = exact_knn(index, q, K_RESULTS), exact_knn(exhaustive, q, K_RESULTS)
            same[name] &= a.rows.tolist() == b.rows.tolist() and np.array_equal(a.distances, b.distances)
    nn.kneighbors(sk_rows["full"][0])
    numpy_knn(index.descriptors, index.norms2, sk_rows["full"][0], K_RESULTS)
    for _ in range(args.repeats):
        bw.sample()
        for name, qs in kinds.items():
            for q, rows in zip(qs, sk_rows[name]):
                t = time.perf_counter()
                exact_knn(index, q, K_RESULTS)
                times[name]["ours"].append(time.perf_counter() - t)
                t = time.perf_counter()
                nn.kneighbors(rows)
                times[name]["sklearn"].append(time.perf_counter() - t)
                t = time.perf_counter()
                numpy_knn(index.descriptors, index.norms2, rows, K_RESULTS)
                times[name]["numpy"].append(time.perf_counter() - t)
        bw.sample()
    bound = index.descriptors.nbytes / bw.bytes_per_s()
    out = []
    for name, tt in times.items():
        ours, sk, npy = (float(np.median(tt[w])) for w in ("ours", "sklearn", "numpy"))
        out.append({"n": n, "kind": name, "ours": ours, "sklearn": sk, "numpy": npy, "bound": bound, "same": same[name]})
    del nn
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="136000,1000000",
                        help="comma-separated library sizes (default 136000,1000000)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds over the queries (default 3)")
    parser.add_argument("--queries", type=int, default=8, help="query poses per kind (default 8)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--library-size", type=float, default=None,
                        help="entries of the library part (default: the largest size; 0: skip it)")
    parser.add_argument("--add-rounds", type=int, default=5, help="rounds of adding 1,000 poses (default 5)")
    parser.add_argument("--quick", action="store_true", help="a small fast run (20,000 entries, 1 round of 3 queries)")
    parser.add_argument("--no-tag-filter", action="store_true", help="skip the tag filter section (tag_filter.py)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.repeats, args.queries = "20000", 1, 3
    sizes = [int(float(s)) for s in args.sizes.split(",") if s.strip()]
    args.library_size = max(sizes) if args.library_size is None else int(args.library_size)
    print(f"search benchmark: k={K_RESULTS}, {args.queries} queries x {args.repeats} rounds per kind; "
          f"BLAS: {blas_info()}; {os.cpu_count()} CPUs", flush=True)  # fmt: skip
    bw = CopyBandwidth()
    bw.sample(5)
    rows = []
    for n in sizes:
        rows += bench_size(n, args, bw)
    print(f"\ncopy bandwidth (read + write): {bw.bytes_per_s() / 1e9:.2f} GB/s, median of {len(bw.times)} copies "
          f"of {COPY_BYTES >> 20} MiB")  # fmt: skip
    print(f"\n{'entries':>9}  {'query':10}  {'ours ms':>8}  {'numpy ms':>8}  {'sklearn ms':>10}  {'bound ms':>8}  "
          f"{'numpy/ours':>10}  {'sklearn/ours':>12}  {'ours/bound':>10}  {'/full':>6}  exact")  # fmt: skip
    for r in rows:
        full = [f for f in rows if f["n"] == r["n"] and f["kind"] == "full"][0]
        print(f"{r['n']:>9,}  {r['kind']:10}  {r['ours'] * 1e3:8.1f}  {r['numpy'] * 1e3:8.1f}  {r['sklearn'] * 1e3:10.1f}  "
              f"{r['bound'] * 1e3:8.1f}  {r['numpy'] / r['ours']:10.2f}  {r['sklearn'] / r['ours']:12.2f}  "
              f"{r['ours'] / r['bound']:10.2f}  {r['ours'] / full['ours']:6.2f}  {'yes' if r['same'] else 'NO'}")  # fmt: skip
    for n in sizes:
        worst = max((r for r in rows if r["n"] == n and r["kind"] in PARTIAL), key=lambda r: r["ours"])
        full = [f for f in rows if f["n"] == n and f["kind"] == "full"][0]
        ratio = worst["ours"] / full["ours"]
        print(f"{n:,}: slowest partial query ({worst['kind']}) {ratio:.2f}x the full query: goal <= 2x "
              f"{'met' if ratio <= 2 else 'NOT met'}")  # fmt: skip
    if args.library_size:
        bench_library(args.library_size, args, rows)
    last = [r for r in rows if r["n"] == max(sizes) and r["kind"] == "full"][0]
    print(f"speedup_vs_sklearn={last['sklearn'] / last['ours']:.2f} bound_ratio={last['ours'] / last['bound']:.2f}")
    if not args.no_tag_filter:  # its own section: filtered against unfiltered at the largest size
        import tag_filter

        tag_filter.main([f"--size={max(sizes)}", f"--repeats={args.repeats}", f"--queries={args.queries}", f"--seed={args.seed}"])
    return 0


ADDED = 1000


def bench_library(n: int, args, rows: list[dict]) -> None:
    """The cache's full build from SQLite (time, peak memory against its arrays) and the first search after
    adding 1,000 poses against a search of the static library, through Library."""
    import sqlite3
    import tracemalloc

    from posefinder.models.formats.record import PoseRecord
    from posefinder.models.library import Library
    from posefinder.models.library import database as db

    with tempfile.TemporaryDirectory(prefix="posefinder-bench-lib-") as tmp:
        path = Path(tmp) / "lib"
        t = time.perf_counter()
        entries, query_kp, desc = pose_corpus.corpus(n + ADDED * args.add_rounds, seed=args.seed)
        extra, entries = entries[n:], entries[:n]
        with Library.open(path, create=True):
            pass
        con = sqlite3.connect(path / db.DB_FILE, isolation_level=None)
        con.execute("BEGIN")
        gen = db.bump_generation(con)
        per_image = 1000
        con.executemany(
            "INSERT INTO images (id, name, origin, status, added) VALUES (?, ?, 'import', 'imported', 0)",
            [(i + 1, f"generated-{i}") for i in range(-(-n // per_image))],
        )
        con.executemany(
            "INSERT INTO poses (image_id, idx, keypoints, source, gen, updated) VALUES (?, ?, ?, 'synthetic', ?, 0)",
            ((i // per_image + 1, i % per_image, np.ascontiguousarray(entries[i], "<f8").tobytes(), gen) for i in range(n)),
        )
        con.execute("COMMIT")
        con.close()
        del entries
        gc.collect()
        print(f"\nlibrary of {n:,} poses written to SQLite in {time.perf_counter() - t:.1f} s", flush=True)
        with Library.open(path) as lib:
            tracemalloc.start()
            t = time.perf_counter()
            live = lib.descriptor_index()
            t_build = time.perf_counter() - t
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            base = live.base
            arrays = sum(
                getattr(base, f).nbytes
                for f in ("descriptors", "coords", "norms2", "up", "proj", "proj_norms2", "mask_proj", "mask_norms2",
                          "pose_ids", "image_ids", "folder_ids", "patterns", "starts")
            ) + base.id_order().nbytes  # fmt: skip
            print(f"full build of the cache from SQLite (streamed): {t_build:.1f} s; peak memory {peak / 1e9:.2f} GB "
                  f"against arrays of {arrays / 1e9:.2f} GB: {peak / arrays:.2f}x (goal <= 1.5x: "
                  f"{'met' if peak <= 1.5 * arrays else 'NOT met'})", flush=True)  # fmt: skip
            queries = [Query(Pose(kp)) for kp in query_kp[: args.queries]]
            for q in queries[:2]:
                lib.search(q, k=K_RESULTS)
            static = []
            for _ in range(args.repeats):
                for q in queries:
                    t = time.perf_counter()
                    lib.search(q, k=K_RESULTS)
                    static.append(time.perf_counter() - t)
            first = []
            for r in range(args.add_rounds):
                batch = extra[r * ADDED : (r + 1) * ADDED]
                lib.import_records(PoseRecord(Pose(kp, source="synthetic"), f"added-{r}-{i}") for i, kp in enumerate(batch))
                t = time.perf_counter()
                lib.search(queries[r % len(queries)], k=K_RESULTS)
                first.append(time.perf_counter() - t)
            lib.wait_for_cache()
            s_med, f_med = float(np.median(static)), float(np.median(first))
            print(f"Library.search, static library: median {s_med * 1e3:.1f} ms ({len(static)} searches)")
            print(f"first Library.search after adding {ADDED:,} poses: median {f_med * 1e3:.1f} ms "
                  f"(max {max(first) * 1e3:.1f}; {len(first)} rounds, the library growing by {ADDED:,} each)")  # fmt: skip
            print(f"first search after adding / static search: {f_med / s_med:.2f}x (goal < 2x: "
                  f"{'met' if f_med < 2 * s_med else 'NOT met'}); full builds: {lib._keeper.full_builds}, "
                  f"background merges: {lib._keeper.merges}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
