"""Verify datasets in the cache, or bare files: sizes, hashes, IDX structure, pairing, labels.

For a dataset, every file is checked against its manifest entry (size and sha256, or md5
where only that was published), each IDX file's structure is validated by streaming its
body, paired images and labels must have the same record count, and labels must lie within
the class list. A split that publishes labels alone gets its labels checked, without
pairing. A bare path gets the structure check, and is compared with the manifest entries
of the same file name when there are any.

Targets come resolved (:mod:`idxtool.sources` decides what a word means): a ``Path`` is a
file, a ``(Dataset, Selection | None)`` pair a dataset, or one split of it. Every problem
with a file is reported in its :class:`Check`, never raised:
:meth:`VerifyReport.raise_for_failures` turns failures into one error.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from . import cache, registry
from .cache import Extracted
from .checksum import Digest, Expected, file_digest, judge
from .errors import ChecksumError, IdxError, VerificationError
from .idx import open_idx
from .registry import Dataset, Kind, Resource
from .selection import Selection

__all__ = ["Check", "Status", "Target", "VerifyReport", "verify"]

#: ``ok``; ``repacked`` (a re-compressed copy: same payload, different file); ``skipped``
#: (a shared archive not in the cache, needed only to extract missing files); ``failed``;
#: ``missing``.
Status = Literal["ok", "repacked", "skipped", "failed", "missing"]
#: What :func:`verify` checks: a file, or a dataset (one split of it with a Selection).
Target = Path | tuple[Dataset, Selection | None]

_REPACKED = (
    "re-compressed copy: the file differs from the published one, the decompressed IDX payload matches idx_sha256"
)


@dataclass
class Check:
    """The verification of one file."""

    path: Path
    name: str
    dataset: str | None = None
    kind: Kind | None = None
    split: str | None = None
    status: Status = "ok"
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    size: int | None = None
    sha256: str | None = None
    dtype: str | None = None
    shape: list[int] | None = None
    #: A size or hash differs from the published (or recorded) one.
    mismatch: bool = False

    @property
    def failed(self) -> bool:
        """True when the file is missing or has a problem."""
        return self.status in ("failed", "missing")

    def fail(self, problem: str, *, mismatch: bool = False) -> None:
        """Record a problem (a ``mismatch`` of size or hash, or another one)."""
        self.problems.append(problem)
        self.mismatch = self.mismatch or mismatch
        if self.status != "missing":
            self.status = "failed"

    def message(self) -> str:
        """One line: the file (``DATASET/FILE`` or its path), then every problem."""
        where = f"{self.dataset}/{self.name}" if self.dataset else str(self.path)
        return f"{where}: {'; '.join(self.problems)}"

    def to_json(self) -> dict[str, Any]:
        """The ``verify --json`` entry of this file."""
        return {
            "path": str(self.path),
            "name": self.name,
            "dataset": self.dataset,
            "kind": self.kind,
            "split": self.split,
            "status": self.status,
            "problems": self.problems,
            "notes": self.notes,
            "size": self.size,
            "sha256": self.sha256,
            "dtype": self.dtype,
            "shape": self.shape,
        }


@dataclass
class VerifyReport:
    """Every file checked, in order: each target's files in manifest order."""

    checks: list[Check]

    @property
    def failed(self) -> list[Check]:
        """The checks that failed (problems, or missing files)."""
        return [c for c in self.checks if c.failed]

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return not self.failed

    def to_json(self) -> dict[str, Any]:
        """``{"ok": ..., "files": [...]}``: the ``verify --json`` document."""
        return {"ok": self.ok, "files": [c.to_json() for c in self.checks]}

    def exceptions(self) -> list[VerificationError]:
        """One error per failing file, in order, for callers that show each on its own line.

        Returns
        -------
        list[VerificationError]
            A :class:`ChecksumError` for a file whose size or hash differs, a
            :class:`VerificationError` for the others; empty when nothing failed.
        """
        return [(ChecksumError if c.mismatch else VerificationError)(c.message()) for c in self.failed]

    def raise_for_failures(self) -> None:
        """Raise one error naming every failing file, if any failed.

        Raises
        ------
        ChecksumError
            At least one failure is a size or hash mismatch (exit code 1).
        VerificationError
            Files failed otherwise: missing, bad IDX structure, unpaired record counts,
            labels out of range (exit code 1).
        """
        failed = self.failed
        if not failed:
            return
        message = "; ".join(c.message() for c in failed)
        if any(c.mismatch for c in failed):
            raise ChecksumError(message)
        raise VerificationError(message)


