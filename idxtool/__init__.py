"""idxtool: read, write, fetch, verify and convert IDX files (MNIST and family).

The public API::

    idxtool.read(path) -> numpy.ndarray
    idxtool.write(path, array, compression=None)
    idxtool.open_idx(path) -> IdxFile   # header only; .chunks(), .read(), .memmap()
    idxtool.load(name, dir=None)        # fetch a registered dataset if needed, return arrays
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from .errors import (
    ChecksumError,
    DataError,
    DownloadError,
    IdxError,
    InputNotFoundError,
    InvalidIdxError,
    ManifestError,
    OutputError,
    OutputExistsError,
    UnknownDatasetError,
    UsageError,
    VerificationError,
)
from .idx import Header, IdxFile, open_idx, read, write


def load(name: str, dir: str | os.PathLike[str] | None = None) -> Any:
    """Fetch the registered dataset ``name`` if needed and return its arrays, split by split.

    ``(x_train, y_train), (x_test, y_test) = idxtool.load("fashion-mnist")``
    """
    from .fetch import load as _load

    return _load(name, dir)


try:
    __version__ = version("idxtool")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "ChecksumError",
    "DataError",
    "DownloadError",
    "Header",
    "IdxError",
    "IdxFile",
    "InputNotFoundError",
    "InvalidIdxError",
    "ManifestError",
    "OutputError",
    "OutputExistsError",
    "UnknownDatasetError",
    "UsageError",
    "VerificationError",
    "load",
    "open_idx",
    "read",
    "write",
]
