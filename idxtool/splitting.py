"""``split``: one IDX pair into parts (train/val/...), stratified, seeded, lossless.

Every record lands in exactly one part and keeps its source order within it. Images stream
chunk by chunk into all parts at once, so memory holds the labels and one chunk. Outputs
keep the input's element type and compression; the same seed gives the same bytes. With
``shuffle=False`` parts take contiguous records in source order, first part first (the
classic MNIST validation split: the last 10,000 training records).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from . import compress
from .errors import DataError, ParameterError, UsageError
from .formats.idx import file_name
from .idx import Header
from .loading import Input, input_files, open_input
from .model import LabelInfo, Part, SplitFiles, check_images_shape, check_part
from .outputs import output_folder
from .progress import ProgressFactory, start

DEFAULT_NAMES = {2: ("train", "val"), 3: ("train", "val", "test")}
PER_CLASS_NAMES = ("subset", "rest")


# -- planning --------------------------------------------------------------------------------


def sizes_for_ratio(count: int, ratio: float) -> list[int]:
    """``[train, val]`` with ``train = round(ratio * count)``; neither may be empty."""
    if not 0 < ratio < 1:
        raise ParameterError("ratio", ratio, "must be between 0 and 1 (the share of train)")
    train = round(ratio * count)
    if train in (0, count):
        raise ParameterError("ratio", ratio, f"leaves a part empty ({count:,} records)")
    return [train, count - train]


def check_sizes(sizes: Sequence[int], count: int) -> list[int]:
    """Explicit part sizes must be positive and add up to the record count."""
    if any(s <= 0 for s in sizes):
        raise ParameterError("sizes", list(sizes), "must each be at least one record")
    if sum(sizes) != count:
        raise ParameterError("sizes", list(sizes), f"add up to {sum(sizes):,}, but the input has {count:,} records")
    return list(sizes)


def part_names(n: int, names: Sequence[str] | None, default: Sequence[str] | None = None) -> list[str]:
    """``train``/``val`` (``/test``) unless named; names must be distinct and usable in file names."""
    if names is None:
        names = default or DEFAULT_NAMES.get(n)
        if names is None:
            raise ParameterError("names", None, f"must name the {n} parts (one name for each)")
    names = list(names)
    if len(names) != n:
        raise ParameterError("names", names, f"gives {len(names)} names for {n} parts")
    for name in names:
        if not name or any(c in name for c in '/\\:*?"<>|\0') or name.startswith("."):
            raise ParameterError("names", names, f"has {name!r}, which cannot be used in a file name")
    if len(set(names)) != len(names):
        raise ParameterError("names", names, "repeats a name")
    return names


def apportion(counts: np.ndarray, sizes: Sequence[int]) -> np.ndarray:
    """A (classes x parts) table with row sums ``counts`` and column sums ``sizes``, proportional.

    Each part in turn takes from every class its exact share of what remains, rounded by the
    largest-remainder rule (ties to the lower class); the last part takes the rest.
    """
    remaining = counts.astype(np.int64).copy()
    total = int(remaining.sum())
    table = np.zeros((len(counts), len(sizes)), np.int64)
    for p, size in enumerate(sizes[:-1]):
        base, rest = np.divmod(remaining * size, total)
        short = size - int(base.sum())
        base[np.argsort(-rest, kind="stable")[:short]] += 1
        table[:, p] = base
        remaining -= base
        total -= size
    table[:, -1] = remaining
    return table


def assign(
    labels: np.ndarray | None, sizes: Sequence[int], seed: int, *, stratify: bool = True, shuffle: bool = True
) -> np.ndarray:
    """The part of every record: a seeded shuffle cut into ``sizes``, within each class if stratified.

    Without ``shuffle``, records go to the parts in source order, first part first.
    """
    count = int(sum(sizes))
    rng = np.random.default_rng(seed)
    part_of = np.empty(count, np.int16)
    if not shuffle:
        for p, (begin, end) in enumerate(_bounds(sizes)):
            part_of[begin:end] = p
        return part_of
    if labels is None or not stratify:
        order = rng.permutation(count)
        for p, (start, end) in enumerate(_bounds(sizes)):
            part_of[order[start:end]] = p
        return part_of
    values, inverse = np.unique(labels, return_inverse=True)
    table = apportion(np.bincount(inverse, minlength=len(values)), sizes)
    grouped = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(table.sum(axis=1))])
    for c in range(len(values)):
        members = rng.permutation(grouped[starts[c] : starts[c + 1]])
        for p, (start, end) in enumerate(_bounds(table[c])):
            part_of[members[start:end]] = p
    return part_of


def _per_class(labels: np.ndarray | None, n: int) -> np.ndarray:
    """Part 0: the first ``n`` records of every class; part 1: the rest."""
    if labels is None:
        raise ParameterError("per_class", n, "needs labels: give the labels file too")
    if n <= 0:
        raise ParameterError("per_class", n, "must be at least 1")
    part_of = np.ones(len(labels), np.int16)
    for value in np.unique(labels):
        members = np.flatnonzero(labels == value)
        if len(members) < n:
            raise DataError(f"class {int(value)} has {len(members):,} records, fewer than per_class={n}")
        part_of[members[:n]] = 0
    return part_of


def _bounds(sizes: Sequence[int]) -> list[tuple[int, int]]:
    ends = np.cumsum(sizes).tolist()
    return list(zip([0, *ends[:-1]], ends, strict=True))


# -- writing ---------------------------------------------------------------------------------


def _open_parts(temps: Sequence[Path], compression: compress.Compression) -> list[tuple[IO[bytes], IO[bytes]]]:
    opened: list[tuple[IO[bytes], IO[bytes]]] = []
    for temp in temps:
        raw = open(temp, "xb")  # noqa: SIM115 - closed by write_parts, after all parts
        opened.append((raw, compress.open_write(raw, compression)))
    return opened


def _records(files: SplitFiles, count: int) -> tuple[int, int]:
    return (0, count) if files.selection is None else files.selection.bounds(count)


def write_parts(
    files: SplitFiles,
    folder: Path,
    names: Sequence[str],
    part_of: np.ndarray,
    labels: np.ndarray | None,
    progress: ProgressFactory | None = None,
) -> list[Path]:
    """Stream the selected images into one IDX file per part in ``folder`` (and the labels likewise)."""
    with open_input(files.images) as src:  # type: ignore[arg-type]
        header, kind = src.header, src.compression
        first, end = _records(files, header.count)
        counts = np.bincount(part_of, minlength=len(names))
        targets = [folder / file_name(n, "images", header.ndim, header.dtype, kind) for n in names]
        if labels is not None:
            targets += [folder / file_name(n, "labels", labels.ndim, labels.dtype, kind) for n in names]
        streams = _open_parts(targets, kind)
        bar = start(progress, "split", len(part_of), "records")
        try:
            for (_, out_fh), count in zip(streams, counts.tolist(), strict=False):
                out_fh.write(Header(header.type_code, (count, *header.record_shape)).pack())
            seen = 0
            for chunk in src.chunks():
                lo, hi = max(first - seen, 0), min(end - seen, len(chunk))
                if lo < hi:
                    where = part_of[seen + lo - first : seen + hi - first]
                    big = chunk[lo:hi].astype(header.file_dtype, copy=False)
                    for p, (_, out_fh) in enumerate(streams[: len(names)]):
                        out_fh.write(np.ascontiguousarray(big[where == p]).data)
                seen += len(chunk)
                bar.update(min(max(seen - first, 0), len(part_of)))
            if labels is not None:
                label_type = _label_type(files)
                big_labels = labels.astype(label_type.file_dtype)
                for p, (_, out_fh) in enumerate(streams[len(names) :]):
                    out_fh.write(Header(label_type.type_code, (int(counts[p]), *labels.shape[1:])).pack())
                    out_fh.write(np.ascontiguousarray(big_labels[part_of == p]).data)
        finally:
            bar.close()
            for raw, out_fh in streams:
                if out_fh is not raw:
                    out_fh.close()
                raw.close()
    return targets


def _label_type(files: SplitFiles) -> Header:
    with open_input(files.labels) as lab:  # type: ignore[arg-type]
        return lab.header


def _read_labels(files: SplitFiles, count: int) -> np.ndarray | None:
    if files.labels is None:
        return None
    with open_input(files.labels) as f:
        labels = f.read()
    check_part(Part(np.empty((count, 0)), labels, str(files.images), str(files.labels)))
    first, end = _records(files, count)
    return labels[first:end]


@dataclass(frozen=True)
class SplitResult:
    """Files written and records per part."""

    files: list[Path]
    counts: dict[str, int]


def split(
    inputs: Input | Sequence[Input] | SplitFiles,
    out: str | os.PathLike[str],
    *,
    ratio: float | None = None,
    sizes: Sequence[int] | None = None,
    per_class: int | None = None,
    names: Sequence[str] | None = None,
    seed: int = 0,
    stratify: bool | None = None,
    shuffle: bool = True,
    force: bool = False,
    dir: str | os.PathLike[str] | None = None,
    progress: ProgressFactory | None = None,
) -> SplitResult:
    """Split an IDX pair, or a dataset's split, into parts written as IDX files into the folder ``out``.

    Parameters
    ----------
    inputs
        ``(images, labels)`` paths, one images path, or a dataset (``"mnist"`` splits its
        ``train`` split; ``"mnist:train[:50000]"`` that selection).
    out
        The output folder; parts are ``<name>-images-idx3-ubyte`` and ``<name>-labels-idx1-ubyte``
        in the input's element type and compression.
    ratio, sizes, per_class
        Exactly one: the share of ``train`` (the rest is ``val``); explicit part sizes adding
        up to the input; or the first ``per_class`` records of each class against the rest.
    names
        Part names (default ``train, val[, test]``; ``subset, rest`` for ``per_class``).
    seed
        The same seed gives the same bytes.
    stratify
        Keep class shares equal across parts (default: when shuffling and labelled).
    shuffle
        False: parts take records in source order, first part first.
    force
        Replace the parts of an earlier split in ``out`` (and remove its other parts).

    Returns
    -------
    SplitResult
        Files written and records per part.

    Raises
    ------
    ParameterError
        A bad ratio, sizes, names or per_class, or not exactly one of them.
    OutputExistsError
        A part exists and ``force`` is False.

    Examples
    --------
    >>> result = idxtool.split("mnist-sample", tmp / "parts", ratio=0.8, seed=1)
    >>> result.counts
    {'train': 80, 'val': 20}
    >>> sorted(p.name for p in result.files)  # doctest: +NORMALIZE_WHITESPACE
    ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 'val-images-idx3-ubyte.gz', 'val-labels-idx1-ubyte.gz']
    """
    given = [p for p, v in (("ratio", ratio), ("sizes", sizes), ("per_class", per_class)) if v is not None]
    if not given:
        raise UsageError("give one of ratio, sizes or per_class")
    if len(given) > 1:
        raise UsageError(f"{' and '.join(given)} cannot be combined")
    if stratify and not shuffle:
        raise ParameterError(
            "stratify", stratify, "cannot be combined with shuffle=False (parts take records in order)"
        )
    if isinstance(inputs, SplitFiles):
        files, info = {"": inputs}, LabelInfo()
    else:
        single = isinstance(inputs, (str, os.PathLike)) or hasattr(inputs, "read")
        files, info = input_files([inputs] if single else list(inputs), dir)  # type: ignore[list-item,arg-type]
    key = "train" if "train" in files else next(iter(files)) if len(files) == 1 else None
    if key is None:
        raise UsageError(f"{inputs}: no train split among {', '.join(files)}; name one split, e.g. NAME:SPLIT")
    chosen = files[key]
    if chosen.images is None:
        raise DataError(f"{chosen.label}: has labels but no images; split needs images")
    with open_input(chosen.images) as f:
        check_images_shape(f.shape, f.name)
        total = f.count
    first, end = _records(chosen, total)
    count = end - first
    labels = _read_labels(chosen, total)
    classes = None if labels is None else (labels if labels.ndim == 1 else labels[:, info.label_column])
    if per_class is not None:
        part_of = _per_class(classes, per_class)
        names = part_names(2, names, PER_CLASS_NAMES)
    else:
        parts = sizes_for_ratio(count, ratio) if ratio is not None else check_sizes(sizes or [], count)
        names = part_names(len(parts), names)
        part_of = assign(classes, parts, seed, stratify=shuffle if stratify is None else stratify, shuffle=shuffle)
    target = Path(out)
    with output_folder(target, force=force) as staging:
        written = write_parts(chosen, staging, names, part_of, labels, progress)
    return SplitResult(
        [target / p.name for p in written],
        dict(zip(names, np.bincount(part_of, minlength=len(names)).tolist(), strict=True)),
    )
