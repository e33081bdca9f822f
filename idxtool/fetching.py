"""Fetch registered datasets into the cache, verified, and hand out their local files.

Orchestration only: :mod:`~idxtool.download` gets one file intact, :mod:`~idxtool.archive`
extracts members, :mod:`~idxtool.cache` says where everything lives.

One inter-process lock per dataset folder (and one per shared archive) makes concurrent
fetches of the same dataset (the PyTorch DDP race) end with one verified copy: the first
process downloads, the others wait and then find the files present. Files already present
and verified cost no network request. The files of a dataset download in parallel.

Every file found intact (hashed, or downloaded and hashed as it arrived) gets a verification
stamp in the cache (:func:`idxtool.cache.write_stamp`). ``fetch(..., rehash=False)`` (what
``load`` and the commands given a dataset name use) trusts a valid stamp instead of hashing
a file again; the default, and ``idxtool fetch``, always hash.

Messages go to the ``idxtool.fetching`` logger: a warning when a present file is damaged and
downloaded again, when another process holds the lock, and when a re-compressed copy is
kept; INFO for the rest.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from . import cache, registry
from . import progress as progress_
from .cache import Extracted
from .checksum import Digest, Expected, Verdict, check_file, file_digest, judge, needs_md5
from .errors import ChecksumError, DownloadError, ParameterError, UsageError
from .policy import Policy
from .progress import Progress, ProgressFactory
from .registry import Dataset, Kind, Resource

logger = logging.getLogger(__name__)

#: What happened to a file: found intact, downloaded, extracted from an archive, not
#: needed (an archive whose members are all present), or could not be had.
Status = Literal["cached", "downloaded", "extracted", "skipped", "failed"]


@dataclass
class FileResult:
    """What happened to one file of a fetch."""

    dataset: str
    name: str
    kind: Kind
    split: str | None
    path: Path
    status: Status
    size: int | None = None
    sha256: str | None = None
    source: str | None = None
    repacked: bool = False
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``fetch --json`` entry of this file."""
        return {
            "dataset": self.dataset,
            "name": self.name,
            "kind": self.kind,
            "split": self.split,
            "path": str(self.path),
            "status": self.status,
            "size": self.size,
            "sha256": self.sha256,
            "source": self.source,
            "repacked": self.repacked,
            "error": self.error,
        }


@dataclass
class FetchReport:
    """The results of a fetch, file by file, in manifest order."""

    root: Path
    results: list[FileResult]

    @property
    def failed(self) -> list[FileResult]:
        """The files that could not be obtained."""
        return [r for r in self.results if r.status == "failed"]

    @property
    def errors(self) -> list[str]:
        """One message per failure (files sharing a cause once), each naming its file."""
        return list(dict.fromkeys(r.error or f"{r.dataset}/{r.name}: failed" for r in self.failed))

    def raise_for_failures(self) -> None:
        """Raise if any file could not be obtained (the files that did arrive are kept).

        Raises
        ------
        DownloadError
            Naming every file that failed, and why (exit code 3).
        """
        if self.errors:
            raise DownloadError("; ".join(self.errors))


def mirrors_from_env() -> list[str]:
    """``IDXTOOL_MIRROR``: space-separated base URLs that replace the manifests' own, checked.

    Raises
    ------
    UsageError
        A word is neither an http(s)/file/s3 URL nor an existing folder (exit code 2).
    """
    from .policy import check_mirror

    bases = []
    for word in os.environ.get("IDXTOOL_MIRROR", "").split():
        try:
            bases.append(check_mirror(word))
        except ParameterError as exc:
            raise UsageError(f"IDXTOOL_MIRROR: {word!r} {exc.problem}") from None
    return bases


