"""The exception family of idxtool. Each class carries the exit code the CLI uses for it.

Every error idxtool raises on purpose is an :class:`IdxError`, and also the matching
built-in exception where Python has one, so callers can catch it either way::

    try:
        idxtool.read("missing.gz")
    except FileNotFoundError:  # also an idxtool.InputNotFoundError and an IdxError
        ...

Messages name files and parameters (``ratio=1.5``), never command-line flags: the CLI adds
its own remedies (``pass --force``) in one place, by error type.
"""

from __future__ import annotations

import errno


class IdxError(Exception):
    """Base class of every error idxtool raises on purpose."""

    exit_code = 1


class InvalidIdxError(IdxError, ValueError):
    """A file is not valid IDX: bad magic, unknown type, wrong body length, corrupt stream."""


class VerificationError(IdxError):
    """A dataset or file failed verification (sizes, hashes, structure, pairing)."""


class ChecksumError(VerificationError):
    """A file's size or hash does not match the one published for it."""


class DataError(IdxError, ValueError):
    """Input data that cannot be used for the requested operation (mismatched pairs, bad labels)."""


class OutputError(IdxError, OSError):
    """An output could not be written (no such folder, permission denied, disk full).

    Also an OSError, so code that catches OSError keeps working. ``filename`` is the
    output's final name, never a temporary one.
    """

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}" if self.filename else str(self.strerror)


class UsageError(IdxError):
    """The caller asked for something that cannot be done as asked (exit code 2)."""

    exit_code = 2


class ParameterError(UsageError, ValueError):
    """A parameter has a value that cannot work; ``param`` names it (``ratio``, ``sizes``).

    The message reads ``ratio=1.5 must be between 0 and 1``; the CLI rewrites the
    parameter as its flag.
    """

    def __init__(self, param: str, value: object, problem: str) -> None:
        self.param, self.value, self.problem = param, value, problem
        super().__init__(f"{param}={value!r} {problem}")


class _FileErrorMixin(OSError):
    """An OSError built from one message (the whole line) and the file it names."""

    errno_code = 0

    def __init__(self, message: str, filename: str | None = None) -> None:
        super().__init__(message)
        self.errno = self.errno_code
        self.strerror = message
        self.filename = filename

    def __str__(self) -> str:
        return str(self.strerror)


class InputNotFoundError(_FileErrorMixin, UsageError, FileNotFoundError):
    """An input path does not exist or cannot be read (also a FileNotFoundError)."""

    errno_code = errno.ENOENT


class RecordIndexError(UsageError, IndexError):
    """A record index is outside the file or dataset (also an IndexError)."""


class OutputExistsError(_FileErrorMixin, UsageError, FileExistsError):
    """An output already exists and overwriting was not allowed (also a FileExistsError)."""

    errno_code = errno.EEXIST


class UnknownDatasetError(UsageError, LookupError):
    """A dataset name is not in the registry (also a LookupError)."""


class ManifestError(UsageError):
    """A dataset manifest is malformed: names the file and the key."""


class MissingDependencyError(UsageError, ImportError):
    """An optional dependency needed for this feature is not installed; names the extra."""


class DownloadError(IdxError):
    """A file could not be obtained intact from any source (exit code 3)."""

    exit_code = 3
