"""Verify datasets in the cache, or bare files: sizes, hashes, IDX structure, pairing, labels.

For a dataset, every file is checked against its manifest entry (size and sha256, or md5
where only that was published), each IDX file's structure is validated by streaming its
body, paired images and labels must have the same record count, and labels must lie within
the class list. A split that publishes labels alone gets its labels checked, without
pairing. A bare path gets the structure check, and is compared with the manifest entries
of the same file name when there are any.

Each file is read once: every block read feeds the hasher (in a second thread: hashlib
releases the GIL, so hashing overlaps decompression) and the decompressor, the IDX
structure is checked on the decompressed stream, and labels are range-checked on its
decompressed chunks. md5 is computed only for files published with an md5 alone. A file
of a dataset that passes every check gets a verification stamp in the cache (see
:mod:`idxtool.cache`), so that ``load`` need not hash it again; ``verify`` itself always
hashes.

Targets come resolved (:mod:`idxtool.sources` decides what a word means): a ``Path`` is a
file, a ``(Dataset, Selection | None)`` pair a dataset, or one split of it. Every problem
with a file is reported in its :class:`Check`, never raised:
:meth:`VerifyReport.raise_for_failures` turns failures into one error.
"""

from __future__ import annotations

import os
import queue
import stat
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np

from . import cache, compress, registry
from .cache import Extracted
from .checksum import BLOCK, Digest, Expected, Hasher, judge, mismatches, needs_md5
from .errors import ChecksumError, IdxError, VerificationError
from .idx import CHUNK_BYTES, Header, open_idx, parse_header
from .registry import Dataset, Kind, Resource
from .selection import Selection

__all__ = ["Check", "Status", "Target", "VerifyReport", "verify"]

#: ``ok``; ``repacked`` (a re-compressed copy: same payload, different file); ``skipped``
#: (a shared archive not in the cache, needed only to extract missing files);
#: ``unpublished`` (a valid IDX file that shares a published file's name but is not that
#: file: notMNIST uses MNIST's names); ``failed``; ``missing``.
Status = Literal["ok", "repacked", "skipped", "unpublished", "failed", "missing"]
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
    #: Labels below / above the class range, and the smallest and largest label seen
    #: (filled while the file is read; judged once pairing is known).
    label_stats: tuple[int, int | None, int | None] | None = field(default=None, repr=False)

    @property
    def missing_from_cache(self) -> bool:
        """A dataset's file that is not in the cache (``idxtool fetch NAME`` would get it)."""
        return self.status == "missing" and self.dataset is not None

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


