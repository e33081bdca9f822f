"""Where datasets live on disk: the cache root, each file's place in it, extraction records.

Root: ``dir``, else ``IDXTOOL_HOME``, else the platform's user cache folder
(platformdirs). A dataset lives in ``ROOT/NAME/`` under its files' published names; an
archive shared by a family (EMNIST's ``gzip.zip``) in ``ROOT/_archives/FAMILY/``. Names
cannot start with ``_``, so the two never collide, and file names cannot start with ``.``,
so they never collide with the lock, the partial downloads, the extraction record or the
verification stamps.

Verification stamps (``ROOT/NAME/.verified.json``, one per folder): after a file was hashed
and found to be what it must be, its (size, mtime_ns, inode) is recorded with its sha256 and
with what it was checked against. A later fetch that trusts stamps skips hashing a file whose
size, mtime and inode are unchanged; any change of one of them, of the expectation, or a
stamps file that cannot be read means hashing again. Stamps are written atomically.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from .atomic import atomic_file
from .manifest import Dataset, Resource

ARCHIVES = "_archives"
#: Per-dataset record of the files extracted from an archive (their sha256 and size).
EXTRACTED_RECORD = ".extracted.json"
LOCK_NAME = ".lock"
#: Per-folder verification stamps: file name -> (size, mtime_ns, inode, sha256, ...).
STAMPS = ".verified.json"
#: Serialises the read-modify-write of stamps files between threads (a fetch hashes and
#: downloads the files of a dataset in parallel); between processes the dataset lock does.
_STAMPS_LOCK = threading.Lock()


def root(dir: str | os.PathLike[str] | None = None) -> Path:
    """The cache root.

    Parameters
    ----------
    dir
        The root to use; None reads ``IDXTOOL_HOME``, else the user cache folder.

    Returns
    -------
    Path
        An absolute path (it may not exist yet).
    """
    if dir is not None:
        return Path(dir).expanduser().absolute()
    home = os.environ.get("IDXTOOL_HOME")
    if home:
        return Path(home).expanduser().absolute()
    import platformdirs

    return Path(platformdirs.user_cache_dir("idxtool"))


def relative(dataset: Dataset, resource: Resource) -> str:
    """A file's path under the root, '/'-separated (also its path on a mirror laid out like a cache).

    Parameters
    ----------
    dataset, resource
        The file and the dataset it belongs to.

    Returns
    -------
    str
        ``NAME/FILE``, or ``_archives/FAMILY/FILE`` for a shared archive; it names the
        file in messages and progress too.
    """
    if resource.kind == "archive":
        return f"{ARCHIVES}/{dataset.family}/{resource.name}"
    return f"{dataset.name}/{resource.name}"


def path_of(dataset: Dataset, resource: Resource, base: Path) -> Path:
    """Where ``resource`` of ``dataset`` lives under the root ``base``.

    Returns
    -------
    Path
        ``base`` joined with :func:`relative` (every component was validated by the
        manifest parser, so it stays under ``base``).
    """
    return base.joinpath(*relative(dataset, resource).split("/"))


def folder(dataset: Dataset, base: Path) -> Path:
    """The dataset's own folder, ``ROOT/NAME``."""
    return base / dataset.name


def partial(path: Path) -> Path:
    """The temporary file a download of ``path`` is written to (kept to resume)."""
    return path.with_name(f".{path.name}.part")


@dataclass(frozen=True)
class Extracted:
    """What a file extracted from an archive was when it was extracted."""

    sha256: str
    size: int
    archive: str
    archive_sha256: str | None = None


