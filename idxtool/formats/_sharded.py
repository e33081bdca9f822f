"""What the sharded formats (Parquet, WebDataset) share: shard plans, PNG bytes, label columns, metadata.

Both write each record as a PNG (8-bit grayscale, upright: EMNIST is transposed as its
manifest says) with its class label and, for 2-d labels (QMNIST's extended ones), the
other label columns under their field names. Both record what IDX needs to come back
exactly (record shape, orientation, label offset, label columns) in :class:`Meta`.
"""

from __future__ import annotations

import itertools
import json
import math
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import DataError, ParameterError
from ..model import LabelInfo, Part, Splits
from . import WriteOptions
from .png import encoder


def shard_count(options: WriteOptions, records: int, record_bytes: int) -> int:
    """Shards for a split of ``records`` records of ``record_bytes`` raw bytes each."""
    shards, target = options.shards, options.shard_bytes
    if shards is not None:
        if shards < 1:
            raise ParameterError("shards", shards, "must be at least 1")
        return max(1, min(shards, records))
    if target < 1:
        raise ParameterError("shard_bytes", target, "must be at least 1")
    return max(1, min(math.ceil(records * record_bytes / target), records))


def bounds(records: int, shards: int) -> list[tuple[int, int]]:
    """``shards`` contiguous record ranges of (nearly) equal size covering ``records``."""
    edges = [round(i * records / shards) for i in range(shards + 1)]
    return list(itertools.pairwise(edges))


def split_name(split: str) -> str:
    """A lone pair is written as the split ``train`` (the Hub and WebDataset need a name)."""
    return split or "train"


@dataclass(frozen=True)
class Meta:
    """What IDX needs back: record shape, orientation, label offset and label columns."""

    shape: list[int]
    transposed: bool = False
    label_offset: int = 0
    classes: list[str] | None = None
    label_column: int = 0
    label_fields: list[str] | None = None  # 2-d labels: every column's name, in order
    dataset: str | None = None
    labelled: bool = True
    label_dtype: str = "uint8"
    splits: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> str:
        """The metadata as one JSON object."""
        return json.dumps({"written_by": "idxtool", **asdict(self)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes, where: str) -> Meta:
        """Metadata written by :meth:`to_json`."""
        try:
            data = json.loads(text)
            names = set(cls.__dataclass_fields__)
            return cls(**{k: v for k, v in data.items() if k in names})
        except (ValueError, TypeError) as exc:
            raise DataError(f"{where}: unreadable idxtool metadata ({exc})") from exc

    def label_info(self) -> LabelInfo:
        """The label information of the splits this metadata describes."""
        return LabelInfo(
            classes=tuple(self.classes) if self.classes else None,
            label_offset=self.label_offset,
            dataset=self.dataset,
            label_column=self.label_column,
            label_fields=tuple(self.label_fields) if self.label_fields else None,
        )


def meta_of(splits: Splits) -> Meta:
    """The metadata of ``splits``; raises DataError for images PNG cannot hold."""
    parts = list(splits.parts.values())
    first = parts[0]
    for part in parts:
        if part.dtype != np.uint8 or len(part.shape) != 3:
            shape = " x ".join(map(str, part.shape[1:]))
            raise DataError(
                f"{part.images_name}: records are {shape} {part.dtype}; "
                "Parquet and WebDataset images are 2-d uint8 (8-bit grayscale PNG)"
            )
        if part.shape[1:] != first.shape[1:]:
            raise DataError(f"{part.images_name}: records are {part.shape[1:]}, other splits' {first.shape[1:]}")
    info = splits.info
    labelled = [p.labels is not None for p in parts]
    if any(labelled) and not all(labelled):
        raise DataError(f"{splits.name or 'input'}: some splits have labels and some do not")
    label_fields = None
    label_dtype = "uint8"
    if all(labelled) and parts:
        ndims = {p.labels.ndim for p in parts if p.labels is not None}
        dtypes = {p.labels.dtype.str for p in parts if p.labels is not None}
        label_dtype = np.dtype(sorted(dtypes)[0]).newbyteorder("=").name
        if ndims == {2}:
            width = int(first.labels.shape[1])  # type: ignore[union-attr]
            names = list(info.label_fields or [])
            label_fields = names if len(names) == width else [f"label_{i}" for i in range(width)]
    classes = list(info.classes) if info.classes else None
    return Meta(
        shape=[int(s) for s in first.shape[1:]],
        transposed=info.transpose,
        label_offset=info.label_offset,
        classes=classes,
        label_column=info.label_column,
        label_fields=label_fields,
        dataset=info.dataset,
        labelled=bool(parts) and all(labelled),
        label_dtype=label_dtype,
        splits={split_name(s): p.count for s, p in splits.parts.items()},
    )


def class_names(meta: Meta, parts: list[Part]) -> list[str] | None:
    """The class names labels index (0-based after the offset): the dataset's, else ``0``..``max``."""
    if not meta.labelled:
        return None
    if meta.classes:
        return list(meta.classes)
    top = -1
    for part in parts:
        labels = part.class_labels(meta.label_column)
        if labels is not None and len(labels):
            if int(labels.min()) < 0:
                return None
            top = max(top, int(labels.max()))
    return [str(i) for i in range(top + 1)]


def extra_columns(meta: Meta) -> list[tuple[int, str]]:
    """2-d labels: the (column, field name) of every label column but the class's."""
    if not meta.label_fields:
        return []
    return [(i, name) for i, name in enumerate(meta.label_fields) if i != meta.label_column]


# -- PNG bytes ---------------------------------------------------------------------------------


def png_batch(images: np.ndarray, *, transpose: bool) -> list[bytes]:
    """PNG files of a (k, h, w) uint8 batch (rows and columns swapped first if ``transpose``).

    The same bytes as :func:`idxtool.formats.png.encoder.encode`, framed in one tight loop.
    """
    if transpose:
        images = np.ascontiguousarray(images.transpose(0, 2, 1))
    if not len(images):
        return []
    top = encoder.head(*images.shape[1:])
    rows = encoder.with_filter_bytes(images).reshape(len(images), -1)
    deflate, crc32 = encoder.deflate, zlib.crc32
    tag_crc = crc32(b"IDAT")
    tail = encoder.encode(np.zeros((1, 1), np.uint8))[-12:]  # the IEND chunk
    out = []
    for row in rows:
        z = deflate(row.data)  # type: ignore[arg-type]  # any buffer: zlib takes one
        out.append(b"".join((top, len(z).to_bytes(4, "big"), b"IDAT", z, crc32(z, tag_crc).to_bytes(4, "big"), tail)))
    return out


def decode_png(data: bytes, where: str) -> np.ndarray:
    """An 8-bit grayscale PNG's pixels: idxtool's own (filter 0, one IDAT) fast, any other by Pillow."""
    fast = _decode_simple(data)
    if fast is not None:
        return fast
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.mode != "L":
                raise DataError(f"{where}: is a {im.mode} image; expected 8-bit grayscale (mode L)")
            return np.asarray(im)
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"{where}: not a readable PNG ({exc})") from exc


