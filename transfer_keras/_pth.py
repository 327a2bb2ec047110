"""Reads a legacy (pre-zip) PyTorch state dict with NumPy, never running its code.

A `.pth` file is a pickle, and a pickle is a program: `pickle.load` may import
and call anything the file names. This reader admits only the handful of
globals a plain state dict of tensors needs, each replaced by a harmless
stand-in, and refuses everything else. Check the file's sha256 before reading
it (`read_state_dict(path, sha256=...)` does).

The legacy format (what `torch.save` wrote before PyTorch 1.6) is five
records in a row: a magic number, a protocol version, system information
(three small pickles), then the state dict (a pickle whose tensors point at
storages by key), the list of storage keys, and for each key a little-endian
int64 element count followed by the raw little-endian values.
"""

import collections
import hashlib
import io
import pickle
from pathlib import Path

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

# The storage classes a state dict may hold, as the NumPy dtype of their values.
STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
}


class UnsafePickleError(pickle.UnpicklingError):
    """The file asks for something a state dict of tensors never needs."""


class _Storage:
    """Stands in for `torch.FloatStorage` etc.: only its value type is kept."""

    def __init__(self, name):
        self.dtype = STORAGE_DTYPES[name]


class _TensorRef:
    """What `torch._utils._rebuild_tensor_v2` would rebuild, as plain data."""

    def __init__(self, storage, offset, size, stride, *unused):
        self.storage, self.offset = storage, int(offset)
        self.size, self.stride = tuple(size), tuple(stride)


class _StorageRef:
    """A storage named by the state dict (`BINPERSID`): its key and value type."""

    def __init__(self, key, dtype, numel):
        self.key, self.dtype, self.numel = str(key), dtype, int(numel)


class _RestrictedUnpickler(pickle.Unpickler):
    """Admits only `OrderedDict`, `_rebuild_tensor_v2` and the storage classes."""

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _TensorRef
        if module == "torch" and name in STORAGE_DTYPES:
            return _Storage(name)
        raise UnsafePickleError(
            f"The file asks for {module}.{name}, which a state dict of tensors never "
            f"needs; it is refused (a pickle can run code). Use a genuine weights file.")

    def persistent_load(self, saved_id):
        if not (isinstance(saved_id, tuple) and len(saved_id) == 6
                and saved_id[0] in ("storage", b"storage")
                and isinstance(saved_id[1], _Storage)):
            raise UnsafePickleError(f"Unexpected storage record {saved_id!r:.80}.")
        _, storage_type, key, _location, numel, view = saved_id
        if view is not None:
            raise UnsafePickleError("Storage views are not supported.")
        return _StorageRef(key, storage_type.dtype, numel)


def _load(stream, what):
    try:
        return _RestrictedUnpickler(stream).load()
    except UnsafePickleError:
        raise
    except Exception as error:  # truncated or not a pickle at all
        raise ValueError(f"Cannot read the {what} of the state dict: "
                         f"{type(error).__name__}: {error}. The file is damaged or "
                         f"not a legacy PyTorch file.") from None


def sha256_of(path):
    """The hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(2**20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_state_dict(path, sha256=None):
    """Reads a legacy PyTorch state dict into NumPy arrays, running none of its code.

    Args:
        path: the `.pth` file.
        sha256: the hex digest the file must have, checked before anything is
            unpickled. Defaults to `None` (not checked: only for files you made).

    Returns:
        An `OrderedDict` of parameter name -> `np.ndarray`.

    Raises:
        ValueError: wrong checksum, truncated or damaged file, or not the legacy format.
        UnsafePickleError: the pickle names a global outside the allowed few.
    """
    path = Path(path)
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest() if sha256 is not None else None
    if digest != sha256:
        raise ValueError(
            f"{path} has sha256 {digest}, not the expected {sha256}: it is damaged or "
            f"another file. Reinstall the package that ships it.")
    stream = io.BytesIO(data)
    header = [_load(stream, "header") for _ in range(3)]
    if header[0] != LEGACY_MAGIC or header[1] != LEGACY_PROTOCOL:
        raise ValueError(f"{path} is not a legacy PyTorch file (magic {header[0]!r}).")
    tree = _load(stream, "tensors")
    keys = _load(stream, "storage keys")
    if not isinstance(tree, dict) or not isinstance(keys, list):
        raise ValueError(f"{path} does not hold a state dict of tensors.")
    storages = {}
    refs = {ref.storage.key: ref.storage for ref in tree.values()
            if isinstance(ref, _TensorRef)}
    for key in keys:
        if key not in refs:
            raise ValueError(f"{path}: storage {key!r} is listed but never used.")
        count = np.frombuffer(stream.read(8), "<i8")
        dtype = refs[key].dtype
        raw = stream.read(int(count[0]) * dtype.itemsize) if count.size else b""
        if not count.size or len(raw) != count[0] * dtype.itemsize:
            raise ValueError(f"{path} is truncated: storage {key!r} is incomplete.")
        storages[key] = np.frombuffer(raw, dtype)
    arrays = collections.OrderedDict()
    for name, ref in tree.items():
        if not isinstance(ref, _TensorRef) or ref.storage.key not in storages:
            raise ValueError(f"{path}: entry {name!r} is not a stored tensor.")
        values = storages[ref.storage.key]
        strides = tuple(step * values.itemsize for step in ref.stride)
        end = ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride)) + 1
        if ref.offset < 0 or min(ref.size, default=1) > 0 and end > values.size:
            raise ValueError(f"{path}: tensor {name!r} reaches past its storage.")
        arrays[name] = np.lib.stride_tricks.as_strided(
            values[ref.offset:], ref.size, strides).copy()
    return arrays
