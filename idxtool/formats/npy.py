"""NumPy .npy: a folder with x.npy, y.npy (or x_<split>.npy, y_<split>.npy), or loose files."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..model import Part, Splits
from ..progress import ProgressFactory
from . import ReadOptions, Target, WriteOptions
from .npz import entries, write_npy


def write(folder: str | os.PathLike[str], coll: Splits) -> list[Path]:
    """Write one .npy per array into the existing folder ``folder``, streaming the images in chunks."""
    targets = []
    for entry in entries(coll):
        target = Path(folder) / f"{entry.key}.npy"
        with open(target, "xb") as fh:
            write_npy(fh, entry)
        targets.append(target)
    return targets


def _load(path: Path) -> np.ndarray:
    try:
        arr: np.ndarray = np.load(path, allow_pickle=False)
        return arr
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable .npy file ({exc})") from exc


def read(paths: Sequence[str | os.PathLike[str]]) -> Splits:
    """Read ``IMAGES.npy [LABELS.npy]`` or a folder written by :func:`write`."""
    first = Path(paths[0])
    if first.is_dir():
        files = {p.stem: p for p in sorted(first.glob("*.npy"))}
        splits = {"": ("x", "y")} if "x" in files else {k[2:]: (k, "y" + k[1:]) for k in files if k.startswith("x_")}
        if not splits:
            raise DataError(f"{first}: has no x.npy or x_<split>.npy (found {', '.join(files) or 'none'})")
        parts = {
            s: Part(
                _load(files[x]),
                _load(files[y]) if y in files else None,
                str(files[x]),
                str(files[y]) if y in files else None,
            )
            for s, (x, y) in splits.items()
        }
        return Splits(parts, name=str(first))
    images = _load(first)
    labels = _load(Path(paths[1])) if len(paths) > 1 else None
    return Splits({"": Part(images, labels, str(first), str(paths[1]) if len(paths) > 1 else None)}, name=str(first))


class NpyFormat:
    """NumPy .npy files: ``x.npy``, ``y.npy`` (or per split) in a folder, or loose files."""

    name = "npy"
    max_inputs = 2
    sniff_order = 30

    def sniff(self, path: Path) -> bool:
        if path.is_dir():
            return any(p.suffix == ".npy" for p in path.iterdir())
        return path.is_file() and path.suffix.lower() == ".npy"

    def read(self, paths: Sequence[Path], options: ReadOptions) -> Splits:
        return read(paths)

    def target(self, splits: Splits) -> Target:
        return "folder"

    def write(
        self, splits: Splits, out: Path, options: WriteOptions, *, final: Path, progress: ProgressFactory | None
    ) -> None:
        write(out, splits)


FORMAT = NpyFormat()
