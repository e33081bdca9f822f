"""``idxtool inspect``: what IDX files hold, from the header, a streamed body check and stats."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import IdxError
from . import fail_many
from .options import DATA, dir_option

if TYPE_CHECKING:
    from ..selection import Selection
    from ..sources import Source, Stdin


@dataclass(frozen=True)
class _Item:
    """One IDX file to describe: where it is, which records are meant, and what labels mean."""

    source: Path | Stdin
    selection: Selection | None = None
    classes: tuple[str, ...] | None = None
    fields: tuple[str, ...] | None = None
    #: Stored transposed (EMNIST): records are drawn with rows and columns swapped back.
    transpose: bool = False


def _expand(targets: tuple[Source, ...], dir_: str | None) -> list[_Item]:
    """Paths stay paths; a dataset (or one split of it) becomes its files, fetched if missing."""
    from ..errors import UsageError
    from ..sources import DatasetRef, Remote

    items: list[_Item] = []
    for target in targets:
        if isinstance(target, Remote):
            raise UsageError(f"{target}: inspect reads IDX files and datasets; convert it first (convert URL --to idx)")
        if not isinstance(target, DatasetRef):
            items.append(_Item(target))
            continue
        from ..fetching import local_files  # not ..loading: a dataset's header costs no numpy either
        from .render import Bars

        dataset, selection = target.dataset, target.selection
        with Bars("bytes", transient=True) as bars:
            files = local_files(dataset, dir_, progress=bars)
        classes = ("",) * dataset.label_offset + dataset.classes if dataset.classes else None
        fields = dataset.extras.get("label_fields")
        for split, paths in files.items():
            if selection is not None and split != selection.split:
                continue
            for path in paths:
                if path is not None:
                    items.append(_Item(path, selection, classes, tuple(fields) if fields else None, dataset.transpose))
    return items


@click.command("inspect")
@click.argument("targets", metavar="PATH...", nargs=-1, required=True, type=DATA)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (a list for several paths).")
@click.option(
    "--stats",
    is_flag=True,
    help="Stream min/max/mean/std; value counts for integer labels (per column for a table).",
)
@click.option(
    "--show",
    "show",
    type=int,
    multiple=True,
    metavar="N",
    help="Render record N (images in the terminal; with its label when a labels file is given). Repeatable.",
)
@dir_option
@click.pass_context
def inspect_cmd(
    ctx: click.Context,
    *,
    targets: tuple[Source, ...],
    as_json: bool,
    stats: bool,
    show: tuple[int, ...],
    dir_: str | None,
) -> None:
    """Show what IDX files hold: type, shape, compression, sizes, body check.

    PATH is any IDX file (raw, .gz, .xz or .bz2, told by content; - reads standard
    input), a registered dataset name, or NAME:SPLIT[START:STOP]. Exits 1 if any file
    is invalid, naming it.
    """
    from ..describe import describe
    from .render import emit_json

    items = _expand(targets, dir_)
    reports: list[dict[str, Any]] = []
    errors: list[IdxError] = []
    for item in items:
        try:
            reports.append(describe(item.source, stats=stats, selection=item.selection, fields=item.fields))
        except IdxError as exc:
            reports.append({"path": str(item.source), "error": str(exc), "body_ok": False})
            errors.append(exc)
    if show:
        labels = _labels_file(reports)
        classes = next((i.classes for i in items if i.classes), None)
        for item, report in zip(items, reports, strict=True):
            if "error" not in report and report is not labels:
                try:
                    report["show"] = [_record(item, report, n, labels, classes) for n in show]
                except IdxError as exc:
                    errors.append(exc)
    if as_json:
        emit_json(reports[0] if len(reports) == 1 else reports)
    else:
        _render(reports)
    if errors:
        fail_many(ctx, errors)


def _labels_file(reports: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A 1-D integer file among the inputs, taken as the labels of the other files."""
    for report in reports:
        labels_like = report.get("ndim") == 1 and report.get("dtype", "").startswith(("uint", "int"))
        if labels_like and any(r is not report and r.get("records") == report["records"] for r in reports):
            return report
    return None