class _HashingReader:
    """Reads a file forward in blocks; every block is hashed as it is read.

    ``read(size)`` serves the blocks to a decompressor or an IDX reader, and then the
    hashing runs in a second thread (hashlib releases the GIL), overlapping decompression.
    :meth:`drain` reads whatever is left (hashed in the reading thread when nothing else
    reads: a raw file has nothing to overlap), :meth:`finish` gives the digest. The queue
    between the two threads is bounded, so memory stays a few blocks.
    """

    def __init__(self, fh: IO[bytes], hasher: Hasher) -> None:
        self._fh, self._hasher = fh, hasher
        self._blocks: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self._buf, self._pos = b"", 0
        self._thread: threading.Thread | None = None
        self._finished = False

    def _hash(self) -> None:
        while (block := self._blocks.get()) is not None:
            self._hasher.update(block)

    def _fill(self) -> bool:
        block = self._fh.read(BLOCK)
        if block:
            if self._thread is not None:
                self._blocks.put(block)
            else:
                self._hasher.update(block)
        self._buf, self._pos = block, 0
        return bool(block)

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes (all that is left when negative); b"" at the end."""
        if self._thread is None and not self._finished:
            self._thread = threading.Thread(target=self._hash, name="idxtool-hash", daemon=True)
            self._thread.start()
        if size is None or size < 0:
            parts = [self._buf[self._pos :]]
            while self._fill():
                parts.append(self._buf)
            self._pos = len(self._buf)
            return b"".join(parts)
        if self._pos >= len(self._buf) and not self._fill():
            return b""
        start, end = self._pos, min(self._pos + size, len(self._buf))
        self._pos = end
        return self._buf if (start, end) == (0, len(self._buf)) else self._buf[start:end]

    def drain(self) -> None:
        """Read (and hash) the rest of the file."""
        while self._fill():
            pass

    def finish(self) -> Digest:
        """Stop the hasher thread; the digest of every block read."""
        if not self._finished:
            self._finished = True
            if self._thread is not None:
                self._blocks.put(None)
                self._thread.join()
        return self._hasher.digest()


@dataclass(frozen=True)
class _Labels:
    """How to range-check a labels file: the class range, and the column of a 2-D table."""

    low: int
    high: int
    column: int | None


def _range_check(check: Check, chunk: np.ndarray, labels: _Labels, column: int | None) -> None:
    values = chunk[:, column] if column is not None else chunk
    if not values.size:
        return
    bad, lo, hi = check.label_stats or (0, None, None)
    vmin, vmax = int(values.min()), int(values.max())
    if vmin < labels.low or vmax > labels.high:
        bad += int(np.count_nonzero((values < labels.low) | (values > labels.high)))
    check.label_stats = (bad, vmin if lo is None else min(lo, vmin), vmax if hi is None else max(hi, vmax))


def _scan(
    check: Check, *, md5: bool, structure: bool, labels: _Labels | None = None
) -> tuple[Digest, os.stat_result] | None:
    """Read the file once: hash it (second thread), and check its IDX structure on the way.

    Records size and sha256 on ``check`` (and dtype, shape, label statistics), or why the
    file cannot be read. Returns the digest and the file's status from before it was
    read (for its stamp); None when it cannot be read.
    """
    try:
        fh = open(check.path, "rb")  # noqa: SIM115  # closed below
    except OSError as exc:
        check.fail(f"cannot be read ({exc.strerror or exc})")
        return None
    with fh:
        before = os.fstat(fh.fileno())
        reader = _HashingReader(fh, Hasher(md5=md5))
        try:
            if structure:
                _structure(check, reader, labels, regular=stat.S_ISREG(before.st_mode))
            reader.drain()
        except OSError as exc:
            check.fail(f"cannot be read ({exc.strerror or exc})")
            return None
        finally:
            digest = reader.finish()
    check.size, check.sha256 = digest.size, digest.sha256
    return digest, before


def _structure(check: Check, reader: _HashingReader, labels: _Labels | None, *, regular: bool) -> None:
    """Open the IDX file and stream its body; record dtype and shape, or the problem.

    A raw regular file's length is checked from its size (as :func:`open_idx` does) and,
    unless its labels are range-checked, its body is only hashed, not copied.
    """
    try:
        if regular:
            with open_idx(check.path) as f:  # the header, and the length of a raw file from its size
                if f.compression == "raw" and labels is None:
                    check.dtype, check.shape = f.dtype.name, list(f.shape)
                    return
            if labels is None and (header := _decompressed_length_ok(reader, str(check.path))) is not None:
                check.dtype, check.shape = header.dtype.name, list(header.shape)
                return
            if labels is None:  # something is wrong: read it again, for open_idx's exact message
                with open_idx(check.path) as f:
                    f.check_body()
                check.fail("the decompressed body does not match its header")  # pragma: no cover
                return
        with open_idx(reader, name=str(check.path)) as f:
            column = labels.column if (labels is not None and f.ndim == 2) else None
            if labels is not None and f.ndim != 1 and column is None:
                labels = None  # not a label vector: the pairing step reports it
            for chunk in f.chunks():
                if labels is not None:
                    _range_check(check, chunk, labels, column)
            check.dtype, check.shape = f.dtype.name, list(f.shape)
    except IdxError as exc:
        check.label_stats = None
        check.fail(_strip(str(exc), check.path))


def _decompressed_length_ok(reader: _HashingReader, name: str) -> Header | None:
    """The header of a compressed IDX stream whose body has exactly the declared length, or None.

    The fast path of the structure check (nothing but the length to check): the stream is
    decompressed into one reused buffer, never into arrays. None means "not fine": a bad
    length or a corrupt stream, whose exact message the caller gets from :func:`open_idx`.

    Raises
    ------
    InvalidIdxError
        The header itself is invalid (the message names ``name``).
    """
    try:
        _, stream = compress.open_stream(reader)
        with stream:
            header = parse_header(stream, name)
            declared = header.body_bytes
            buffer = bytearray(CHUNK_BYTES)
            total = 0
            while total <= declared and (n := stream.readinto(buffer)):  # type: ignore[attr-defined]
                total += n
    except compress.STREAM_ERRORS:
        return None
    return header if total == declared else None


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


def _hash_problems_first(check: Check, structural: int) -> None:
    """Move the problems found after the first ``structural`` ones (hashes) to the front."""
    check.problems[:] = check.problems[structural:] + check.problems[:structural]


def _labels_of(ds: Dataset, r: Resource) -> _Labels | None:
    """How to range-check ``r`` when it is a labels file of a dataset with a class list."""
    if r.kind != "labels" or not ds.classes:
        return None
    return _Labels(ds.label_offset, ds.label_offset + len(ds.classes) - 1, ds.label_column)


#: What a passing file's stamp will say: what it was checked against, its status before
#: it was read, and its digest.
_Pending = tuple[str, os.stat_result, Digest]


def _check_resource(
    ds: Dataset, r: Resource, base: Path, record: dict[str, Extracted]
) -> tuple[Check, _Pending | None]:
    path = cache.path_of(ds, r, base)
    check = Check(path, r.name, ds.name, r.kind, r.split)
    if not path.is_file():
        check.status = "missing"
        check.fail("missing from the cache")
        return check, None
    expected = Expected.of(r) if (r.sha256 or r.md5) else None
    kind = r.kind in ("images", "labels")
    scanned = _scan(check, md5=needs_md5(expected), structure=kind, labels=_labels_of(ds, r))
    if scanned is None:
        return check, None
    digest, before = scanned
    entry = record.get(r.name)
    structural = len(check.problems)  # found while reading; hash problems are listed first
    if expected is not None:
        _hashes(check, digest, r)
        _hash_problems_first(check, structural)
        return check, (expected.key(), before, digest)
    if r.extracted:
        _recorded(check, digest, r, entry)
        _hash_problems_first(check, structural)
        if entry is not None:
            return check, (f"extracted:{entry.sha256},{entry.size}", before, digest)
    return check, None


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
            _label_range(ds, ds.classes, cl, cl.shape)


def _label_range(ds: Dataset, classes: Sequence[str], check: Check, shape: list[int]) -> None:
    """Judge the label statistics gathered while the file was read."""
    low, high = ds.label_offset, ds.label_offset + len(classes) - 1
    if len(shape) != 1 and not (ds.label_column is not None and len(shape) == 2):
        check.fail(f"labels should be 1-D, got shape {shape}")
        return
    bad, lo, hi = check.label_stats or (0, None, None)
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
    pending: dict[int, _Pending] = {}
    for r in files:
        path = cache.path_of(ds, r, base)
        if r.kind == "archive" and not path.is_file():
            check = Check(path, r.name, ds.name, r.kind, r.split, status="skipped")
            check.notes.append("not in the cache (needed only to extract missing files)")
            checks.append(check)
            continue
        check, stamp = _check_resource(ds, r, base, record)
        checks.append(check)
        if stamp is not None:
            pending[len(checks) - 1] = stamp
    _pairing(ds, {c.name: c for c in checks})
    for i, check in enumerate(checks):
        if check.kind == "archive" and check.status == "skipped":
            continue
        if check.failed:  # a stamp must never vouch for a file verify found broken
            cache.forget_stamp(check.path)
        elif i in pending:  # passed every check, pairing and labels included
            against, before, digest = pending[i]
            cache.write_stamp(check.path, digest.sha256, against, before, repacked=check.status == "repacked")
    return checks


def _candidates(path: Path) -> list[tuple[Dataset, Resource]]:
    """Manifest entries with the file name of ``path``; the one of its parent folder first."""
    found = [(ds, r) for ds in registry.all_datasets() for r in ds.files if r.name == path.name]
    mine = [(ds, r) for ds, r in found if ds.name == path.parent.name]
    return mine or found


_UNPUBLISHED = "not a published file: a valid IDX file that shares its name with {names}, not that file"


def _path(p: Path, *, strict: bool) -> Check:
    """Structure of a bare file, and its hash against manifest entries of the same name.

    A file that matches none of them but is a valid IDX file is ``unpublished`` (notMNIST
    uses MNIST's file names), a failure only when ``strict``.
    """
    check = Check(p, p.name)
    if not p.exists():
        check.status = "missing"
        check.fail("no such file")
        return check
    if p.is_dir():
        check.fail("is a folder, not a file")
        return check
    candidates = [(ds, r) for ds, r in _candidates(p) if r.sha256 or r.md5]
    md5 = any(needs_md5(Expected.of(r)) for _, r in candidates)
    structure = not candidates or any(r.kind in ("images", "labels") for _, r in candidates)
    scanned = _scan(check, md5=md5, structure=structure)
    if scanned is None:
        return check
    digest = scanned[0]
    if not candidates:
        check.notes.append("no manifest entry of that name: structure checked only")
        return check
    matching = [(ds, r) for ds, r in candidates if judge(p, digest, Expected.of(r)).ok]
    if matching:
        ds, r = matching[0]
        check.kind, check.split = r.kind, r.split
        check.notes.append(f"{'compared with' if len(candidates) == 1 else 'matches'} {ds.name}/{r.name}")
        _hashes(check, digest, r)
        return check
    names = ", ".join(f"{ds.name}/{r.name}" for ds, r in candidates)
    if len(candidates) == 1:
        differs = "; ".join(mismatches(digest, Expected.of(candidates[0][1])))
    else:
        differs = f"matches none of the published files of that name; sha256 {digest.sha256}"
    if check.failed:  # not a valid IDX file either: whatever it is, it is broken
        check.fail(f"not the published file ({names}): {differs}", mismatch=True)
    elif strict:
        check.fail(f"not a published file ({names}): {differs} (refused in strict mode)", mismatch=True)
    else:
        check.status = "unpublished"
        check.notes.append(f"{_UNPUBLISHED.format(names=names)} ({differs})")
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
        A re-compressed copy (same IDX payload, not the published file) fails too, and
        so does a bare file that shares a published file's name without being it (by
        default that is reported as ``unpublished``, structure checked, not a failure).

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
            checks.append(_path(target, strict=strict))
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
