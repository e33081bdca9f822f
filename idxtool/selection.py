"""Split selections: ``SPLIT`` or ``SPLIT[START:STOP]`` with Python slice semantics.

A selection names one split of a dataset and, optionally, a contiguous range of its
records. Manifests use the same syntax for named views (QMNIST's ``test10k`` is
``test[:10000]``), and the resolver for ``NAME:SPLIT[START:STOP]`` arguments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import UsageError

_SELECTION = re.compile(r"^(?P<split>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[(?P<start>[^:\]]*):(?P<stop>[^:\]]*)\])?$")
_INT = re.compile(r"^\s*[-+]?\d+\s*$")


@dataclass(frozen=True)
class Selection:
    """One split, and a record range within it (``None`` ends are open, negatives count from the end).

    ``within`` is the range this one is taken from (a manifest view such as QMNIST's
    ``test10k``); the range then counts from the view's first record.
    """

    split: str
    start: int | None = None
    stop: int | None = None
    within: Selection | None = None
    label: str | None = None

    @property
    def sliced(self) -> bool:
        """True when only part of the split is selected."""
        return self.start is not None or self.stop is not None or (self.within is not None and self.within.sliced)

    def bounds(self, count: int) -> tuple[int, int]:
        """``(first, end)`` record positions for a split of ``count`` records (``end`` exclusive)."""
        first, end = (0, count) if self.within is None else self.within.bounds(count)
        a, b, _ = slice(self.start, self.stop).indices(end - first)
        return first + a, first + max(a, b)

    def of_view(self, view: Selection, name: str) -> Selection:
        """This range (on the view called ``name``) as a range of the view's split."""
        return Selection(view.split, self.start, self.stop, view, name)

    def __str__(self) -> str:
        base = self.label or self.split
        if self.start is None and self.stop is None:
            return base
        start = "" if self.start is None else str(self.start)
        stop = "" if self.stop is None else str(self.stop)
        return f"{base}[{start}:{stop}]"


def parse_selection(text: str) -> Selection:
    """``"test[:10000]"`` -> ``Selection("test", None, 10000)``; UsageError when malformed."""
    m = _SELECTION.match(text.strip())
    if not m:
        raise UsageError(f"{text!r}: expected SPLIT or SPLIT[START:STOP], e.g. train[:50000]")
    ends: list[int | None] = []
    for key in ("start", "stop"):
        value = m.group(key)
        if value is None or not value.strip():
            ends.append(None)
        elif _INT.match(value):
            ends.append(int(value))
        else:
            raise UsageError(f"{text!r}: {value!r} is not a whole number (SPLIT[START:STOP], e.g. train[:50000])")
    return Selection(m.group("split"), ends[0], ends[1])
