"""``idxtool inspect``: what IDX files hold, from the header, a streamed body check and stats."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..describe import describe_or_error
from ..errors import IdxError, InputNotFoundError
from ..idx import IdxFile
from . import fail_many
from .complete import dataset_or_path
from .render import emit_json, human_bytes, stdout_console


def _expand(targets: tuple[str, ...]) -> tuple[list[str], list[str] | None]:
    """Paths stay paths; a registered dataset name becomes its files (fetched if missing).

    Also returns the class names by label value when a dataset was named.
    """
    paths: list[str] = []
    classes: list[str] | None = None
    for target in targets:
        if Path(target).exists() or "/" in target or "." in Path(target).name:
            paths.append(target)
            continue
        try:
            from ..fetch import local_splits
            from ..registry import get
        except ImportError:  # pragma: no cover - registry not installed
            paths.append(target)
            continue
        dataset = get(target)
        if dataset.classes:
            classes = [""] * dataset.label_offset + list(dataset.classes)
        for images, labels in local_splits(target).values():
            paths.append(str(images))
            if labels is not None:
                paths.append(str(labels))
    return paths, classes


@click.command("inspect")
@click.argument("targets", metavar="PATH...", nargs=-1, required=True, shell_complete=dataset_or_path)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (a list for several paths).")
@click.option("--stats", is_flag=True, help="Stream min/max/mean/std; value counts for 1-D integer files.")
@click.option(
    "--show", "show", type=int, multiple=True, metavar="N",
    help="Render record N (images in the terminal; with its label when a labels file is given). Repeatable.",
)
@click.pass_context
def inspect_cmd(ctx: click.Context, targets: tuple[str, ...], as_json: bool, stats: bool, show: tuple[int, ...]) -> None:
    """Show what IDX files hold: type, shape, compression, sizes, body check.

    PATH is any IDX file (raw, .gz, .xz or .bz2, told by content) or a registered
    dataset name. Exits 1 if any file is invalid, naming it.
    """
    paths, classes = _expand(targets)
    reports = [describe_or_error(p, stats=stats) for p in paths]
    errors: list[IdxError] = []
    for report in reports:
        if "error" in report:
            cls = InputNotFoundError if report["exit_code"] == 2 else IdxError
            errors.append(cls(report["error"]))
    if show:
        labels = _labels_file(reports)
        for report in reports:
            if "error" not in report and report is not labels:
                try:
                    report["show"] = [_record(report, n, labels, classes) for n in show]
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
        if report.get("ndim") == 1 and report.get("dtype", "").startswith(("uint", "int")):
            if any(r is not report and r.get("records") == report["records"] for r in reports):
                return report
    return None


def _record(
    report: dict[str, Any], index: int, labels: dict[str, Any] | None, classes: list[str] | None
) -> dict[str, Any]:
    with IdxFile(report["path"]) as f:
        data = f.record(index)
    shown: dict[str, Any] = {"index": index % report["records"], "data": data}
    if labels is not None and labels["records"] == report["records"]:
        with IdxFile(labels["path"]) as f:
            label = int(f.record(index))
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
        table.add_row("raw size", f"{human_bytes(report['raw_size'])} ({report['raw_size']:,} bytes)")
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
