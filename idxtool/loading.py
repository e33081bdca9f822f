"""From resolved sources to files and arrays: the one way every command and ``load`` reads data.

:func:`input_files` turns sources into the IDX files of each split (fetching a dataset
first when needed), :func:`read_splits` reads any source, IDX or another format, into
:class:`~idxtool.model.Splits`, and :func:`load` is the public ``idxtool.load``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

import numpy as np

from .errors import DataError, UsageError
from .idx import IdxFile, open_idx
from .model import LabelInfo, Part, SplitFiles, Splits, check_classes, check_images_shape, check_part
from .progress import ProgressFactory
from .sources import DatasetRef, Remote, Source, Stdin, describe_source, resolve

if TYPE_CHECKING:
    from .registry import Dataset

#: An input as the library takes it: a word, a path, a resolved source or a binary file object.
Input = str | os.PathLike[str] | DatasetRef | Stdin | Remote | BinaryIO

__all__ = ["Input", "Loaded", "input_files", "load", "open_input", "read_splits"]


def _is_stream(value: object) -> bool:
    return hasattr(value, "read") and not isinstance(value, (str, os.PathLike))


def _resolved(value: Input) -> Source | BinaryIO:
    if _is_stream(value):
        return value  # type: ignore[return-value]
    return resolve(value)  # type: ignore[arg-type]


def open_input(source: Path | Stdin | BinaryIO) -> IdxFile:
    """Open an IDX input: a path, standard input, or a binary file object."""
    if isinstance(source, Stdin):
        return open_idx(sys.stdin.buffer, name="-")
    return open_idx(source)


def dataset_files(
    ref: DatasetRef, dir: str | os.PathLike[str] | None = None, *, progress: ProgressFactory | None = None
) -> dict[str, SplitFiles]:
    """The cached IDX files of each (selected) split of a dataset, fetched and verified if needed.

    Files already in the cache are not hashed again while their verification stamp is
    valid (same size, mtime_ns and inode as when they were last found intact).
    """
    from .fetching import local_files

    dataset = ref.dataset
    found: dict[str, SplitFiles] = {}
    for split, (images, labels) in local_files(dataset, dir, progress=progress).items():
        if ref.selection is not None and split != ref.selection.split:
            continue
        key = split if ref.selection is None else (ref.selection.label or split)
        label = f"{dataset.name}:{ref.selection if ref.selection is not None else split}"
        found[key] = SplitFiles(images, labels, ref.selection, label)
    return found


def _pair(sources: Sequence[Source | BinaryIO], what: str) -> SplitFiles:
    if len(sources) > 2:
        raise UsageError(f"expected IMAGES [LABELS] or one dataset, got {len(sources)} inputs for {what}")
    if sum(isinstance(s, Stdin) for s in sources) > 1:
        raise UsageError("standard input (-) can be read only once")
    for source in sources:
        if isinstance(source, DatasetRef):
            raise UsageError(f"{source}: a dataset is a whole input; give it alone, not with files")
        if isinstance(source, Remote):
            raise UsageError(f"{source}: an object-store output is read by convert, alone (convert URL --to idx)")
    images, labels = [*sources, None][:2]
    return SplitFiles(images, labels)  # type: ignore[arg-type]


def input_files(
    inputs: Sequence[Input],
    dir: str | os.PathLike[str] | None = None,
    *,
    progress: ProgressFactory | None = None,
) -> tuple[dict[str, SplitFiles], LabelInfo]:
    """The IDX files of ``IMAGES [LABELS]`` or of a dataset's splits, with the dataset's label info.

    Raises
    ------
    NoSuchInputError
        A word that names neither a file nor a dataset.
    UsageError
        More than two inputs, or a dataset mixed with files.
    DownloadError
        A dataset's missing files could not be fetched.
    """
    sources = [_resolved(i) for i in inputs]
    if not sources:
        raise UsageError("no input given: IMAGES [LABELS] or a dataset name")
    if len(sources) == 1 and isinstance(sources[0], DatasetRef):
        ref = sources[0]
        return dataset_files(ref, dir, progress=progress), LabelInfo.of(ref.dataset)
    return {"": _pair(sources, "an IDX pair")}, LabelInfo()


def _read_array(source: Path | Stdin | BinaryIO, *, images: bool) -> np.ndarray:
    with open_input(source) as f:
        if images:
            check_images_shape(f.shape, f.name)
        return f.read()


class IdxImages:
    """The images of an IDX file as an :class:`~idxtool.model.ImageSource`: read in chunks when asked."""

    def __init__(self, path: Path | BinaryIO) -> None:
        self.path = path
        with open_input(path) as f:
            check_images_shape(f.shape, f.name)
            self.header = f.header
            #: An uncompressed regular file: read from any record on without the ones before.
            self.seekable = f.compression == "raw" and f.size_on_disk is not None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.header.shape

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.header.dtype

    def chunks(self, records: int | None = None, *, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        with open_input(self.path) as f:
            yield from f.chunks(records, start=start, stop=stop)

    def read(self) -> np.ndarray:
        """All records in one allocation, filled in place (:meth:`IdxFile.read`)."""
        with open_input(self.path) as f:
            return f.read()


def read_part(files: SplitFiles) -> Part:
    """One split's images (streamed from their file) and labels, the selected records, checked."""
    if files.images is None:
        raise DataError(f"{files.label}: has labels but no images (a labels table published alone)")
    # A file is streamed (in chunks by streaming writers, whole by the others); standard input
    # or a stream can be read once only, so it goes into memory.
    x = IdxImages(files.images) if isinstance(files.images, Path) else _read_array(files.images, images=True)
    y = None if files.labels is None else _read_array(files.labels, images=False)
    labels_name = None if files.labels is None else describe_source(files.labels)
    part = check_part(Part(x, y, describe_source(files.images), labels_name))
    if files.selection is not None:
        part = part.select(*files.selection.bounds(part.count))
    return part


