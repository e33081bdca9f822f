"""``convert``: any supported source to any target format, through in-memory arrays.

Sources: IDX images [labels], a registered dataset name (all its splits), or a file in a
target format (npz, npy, csv, pkl, a PNG tree) for the way back. Targets: see
:data:`idxtool.formats.FORMATS`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import compress, pairs
from .atomic import check_writable
from .errors import UsageError
from .export import ExportOptions, Progress
from .formats import FORMATS, detect
from .pairs import Collection


@dataclass(frozen=True)
class ConvertOptions:
    """Format-specific choices; each applies only where it means something."""

    header: str = "pixel0"  # csv: pixel0 | pixel1 | rowcol | none
    compression: compress.Compression | None = None  # csv, idx; npz: raw = stored
    shape: tuple[int, ...] | None = None  # csv source: record shape when not square
    val: int = 10000  # pkl: validation records taken from the end of train
    transpose: bool | None = None  # png target: rotate EMNIST upright; png source: back
    png: ExportOptions = field(default_factory=ExportOptions)


@dataclass(frozen=True)
class ConvertResult:
    """What was written, for the CLI to report."""

    outputs: list[Path]
    records: dict[str, int]
    source_format: str


def source_format(sources: Sequence[str]) -> str:
    """``dataset``, or the format of the first source path."""
    if len(sources) == 1 and pairs.is_dataset_name(sources[0]):
        return "dataset"
    for src in sources:
        pairs.check_exists(src)
    return detect(sources[0])


def load_sources(
    sources: Sequence[str],
    *,
    dir: str | os.PathLike[str] | None = None,
    dataset: str | None = None,
    shape: tuple[int, ...] | None = None,
    transpose: bool = False,
) -> tuple[Collection, str]:
    """Read the sources into a checked collection; ``dataset`` lends it class names."""
    from .formats import csv, idx, npy, npz, pkl, png

    if not sources:
        raise UsageError("give at least one SRC")
    kind = source_format(sources)
    most = {"dataset": 1, "idx": 2, "npy": 2}.get(kind, 1)
    if len(sources) > most:
        wanted = "IMAGES [LABELS]" if most == 2 else f"one {kind} source"
        raise UsageError(f"expected {wanted}, got {len(sources)} arguments: {' '.join(sources)}")
    if kind == "dataset" or (kind == "idx" and not os.path.isdir(sources[0])):
        coll = pairs.load(pairs.resolve(sources, dir=dir, dataset=dataset))
        return coll, kind
    if kind == "idx":
        coll = idx.read_folder(sources[0])
    elif kind == "npz":
        coll = npz.read(sources[0])
    elif kind == "npy":
        coll = npy.read(sources)
    elif kind == "csv":
        coll = csv.read(sources[0], shape)
    elif kind == "pkl":
        coll = pkl.read(sources[0])
    else:
        coll = png.read(sources[0], transpose)
    for part in coll.parts.values():
        pairs.check_part(part)
    if dataset:
        coll = pairs.with_info(coll, pairs.dataset_info(dataset))
    return coll, kind


def write(
    coll: Collection,
    to: str,
    out: str | os.PathLike[str],
    options: ConvertOptions = ConvertOptions(),
    force: bool = False,
    progress: Progress | None = None,
) -> list[Path]:
    """Write ``coll`` in format ``to`` at ``out``."""
    from .formats import csv, idx, npy, npz, pkl, png

    if to not in FORMATS:
        raise UsageError(f"unknown format {to!r} (choose from {', '.join(FORMATS)})")
    target = Path(out)
    if to == "npz":
        check_writable(target, force)
        if options.compression not in (None, "raw", "gzip"):
            raise UsageError(f"--compression {options.compression}: an .npz is deflate (gzip) or raw (stored)")
        return [npz.write(target, coll, compress=options.compression != "raw")]
    if to == "npy":
        return npy.write(target, coll, force)
    if to == "csv":
        if coll.is_pair:
            check_writable(target, force)
        return csv.write(target, coll, options.header, options.compression, force)
    if to == "pkl":
        check_writable(target, force)
        return [pkl.write(target, coll, options.val)]
    if to == "png":
        opts = options.png
        if options.transpose is not None:
            opts = ExportOptions(**{**opts.__dict__, "transpose": options.transpose})
        return [png.write(target, coll, opts, force, progress).path]
    return idx.write(target, coll, options.compression or "raw", force)


def convert(
    sources: Sequence[str],
    to: str,
    out: str | os.PathLike[str],
    options: ConvertOptions = ConvertOptions(),
    *,
    force: bool = False,
    dir: str | os.PathLike[str] | None = None,
    dataset: str | None = None,
    progress: Progress | None = None,
) -> ConvertResult:
    """Read ``sources`` and write them as ``to`` at ``out``."""
    if to not in FORMATS:
        raise UsageError(f"unknown format {to!r} (choose from {', '.join(FORMATS)})")
    back = bool(options.transpose) and source_format(sources) == "png"
    coll, kind = load_sources(sources, dir=dir, dataset=dataset, shape=options.shape, transpose=back)
    if back:  # the transpose was undone on reading; do not redo it on writing
        options = ConvertOptions(**{**options.__dict__, "transpose": False})
    outputs = write(coll, to, out, options, force, progress)
    return ConvertResult(outputs, {s: p.count for s, p in coll.parts.items()}, kind)
