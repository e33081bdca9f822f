"""CSV, one record a row: ``label,pixel0,...`` (Kaggle) and the other common headers.

Writing is vectorised: every value becomes a fixed-width token looked up in a table (digits,
then ``,`` or a newline), and the padding is squeezed out in one pass; 10-13x faster than
``numpy.savetxt`` in memory (tests/benchmarks/bench_scale.py). Images stream from their
source ``ROWS_PER_CHUNK`` rows at a time, so memory stays bounded at any size. Reading
restores square images (784 -> 28 x 28) or takes ``shape``.
"""

from __future__ import annotations

import io
import math
import os
import re
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import IO

import numpy as np

from .. import compress
from ..errors import DataError, UsageError
from ..model import Part, Splits
from ..progress import ProgressFactory
from . import CSV_HEADERS, ReadOptions, Target, WriteOptions, stem_suffix

HEADERS = CSV_HEADERS
ROWS_PER_CHUNK = 2048


def header_line(style: str, record_shape: Sequence[int], *, labelled: bool) -> bytes:
    """The header row for ``style`` (empty for ``none``)."""
    n = math.prod(record_shape)
    if style == "none":
        return b""
    if style == "pixel0":
        cols = [f"pixel{i}" for i in range(n)]
    elif style == "pixel1":
        cols = [f"pixel{i + 1}" for i in range(n)]
    elif style == "rowcol":
        if len(record_shape) != 2:
            raise UsageError(f"--header rowcol needs 2-d images, not {'x'.join(map(str, record_shape))}")
        h, w = record_shape
        cols = [f"{r + 1}x{c + 1}" for r in range(h) for c in range(w)]
    else:
        raise UsageError(f"unknown CSV header {style!r} (choose from {', '.join(HEADERS)})")
    return (",".join((["label"] if labelled else []) + cols) + "\n").encode()


# -- vectorised formatting -----------------------------------------------------------------


