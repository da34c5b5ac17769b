"""descriptors.npy: the derived descriptor cache of a library, built from SQLite, stored beside it, mmapped.

Files: `descriptors.npy` (N x 300 float32, the paper's descriptors, mmapped for search) and
`descriptors.index.npz` (pose/image/folder ids, presence patterns, normalised coordinates, norms, torso up
vectors, a 16-dimensional principal-component projection of the descriptors, the SQLite generation they
were built from, and the identity (inode, size, mtime) of the
descriptors.npy they belong to). Both are written to temporary names and renamed, the npz last; a cache
whose generation differs from SQLite's, or whose files do not match, is stale and is rebuilt. Readers that
cannot write keep the rebuilt cache in memory.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from posefinder.models import skeleton
from posefinder.models.atomic import atomic_open
from posefinder.models.descriptor import MIN_QUERY_JOINTS, PAIRS
from posefinder.models.library.search import DescriptorIndex

DESCRIPTORS_FILE = "descriptors.npy"
INDEX_FILE = "descriptors.index.npz"
CACHE_FORMAT = 3
#: Dimensions of the principal-component projection kept for pruning (search.py): 64 bytes a row.
PROJECTION_DIMS = 16
#: Libraries with fewer entries get no projection.
MIN_PROJECTION_ROWS = 1024
_PCA_SAMPLE = 20_000
_CHUNK = 16384
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
    """(longest side of the keypoint box (n,), present (n, 25)) of float64 keypoints (n, 25, 3)."""
    present = kp[:, :, 2] > 0
    xy = kp[:, :, :2]
    lo = np.where(present[:, :, None], xy, np.inf).min(axis=1)
    hi = np.where(present[:, :, None], xy, -np.inf).max(axis=1)
    with np.errstate(invalid="ignore"):
        scale = np.nan_to_num(hi - lo, nan=0.0, posinf=0.0, neginf=0.0).max(axis=1)
    return scale, present


def build_index(
    pose_ids: np.ndarray,
    image_ids: np.ndarray,
    folder_ids: np.ndarray,
    keypoints: np.ndarray,
    generation: int = -1,
) -> DescriptorIndex:
    """The DescriptorIndex of poses given as (N, 25, 3) keypoints [x, y, v]; poses with fewer than 3 present
    keypoints or no extent are left out (nothing can be compared with them). Works in chunks: besides the
    result it holds only the input and O(N) vectors."""
    keypoints = np.asarray(keypoints).reshape(-1, K, 3)
    n_all = len(keypoints)
    pose_ids = np.asarray(pose_ids, dtype=np.int64)
    bits = np.empty(n_all, dtype=np.int64)
    keep = np.empty(n_all, dtype=bool)
    weights = np.int64(1) << np.arange(K, dtype=np.int64)
    for a in range(0, n_all, _CHUNK):
        scale, present = _scale_and_present(keypoints[a : a + _CHUNK].astype(np.float64))
        bits[a : a + _CHUNK] = present.astype(np.int64) @ weights
        keep[a : a + _CHUNK] = (present.sum(axis=1) >= MIN_QUERY_JOINTS) & (scale > 0)

    # sort rows by presence pattern, then pose id
    kept = np.flatnonzero(keep)
    order = kept[np.lexsort((pose_ids[kept], bits[kept]))]
    bits = bits[order]
    uniq, starts = np.unique(bits, return_index=True)
    patterns = ((uniq[:, None] >> np.arange(K, dtype=np.int64)) & 1).astype(bool)
    starts = np.append(starts, len(bits)).astype(np.int64)

    n = len(order)
    desc = np.empty((n, len(PAIRS)), dtype=np.float32)
    coords = np.empty((K, 2, n), dtype=np.float32)  # joint-major: search reduces over joints elementwise
    norms2 = np.empty(n, dtype=np.float64)
    up = np.empty((n, 2), dtype=np.float32)
    for a in range(0, n, _CHUNK):
        kp = keypoints[order[a : a + _CHUNK]].astype(np.float64)
        scale, present = _scale_and_present(kp)
        xy = kp[:, :, :2]
        count = present.sum(axis=1)
        centroid = (xy * present[:, :, None]).sum(axis=1) / np.maximum(count, 1)[:, None]
        c = np.where(present[:, :, None], (xy - centroid[:, None, :]) / scale[:, None, None], 0.0)
        dx = c[:, PAIRS[:, 0], 0] - c[:, PAIRS[:, 1], 0]
        dy = c[:, PAIRS[:, 0], 1] - c[:, PAIRS[:, 1], 1]
        d = np.sqrt(dx * dx + dy * dy)
        d = np.where(present[:, PAIRS[:, 0]] & present[:, PAIRS[:, 1]], d, 0.0).astype(np.float32)
        desc[a : a + _CHUNK] = d
        d64 = d.astype(np.float64)
        norms2[a : a + _CHUNK] = np.einsum("ij,ij->i", d64, d64)
        coords[:, :, a : a + _CHUNK] = c.transpose(1, 2, 0)
        up[a : a + _CHUNK] = _torso_up_many(xy, present)
    # small libraries scan everything faster than they would prune (search.py runs without a projection)
    basis = mean = proj = proj_norms2 = None
    if n >= MIN_PROJECTION_ROWS:
        basis, mean, proj, proj_norms2 = principal_projection(desc)
    return DescriptorIndex(
        descriptors=desc,
        basis=basis,
        mean=mean,
        proj=proj,
        proj_norms2=proj_norms2,
        coords=coords,
        norms2=norms2,
        up=up,
        patterns=patterns,
        starts=starts,
        pose_ids=pose_ids[order],
        image_ids=np.asarray(image_ids, dtype=np.int64)[order],
        folder_ids=np.asarray(folder_ids, dtype=np.int64)[order],
        generation=int(generation),
    )


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
    basis64, mean64 = basis.astype(np.float64), mean.astype(np.float64)
    proj = np.empty((dims, n), dtype=np.float32)
    norms2 = np.empty(n)
    for a in range(0, n, _CHUNK):
        z = ((desc[a : a + _CHUNK].astype(np.float64) - mean64) @ basis64).T
        proj[:, a : a + _CHUNK] = z
        z32 = proj[:, a : a + _CHUNK].astype(np.float64)
        norms2[a : a + _CHUNK] = np.einsum("ij,ij->j", z32, z32)
    return basis, mean, proj, norms2


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
            }),  # fmt: skip
            norms2=index.norms2,
            up=index.up,
            patterns=index.patterns,
            starts=index.starts,
            pose_ids=index.pose_ids,
            image_ids=index.image_ids,
            folder_ids=index.folder_ids,
        )


def load_index(folder: Path, generation: int) -> DescriptorIndex | None:
    """The cache of the library folder if it is present, readable and built from `generation`; else None."""
    folder = Path(folder)
    desc_path, index_path = folder / DESCRIPTORS_FILE, folder / INDEX_FILE
    try:
        with np.load(index_path, allow_pickle=False) as z:
            if int(z["format"]) != CACHE_FORMAT or int(z["generation"]) != int(generation):
                return None
            ident = z["descriptors_identity"]
            arrays = {
                name: z[name]
                for name in ("coords", "norms2", "up", "patterns", "starts", "pose_ids", "image_ids", "folder_ids")
            }
            if "proj" in z.files:
                arrays.update({name: z[name] for name in ("basis", "mean", "proj", "proj_norms2")})
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
    ):
        return None
    # a plain ndarray view of the mapping (np.memmap's slicing overhead is paid on every block of a search)
    return DescriptorIndex(descriptors=np.asarray(desc), generation=int(generation), **arrays)


def remove_cache(folder: Path) -> None:
    for name in (DESCRIPTORS_FILE, INDEX_FILE):
        try:
            (Path(folder) / name).unlink()
        except FileNotFoundError:
            pass
