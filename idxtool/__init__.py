"""idxtool: read, write, fetch, verify and convert IDX files (MNIST and family).

The public API::

    idxtool.read(source) -> numpy.ndarray
    idxtool.write(path, array, compression=None)
    idxtool.open_idx(source) -> IdxFile      # header only; .chunks(), .read(), .memmap()
    idxtool.load(name, dir=None, *, normalize=False, flatten=False, one_hot=False, extended=False)
    idxtool.fetch(*names, dir=None, ...)     idxtool.verify(*targets, dir=None, strict=False)
    idxtool.convert(inputs, to=..., out=...) idxtool.split(inputs, out, ratio=...)
    idxtool.export_png(inputs, out, ...)     idxtool.resolve(word)
    idxtool.MNIST(root, train=True, transform=None, target_transform=None, download=False)
    (also FashionMNIST, KMNIST, EMNIST(root, split), QMNIST(root, what, compat): torchvision's face)

Names are loaded on first use, so ``import idxtool`` (and the command line's start-up) stays
fast. Every error is an :class:`IdxError` and also the matching built-in exception.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import (
    ChecksumError,
    DataError,
    DownloadError,
    IdxError,
    InputNotFoundError,
    InvalidIdxError,
    ManifestError,
    MissingDependencyError,
    OutputError,
    OutputExistsError,
    ParameterError,
    RecordIndexError,
    UnknownDatasetError,
    UsageError,
    VerificationError,
)

if TYPE_CHECKING:
    from .api import fetch, verify
    from .conversion import ConvertResult, ExportResult, PngOptions, convert, export_png
    from .formats import WriteOptions
    from .idx import Header, IdxFile, open_idx, read, write
    from .loading import Loaded, load
    from .sources import DatasetRef, NoSuchInputError, resolve
    from .splitting import SplitResult, split
    from .vision import EMNIST, KMNIST, MNIST, QMNIST, DatasetNotFoundError, FashionMNIST

#: public name -> module that defines it (imported on first use).
_LAZY: dict[str, str] = {
    "Header": "idx",
    "IdxFile": "idx",
    "open_idx": "idx",
    "read": "idx",
    "write": "idx",
    "load": "loading",
    "Loaded": "loading",
    "fetch": "api",
    "verify": "api",
    "convert": "conversion",
    "ConvertResult": "conversion",
    "export_png": "conversion",
    "ExportResult": "conversion",
    "PngOptions": "conversion",
    "WriteOptions": "formats",
    "split": "splitting",
    "SplitResult": "splitting",
    "resolve": "sources",
    "DatasetRef": "sources",
    "NoSuchInputError": "sources",
    "MNIST": "vision",
    "FashionMNIST": "vision",
    "KMNIST": "vision",
    "EMNIST": "vision",
    "QMNIST": "vision",
    "DatasetNotFoundError": "vision",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'idxtool' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "EMNIST",
    "KMNIST",
    "MNIST",
    "QMNIST",
    "ChecksumError",
    "ConvertResult",
    "DataError",
    "DatasetNotFoundError",
    "DatasetRef",
    "DownloadError",
    "ExportResult",
    "FashionMNIST",
    "Header",
    "IdxError",
    "IdxFile",
    "InputNotFoundError",
    "InvalidIdxError",
    "Loaded",
    "ManifestError",
    "MissingDependencyError",
    "NoSuchInputError",
    "OutputError",
    "OutputExistsError",
    "ParameterError",
    "PngOptions",
    "RecordIndexError",
    "SplitResult",
    "UnknownDatasetError",
    "UsageError",
    "VerificationError",
    "WriteOptions",
    "__version__",
    "convert",
    "export_png",
    "fetch",
    "load",
    "open_idx",
    "read",
    "resolve",
    "split",
    "verify",
    "write",
]
