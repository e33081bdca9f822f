"""Fetch registered datasets into the cache, verified, and hand out their local files.

One inter-process lock per dataset folder (and one per shared archive) makes concurrent
fetches of the same dataset (the PyTorch DDP race) end with one verified copy: the first
process downloads, the others wait and then find the files present. Files already present
and verified cost no network request. The files of a dataset download in parallel.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import cache, registry
from .atomic import atomic_file
from .checksum import Digest, Expected, Verdict, file_digest, judge
from .download import Log, Policy, download
from .errors import DownloadError
from .registry import Dataset, Resource

#: progress(key, bytes_done, bytes_total_or_None); key is "DATASET/FILE".
FetchProgress = Callable[[str, int, "int | None"], None]

STATUSES = ("cached", "downloaded", "extracted", "skipped", "failed")


@dataclass
class FileResult:
    """What happened to one file of a fetch."""

    dataset: str
    name: str
    kind: str
    split: str | None
    path: Path
    status: str
    size: int | None = None
    sha256: str | None = None
    source: str | None = None
    repacked: bool = False
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
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
        return [r for r in self.results if r.status == "failed"]

    @property
    def errors(self) -> list[str]:
        """One message per failure (files sharing a cause once), each naming its file."""
        return list(dict.fromkeys(r.error or f"{r.dataset}/{r.name}: failed" for r in self.failed))

    def raise_for_failures(self) -> None:
        """DownloadError naming every file that could not be obtained (the others are kept)."""
        if self.errors:
            raise DownloadError("; ".join(self.errors))


def mirrors_from_env() -> list[str]:
    """IDXTOOL_MIRROR: space-separated base URLs that replace the manifests' own."""
    return os.environ.get("IDXTOOL_MIRROR", "").split()