def _decode_simple(data: bytes) -> np.ndarray | None:
    """Pixels of a grayscale 8-bit PNG whose rows all use filter 0; None for any other PNG."""
    if not data.startswith(encoder.SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[24:29] != b"\x08\x00\x00\x00\x00":  # depth 8, grayscale, deflate, filter method 0, no interlace
        return None
    pos, idat = 33, []
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        tag = data[pos + 4 : pos + 8]
        if tag == b"IDAT":
            idat.append(data[pos + 8 : pos + 8 + length])
        elif tag == b"IEND":
            break
        pos += 12 + length
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error:
        return None
    if len(raw) != height * (width + 1):
        return None
    rows = np.frombuffer(raw, np.uint8).reshape(height, width + 1)
    if rows[:, 0].any():
        return None
    return rows[:, 1:].copy()


def stack(images: list[np.ndarray], shape: list[int], where: str) -> np.ndarray:
    """(N, *shape) uint8 from decoded images, each checked against ``shape``."""
    out = np.empty((len(images), *shape), np.uint8)
    for i, image in enumerate(images):
        if list(image.shape) != shape:
            raise DataError(f"{where}: record {i} is {image.shape}, the others are {tuple(shape)}")
        out[i] = image
    return out


def restore(images: np.ndarray, meta: Meta) -> np.ndarray:
    """Images as the source had them: swapped back when they were written transposed."""
    return np.ascontiguousarray(images.transpose(0, 2, 1)) if meta.transposed else images


def labels_back(class_col: np.ndarray, extras: dict[str, np.ndarray], meta: Meta) -> np.ndarray:
    """The source labels: the class column (offset restored), with the other columns for 2-d labels."""
    dtype = np.dtype(meta.label_dtype)
    labels = class_col.astype(np.int64) + meta.label_offset
    if not meta.label_fields:
        return labels.astype(dtype)
    out = np.empty((len(labels), len(meta.label_fields)), dtype)
    for i, name in enumerate(meta.label_fields):
        out[:, i] = labels if i == meta.label_column else extras[name]
    return out


def chunks_between(part: Part, first: int, end: int) -> Iterator[tuple[int, np.ndarray]]:
    """(record index, images) chunks of records ``first`` to ``end`` of ``part``, in order."""
    seen = first
    for chunk in part.select(first, end).image_chunks():
        yield seen, chunk
        seen += len(chunk)
