"""descriptors.npy: the derived descriptor cache of a library: built from SQLite, stored beside it, mmapped.

Files: `descriptors.npy` (N x 300 float32, the paper's descriptors, mmapped for search) and
`descriptors.index.npz` (pose/image/folder ids, presence patterns, normalised coordinates, norms, torso up
vectors, a 16-dimensional principal-component projection of the descriptors and one per standard joint mask
(search/partial.py; format 5, a format 4 cache gains them in the background), the rows in pose id order,
the SQLite generation they were built from, and the identity (inode, size, mtime) of the descriptors.npy
they belong to). Both are written to temporary names and renamed, the npz last; files that do not match each
other are no cache. A saved cache of an older generation is brought up to date from what changed since
(live.py, cache_keeper.py), never rebuilt for it.

Builds work in chunks: `build_streamed` reads its rows twice (their places, then their values) and
`merge_indexes` gathers the live rows of several indexes, carrying their projections over (rows that have
none, a live segment's, are projected on the first index's bases), so that neither holds more than the
arrays it makes, O(N) vectors and one chunk.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from posefinder.models import skeleton
from posefinder.models.atomic import atomic_open
from posefinder.models.descriptor import MIN_QUERY_JOINTS, PAIRS
from posefinder.models.library.search import DescriptorIndex, partial
from posefinder.models.library.search.index import Bases

DESCRIPTORS_FILE = "descriptors.npy"
INDEX_FILE = "descriptors.index.npz"
CACHE_FORMAT = 5
#: Formats read: 4 lacks the masked projections (partial queries scan until cache_keeper.py adds them).
READ_FORMATS = (4, 5)
#: Dimensions of the principal-component projection kept for pruning (search.py): 64 bytes a row.
PROJECTION_DIMS = 16
#: Libraries with fewer entries get no projection.
MIN_PROJECTION_ROWS = 1024
_PCA_SAMPLE = 20_000
_CHUNK = 4096
_SMALL_PRODUCT = 65536
K = skeleton.NUM_KEYPOINTS
_SH = [skeleton.INDEX["left_shoulder"], skeleton.INDEX["right_shoulder"]]
_HP = [skeleton.INDEX["left_hip"], skeleton.INDEX["right_hip"]]


def _torso_up_many(xy: np.ndarray, present: np.ndarray) -> np.ndarray:
    """(N, 2) unit torso up vectors (hip centre -> shoulder centre), nan where undefined."""
    def centre(idx):
        w = present[:, idx].astype(np.float64)
        n = w.sum(axis=1)
        c = (xy[:, idx, :] * w[:, :, None]).sum(axis=1) / np.maximum(n, 1)[:, None]
        return c, n > 0

    sh, has_sh = centre(_SH)
    hp, has_hp = centre(_HP)
    v = sh - hp
    norm = np.hypot(v[:, 0], v[:, 1])
    ok = has_sh & has_hp & (norm > 1e-12)
    out = np.full((len(xy), 2), np.nan, dtype=np.float32)
    out[ok] = (v[ok] / norm[ok, None]).astype(np.float32)
    return out


def _scale_and_present(kp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(longest side of the keypoint box (n,), present (n, 25)) of float64 keypoints (n, 25, 3); reduced over
    joints joint-major (elementwise over contiguous rows)."""
    present = kp[:, :, 2] > 0
    pres = present.T
    sides = []
    for axis in (0, 1):
        v = kp[:, :, axis].T
        lo = np.where(pres, v, np.inf).min(axis=0)
        hi = np.where(pres, v, -np.inf).max(axis=0)
        sides.append(hi - lo)
    with np.errstate(invalid="ignore"):
        scale = np.nan_to_num(np.maximum(sides[0], sides[1]), nan=0.0, posinf=0.0, neginf=0.0)
    return scale, present


