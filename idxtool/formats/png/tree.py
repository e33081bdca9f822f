"""Images to PNG trees: ImageFolder/Ultralytics class folders, or one flat folder.

A tree is ``DIR/<class>/<index>.png`` with ``DIR/labels.csv`` (``index,path,label,class``)
and ``DIR/classes.txt`` (the class folders in label order); splits write ``DIR/<split>/...``.
Class folders sort in label order, so torchvision's ``ImageFolder`` and Ultralytics, which
number classes by sorted folder name, give every image its label: numbers are zero-padded
(``00`` .. ``46``) and ``names`` folders start with that number (``0_T-shirt_top``).
``<index>`` is the record's position in its source, zero-padded to the width of the last
index.

The images are streamed: worker processes (:mod:`idxtool.workers`) each read their own
records chunk by chunk from the source, and encode and write them batch by batch, while this
process writes ``labels.csv`` and lists the files for the output's record, a batch at a
time: memory stays bounded by the chunk size whatever the dataset's size, and nothing is
sent between processes but progress. Everything goes into the staging folder that
:func:`idxtool.outputs.output_folder` moves into place when complete.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import DataError, ParameterError
from ...model import LabelInfo, Part, Splits
from ...outputs import Listing
from ...progress import ProgressFactory, start
from ...workers import Workers, WorkQueue
from . import encoder

#: Records encoded and written between two progress reports.
BATCH = 500
#: Records read from the source at a time (about 4 MiB of 28 x 28 images).
CHUNK = 5000
#: Worker processes when not told: two (one on a single core), not "all cores". Measured on
#: 2 cores by tests/benchmarks/bench_png.py (medians on tmpfs): 2 worker processes, each
#: reading and writing its own share, take 0.6x the time of 1 at 60,000 and 814,255 images.
DEFAULT_JOBS = min(2, os.cpu_count() or 1)
#: Records in a piece of a file that workers take one at a time (more for the largest sets:
#: a queue holds at most WorkQueue.LIMIT pieces).
PIECE = 2000
#: What reading past a record of a compressed source costs next to writing it as a PNG file,
#: for :func:`shares`. Measured on tmpfs, where writing is cheapest: ISA-L decompresses a 28 x 28
#: record in ~1.1 us, and each of 2 workers encodes and creates its file in ~11 us.
SKIP_COST = 0.1
CLASSES_FILE = "classes.txt"
_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


@dataclass(frozen=True)
class PngOptions:
    """How to lay out and select the images."""

    names: bool = False  # class folders named after the dataset's classes
    flat: bool = False  # one folder, no class subfolders
    limit: int | None = None  # at most this many records (after per_class)
    per_class: int | None = None  # the first N records of each class
    transpose: bool | None = None  # None: as the dataset says (EMNIST: True)
    jobs: int | None = None  # worker processes; None: DEFAULT_JOBS (chosen by measurement)
    level: int = encoder.LEVEL


# -- naming ----------------------------------------------------------------------------------


def safe_name(text: str, fallback: str) -> str:
    """A folder name every common file system accepts: no / \\ : * ? " < > |, no trailing dot."""
    name = _UNSAFE.sub("_", text).strip().rstrip(". ")
    if name in ("", ".", ".."):
        name = fallback
    if name.split(".")[0].upper() in _RESERVED:
        name += "_"
    return name


def label_width(info: LabelInfo, labels: np.ndarray) -> int:
    """Digits of the largest label (present, or of the dataset's classes): 47 classes -> 2."""
    top = int(labels.max()) if labels.size else 0
    if info.classes is not None:
        top = max(top, len(info.classes) - 1 + info.label_offset)
    return len(str(max(top, 0)))


