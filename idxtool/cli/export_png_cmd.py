"""idxtool export-png IMAGES [LABELS] -o DIR: ImageFolder/Ultralytics PNG trees and contact sheets."""

from __future__ import annotations

import contextlib
from typing import Any

import click

from .complete import dataset_names, dataset_or_path
from .render import emit_json, log, progress


class LazyBar:
    """Turns the core's ``(done, total)`` callbacks into a rich bar, started on the first call.

    Starting late matters: the core forks its worker processes first, and a bar's refresh
    thread should not exist when it does.
    """

    def __init__(self, stack: contextlib.ExitStack, description: str) -> None:
        self.stack, self.description = stack, description
        self.bar: Any = None
        self.task: Any = None
        self.off = False

    def __call__(self, done: int, total: int) -> None:
        if self.off:
            return
        if self.bar is None:
            self.bar = self.stack.enter_context(progress(unit="images"))
            if self.bar is None:
                self.off = True
                return
            self.task = self.bar.add_task(self.description, total=total)
        self.bar.update(self.task, completed=done, total=total)


def dir_option(f: Any) -> Any:
    return click.option(
        "--dir", "dir_", type=click.Path(file_okay=False),
        help="Cache root for dataset names (default: IDXTOOL_HOME, else the user cache folder).",
    )(f)


def dataset_option(f: Any) -> Any:
    return click.option(
        "--dataset", metavar="NAME", shell_complete=dataset_names,
        help="For files: take class names, label offset and orientation from this registered dataset.",
    )(f)


@click.command("export-png")
@click.argument("images", metavar="IMAGES", shell_complete=dataset_or_path)
@click.argument("labels", required=False, metavar="[LABELS]", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "out", required=True, type=click.Path(), help="Output folder (a PNG file with --grid).")
@click.option("--names", is_flag=True, help="Name class folders after the dataset's classes (made safe for file systems).")
@click.option("--flat", is_flag=True, help="All images in one folder, no class subfolders.")
@click.option("--limit", type=click.IntRange(min=0), metavar="N", help="Export at most N images of each split.")
@click.option("--per-class", type=click.IntRange(min=1), metavar="N", help="Export the first N images of each class.")
@click.option(
    "--transpose/--no-transpose", default=None,
    help="Swap rows and columns (EMNIST stores images transposed). Default: as the dataset's manifest says.",
)
@click.option("-j", "--jobs", type=click.IntRange(min=1), metavar="N", help="Worker processes (default: all cores).")
@click.option("--level", type=click.IntRange(0, 9), default=1, show_default=True, help="PNG deflate level (0 = stored).")
@click.option("--grid", metavar="RxC", help="Write one contact sheet -o FILE.png instead: a row per class, C images each.")
@dataset_option
@dir_option
@click.option("--force", is_flag=True, help="Replace an existing output.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: output path and images per split.")
def export_png_cmd(
    images: str, labels: str | None, out: str, names: bool, flat: bool, limit: int | None,
    per_class: int | None, transpose: bool | None, jobs: int | None, level: int, grid: str | None,
    dataset: str | None, dir_: str | None, force: bool, as_json: bool,
) -> None:
    """Write images as 8-bit grayscale PNG files in class folders, or a contact sheet.

    The layout is DIR/<class>/<index>.png with DIR/labels.csv beside the folders.
    IMAGES is an IDX images file (LABELS optional) or a dataset name, which writes
    DIR/train/ and DIR/test/. torchvision's ImageFolder and Ultralytics classification
    read the tree as is. <index> is the record's position in the source, zero-padded;
    labels.csv has the columns index,path,label,class. The tree appears only when complete.
    """
    from .. import pairs
    from ..export import ExportOptions, export_tree, parse_grid, write_sheet

    sources = [images] if labels is None else [images, labels]
    coll = pairs.load(pairs.resolve(sources, dir=dir_, dataset=dataset))
    if grid is not None:
        path = write_sheet(out, coll, parse_grid(grid), transpose, force)
        if as_json:
            emit_json({"path": str(path), "grid": grid})
        else:
            log(f"Wrote a {grid} contact sheet to {path}")
        return
    opts = ExportOptions(names=names, flat=flat, limit=limit, per_class=per_class, transpose=transpose, jobs=jobs, level=level)
    with contextlib.ExitStack() as stack:
        result = export_tree(out, coll, opts, force, LazyBar(stack, "PNG"))
    if as_json:
        emit_json({"path": str(result.path), "images": result.images, "splits": result.splits})
    else:
        log(f"Wrote {result.images:,} PNG images to {result.path}")
