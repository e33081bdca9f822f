"""idxtool export-png IMAGES [LABELS] -o DIR: ImageFolder/Ultralytics PNG trees and contact sheets."""

from __future__ import annotations

import click

from ..sources import Source
from .options import DATA, dataset_option, dir_option
from .render import Bars, emit_json, log


@click.command("export-png")
@click.argument("images", metavar="IMAGES", type=DATA)
@click.argument("labels", required=False, metavar="[LABELS]", type=DATA)
@click.option("-o", "--output", "out", required=True, type=click.Path(), help="Output folder (a PNG file with --grid).")
@click.option(
    "--names", is_flag=True, help="Name class folders after the dataset's classes (made safe for file systems)."
)
@click.option("--flat", is_flag=True, help="All images in one folder, no class subfolders.")
@click.option("--limit", type=click.IntRange(min=0), metavar="N", help="Export at most N images of each split.")
@click.option("--per-class", type=click.IntRange(min=1), metavar="N", help="Export the first N images of each class.")
@click.option(
    "--transpose/--no-transpose",
    default=None,
    help="Swap rows and columns (EMNIST stores images transposed). Default: as the dataset's manifest says.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    metavar="N",
    help="Worker processes (default: 2, measured fastest; 1 on one core).",
)
@click.option(
    "--level", type=click.IntRange(0, 9), default=1, show_default=True, help="PNG deflate level (0 = stored)."
)
@click.option(
    "--grid", metavar="RxC", help="Write one contact sheet -o FILE.png instead: a row per class, C images each."
)
@dataset_option
@dir_option
@click.option("--force", is_flag=True, help="Replace an existing output.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: output path and images per split.")
def export_png_cmd(
    *,
    images: Source,
    labels: Source | None,
    out: str,
    names: bool,
    flat: bool,
    limit: int | None,
    per_class: int | None,
    transpose: bool | None,
    jobs: int | None,
    level: int,
    grid: str | None,
    dataset: str | None,
    dir_: str | None,
    force: bool,
    as_json: bool,
) -> None:
    """Write images as 8-bit grayscale PNG files in class folders, or a contact sheet.

    The layout is DIR/<class>/<index>.png with DIR/labels.csv and DIR/classes.txt beside
    the folders. Class folders sort in label order (00 .. 46; with --names 0_T-shirt_top ..),
    so ImageFolder and Ultralytics, which number classes by sorted folder name, give each image
    its label; classes.txt lists the folders in label order.
    IMAGES is an IDX images file (LABELS optional), a dataset name, which writes
    DIR/train/ and DIR/test/, or NAME:SPLIT[START:STOP]. torchvision's ImageFolder and Ultralytics classification
    read the tree as is. <index> is the record's position in the source, zero-padded;
    labels.csv has the columns index,path,label,class. The tree appears only when complete.
    """
    from ..conversion import PngOptions, export_png

    sources = [images] if labels is None else [images, labels]
    opts = PngOptions(
        names=names, flat=flat, limit=limit, per_class=per_class, transpose=transpose, jobs=jobs, level=level
    )
    with Bars() as bars:
        result = export_png(
            sources, out, options=opts, grid=grid, force=force, dir=dir_, dataset=dataset, progress=bars
        )
    if grid is not None:
        if as_json:
            emit_json({"path": str(result.path), "grid": grid})
        else:
            log(f"Wrote a {grid} contact sheet to {result.path}")
        return
    if as_json:
        emit_json({"path": str(result.path), "images": result.images, "splits": result.splits})
    else:
        log(f"Wrote {result.images:,} PNG images to {result.path}")