def _row_features(kp: np.ndarray):
    """(descriptors (m, 300) float32, coords (25, 2, m) float32, squared norms (m,) float64, up (m, 2) float32)
    of float64 keypoints (m, 25, 3) that each have an extent. Computed joint-major (every pair's values a
    contiguous row), so that the pair gathers copy rows."""
    scale, present = _scale_and_present(kp)
    xy = kp[:, :, :2]
    pres = np.ascontiguousarray(present.T)  # (25, m)
    count = np.maximum(pres.sum(axis=0), 1)
    c = np.empty((K, 2, len(kp)))
    for axis in (0, 1):
        v = np.ascontiguousarray(xy[:, :, axis].T)  # (25, m)
        centroid = np.where(pres, v, 0.0).sum(axis=0) / count
        c[:, axis] = np.where(pres, (v - centroid) / scale, 0.0)
    dx = np.take(c[:, 0], PAIRS[:, 0], axis=0) - np.take(c[:, 0], PAIRS[:, 1], axis=0)
    dy = np.take(c[:, 1], PAIRS[:, 0], axis=0) - np.take(c[:, 1], PAIRS[:, 1], axis=0)
    dx *= dx
    dy *= dy
    dx += dy
    d = np.sqrt(dx, out=dx)
    d *= np.take(pres, PAIRS[:, 0], axis=0) & np.take(pres, PAIRS[:, 1], axis=0)  # 0 for pairs of absent joints
    d32 = np.ascontiguousarray(d.T, dtype=np.float32)
    d64 = d32.astype(np.float64)
    return d32, c.astype(np.float32), np.einsum("ij,ij->i", d64, d64), _torso_up_many(xy, present)


