"""``idxtool inspect``: what IDX files hold, from the header, a streamed body check and stats."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from ..errors import IdxError
from ..model import LabelInfo
from ..selection import Selection
from ..sources import DatasetRef, Source, Stdin
from . import fail_many
from .options import DATA, dir_option
from .render import Bars, emit_json, human_bytes, stdout_console


@dataclass(frozen=True)
class _Item:
    """One IDX file to describe: where it is, which records are meant, and what labels mean."""

    source: Path | Stdin
    selection: Selection | None = None
    classes: tuple[str, ...] | None = None
    fields: tuple[str, ...] | None = None


def _expand(targets: tuple[Source, ...], dir_: str | None) -> list[_Item]:
    """Paths stay paths; a dataset (or one split of it) becomes its files, fetched if missing."""
    from ..loading import input_files

    items: list[_Item] = []
    for target in targets:
        if not isinstance(target, DatasetRef):
            items.append(_Item(target))
            continue
        with Bars("bytes", transient=True) as bars:
            files, info = input_files([target], dir_, progress=bars)
        classes = _classes(info)
        for split in files.values():
            for path in (split.images, split.labels):
                if path is not None:
                    items.append(_Item(path, split.selection, classes, info.label_fields))
    return items


def _classes(info: LabelInfo) -> tuple[str, ...] | None:
    if not info.classes:
        return None
    return ("",) * info.label_offset + tuple(info.classes)


@click.command("inspect")
@click.argument("targets", metavar="PATH...", nargs=-1, required=True, type=DATA)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (a list for several paths).")
@click.option("--stats", is_flag=True, help="Stream min/max/mean/std; value counts for 1-D integer files.")
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

    if isinstance(item.source, Stdin):
        raise RecordIndexError("-: standard input can be read once; save it to a file to show records")
    count, first = report["records"], report.get("first_record", 0)
    if not -count <= index < count:
        raise RecordIndexError(f"{item.source}: record {index} out of range (file has {count:,} records)")
    at = first + index % count
    with open_idx(item.source) as f:
        data = f.record(at)
    shown: dict[str, Any] = {"index": index % count, "data": data}
    if labels is not None and labels["records"] == report["records"]:
        with open_idx(labels["path"]) as f:
            value = f.record(labels.get("first_record", 0) + index % count)
        label = int(value if value.ndim == 0 else value[0])
        shown["label"] = label
        if classes and 0 <= label < len(classes) and classes[label]:
            shown["class"] = classes[label]
    return shown


def _render(reports: list[dict[str, Any]]) -> None:
    from rich.table import Table

    console = stdout_console()
    for report in reports:
        if "error" in report:
            continue
        table = Table(title=report["path"], show_header=False, title_justify="left", box=None, pad_edge=False)
        table.add_column(style="bold")
        table.add_column()
        shape = report["shape"]
        table.add_row("compression", report["compression"])
        table.add_row("type", f"{report['dtype']} ({report['type_code']})")
        table.add_row("dimensions", " x ".join(map(str, shape)) or "scalar")
        table.add_row("records", f"{report['records']:,}")
        if "selection" in report:
            table.add_row(
                "selection",
                f"{report['selection']} (records {report['first_record']:,} to {report['first_record'] + report['records'] - 1:,} of the file)",
            )
        table.add_row("raw size", f"{human_bytes(report['raw_size'])} ({report['raw_size']:,} bytes)")
        if report["size_on_disk"] is not None:
            table.add_row("on disk", f"{human_bytes(report['size_on_disk'])} ({report['size_on_disk']:,} bytes)")
        table.add_row("body", "ok, matches the header")
        if "stats" in report:
            s = report["stats"]
            if s["count"]:
                table.add_row("min / max", f"{s['min']:g} / {s['max']:g}")
                table.add_row("mean / std", f"{s['mean']:.4f} / {s['std']:.4f}")
        console.print(table)
        counts = report.get("stats", {}).get("value_counts")
        if counts:
            console.print(_counts_table(counts))
        for shown in report.get("show", []):
            _render_record(console, report, shown)
        console.print()


def _counts_table(counts: dict[str, int]) -> Any:
    from rich.table import Table

    total = sum(counts.values())
    peak = max(counts.values())
    table = Table(title="value counts", title_justify="left", box=None)
    table.add_column("value", justify="right")
    table.add_column("count", justify="right")
    table.add_column("share", justify="right")
    table.add_column("")
    for value, count in counts.items():
        bar = "█" * max(1, round(30 * count / peak)) if count else ""
        table.add_row(value, f"{count:,}", f"{100 * count / total:.1f}%", bar)
    return table


def _render_record(console: Any, report: dict[str, Any], shown: dict[str, Any]) -> None:
    import numpy as np

    from .preview import half_blocks

    title = f"record {shown['index']}"
    if "label" in shown:
        title += f"  label {shown['label']}"
        if "class" in shown:
            title += f" ({shown['class']})"
    console.print(title, style="bold")
    data = np.asarray(shown["data"])
    if data.ndim == 2:
        console.print(half_blocks(data, color=console.color_system is not None), end="")
    else:
        console.print(str(data.tolist()))
