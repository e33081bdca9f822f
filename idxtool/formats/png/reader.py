"""PNG class trees (ImageFolder / Ultralytics) read back: written by :mod:`.tree`.

Reading restores the source order from the ``<index>`` file names and the labels from
``labels.csv`` when present, else from ``classes.txt`` (the class folders in label order: the
folder on line i is class i), else from numeric folder names, else from the sorted folder
names (torchvision ImageFolder's rule: the i-th name is class i).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from ...errors import DataError
from ...model import Part, Splits
from .tree import CLASSES_FILE

__all__ = ["read", "read_tree"]


def _is_tree(folder: Path) -> bool:
    return (folder / "labels.csv").is_file() or any(folder.glob("*.png")) or any(folder.glob("*/*.png"))


def read(path: str | os.PathLike[str], *, transpose: bool = False) -> Splits:
    """A tree, or a folder of split trees (``train/``, ``test/``, each with labels.csv)."""
    root = Path(path)
    if not (root / "labels.csv").is_file() and not any(root.glob("*.png")):
        splits = sorted(d for d in root.iterdir() if d.is_dir() and (d / "labels.csv").is_file())
        if splits:
            return Splits({d.name: read_tree(d, transpose=transpose) for d in splits}, name=str(root))
    if not _is_tree(root):
        raise DataError(f"{root}: no PNG files, class folders or labels.csv found")
    return Splits({"": read_tree(root, transpose=transpose)}, name=str(root))


def _entries(root: Path) -> tuple[list[Path], list[int] | None]:
    """PNG paths and their labels (None for a flat, unlabelled folder)."""
    index = root / "labels.csv"
    if index.is_file():
        with open(index, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        paths = [root / r["path"] for r in rows]
        labelled = bool(rows) and "label" in rows[0] and all(r["label"] != "" for r in rows)
        if labelled:
            return paths, [int(r["label"]) for r in rows]
        return paths, None
    flat = sorted(root.glob("*.png"))
    folders = sorted(d for d in root.iterdir() if d.is_dir())
    if flat or not folders:
        return flat, None
    number = _class_numbers(root, [d.name for d in folders])
    paths, labels = [], []
    for d in folders:
        files = sorted(d.glob("*.png"))
        paths += files
        labels += [number[d.name]] * len(files)
    return paths, labels


def _class_numbers(root: Path, folders: list[str]) -> dict[str, int]:
    """Folder name -> label: by ``classes.txt``, else the numbers, else the sorted-name rule."""
    listing = root / CLASSES_FILE
    if listing.is_file():
        names = listing.read_text("utf-8").splitlines()
        number = {name: i for i, name in enumerate(names)}
        missing = [f for f in folders if f not in number]
        if missing:
            raise DataError(f"{listing}: does not list the class folder {missing[0]!r}")
        return number
    if all(f.lstrip("-").isdigit() for f in folders):
        return {f: int(f) for f in folders}
    return {f: i for i, f in enumerate(sorted(folders))}


def _order(paths: list[Path]) -> list[int]:
    """Source order: by the numeric file names when they all are, else as listed."""
    stems = [p.stem for p in paths]
    if all(s.isdigit() for s in stems) and len(set(map(int, stems))) == len(stems):
        return sorted(range(len(paths)), key=lambda i: int(stems[i]))
    return list(range(len(paths)))


def _load_png(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if im.mode != "L":
                raise DataError(f"{path}: is a {im.mode} image; expected 8-bit grayscale (mode L)")
            return np.asarray(im)
    except FileNotFoundError:
        raise DataError(f"{path}: listed in labels.csv but missing") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"{path}: not a readable PNG ({exc})") from exc


def read_tree(root: Path, *, transpose: bool = False) -> Part:
    """One tree back to (N, H, W) uint8 images and labels, in source order."""
    paths, labels = _entries(root)
    if not paths:
        raise DataError(f"{root}: has no PNG files")
    order = _order(paths)
    first = _load_png(paths[order[0]])
    images = np.empty((len(paths), *first.shape), np.uint8)
    for n, i in enumerate(order):
        image = _load_png(paths[i])
        if image.shape != first.shape:
            raise DataError(
                f"{paths[i]}: is {image.shape[1]} x {image.shape[0]}, the others are {first.shape[1]} x {first.shape[0]}"
            )
        images[n] = image
    if transpose:
        images = np.ascontiguousarray(images.transpose(0, 2, 1))
    y = None
    if labels is not None:
        ordered = np.array([labels[i] for i in order], np.int64)
        y = ordered.astype(np.uint8) if ordered.size and ordered.min() >= 0 and ordered.max() <= 255 else ordered
    name = str(root)
    return Part(images, y, name, f"{name}/labels.csv" if y is not None else None)
