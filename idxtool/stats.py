"""Statistics streamed over an IDX body in constant memory."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Summary:
    """min / max / mean / std of every element, and value counts for integer vectors."""

    count: int = 0
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    value_counts: dict[int, int] | None = field(default=None)

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "count": self.count,
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "std": self.std,
        }
        if self.value_counts is not None:
            out["value_counts"] = {str(k): v for k, v in self.value_counts.items()}
        return out


class _Moments:
    """Chan et al.'s parallel merge of count, mean and M2: stable for any number of chunks."""

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.lo: float | None = None
        self.hi: float | None = None

    def add(self, chunk: np.ndarray) -> None:
        if chunk.size == 0:
            return
        values = chunk.reshape(-1)
        n_b = values.size
        mean_b = float(values.mean(dtype=np.float64))
        centered = values.astype(np.float64) - mean_b
        m2_b = float(np.dot(centered, centered))
        n = self.n + n_b
        delta = mean_b - self.mean
        self.mean += delta * n_b / n
        self.m2 += m2_b + delta * delta * self.n * n_b / n
        self.n = n
        lo, hi = values.min().item(), values.max().item()
        self.lo = lo if self.lo is None else min(self.lo, lo)
        self.hi = hi if self.hi is None else max(self.hi, hi)


def summarize(chunks: Iterable[np.ndarray], *, count_values: bool) -> Summary:
    """Stream ``chunks`` once; with ``count_values`` also count each integer value."""
    moments = _Moments()
    counts: dict[int, int] = {}
    for chunk in chunks:
        moments.add(chunk)
        if count_values:
            values, freq = np.unique(chunk, return_counts=True)
            for v, c in zip(values.tolist(), freq.tolist(), strict=True):
                counts[v] = counts.get(v, 0) + c
    if moments.n == 0:
        return Summary(value_counts={} if count_values else None)
    return Summary(
        count=moments.n,
        min=moments.lo,
        max=moments.hi,
        mean=moments.mean,
        std=math.sqrt(moments.m2 / moments.n),
        value_counts=dict(sorted(counts.items())) if count_values else None,
    )
