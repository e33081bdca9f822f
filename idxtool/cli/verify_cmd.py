"""idxtool verify (NAME|PATH)...: check datasets in the cache, or files."""

from __future__ import annotations

from typing import Any

import click

from ..sources import DatasetRef, Source, Stdin
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
    help="Fail on a re-compressed copy too (same IDX payload, but not the published file).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object naming every file with its status.")
def verify_cmd(*, targets: tuple[Source, ...], dir_: str | None, strict: bool, as_json: bool) -> None:
    """Check datasets or files: size, hash, IDX structure, pairing and labels.

    A dataset NAME checks every file in the cache against its manifest, that paired
    images and labels have the same record count, and that labels lie within the class
    list. A PATH gets the IDX structure check, and is compared with the manifest entries
    of the same file name when there are any. Exit code 1 names each failing file.
    """
    from ..verification import verify

    plan: list[Any] = []
    for target in targets:
        if isinstance(target, Stdin):
            raise click.BadParameter("verify reads files and datasets, not standard input", param_hint="NAME|PATH")
        plan.append((target.dataset, target.selection) if isinstance(target, DatasetRef) else target)
    report = verify(plan, dir_, strict=strict)
    checks = report.checks
    failed = [c for c in checks if c.failed]
    if as_json:
        emit_json({"ok": not failed, "files": [c.to_json() for c in checks]})
    elif not settings().quiet:
        _table(checks)
    if failed:
        errors = report.exceptions()
        for check, error in zip(failed, errors, strict=True):
            if check.status == "missing" and check.dataset:
                error.args = (f"{error} (run: idxtool fetch {check.dataset})",)
        from .options import remedy

        for error in errors[:-1]:
            click.echo(f"Error: {remedy(error)}", err=True)
        raise errors[-1]


def _table(checks: list[Any]) -> None:
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    table.add_column("File", overflow="fold")
    table.add_column("Status", no_wrap=True)
    table.add_column("Details", overflow="fold")
    styles = {"ok": "green", "repacked": "yellow", "skipped": "dim", "failed": "red", "missing": "red"}
    for c in checks:
        where = f"{c.dataset}/{c.name}" if c.dataset else str(c.path)
        details = "; ".join(c.problems or c.notes)
        if not details and c.shape is not None:
            details = f"{c.dtype} {' x '.join(map(str, c.shape))}"
        table.add_row(where, f"[{styles.get(c.status, '')}]{c.status}[/]", details)
    stdout_console().print(table)
