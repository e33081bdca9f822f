"""idxtool verify (NAME|PATH)...: check datasets in the cache, or files."""

from __future__ import annotations

from typing import Any

import click

from ..sources import DatasetRef, Remote, Source, Stdin
from .options import DATA
from .render import emit_json, settings, stdout_console


@click.command("verify")
@click.argument("targets", nargs=-1, required=True, metavar="NAME|PATH...", type=DATA)
@click.option(
    "--dir",
    "dir_",
    type=click.Path(file_okay=False),
    help="Cache root holding the datasets (default: IDXTOOL_HOME, else the user cache folder).",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Fail on a re-compressed copy too (same IDX payload, but not the published file), "
    "and on a file that only shares a published file's name.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object naming every file with its status.")
def verify_cmd(*, targets: tuple[Source, ...], dir_: str | None, strict: bool, as_json: bool) -> None:
    """Check datasets or files: size, hash, IDX structure, pairing and labels.

    A dataset NAME checks every file in the cache against its manifest, that paired
    images and labels have the same record count, and that labels lie within the class
    list. A PATH gets the IDX structure check, and is compared with the manifest entries
    of the same file name when there are any: a valid IDX file that only shares a
    published file's name is reported as not a published file (a failure only with
    --strict). Exit code 1 names each failing file.
    """
    from ..verification import verify

    plan: list[Any] = []
    for target in targets:
        if isinstance(target, (Stdin, Remote)):
            raise click.BadParameter(
                f"{target}: verify reads files and datasets, not standard input or object stores",
                param_hint="NAME|PATH",
            )
        plan.append((target.dataset, target.selection) if isinstance(target, DatasetRef) else target)
    report = verify(plan, dir_, strict=strict)
    if as_json:
        emit_json(report.to_json())
    elif not settings().quiet:
        _table(report.checks)
    if report.failed:
        from ..errors import ChecksumError, VerificationError
        from .options import remedy

        errors = [(ChecksumError if c.mismatch else VerificationError)(_message(c)) for c in report.failed]
        for error in errors[:-1]:
            click.echo(f"Error: {remedy(error)}", err=True)
        raise errors[-1]


def _message(check: Any) -> str:
    """The error line of a failing check, with what to run when a dataset's file is missing."""
    if check.missing_from_cache:
        return f"{check.message()} (run: idxtool fetch {check.dataset})"
    return str(check.message())


def _table(checks: list[Any]) -> None:
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    table.add_column("File", overflow="fold")
    table.add_column("Status", no_wrap=True)
    table.add_column("Details", overflow="fold")
    styles = {
        "ok": "green",
        "repacked": "yellow",
        "unpublished": "yellow",
        "skipped": "dim",
        "failed": "red",
        "missing": "red",
    }
    for c in checks:
        where = f"{c.dataset}/{c.name}" if c.dataset else str(c.path)
        details = "; ".join(c.problems or c.notes)
        if not details and c.shape is not None:
            details = f"{c.dtype} {' x '.join(map(str, c.shape))}"
        table.add_row(where, f"[{styles.get(c.status, '')}]{c.status}[/]", details)
    stdout_console().print(table)
