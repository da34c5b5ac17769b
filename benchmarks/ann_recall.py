"""Recall and speed of the approximate index ([ann] extra) against the exact search, on a large library.

Run: `.venv/bin/python benchmarks/ann_recall.py [--size 1000000] [--queries 200] [--nprobe 8,16,64] [--quick]`

Library: ADD poses augmented to --size entries (pose_corpus.py: rotations, bent limbs, flips, some joints
absent like real estimates), saved and memory-mapped as a library opens its cache. Queries: augmented poses
of the held-out ADD val set, all joints on (the queries the approximate index serves), a quarter of them
with mirror search. For each query: the exact k = 10 (`search.exact_knn`) and the approximate k = 10
(`ann.AnnIndex.knn`: the rows each common pattern's IVF-PQ index proposes and every row of the rare
patterns, through the exact path, which prunes the latter with its projection bound), timed one after the
other; "rows in" = those rows / N (before pruning); recall@10 = |approximate top 10 & exact top 10| / 10,
averaged over queries; speedup = median exact time / median approximate time, measured in the same run.
Both exclude the SQLite lookup of the results.

Update (--update-rows, default 1,000; 0 skips it): the library after a merge that deleted --update-rows
entries and added as many new ones (augmented ADD poses); the index brought to it by `AnnIndex.updated`
(the added rows encoded on the trained cells and codes, the deleted ones left as dead codes that map to no
row: what a background merge does) against `AnnIndex.build` of the merged cache from scratch, timed in the same run, with the recall@10
of both against the exact search.

The last line is `recall_at_10=<r> speedup_vs_exact=<s>` for the default nprobe (ann.DEFAULT_NPROBE).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pose_corpus  # noqa: E402

from posefinder.models.descriptor import Query  # noqa: E402
from posefinder.models.library.ann import DEFAULT_NPROBE, AnnIndex  # noqa: E402
from posefinder.models.library.search import exact_knn, plan_query  # noqa: E402
from posefinder.models.pose import Pose  # noqa: E402

K_RESULTS = 10


def _rows(part) -> int:
    return part.stop - part.start if isinstance(part, slice) else len(part)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", type=float, default=1_000_000, help="library entries (default 1,000,000)")
    parser.add_argument("--queries", type=int, default=200, help="query poses (default 200)")
    parser.add_argument("--nprobe", default="",
                        help=f"comma-separated cells per side to try (the default {DEFAULT_NPROBE} always is)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--update-rows", type=int, default=1000, help="rows deleted and added for the update section")
    parser.add_argument("--quick", action="store_true", help="a small fast run (30,000 entries, 30 queries)")
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.queries = 30_000, 30
    n = int(args.size)
    nprobes = sorted({DEFAULT_NPROBE, *(int(v) for v in args.nprobe.split(",") if v.strip())})
    with tempfile.TemporaryDirectory(prefix="posefinder-ann-") as tmp:
        index, query_kp, corpus_desc, t_gen, t_build = pose_corpus.library_index(n, Path(tmp), seed=args.seed)
        print(f"{n:,} entries: {corpus_desc}; {len(index.patterns)} presence patterns; generated in {t_gen:.1f} s, "
              f"indexed in {t_build:.1f} s", flush=True)  # fmt: skip
        t = time.perf_counter()
        ann = AnnIndex.build(index)
        t_ann = time.perf_counter() - t
        cells = sum(ivf.nlist for ivf in ann.indexes)
        orphans = ann.layout(index)[2]
        orphan_rows = int(sum(index.starts[g + 1] - index.starts[g] for g in orphans))
        print(f"approximate index built in {t_ann:.1f} s: {len(ann.indexes)} common patterns, {cells} cells, "
              f"{sum(ivf.ntotal for ivf in ann.indexes):,} rows as codes of up to "
              f"{max((ivf.code_size for ivf in ann.indexes), default=0)} bytes; {orphan_rows:,} rows of "
              f"{len(orphans)} rare patterns searched exactly; "
              f"{ann.candidates} candidates per pattern and side", flush=True)  # fmt: skip
        rng = np.random.default_rng(args.seed + 7)
        extra = pose_corpus.augment(query_kp, max(0, args.queries - len(query_kp)), rng, absent=False)
        all_kp = np.concatenate([query_kp, extra])[: args.queries]
        queries = [Query(Pose(kp), mirror=(i % 4 == 3)) for i, kp in enumerate(all_kp)]
        exact_knn(index, queries[0], K_RESULTS)  # warm up
        rows = []
        for nprobe in nprobes:
            ann.nprobe = nprobe
            t_exact, t_ann_q, recall, scanned = [], [], [], []
            for q in queries:
                t = time.perf_counter()
                want = exact_knn(index, q, K_RESULTS)
                t_exact.append(time.perf_counter() - t)
                t = time.perf_counter()
                got = ann.knn(index, q, K_RESULTS)
                t_ann_q.append(time.perf_counter() - t)
                recall.append(len(set(got.rows.tolist()) & set(want.rows.tolist())) / max(len(want.rows), 1))
                scanned.append(sum(_rows(p) for p in ann.rows_to_scan(index, plan_query(index, q), K_RESULTS)))
            rows.append({
                "nprobe": nprobe, "recall": float(np.mean(recall)), "min": float(np.min(recall)),
                "exact": float(np.median(t_exact)), "ann": float(np.median(t_ann_q)),
                "scanned": float(np.mean(scanned)) / len(index),
            })  # fmt: skip
        update = _update(index, ann, queries, args.update_rows, seed=args.seed) if args.update_rows else None
        del index
    if update:
        print(f"\nafter a merge of -{args.update_rows:,} / +{args.update_rows:,} entries: AnnIndex.updated "
              f"{update['t_update']:.2f} s (recall@10 {update['r_update']:.4f}) against AnnIndex.build "
              f"{update['t_build']:.1f} s (recall@10 {update['r_build']:.4f}): {update['t_build'] / update['t_update']:.0f}x "
              "faster", flush=True)  # fmt: skip
    print(f"\n{'nprobe':>6}  {'recall@10':>9}  {'worst':>5}  {'rows in':>9}  {'exact ms':>8}  {'ann ms':>7}  "
          f"{'speedup':>7}")  # fmt: skip
    for r in rows:
        print(f"{r['nprobe']:>6}  {r['recall']:9.4f}  {r['min']:5.1f}  {r['scanned']:9.1%}  {r['exact'] * 1e3:8.1f}  "
              f"{r['ann'] * 1e3:7.1f}  {r['exact'] / r['ann']:7.2f}")  # fmt: skip
    best = next(r for r in rows if r["nprobe"] == DEFAULT_NPROBE)
    print(f"recall_at_10={best['recall']:.4f} speedup_vs_exact={best['exact'] / best['ann']:.2f}")
    return 0


def _update(index, ann, queries, m: int, seed: int) -> dict:
    from posefinder.models.library.live import Changes, LiveIndex

    ann.nprobe = DEFAULT_NPROBE
    rng = np.random.default_rng(seed + 11)
    kp = pose_corpus.augment(pose_corpus.load_base_poses()[0], m, rng)
    new_ids = np.arange(m) + int(index.pose_ids.max()) + 1
    deleted = rng.choice(index.pose_ids, size=m, replace=False)
    live = LiveIndex.of(index).updated(Changes(new_ids, new_ids, -np.ones(m, np.int64), kp, deleted), index.generation + 1)
    merged = live.merged()
    t = time.perf_counter()
    updated = ann.updated(live, merged)
    t_update = time.perf_counter() - t
    t = time.perf_counter()
    rebuilt = AnnIndex.build(merged)
    t_build = time.perf_counter() - t
    recall = {"u": [], "b": []}
    for q in queries:
        want = set(exact_knn(merged, q, K_RESULTS).rows.tolist())
        for key, a in (("u", updated), ("b", rebuilt)):
            recall[key].append(len(set(a.knn(merged, q, K_RESULTS).rows.tolist()) & want) / max(len(want), 1))
    return {"t_update": t_update, "t_build": t_build, "r_update": float(np.mean(recall["u"])),
            "r_build": float(np.mean(recall["b"]))}  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
