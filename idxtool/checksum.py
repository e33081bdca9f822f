"""Hashes of files and of the IDX payload inside them, and the checks against a manifest.

A published file is identified by its ``sha256`` (or, where nothing better was ever
published, its ``md5``). ``idx_sha256`` hashes the *decompressed* payload, so a mirror that
re-compressed a file ("same data, different wrapper") can be told apart from corrupt data.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import IO, Any

from . import compress

#: Bytes hashed at a time.
BLOCK = 1 << 20


class Hasher:
    """sha256 and md5 of a byte stream, fed block by block, plus its length."""

    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    def update(self, block: bytes | memoryview) -> None:
        self.sha256.update(block)
        self.md5.update(block)
        self.size += len(block)

    def feed(self, fh: IO[bytes]) -> Hasher:
        """Hash everything left in ``fh``."""
        while block := fh.read(BLOCK):
            self.update(block)
        return self

    def digest(self) -> Digest:
        return Digest(self.size, self.sha256.hexdigest(), self.md5.hexdigest())


@dataclass(frozen=True)
class Digest:
    """Size and hashes of one file."""

    size: int
    sha256: str
    md5: str


def file_digest(path: str | os.PathLike[str]) -> Digest:
    """Size, sha256 and md5 of a file, in one pass."""
    with open(path, "rb") as fh:
        return Hasher().feed(fh).digest()


def hasher_of(path: str | os.PathLike[str]) -> Hasher:
    """A Hasher already fed with the bytes of ``path`` (to continue a resumed download)."""
    with open(path, "rb") as fh:
        return Hasher().feed(fh)


def payload_sha256(path: str | os.PathLike[str]) -> str | None:
    """sha256 of the decompressed content of ``path``; None if it cannot be decompressed."""
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
    def of(cls, resource: Any) -> Expected:
        """The expectations recorded for a registry Resource."""
        return cls(resource.name, resource.sha256, resource.md5, resource.size, resource.idx_sha256)


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking a file: ``ok``, ``repacked`` (payload matches) or a problem."""

    ok: bool
    repacked: bool = False
    problem: str = ""


def mismatches(digest: Digest, expected: Expected) -> list[str]:
    """The ways ``digest`` differs from ``expected`` (size first, then hashes), as phrases."""
    found: list[str] = []
    if expected.size is not None and digest.size != expected.size:
        found.append(f"size is {digest.size:,} bytes, expected {expected.size:,}")
    if expected.sha256 and digest.sha256 != expected.sha256.lower():
        found.append(f"sha256 mismatch: expected {expected.sha256.lower()}, got {digest.sha256}")
    if expected.md5 and digest.md5 != expected.md5.lower():
        found.append(f"md5 mismatch: expected {expected.md5.lower()}, got {digest.md5}")
    return found


def judge(path: str | os.PathLike[str], digest: Digest, expected: Expected) -> Verdict:
    """Check a file's digest against ``expected``; fall back to ``idx_sha256`` for the payload.

    A file whose size and hashes differ but whose decompressed payload matches the
    published ``idx_sha256`` is the same data in a different wrapper: ``repacked``.
    """
    found = mismatches(digest, expected)
    if not found:
        return Verdict(ok=True)
    if expected.idx_sha256 and payload_sha256(path) == expected.idx_sha256.lower():
        return Verdict(ok=True, repacked=True)
    return Verdict(ok=False, problem="; ".join(found))


def mismatch_message(name: str, problem: str, where: str = "") -> str:
    """A pooch-style message: the file, what differs, and what to do about it."""
    place = f" ({where})" if where else ""
    return (
        f"{name}: {problem}{place}. The file is corrupt or was changed upstream; "
        "delete it and fetch again (idxtool fetch --force)"
    )

