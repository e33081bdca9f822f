"""Images to PNG trees: ImageFolder/Ultralytics class folders, or one flat folder.

A tree is ``DIR/<class>/<index>.png`` with ``DIR/labels.csv`` (``index,path,label,class``)
and ``DIR/classes.txt`` (the class folders in label order); splits write ``DIR/<split>/...``.
Class folders sort in label order, so torchvision's ``ImageFolder`` and Ultralytics, which
number classes by sorted folder name, give every image its label: numbers are zero-padded
(``00`` .. ``46``) and ``names`` folders start with that number (``0_T-shirt_top``).
``<index>`` is the record's position in its source, zero-padded to the width of the last
index.

The images are streamed: chunk by chunk from the source, batch by batch to the encoder
(inline, or in worker processes that die with their parent), and ``labels.csv`` grows per
batch, so memory stays bounded by the chunk size whatever the dataset's size. Everything
goes into the staging folder that :func:`idxtool.outputs.output_folder` moves into place
when complete.
"""

from __future__ import annotations

import csv
import ctypes
import io
import multiprocessing
import os
import re
import signal
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import DataError, ParameterError
from ...model import LabelInfo, Part, Splits
from ...progress import Progress, ProgressFactory, start
from . import encoder

BATCH = 500
#: Records read from the source at a time (about 4 MiB of 28 x 28 images).
CHUNK = 5000
#: Worker processes when not told: two (one on a single core), not "all cores". Measured on
#: 2 cores by tests/benchmarks/bench_png.py (medians on tmpfs): 2 workers fed by the parent
#: took 0.78-0.87x the time of 1 inline job at 60,000 and 814,255 images; more workers than
#: that only contend for the file system's directory locks.
DEFAULT_JOBS = min(2, os.cpu_count() or 1)
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
    present = sorted(int(v) for v in np.unique(labels))
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
        for value in np.unique(labels):
            keep[np.flatnonzero(labels == value)[:per_class]] = True
        index = index[keep]
    return index[:limit] if limit is not None else index


def index_width(count: int) -> int:
    """Digits of the last index: 60000 records -> 5 (00000..59999)."""
    return len(str(max(count - 1, 0)))


# -- workers ---------------------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """Make this (worker) process die when ``parent`` does, even by SIGKILL.

    On Linux the kernel sends SIGKILL when the parent exits (``prctl(PR_SET_PDEATHSIG)``);
    everywhere, a thread checks every second that the parent is still ours and exits if not.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
            pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            threading.Event().wait(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="idxtool-parent-watch", daemon=True).start()


