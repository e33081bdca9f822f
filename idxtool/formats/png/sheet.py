"""Contact sheets: one PNG of a grid of images, a row per class."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ...errors import ParameterError
from ...model import Part, Splits
from . import encoder
from .tree import check_images


def parse_grid(text: str) -> tuple[int, int]:
    """'10x10' -> (10, 10): rows x columns."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m or not int(m[1]) or not int(m[2]):
        raise ParameterError("grid", text, "must be ROWSxCOLUMNS, e.g. 10x10")
    return int(m[1]), int(m[2])


def sheet(part: Part, rows: int, cols: int, *, transpose: bool = False, column: int = 0) -> np.ndarray:
    """One image of ``rows`` x ``cols`` cells: a row per class (the first ``cols`` of each), in label order.

    Unlabelled images fill the grid in order. Empty cells stay black.
    """
    check_images(part)
    images = part.images
    labels = part.class_labels(column)
    if labels is None:
        picks = [np.arange(r * cols, min((r + 1) * cols, part.count)) for r in range(rows)]
    else:
        picks = [np.flatnonzero(labels == v)[:cols] for v in np.unique(labels)[:rows]]
    h, w = images.shape[1:]
    if transpose:
        h, w = w, h
    out = np.zeros((rows * h, cols * w), np.uint8)
    for r, pick in enumerate(picks):
        for c, i in enumerate(pick.tolist()):
            cell = images[i].T if transpose else images[i]
            out[r * h : (r + 1) * h, c * w : (c + 1) * w] = cell
    return out


def write_sheet(path: Path, splits: Splits, grid: tuple[int, int], *, transpose: bool | None = None) -> None:
    """Write a contact sheet of the first split (``train`` if any) as one PNG file at ``path``."""
    split = "train" if "train" in splits.parts else next(iter(splits.parts))
    flip = splits.info.transpose if transpose is None else transpose
    image = sheet(splits.parts[split], *grid, transpose=flip, column=splits.info.label_column)
    path.write_bytes(encoder.encode(image))