def sources(dataset: Dataset, resource: Resource, mirrors: Sequence[str] = ()) -> list[str]:
    """The URLs to try for ``resource``, in order.

    Without mirrors: each manifest base URL + file name. A mirror replaces them (pip's
    ``--index-url``); on a mirror the file is looked for where the cache keeps it
    (``MIRROR/NAME/FILE``, so a copy of a cache root serves every dataset), then directly
    under it (``MIRROR/FILE``). Embedded datasets (``package:`` URLs) ignore mirrors.

    Parameters
    ----------
    dataset, resource
        The file and the dataset it belongs to.
    mirrors
        Base URLs that replace the manifest's, tried in order.

    Returns
    -------
    list[str]
        Each URL once.
    """
    if dataset.embedded or not mirrors:
        return [base + resource.name for base in dataset.urls]
    out: list[str] = []
    for mirror in mirrors:
        base = mirror if mirror.endswith("/") else mirror + "/"
        for candidate in (base + cache.relative(dataset, resource), base + resource.name):
            if candidate not in out:
                out.append(candidate)
    return out


@contextlib.contextmanager
def _locked(folder: Path, what: str) -> Iterator[None]:
    """Hold the inter-process lock of ``folder`` (waiting, and saying so, if another has it)."""
    from filelock import FileLock, Timeout

    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder / cache.LOCK_NAME))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        logger.warning("%s: another process is fetching it; waiting for %s", what, folder / cache.LOCK_NAME)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _present(path: Path, expected: Expected) -> tuple[Verdict, Digest]:
    """How a file already on disk compares with what it must be (stamped when intact)."""
    before = os.stat(path)
    digest = file_digest(path, md5=needs_md5(expected))
    verdict = judge(path, digest, expected)
    if verdict.ok:
        cache.write_stamp(path, digest.sha256, expected.key(), before, repacked=verdict.repacked)
    return verdict, digest


def _from_stamp(path: Path, against: str) -> tuple[Verdict, Digest] | None:
    """The verdict a valid stamp of ``path`` vouches for, or None."""
    stamp = cache.stamped(path, against)
    if stamp is None:
        return None
    return Verdict(ok=True, repacked=stamp.repacked), Digest(stamp.size, stamp.sha256)


def _member_against(resource: Resource, record: dict[str, Extracted]) -> str | None:
    """What an extracted file is checked against: its published hashes, else its extraction record."""
    if resource.sha256 or resource.md5:
        return Expected.of(resource).key()
    entry = record.get(resource.name)
    return None if entry is None else f"extracted:{entry.sha256},{entry.size}"


def _intact_member(path: Path, resource: Resource, record: dict[str, Extracted], *, rehash: bool) -> Digest | None:
    """The digest of an extracted file that is intact, or None.

    Intact: it matches its published size and hashes, else (EMNIST's members have none
    of their own) the ones recorded when it was extracted.
    """
    against = _member_against(resource, record)
    if against is None:
        return None
    if not rehash and (known := _from_stamp(path, against)) is not None:
        return known[1]
    before = os.stat(path)
    if resource.sha256 or resource.md5:
        expected = Expected.of(resource)
        digest = file_digest(path, md5=needs_md5(expected))
        ok = judge(path, digest, expected).ok
    else:
        entry = record[resource.name]
        digest = file_digest(path, md5=False)
        ok = (digest.sha256, digest.size) == (entry.sha256, entry.size)
    if not ok:
        return None
    cache.write_stamp(path, digest.sha256, against, before)
    return digest


