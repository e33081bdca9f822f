"""``split``: one IDX pair into parts (train/val/...), stratified, seeded, lossless.

Every record lands in exactly one part and keeps its source order within it. Images stream
chunk by chunk into all parts at once, so memory holds the labels and one chunk. Outputs
keep the input's element type and compression; the same seed gives the same bytes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from . import compress
from .atomic import atomic_files
from .errors import DataError, UsageError
from .formats.idx import file_name
from .idx import Header, open_idx
from .pairs import PairPaths, Part, check_images_shape, check_part

#: Called with (records done, records in all).
Progress = Callable[[int, int], None]

DEFAULT_NAMES = {2: ("train", "val"), 3: ("train", "val", "test")}
PER_CLASS_NAMES = ("subset", "rest")


@dataclass(frozen=True)
class SplitResult:
    """Files written and records per part."""

    files: list[Path]
    counts: dict[str, int]


# -- planning --------------------------------------------------------------------------------


def sizes_for_ratio(count: int, ratio: float) -> list[int]:
    """``[train, val]`` with ``train = round(ratio * count)``; neither may be empty."""
    if not 0 < ratio < 1:
        raise UsageError(f"--ratio {ratio}: must be between 0 and 1 (the share of train)")
    train = round(ratio * count)
    if train in (0, count):
        raise UsageError(f"--ratio {ratio} of {count:,} records leaves a part empty")
    return [train, count - train]


def check_sizes(sizes: Sequence[int], count: int) -> list[int]:
    """Explicit part sizes must be positive and add up to the record count."""
    if any(s <= 0 for s in sizes):
        raise UsageError(f"--sizes {','.join(map(str, sizes))}: every part needs at least one record")
    if sum(sizes) != count:
        raise UsageError(
            f"--sizes {','.join(map(str, sizes))} add up to {sum(sizes):,}, but the input has {count:,} records"
        )
    return list(sizes)


def part_names(n: int, names: Sequence[str] | None, default: Sequence[str] | None = None) -> list[str]:
    """``train``/``val`` (``/test``) unless named; names must be distinct and usable in file names."""
    if names is None:
        names = default or DEFAULT_NAMES.get(n)
        if names is None:
            raise UsageError(f"{n} parts need --names (one name for each)")
    names = list(names)
    if len(names) != n:
        raise UsageError(f"--names gives {len(names)} names for {n} parts")
    for name in names:
        if not name or any(c in name for c in '/\\:*?"<>|') or name.startswith("."):
            raise UsageError(f"--names: {name!r} cannot be used in a file name")
    if len(set(names)) != len(names):
        raise UsageError(f"--names: {','.join(names)} repeats a name")
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


def assign(labels: np.ndarray | None, sizes: Sequence[int], seed: int, stratify: bool = True) -> np.ndarray:
    """The part of every record: a seeded shuffle cut into ``sizes``, within each class if stratified."""
    count = int(sum(sizes))
    rng = np.random.default_rng(seed)
    part_of = np.empty(count, np.int16)
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


def per_class(labels: np.ndarray | None, n: int) -> np.ndarray:
    """Part 0: the first ``n`` records of every class; part 1: the rest."""
    if labels is None:
        raise UsageError("--per-class needs labels: give the LABELS file too")
    if n <= 0:
        raise UsageError(f"--per-class {n}: must be at least 1")
    part_of = np.ones(len(labels), np.int16)
    for value in np.unique(labels):
        members = np.flatnonzero(labels == value)
        if len(members) < n:
            raise DataError(f"class {int(value)} has {len(members):,} records, fewer than --per-class {n}")
        part_of[members[:n]] = 0
    return part_of


def _bounds(sizes: Sequence[int]) -> list[tuple[int, int]]:
    ends = np.cumsum(sizes).tolist()
    return list(zip([0, *ends[:-1]], ends))


# -- writing ---------------------------------------------------------------------------------


def _open_parts(temps: Sequence[Path], compression: compress.Compression) -> list[tuple[IO[bytes], IO[bytes]]]:
    opened = []
    for temp in temps:
        raw = open(temp, "wb")
        opened.append((raw, compress.open_write(raw, compression)))
    return opened


def write_parts(
    paths: PairPaths,
    out: str | os.PathLike[str],
    names: Sequence[str],
    part_of: np.ndarray,
    labels: np.ndarray | None,
    force: bool = False,
    progress: Progress | None = None,
) -> SplitResult:
    """Stream the images into one IDX file per part (and the labels likewise), all or nothing."""
    folder = Path(out)
    with open_idx(paths.images) as src:
        header, kind = src.header, src.compression
        counts = np.bincount(part_of, minlength=len(names))
        targets = [folder / file_name(n, "images", header.ndim, header.dtype, kind) for n in names]
        if labels is not None:
            targets += [folder / file_name(n, "labels", labels.ndim, labels.dtype, kind) for n in names]
        with atomic_files(targets, force) as temps:
            streams = _open_parts(temps, kind)
            try:
                for (_, out_fh), count in zip(streams, counts.tolist()):
                    out_fh.write(Header(header.type_code, (count, *header.record_shape)).pack())
                done = 0
                for chunk in src.chunks():
                    where = part_of[done : done + len(chunk)]
                    big = chunk.astype(header.file_dtype, copy=False)
                    for p, (_, out_fh) in enumerate(streams[: len(names)]):
                        out_fh.write(np.ascontiguousarray(big[where == p]).data)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, len(part_of))
                if labels is not None:
                    with open_idx(paths.labels) as lab:  # type: ignore[arg-type]
                        lh = lab.header
                    big_labels = labels.astype(lh.file_dtype)
                    for p, (_, out_fh) in enumerate(streams[len(names) :]):
                        out_fh.write(Header(lh.type_code, (int(counts[p]), *lh.record_shape)).pack())
                        out_fh.write(np.ascontiguousarray(big_labels[part_of == p]).data)
            finally:
                for raw, out_fh in streams:
                    if out_fh is not raw:
                        out_fh.close()
                    raw.close()
    return SplitResult(targets, dict(zip(names, counts.tolist())))


def split(
    paths: PairPaths,
    out: str | os.PathLike[str],
    *,
    ratio: float | None = None,
    sizes: Sequence[int] | None = None,
    per_class_n: int | None = None,
    names: Sequence[str] | None = None,
    seed: int = 0,
    stratify: bool = True,
    label_column: int = 0,
    force: bool = False,
    progress: Progress | None = None,
) -> SplitResult:
    """Split the pair at ``paths`` into parts written to the folder ``out``."""
    chosen = [o for o, v in (("--ratio", ratio), ("--sizes", sizes), ("--per-class", per_class_n)) if v is not None]
    if len(chosen) != 1:
        raise UsageError("give one of --ratio, --sizes or --per-class" if not chosen else f"{' and '.join(chosen)} cannot be combined")
    with open_idx(paths.images) as f:
        check_images_shape(f.shape, str(paths.images))
        count = f.count
    labels = None
    if paths.labels is not None:
        with open_idx(paths.labels) as f:
            labels = f.read()
        check_part(Part(np.empty((count, 0)), labels, str(paths.images), str(paths.labels)))
    classes = None if labels is None else (labels if labels.ndim == 1 else labels[:, label_column])
    if per_class_n is not None:
        part_of = per_class(classes, per_class_n)
        names = part_names(2, names, PER_CLASS_NAMES)
    else:
        parts = sizes_for_ratio(count, ratio) if ratio is not None else check_sizes(sizes or [], count)
        names = part_names(len(parts), names)
        part_of = assign(classes, parts, seed, stratify)
    return write_parts(paths, out, names, part_of, labels, force, progress)
