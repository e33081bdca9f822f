"""Formats behind one protocol: :class:`Format`, and one registry, :data:`FORMATS`.

A format knows how to recognise an existing input (``sniff``), read it into
:class:`~idxtool.model.Splits`, and write splits into the place ``convert`` gives it: a
temporary file, or an empty staging folder, that ``convert`` moves into place (and where
the ``force`` rules are applied once, in :mod:`idxtool.outputs`). Adding a format is one
module with one object, registered here.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from ..errors import UsageError

if TYPE_CHECKING:
    from ..compress import Compression
    from ..model import Splits
    from ..progress import ProgressFactory
    from .png.tree import PngOptions

#: What ``-o`` names for a format: a file, a folder, or a folder that holds only this output.
Target = Literal["file", "folder", "exclusive-folder"]

#: CSV header styles: Kaggle digit-recognizer, Kaggle Fashion-MNIST, "MNIST in CSV", none.
CSV_HEADERS: tuple[str, ...] = ("pixel0", "pixel1", "rowcol", "none")


@dataclass(frozen=True)
class ReadOptions:
    """Choices for reading; each applies only where it means something."""

    shape: tuple[int, ...] | None = None  # csv: the record shape when not square
    transpose: bool = False  # png tree: swap rows and columns back (EMNIST)


def _png_defaults() -> PngOptions:
    from .png.tree import PngOptions

    return PngOptions()


@dataclass(frozen=True)
class WriteOptions:
    """Choices for writing; each applies only where it means something."""

    header: str = "pixel0"  # csv: pixel0 | pixel1 | rowcol | none
    compression: Compression | None = None  # csv, idx; npz: raw = stored
    val: int = 10000  # pkl: validation records taken from the end of train
    shards: int | None = None  # parquet, webdataset: shards per split; None: from shard_bytes
    shard_bytes: int = 256 << 20  # parquet, webdataset: target raw pixel bytes per shard
    png: PngOptions = field(default_factory=_png_defaults)


class Format(Protocol):
    """One file format: recognise, read, write."""

    #: What ``--to`` calls it.
    name: str
    #: How many input paths one read takes (2 for IMAGES LABELS pairs).
    max_inputs: int
    #: Sniffing order: lower first. The most specific formats first; IDX, the fallback, last.
    sniff_order: int

    def sniff(self, path: Path) -> bool:
        """True when the existing file or folder ``path`` is in this format."""
        ...

    def read(self, paths: Sequence[Path], options: ReadOptions) -> Splits:
        """Read ``paths`` into splits (checked by the caller)."""
        ...

    def target(self, splits: Splits) -> Target:
        """What ``-o`` must name for these splits."""
        ...

    def write(
        self, splits: Splits, out: Path, options: WriteOptions, *, final: Path, progress: ProgressFactory | None
    ) -> None:
        """Write ``splits`` at ``out``: a new file, or files inside an empty staging folder.

        ``final`` is where the output will be once complete (for messages and suffixes).
        """
        ...


def _discover() -> tuple[str, ...]:
    """Format names: the modules and packages of this package not starting with ``_``.

    Adding a format is adding one module that defines ``FORMAT``; nothing else lists it.
    """
    import pkgutil

    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")))


#: Formats ``convert --to`` accepts.
FORMATS: tuple[str, ...] = _discover()


def get(name: str) -> Format:
    """The format called ``name``."""
    if name not in FORMATS:
        raise UsageError(f"unknown format {name!r} (choose from {', '.join(FORMATS)})")
    module = importlib.import_module(f"{__name__}.{name}")
    fmt: Format = module.FORMAT
    return fmt


def detect(path: Path) -> Format:
    """The format of an existing file or folder: IDX for a file that starts with an IDX magic
    number (compressed or not) whatever its name, else the first by ``sniff_order`` that
    recognises it (the others are not even imported for an IDX file)."""
    from ..idx import has_magic

    if path.is_file() and has_magic(path):
        return get("idx")
    for fmt in sorted((get(name) for name in FORMATS), key=lambda f: f.sniff_order):
        if fmt.sniff(path):
            return fmt
    return get("idx")


_COMPRESSED = (".gz", ".xz", ".bz2")


def stem_suffix(path: Path) -> str:
    """The format suffix, looking past a compression suffix: a.csv.gz -> .csv."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""
