"""Hashes of files and of the IDX payload inside them, and the checks against a manifest.

A published file is identified by its ``sha256`` (or, where nothing better was ever
published, its ``md5``). ``idx_sha256`` hashes the *decompressed* payload, so a mirror that
re-compressed a file ("same data, different wrapper") can be told apart from corrupt data.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from . import compress
from .errors import ChecksumError

if TYPE_CHECKING:
    from .manifest import Resource

#: Bytes hashed at a time.
BLOCK = 1 << 20


class Hasher:
    """sha256 (and md5 when asked) of a byte stream, fed block by block, plus its length.

    md5 costs more than sha256 here (about 470 MB/s against 1,200 MB/s): compute it only
    for files where nothing better was published (:meth:`for_expected`).
    """

    def __init__(self, *, md5: bool = True) -> None:
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5(usedforsecurity=False) if md5 else None
        self.size = 0

    @classmethod
    def for_expected(cls, expected: Expected | None) -> Hasher:
        """A Hasher computing md5 only when ``expected`` has an md5 and no sha256."""
        return cls(md5=needs_md5(expected))

    def update(self, block: bytes | memoryview) -> None:
        """Hash the next bytes."""
        self.sha256.update(block)
        if self.md5 is not None:
            self.md5.update(block)
        self.size += len(block)

    def feed(self, fh: IO[bytes]) -> Hasher:
        """Hash everything left in ``fh``."""
        while block := fh.read(BLOCK):
            self.update(block)
        return self

    def digest(self) -> Digest:
        """Size and digests of everything hashed so far."""
        return Digest(self.size, self.sha256.hexdigest(), None if self.md5 is None else self.md5.hexdigest())


@dataclass(frozen=True)
class Digest:
    """Size and hashes of one file (``md5`` None when it was not computed)."""

    size: int
    sha256: str
    md5: str | None = None


def needs_md5(expected: Expected | None) -> bool:
    """True when only an md5 can judge the file (``expected`` has an md5 and no sha256)."""
    return expected is not None and bool(expected.md5) and not expected.sha256


def file_digest(path: str | os.PathLike[str], *, md5: bool = True) -> Digest:
    """Size, sha256 and (unless ``md5=False``) md5 of a file, in one pass.

    Parameters
    ----------
    path
        The file to hash.
    md5
        Compute the md5 too (slower than sha256: ask for it only for md5-only files).

    Returns
    -------
    Digest
        Its size in bytes and hex digests.

    Raises
    ------
    OSError
        The file cannot be read.
    """
    with open(path, "rb") as fh:
        return Hasher(md5=md5).feed(fh).digest()


def hasher_of(path: str | os.PathLike[str], *, md5: bool = True) -> Hasher:
    """A Hasher already fed with the bytes of ``path`` (to continue a resumed download).

    Parameters
    ----------
    path
        The partial file.
    md5
        Compute the md5 too.

    Returns
    -------
    Hasher
        Ready for the bytes that follow.

    Raises
    ------
    OSError
        The file cannot be read.
    """
    with open(path, "rb") as fh:
        return Hasher(md5=md5).feed(fh)


def payload_sha256(path: str | os.PathLike[str]) -> str | None:
    """sha256 of the decompressed content of ``path`` (gzip, xz, bz2 or raw, by content).

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    str | None
        The hex digest, or None when the stream is corrupt or truncated.
    """
    h = hashlib.sha256()
    try:
        with compress.open_read(path) as fh:
            while block := fh.read(BLOCK):
                h.update(block)
    except compress.STREAM_ERRORS:
        return None
    return h.hexdigest()


@dataclass(frozen=True)
class Expected:
    """What a file must be: its name (for messages) and whatever of size and hashes is known."""

    name: str
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None
    idx_sha256: str | None = None

    @classmethod
    def of(cls, resource: Resource) -> Expected:
        """The expectations recorded for a registry Resource, named by its file name."""
        return cls(resource.name, resource.sha256, resource.md5, resource.size, resource.idx_sha256)

    def key(self) -> str:
        """What a file is checked against, as one string (the name left out): a stamp's ``against``."""
        fields = (self.sha256, self.md5, self.size, self.idx_sha256)
        return "published:" + ",".join("" if v is None else str(v).lower() for v in fields)


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking a file: ``ok``, ``repacked`` (payload matches) or a problem."""

    ok: bool
    repacked: bool = False
    problem: str = ""


def mismatches(digest: Digest, expected: Expected) -> list[str]:
    """The ways ``digest`` differs from ``expected``, as phrases.

    Parameters
    ----------
    digest
        What the file is.
    expected
        What was published for it; unknown fields are not compared.

    Returns
    -------
    list[str]
        Size first, then sha256, then md5 (``"sha256 mismatch: expected X, got Y"``); empty
        when everything known matches. An md5 that was not computed is not compared;
        a file judged by md5 alone must have one.
    """
    found: list[str] = []
    if needs_md5(expected) and digest.md5 is None:
        found.append("md5 was not computed, and only an md5 was published")
    if expected.size is not None and digest.size != expected.size:
        found.append(f"size is {digest.size:,} bytes, expected {expected.size:,}")
    if expected.sha256 and digest.sha256 != expected.sha256.lower():
        found.append(f"sha256 mismatch: expected {expected.sha256.lower()}, got {digest.sha256}")
    if expected.md5 and digest.md5 is not None and digest.md5 != expected.md5.lower():
        found.append(f"md5 mismatch: expected {expected.md5.lower()}, got {digest.md5}")
    return found


def judge(path: str | os.PathLike[str], digest: Digest, expected: Expected) -> Verdict:
    """Check a file's digest against ``expected``; fall back to ``idx_sha256`` for the payload.

    A file whose size and hashes differ but whose decompressed payload matches the
    published ``idx_sha256`` is the same data in a different wrapper: ``repacked``.

    Parameters
    ----------
    path
        The file (read again only to hash its payload, after a mismatch).
    digest
        The file's digest.
    expected
        What was published for it.

    Returns
    -------
    Verdict
        ``ok``, ``repacked``, or not ok with the ``problem`` as one phrase. Never raises
        for a mismatch: see :func:`check_file` for that.
    """
    found = mismatches(digest, expected)
    if not found:
        return Verdict(ok=True)
    if expected.idx_sha256 and payload_sha256(path) == expected.idx_sha256.lower():
        return Verdict(ok=True, repacked=True)
    return Verdict(ok=False, problem="; ".join(found))


def check_file(path: str | os.PathLike[str], expected: Expected, *, digest: Digest | None = None) -> Digest:
    """Check one file against what was published for it; raise when it is not that file.

    A re-compressed copy (different file, same decompressed payload as ``idx_sha256``) is
    accepted, as everywhere in idxtool.

    Parameters
    ----------
    path
        The file to check.
    expected
        Its published size and hashes; ``expected.name`` names the file in the message.
    digest
        The file's digest when it is already known (skips hashing it again).

    Returns
    -------
    Digest
        The file's size, sha256 and md5.

    Raises
    ------
    ChecksumError
        Size or hash differ (exit code 1). The message names the file, each algorithm
        with the expected and actual value, and what to do.
    OSError
        The file cannot be read.
    """
    digest = file_digest(path, md5=needs_md5(expected)) if digest is None else digest
    verdict = judge(path, digest, expected)
    if not verdict.ok:
        raise ChecksumError(
            f"{expected.name}: {verdict.problem}. The file is corrupt or incomplete, or is not the "
            "published one (or the published hash is outdated); delete it and download it again"
        )
    return digest