class _Fetcher:
    """One fetch run: where to, from where, and how to report progress."""

    def __init__(
        self,
        base: Path,
        mirrors: Sequence[str],
        *,
        force: bool,
        jobs: int,
        policy: Policy,
        progress: ProgressFactory | None,
        rehash: bool = True,
    ) -> None:
        self.base, self.mirrors, self.force, self.jobs = base, list(mirrors), force, jobs
        self.policy, self.progress, self.rehash = policy, progress, rehash
        #: Set on Ctrl-C (or any error escaping the pool): every running download stops at once.
        self.cancel = threading.Event()

    def dataset(self, ds: Dataset) -> list[FileResult]:
        with _locked(cache.folder(ds, self.base), ds.name):
            direct = [r for r in ds.files if r.kind != "archive" and not r.extracted]
            with ThreadPoolExecutor(self.jobs, thread_name_prefix="idxtool-fetch") as pool:
                try:
                    results = list(pool.map(lambda r: self.direct(ds, r), direct))
                except BaseException:  # KeyboardInterrupt: stop the workers' transfers before waiting
                    self.cancel.set()
                    raise
            results += self.extracted(ds)
        order = {r.name: i for i, r in enumerate(ds.files)}
        return sorted(results, key=lambda r: order[r.name])

    def _result(
        self,
        ds: Dataset,
        r: Resource,
        status: Status,
        digest: Digest | None = None,
        *,
        source: str | None = None,
        repacked: bool = False,
        error: str | None = None,
    ) -> FileResult:
        return FileResult(
            ds.name,
            r.name,
            r.kind,
            r.split,
            cache.path_of(ds, r, self.base),
            status,
            size=None if digest is None else digest.size,
            sha256=None if digest is None else digest.sha256,
            source=source,
            repacked=repacked,
            error=error,
        )

    def direct(self, ds: Dataset, r: Resource) -> FileResult:
        """A file fetched straight from its sources (or found present and intact)."""
        path = cache.path_of(ds, r, self.base)
        key = cache.relative(ds, r)  # names the file in messages: mnist/train-images-idx3-ubyte.gz
        expected = replace(Expected.of(r), name=key)
        if path.exists() and not self.force:
            known = None if self.rehash else _from_stamp(path, expected.key())
            verdict, digest = known if known is not None else _present(path, expected)
            if verdict.ok:
                return self._result(ds, r, "cached", digest, repacked=verdict.repacked)
            logger.warning("%s: present but %s; downloading it again", key, verdict.problem)
        from .download import download  # the HTTP machinery only when something must come

        try:
            got = download(
                sources(ds, r, self.mirrors),
                path,
                expected,
                policy=self.policy,
                progress=self.progress,
                cancel=self.cancel,
            )
        except DownloadError as exc:
            return self._result(ds, r, "failed", error=str(exc))
        if got.repacked:
            logger.warning(
                "%s: %s is a re-compressed copy (its sha256 differs from the published file, "
                "but the decompressed IDX payload matches idx_sha256); kept",
                key,
                got.source,
            )
        cache.write_stamp(path, got.digest.sha256, expected.key(), repacked=got.repacked)
        return self._result(ds, r, "downloaded", got.digest, source=got.source, repacked=got.repacked)

    def extracted(self, ds: Dataset) -> list[FileResult]:
        """Files that come out of an archive: extracted when missing or damaged."""
        members = [r for r in ds.files if r.extracted]
        if not members:
            return []
        folder = cache.folder(ds, self.base)
        record = cache.read_record(folder)
        results: list[FileResult] = []
        todo: list[Resource] = []
        for r in members:
            path = folder / r.name
            intact = path.exists() and not self.force
            digest = _intact_member(path, r, record, rehash=self.rehash) if intact else None
            if digest is not None:
                results.append(self._result(ds, r, "cached", digest))
            else:
                todo.append(r)
        for archive in ds.archives:
            wanted = [r for r in todo if r.archive == archive.name]
            if not wanted:
                path = cache.path_of(ds, archive, self.base)
                results.append(self._result(ds, archive, "cached" if path.exists() else "skipped"))
                continue
            results += self._extract(ds, archive, wanted, record)
        return results

    def _extract(
        self, ds: Dataset, archive: Resource, wanted: list[Resource], record: dict[str, Extracted]
    ) -> list[FileResult]:
        from .archive import extract

        with _locked(self.base / cache.ARCHIVES / ds.family, archive.name):
            got = self.direct(ds, archive)
        if got.status == "failed":
            error = f"{', '.join(cache.relative(ds, r) for r in wanted)}: not extracted, because {got.error}"
            return [got, *(self._result(ds, r, "failed", error=error) for r in wanted)]
        logger.info("%s: extracting %d files from %s", ds.name, len(wanted), archive.name)
        folder = cache.folder(ds, self.base)

        def extracting(description: str, total: int | None, unit: str) -> Progress:
            return progress_.start(self.progress, f"{ds.name}: extracting {description}", total, unit)

        members = {r.member or r.name: r.name for r in wanted}
        digests = extract(got.path, folder, members, progress=None if self.progress is None else extracting)
        results = [got]
        for r in wanted:
            expected = replace(Expected.of(r), name=f"{cache.relative(ds, r)} (extracted from {archive.name})")
            try:
                digest = check_file(folder / r.name, expected, digest=digests[r.name])
            except ChecksumError as exc:
                (folder / r.name).unlink(missing_ok=True)
                results.append(self._result(ds, r, "failed", error=str(exc)))
                continue
            record[r.name] = Extracted(digest.sha256, digest.size, archive.name, got.sha256)
            cache.write_stamp(folder / r.name, digest.sha256, _member_against(r, record) or "")
            results.append(self._result(ds, r, "extracted", digest, source=archive.name))
        cache.write_record(folder, record)
        return results