def read_record(folder: Path) -> dict[str, Extracted]:
    """The files extracted into ``folder``, by file name.

    Parameters
    ----------
    folder
        A dataset's folder in the cache.

    Returns
    -------
    dict[str, Extracted]
        Empty when there is no record; entries that are not well-formed are left out
        (their files are then extracted again).
    """
    try:
        data = json.loads((folder / EXTRACTED_RECORD).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    record: dict[str, Extracted] = {}
    for name, entry in data.items():
        if not isinstance(entry, dict):
            continue
        sha256, size, archive = entry.get("sha256"), entry.get("size"), entry.get("archive")
        archive_sha256 = entry.get("archive_sha256")
        if (
            isinstance(sha256, str)
            and isinstance(size, int)
            and isinstance(archive, str)
            and (archive_sha256 is None or isinstance(archive_sha256, str))
        ):
            record[name] = Extracted(sha256, size, archive, archive_sha256)
    return record


def write_record(folder: Path, record: Mapping[str, Extracted]) -> None:
    """Replace the extraction record of ``folder`` (atomically).

    Raises
    ------
    OSError
        The record cannot be written.
    """
    document = {name: asdict(entry) for name, entry in record.items()}
    with atomic_file(folder / EXTRACTED_RECORD) as fh:
        fh.write(json.dumps(document, indent=2, sort_keys=True).encode())


@dataclass(frozen=True)
class Stamp:
    """A file as it was when it was last hashed and found intact.

    ``against`` names what it was checked against (the published hashes, or the sha256
    recorded at extraction): a stamp checked against something else is not trusted.
    """

    size: int
    mtime_ns: int
    inode: int
    sha256: str
    against: str
    repacked: bool = False

    def matches(self, st: os.stat_result) -> bool:
        """True when ``st`` has this stamp's size, mtime_ns and inode."""
        return (st.st_size, st.st_mtime_ns, st.st_ino) == (self.size, self.mtime_ns, self.inode)


def read_stamps(folder: Path) -> dict[str, Stamp]:
    """The verification stamps of ``folder``, by file name.

    Parameters
    ----------
    folder
        A folder of the cache (a dataset's, or a family's archive folder).

    Returns
    -------
    dict[str, Stamp]
        Empty when there are none or the stamps file cannot be read or parsed; entries
        that are not well-formed are left out (those files are hashed again).
    """
    try:
        data = json.loads((folder / STAMPS).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    stamps: dict[str, Stamp] = {}
    for name, entry in data.items():
        if not isinstance(entry, dict):
            continue
        size, mtime_ns, inode = (entry.get(k) for k in ("size", "mtime_ns", "inode"))
        sha256, against, repacked = entry.get("sha256"), entry.get("against"), entry.get("repacked", False)
        if (
            isinstance(size, int)
            and isinstance(mtime_ns, int)
            and isinstance(inode, int)
            and not any(isinstance(v, bool) for v in (size, mtime_ns, inode))
            and isinstance(sha256, str)
            and isinstance(against, str)
            and isinstance(repacked, bool)
        ):
            stamps[name] = Stamp(size, mtime_ns, inode, sha256, against, repacked)
    return stamps


def stamped(path: Path, against: str) -> Stamp | None:
    """The stamp of ``path`` if it is still valid: same size, mtime_ns, inode and expectation.

    Parameters
    ----------
    path
        A file in the cache.
    against
        What the file must have been checked against (see :class:`Stamp`).

    Returns
    -------
    Stamp | None
        None when there is no stamp, it is unreadable, the file changed or is gone.
    """
    stamp = read_stamps(path.parent).get(path.name)
    if stamp is None or stamp.against != against:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return stamp if stamp.matches(st) else None


def write_stamp(
    path: Path, sha256: str, against: str, before: os.stat_result | None = None, *, repacked: bool = False
) -> bool:
    """Record that ``path`` was hashed (``sha256``) and found intact against ``against``.

    Parameters
    ----------
    path
        The file, in its cache folder.
    sha256
        Its sha256.
    against
        What it was checked against.
    before
        The file's status taken before it was hashed: no stamp is written when the file
        changed since (size, mtime_ns or inode), since the hash may not be of what is there.
    repacked
        It was accepted as a re-compressed copy.

    Returns
    -------
    bool
        True when the stamp was written; False when the file changed or the stamps file
        cannot be written (the file is then simply hashed again next time).
    """
    try:
        st = os.stat(path)
    except OSError:
        return False
    if before is not None and (before.st_size, before.st_mtime_ns, before.st_ino) != (
        st.st_size,
        st.st_mtime_ns,
        st.st_ino,
    ):
        return False
    with _STAMPS_LOCK:
        stamps = read_stamps(path.parent)
        stamps[path.name] = Stamp(st.st_size, st.st_mtime_ns, st.st_ino, sha256, against, repacked)
        return _write_stamps(path.parent, stamps)


def _write_stamps(folder: Path, stamps: Mapping[str, Stamp]) -> bool:
    try:
        with atomic_file(folder / STAMPS) as fh:
            fh.write(json.dumps({n: asdict(s) for n, s in sorted(stamps.items())}, indent=2).encode())
    except OSError:
        return False
    return True


def forget_stamp(path: Path) -> None:
    """Drop the stamp of ``path`` (after it failed a check); errors are ignored."""
    with _STAMPS_LOCK:
        stamps = read_stamps(path.parent)
        if stamps.pop(path.name, None) is not None:
            _write_stamps(path.parent, stamps)
