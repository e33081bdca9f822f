"""idxtool fetch NAME...: download datasets into the cache, verified."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import click

from ..errors import DownloadError
from .complete import dataset_names
from .render import emit_json, progress, settings

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from ..fetching import FetchReport, FileResult


class _Task:
    """One file's bar: a rich task updated from whichever thread downloads the file."""

    def __init__(self, bars: _Bars, task_id: TaskID) -> None:
        self.bars, self.task_id = bars, task_id

    def update(self, done: int, total: int | None = None) -> None:
        with self.bars.lock:
            if total is None:
                self.bars.bar.update(self.task_id, completed=done)
            else:
                self.bars.bar.update(self.task_id, completed=done, total=total)

    def close(self) -> None:
        with self.bars.lock:
            self.bars.bar.stop_task(self.task_id)


class _Bars:
    """A ProgressFactory on rich bars: one bar per file, safe from worker threads."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.lock = threading.Lock()

    def __call__(self, description: str, total: int | None, unit: str) -> _Task:
        with self.lock:
            return _Task(self, self.bar.add_task(description, total=total))


@click.command("fetch")
@click.argument("names", nargs=-1, required=True, metavar="NAME...", shell_complete=dataset_names)
@click.option(
    "--dir",
    "dir_",
    type=click.Path(file_okay=False),
    help="Cache root (default: IDXTOOL_HOME, else the user cache folder). Files go to DIR/NAME/.",
)
@click.option(
    "--mirror",
    "mirrors",
    multiple=True,
    metavar="URL",
    help="Base URL (http, https, file or s3) or folder that replaces the manifests' sources; repeat to try "
    "several in order. Default: IDXTOOL_MIRROR (space-separated).",
)
@click.option("--force", is_flag=True, help="Download again even when the files are present and verified.")
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 32),
    default=4,
    show_default=True,
    help="Files of a dataset downloaded in parallel.",
)
@click.option(
    "--connections",
    type=click.IntRange(1, 16),
    default=None,
    metavar="N",
    help="Parallel HTTP range connections for one file of 32 MB or more, when the server allows it "
    "(default: IDXTOOL_CONNECTIONS, else 4).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object naming every file with its status.")
def fetch_cmd(
    *,
    names: tuple[str, ...],
    dir_: str | None,
    mirrors: tuple[str, ...],
    force: bool,
    jobs: int,
    connections: int | None,
    as_json: bool,
) -> None:
    """Download datasets into the cache, verified by size and hash.

    Files already present and verified are not downloaded again (no network request).
    Sources are tried in order; retries use backoff and resume interrupted downloads.
    Exit code 3 names each file that no source could deliver intact (one Error line
    each); the files that did arrive are kept. IDXTOOL_TIMEOUT, IDXTOOL_RETRIES, IDXTOOL_BACKOFF,
    IDXTOOL_DEADLINE (seconds one file may take, default 7200), IDXTOOL_MAX_BYTES (most bytes of a
    file with no fixed size, default 4G) and IDXTOOL_CONNECTIONS tune the network behaviour.
    Ctrl-C stops at once (exit 130); interrupted downloads resume on the next run.
    """
    import dataclasses

    from .. import registry
    from ..fetching import fetch, mirrors_from_env
    from ..policy import Policy, check_mirror

    datasets = [registry.get(name) for name in names]  # unknown names fail before any download
    policy = Policy.from_env()  # garbage in IDXTOOL_* fails before any download too
    if connections is not None:
        policy = dataclasses.replace(policy, connections=connections)
    bases = [check_mirror(m, param="mirror") for m in mirrors] if mirrors else mirrors_from_env()
    with progress(unit="bytes", transient=True) as bar:
        report = fetch(
            datasets,
            dir_,
            mirrors=bases,
            force=force,
            jobs=jobs,
            policy=policy,
            progress=_Bars(bar) if bar is not None else None,
        )
    if as_json:
        emit_json({"root": str(report.root), "files": [r.to_json() for r in report.results]})
    elif not settings().quiet:
        _summary(report)
    errors = report.errors
    if errors:
        for message in errors[:-1]:
            click.echo(f"Error: {message}", err=True)
        raise DownloadError(errors[-1])


def _summary(report: FetchReport) -> None:
    verbose = settings().verbose
    by_dataset: dict[str, list[FileResult]] = {}
    for r in report.results:
        by_dataset.setdefault(r.dataset, []).append(r)
    for name, results in by_dataset.items():
        counts: dict[str, int] = {}
        for r in results:
            if r.status != "skipped":
                counts[r.status] = counts.get(r.status, 0) + 1
        folder = report.root / name
        detail = ", ".join(f"{n} {status}" for status, n in counts.items())
        click.echo(f"{name}: {folder} ({detail})")
        for r in results:
            if verbose and r.status != "failed":
                source = f" from {r.source}" if r.source else ""
                note = " (re-compressed copy, same IDX payload)" if r.repacked else ""
                click.echo(f"  {r.name}: {r.status}{source}{note}")
