"""idxtool split IMAGES [LABELS] --ratio R -o DIR: stratified, seeded, lossless splits."""

from __future__ import annotations

import contextlib

import click

from .complete import dataset_or_path
from .export_png_cmd import LazyBar, dir_option
from .render import emit_json, log


def _ints(ctx: click.Context, param: click.Parameter, value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        return [int(v) for v in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected comma-separated counts, e.g. 50000,10000") from None


def _names(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",")]


@click.command("split")
@click.argument("images", metavar="IMAGES", shell_complete=dataset_or_path)
@click.argument("labels", required=False, metavar="[LABELS]", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "out", required=True, type=click.Path(file_okay=False), help="Output folder for the parts' IDX files.")
@click.option("--ratio", type=float, metavar="R", help="Share of records in train (the rest goes to val), e.g. 0.9.")
@click.option("--sizes", callback=_ints, metavar="A,B[,C...]", help="Records in each part, e.g. 50000,10000; they must add up to the input.")
@click.option("--per-class", type=int, metavar="N", help="The first N records of each class as one part, the rest as another.")
@click.option("--names", callback=_names, metavar="A,B[,C...]", help="Part names (default: train,val[,test]; subset,rest for --per-class).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed: the same seed gives the same bytes.")
@click.option("--no-stratify", is_flag=True, help="Shuffle all records together instead of within each class.")
@dir_option
@click.option("--force", is_flag=True, help="Replace existing part files.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: files written and records per part.")
def split_cmd(
    images: str, labels: str | None, out: str, ratio: float | None, sizes: list[int] | None,
    per_class: int | None, names: list[str] | None, seed: int, no_stratify: bool, dir_: str | None,
    force: bool, as_json: bool,
) -> None:
    """Split IDX images and labels into parts (train, val, ...), stratified and seeded.

    Parts are written as DIR/train-images-idx3-ubyte, DIR/train-labels-idx1-ubyte, DIR/val-...
    Stratified by label unless --no-stratify; every record lands in exactly one part, in
    source order. Outputs keep the input's element type and compression. A dataset name
    splits its train split (or its only split).
    """
    from .. import pairs
    from ..split import split

    resolved = pairs.resolve([images] if labels is None else [images, labels], dir=dir_)
    _, paths = pairs.training_split(resolved.splits)
    with contextlib.ExitStack() as stack:
        result = split(
            paths, out, ratio=ratio, sizes=sizes, per_class_n=per_class, names=names, seed=seed,
            stratify=not no_stratify, label_column=resolved.info.label_column, force=force,
            progress=LazyBar(stack, "split"),
        )
    if as_json:
        emit_json({"files": [str(p) for p in result.files], "counts": result.counts})
        return
    for name, count in result.counts.items():
        log(f"{name}: {count:,} records")
    for path in result.files:
        log(f"Wrote {path}", level=1)
