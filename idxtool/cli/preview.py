"""Render one record of an IDX file in the terminal: images as unicode half blocks."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from rich.text import Text


def to_gray(image: np.ndarray) -> np.ndarray:
    """Scale any 2-D array to uint8 grey levels (uint8 images are shown as they are)."""
    if image.dtype == np.uint8:
        return image
    values = image.astype(np.float64)
    lo, hi = np.nanmin(values), np.nanmax(values)
    if not np.isfinite(lo) or hi == lo:
        return np.zeros(image.shape, np.uint8)
    return np.round((values - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def half_blocks(image: np.ndarray, *, color: bool) -> Text:
    """Two pixel rows per text line: '▀' with fg = upper pixel, bg = lower pixel.

    Without colour, each cell is ' ', '▀', '▄' or '█' by a threshold at mid grey.
    """
    from rich.text import Text

    gray = _even_rows(to_gray(image))
    text = Text()
    for top, bottom in zip(gray[0::2], gray[1::2], strict=True):
        for up, down in zip(top.tolist(), bottom.tolist(), strict=True):
            if color:
                text.append("▀", style=f"rgb({up},{up},{up}) on rgb({down},{down},{down})")
            else:
                text.append(" ▄▀█"[(up >= 128) * 2 + (down >= 128)])
        text.append("\n")
    return text


def _even_rows(gray: np.ndarray) -> np.ndarray:
    if gray.shape[0] % 2:
        return np.vstack([gray, np.zeros((1, gray.shape[1]), np.uint8)])
    return gray


def half_blocks_plain(image: np.ndarray) -> str:
    """:func:`half_blocks` without colour, as a plain string (no rich): ' ', '▀', '▄' or '█' per cell."""
    gray = _even_rows(to_gray(np.asarray(image)))
    cells = (gray[0::2] >= 128).astype(np.uint8) * 2 + (gray[1::2] >= 128)
    return "".join("".join(" ▄▀█"[c] for c in row.tolist()) + "\n" for row in cells)
