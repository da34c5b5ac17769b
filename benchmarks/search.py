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
  for some rows are not counted. Full and mirror queries do not stream the matrix: an exact lower bound
  from a 16-component projection (search.py, "Pruning") rules out most rows, so their time can be well
  below this bound; partial queries (rows rescaled on the shared joints) make the one pass it describes.

Query kinds: "full" (all the query pose's joints), "legs off" (hips, knees, ankles and leg midpoints
switched off), "mirror" (all joints, mirror search: both sides in the same pass).
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


def query_kinds(pose: Pose) -> dict[str, Query]:
    legs = np.zeros(skeleton.NUM_KEYPOINTS, bool)
    legs[skeleton.resolve_names("legs")] = True
    return {
        "full": Query(pose),
        "legs off": Query(pose, joints=~legs),
        "mirror": Query(pose, mirror=True),
    }


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
    kinds = {name: [query_kinds(q)[name] for q in queries] for name in ("full", "legs off", "mirror")}
    sk_rows = {name: [sklearn_rows(q) for q in qs] for name, qs in kinds.items()}
    times = {name: {"ours": [], "sklearn": []} for name in kinds}
    for qs in kinds.values():  # warm up (page faults, lazily built arrays)
        exact_knn(index, qs[0], K_RESULTS)
    nn.kneighbors(sk_rows["full"][0])
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
        bw.sample()
    bound = index.descriptors.nbytes / bw.bytes_per_s()
    out = []
    for name, tt in times.items():
        ours, sk = float(np.median(tt["ours"])), float(np.median(tt["sklearn"]))
        out.append({"n": n, "kind": name, "ours": ours, "sklearn": sk, "bound": bound})
    del nn
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="136000,1000000",
                        help="comma-separated library sizes (default 136000,1000000)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds over the queries (default 3)")
    parser.add_argument("--queries", type=int, default=8, help="query poses per kind (default 8)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a small fast run (20,000 entries, 1 round of 3 queries)")
    parser.add_argument("--no-tag-filter", action="store_true", help="skip the tag filter section (tag_filter.py)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.repeats, args.queries = "20000", 1, 3
    sizes = [int(float(s)) for s in args.sizes.split(",") if s.strip()]
    print(f"search benchmark: k={K_RESULTS}, {args.queries} queries x {args.repeats} rounds per kind; "
          f"BLAS: {blas_info()}; {os.cpu_count()} CPUs", flush=True)  # fmt: skip
    bw = CopyBandwidth()
    bw.sample(5)
    rows = []
    for n in sizes:
        rows += bench_size(n, args, bw)
    print(f"\ncopy bandwidth (read + write): {bw.bytes_per_s() / 1e9:.2f} GB/s, median of {len(bw.times)} copies "
          f"of {COPY_BYTES >> 20} MiB")  # fmt: skip
    print(f"\n{'entries':>9}  {'query':9}  {'ours ms':>8}  {'sklearn ms':>10}  {'bound ms':>8}  "
          f"{'speedup':>7}  {'ours/bound':>10}")  # fmt: skip
    for r in rows:
        print(f"{r['n']:>9,}  {r['kind']:9}  {r['ours'] * 1e3:8.1f}  {r['sklearn'] * 1e3:10.1f}  "
              f"{r['bound'] * 1e3:8.1f}  {r['sklearn'] / r['ours']:7.1f}  {r['ours'] / r['bound']:10.2f}")  # fmt: skip
    last = [r for r in rows if r["n"] == max(sizes) and r["kind"] == "full"][0]
    print(f"speedup_vs_sklearn={last['sklearn'] / last['ours']:.2f} bound_ratio={last['ours'] / last['bound']:.2f}")
    if not args.no_tag_filter:  # its own section: filtered against unfiltered at the largest size
        import tag_filter

        tag_filter.main([f"--size={max(sizes)}", f"--repeats={args.repeats}", f"--queries={args.queries}", f"--seed={args.seed}"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
