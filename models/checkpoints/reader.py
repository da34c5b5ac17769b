"""A restricted reader of PyTorch zip checkpoints (Lightning .ckpt files) that needs no torch.

A checkpoint is a zip holding `<archive>/data.pkl` (a pickle) and `<archive>/data/<key>` (raw storage
bytes). The pickle is read by an Unpickler whose find_class knows only:
- the torch storage classes (-> numpy dtypes) and torch._utils._rebuild_tensor_v2 / _rebuild_parameter,
  which become LazyArray records (storage, offset, shape, strides): nothing is read until .numpy();
- collections.OrderedDict, and _codecs.encode for protocol-2 bytes;
- every other global becomes an inert stand-in class: built by NEWOBJ (how argparse.Namespace, EasyDict
  and Lightning callbacks are pickled) it records its items and state as plain data, and it can be a dict
  key (Lightning keys callbacks by class). Calling one (REDUCE) raises CheckpointError, as does any
  global from a module that runs code (os, subprocess, builtins, ...). So nothing from the file runs.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from posefinder.models.errors import ModelError


class CheckpointError(ModelError):
    """A checkpoint that cannot be read safely or does not hold what it should."""


#: torch storage class name -> numpy dtype
STORAGE_DTYPES: dict[str, str] = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "BFloat16Storage": "<u2",
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1",
    "ByteStorage": "u1", "BoolStorage": "?",
}  # fmt: skip

#: Modules whose globals would run code if called: refused outright, even as stand-ins.
REFUSED_MODULES = ("os", "posix", "nt", "subprocess", "sys", "builtins", "__builtin__", "shutil", "socket",
                   "importlib", "runpy", "pickle", "marshal", "ctypes", "code", "pty", "webbrowser",
                   "multiprocessing", "operator", "functools", "types", "io", "pathlib", "codecs", "eval")  # fmt: skip


class LazyStorage:
    """A storage of the checkpoint: its zip member, element type and element count (read on demand)."""

    def __init__(self, reader: "CheckpointReader", key: str, dtype: np.dtype, numel: int) -> None:
        self.reader, self.key, self.dtype, self.numel = reader, key, dtype, numel
        self._data: np.ndarray | None = None

    def array(self) -> np.ndarray:
        if self._data is None:
            self._data = self.reader.storage_bytes(self.key, self.dtype, self.numel)
        return self._data

    def release(self) -> None:
        self._data = None


@dataclass
class LazyArray:
    """A tensor of the checkpoint: a strided view of a storage, copied out by numpy()."""

    storage: LazyStorage
    offset: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]

    @property
    def dtype(self) -> np.dtype:
        return self.storage.dtype

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def numpy(self) -> np.ndarray:
        flat = self.storage.array()
        if self.size == 0:
            return np.zeros(self.shape, self.dtype)
        last = self.offset + sum((n - 1) * s for n, s in zip(self.shape, self.strides))
        if self.offset < 0 or last >= flat.size or any(s < 0 for s in self.strides):
            raise CheckpointError(f"{self.storage.reader.name}: tensor in storage {self.storage.key} lies outside it")
        item = flat.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset :], self.shape, tuple(s * item for s in self.strides), writeable=False
        )
        return np.array(view, copy=True)


class Inert(dict):
    """Base of the stand-ins for a pickle's unknown globals: plain data, never called."""

    __slots__ = ("state",)
    qualname = "?"

    def __new__(cls, *args, **kwargs):  # NEWOBJ: the args are ignored (inert)
        obj = super().__new__(cls)
        obj.state = None
        return obj

    def __init__(self, *args, **kwargs) -> None:  # only a call (REDUCE) runs __init__
        raise CheckpointError(f"the pickle calls {type(self).qualname}(...), which a weights file never needs")

    def __setstate__(self, state) -> None:
        self.state = state

    def __getattr__(self, name: str):
        """Attribute reads as on the original (argparse.Namespace, EasyDict): from the state, then items."""
        state = object.__getattribute__(self, "state")
        if isinstance(state, tuple) and len(state) == 2:  # (dict state, slot state)
            state = {**(state[0] or {}), **(state[1] or {})}
        if isinstance(state, dict) and name in state:
            return state[name]
        if name in self:
            return self[name]
        raise AttributeError(name)

    def get_path(self, *names: str, default: Any = None) -> Any:
        obj: Any = self
        for name in names:
            obj = lookup(obj, name)
            if obj is None:
                return default
        return obj


def lookup(obj: Any, name: str) -> Any:
    """obj.name or obj[name] of plain data or a stand-in; None when absent."""
    if isinstance(obj, Inert):
        try:
            return getattr(obj, name)
        except AttributeError:
            return None
    if isinstance(obj, dict):
        return obj.get(name)
    return None


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    if not isinstance(storage, LazyStorage):
        raise CheckpointError("a tensor is rebuilt from something that is not a storage")
    return LazyArray(storage, int(storage_offset), tuple(int(n) for n in size), tuple(int(s) for s in stride))


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *rest):
    if not isinstance(data, LazyArray):
        raise CheckpointError("a parameter is rebuilt from something that is not a tensor")
    return data


