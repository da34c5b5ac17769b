"""Memory and disk per pose of a large library: the SQLite database, the descriptor cache, the approximate
index, and a search process's resident memory, measured at given sizes and extrapolated to ten million.

Run: `.venv/bin/python benchmarks/library_memory.py [--sizes 1e6,3e6] [--folder DIR] [--queries 50]`

For each size, in fresh processes (so that each peak is its own):
1. build: a library as `posefinder-train index` leaves it (one folder, one image row per pose with a
   booru-like path, its hash and size; one estimated pose per image: keypoints, scores, bbox, image size,
   source) written through the library's own pose rows (database.pose_to_row), 50,000 a transaction; poses
   from pose_corpus.py (ADD poses augmented, as the ANN benchmark's), so the cache's presence patterns are
   realistic. Then the descriptor cache, as the app builds it on first search (Library.descriptor_index:
   streamed from SQLite), and the approximate index (ann.build_ann, the [ann] extra).
2. search: a process that opens the library read-only, loads cache and index as the app does, and runs
   --queries searches (all joints on, through the approximate index, and partial ones, exact): its resident
   memory (VmRSS: the mapped cache pages it touched included) and peak, and the median query times.
3. prune: an index run over the library whose folder no longer holds its files: it reads every image row
   and prunes them all (the indexer's bookkeeping at this size; its time and peak memory growth).
Sizes are on disk (library.sqlite, descriptors.npy + descriptors.index.npz, the ANN file); memory is the
processes' peak resident set (ru_maxrss) and current one. Per-pose figures are the slope between the two
largest sizes (fixed costs drop out); ten million is that slope extrapolated, and is labelled so.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

CHUNK = 50_000


def _rss() -> tuple[float, float, float]:
    """(current, peak, current anonymous) resident memory of this process, GiB (the difference between
    current and anonymous is mapped files: the cache's pages, reclaimable by the OS)."""
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon"):
                fields[key] = int(value.split()[0]) / 2**20
    return fields["VmRSS"], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, fields["RssAnon"]


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def build(n: int, folder: Path) -> dict:
    import pose_corpus

    from posefinder.models.library import Library
    from posefinder.models.library import database as db
    from posefinder.models.pose import Pose

    out: dict = {"n": n}
    train, _, desc = pose_corpus.load_base_poses()
    out["poses_from"] = desc
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    with Library.open(folder, create=True) as lib:
        images = folder.parent / "images"
        images.mkdir(exist_ok=True)
        lib.add_folder(images)
        fid = lib._folder_id(lib._con(), images)
        for a in range(0, n, CHUNK):
            m = min(CHUNK, n - a)
            kp = pose_corpus.augment(train, m, rng)
            with lib._write() as w:
                img_rows, pose_rows = [], []
                for j in range(m):
                    i = a + j
                    path = f"{images}/{i // 10000:04d}/danbooru_{i:09d}_{'%08x' % (i * 2654435761 % 2**32)}.jpg"
                    img_rows.append((i + 1, fid, path, path, "index", 180_000 + i % 90_000, 1_700_000_000_000_000_000 + i,
                                     "%032x" % (i * 11400714819323198485 % 2**128), 768, 1024, "estimated", time.time()))  # fmt: skip
                    pts = kp[j]
                    present = pts[:, 2] > 0
                    lo, hi = pts[present, :2].min(axis=0), pts[present, :2].max(axis=0)
                    pose = Pose(pts, bbox_xywh=(float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])),
                                image_size=(768, 1024), source="model:feature-matching",
                                scores=np.where(present, 0.9, 0.05), score=0.9)  # fmt: skip
                    r = db.pose_to_row(pose)
                    pose_rows.append((i + 1, 0, r["keypoints"], r["bbox"], r["image_w"], r["image_h"], r["source"],
                                      r["scores"], r["score"], r["meta"], 1, time.time()))  # fmt: skip
                w.executemany("INSERT INTO images (id, folder_id, path, name, origin, size, mtime_ns, hash, width, height,"
                              " status, added) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", img_rows)  # fmt: skip
                w.executemany("INSERT INTO poses (image_id, idx, keypoints, bbox, image_w, image_h, source, scores, score,"
                              " meta, gen, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", pose_rows)  # fmt: skip
                db.set_meta(w, "generation", 1)
        out["db_s"] = time.perf_counter() - t
        out["db_rss"] = _rss()
        t = time.perf_counter()
        live = lib.descriptor_index()
        out["cache_s"] = time.perf_counter() - t
        out["cache_rows"] = len(live.base)
        out["cache_rss"] = _rss()
        from posefinder.models.library import ann

        t = time.perf_counter()
        idx = ann.build_ann(lib)
        out["ann_s"] = time.perf_counter() - t
        out["ann_built"] = idx is not None
        out["ann_rss"] = _rss()
        lib.wait_for_cache()
    con_wal = folder / "library.sqlite-wal"
    out["db_bytes"] = _size(folder / "library.sqlite") + _size(con_wal)
    out["cache_bytes"] = _size(folder / "descriptors.npy") + _size(folder / "descriptors.index.npz")
    out["ann_bytes"] = sum(_size(p) for p in folder.glob("*ann*"))
    return out


def prune(folder: Path) -> dict:
    """An index run over the whole library, its folder holding none of the files any more: the run reads
    every image row of the folder and prunes them all (the scan's bookkeeping at this size)."""
    from posefinder.models.library import Library

    out: dict = {}
    before = _rss()
    t = time.perf_counter()
    with Library.open(folder) as lib:
        report = lib.index(tagger=None)
    out["prune_s"], out["pruned"] = time.perf_counter() - t, report.removed
    out["prune_rss"] = _rss()
    out["prune_peak_growth"] = out["prune_rss"][1] - before[1]
    return out


