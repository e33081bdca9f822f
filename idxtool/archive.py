"""Safe, atomic extraction of chosen members from a zip archive (EMNIST's ``gzip.zip``).

The whole archive is checked before anything is written: a member with an absolute path,
a drive, a ``..`` component or a symlink makes it refuse the archive, and the members
asked for must fit in ``max_total`` bytes. Members stream into a private temporary folder
beside the destination (each file created with ``O_EXCL`` and ``O_NOFOLLOW``) and are
renamed into place only when all of them are complete; each name is checked after the
rename to hold the file that was written.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import IO

from . import progress as progress_
from .checksum import BLOCK, Digest, Hasher
from .errors import VerificationError
from .progress import Progress, ProgressFactory

#: Default ceiling on the bytes one extraction may write (EMNIST needs well under 1 GB).
MAX_TOTAL = 8 << 30


class UnsafeArchiveError(VerificationError):
    """An archive holds a member that could escape the destination, or is too large."""


def unsafe_reason(info: zipfile.ZipInfo) -> str | None:
    """Why a member must not be extracted (absolute, leaves the folder, a symlink), or None."""
    name = info.filename
    posix = name.replace("\\", "/")
    parts = PurePosixPath(posix).parts
    if posix.startswith("/") or (parts and len(parts[0]) >= 2 and parts[0][1] == ":"):
        return "absolute path"
    if ".." in parts:
        return "path leaves the target folder"
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "symbolic link"
    return None


def check_archive(zf: zipfile.ZipFile, label: str) -> None:
    """Refuse the archive if any member is unsafe.

    Raises
    ------
    UnsafeArchiveError
        A member has an absolute path, a drive, a ``..`` component, or is a symlink;
        ``label`` names the archive in the message.
    """
    for info in zf.infolist():
        reason = unsafe_reason(info)
        if reason:
            raise UnsafeArchiveError(f"{label}: unsafe member {info.filename!r} ({reason}); refusing to extract")


def extract(
    archive: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    members: Mapping[str, str],
    *,
    max_total: int = MAX_TOTAL,
    progress: ProgressFactory | None = None,
) -> dict[str, Digest]:
    """Extract chosen members of a zip archive into a folder, all or nothing.

    Parameters
    ----------
    archive
        The zip file.
    dest
        The folder the files go to (made if missing).
    members
        Member path inside the archive -> plain file name under ``dest``.
    max_total
        Ceiling on the bytes the members may take once extracted.
    progress
        Reports the bytes written, as one task named after the archive.

    Returns
    -------
    dict[str, Digest]
        File name -> size and hashes of what was written.

    Raises
    ------
    UnsafeArchiveError
        A member of the archive is unsafe, a file name is not plain, or the members are
        larger than ``max_total``; nothing is written.
    VerificationError
        Not a zip file, a member is missing, a folder or corrupt; nothing is changed.
    """
    label = Path(archive).name
    target = Path(dest)
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise VerificationError(f"{label}: not a readable zip archive ({exc})") from None
    with zf:
        check_archive(zf, label)
        infos: dict[str, zipfile.ZipInfo] = {}
        for member, filename in members.items():
            if not filename or "/" in filename or "\\" in filename or filename in (".", ".."):
                raise UnsafeArchiveError(f"{label}: refusing to extract {member!r} to {filename!r}")
            try:
                infos[member] = zf.getinfo(member)
            except KeyError:
                raise VerificationError(f"{label}: has no member {member!r}") from None
            if infos[member].is_dir():
                raise VerificationError(f"{label}: {member!r} is a folder, not a file")
        total = sum(info.file_size for info in infos.values())
        if total > max_total:
            raise UnsafeArchiveError(
                f"{label}: the requested members would take {total:,} bytes, more than the "
                f"{max_total:,}-byte limit; refusing to extract"
            )
        target.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(prefix=".extract-", dir=target))
        task = progress_.start(progress, label, total, "bytes")
        try:
            digests, idents = _extract_to(zf, infos, members, temp, label, task)
            for filename in members.values():
                os.replace(temp / filename, target / filename)
                _recheck(target / filename, idents[filename], label)
        finally:
            task.close()
            shutil.rmtree(temp, ignore_errors=True)
    return {members[m]: d for m, d in digests.items()}


def _recheck(path: Path, ident: tuple[int, int], label: str) -> None:
    """After the rename: ``path`` must be the regular file that was written, else it is removed."""
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != ident:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        raise VerificationError(f"{label}: {path.name} was replaced by another file while it was extracted; removed it")


def _create(path: Path) -> IO[bytes]:
    """A new file, created exclusively and never through a link."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    return open(os.open(path, flags, 0o644), "wb")


def _extract_to(
    zf: zipfile.ZipFile,
    infos: Mapping[str, zipfile.ZipInfo],
    members: Mapping[str, str],
    temp: Path,
    label: str,
    task: Progress,
) -> tuple[dict[str, Digest], dict[str, tuple[int, int]]]:
    digests: dict[str, Digest] = {}
    idents: dict[str, tuple[int, int]] = {}
    done = 0
    for member, info in infos.items():
        hasher = Hasher(md5=False)  # members have no published md5 of their own
        out_path = temp / members[member]
        try:
            with zf.open(info) as src, _create(out_path) as out:
                st = os.fstat(out.fileno())
                idents[members[member]] = (st.st_dev, st.st_ino)
                while block := src.read(BLOCK):
                    hasher.update(block)
                    if hasher.size > info.file_size:
                        raise UnsafeArchiveError(f"{label}: {member!r} is larger than its header says")
                    out.write(block)
                    done += len(block)
                    task.update(done)
                out.flush()
                with contextlib.suppress(OSError):
                    os.fsync(out.fileno())
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
            raise VerificationError(f"{label}: member {member!r} is corrupt ({exc})") from None
        digests[member] = hasher.digest()
    return digests, idents