def _record(
    item: _Item, report: dict[str, Any], index: int, labels: dict[str, Any] | None, classes: tuple[str, ...] | None
) -> dict[str, Any]:
    from ..errors import RecordIndexError
    from ..idx import open_idx
    from ..sources import Stdin

    if isinstance(item.source, Stdin):
        raise RecordIndexError("-: standard input can be read once; save it to a file to show records")
    count, first = report["records"], report.get("first_record", 0)
    if not -count <= index < count:
        raise RecordIndexError(f"{item.source}: record {index} out of range (file has {count:,} records)")
    at = first + index % count
    with open_idx(item.source) as f:
        data = f.record(at)
    if item.transpose and data.ndim >= 2:
        data = data.swapaxes(-1, -2)  # drawn upright, as load and export-png give it
    shown: dict[str, Any] = {"index": index % count, "data": data}
    if labels is not None and labels["records"] == report["records"]:
        with open_idx(labels["path"]) as f:
            value = f.record(labels.get("first_record", 0) + index % count)
        label = int(value if value.ndim == 0 else value[0])
        shown["label"] = label
        if classes and 0 <= label < len(classes) and classes[label]:
            shown["class"] = classes[label]
    return shown


def _info_rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    """The facts of one file, as (name, value) rows."""
    from .render import human_bytes

    shape = report["shape"]
    rows = [
        ("compression", report["compression"]),
        ("type", f"{report['dtype']} ({report['type_code']})"),
        ("dimensions", " x ".join(map(str, shape)) or "scalar"),
        ("records", f"{report['records']:,}"),
    ]
    if "selection" in report:
        last = report["first_record"] + report["records"] - 1
        rows.append(
            ("selection", f"{report['selection']} (records {report['first_record']:,} to {last:,} of the file)")
        )
    rows.append(("raw size", f"{human_bytes(report['raw_size'])} ({report['raw_size']:,} bytes)"))
    if report["size_on_disk"] is not None:
        rows.append(("on disk", f"{human_bytes(report['size_on_disk'])} ({report['size_on_disk']:,} bytes)"))
    rows.append(("body", "ok, matches the header"))
    s = report.get("stats")
    if s and s["count"]:
        rows.append(("min / max", f"{s['min']:g} / {s['max']:g}"))
        rows.append(("mean / std", f"{s['mean']:.4f} / {s['std']:.4f}"))
    return rows


@dataclass
class _Grid:
    """A titled table of strings: headings, rows, and each column's justification."""

    title: str
    headings: tuple[str, ...]
    rows: list[tuple[str, ...]]
    justify: tuple[str, ...]


def _columns_grid(columns: list[dict[str, Any]]) -> _Grid:
    """One row per column of a table (QMNIST's extended labels), by the manifest's field names."""
    rows: list[tuple[str, ...]] = []
    for c in columns:
        if not c["count"]:
            rows.append((c["name"], "-", "-", "-", "-", "-"))
            continue
        distinct = f"{c['distinct']:,}" if "distinct" in c else "-"
        rows.append((c["name"], f"{c['min']:g}", f"{c['max']:g}", f"{c['mean']:.4f}", f"{c['std']:.4f}", distinct))
    headings = ("column", "min", "max", "mean", "std", "distinct")
    return _Grid("per column", headings, rows, ("left", *["right"] * 5))


def _counts_grid(stats: dict[str, Any]) -> _Grid:
    """Value counts with bars: every value, or the most frequent ones and a line for the rest."""
    counts: dict[str, int] = stats["value_counts"]
    total = stats["count"] or sum(counts.values())
    peak = max(counts.values())
    others = stats.get("other_values", 0)
    title = "value counts" if not others else f"most frequent of {stats['distinct']:,} distinct values"
    rows: list[tuple[str, ...]] = []
    for value, count in counts.items():
        bar = "█" * max(1, round(30 * count / peak)) if count else ""
        rows.append((value, f"{count:,}", f"{100 * count / total:.1f}%", bar))
    if others:
        rest = stats["other_count"]
        rows.append((f"{others:,} others", f"{rest:,}", f"{100 * rest / total:.1f}%", ""))
    return _Grid(title, ("value", "count", "share", ""), rows, ("right", "right", "right", "left"))