def _codecs_encode(text, encoding="latin1"):
    if not isinstance(text, str) or encoding != "latin1":
        raise CheckpointError("the pickle encodes bytes in an unexpected way")
    return text.encode("latin1")


class _Dict(dict):
    """collections.OrderedDict's stand-in: a plain dict that ignores its attributes (state_dict._metadata)."""

    def __setstate__(self, state) -> None:
        pass


class _StorageType:
    def __init__(self, name: str) -> None:
        self.name, self.dtype = name, np.dtype(STORAGE_DTYPES[name])


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], reader: "CheckpointReader") -> None:
        super().__init__(file)
        self.reader = reader
        self.standins: dict[str, type] = {}

    def find_class(self, module: str, name: str):
        full = f"{module}.{name}"
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        if full == "torch._utils._rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if full == "torch._utils._rebuild_parameter":
            return _rebuild_parameter
        if full == "collections.OrderedDict":
            return _Dict
        if full == "_codecs.encode":
            return _codecs_encode
        root = module.split(".")[0]
        if root in REFUSED_MODULES or module in REFUSED_MODULES or root == "torch" or name.startswith("__"):
            raise CheckpointError(f"{self.reader.name}: the pickle refers to {full}, which could run code; refused")
        if full not in self.standins:
            self.standins[full] = type(name, (Inert,), {"__slots__": (), "qualname": full, "__module__": module})
        return self.standins[full]

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise CheckpointError(f"{self.reader.name}: unknown persistent record in the pickle")
        storage_type, key, _location, numel = pid[1], str(pid[2]), pid[3], int(pid[4])
        if isinstance(storage_type, _StorageType):
            dtype = storage_type.dtype
        else:
            raise CheckpointError(f"{self.reader.name}: storage {key} has an unknown element type")
        return self.reader.storage(key, dtype, numel)


class CheckpointReader:
    """Reads one checkpoint (a seekable binary file) safely; name is how messages name it."""

    def __init__(self, file: IO[bytes], name: str) -> None:
        self.name = name
        try:
            self.zip = zipfile.ZipFile(file)
            names = self.zip.namelist()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise CheckpointError(f"{name}: not a readable checkpoint (truncated or not a zip: {exc})") from None
        pkl = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            if any(n.endswith(".pkl") or n == "data.pkl" for n in names):
                raise CheckpointError(f"{name}: unexpected checkpoint layout (one <archive>/data.pkl expected)")
            raise CheckpointError(f"{name}: not a PyTorch checkpoint (no data.pkl in the zip)")
        self.prefix = pkl[0][: -len("data.pkl")]
        self._storages: dict[str, LazyStorage] = {}

    def load(self) -> Any:
        """The checkpoint's object, with tensors as LazyArray and unknown globals as Inert stand-ins."""
        try:
            data = self.zip.read(self.prefix + "data.pkl")
        except (zipfile.BadZipFile, OSError, EOFError, KeyError, ValueError) as exc:
            raise CheckpointError(f"{self.name}: data.pkl unreadable (truncated zip? {exc})") from None
        try:
            return _Unpickler(io.BytesIO(data), self).load()
        except CheckpointError as exc:
            if str(exc).startswith(f"{self.name}: "):
                raise
            raise CheckpointError(f"{self.name}: {exc}") from None
        except Exception as exc:  # a broken pickle raises anything from UnpicklingError to IndexError
            raise CheckpointError(f"{self.name}: broken pickle ({type(exc).__name__}: {str(exc)[:120]})") from None

    def storage(self, key: str, dtype: np.dtype, numel: int) -> LazyStorage:
        if key not in self._storages:
            self._storages[key] = LazyStorage(self, key, dtype, numel)
        return self._storages[key]

    def storage_bytes(self, key: str, dtype: np.dtype, numel: int) -> np.ndarray:
        member = f"{self.prefix}data/{key}"
        try:
            raw = self.zip.read(member)
        except KeyError:
            raise CheckpointError(f"{self.name}: storage {member} is missing from the zip") from None
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise CheckpointError(f"{self.name}: storage {member} unreadable (truncated zip? {exc})") from None
        if len(raw) < numel * dtype.itemsize:
            raise CheckpointError(f"{self.name}: storage {member} is shorter than its {numel} elements")
        return np.frombuffer(raw, dtype=dtype, count=numel)


def read_checkpoint(file: IO[bytes], name: str) -> tuple[CheckpointReader, Any]:
    """(reader, object) of a checkpoint: nothing of its tensors is read until LazyArray.numpy()."""
    reader = CheckpointReader(file, name)
    return reader, reader.load()
