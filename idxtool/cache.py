"""Where datasets live on disk: the cache root and each file's place in it.

Root: ``--dir``, else ``IDXTOOL_HOME``, else the platform's user cache folder
(platformdirs). A dataset lives in ``ROOT/NAME/`` under its files' published names; an
archive shared by a family (EMNIST's ``gzip.zip``) in ``ROOT/_archives/FAMILY/``. Names
cannot start with ``_``, so the two never collide.
"""

from __future__ import annotations

import os
from pathlib import Path

from .registry import Dataset, Resource

ARCHIVES = "_archives"
#: Per-dataset record of the files extracted from an archive (their sha256 and size).
EXTRACTED_RECORD = ".extracted.json"
LOCK_NAME = ".lock"


def root(dir: str | os.PathLike[str] | None = None) -> Path:
    """The cache root: ``dir``, else IDXTOOL_HOME, else the user cache folder."""
    if dir is not None:
        return Path(dir).expanduser().absolute()
    home = os.environ.get("IDXTOOL_HOME")
    if home:
        return Path(home).expanduser().absolute()
    import platformdirs

    return Path(platformdirs.user_cache_dir("idxtool"))


def relative(dataset: Dataset, resource: Resource) -> str:
    """A file's path under the root, '/'-separated (also its path on a mirror laid out like a cache)."""
    if resource.kind == "archive":
        return f"{ARCHIVES}/{dataset.family}/{resource.name}"
    return f"{dataset.name}/{resource.name}"


def path_of(dataset: Dataset, resource: Resource, base: Path) -> Path:
    """Where ``resource`` of ``dataset`` lives under the root ``base``."""
    return base.joinpath(*relative(dataset, resource).split("/"))


def folder(dataset: Dataset, base: Path) -> Path:
    """The dataset's own folder, ``ROOT/NAME``."""
    return base / dataset.name


def partial(path: Path) -> Path:
    """The temporary file a download of ``path`` is written to (kept to resume)."""
    return path.with_name(f".{path.name}.part")
