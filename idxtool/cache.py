"""Where datasets live on disk: the cache root, each file's place in it, extraction records.

Root: ``dir``, else ``IDXTOOL_HOME``, else the platform's user cache folder
(platformdirs). A dataset lives in ``ROOT/NAME/`` under its files' published names; an
archive shared by a family (EMNIST's ``gzip.zip``) in ``ROOT/_archives/FAMILY/``. Names
cannot start with ``_``, so the two never collide, and file names cannot start with ``.``,
so they never collide with the lock, the partial downloads or the extraction record.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from .atomic import atomic_file
from .manifest import Dataset, Resource

ARCHIVES = "_archives"
#: Per-dataset record of the files extracted from an archive (their sha256 and size).
EXTRACTED_RECORD = ".extracted.json"
LOCK_NAME = ".lock"


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