def _worker_init(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and cleans up
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with_parent(parent)


def _write_batch(root: str, paths: list[str], images: np.ndarray, level: int) -> int:
    encoder.write_batch(paths, images, level, root)
    return len(paths)


class _Writer:
    """Runs batches in a process pool (or inline for one job), a bounded number in flight."""

    def __init__(self, jobs: int | None, total: int, progress: Progress) -> None:
        self.jobs = max(1, jobs or DEFAULT_JOBS)
        self.total, self.done, self.progress = total, 0, progress
        self.pool: Executor | None = None
        self.pending: set[Future[int]] = set()

    def __enter__(self) -> _Writer:
        if self.jobs > 1 and self.total > BATCH:
            methods = multiprocessing.get_all_start_methods()
            ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
            self.pool = ProcessPoolExecutor(
                self.jobs, mp_context=ctx, initializer=_worker_init, initargs=(os.getpid(),)
            )
        return self

    def submit(self, root: str, paths: list[str], images: np.ndarray, level: int) -> None:
        if self.pool is None:
            self._advance(_write_batch(root, paths, images, level))
            return
        self.pending.add(self.pool.submit(_write_batch, root, paths, images, level))
        if len(self.pending) >= 2 * self.jobs:
            self._collect(FIRST_COMPLETED)

    def _collect(self, how: str) -> None:
        done, self.pending = wait(self.pending, return_when=how)
        for future in done:
            self._advance(future.result())

    def _advance(self, n: int) -> None:
        self.done += n
        self.progress.update(self.done, self.total)

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if self.pool is None:
            return
        try:
            if exc_type is None:
                self._collect("ALL_COMPLETED")
        finally:  # on errors and Ctrl-C: drop queued batches, wait for running ones to stop
            self.pool.shutdown(wait=True, cancel_futures=True)


# -- trees -----------------------------------------------------------------------------------


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

    index: np.ndarray
    labels: np.ndarray | None
    folders: dict[int, str] | None
    width: int


def _plan(part: Part, info: LabelInfo, opts: PngOptions, digits: int) -> _Plan:
    check_images(part)
    labels = part.class_labels(info.label_column)
    index = select(labels, part.count, opts.limit, opts.per_class)
    folders = None
    if labels is not None and not opts.flat:
        folders = class_folders(info, labels[index], names=opts.names, width=digits)
    elif labels is not None and opts.names and info.classes is None:
        class_folders(info, labels[:0], names=True)  # the same error as for folders
    return _Plan(index, labels, folders, index_width(part.count))


def _batches(part: Part, index: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(positions, images) of the selected records, at most BATCH at a time, read chunk by chunk."""
    if not len(index):
        return
    seen = 0
    last = int(index[-1])
    for chunk in part.image_chunks(CHUNK):
        end = seen + len(chunk)
        lo, hi = np.searchsorted(index, [seen, end])
        for begin in range(int(lo), int(hi), BATCH):
            positions = index[begin : min(begin + BATCH, int(hi))]
            yield positions, chunk[positions - seen]
        seen = end
        if seen > last:
            return


def _rows(positions: np.ndarray, paths: list[str], labels: np.ndarray | None, info: LabelInfo) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if labels is None:
        w.writerows(zip(positions.tolist(), paths, strict=True))
    else:
        w.writerows(
            (i, path, label, info.name_of(label) or "")
            for i, path, label in zip(positions.tolist(), paths, labels.tolist(), strict=True)
        )
    return buf.getvalue()


def _write_part(folder: Path, part: Part, plan: _Plan, info: LabelInfo, opts: PngOptions, writer: _Writer) -> None:
    flip = _transpose(info, opts)
    folder.mkdir(exist_ok=True)
    if plan.folders is not None:
        for name in sorted(plan.folders.values()):
            (folder / name).mkdir()
        classes = "".join(f"{name}\n" for _, name in sorted(plan.folders.items()))
        (folder / CLASSES_FILE).write_text(classes, "utf-8")
    labelled = plan.labels is not None
    with open(folder / "labels.csv", "w", encoding="utf-8", newline="") as index_file:
        index_file.write("index,path,label,class\n" if labelled else "index,path\n")
        for positions, images in _batches(part, plan.index):
            stems = [f"{i:0{plan.width}d}.png" for i in positions.tolist()]
            labels = plan.labels[positions] if plan.labels is not None else None
            if plan.folders is None or labels is None:
                paths = stems
            else:
                folders = plan.folders
                paths = [f"{folders[v]}/{s}" for v, s in zip(labels.tolist(), stems, strict=True)]
            index_file.write(_rows(positions, paths, labels, info))
            batch = images.transpose(0, 2, 1) if flip else images
            # folder by folder within the batch: fewer switches between directories' locks
            order = sorted(range(len(paths)), key=paths.__getitem__)
            writer.submit(str(folder), [paths[k] for k in order], np.ascontiguousarray(batch[order]), opts.level)


def _transpose(info: LabelInfo, opts: PngOptions) -> bool:
    return info.transpose if opts.transpose is None else opts.transpose


def write_tree(
    root: Path, splits: Splits, opts: PngOptions = PngOptions(), progress: ProgressFactory | None = None
) -> dict[str, int]:
    """Write ``splits`` as PNG trees into the existing, empty folder ``root`` (one per split).

    Returns
    -------
    dict[str, int]
        Images written per split.
    """
    info = splits.info
    every = [p.class_labels(info.label_column) for p in splits.parts.values()]
    present = np.concatenate([np.unique(y) for y in every if y is not None] or [np.zeros(0, np.int64)])
    digits = label_width(info, present)
    plans = {split: _plan(part, info, opts, digits) for split, part in splits.parts.items()}
    total = sum(len(p.index) for p in plans.values())
    bar = start(progress, "PNG", total, "images")
    try:
        with _Writer(opts.jobs, total, bar) as writer:
            for split, plan in plans.items():
                folder = root / split if split else root
                _write_part(folder, splits.parts[split], plan, info, opts, writer)
    finally:
        bar.close()
    return {s: len(p.index) for s, p in plans.items()}