def class_folders(info: LabelInfo, labels: np.ndarray, *, names: bool, width: int | None = None) -> dict[int, str]:
    """Label value -> folder name, such that the folders sort in label order.

    The label zero-padded to ``width`` digits (default: :func:`label_width`), followed with
    ``names`` by ``_`` and the safe class name: ``00`` .. ``46``, or ``0_T-shirt_top``.
    torchvision's ImageFolder and Ultralytics number classes by sorted folder name, so the
    i-th folder is the i-th label. Names that differ only in case (EMNIST's ``A`` and ``a``)
    never share a folder, since their prefixes differ. A negative label (which cannot sort
    in order) keeps its plain number.
    """
    present = distinct(labels).tolist()
    if names and info.classes is None:
        raise ParameterError("names", names, "needs class names: give a dataset name, or dataset=NAME for files")
    digits = label_width(info, labels) if width is None else width
    folders: dict[int, str] = {}
    for v in present:
        number = f"{v:0{digits}d}" if v >= 0 else str(v)
        cls = safe_name(info.name_of(v) or "", number) if names else number
        folders[v] = number if cls in (number, str(v)) else f"{number}_{cls}"  # MNIST's "3" stays "3"
    return folders


def select(labels: np.ndarray | None, count: int, limit: int | None, per_class: int | None) -> np.ndarray:
    """Record positions to export, in source order: the first ``per_class`` of each class, then ``limit``."""
    index = np.arange(count)
    if per_class is not None:
        if labels is None:
            raise ParameterError("per_class", per_class, "needs labels")
        keep = np.zeros(count, bool)
        for value in distinct(labels):
            keep[np.flatnonzero(labels == value)[:per_class]] = True
        index = index[keep]
    return index[:limit] if limit is not None else index


def distinct(values: np.ndarray) -> np.ndarray:
    """The sorted distinct values of integer labels, counted in one pass when their range is small."""
    if values.size and values.dtype.kind in "iu":
        low = int(values.min())
        if int(values.max()) - low < 1 << 20:
            return np.flatnonzero(np.bincount((values - low).astype(np.intp))) + low
    return np.unique(values)


def index_width(count: int) -> int:
    """Digits of the last index: 60000 records -> 5 (00000..59999)."""
    return len(str(max(count - 1, 0)))


# -- shares of the work ----------------------------------------------------------------------


def _write_batch(root: str, paths: list[str], images: np.ndarray, level: int) -> int:
    encoder.write_batch(paths, images, level, root)
    return len(paths)