def search(folder: Path, queries: int) -> dict:
    import pose_corpus

    from posefinder.models.descriptor import Query
    from posefinder.models.library import Library, ann
    from posefinder.models.pose import Pose

    _, val, _ = pose_corpus.load_base_poses()
    qs = pose_corpus.augment(val, queries, np.random.default_rng(5), absent=False)
    out: dict = {"rss_open": _rss()}
    with Library.open(folder, readonly=True) as lib:
        t = time.perf_counter()
        live = lib.descriptor_index()
        held = ann.ann_for(lib, live.base, build=False) is not None
        out["load_s"], out["ann_held"] = time.perf_counter() - t, held
        lib.search(Query(Pose(qs[0])), k=10)  # warm
        full, partial = [], []
        for kp in qs:
            t = time.perf_counter()
            lib.search(Query(Pose(kp)), k=10)
            full.append(time.perf_counter() - t)
        for kp in qs[: max(5, queries // 5)]:
            q = Query(Pose(kp), joints=np.arange(25) < 13)  # the upper body: exact, through the pattern pruning
            t = time.perf_counter()
            lib.search(q, k=10)
            partial.append(time.perf_counter() - t)
        out["full_ms"] = float(np.median(full)) * 1e3
        out["partial_ms"] = float(np.median(partial)) * 1e3
    out["rss"] = _rss()
    return out


def _child(mode: str, n: int, folder: Path, queries: int) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--sizes", str(n), "--folder", str(folder), "--queries", str(queries)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"{mode} {n}: failed\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="1e6,3e6", help="comma-separated pose counts (default 1e6,3e6)")
    parser.add_argument("--folder", type=Path, default=None, help="where to build the libraries (default: a temp dir)")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = [int(float(s)) for s in args.sizes.split(",") if s.strip()]
    if args.child:
        modes = {"build": lambda: build(sizes[0], args.folder), "search": lambda: search(args.folder, args.queries),
                 "prune": lambda: prune(args.folder)}  # fmt: skip
        result = modes[args.child]()
        print(json.dumps(result))
        return 0
    rows = []
    with tempfile.TemporaryDirectory(prefix="posefinder-mem-", dir=args.folder) as tmp:
        for n in sizes:
            lib_dir = Path(tmp) / f"lib-{n}"
            b = _child("build", n, lib_dir, args.queries)
            s = _child("search", n, lib_dir, args.queries)
            b.update(_child("prune", n, lib_dir, args.queries))
            rows.append((n, b, s))
            gib = 2**30
            print(f"{n:>11,} poses: db {b['db_bytes'] / gib:5.2f} GiB ({b['db_s']:.0f} s), cache {b['cache_bytes'] / gib:5.2f}"
                  f" GiB ({b['cache_s']:.0f} s, build peak {b['cache_rss'][1]:.2f} GiB), ann {b['ann_bytes'] / gib:5.2f} GiB "
                  f"({b['ann_s']:.0f} s, build peak {b['ann_rss'][1]:.2f} GiB); search process {s['rss'][0]:.2f} GiB "
                  f"resident (peak {s['rss'][1]:.2f}), ann held {s['ann_held']}, query {s['full_ms']:.1f} ms all joints, "
                  f"{s['partial_ms']:.1f} ms partial (anonymous {s['rss'][2]:.2f} GiB); pruning all {b['pruned']:,} in "
                  f"{b['prune_s']:.0f} s, peak +{b['prune_peak_growth']:.2f} GiB", flush=True)  # fmt: skip
            import shutil

            shutil.rmtree(lib_dir)
    if len(rows) >= 2:
        (n0, b0, s0), (n1, b1, s1) = rows[-2], rows[-1]
        dn = n1 - n0

        def slope(a, b):
            return (b - a) / dn

        per = {
            "db": slope(b0["db_bytes"], b1["db_bytes"]),
            "cache": slope(b0["cache_bytes"], b1["cache_bytes"]),
            "ann": slope(b0["ann_bytes"], b1["ann_bytes"]),
            "search_rss": slope(s0["rss"][0], s1["rss"][0]) * 2**30,
            "search_anon": slope(s0["rss"][2], s1["rss"][2]) * 2**30,
            "cache_build_peak": slope(b0["cache_rss"][1], b1["cache_rss"][1]) * 2**30,
            "ann_build_peak": slope(b0["ann_rss"][1], b1["ann_rss"][1]) * 2**30,
        }
        print("\nper pose (slope between the two largest sizes): " + ", ".join(f"{k} {v:.0f} B" for k, v in per.items()))
        ten = 10_000_000
        def at(v0, key):
            return (v0 + per[key] * (ten - n0)) / 2**30

        print(f"extrapolated to 10,000,000 poses (not measured): db {at(b0['db_bytes'], 'db'):.1f} GiB, cache "
              f"{at(b0['cache_bytes'], 'cache'):.1f} GiB, ann {at(b0['ann_bytes'], 'ann'):.1f} GiB on disk; search process "
              f"{at(s0['rss'][0] * 2**30, 'search_rss'):.1f} GiB resident ({at(s0['rss'][2] * 2**30, 'search_anon'):.1f} GiB "
              f"anonymous, the rest the mapped cache); cache build peak "
              f"{at(b0['cache_rss'][1] * 2**30, 'cache_build_peak'):.1f} GiB, ann build peak "
              f"{at(b0['ann_rss'][1] * 2**30, 'ann_build_peak'):.1f} GiB")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
