"""idxtool list: the registered datasets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import click

from .render import emit_json, human_bytes, settings, stdout_console

if TYPE_CHECKING:
    from pathlib import Path

    from ..registry import Dataset


def _cached_state(ds: Dataset, base: Path) -> str:
    from .. import cache

    wanted = [r for r in ds.files if r.kind != "archive"]
    present = sum(cache.path_of(ds, r, base).is_file() for r in wanted)
    return "complete" if present == len(wanted) else "partial" if present else "absent"


def describe(ds: Dataset, base: Path) -> dict[str, Any]:
    """The list --json entry of one dataset."""
    return {
        "name": ds.name,
        "description": ds.description,
        "splits": ds.splits,
        "classes": len(ds.classes) if ds.classes else None,
        "files": len(ds.files),
        "download_size": ds.download_size,
        "license": ds.license,
        "homepage": ds.homepage,
        "builtin": ds.builtin,
        "manifest": ds.source,
        "cached": _cached_state(ds, base),
    }


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array of datasets instead of a table.")
def list_cmd(*, as_json: bool) -> None:
    """List the registered datasets (built-in and from IDXTOOL_REGISTRY).

    Shows each dataset's splits, classes, download size, license, and whether it is
    already in the cache.
    """
    from .. import cache, registry

    base = cache.root()
    rows = [describe(ds, base) for ds in registry.all_datasets()]
    if as_json:
        emit_json(rows)
        return
    if settings().quiet:
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("Name", "Splits", "Classes", "Download", "Cached", "License"):
        justify: Literal["left", "right"] = "right" if column in ("Classes", "Download") else "left"
        table.add_column(column, justify=justify, no_wrap=column != "License")
    for row in rows:
        table.add_row(
            row["name"],
            ", ".join(row["splits"]),
            str(row["classes"] or "-"),
            human_bytes(row["download_size"]),
            row["cached"],
            row["license"] or "-",
        )
    stdout_console().print(table)
