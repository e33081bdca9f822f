"""Target formats, one module each: npz, npy, csv, png, pkl and idx (the way back).

Each module has ``write(out, collection, ...)`` and ``read(path, ...) -> Collection``.
:func:`detect` tells the format of an existing path.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Formats ``convert --to`` accepts.
FORMATS: tuple[str, ...] = ("npz", "npy", "csv", "png", "pkl", "idx")
#: CSV header styles: Kaggle digit-recognizer, Kaggle Fashion-MNIST, "MNIST in CSV", none.
CSV_HEADERS: tuple[str, ...] = ("pixel0", "pixel1", "rowcol", "none")

_COMPRESSED = (".gz", ".xz", ".bz2")


def _stem_suffix(path: Path) -> str:
    """The format suffix, looking past a compression suffix: a.csv.gz -> .csv."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def detect(path: str | os.PathLike[str]) -> str:
    """The format of an existing file or folder: npz, npy, csv, pkl, png (a tree) or idx (files or a folder)."""
    p = Path(path)
    if p.is_dir():
        names = [c.name for c in p.iterdir()]
        if any(n.endswith(".npy") for n in names):
            return "npy"
        if any("images-idx" in n for n in names):
            return "idx"
        if any(_stem_suffix(Path(n)) == ".csv" for n in names) and "labels.csv" not in names and not any(
            (p / n).is_dir() for n in names
        ):
            return "csv"
        return "png"
    suffix = _stem_suffix(p)
    return {".npz": "npz", ".npy": "npy", ".csv": "csv", ".pkl": "pkl", ".pickle": "pkl"}.get(suffix, "idx")