def _render(reports: list[dict[str, Any]]) -> None:
    """Tables on a terminal (rich); plain aligned text anywhere else (no rich imported)."""
    import sys

    from .render import settings

    if settings().quiet:
        return
    if sys.stdout.isatty():
        _render_rich(reports)
        return
    lines: list[str] = []
    for report in reports:
        if "error" in report:
            continue
        lines.append(report["path"])
        rows = _info_rows(report)
        width = max(len(name) for name, _ in rows)
        lines += [f"{name:<{width}}  {value}" for name, value in rows]
        if "columns" in report:
            lines += _plain_grid(_columns_grid(report["columns"]))
        elif report.get("stats", {}).get("value_counts"):
            lines += _plain_grid(_counts_grid(report["stats"]))
        for shown in report.get("show", []):
            from .preview import half_blocks_plain

            lines.append(_record_title(shown))
            data = shown["data"]
            lines.append(half_blocks_plain(data).rstrip("\n") if data.ndim == 2 else str(data.tolist()))
        lines.append("")
    click.echo("\n".join(lines))


def _plain_grid(grid: _Grid) -> list[str]:
    table = [grid.headings, *grid.rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(grid.headings))]

    def line(row: tuple[str, ...]) -> str:
        cells = [
            cell.rjust(w) if how == "right" else cell.ljust(w)
            for cell, w, how in zip(row, widths, grid.justify, strict=True)
        ]
        return "  ".join(cells).rstrip()

    return [grid.title, *(line(row) for row in table)]


def _render_rich(reports: list[dict[str, Any]]) -> None:
    from rich.table import Table
    from rich.text import Text

    from .render import stdout_console

    console = stdout_console()
    for report in reports:
        if "error" in report:
            continue
        # The path on a line of its own, never folded (copy-pasteable at any width).
        console.print(Text(report["path"], style="bold"), soft_wrap=True, overflow="ignore", crop=False)
        table = Table(show_header=False, box=None, pad_edge=False)
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for name, value in _info_rows(report):
            table.add_row(name, value)
        console.print(table)
        if "columns" in report:
            _print_whole(console, _rich_grid(_columns_grid(report["columns"])))
        elif report.get("stats", {}).get("value_counts"):
            _print_whole(console, _rich_grid(_counts_grid(report["stats"])))
        for shown in report.get("show", []):
            _render_record(console, report, shown)
        console.print()


def _rich_grid(grid: _Grid) -> Any:
    from rich.table import Table

    table = Table(title=grid.title, title_justify="left", box=None)
    for heading, how in zip(grid.headings, grid.justify, strict=True):
        table.add_column(heading, justify=how, no_wrap=True)  # type: ignore[arg-type]
    for row in grid.rows:
        table.add_row(*row)
    return table


def _print_whole(console: Any, table: Any) -> None:
    """Print a table at its natural width even on a narrow terminal: numbers are never cut."""
    from rich.measure import Measurement

    needed = Measurement.get(console, console.options.update_width(1 << 12), table).maximum
    width = console.width
    console.width = max(width, needed)
    try:
        console.print(table, crop=False)
    finally:
        console.width = width


def _record_title(shown: dict[str, Any]) -> str:
    title = f"record {shown['index']}"
    if "label" in shown:
        title += f"  label {shown['label']}"
        if "class" in shown:
            title += f" ({shown['class']})"
    return title


def _render_record(console: Any, report: dict[str, Any], shown: dict[str, Any]) -> None:
    import numpy as np

    from .preview import half_blocks

    console.print(_record_title(shown), style="bold")
    data = np.asarray(shown["data"])
    if data.ndim == 2:
        console.print(half_blocks(data, color=console.color_system is not None), end="")
    else:
        console.print(str(data.tolist()))
