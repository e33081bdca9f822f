"""idxtool split IMAGES [LABELS] --ratio R -o DIR: stratified, seeded, lossless splits."""

from __future__ import annotations

import click

from ..sources import Source
from .options import DATA, dir_option
from .render import Bars, emit_json, log


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
@click.argument("images", metavar="IMAGES", type=DATA)
@click.argument("labels", required=False, metavar="[LABELS]", type=DATA)
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    type=click.Path(file_okay=False),
    help="Output folder for the parts' IDX files.",
)
@click.option("--ratio", type=float, metavar="R", help="Share of records in train (the rest goes to val), e.g. 0.9.")
@click.option(
    "--sizes",
    callback=_ints,
    metavar="A,B[,C...]",
    help="Records in each part, e.g. 50000,10000; they must add up to the input.",
)
@click.option(
    "--per-class", type=int, metavar="N", help="The first N records of each class as one part, the rest as another."
)
@click.option(
    "--names",
    callback=_names,
    metavar="A,B[,C...]",
    help="Part names (default: train,val[,test]; subset,rest for --per-class).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed: the same seed gives the same bytes.")
@click.option("--no-stratify", is_flag=True, help="Shuffle all records together instead of within each class.")
@click.option(
    "--no-shuffle",
    is_flag=True,
    help="Take records in source order, first part first (the classic contiguous MNIST validation split).",
)
@dir_option
@click.option("--force", is_flag=True, help="Replace existing part files.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: files written and records per part.")
def split_cmd(
    *,
    images: Source,
    labels: Source | None,
    out: str,
    ratio: float | None,
    sizes: list[int] | None,
    per_class: int | None,
    names: list[str] | None,
    seed: int,
    no_stratify: bool,
    no_shuffle: bool,
    dir_: str | None,
    force: bool,
    as_json: bool,
) -> None:
    """Split IDX images and labels into parts (train, val, ...), stratified and seeded.

    Parts are written as DIR/train-images-idx3-ubyte, DIR/train-labels-idx1-ubyte, DIR/val-...
    Stratified by label unless --no-stratify; every record lands in exactly one part, in
    source order. Outputs keep the input's element type and compression. A dataset name
    splits its train split (or its only split); NAME:SPLIT[START:STOP] that selection.
    --force replaces the parts of an earlier split in DIR and removes its other parts.
    """
    from ..splitting import split

    given = [
        flag
        for flag, value in (("--ratio", ratio), ("--sizes", sizes), ("--per-class", per_class))
        if value is not None
    ]
    if len(given) != 1:
        raise click.UsageError(
            "give one of --ratio, --sizes or --per-class" if not given else f"{' and '.join(given)} cannot be combined"
        )
    sources = [images] if labels is None else [images, labels]
    with Bars() as bars:
        result = split(
            sources,
            out,
            ratio=ratio,
            sizes=sizes,
            per_class=per_class,
            names=names,
            seed=seed,
            stratify=False if no_stratify or no_shuffle else None,
            shuffle=not no_shuffle,
            force=force,
            dir=dir_,
            progress=bars,
        )
    if as_json:
        emit_json({"files": [str(p) for p in result.files], "counts": result.counts})
        return
    for name, count in result.counts.items():
        log(f"{name}: {count:,} records")
    for path in result.files:
        log(f"Wrote {path}", level=1)