def _strip(message: str, path: Path) -> str:
    """An IdxError message without the leading 'PATH: ' (the Check names the file)."""
    for prefix in (f"{path}: ", f"{path.name}: "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


def _digest(check: Check) -> Digest | None:
    """Hash the file; record its size and sha256 (or why it cannot be read)."""
    try:
        digest = file_digest(check.path)
    except OSError as exc:
        check.fail(f"cannot be read ({exc.strerror or exc})")
        return None
    check.size, check.sha256 = digest.size, digest.sha256
    return digest


def _structure(check: Check) -> None:
    """Open the IDX file and stream its body; record dtype and shape, or the problem."""
    try:
        with open_idx(check.path) as f:
            f.check_body()
            check.dtype, check.shape = f.dtype.name, list(f.shape)
    except IdxError as exc:
        check.fail(_strip(str(exc), check.path))
    except OSError as exc:
        check.fail(f"cannot be read ({exc.strerror or exc})")


def _hashes(check: Check, digest: Digest, resource: Resource) -> None:
    verdict = judge(check.path, digest, Expected.of(resource))
    if not verdict.ok:
        check.fail(verdict.problem, mismatch=True)
    elif verdict.repacked:
        check.status = "repacked" if check.status == "ok" else check.status
        check.notes.append(_REPACKED)
    if resource.md5_only:
        check.notes.append("md5 only: no sha256 was ever published for this file")


def _recorded(check: Check, digest: Digest, r: Resource, entry: Extracted | None) -> None:
    """An extracted file without published hashes, against what was recorded at extraction."""
    if entry is None:
        check.notes.append("no published hash and no extraction record: structure checked only")
        return
    if (entry.sha256, entry.size) != (digest.sha256, digest.size):
        check.fail(
            f"changed since it was extracted from {r.archive}: sha256 was {entry.sha256}, now {digest.sha256}",
            mismatch=True,
        )
    check.notes.append(f"no published hash: checked against the sha256 recorded when extracted from {r.archive}")


def _check_resource(ds: Dataset, r: Resource, base: Path, record: dict[str, Extracted]) -> Check:
    path = cache.path_of(ds, r, base)
    check = Check(path, r.name, ds.name, r.kind, r.split)
    if not path.is_file():
        check.status = "missing"
        check.fail("missing from the cache")
        return check
    digest = _digest(check)
    if digest is None:
        return check
    if r.sha256 or r.md5:
        _hashes(check, digest, r)
    elif r.extracted:
        _recorded(check, digest, r, record.get(r.name))
    if r.kind in ("images", "labels"):
        _structure(check)
    return check


def _pairing(ds: Dataset, checks: dict[str, Check]) -> None:
    """Same record count for paired files; labels within the class list.

    A split with labels but no images (or images but no labels) has nothing to pair.
    """
    for images, labels in ds.pairs().values():
        cl = checks.get(labels.name) if labels is not None else None
        if cl is None or cl.shape is None:
            continue
        ci = checks.get(images.name) if images is not None else None
        if ci is not None and ci.shape is not None and ci.shape[0] != cl.shape[0]:
            cl.fail(f"has {cl.shape[0]:,} records but {ci.name} has {ci.shape[0]:,}")
        if ds.classes:
            _label_range(ds, ds.classes, cl)


def _label_range(ds: Dataset, classes: Sequence[str], check: Check) -> None:
    low, high = ds.label_offset, ds.label_offset + len(classes) - 1
    lo: int | None = None
    hi: int | None = None
    bad = 0
    try:
        with open_idx(check.path) as f:
            column = ds.label_column if (ds.label_column is not None and f.ndim == 2) else None
            if f.ndim != 1 and column is None:
                check.fail(f"labels should be 1-D, got shape {list(f.shape)}")
                return
            for chunk in f.chunks():
                values = chunk[:, column] if column is not None else chunk
                if values.size:
                    lo = int(values.min()) if lo is None else min(lo, int(values.min()))
                    hi = int(values.max()) if hi is None else max(hi, int(values.max()))
                    bad += int(np.count_nonzero((values < low) | (values > high)))
    except (IdxError, OSError) as exc:  # pragma: no cover - structure was checked just before
        check.fail(_strip(str(exc), check.path))
        return
    if bad:
        check.fail(f"{bad:,} labels outside {low}..{high} ({len(classes)} classes); found {lo}..{hi}")


def _dataset(ds: Dataset, base: Path, selection: Selection | None) -> list[Check]:
    """Every file of ``ds`` in the cache (of one split with a selection).

    A shared archive is checked only when present.
    """
    record = cache.read_record(cache.folder(ds, base))
    files = ds.files if selection is None else tuple(r for r in ds.files if r.split == selection.split)
    if not files and selection is not None:
        check = Check(cache.folder(ds, base), selection.split, ds.name, split=selection.split)
        check.fail(f"no split {selection.split!r} (splits: {', '.join(ds.splits)})")
        return [check]
    checks: list[Check] = []
    for r in files:
        path = cache.path_of(ds, r, base)
        if r.kind == "archive" and not path.is_file():
            check = Check(path, r.name, ds.name, r.kind, r.split, status="skipped")
            check.notes.append("not in the cache (needed only to extract missing files)")
            checks.append(check)
            continue
        checks.append(_check_resource(ds, r, base, record))
    _pairing(ds, {c.name: c for c in checks})
    return checks


def _candidates(path: Path) -> list[tuple[Dataset, Resource]]:
    """Manifest entries with the file name of ``path``; the one of its parent folder first."""
    found = [(ds, r) for ds in registry.all_datasets() for r in ds.files if r.name == path.name]
    mine = [(ds, r) for ds, r in found if ds.name == path.parent.name]
    return mine or found


def _path(p: Path) -> Check:
    """Structure of a bare file, and its hash against manifest entries of the same name."""
    check = Check(p, p.name)
    if not p.exists():
        check.status = "missing"
        check.fail("no such file")
        return check
    if p.is_dir():
        check.fail("is a folder, not a file")
        return check
    digest = _digest(check)
    if digest is None:
        return check
    candidates = [(ds, r) for ds, r in _candidates(p) if r.sha256 or r.md5]
    if len(candidates) == 1:
        ds, r = candidates[0]
        check.kind, check.split = r.kind, r.split
        check.notes.append(f"compared with {ds.name}/{r.name}")
        _hashes(check, digest, r)
    elif candidates:
        matching = [(ds, r) for ds, r in candidates if judge(p, digest, Expected.of(r)).ok]
        if matching:
            ds, r = matching[0]
            check.kind, check.split = r.kind, r.split
            check.notes.append(f"matches {ds.name}/{r.name}")
            _hashes(check, digest, r)
        else:
            names = ", ".join(ds.name for ds, _ in candidates)
            check.fail(
                f"matches none of the published files of that name ({names}); sha256 {digest.sha256}",
                mismatch=True,
            )
    else:
        check.notes.append("no manifest entry of that name: structure checked only")
    if check.kind in (None, "images", "labels"):
        _structure(check)
    return check


def verify(
    targets: Sequence[Target], dir: str | os.PathLike[str] | None = None, *, strict: bool = False
) -> VerifyReport:
    """Verify files and datasets; every problem is reported, none raised.

    Parameters
    ----------
    targets
        Resolved targets (see :func:`idxtool.sources.resolve`): a ``Path`` is one file;
        ``(dataset, None)`` checks every file of the dataset in the cache;
        ``(dataset, selection)`` only the files of ``selection.split`` (the record range
        does not matter here).
    dir
        The cache root holding the datasets; None reads ``IDXTOOL_HOME``, else the user
        cache folder. Paths are checked where they are.
    strict
        A re-compressed copy (same IDX payload, not the published file) fails too.

    Returns
    -------
    VerifyReport
        One :class:`Check` per file, in target order; call
        :meth:`VerifyReport.raise_for_failures` to turn failures into an error.

    Raises
    ------
    TypeError
        A target is neither a ``Path`` nor a ``(Dataset, Selection | None)`` pair (a
        string must be resolved first).
    ManifestError
        A user manifest is broken (bare paths are compared with every manifest).
    """
    base = cache.root(dir)
    checks: list[Check] = []
    for target in targets:
        if isinstance(target, Path):
            checks.append(_path(target))
        elif isinstance(target, tuple) and len(target) == 2 and isinstance(target[0], Dataset):
            checks += _dataset(target[0], base, target[1])
        else:
            raise TypeError(
                f"verify() takes paths and (Dataset, Selection | None) pairs, got {target!r}; "
                "resolve names with idxtool.sources.resolve"
            )
    if strict:
        for check in checks:
            if check.status == "repacked":
                check.fail(
                    "re-compressed copy: its sha256 differs from the published file (refused in strict mode)",
                    mismatch=True,
                )
    return VerifyReport(checks)
