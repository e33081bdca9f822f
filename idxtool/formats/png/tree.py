"""Images to PNG trees: ImageFolder/Ultralytics class folders, or one flat folder.

A tree is ``DIR/<class>/<index>.png`` with ``DIR/labels.csv`` (``index,path,label,class``);
splits write ``DIR/<split>/...``. ``<index>`` is the record's position in its source,
zero-padded to the width of the last index. Encoding runs in worker processes over batches
of records, into the staging folder that :func:`idxtool.outputs.output_folder` moves into
place when complete.
"""

from __future__ import annotations

import csv
import io
import multiprocessing
import os
import re
import signal
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import DataError, ParameterError
from ...model import LabelInfo, Part, Splits
from ...progress import Progress, ProgressFactory, start
from . import encoder

BATCH = 500
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
    jobs: int | None = None  # worker processes; None: all cores
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


def class_folders(info: LabelInfo, labels: np.ndarray, *, names: bool) -> dict[int, str]:
    """Label value -> folder name: the label number, or the safe class name with ``names``.

    Names that differ only in case (EMNIST's ``A`` and ``a``) would share a folder on macOS
    and Windows: the later one gets ``_lower`` (or ``_upper``, else ``_<label>``).
    """
    present = sorted(int(v) for v in np.unique(labels))
    if not names:
        return {v: str(v) for v in present}
    if info.classes is None:
        raise ParameterError("names", names, "needs class names: give a dataset name, or dataset=NAME for files")
    folders: dict[int, str] = {}
    used: set[str] = set()
    for i, cls in enumerate(info.classes):
        label = i + info.label_offset
        name = safe_name(cls, str(label))
        if name.casefold() in used:
            if name.lower() == name != name.upper():
                name += "_lower"
            elif name.upper() == name != name.lower():
                name += "_upper"
            while name.casefold() in used:
                name += f"_{label}"
        used.add(name.casefold())
        folders[label] = name
    return {v: folders.get(v, str(v)) for v in present}


def select(labels: np.ndarray | None, count: int, limit: int | None, per_class: int | None) -> np.ndarray:
    """Record positions to export, in source order: the first ``per_class`` of each class, then ``limit``."""
    index = np.arange(count)
    if per_class is not None:
        if labels is None:
            raise ParameterError("per_class", per_class, "needs labels: give the labels file too")
        keep = np.zeros(count, bool)
        for value in np.unique(labels):
            keep[np.flatnonzero(labels == value)[:per_class]] = True
        index = index[keep]
    return index[:limit] if limit is not None else index


def index_width(count: int) -> int:
    """Digits of the last index: 60000 records -> 5 (00000..59999)."""
    return len(str(max(count - 1, 0)))


# -- workers ---------------------------------------------------------------------------------


def _worker_init() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and cleans up


def _write_batch(root: str, paths: list[str], images: np.ndarray, level: int) -> int:
    encoder.write_batch(paths, images, level, root)
    return len(paths)


class _Writer:
    """Runs batches in a process pool (or inline for one job), a bounded number in flight."""

    def __init__(self, jobs: int | None, total: int, progress: Progress) -> None:
        self.jobs = max(1, jobs or os.cpu_count() or 1)
        self.total, self.done, self.progress = total, 0, progress
        self.pool: Executor | None = None
        self.pending: set[Future[int]] = set()

    def __enter__(self) -> _Writer:
        if self.jobs > 1 and self.total > BATCH:
            methods = multiprocessing.get_all_start_methods()
            ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
            self.pool = ProcessPoolExecutor(self.jobs, mp_context=ctx, initializer=_worker_init)
        return self

    def submit(self, root: str, paths: list[str], images: np.ndarray, level: int) -> None:
        if self.pool is None:
            self._advance(_write_batch(root, paths, images, level))
            return
        self.pending.add(self.pool.submit(_write_batch, root, paths, images, level))
        if len(self.pending) >= 3 * self.jobs:
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
    """PNG export takes (N, H, W) uint8 images."""
    images = part.images
    if images.ndim != 3 or images.dtype != np.uint8:
        shape = " x ".join(map(str, images.shape))
        raise DataError(
            f"{part.images_name}: is {shape} {images.dtype}; PNG export needs 8-bit grayscale "
            "images (N x height x width uint8)"
        )


def _plan(part: Part, info: LabelInfo, opts: PngOptions) -> tuple[np.ndarray, list[str], list[tuple[str, ...]]]:
    """Record positions, relative paths and labels.csv rows for one part."""
    check_images(part)
    labels = part.class_labels(info.label_column)
    index = select(labels, part.count, opts.limit, opts.per_class)
    width = index_width(part.count)
    stems = [f"{i:0{width}d}.png" for i in index.tolist()]
    if labels is None:
        return index, stems, [(str(i), s) for i, s in zip(index.tolist(), stems, strict=True)]
    chosen = labels[index]
    folders = class_folders(info, chosen, names=opts.names)
    rows: list[tuple[str, ...]] = []
    paths: list[str] = []
    for i, stem, label in zip(index.tolist(), stems, chosen.tolist(), strict=True):
        path = stem if opts.flat else f"{folders[label]}/{stem}"
        paths.append(path)
        rows.append((str(i), path, str(label), info.name_of(label) or ""))
    return index, paths, rows


def _labels_csv(rows: list[tuple[str, ...]], *, labelled: bool) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["index", "path", "label", "class"] if labelled else ["index", "path"])
    w.writerows(rows)
    return buf.getvalue().encode()


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
    plans = {split: _plan(part, splits.info, opts) for split, part in splits.parts.items()}
    total = sum(len(index) for index, _, _ in plans.values())
    flip = _transpose(splits.info, opts)
    bar = start(progress, "PNG", total, "images")
    try:
        with _Writer(opts.jobs, total, bar) as writer:
            for split, (index, paths, rows) in plans.items():
                part = splits.parts[split]
                folder = root / split if split else root
                folder.mkdir(exist_ok=True)
                for sub in sorted({p.rpartition("/")[0] for p in paths} - {""}):
                    (folder / sub).mkdir()
                (folder / "labels.csv").write_bytes(_labels_csv(rows, labelled=part.labels is not None))
                # folder by folder: workers then rarely contend for the same directory's lock
                order = sorted(range(len(index)), key=lambda k: paths[k].rpartition("/")[0])
                for begin in range(0, len(order), BATCH):
                    batch = order[begin : begin + BATCH]
                    images = part.images[index[batch]]
                    if flip:
                        images = np.ascontiguousarray(images.transpose(0, 2, 1))
                    writer.submit(str(folder), [paths[k] for k in batch], images, opts.level)
    finally:
        bar.close()
    return {s: len(p[0]) for s, p in plans.items()}
