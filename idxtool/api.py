"""The keyword APIs of ``fetch`` and ``verify`` for library users: words in, reports out."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import UsageError
from .sources import DatasetRef, Remote, Stdin, resolve

if TYPE_CHECKING:
    from .fetching import FetchReport
    from .progress import ProgressFactory
    from .registry import Dataset
    from .selection import Selection
    from .verification import VerifyReport


def fetch(
    *names: str,
    dir: str | os.PathLike[str] | None = None,
    mirrors: Sequence[str] | None = None,
    force: bool = False,
    jobs: int = 4,
    progress: ProgressFactory | None = None,
) -> FetchReport:
    """Download registered datasets into the cache, verified; files already there are not fetched again.

    Parameters
    ----------
    *names
        Registered dataset names (``"mnist"``, ``"fashion-mnist"``, ...).
    dir
        Cache root (default: ``IDXTOOL_HOME``, else the user cache folder).
    mirrors
        Base URLs that replace the manifests' sources (default: ``IDXTOOL_MIRROR``).
    force
        Download again even when present and verified.
    jobs
        Files of a dataset downloaded in parallel.

    Returns
    -------
    FetchReport
        Every file with its status and local path.

    Raises
    ------
    UnknownDatasetError
        A name is not registered (nothing is downloaded then).
    DownloadError
        A file could not be obtained intact from any source (the others are kept).

    Examples
    --------
    >>> report = idxtool.fetch("mnist-sample", dir=tmp)
    >>> sorted(r.status for r in report.results)
    ['downloaded', 'downloaded']
    """
    from .fetching import fetch as fetch_datasets

    datasets = []
    for name in names:
        source = resolve(name)
        if not isinstance(source, DatasetRef):
            raise UsageError(f"{name}: fetch takes registered dataset names, not paths")
        datasets.append(source.dataset)
    report = fetch_datasets(datasets, dir, mirrors=mirrors, force=force, jobs=jobs, progress=progress)
    report.raise_for_failures()
    return report


def verify(
    *targets: str | os.PathLike[str],
    dir: str | os.PathLike[str] | None = None,
    strict: bool = False,
) -> VerifyReport:
    """Check datasets in the cache, or files: sizes, hashes, IDX structure, pairing, labels.

    Parameters
    ----------
    *targets
        Dataset names (``"mnist"``, ``"mnist:test"`` for one split) or paths of IDX files.
    dir
        Cache root for dataset names.
    strict
        A re-compressed copy (same payload, not the published file) fails too.

    Returns
    -------
    VerifyReport
        Every file with its status; ``raise_for_failures()`` raises ChecksumError for a hash
        or size mismatch, VerificationError for any other failure.

    Raises
    ------
    NoSuchInputError
        A target is neither a file nor a registered dataset.

    Examples
    --------
    >>> _ = idxtool.fetch("mnist-sample", dir=tmp)
    >>> report = idxtool.verify("mnist-sample", dir=tmp)
    >>> [(c.name, c.status) for c in report.checks]
    [('sample-images-idx3-ubyte.gz', 'ok'), ('sample-labels-idx1-ubyte.gz', 'ok')]
    """
    from .verification import verify as verify_targets

    plan: list[Path | tuple[Dataset, Selection | None]] = []
    for target in targets:
        source = resolve(target)
        if isinstance(source, (Stdin, Remote)):
            raise UsageError(f"{source}: verify reads files and datasets, not standard input or object stores")
        plan.append((source.dataset, source.selection) if isinstance(source, DatasetRef) else source)
    return verify_targets(plan, dir, strict=strict)