def read_splits(
    inputs: Sequence[Input],
    *,
    dir: str | os.PathLike[str] | None = None,
    dataset: str | Dataset | None = None,
    shape: tuple[int, ...] | None = None,
    transpose: bool = False,
    progress: ProgressFactory | None = None,
) -> tuple[Splits, str]:
    """Read IDX files, a dataset, or a file in another format into checked splits.

    Parameters
    ----------
    inputs
        ``IMAGES [LABELS]`` (IDX paths, ``-`` or binary file objects), one dataset (``mnist``,
        ``mnist:train[:100]``), or one file or folder in another format (``.npz``, ``.npy``,
        ``.csv``, ``.pkl``, a PNG tree, an IDX folder).
    dir
        Cache root for datasets.
    dataset
        A registered dataset whose class names, offset and orientation the files have.
    shape
        CSV only: the record shape when the pixel count is not square.
    transpose
        PNG tree only: swap rows and columns back (EMNIST).

    Returns
    -------
    (Splits, str)
        The splits, and the source format (``dataset``, ``idx``, ``npz``, ...).
    """
    from . import formats

    sources = [_resolved(i) for i in inputs]
    if not sources:
        raise UsageError("no input given")
    first = sources[0]
    if len(sources) == 1 and isinstance(first, Remote):
        from . import formats, objectstore

        splits, kind = objectstore.read(first.url, formats.ReadOptions(shape=shape, transpose=transpose)), "s3"
    elif len(sources) == 1 and isinstance(first, DatasetRef):
        files, info = input_files(sources, dir, progress=progress)
        parts = {split: read_part(f) for split, f in files.items()}
        splits, kind = Splits(parts, info, str(first)), "dataset"
    elif isinstance(first, Path) and (fmt := formats.detect(first)).name != "idx":
        if len(sources) > fmt.max_inputs:
            raise UsageError(f"{first}: a {fmt.name} input is read alone; got {len(sources)} inputs")
        paths = [s for s in sources if isinstance(s, Path)]
        if len(paths) != len(sources):
            raise UsageError(f"{first}: a {fmt.name} input cannot be paired with standard input or a dataset")
        splits = fmt.read(paths, formats.ReadOptions(shape=shape, transpose=transpose))
        for part in splits.parts.values():
            check_part(part)
        kind = fmt.name
    elif isinstance(first, Path) and first.is_dir():
        if len(sources) > 1:
            raise UsageError(f"{first}: a folder of IDX files is read alone; got {len(sources)} inputs")
        splits, kind = formats.get("idx").read([first], formats.ReadOptions()), "idx"
    else:
        pair = _pair(sources, "an IDX pair")
        splits, kind = Splits({"": read_part(pair)}, LabelInfo(), describe_source(first)), "idx"
    if dataset is not None:
        from . import registry

        ds = registry.get(dataset) if isinstance(dataset, str) else dataset
        splits = splits.with_info(LabelInfo.of(ds))
    else:
        for part in splits.parts.values():
            check_classes(part, splits.info)
    return splits, kind


# -- idxtool.load -------------------------------------------------------------------------------

#: ``(x, y)``: ``x`` is None for a split published as a labels table alone, ``y`` for one without labels.
Pair = tuple[np.ndarray | None, np.ndarray | None]