@lru_cache(maxsize=8)
def _tokens(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Tables of ``str(v) + ','`` and ``str(v) + '\\n'`` for lo..hi, NUL-padded to 4 or 8 bytes."""
    texts = [str(v).encode() for v in range(lo, hi + 1)]
    width = 4 if max(map(len, texts)) < 4 else 8
    comma = np.zeros((len(texts), width), np.uint8)
    for i, t in enumerate(texts):
        comma[i, : len(t)] = np.frombuffer(t, np.uint8)
    newline = comma.copy()
    lengths = np.fromiter(map(len, texts), np.intp, len(texts))
    rows = np.arange(len(texts))
    comma[rows, lengths] = ord(",")
    newline[rows, lengths] = ord("\n")
    view = np.uint32 if width == 4 else np.uint64
    return comma.view(view).ravel(), newline.view(view).ravel()


def format_rows(values: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """CSV text (as uint8 bytes) of the rows of a 2-d array, each after its label if given."""
    dtype = values.dtype if labels is None else np.result_type(labels.dtype, values.dtype)
    if len(values) == 0:
        return np.empty(0, np.uint8)
    if dtype.kind in "iub":
        lo = min(int(values.min()), int(labels.min()) if labels is not None else 0)
        hi = max(int(values.max()), int(labels.max()) if labels is not None else 0)
        if dtype == np.uint8:
            lo, hi = 0, 255
        if hi - lo < 1 << 16:
            return _format_table(values, labels, lo, hi)
    if labels is not None:
        values = np.concatenate([labels[:, None].astype(dtype), values.astype(dtype)], axis=1)
    # other integers: str; floats: repr, the shortest text that reads back to the same value
    fmt = str if dtype.kind in "iub" else repr
    text = "".join(",".join(map(fmt, row)) + "\n" for row in values.tolist())
    return np.frombuffer(text.encode(), np.uint8)


def _format_table(values: np.ndarray, labels: np.ndarray | None, lo: int, hi: int) -> np.ndarray:
    comma, newline = _tokens(lo, hi)
    first = int(labels is not None)
    tok = np.empty((len(values), values.shape[1] + first), comma.dtype)

    def shift(a: np.ndarray) -> np.ndarray:
        return a.astype(np.intp) - lo if lo else a

    np.take(comma, shift(values), out=tok[:, first:])
    if labels is not None:
        np.take(comma, shift(labels), out=tok[:, 0])
    last = values[:, -1] if values.shape[1] or labels is None else labels
    tok[:, -1] = newline[shift(last)]
    # squeeze the NUL padding out: bytes.translate deletes at ~2x the speed of a boolean mask
    return np.frombuffer(tok.tobytes().translate(None, b"\0"), np.uint8)


def _blocks(part: Part) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Rows and their labels, ``ROWS_PER_CHUNK`` at a time, the images streamed from their source."""
    labels = part.labels
    if labels is not None and labels.ndim != 1:
        raise DataError(
            f"{part.labels_name}: CSV holds one label a row, but these labels have "
            f"{labels.shape[1]} columns; use --to npz or npy to keep them"
        )
    start = 0
    for chunk in part.image_chunks(ROWS_PER_CHUNK):
        end = start + len(chunk)
        yield chunk.reshape(len(chunk), -1), None if labels is None else labels[start:end]
        start = end


def write_part(out: IO[bytes], part: Part, header: str = "pixel0", threads: int = 2) -> None:
    """Write one part as CSV text to ``out``; blocks are formatted on ``threads`` threads."""
    out.write(header_line(header, part.shape[1:], labelled=part.labels is not None))
    blocks = _blocks(part)
    with ThreadPoolExecutor(max(1, threads)) as pool:  # numpy releases the GIL while it gathers
        pending: deque[Future[np.ndarray]] = deque()
        for values, labels in blocks:
            pending.append(pool.submit(format_rows, values, labels))
            if len(pending) > 2 * threads:  # a bounded window: memory stays small
                out.write(pending.popleft().result().data)
        while pending:
            out.write(pending.popleft().result().data)


def _compressed(fh: IO[bytes], compression: compress.Compression) -> IO[bytes]:
    return compress.open_write(fh, compression) if compression != "raw" else fh


def write(
    out: str | os.PathLike[str],
    coll: Splits,
    header: str = "pixel0",
    compression: compress.Compression | None = None,
    *,
    name: str | os.PathLike[str] | None = None,
) -> list[Path]:
    """A pair to the file ``out``; splits to ``out/<split>.csv`` (``out`` an existing folder).

    A pair's compression comes from the suffix of ``name`` (default ``out``) when None.
    """
    if coll.is_pair:
        kind = compression or compress.from_suffix(name or out)
        with open(out, "wb") as fh:
            stream = _compressed(fh, kind)
            write_part(stream, coll.parts[""], header)
            if stream is not fh:
                stream.close()
        return [Path(out)]
    kind = compression or "raw"
    suffix = {"raw": "", "gzip": ".gz", "xz": ".xz", "bz2": ".bz2"}[kind]
    targets = [Path(out) / f"{split}.csv{suffix}" for split in coll.parts]
    for target, part in zip(targets, coll.parts.values(), strict=True):
        with open(target, "xb") as fh:
            stream = _compressed(fh, kind)
            write_part(stream, part, header)
            if stream is not fh:
                stream.close()
    return targets


# -- reading -------------------------------------------------------------------------------

_ROWCOL = re.compile(r"^(\d+)x(\d+)$")


def _narrow(arr: np.ndarray) -> np.ndarray:
    """The smallest IDX element type that holds ``arr`` exactly (uint8 for pixels and digits)."""
    if arr.dtype.kind == "f":
        as32 = arr.astype(np.float32)
        return as32 if np.array_equal(as32, arr) else arr
    if arr.size == 0:
        return arr.astype(np.uint8)
    lo, hi = int(arr.min()), int(arr.max())
    for dt in (np.uint8, np.int8, np.int16, np.int32):
        info = np.iinfo(dt)
        if info.min <= lo and hi <= info.max:
            return arr.astype(dt)
    return arr


def _shape_for(n: int, header: list[str] | None, shape: tuple[int, ...] | None, name: str) -> tuple[int, ...]:
    if shape is not None:
        if math.prod(shape) != n:
            raise UsageError(
                f"{name}: --shape {'x'.join(map(str, shape))} holds {math.prod(shape)} values, rows have {n}"
            )
        return shape
    if header and (m := _ROWCOL.match(header[-1])) and int(m[1]) * int(m[2]) == n:
        return int(m[1]), int(m[2])
    side = math.isqrt(n)
    if side * side != n:
        raise UsageError(f"{name}: rows have {n} pixel values, not a square; pass --shape HxW")
    return side, side


def read_file(path: str | os.PathLike[str], shape: tuple[int, ...] | None = None) -> Part:
    """Read one CSV file (any compression, with or without header and label column)."""
    name = str(path)
    with compress.open_read(path) as fh:
        text = fh.read()
    first = text[: text.find(b"\n") if b"\n" in text else len(text)].decode("utf-8", "replace").strip()
    fields = [f.strip().strip('"') for f in first.split(",")]
    has_header = any(not _is_number(f) for f in fields)
    if has_header:
        labelled = fields[0].lower() == "label"
        pixels = len(fields) - labelled
    else:
        n = len(fields)
        if shape is not None:
            labelled = math.prod(shape) != n
        else:
            labelled = math.isqrt(n) ** 2 != n and math.isqrt(n - 1) ** 2 == n - 1
        pixels = n - labelled
    record_shape = _shape_for(pixels, fields if has_header else None, shape, name)
    try:
        values = np.loadtxt(io.BytesIO(text), delimiter=",", skiprows=int(has_header), ndmin=2, dtype=np.int64)
    except ValueError:
        try:
            values = np.loadtxt(io.BytesIO(text), delimiter=",", skiprows=int(has_header), ndmin=2, dtype=np.float64)
        except ValueError as exc:
            raise DataError(f"{name}: not a CSV of numbers ({exc})") from exc
    if values.shape[1] != pixels + labelled:
        raise DataError(f"{name}: rows have {values.shape[1]} values, the header has {pixels + labelled} columns")
    labels = _narrow(values[:, 0]) if labelled else None
    images = _narrow(values[:, int(labelled) :]).reshape((len(values), *record_shape))
    return Part(images, labels, name, f"{name}[label]" if labelled else None)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read(path: str | os.PathLike[str], shape: tuple[int, ...] | None = None) -> Splits:
    """A CSV file (a pair) or a folder of ``<split>.csv`` files (splits)."""
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if ".csv" in f.suffixes)
        return Splits({f.name.split(".csv")[0]: read_file(f, shape) for f in files}, name=str(p))
    return Splits({"": read_file(p, shape)}, name=str(p))


class CsvFormat:
    """CSV, one record a row (Kaggle's ``label,pixel0,...``); a folder of ``<split>.csv`` for splits."""

    name = "csv"
    max_inputs = 1
    sniff_order = 40

    def sniff(self, path: Path) -> bool:
        if path.is_dir():
            names = [c for c in path.iterdir()]
            return (
                any(stem_suffix(c) == ".csv" for c in names)
                and not (path / "labels.csv").exists()
                and not any(c.is_dir() for c in names)
            )
        return path.is_file() and stem_suffix(path) == ".csv"

    def read(self, paths: Sequence[Path], options: ReadOptions) -> Splits:
        return read(paths[0], options.shape)

    def target(self, splits: Splits) -> Target:
        return "file" if splits.is_pair else "folder"

    def write(
        self, splits: Splits, out: Path, options: WriteOptions, *, final: Path, progress: ProgressFactory | None
    ) -> None:
        write(out, splits, options.header, options.compression, name=final)


FORMAT = CsvFormat()