def fetch(
    datasets: Sequence[str | Dataset],
    dir: str | os.PathLike[str] | None = None,
    *,
    mirrors: Sequence[str] | None = None,
    force: bool = False,
    jobs: int = 4,
    policy: Policy | None = None,
    progress: ProgressFactory | None = None,
    rehash: bool = True,
) -> FetchReport:
    """Fetch each dataset into the cache, verified; per-file failures are reported, not raised.

    Parameters
    ----------
    datasets
        Registered names or :class:`Dataset` objects; each is fetched once, whole
        (a split that has labels but no images fetches its labels).
    dir
        The cache root; None reads ``IDXTOOL_HOME``, else the user cache folder.
    mirrors
        Base URLs that replace the manifests' own, tried in order; None reads
        ``IDXTOOL_MIRROR``.
    force
        Download again even when a file is present and verified.
    jobs
        Files of a dataset downloaded in parallel (at least 1).
    policy
        Timeouts and retries; None reads ``IDXTOOL_TIMEOUT``, ``IDXTOOL_RETRIES`` and
        ``IDXTOOL_BACKOFF``.
    progress
        One task per file, described ``DATASET/FILE`` in bytes, from worker threads.
    rehash
        Hash every file already present (the default). False trusts a file's
        verification stamp when its size, mtime_ns and inode are unchanged since it was
        last found intact (files without a valid stamp are hashed, then stamped).

    Returns
    -------
    FetchReport
        Every file with its status; :meth:`FetchReport.raise_for_failures` turns failures
        into a DownloadError.

    Raises
    ------
    UnknownDatasetError
        A name is not registered (before anything is downloaded).
    ParameterError
        ``jobs`` is less than 1.
    UsageError
        An ``IDXTOOL_*`` variable has a garbage value.
    VerificationError
        A verified archive cannot be extracted safely (an unsafe or missing member).
    """
    if jobs < 1:
        raise ParameterError("jobs", jobs, "must be at least 1")
    resolved = [registry.get(d) if isinstance(d, str) else d for d in datasets]
    base = cache.root(dir)
    fetcher = _Fetcher(
        base,
        mirrors_from_env() if mirrors is None else mirrors,
        force=force,
        jobs=jobs,
        policy=policy or Policy.from_env(),
        progress=progress,
        rehash=rehash,
    )
    results: list[FileResult] = []
    seen: set[str] = set()
    for ds in resolved:
        if ds.name not in seen:
            seen.add(ds.name)
            results += fetcher.dataset(ds)
    return FetchReport(base, results)


def local_files(
    dataset: Dataset,
    dir: str | os.PathLike[str] | None = None,
    *,
    progress: ProgressFactory | None = None,
    rehash: bool = False,
) -> dict[str, tuple[Path | None, Path | None]]:
    """split -> (images path, labels path) of a dataset in the cache, fetched first if needed.

    Files whose verification stamp is still valid are not hashed again unless ``rehash``.
    Either path is None where the split has no such file (a labels table published alone).

    Raises
    ------
    DownloadError
        A missing file could not be obtained intact.
    """
    fetch([dataset], dir, progress=progress, rehash=rehash).raise_for_failures()
    base = cache.root(dir)
    return {
        split: (
            None if images is None else cache.path_of(dataset, images, base),
            None if labels is None else cache.path_of(dataset, labels, base),
        )
        for split, (images, labels) in dataset.pairs().items()
    }
