"""The in-memory model every command works on: parts, splits, and what labels mean.

A :class:`Part` is one images array with its labels (or none). :class:`Splits` holds one or
more parts by split name (``""`` for a lone pair) with their :class:`LabelInfo`: class
names, label offset, orientation and label column, built from a registered dataset by
:meth:`LabelInfo.of`. :class:`SplitFiles` says where a split's IDX files are, and which
records of them are meant.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .errors import DataError
from .selection import Selection

if TYPE_CHECKING:
    from .registry import Dataset

__all__ = [
    "ImageSource",
    "LabelInfo",
    "Part",
    "SplitFiles",
    "Splits",
    "check_classes",
    "check_images_shape",
    "check_part",
]


@dataclass(frozen=True)
class LabelInfo:
    """What a registered dataset says about its labels and images."""

    classes: tuple[str, ...] | None = None
    label_offset: int = 0
    transpose: bool = False
    dataset: str | None = None
    #: 2-d labels (QMNIST's extended ones): the column holding the class.
    label_column: int = 0
    #: 2-d labels: the name of each column (QMNIST's ``label_fields``).
    label_fields: tuple[str, ...] | None = None

    @classmethod
    def of(cls, dataset: Dataset) -> LabelInfo:
        """The label information a dataset's manifest declares."""
        fields = dataset.extras.get("label_fields")
        return cls(
            classes=dataset.classes,
            label_offset=dataset.label_offset,
            transpose=dataset.transpose,
            dataset=dataset.name,
            label_column=dataset.label_column or 0,
            label_fields=tuple(fields) if fields else None,
        )

    def name_of(self, label: int) -> str | None:
        """The class name of label value ``label``, or None when unnamed."""
        if self.classes is None:
            return None
        i = label - self.label_offset
        return self.classes[i] if 0 <= i < len(self.classes) else None


