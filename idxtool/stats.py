"""Statistics streamed over an IDX body in memory bounded by the chunk size.

:func:`summarize` takes flat chunks of values and gives min / max / mean / std of every
element, plus value counts for integer vectors: at most :data:`TOP_VALUES` of them are kept
in the report when there are more than :data:`MAX_LISTED` distinct values (the most frequent
first, then how many other values and records there are). :func:`summarize_columns` does the
same per column of a 2-D table (QMNIST's extended labels), with the columns' names.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["MAX_LISTED", "TOP_VALUES", "ColumnSummary", "Summary", "combined", "summarize", "summarize_columns"]

#: Up to this many distinct values, every value is listed (in value order).
MAX_LISTED = 50
#: Beyond MAX_LISTED distinct values, the most frequent this many are listed.
TOP_VALUES = 20


class _Counts:
    """Value counts merged with numpy (sorted unique values and their counts), not a Python dict."""

    def __init__(self) -> None:
        self.values = np.zeros(0, np.int64)
        self.counts = np.zeros(0, np.int64)

    def add(self, chunk: np.ndarray) -> None:
        if chunk.size == 0:
            return
        flat = chunk.reshape(-1)
        if flat.dtype.itemsize <= 2 or (flat.size and int(flat.max()) - int(flat.min()) < 1 << 16):
            lo = int(flat.min())
            freq = np.bincount((flat.astype(np.int64) - lo), minlength=0)
            nonzero = np.flatnonzero(freq)
            values, counts = nonzero.astype(np.int64) + lo, freq[nonzero].astype(np.int64)
        else:
            values, counts = np.unique(flat.astype(np.int64), return_counts=True)
        if self.values.size == 0:
            self.values, self.counts = values, counts
            return
        merged, inverse = np.unique(np.concatenate([self.values, values]), return_inverse=True)
        self.counts = np.bincount(inverse, weights=np.concatenate([self.counts, counts]), minlength=merged.size)
        self.counts = self.counts.astype(np.int64)
        self.values = merged

    def report(self) -> dict[str, Any]:
        """``value_counts`` (value order, or the most frequent first), ``distinct`` and the rest."""
        distinct = int(self.values.size)
        if distinct <= MAX_LISTED:
            shown = {str(v): int(c) for v, c in zip(self.values.tolist(), self.counts.tolist(), strict=True)}
            return {"value_counts": shown, "distinct": distinct}
        # Most frequent first; ties by value (a stable sort over the value-ordered arrays).
        order = np.argsort(-self.counts, kind="stable")[:TOP_VALUES]
        shown = {str(int(self.values[i])): int(self.counts[i]) for i in order}
        return {
            "value_counts": shown,
            "distinct": distinct,
            "other_values": distinct - len(shown),
            "other_count": int(self.counts.sum()) - sum(shown.values()),
        }


class _Moments:
    """Chan et al.'s parallel merge of count, mean and M2, per column: stable for any number of chunks."""

    def __init__(self, columns: int) -> None:
        self.n = 0
        self.mean = np.zeros(columns)
        self.m2 = np.zeros(columns)
        self.lo: np.ndarray | None = None
        self.hi: np.ndarray | None = None

    def add(self, block: np.ndarray) -> None:
        """``block`` is rows x columns."""
        n_b = block.shape[0]
        if n_b == 0:
            return
        mean_b = block.mean(axis=0, dtype=np.float64)
        centered = block.astype(np.float64) - mean_b
        m2_b = np.einsum("ij,ij->j", centered, centered)
        n = self.n + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * n_b / n
        self.m2 = self.m2 + m2_b + delta * delta * self.n * n_b / n
        self.n = n
        lo, hi = block.min(axis=0), block.max(axis=0)
        self.lo = lo if self.lo is None else np.minimum(self.lo, lo)
        self.hi = hi if self.hi is None else np.maximum(self.hi, hi)


@dataclass
class Summary:
    """min / max / mean / std of every element, and value counts for integer vectors."""

    count: int = 0
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    counts: dict[str, Any] | None = field(default=None)

    @property
    def value_counts(self) -> dict[int, int] | None:
        """The listed values and their counts (all of them up to MAX_LISTED distinct values)."""
        if self.counts is None:
            return None
        return {int(k): v for k, v in self.counts["value_counts"].items()}

    def as_dict(self) -> dict[str, object]:
        """Plain data for JSON: count, min, max, mean, std (and value counts when counted)."""
        out: dict[str, object] = {
            "count": self.count,
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "std": self.std,
        }
        if self.counts is not None:
            out.update(self.counts)
        return out


