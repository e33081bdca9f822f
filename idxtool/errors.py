"""The exception family of idxtool. Each class carries the exit code the CLI uses for it."""

from __future__ import annotations


class IdxError(Exception):
    """Base class of every error idxtool raises on purpose."""

    exit_code = 1


class InvalidIdxError(IdxError):
    """A file is not valid IDX: bad magic, unknown type, wrong body length, corrupt stream."""


class ChecksumError(IdxError):
    """A file's size or hash does not match the one published for it."""


class VerificationError(IdxError):
    """A dataset or file failed verification (sizes, hashes, structure, pairing)."""


class DataError(IdxError):
    """Input data that cannot be used for the requested operation (mismatched pairs, bad labels)."""


class OutputError(IdxError, OSError):
    """An output could not be written (no such folder, permission denied, disk full).

    Also an OSError, so code that catches OSError keeps working.
    """

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}" if self.filename else str(self.strerror)


class UsageError(IdxError):
    """The user asked for something that cannot be done as asked (exit code 2)."""

    exit_code = 2


class InputNotFoundError(UsageError):
    """An input path does not exist or cannot be read."""


class OutputExistsError(UsageError):
    """An output already exists and overwriting was not allowed (pass --force)."""


class UnknownDatasetError(UsageError):
    """A dataset name is not in the registry."""


class ManifestError(UsageError):
    """A dataset manifest is malformed: names the file and the key."""


class MissingDependencyError(UsageError):
    """An optional dependency needed for this feature is not installed."""


class DownloadError(IdxError):
    """A file could not be obtained intact from any source (exit code 3)."""

    exit_code = 3
