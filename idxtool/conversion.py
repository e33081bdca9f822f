"""``convert`` and ``export-png``: any input to any format, through one dispatch and one set of output rules.

Inputs are resolved by :mod:`idxtool.sources` (files, ``-``, datasets with split specs) or
given as arrays; targets are :mod:`idxtool.formats`. The output rules (``force``, never a
foreign file, never through a link, never the input itself) are applied here, once, by
:mod:`idxtool.outputs`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import formats
from .errors import ParameterError, UsageError
from .formats import ReadOptions, WriteOptions
from .formats.png.tree import PngOptions
from .loading import Input, read_splits
from .model import LabelInfo, Part, Splits, check_part
from .outputs import output_file, output_folder
from .progress import ProgressFactory
from .sources import resolve

if TYPE_CHECKING:
    from .registry import Dataset

__all__ = ["ConvertResult", "ExportResult", "PngOptions", "convert", "export_png"]

#: Arrays as an input: ``(images, labels)``, or split name -> ``(images, labels)``.
Arrays = tuple[np.ndarray, np.ndarray | None] | Mapping[str, tuple[np.ndarray, np.ndarray | None]]


@dataclass(frozen=True)
class ConvertResult:
    """What ``convert`` wrote: output files (or the tree's folder), records per split, the source format."""

    outputs: list[Path]
    records: dict[str, int]
    source_format: str


@dataclass(frozen=True)
class ExportResult:
    """What ``export_png`` wrote: the folder (or sheet), images in all, images per split."""

    path: Path
    images: int
    splits: dict[str, int]


def _as_list(inputs: Input | Sequence[Input]) -> list[Input]:
    if isinstance(inputs, (str, os.PathLike)) or hasattr(inputs, "read"):
        return [inputs]  # type: ignore[list-item]
    return list(inputs)  # type: ignore[arg-type]


def _resolved(inputs: Input | Sequence[Input] | Arrays | Splits) -> list[Input] | Arrays | Splits:
    """Every word resolved once (so a warning about a shadowing folder is said once)."""
    if isinstance(inputs, Splits) or _is_arrays(inputs):
        return inputs  # type: ignore[return-value]
    return [
        resolve(item) if isinstance(item, (str, os.PathLike)) else item
        for item in _as_list(inputs)  # type: ignore[arg-type]
    ]


def _is_arrays(inputs: object) -> bool:
    if isinstance(inputs, Mapping):
        return True
    return isinstance(inputs, tuple) and bool(inputs) and isinstance(inputs[0], np.ndarray)


def _from_arrays(inputs: Arrays) -> Splits:
    pairs = inputs if isinstance(inputs, Mapping) else {"": inputs}
    parts = {}
    for split, (x, y) in pairs.items():
        parts[split] = check_part(Part(np.asarray(x), None if y is None else np.asarray(y), f"{split or 'images'}"))
    return Splits(parts, LabelInfo(), "arrays")


def _read(
    inputs: Input | Sequence[Input] | Arrays | Splits,
    *,
    dir: str | os.PathLike[str] | None,
    dataset: str | Dataset | None,
    options: ReadOptions,
    progress: ProgressFactory | None,
) -> tuple[Splits, str]:
    if isinstance(inputs, Splits) or _is_arrays(inputs):
        splits = inputs if isinstance(inputs, Splits) else _from_arrays(inputs)  # type: ignore[arg-type]
        if dataset is not None:
            from . import registry

            splits = splits.with_info(LabelInfo.of(registry.get(dataset) if isinstance(dataset, str) else dataset))
        return splits, "arrays" if not isinstance(inputs, Splits) else "splits"
    return read_splits(
        _as_list(inputs),  # type: ignore[arg-type]
        dir=dir,
        dataset=dataset,
        shape=options.shape,
        transpose=options.transpose,
        progress=progress,
    )


def _input_paths(inputs: Input | Sequence[Input] | Arrays | Splits) -> list[Path]:
    if isinstance(inputs, Splits) or _is_arrays(inputs):
        return []
    found = []
    for item in _as_list(inputs):  # type: ignore[arg-type]
        source = resolve(item) if isinstance(item, (str, os.PathLike)) else item
        if isinstance(source, Path):
            found.append(source)
    return found


def _check_not_an_input(out: Path, inputs: Input | Sequence[Input] | Arrays | Splits) -> None:
    """``out`` must not be (or contain) one of the inputs: writing would destroy what is read."""
    target = out.absolute()
    for path in _input_paths(inputs):
        source = path.absolute()
        same = os.path.lexists(out) and os.path.lexists(path) and os.path.samefile(out, path)
        if same or target == source or target in source.parents:
            raise UsageError(f"{out}: is an input of this conversion; choose another output")


def convert(
    inputs: Input | Sequence[Input] | Arrays | Splits,
    *,
    to: str,
    out: str | os.PathLike[str],
    force: bool = False,
    dir: str | os.PathLike[str] | None = None,
    dataset: str | Dataset | None = None,
    options: WriteOptions | None = None,
    shape: tuple[int, ...] | None = None,
    transpose: bool | None = None,
    progress: ProgressFactory | None = None,
) -> ConvertResult:
    """Convert IDX files, a dataset, arrays, or a converted file back, to the format ``to`` at ``out``.

    Parameters
    ----------
    inputs
        ``(images, labels)`` IDX paths (or ``-``, or binary file objects); one dataset
        (``"mnist"``: all splits; ``"mnist:train[:100]"``: that selection); one file or
        folder in another format (``.npz``, ``.npy``, ``.csv``, ``.pkl``, a PNG tree, an IDX
        folder); or arrays: ``(x, y)`` or ``{"train": (x, y), ...}``.
    to
        The target format: ``npz``, ``npy``, ``csv``, ``png``, ``pkl`` or ``idx``.
    out
        A file (npz, pkl, a pair's csv) or a folder (npy, idx, png, a dataset's csv).
    force
        Replace what idxtool wrote at ``out`` before; never other files.
    dataset
        A registered dataset whose classes, offset and orientation the input has.
    options
        Format choices: CSV header, compression, pkl validation size, PNG tree layout.
    shape
        CSV input: the record shape when the pixel count is not square.
    transpose
        PNG target: swap rows and columns (default: as the dataset says, EMNIST on). PNG
        tree input: swap them back.

    Returns
    -------
    ConvertResult

    Raises
    ------
    NoSuchInputError
        An input names neither a file nor a dataset.
    OutputExistsError
        ``out`` (or a file in it) exists and ``force`` is False.
    DataError
        The input cannot be written in that format (e.g. pkl needs train and test splits).

    Examples
    --------
    >>> import numpy as np, idxtool
    >>> x, y = np.zeros((2, 3, 3), np.uint8), np.array([1, 2], np.uint8)
    >>> r = idxtool.convert((x, y), to="npz", out=tmp / "pair.npz")
    >>> sorted(np.load(r.outputs[0]))
    ['x', 'y']
    """
    fmt = formats.get(to)
    inputs = _resolved(inputs)
    options = options or WriteOptions()
    target = Path(out)
    back = bool(transpose) and _source_is_png(inputs)
    splits, kind = _read(
        inputs, dir=dir, dataset=dataset, options=ReadOptions(shape=shape, transpose=back), progress=progress
    )
    if to == "png" and transpose is not None and not back:
        options = replace(options, png=replace(options.png, transpose=transpose))
    _check_not_an_input(target, inputs)
    outputs = write(splits, fmt, target, options, force=force, progress=progress)
    return ConvertResult(outputs, {s: p.count for s, p in splits.parts.items()}, kind)


def _source_is_png(inputs: Input | Sequence[Input] | Arrays | Splits) -> bool:
    paths = _input_paths(inputs)
    return len(paths) == 1 and paths[0].is_dir() and formats.detect(paths[0]).name == "png"


def write(
    splits: Splits,
    fmt: formats.Format,
    target: Path,
    options: WriteOptions,
    *,
    force: bool = False,
    progress: ProgressFactory | None = None,
) -> list[Path]:
    """Write ``splits`` in ``fmt`` at ``target`` under the output rules; the files written."""
    from . import objectstore

    if objectstore.is_url(target):  # s3://bucket/prefix: objects, then a completion marker
        return objectstore.write_output(splits, fmt, target, options, force=force, progress=progress)
    kind = fmt.target(splits)
    if kind == "file":
        with output_file(target, force=force) as temp:
            fmt.write(splits, temp, options, final=target, progress=progress)
        return [target]
    with output_folder(target, force=force, exclusive=kind == "exclusive-folder") as staging:
        fmt.write(splits, staging, options, final=target, progress=progress)
        if kind == "exclusive-folder":
            return [target]
        return sorted(target / p.relative_to(staging) for p in staging.rglob("*") if p.is_file())


def export_png(
    inputs: Input | Sequence[Input] | Arrays | Splits,
    out: str | os.PathLike[str],
    *,
    options: PngOptions | None = None,
    grid: str | tuple[int, int] | None = None,
    force: bool = False,
    dir: str | os.PathLike[str] | None = None,
    dataset: str | Dataset | None = None,
    progress: ProgressFactory | None = None,
) -> ExportResult:
    """Write images as an ImageFolder/Ultralytics PNG tree at ``out``, or one contact sheet.

    Parameters
    ----------
    inputs
        As for :func:`convert`: IDX files, a dataset (with a split spec), or arrays.
    out
        The tree's folder (``out/<class>/<index>.png``, ``labels.csv``, ``classes.txt``), or
        with ``grid`` a PNG file.
    options
        Layout: class names, flat, limit, per_class, transpose, jobs, PNG level.
    grid
        ``"RxC"`` or ``(rows, columns)``: one contact sheet, a row per class.
    force
        Replace a tree (or sheet) idxtool wrote there before; never other files.

    Returns
    -------
    ExportResult
        The folder (or sheet), images written, and images per split.

    Raises
    ------
    NoSuchInputError
        An input names neither a file nor a dataset.
    OutputExistsError
        ``out`` exists and ``force`` is False.
    ForeignFileError
        ``out`` holds files idxtool did not write (they are never replaced).
    DataError
        The images are not 8-bit grayscale (N x height x width uint8).

    Examples
    --------
    >>> result = idxtool.export_png("mnist-sample", tmp / "digits", options=idxtool.PngOptions(per_class=2))
    >>> result.images, result.splits
    (20, {'test': 20})
    >>> (tmp / "digits" / "test" / "classes.txt").read_text().split()
    ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']
    """
    options = options or PngOptions()
    inputs = _resolved(inputs)
    target = Path(out)
    splits, _ = _read(inputs, dir=dir, dataset=dataset, options=ReadOptions(), progress=progress)
    _check_not_an_input(target, inputs)
    if grid is not None:
        from .formats.png.sheet import parse_grid, write_sheet

        rows, cols = parse_grid(grid) if isinstance(grid, str) else grid
        if str(out).endswith(("/", os.sep)) or target.is_dir():
            raise ParameterError("out", str(out), "must be a PNG file for a contact sheet, not a folder")
        with output_file(target, force=force) as temp:
            write_sheet(temp, splits, (rows, cols), transpose=options.transpose)
        return ExportResult(target, rows * cols, {})
    counts: dict[str, int] = {}
    with output_folder(target, force=force, exclusive=True) as staging:
        from .formats.png.tree import write_tree

        counts = write_tree(staging, splits, options, progress)
    return ExportResult(target, sum(counts.values()), counts)