class Loaded(tuple[Pair, ...]):
    """``((x_train, y_train), (x_test, y_test))`` in manifest order; also ``loaded["test"]``."""

    splits: tuple[str, ...]

    def __new__(cls, pairs: dict[str, Pair]) -> Loaded:
        obj = super().__new__(cls, tuple(pairs.values()))
        obj.splits = tuple(pairs)
        return obj

    def __getitem__(self, key: str | int) -> Pair:  # type: ignore[override]  # also by split name
        if isinstance(key, str):
            if key not in self.splits:
                raise KeyError(f"no split {key!r} (splits: {', '.join(self.splits)})")
            return super().__getitem__(self.splits.index(key))
        return super().__getitem__(key)


def _read_pair(files: SplitFiles) -> Pair:
    if files.images is not None:
        part = read_part(files)
        return part.images, part.labels
    labels = None if files.labels is None else _read_array(files.labels, images=False)
    if labels is not None and files.selection is not None:
        labels = labels[slice(*files.selection.bounds(len(labels)))]
    return None, labels


def _shaped(pair: Pair, info: LabelInfo, *, normalize: bool, flatten: bool, one_hot: bool, extended: bool) -> Pair:
    x, y = pair
    if x is not None and info.transpose and x.ndim >= 3:
        x = np.ascontiguousarray(np.swapaxes(x, -1, -2))
    if x is not None and normalize:
        x = x.astype(np.float32) / np.float32(255)
    if x is not None and flatten:
        x = x.reshape(len(x), -1)
    if y is not None and y.ndim == 2 and not extended:
        y = np.ascontiguousarray(y[:, info.label_column])
    if y is not None and one_hot:
        if y.ndim != 1:
            raise UsageError("one_hot=True needs one class per record; not with extended=True")
        classes = len(info.classes) if info.classes else int(y.max(initial=0)) + 1
        hot = np.zeros((len(y), classes), np.float32)
        hot[np.arange(len(y)), y.astype(np.int64) - info.label_offset] = 1
        y = hot
    return x, y


def load(
    name: str | DatasetRef,
    dir: str | os.PathLike[str] | None = None,
    *,
    normalize: bool = False,
    flatten: bool = False,
    one_hot: bool = False,
    extended: bool = False,
    progress: ProgressFactory | Literal["auto"] | None = "auto",
) -> Loaded | Pair:
    """The arrays of a registered dataset, fetched (and verified) first if needed.

    The options are those of the classic ``load_mnist(normalize, flatten, one_hot_label)``.

    Parameters
    ----------
    name
        A registered dataset (``"mnist"``), or one split of it (``"mnist:test"``,
        ``"mnist:train[50000:]"``).
    dir
        Cache root (default: ``IDXTOOL_HOME``, else the user cache folder).
    normalize
        Images as float32 ``pixel / 255`` (0.0 to 1.0) instead of uint8.
    flatten
        Images as ``N x (H*W)`` rows instead of ``N x H x W``.
    one_hot
        Labels as float32 ``N x num_classes`` one-hot rows instead of class numbers.
    extended
        A 2-D label table (QMNIST's N x 8 int32) whole; default: its class column.
    progress
        Where fetching reports progress: ``"auto"`` (default) draws one text line on
        standard error when it is a terminal and nothing otherwise; None shows nothing.

    Returns
    -------
    Loaded or tuple
        ``((x_train, y_train), (x_test, y_test))`` in manifest order (also by split name:
        ``loaded["test"]``); for one split, its ``(x, y)``. Images are upright (EMNIST's
        transposed storage is undone).

    Raises
    ------
    UsageError
        ``name`` is not a registered dataset, or ``one_hot`` with ``extended``.
    DownloadError
        Missing files could not be fetched.

    Examples
    --------
    >>> x, y = idxtool.load("mnist-sample:test", tmp, normalize=True, flatten=True, one_hot=True)
    >>> x.shape, x.dtype, float(x.max()), y.shape, y.dtype
    ((100, 784), dtype('float32'), 1.0, (100, 10), dtype('float32'))
    """
    source = resolve(name)
    if not isinstance(source, DatasetRef):
        raise UsageError(f"{name}: load takes a registered dataset name (read a file with idxtool.read)")
    if progress == "auto":
        from .textprogress import auto

        progress = auto()
    files, info = input_files([source], dir, progress=progress)
    pairs = {
        split: _shaped(_read_pair(f), info, normalize=normalize, flatten=flatten, one_hot=one_hot, extended=extended)
        for split, f in files.items()
    }
    if source.selection is not None:
        return next(iter(pairs.values()))
    return Loaded(pairs)
