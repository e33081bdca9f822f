"""idxtool convert SRC... --to FORMAT -o OUT: IDX to npz, npy, csv, png, pkl, and back to IDX."""

from __future__ import annotations

import re

import click

from ..formats import CSV_HEADERS, FORMATS
from ..sources import Source
from .options import DATA, dataset_option, dir_option
from .render import Bars, emit_json, log


def _shape(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    if not re.fullmatch(r"\d+(x\d+)*", value) or "x0" in f"x{value}":
        raise click.BadParameter(f"{value!r}: expected sizes like 28x28")
    return tuple(int(v) for v in value.split("x"))


@click.command("convert")
@click.argument("sources", nargs=-1, required=True, metavar="SRC...", type=DATA)
@click.option("--to", "to", required=True, type=click.Choice(FORMATS), help="Target format.")
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    type=click.Path(),
    help="Output: a file for npz, pkl and csv (a folder for a dataset's csv); a folder for npy, png, idx, "
    "parquet and webdataset; s3://bucket/prefix/ for parquet, webdataset, npz and csv (extra idxtool[cloud]).",
)
@click.option(
    "--header",
    type=click.Choice(CSV_HEADERS),
    default="pixel0",
    show_default=True,
    help="CSV header: pixel0 = label,pixel0.. (Kaggle); pixel1 = label,pixel1..; rowcol = label,1x1..28x28; none.",
)
@click.option(
    "--compression",
    type=click.Choice(["raw", "gzip", "xz", "bz2"]),
    help="csv and idx outputs (default: from the -o suffix, else raw); npz: raw stores, gzip deflates (default).",
)
@click.option(
    "--shape", callback=_shape, metavar="HxW", help="CSV source: image shape when the pixel count is not square."
)
@click.option(
    "--val",
    type=click.IntRange(min=1),
    default=10000,
    show_default=True,
    help="pkl: validation records taken from the end of train.",
)
@click.option(
    "--transpose/--no-transpose",
    default=None,
    help="png: swap rows and columns (default: as the manifest says; EMNIST: on). From a PNG tree: swap them back.",
)
@click.option(
    "--shards",
    type=click.IntRange(min=1),
    metavar="N",
    help="parquet and webdataset: files per split (default: about 256 MiB of pixels each).",
)
@click.option("--names", is_flag=True, help="png: name class folders after the dataset's classes.")
@click.option("--flat", is_flag=True, help="png: all images in one folder.")
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    metavar="N",
    help="png: worker processes (default: 2, measured fastest; 1 on one core).",
)
@dataset_option
@dir_option
@click.option("--force", is_flag=True, help="Replace existing outputs.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: the files written and records per split.")
def convert_cmd(
    *,
    sources: tuple[Source, ...],
    to: str,
    out: str,
    header: str,
    compression: str | None,
    shape: tuple[int, ...] | None,
    val: int,
    transpose: bool | None,
    shards: int | None,
    names: bool,
    flat: bool,
    jobs: int | None,
    dataset: str | None,
    dir_: str | None,
    force: bool,
    as_json: bool,
) -> None:
    """Convert IDX files or a dataset to another format, or a converted file back to IDX.

    SRC is IDX images [labels] (- reads standard input), a dataset name (all its splits:
    npz gets Keras' x_train, y_train, x_test, y_test) or NAME:SPLIT[START:STOP], or with
    --to idx a .csv, .npz, .npy, .pkl or PNG folder. Round trips give the same arrays for
    every format but pkl (floats: pixel/256, as the tutorials' mnist.pkl.gz).
    """
    from ..conversion import convert
    from ..formats import WriteOptions
    from ..formats.png.tree import PngOptions

    options = WriteOptions(
        shards=shards,
        header=header,
        compression=compression,  # type: ignore[arg-type]  # click.Choice gave one of the four
        val=val,
        png=PngOptions(names=names, flat=flat, jobs=jobs),
    )
    with Bars() as bars:
        result = convert(
            list(sources),
            to=to,
            out=out,
            options=options,
            shape=shape,
            transpose=transpose,
            force=force,
            dir=dir_,
            dataset=dataset,
            progress=bars,
        )
    if as_json:
        emit_json(
            {"outputs": [str(p) for p in result.outputs], "records": result.records, "from": result.source_format}
        )
        return
    total = sum(result.records.values())
    for path in result.outputs:
        log(f"Wrote {path}")
    log(f"{total:,} records as {to}", level=1)