@dataclass
class ColumnSummary:
    """One column of a 2-D table: its name and its :class:`Summary`."""

    name: str
    summary: Summary

    def as_dict(self) -> dict[str, object]:
        """``{"name": ..., "count": ..., "min": ..., ...}``."""
        return {"name": self.name, **self.summary.as_dict()}


def _item(value: Any) -> float:
    return value.item() if hasattr(value, "item") else value  # type: ignore[no-any-return]


def summarize(chunks: Iterable[np.ndarray], *, count_values: bool) -> Summary:
    """Stream ``chunks`` (any shape; every element counts) once.

    Parameters
    ----------
    chunks
        Arrays of values; memory stays bounded by the largest chunk.
    count_values
        Also count each integer value (the report lists the most frequent ones when there
        are more than MAX_LISTED distinct values).

    Returns
    -------
    Summary
        ``count`` 0 and no min/max when there were no values.

    Examples
    --------
    >>> s = summarize([np.array([1, 2, 2]), np.array([3])], count_values=True)
    >>> (s.count, s.min, s.max, s.mean, s.value_counts)
    (4, 1, 3, 2.0, {1: 1, 2: 2, 3: 1})
    """
    moments = _Moments(1)
    counts = _Counts() if count_values else None
    for chunk in chunks:
        flat = chunk.reshape(-1, 1)
        moments.add(flat)
        if counts is not None:
            counts.add(flat)
    report = None if counts is None else counts.report()
    if moments.n == 0 or moments.lo is None or moments.hi is None:
        return Summary(counts=report)
    return Summary(
        count=moments.n,
        min=_item(moments.lo[0]),
        max=_item(moments.hi[0]),
        mean=float(moments.mean[0]),
        std=math.sqrt(float(moments.m2[0]) / moments.n),
        counts=report,
    )


def combined(columns: Sequence[ColumnSummary]) -> Summary:
    """The summary of every value of a table, from its columns' summaries (no value counts).

    Examples
    --------
    >>> table = np.array([[0, 10], [1, 10], [1, 30]])
    >>> s = combined(summarize_columns([table], 2, count_values=False))
    >>> (s.count, s.min, s.max, round(s.mean, 4), round(s.std, 4))
    (6, 0, 30, 8.6667, 10.419)
    """
    parts = [c.summary for c in columns if c.summary.count]
    if not parts:
        return Summary()
    n = sum(p.count for p in parts)
    mean = sum(p.count * (p.mean or 0.0) for p in parts) / n
    m2 = sum(p.count * ((p.std or 0.0) ** 2 + ((p.mean or 0.0) - mean) ** 2) for p in parts)
    return Summary(
        count=n,
        min=min(p.min for p in parts if p.min is not None),
        max=max(p.max for p in parts if p.max is not None),
        mean=mean,
        std=math.sqrt(m2 / n),
    )


def summarize_columns(
    chunks: Iterable[np.ndarray], columns: int, *, names: Sequence[str] | None = None, count_values: bool
) -> list[ColumnSummary]:
    """Stream rows x ``columns`` chunks once; one :class:`Summary` per column.

    Parameters
    ----------
    chunks
        2-D arrays with ``columns`` columns.
    columns
        How many columns the table has.
    names
        One name per column (QMNIST's ``label_fields``); default ``column 0``, ``column 1``, ...
    count_values
        Also count each column's integer values.

    Returns
    -------
    list[ColumnSummary]
        In column order.

    Examples
    --------
    >>> table = np.array([[0, 10], [1, 10], [1, 30]])
    >>> [(c.name, c.summary.max, c.summary.value_counts) for c in summarize_columns([table], 2, names=["class", "writer"], count_values=True)]
    [('class', 1, {0: 1, 1: 2}), ('writer', 30, {10: 2, 30: 1})]
    """
    labels = list(names) if names is not None and len(names) == columns else [f"column {i}" for i in range(columns)]
    moments = _Moments(columns)
    counters = [_Counts() for _ in range(columns)] if count_values else None
    for chunk in chunks:
        block = chunk.reshape(-1, columns)
        moments.add(block)
        if counters is not None:
            for i, counter in enumerate(counters):
                counter.add(block[:, i])
    out = []
    for i, name in enumerate(labels):
        report = None if counters is None else counters[i].report()
        if moments.n == 0 or moments.lo is None or moments.hi is None:
            out.append(ColumnSummary(name, Summary(counts=report)))
            continue
        summary = Summary(
            count=moments.n,
            min=_item(moments.lo[i]),
            max=_item(moments.hi[i]),
            mean=float(moments.mean[i]),
            std=math.sqrt(float(moments.m2[i]) / moments.n),
            counts=report,
        )
        out.append(ColumnSummary(name, summary))
    return out