class ImageSource(Protocol):
    """Images that are read when asked for: their shape and type at once, the records in chunks.

    A source may also have ``read()``, all its records in one array, which :attr:`Part.images`
    then prefers to joining the chunks (an IDX file fills one allocation in place).
    """

    @property
    def shape(self) -> tuple[int, ...]:
        """Records, then the record shape."""
        ...

    @property
    def dtype(self) -> np.dtype[Any]:
        """The element type (native byte order)."""
        ...

    def chunks(self, records: int | None = None, *, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Records ``start`` to ``stop`` in order, ``records`` at a time (default: about 4 MiB a chunk)."""
        ...


class Part:
    """One split: images and their labels (or None), with names for messages.

    Images are an array, or an :class:`ImageSource` streamed in chunks: streaming writers
    iterate :meth:`image_chunks` in bounded memory; :attr:`images` reads them whole (once)
    for writers that need them all. Labels are always in memory (one value per record).
    """

    def __init__(
        self,
        images: np.ndarray | ImageSource,
        labels: np.ndarray | None = None,
        images_name: str = "images",
        labels_name: str | None = None,
    ) -> None:
        self._array: np.ndarray | None = images if isinstance(images, np.ndarray) else None
        self._source: ImageSource | None = None if isinstance(images, np.ndarray) else images
        self.labels = labels
        self.images_name = images_name
        self.labels_name = labels_name

    @property
    def images(self) -> np.ndarray:
        """All images as one array (a streamed source is read whole, once).

        A source that reads itself whole (``read()``: an IDX file, into one allocation that
        its size vouches for) does; any other is read chunk by chunk and joined.
        """
        if self._array is None:
            if self._source is None:  # pragma: no cover - one of the two is always set
                raise DataError(f"{self.images_name}: no images")
            read = getattr(self._source, "read", None)
            if callable(read):
                self._array = read()
            else:
                chunks = list(self._source.chunks())
                self._array = np.concatenate(chunks) if chunks else np.empty(self._source.shape, self._source.dtype)
            self._source = None
        return self._array

    @property
    def streamed(self) -> bool:
        """True while the images are still only a source, not an array in memory."""
        return self._array is None

    @property
    def seekable(self) -> bool:
        """True when reading from a record on costs nothing for the records before it: an
        array, or a source that says so (an uncompressed file); a compressed file is not."""
        return self._array is not None or bool(getattr(self._source, "seekable", False))

    @property
    def shape(self) -> tuple[int, ...]:
        """The images' shape: records, then the record shape."""
        return tuple(self._array.shape) if self._array is not None else tuple(self._source.shape)  # type: ignore[union-attr]

    @property
    def dtype(self) -> np.dtype[Any]:
        """The images' element type."""
        return self._array.dtype if self._array is not None else self._source.dtype  # type: ignore[union-attr]

    @property
    def count(self) -> int:
        """Number of records."""
        return int(self.shape[0])

    def image_chunks(
        self, records: int | None = None, *, start: int = 0, stop: int | None = None
    ) -> Iterator[np.ndarray]:
        """Images ``start`` to ``stop`` (default: all) in order, in chunks of ``records`` (default:
        about 4 MiB), in bounded memory. A file is read from ``start`` on where it can be."""
        if self._array is None:
            yield from self._source.chunks(records, start=start, stop=stop)  # type: ignore[union-attr]
            return
        size = max(int(np.prod(self._array.shape[1:], dtype=np.int64)) * self._array.itemsize, 1)
        step = records or max(1, (4 << 20) // size)
        end = len(self._array) if stop is None else stop
        for begin in range(start, end, step):
            yield self._array[begin : min(begin + step, end)]

    def class_labels(self, column: int = 0) -> np.ndarray | None:
        """One integer label per record: the labels, or one column of 2-D (QMNIST-style) labels."""
        if self.labels is None:
            return None
        return self.labels if self.labels.ndim == 1 else self.labels[:, column]

    def select(self, first: int, end: int) -> Part:
        """Records ``first`` to ``end`` (exclusive): views of arrays, or a narrower source."""
        labels = None if self.labels is None else self.labels[first:end]
        if self._array is not None:
            return Part(self._array[first:end], labels, self.images_name, self.labels_name)
        return Part(_Range(self._source, first, end), labels, self.images_name, self.labels_name)  # type: ignore[arg-type]


class _Range:
    """Records ``first`` to ``end`` of another image source."""

    def __init__(self, source: ImageSource, first: int, end: int) -> None:
        self.source, self.first, self.end = source, first, end

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.end - self.first, *self.source.shape[1:])

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.source.dtype

    @property
    def seekable(self) -> bool:
        return bool(getattr(self.source, "seekable", False))

    def chunks(self, records: int | None = None, *, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        end = self.end if stop is None else self.first + stop
        return self.source.chunks(records, start=self.first + start, stop=end)

    def read(self) -> np.ndarray:
        """The records, read chunk by chunk into one array (the source's shape vouches for it)."""
        out = np.empty(self.shape, self.dtype)
        at = 0
        for chunk in self.chunks():
            out[at : at + len(chunk)] = chunk
            at += len(chunk)
        if at != len(out):  # pragma: no cover - a source yields its records or raises
            raise DataError(f"records {self.first} to {self.end}: the source ended after {self.first + at}")
        return out


@dataclass
class Splits:
    """Parts by split name (``""`` for a lone pair) and their label information."""

    parts: dict[str, Part]
    info: LabelInfo = field(default_factory=LabelInfo)
    name: str = ""

    @property
    def is_pair(self) -> bool:
        """True for a lone images/labels pair (no split names)."""
        return list(self.parts) == [""]

    @property
    def count(self) -> int:
        """Records in all parts."""
        return sum(p.count for p in self.parts.values())

    def with_info(self, info: LabelInfo) -> Splits:
        """These splits with the label information of a registered dataset, checked."""
        for part in self.parts.values():
            check_classes(part, info)
        return replace(self, info=info)


@dataclass(frozen=True)
class SplitFiles:
    """Where one split's IDX files are, and which of their records are meant.

    ``images`` is None for a split published as a labels table alone.
    """

    images: Path | None
    labels: Path | None = None
    selection: Selection | None = None
    #: How messages name the split: ``mnist:train``; empty for a lone pair of files.
    label: str = ""


# -- checks --------------------------------------------------------------------------------


def check_images_shape(shape: Sequence[int], name: str) -> None:
    """Images have a record axis and at least one more; a 1-d file is a labels file."""
    if len(shape) < 2:
        count = shape[0] if shape else 1
        raise DataError(
            f"{name}: is 1-dimensional ({count:,} values), which is a labels file, not images; "
            "give the images file first"
        )


def check_part(part: Part) -> Part:
    """Check that images and labels belong together; raise DataError when they cannot."""
    check_images_shape(part.shape, part.images_name)
    if part.labels is None:
        return part
    if part.labels.ndim not in (1, 2):
        shape = " x ".join(map(str, part.labels.shape))
        raise DataError(
            f"{part.labels_name}: is {shape}, which looks like images, not labels (labels are 1- or 2-dimensional)"
        )
    if part.labels.dtype.kind not in "iu":
        raise DataError(f"{part.labels_name}: labels must be integers, not {part.labels.dtype}")
    if len(part.labels) != part.count:
        raise DataError(
            f"{part.images_name} has {part.count:,} records but {part.labels_name} has "
            f"{len(part.labels):,} labels; give the labels file that belongs to these images"
        )
    return part


def check_classes(part: Part, info: LabelInfo) -> None:
    """Every label must name one of the dataset's classes."""
    labels = part.class_labels(info.label_column)
    if labels is None or info.classes is None or not len(labels):
        return
    k, off = len(info.classes), info.label_offset
    bad = np.flatnonzero((labels < off) | (labels >= off + k))
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{part.labels_name}: label {int(labels[i])} at record {i:,} does not fit the {k} classes "
            f"of {info.dataset} (labels {off}..{off + k - 1})"
        )