def shares(index: np.ndarray, jobs: int, skip_cost: float) -> list[tuple[int, int]]:
    """Split the records to write, ``index`` (source positions, ascending), into ``jobs``
    contiguous shares ``(begin, end)`` of ``index`` that take about as long each.

    A share costs one unit per record written, plus ``skip_cost`` per source record before
    its last one that its worker must read to get there (zero where a file can be read from
    any record on, as an uncompressed one; about 0.1 for gzip, whose every earlier byte is
    decompressed): later shares of a compressed file are smaller.
    """
    n = len(index)
    if jobs <= 1 or n == 0:
        return [(0, n)]
    if skip_cost <= 0:
        ends = [n * (k + 1) // jobs for k in range(jobs)]
        return list(zip([0, *ends[:-1]], ends, strict=True))
    # share [b, e) costs reach(e) + e - b: reading up to its last record, and writing its records
    reach_plus_end = (index.astype(np.float64) + 1) * skip_cost + np.arange(1, n + 1)

    def cut(limit: float) -> list[int]:
        """Greedy ends: each share as long as its cost stays within ``limit``."""
        ends, begin = [], 0
        for _ in range(jobs):
            begin = max(int(np.searchsorted(reach_plus_end, limit + begin, side="right")), min(begin + 1, n))
            ends.append(begin)
        return ends

    low, high = n / jobs, float(reach_plus_end[-1])
    for _ in range(50):  # bisect the smallest limit within which every record finds a share
        middle = (low + high) / 2
        low, high = (low, middle) if cut(middle)[-1] >= n else (middle, high)
    ends = cut(high)
    ends[-1] = n
    return list(zip([0, *ends[:-1]], ends, strict=True))


# -- plans -----------------------------------------------------------------------------------


def check_images(part: Part) -> None:
    """PNG export takes (N, H, W) uint8 images (checked from the shape, without reading them)."""
    shape, dtype = part.shape, part.dtype
    if len(shape) != 3 or dtype != np.uint8:
        raise DataError(
            f"{part.images_name}: is {' x '.join(map(str, shape))} {dtype}; PNG export needs 8-bit grayscale "
            "images (N x height x width uint8)"
        )


@dataclass
class _Plan:
    """What one part writes: record positions, and the class folder of each label (None: flat)."""

    folder: Path
    part: Part
    index: np.ndarray
    labels: np.ndarray | None
    folders: dict[int, str] | None
    width: int

    def paths(self, positions: np.ndarray) -> list[str]:
        """The paths, relative to :attr:`folder`, of the records at ``positions``."""
        w = self.width  # zero-padded by str.zfill: twice as fast as a nested format spec
        if self.folders is None or self.labels is None:
            return [f"{str(i).zfill(w)}.png" for i in positions.tolist()]
        prefix = {v: f"{name}/" for v, name in self.folders.items()}
        values = self.labels[positions].tolist()
        return [f"{prefix[v]}{str(i).zfill(w)}.png" for i, v in zip(positions.tolist(), values, strict=True)]


def _plan(folder: Path, part: Part, info: LabelInfo, opts: PngOptions, digits: int) -> _Plan:
    check_images(part)
    labels = part.class_labels(info.label_column)
    index = select(labels, part.count, opts.limit, opts.per_class)
    folders = None
    if labels is not None and not opts.flat:
        folders = class_folders(info, labels[index], names=opts.names, width=digits)
    elif labels is not None and opts.names and info.classes is None:
        class_folders(info, labels[:0], names=True)  # the same error as for folders
    return _Plan(folder, part, index, labels, folders, index_width(part.count))


def _batches(part: Part, index: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(positions, images) of the records at ``index`` (ascending), at most BATCH at a time,
    read chunk by chunk from the first of them to the last."""
    if not len(index):
        return
    seen = int(index[0])
    for chunk in part.image_chunks(CHUNK, start=seen, stop=int(index[-1]) + 1):
        end = seen + len(chunk)
        lo, hi = np.searchsorted(index, [seen, end])
        for begin in range(int(lo), int(hi), BATCH):
            positions = index[begin : min(begin + BATCH, int(hi))]
            yield positions, chunk[positions - seen]
        seen = end


def _write_share(
    plan: _Plan, bounds: tuple[int, int], opts: PngOptions, info: LabelInfo, report: Callable[[int], None]
) -> None:
    """Write the images of ``plan.index[begin:end]``, reporting each batch done."""
    root, flip = str(plan.folder), _transpose(info, opts)
    begin, end = bounds
    for positions, images in _batches(plan.part, plan.index[begin:end]):
        report(_write_batch(root, plan.paths(positions), images.transpose(0, 2, 1) if flip else images, opts.level))


# -- labels.csv and the record ---------------------------------------------------------------


def _csv_line(fields: list[object]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(fields)
    return buf.getvalue()


def _write_index(plan: _Plan, info: LabelInfo, listing: Listing, prefix: str) -> None:
    """Write ``labels.csv`` (``index,path,label,class``, or ``index,path`` without labels) and
    list every file of the part, a batch of records at a time."""
    names = ["labels.csv"] if plan.folders is None else ["classes.txt", "labels.csv"]
    listing.add([prefix + name for name in names])
    labels = plan.labels
    with open(plan.folder / "labels.csv", "w", encoding="utf-8", newline="") as out:
        out.write("index,path\n" if labels is None else "index,path,label,class\n")
        # a row is "index,path" and its label's own ",label,class" (classes quoted as csv says)
        tails = (
            {}
            if labels is None
            else {v: "," + _csv_line([v, info.name_of(v) or ""]) for v in distinct(labels[plan.index]).tolist()}
        )
        plain = all(_csv_line([f"{name}/0.png"]) == f"{name}/0.png\n" for name in (plan.folders or {}).values())
        for begin in range(0, len(plan.index), CHUNK):
            positions = plan.index[begin : begin + CHUNK]
            paths = plan.paths(positions)
            listing.add([prefix + path for path in paths] if prefix else paths)
            if labels is None:
                out.write("".join([f"{i},{path}\n" for i, path in zip(positions.tolist(), paths, strict=True)]))
            elif plain:
                values = labels[positions].tolist()
                out.write(
                    "".join(
                        [f"{i},{path}{tails[v]}" for i, path, v in zip(positions.tolist(), paths, values, strict=True)]
                    )
                )
            else:  # a class folder with a comma in its name: csv quotes the paths
                rows = zip(positions.tolist(), paths, labels[positions].tolist(), strict=True)
                out.write("".join([f"{i}," + _csv_line([path])[:-1] + tails[v] for i, path, v in rows]))


# -- trees -----------------------------------------------------------------------------------


def _make_folders(plan: _Plan) -> None:
    plan.folder.mkdir(exist_ok=True)
    if plan.folders is not None:
        for name in sorted(plan.folders.values()):
            (plan.folder / name).mkdir()
        classes = "".join(f"{name}\n" for _, name in sorted(plan.folders.items()))
        (plan.folder / CLASSES_FILE).write_text(classes, "utf-8")


def _transpose(info: LabelInfo, opts: PngOptions) -> bool:
    return info.transpose if opts.transpose is None else opts.transpose


def write_tree(
    root: Path, splits: Splits, opts: PngOptions = PngOptions(), progress: ProgressFactory | None = None
) -> dict[str, int]:
    """Write ``splits`` as PNG trees into the existing, empty folder ``root`` (one per split).

    ``opts.jobs`` worker processes read the records from the source themselves, encode and
    write them: pieces of a file read from any record on (uncompressed), taken by whichever
    worker is free; shares of a compressed file fixed in advance. Meanwhile this process
    writes ``labels.csv`` and the record of the files.

    Returns
    -------
    dict[str, int]
        Images written per split.
    """
    info = splits.info
    every = [p.class_labels(info.label_column) for p in splits.parts.values()]
    present = np.concatenate([distinct(y) for y in every if y is not None] or [np.zeros(0, np.int64)])
    digits = label_width(info, present)
    plans = [_plan(root / split if split else root, part, info, opts, digits) for split, part in splits.parts.items()]
    total = sum(len(p.index) for p in plans)
    jobs = max(1, min(opts.jobs or DEFAULT_JOBS, total // BATCH))  # no worker without a batch to write
    # Records of a file read from any record on are pieces any worker takes when it is free
    # (so the workers end together); those of a compressed one, shares fixed in advance.
    fixed: list[list[tuple[_Plan, tuple[int, int]]]] = [[] for _ in range(jobs)]
    pieces: list[tuple[_Plan, tuple[int, int]]] = []
    size = max(PIECE, -(-total // (WorkQueue.LIMIT - len(plans))))  # ceil: each plan may add one
    for plan in plans:
        if plan.part.seekable:
            pieces += [(plan, (b, min(b + size, len(plan.index)))) for b in range(0, len(plan.index), size)]
        else:
            for share, bounds in enumerate(shares(plan.index, jobs, SKIP_COST)):
                fixed[share].append((plan, bounds))
    for plan in plans:
        _make_folders(plan)
    queue = WorkQueue(len(pieces))

    def task(share: int, report: Callable[[int], None]) -> None:
        for plan, bounds in fixed[share]:
            _write_share(plan, bounds, opts, info, report)
        while (piece := queue.take()) is not None:
            _write_share(*pieces[piece], opts, info, report)

    with contextlib.closing(queue), Workers(task, jobs) as workers:
        bar = start(progress, "PNG", total, "images")
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            done += n
            bar.update(done, total)

        try:
            with Listing(root) as listing:
                for split, plan in zip(splits.parts, plans, strict=True):
                    _write_index(plan, info, listing, f"{split}/" if split else "")
                workers.wait(advance)
        finally:
            bar.close()
    return {split: len(p.index) for split, p in zip(splits.parts, plans, strict=True)}