def sources(dataset: Dataset, resource: Resource, mirrors: Sequence[str] = ()) -> list[str]:
    """The URLs to try for ``resource``, in order.

    Without mirrors: each manifest base URL + file name. A mirror replaces them (pip's
    ``--index-url``); on a mirror the file is looked for where the cache keeps it
    (``MIRROR/NAME/FILE``, so a copy of a cache root serves every dataset), then directly
    under it (``MIRROR/FILE``). Embedded datasets (``package:`` URLs) ignore mirrors.
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
def _locked(folder: Path, what: str, log: Log) -> Iterator[None]:
    """Hold the inter-process lock of ``folder`` (waiting, and saying so, if another has it)."""
    from filelock import FileLock, Timeout

    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder / cache.LOCK_NAME))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log(f"{what}: another process is fetching it; waiting for {folder / cache.LOCK_NAME}", 0)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _present(path: Path, expected: Expected) -> tuple[Verdict, Digest]:
    """How a file already on disk compares with what it must be."""
    digest = file_digest(path)
    return judge(path, digest, expected), digest


class _Fetcher:
    """One fetch run: where to, from where, and how to report."""

    def __init__(
        self,
        base: Path,
        mirrors: Sequence[str],
        force: bool,
        jobs: int,
        policy: Policy,
        progress: FetchProgress | None,
        log: Log,
    ) -> None:
        self.base, self.mirrors, self.force, self.jobs = base, list(mirrors), force, max(1, jobs)
        self.policy, self.progress, self.log = policy, progress, log

    def dataset(self, ds: Dataset) -> list[FileResult]:
        with _locked(cache.folder(ds, self.base), ds.name, self.log):
            direct = [r for r in ds.files if r.kind != "archive" and not r.extracted]
            with ThreadPoolExecutor(self.jobs, thread_name_prefix="idxtool-fetch") as pool:
                results = list(pool.map(lambda r: self.direct(ds, r), direct))
            results += self.extracted(ds)
        order = {r.name: i for i, r in enumerate(ds.files)}
        return sorted(results, key=lambda r: order[r.name])

    def _result(self, ds: Dataset, r: Resource, status: str, **kw: Any) -> FileResult:
        return FileResult(ds.name, r.name, r.kind, r.split, cache.path_of(ds, r, self.base), status, **kw)

    def direct(self, ds: Dataset, r: Resource) -> FileResult:
        """A file fetched straight from its sources (or found present and intact)."""
        path = cache.path_of(ds, r, self.base)
        key = cache.relative(ds, r)  # names the file in messages: mnist/train-images-idx3-ubyte.gz
        expected = replace(Expected.of(r), name=key)
        if path.exists() and not self.force:
            verdict, digest = _present(path, expected)
            if verdict.ok:
                return self._result(ds, r, "cached", size=digest.size, sha256=digest.sha256, repacked=verdict.repacked)
            self.log(f"{key}: present but {verdict.problem}; downloading it again", 0)
        report = None if self.progress is None else (lambda done, total: self.progress(key, done, total))  # type: ignore[misc]
        try:
            got = download(sources(ds, r, self.mirrors), path, expected, policy=self.policy, progress=report, log=self.log)
        except DownloadError as exc:
            return self._result(ds, r, "failed", error=str(exc))
        if got.repacked:
            self.log(
                f"{key}: {got.source} is a re-compressed copy (its sha256 differs from the published "
                "file, but the decompressed IDX payload matches idx_sha256); kept",
                0,
            )
        return self._result(ds, r, "downloaded", size=got.digest.size, sha256=got.digest.sha256, source=got.source, repacked=got.repacked)

    def extracted(self, ds: Dataset) -> list[FileResult]:
        """Files that come out of an archive: extracted when missing or damaged."""
        members = [r for r in ds.files if r.extracted]
        if not members:
            return []
        folder = cache.folder(ds, self.base)
        record = read_record(folder)
        results: list[FileResult] = []
        todo: list[Resource] = []
        for r in members:
            path = folder / r.name
            if path.exists() and not self.force and member_intact(path, r, record):
                results.append(self._result(ds, r, "cached", size=path.stat().st_size, sha256=record.get(r.name, {}).get("sha256") or file_digest(path).sha256))
            else:
                todo.append(r)
        for archive in ds.archives:
            wanted = [r for r in todo if r.archive == archive.name]
            if not wanted:
                path = cache.path_of(ds, archive, self.base)
                results.append(self._result(ds, archive, "skipped" if not path.exists() else "cached"))
                continue
            results += self._extract(ds, archive, wanted, record)
        return results

    def _extract(self, ds: Dataset, archive: Resource, wanted: list[Resource], record: dict[str, Any]) -> list[FileResult]:
        from .archive import extract

        with _locked(self.base / cache.ARCHIVES / ds.family, archive.name, self.log):
            got = self.direct(ds, archive)
        if got.status == "failed":
            error = f"{', '.join(cache.relative(ds, r) for r in wanted)}: not extracted, because {got.error}"
            return [got, *(self._result(ds, r, "failed", error=error) for r in wanted)]
        self.log(f"{ds.name}: extracting {len(wanted)} files from {archive.name}", 1)
        folder = cache.folder(ds, self.base)
        digests = extract(got.path, folder, {r.member or r.name: r.name for r in wanted})
        results = [got]
        for r in wanted:
            d = digests[r.name]
            if r.sha256 and d.sha256 != r.sha256:
                (folder / r.name).unlink(missing_ok=True)
                problem = f"sha256 mismatch after extraction from {archive.name}: expected {r.sha256}, got {d.sha256}"
                results.append(self._result(ds, r, "failed", error=f"{cache.relative(ds, r)}: {problem}"))
                continue
            record[r.name] = {"sha256": d.sha256, "size": d.size, "archive": archive.name, "archive_sha256": got.sha256}
            results.append(self._result(ds, r, "extracted", size=d.size, sha256=d.sha256, source=archive.name))
        write_record(folder, record)
        return results


def read_record(folder: Path) -> dict[str, Any]:
    """The sha256 and size of each file extracted into ``folder`` (empty when none)."""
    try:
        data = json.loads((folder / cache.EXTRACTED_RECORD).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_record(folder: Path, record: dict[str, Any]) -> None:
    with atomic_file(folder / cache.EXTRACTED_RECORD) as fh:
        fh.write(json.dumps(record, indent=2, sort_keys=True).encode())


def member_intact(path: Path, resource: Resource, record: dict[str, Any]) -> bool:
    """An extracted file matches its manifest hash, else the one recorded when it was extracted."""
    if resource.sha256:
        return _present(path, Expected.of(resource))[0].ok
    entry = record.get(resource.name)
    if not isinstance(entry, dict):
        return False
    digest = file_digest(path)
    return digest.sha256 == entry.get("sha256") and digest.size == entry.get("size")


def fetch(
    datasets: Sequence[str | Dataset],
    dir: str | os.PathLike[str] | None = None,
    *,
    mirrors: Sequence[str] | None = None,
    force: bool = False,
    jobs: int = 4,
    policy: Policy | None = None,
    progress: FetchProgress | None = None,
    log: Log | None = None,
) -> FetchReport:
    """Fetch each dataset into the cache; per-file failures are reported, not raised.

    ``mirrors`` None reads IDXTOOL_MIRROR. Call :meth:`FetchReport.raise_for_failures`
    to turn failures into a DownloadError.
    """
    resolved = [registry.get(d) if isinstance(d, str) else d for d in datasets]
    base = cache.root(dir)
    fetcher = _Fetcher(
        base,
        mirrors_from_env() if mirrors is None else mirrors,
        force,
        jobs,
        policy or Policy.from_env(),
        progress,
        log or (lambda message, level: None),
    )
    results: list[FileResult] = []
    seen: set[str] = set()
    for ds in resolved:
        if ds.name not in seen:
            seen.add(ds.name)
            results += fetcher.dataset(ds)
    return FetchReport(base, results)


def local_splits(name: str, dir: str | os.PathLike[str] | None = None) -> dict[str, tuple[Path, Path | None]]:
    """split -> (images path, labels path or None), fetched and verified first if needed."""
    ds = registry.get(name)
    fetch([ds], dir).raise_for_failures()
    base = cache.root(dir)
    return {
        split: (cache.path_of(ds, images, base), None if labels is None else cache.path_of(ds, labels, base))
        for split, (images, labels) in ds.pairs().items()
    }


class Loaded(tuple):  # type: ignore[type-arg]
    """``((x_train, y_train), (x_test, y_test))`` in manifest order; also ``loaded["test"]``."""

    splits: tuple[str, ...]

    def __new__(cls, pairs: dict[str, tuple[np.ndarray, np.ndarray | None]]) -> Loaded:
        obj = super().__new__(cls, tuple(pairs.values()))
        obj.splits = tuple(pairs)
        return obj

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            try:
                return super().__getitem__(self.splits.index(key))
            except ValueError:
                raise KeyError(f"no split {key!r} (splits: {', '.join(self.splits)})") from None
        return super().__getitem__(key)


def load(name: str, dir: str | os.PathLike[str] | None = None) -> Loaded:
    """The arrays of a registered dataset, split by split, fetched first if needed.

    Returns ``((x_train, y_train), (x_test, y_test))`` for a dataset with those splits (in
    manifest order; index by split name too). Images come upright: EMNIST's transposed
    storage is undone. For extended label tables (QMNIST), ``y`` is the class column.
    """
    from .idx import read

    ds = registry.get(name)
    pairs: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    for split, (images, labels) in local_splits(name, dir).items():
        x = read(images)
        if ds.transpose and x.ndim >= 3:
            x = np.ascontiguousarray(np.swapaxes(x, -1, -2))
        y = None if labels is None else read(labels)
        if y is not None and ds.label_column is not None and y.ndim == 2:
            y = np.ascontiguousarray(y[:, ds.label_column])
        pairs[split] = (x, y)
    return Loaded(pairs)