def _bits_and_keep(kp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(presence pattern as bits (m,) int64, searchable (m,) bool) of keypoints (m, 25, 3)."""
    scale, present = _scale_and_present(np.asarray(kp, dtype=np.float64))
    bits = present.astype(np.int64) @ (np.int64(1) << np.arange(K, dtype=np.int64))
    return bits, (present.sum(axis=1) >= MIN_QUERY_JOINTS) & (scale > 0)


def _array_chunks(pose_ids, image_ids, folder_ids, keypoints):
    def chunks():
        for a in range(0, len(keypoints), _CHUNK):
            e = a + _CHUNK
            yield pose_ids[a:e], image_ids[a:e], folder_ids[a:e], keypoints[a:e]

    return chunks


def build_index(
    pose_ids: np.ndarray,
    image_ids: np.ndarray,
    folder_ids: np.ndarray,
    keypoints: np.ndarray,
    generation: int = -1,
    projection: Bases | tuple[np.ndarray, np.ndarray] | bool | None = None,
) -> DescriptorIndex:
    """The DescriptorIndex of poses given as (N, 25, 3) keypoints [x, y, v]; poses with fewer than 3 present
    keypoints or no extent are left out (nothing can be compared with them). projection: the Bases (or
    (basis, mean)) to project on (an index keeps its bases when rows are added); False: none (a small
    segment, scanned whole); default: the rows' principal components past MIN_PROJECTION_ROWS rows."""
    keypoints = np.asarray(keypoints).reshape(-1, K, 3)
    ids = (np.asarray(pose_ids, dtype=np.int64), np.asarray(image_ids, dtype=np.int64), np.asarray(folder_ids, dtype=np.int64))
    return build_streamed(_array_chunks(*ids, keypoints), generation, projection)


def build_streamed(chunks, generation: int = -1, projection=None) -> DescriptorIndex:
    """The DescriptorIndex of the rows `chunks()` yields as (pose_ids, image_ids, folder_ids, keypoints (m, 25, 3))
    chunks, in two passes over the same rows (a source re-read, e.g. one SQLite snapshot): the first finds each
    row's place (rows sorted by presence pattern, then pose id), the second computes the rows chunk by chunk
    into their places. Besides the result it holds O(N) vectors and one chunk: the rows are never all in memory."""
    parts = []
    for pid, iid, fid, kp in chunks():
        bits, keep = _bits_and_keep(kp)
        parts.append((np.asarray(pid, np.int64), np.asarray(iid, np.int64), np.asarray(fid, np.int64), bits, keep))
    pose_ids, image_ids, folder_ids, bits, keep = (
        np.concatenate([p[i] for p in parts]) if parts else np.zeros(0, np.int64 if i < 4 else bool) for i in range(5)
    )
    del parts
    kept = np.flatnonzero(keep)
    order = kept[np.lexsort((pose_ids[kept], bits[kept]))]
    place = np.full(len(pose_ids), -1, dtype=np.int64)
    place[order] = np.arange(len(order))
    n = len(order)
    out = _empty_arrays(n)
    seen = 0
    for pid, _, _, kp in chunks():
        dest = place[seen : seen + len(pid)]
        if len(pid) != len(dest) or not np.array_equal(np.asarray(pid, np.int64), pose_ids[seen : seen + len(pid)]):
            raise RuntimeError("the rows changed between the two passes of a descriptor cache build")
        here = dest >= 0
        if here.any():
            _put(out, dest[here], _row_features(np.asarray(kp, dtype=np.float64)[here]))
        seen += len(pid)
    if seen != len(pose_ids):
        raise RuntimeError("the rows changed between the two passes of a descriptor cache build")
    return _finish(out, bits[order], pose_ids[order], image_ids[order], folder_ids[order], generation, projection)


def _empty_arrays(n: int) -> dict:
    return {
        "descriptors": np.empty((n, len(PAIRS)), dtype=np.float32),
        "coords": np.empty((K, 2, n), dtype=np.float32),  # joint-major: search reduces over joints elementwise
        "norms2": np.empty(n, dtype=np.float64),
        "up": np.empty((n, 2), dtype=np.float32),
    }


def _put(out: dict, dest: np.ndarray, features) -> None:
    desc, coords, norms2, up = features
    out["descriptors"][dest] = desc
    out["coords"][:, :, dest] = coords
    out["norms2"][dest] = norms2
    out["up"][dest] = up


def _as_bases(projection) -> Bases | None:
    if projection is None or projection is False:
        return None
    if isinstance(projection, Bases):
        return projection
    basis, mean = projection
    return Bases(basis, mean)


def _finish(out: dict, bits, pose_ids, image_ids, folder_ids, generation, projection) -> DescriptorIndex:
    """The index of rows already sorted by presence bits: pattern table, projections (carried in `out` by a
    merge, else computed on `projection`'s bases or, past MIN_PROJECTION_ROWS, on the rows' own)."""
    uniq, starts = np.unique(bits, return_index=True)
    patterns = ((uniq[:, None] >> np.arange(K, dtype=np.int64)) & 1).astype(bool)
    starts = np.append(starts, len(bits)).astype(np.int64)
    desc = out["descriptors"]
    bases = None if projection is False else _as_bases(projection)
    carried = {name: out.pop(name) for name in ("proj", "proj_norms2", "mask_proj", "mask_norms2") if name in out}
    # small libraries scan everything faster than they would prune (search runs without a projection)
    fields: dict = {}
    if bases is None and projection is not False and len(desc) >= MIN_PROJECTION_ROWS:
        basis, mean, proj, proj_norms2 = principal_projection(desc)
        bases = Bases(basis, mean)
        carried = {"proj": proj, "proj_norms2": proj_norms2}
    if bases is not None:
        fields.update(basis=bases.basis, mean=bases.mean)
        if "proj" in carried:
            fields.update(proj=carried["proj"], proj_norms2=carried["proj_norms2"])
        else:
            fields.update(zip(("proj", "proj_norms2"), project(desc, bases.basis, bases.mean)))
        if "mask_proj" in carried and bases.masks is not None:
            mp = partial.MaskedProjection(*bases.masks, carried["mask_proj"], carried["mask_norms2"])
        else:
            mp = partial.masked_projection(desc, out["coords"], patterns, starts, bases.masks, sample_rows=_PCA_SAMPLE, chunk=_CHUNK)
        fields.update(mask_joints=mp.joints, mask_basis=mp.basis, mask_mean=mp.mean, mask_proj=mp.proj,
                      mask_norms2=mp.norms2)  # fmt: skip
    return DescriptorIndex(
        **out,
        **fields,
        patterns=patterns,
        starts=starts,
        pose_ids=pose_ids,
        image_ids=image_ids,
        folder_ids=folder_ids,
        generation=int(generation),
    )


def merge_indexes(parts: list[tuple[DescriptorIndex, np.ndarray | None]], generation: int, project: bool = True) -> DescriptorIndex:
    """One index of the rows of several (index, alive mask or None = every row) parts, rows re-sorted; the
    first part's projection bases are kept and the rows' projections carried over, not recomputed (parts
    without projections, small segments, are projected on those bases first); a library that has grown
    past MIN_PROJECTION_ROWS gets its principal components. project=False: no projections (a segment).
    Chunked: besides the result it holds O(N) vectors and one chunk."""
    if not project:
        parts = [(_unprojected(ix), alive) for ix, alive in parts]
    elif parts:
        first_bases = parts[0][0].bases()
        if first_bases is not None:
            parts = [parts[0]] + [(projected(ix, first_bases), alive) for ix, alive in parts[1:]]
    picks = [np.arange(len(ix)) if alive is None else np.flatnonzero(alive) for ix, alive in parts]
    bit_table = [ix.patterns.astype(np.int64) @ (np.int64(1) << np.arange(K, dtype=np.int64)) for ix, _ in parts]
    bits = np.concatenate([bt[ix.pattern_of_rows()[r]] for bt, (ix, _), r in zip(bit_table, parts, picks)])
    pose_ids = np.concatenate([ix.pose_ids[r] for (ix, _), r in zip(parts, picks)])
    order = np.lexsort((pose_ids, bits))
    place = np.empty(len(order), dtype=np.int64)
    place[order] = np.arange(len(order))
    n = len(order)
    out = _empty_arrays(n)
    first = parts[0][0] if parts else None
    bases = None if first is None else first.bases()
    # the projections carried over: (proj, proj_norms2) and (mask_proj, mask_norms2) of each part, or None
    projs = [(ix.proj, ix.proj_norms2) for ix, _ in parts]
    carried = [(a, b) for a, b in projs if a is not None and b is not None] if bases is not None else []
    if len(carried) != len(parts):
        carried = []
    masked = [ix.masked() for ix, _ in parts]
    carried_masks = [(m[3], m[4]) for m in masked if m is not None] if carried and bases and bases.masks else []
    if len(carried_masks) != len(parts):
        carried_masks = []
    if carried and bases is not None:
        out["proj"] = np.empty((bases.basis.shape[1], n), np.float32)
        out["proj_norms2"] = np.empty(n)
    if carried_masks:
        m_count, dims = carried_masks[0][0].shape[:2]
        out["mask_proj"] = np.empty((m_count, dims, n), np.float32)
        out["mask_norms2"] = np.empty((m_count, n))
    image_ids = np.empty(n, np.int64)
    folder_ids = np.empty(n, np.int64)
    offset = 0
    for i, ((ix, _), rows) in enumerate(zip(parts, picks)):
        for a in range(0, len(rows), _CHUNK):
            r = rows[a : a + _CHUNK]
            dest = place[offset + a : offset + a + len(r)]
            _put(out, dest, (ix.descriptors[r], ix.coords[:, :, r], ix.norms2[r], ix.up[r]))
            image_ids[dest] = ix.image_ids[r]
            folder_ids[dest] = ix.folder_ids[r]
            if carried:
                out["proj"][:, dest] = carried[i][0][:, r]
                out["proj_norms2"][dest] = carried[i][1][r]
            if carried_masks:
                out["mask_proj"][:, :, dest] = carried_masks[i][0][:, :, r]
                out["mask_norms2"][:, dest] = carried_masks[i][1][:, r]
        offset += len(rows)
    return _finish(out, bits[order], pose_ids[order], image_ids, folder_ids, generation, bases if project else False)


_PROJECTED_FIELDS = ("basis", "mean", "proj", "proj_norms2", "mask_joints", "mask_basis", "mask_mean", "mask_proj", "mask_norms2")


def with_masks(index: DescriptorIndex) -> DescriptorIndex:
    """A projected index without masked projections (a format 4 cache) with them: masks fitted to its rows."""
    mp = partial.masked_projection(index.descriptors, index.coords, index.patterns, index.starts, sample_rows=_PCA_SAMPLE, chunk=_CHUNK)
    return dataclasses.replace(index, mask_joints=mp.joints, mask_basis=mp.basis, mask_mean=mp.mean, mask_proj=mp.proj,
                               mask_norms2=mp.norms2)  # fmt: skip


def _unprojected(index: DescriptorIndex) -> DescriptorIndex:
    return index if index.proj is None else dataclasses.replace(index, **dict.fromkeys(_PROJECTED_FIELDS))


def projected(index: DescriptorIndex, bases: Bases) -> DescriptorIndex:
    """The index with its rows projected on these bases (itself when they are its own)."""
    if index.basis is bases.basis and (bases.masks is None or index.mask_basis is bases.masks[1]):
        return index
    proj, proj_norms2 = project(index.descriptors, bases.basis, bases.mean)
    fields = {"basis": bases.basis, "mean": bases.mean, "proj": proj, "proj_norms2": proj_norms2}
    if bases.masks is not None:
        mp = partial.masked_projection(index.descriptors, index.coords, index.patterns, index.starts, bases.masks, chunk=_CHUNK)
        fields.update(mask_joints=mp.joints, mask_basis=mp.basis, mask_mean=mp.mean, mask_proj=mp.proj, mask_norms2=mp.norms2)
    return dataclasses.replace(index, **fields)


def principal_projection(desc: np.ndarray, dims: int = PROJECTION_DIMS, seed: int = 0):
    """(basis (300, dims) float32 with orthonormal columns, mean (300,) float32, projections (dims, N)
    float32 = ((D - mean) @ basis).T (component-major: a search reads each component contiguously), their
    squared norms (N,) float64): the principal components of a sample of the rows (zero columns where the
    sample has fewer). Computed in float64 from the float32 basis and mean that are stored, so that search
    can bound its own rounding."""
    n, d = desc.shape
    basis64 = np.zeros((d, dims))
    mean64 = np.zeros(d)
    if n:
        rng = np.random.default_rng(seed)
        sample = np.asarray(desc[np.sort(rng.choice(n, size=min(n, _PCA_SAMPLE), replace=False))], dtype=np.float64)
        mean64 = sample.mean(axis=0)
        centred = sample - mean64
        top = np.linalg.eigh(centred.T @ centred)[1][:, ::-1][:, :dims]  # the covariance's leading eigenvectors
        basis64[:, : top.shape[1]] = top
    basis = basis64.astype(np.float32)
    mean = mean64.astype(np.float32)
    return (basis, mean, *project(desc, basis, mean))


def project(desc: np.ndarray, basis: np.ndarray, mean: np.ndarray):
    """(projections (dims, N) float32 = ((D - mean) @ basis).T, their squared norms (N,) float64), in float64
    from the float32 basis and mean."""
    basis64, mean64 = basis.astype(np.float64), mean.astype(np.float64)
    n = len(desc)
    proj = np.empty((basis.shape[1], n), dtype=np.float32)
    norms2 = np.empty(n)
    for a in range(0, n, _CHUNK):
        x = desc[a : a + _CHUNK].astype(np.float64) - mean64
        # a few rows (an update): einsum, as a BLAS call's thread synchronisation costs more than the product
        z = (np.einsum("ij,jk->ik", x, basis64) if n < _SMALL_PRODUCT else x @ basis64).T
        proj[:, a : a + _CHUNK] = z
        z32 = proj[:, a : a + _CHUNK].astype(np.float64)
        norms2[a : a + _CHUNK] = np.einsum("ij,ij->j", z32, z32)
    return proj, norms2


_MASK_FIELDS = ("mask_joints", "mask_basis", "mask_mean", "mask_proj", "mask_norms2")


def _identity(path: Path) -> np.ndarray:
    st = path.stat()
    return np.array([st.st_ino, st.st_size, st.st_mtime_ns], dtype=np.int64)


def save_index(index: DescriptorIndex, folder: Path) -> None:
    """Write the cache files into the library folder atomically (descriptors first, the npz last)."""
    folder = Path(folder)
    with atomic_open(folder / DESCRIPTORS_FILE, "wb") as f:
        np.save(f, np.ascontiguousarray(index.descriptors, dtype=np.float32))
    ident = _identity(folder / DESCRIPTORS_FILE)  # the npz names the descriptors file it goes with
    with atomic_open(folder / INDEX_FILE, "wb") as f:
        np.savez(
            f,
            format=np.int64(CACHE_FORMAT),
            generation=np.int64(index.generation),
            descriptors_identity=ident,
            coords=index.coords,
            **({} if index.proj is None else {
                "basis": index.basis, "mean": index.mean, "proj": index.proj, "proj_norms2": index.proj_norms2,
            }),
            **({} if index.mask_proj is None else {name: getattr(index, name) for name in _MASK_FIELDS}),
            # fmt: skip
            norms2=index.norms2,
            up=index.up,
            patterns=index.patterns,
            starts=index.starts,
            pose_ids=index.pose_ids,
            image_ids=index.image_ids,
            folder_ids=index.folder_ids,
            id_order=index.id_order(),
        )


def load_index(folder: Path, generation: int | None = None) -> DescriptorIndex | None:
    """The cache of the library folder if it is present, readable and built from `generation` (None: from
    any generation, which the index records); else None."""
    folder = Path(folder)
    desc_path, index_path = folder / DESCRIPTORS_FILE, folder / INDEX_FILE
    try:
        with np.load(index_path, allow_pickle=False) as z:
            stored = int(z["generation"])
            if int(z["format"]) not in READ_FORMATS or (generation is not None and stored != int(generation)):
                return None
            ident = z["descriptors_identity"]
            arrays = {
                name: z[name]
                for name in ("coords", "norms2", "up", "patterns", "starts", "pose_ids", "image_ids", "folder_ids", "id_order")
            }
            if "proj" in z.files:
                arrays.update({name: z[name] for name in ("basis", "mean", "proj", "proj_norms2")})
            if "mask_proj" in z.files:
                arrays.update({name: z[name] for name in _MASK_FIELDS})
        if not np.array_equal(_identity(desc_path), ident):
            return None
        desc = np.load(desc_path, mmap_mode="r", allow_pickle=False)
        if not np.array_equal(_identity(desc_path), ident):
            return None
    except (OSError, ValueError, KeyError, EOFError, TypeError):
        return None
    n = len(arrays["pose_ids"])
    if (
        desc.dtype != np.float32
        or desc.shape != (n, len(PAIRS))
        or arrays["coords"].shape != (K, 2, n)
        or arrays["patterns"].shape[1:] != (K,)
        or int(arrays["starts"][-1]) != n
        or ("proj" in arrays and arrays["proj"].shape != (arrays["basis"].shape[1], n))
        or ("mask_proj" in arrays and "proj" not in arrays)
        or ("mask_proj" in arrays and (
            arrays["mask_proj"].shape != (len(arrays["mask_joints"]), arrays["mask_basis"].shape[2], n)
            or arrays["mask_norms2"].shape != (len(arrays["mask_joints"]), n)
        ))
        or arrays["id_order"].shape != (n,)
    ):
        return None
    # a plain ndarray view of the mapping (np.memmap's slicing overhead is paid on every block of a search)
    id_order = arrays.pop("id_order")
    if n and (id_order.min() < 0 or id_order.max() >= n or np.any(np.diff(arrays["pose_ids"][id_order]) <= 0)):
        return None
    return DescriptorIndex(descriptors=np.asarray(desc), generation=stored, _id_order=id_order, **arrays)


def saved_generation(folder: Path) -> int | None:
    """The generation of the cache saved in the library folder (its small entries only), None when there is
    none that matches its descriptors.npy."""
    folder = Path(folder)
    try:
        with np.load(folder / INDEX_FILE, allow_pickle=False) as z:
            if int(z["format"]) not in READ_FORMATS:
                return None
            gen, ident = int(z["generation"]), z["descriptors_identity"]
        return gen if np.array_equal(_identity(folder / DESCRIPTORS_FILE), ident) else None
    except (OSError, ValueError, KeyError, EOFError, TypeError):
        return None


def remove_cache(folder: Path) -> None:
    for name in (DESCRIPTORS_FILE, INDEX_FILE):
        try:
            (Path(folder) / name).unlink()
        except FileNotFoundError:
            pass
