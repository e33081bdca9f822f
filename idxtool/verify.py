"""Verify datasets in the cache, or bare files: sizes, hashes, IDX structure, pairing, labels.

For a dataset, every file is checked against its manifest entry (size and sha256, or md5
where only that was published), each IDX file's structure is validated by streaming its
body, paired images and labels must have the same record count, and labels must lie within
the class list. A bare path gets the structure check, and is compared with the manifest
entries of the same file name when there are any.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import cache, registry
from .checksum import Digest, Expected, file_digest, judge
from .errors import IdxError, InputNotFoundError
from .fetch import read_record
from .idx import open_idx
from .registry import Dataset, Resource


@dataclass
class Check:
    """The verification of one file: ``ok``, ``repacked`` (same payload), ``failed`` or ``missing``."""

    path: Path
    name: str
    dataset: str | None = None
    kind: str | None = None
    split: str | None = None
    status: str = "ok"
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    size: int | None = None
    sha256: str | None = None
    dtype: str | None = None
    shape: list[int] | None = None

    @property
    def failed(self) -> bool:
        return self.status in ("failed", "missing")

    def fail(self, problem: str) -> None:
        self.problems.append(problem)
        if self.status != "missing":
            self.status = "failed"

    def message(self) -> str:
        """One line: the file, then every problem."""
        where = f"{self.dataset}/{self.name}" if self.dataset else str(self.path)
        return f"{where}: {'; '.join(self.problems)}"

    def to_json(self) -> dict[str, Any]:
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


def _strip(message: str, path: Path) -> str:
    """An IdxError message without the leading 'PATH: ' (the Check names the file)."""
    for prefix in (f"{path}: ", f"{path.name}: "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


def _structure(check: Check) -> Any:
    """Open the IDX file and stream its body; record dtype/shape; return the header or None."""
    try:
        with open_idx(check.path) as f:
            f.check_body()
            check.dtype, check.shape = f.dtype.name, list(f.shape)
            return f.header
    except IdxError as exc:
        check.fail(_strip(str(exc), check.path))
        return None


def _hashes(check: Check, digest: Digest, expected: Expected, resource: Resource) -> None:
    verdict = judge(check.path, digest, expected)
    if not verdict.ok:
        check.fail(verdict.problem)
    elif verdict.repacked:
        check.status = "repacked" if check.status == "ok" else check.status
        check.notes.append(
            "re-compressed copy: the file differs from the published one, the decompressed IDX payload matches idx_sha256"
        )
    if resource.md5_only:
        check.notes.append("md5 only: no sha256 was ever published for this file")


def _check_resource(ds: Dataset, r: Resource, base: Path, record: dict[str, Any]) -> Check:
    path = cache.path_of(ds, r, base)
    check = Check(path, r.name, ds.name, r.kind, r.split)
    if not path.is_file():
        check.status = "missing"
        check.fail(f"missing (run: idxtool fetch {ds.name})")
        return check
    digest = file_digest(path)
    check.size, check.sha256 = digest.size, digest.sha256
    if r.sha256 or r.md5:
        _hashes(check, digest, Expected.of(r), r)
    elif r.extracted:
        entry = record.get(r.name)
        if isinstance(entry, dict) and entry.get("sha256"):
            if entry.get("sha256") != digest.sha256 or entry.get("size") != digest.size:
                check.fail(
                    f"changed since it was extracted from {r.archive}: sha256 was {entry.get('sha256')}, "
                    f"now {digest.sha256}"
                )
            check.notes.append(f"no published hash: checked against the sha256 recorded when extracted from {r.archive}")
        else:
            check.notes.append("no published hash and no extraction record: structure checked only")
    if r.kind in ("images", "labels"):
        _structure(check)
    return check


def _pairing(ds: Dataset, checks: dict[str, Check]) -> None:
    """Same record count for paired files; labels within the class list."""
    for split, (images, labels) in ds.pairs().items():
        ci = checks.get(images.name)
        cl = checks.get(labels.name) if labels else None
        if cl is None or cl.shape is None:
            continue
        if ci is not None and ci.shape is not None and ci.shape[0] != cl.shape[0]:
            cl.fail(f"has {cl.shape[0]:,} records but {images.name} has {ci.shape[0]:,}")
        if ds.classes:
            _label_range(ds, cl)


def _label_range(ds: Dataset, check: Check) -> None:
    assert ds.classes is not None and check.shape is not None
    low, high = ds.label_offset, ds.label_offset + len(ds.classes) - 1
    lo = hi = None
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
    except IdxError as exc:  # pragma: no cover - structure was checked just before
        check.fail(_strip(str(exc), check.path))
        return
    if bad:
        check.fail(f"{bad:,} labels outside {low}..{high} ({len(ds.classes)} classes); found {lo}..{hi}")


def verify_dataset(ds: Dataset, dir: str | os.PathLike[str] | None = None) -> list[Check]:
    """Check every file of ``ds`` in the cache. A shared archive is checked only if present."""
    base = cache.root(dir)
    record = read_record(cache.folder(ds, base))
    checks: list[Check] = []
    for r in ds.files:
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


def verify_path(path: str | os.PathLike[str]) -> Check:
    """Structure of a bare file, and its hash against manifest entries of the same name."""
    p = Path(path)
    if not p.exists():
        raise InputNotFoundError(f"{p}: no such file or registered dataset")
    if p.is_dir():
        raise InputNotFoundError(f"{p}: is a folder; name the IDX files, or a dataset")
    check = Check(p, p.name)
    digest = file_digest(p)
    check.size, check.sha256 = digest.size, digest.sha256
    candidates = [(ds, r) for ds, r in _candidates(p) if r.sha256 or r.md5]
    if len(candidates) == 1:
        ds, r = candidates[0]
        check.kind, check.split = r.kind, r.split
        check.notes.append(f"compared with {ds.name}/{r.name}")
        _hashes(check, digest, Expected.of(r), r)
    elif candidates:
        matching = [(ds, r) for ds, r in candidates if judge(p, digest, Expected.of(r)).ok]
        if matching:
            ds, r = matching[0]
            check.kind, check.split = r.kind, r.split
            check.notes.append(f"matches {ds.name}/{r.name}")
            _hashes(check, digest, Expected.of(r), r)
        else:
            names = ", ".join(ds.name for ds, _ in candidates)
            check.fail(f"matches none of the published files of that name ({names}); sha256 {digest.sha256}")
    else:
        check.notes.append("no manifest entry of that name: structure checked only")
    _structure(check)
    return check


def verify(targets: Sequence[str], dir: str | os.PathLike[str] | None = None, strict: bool = False) -> list[Check]:
    """Verify each target: an existing path is a file, anything else a dataset name.

    Names are resolved first, so an unknown one fails before any file is read. With
    ``strict``, a re-compressed copy (same payload, different file) counts as a failure.
    """
    plan = [
        target if os.path.exists(target) or os.sep in target or "/" in target else registry.get(target)
        for target in targets
    ]
    checks: list[Check] = []
    for item in plan:
        checks += verify_dataset(item, dir) if isinstance(item, Dataset) else [verify_path(item)]
    if strict:
        for check in checks:
            if check.status == "repacked":
                check.fail("re-compressed copy: its sha256 differs from the published file (--strict)")
    return checks
