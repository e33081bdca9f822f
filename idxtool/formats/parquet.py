"""Parquet in the Hugging Face Hub layout: ``data/<split>-NNNNN-of-NNNNN.parquet`` and a ``README.md``.

Each row is one record: ``image``, the struct ``{bytes: PNG, path: string}`` that
``datasets`` uses for images, ``label`` (int64, the class index: the label less the
dataset's offset) and, for 2-d labels (QMNIST's extended ones), the other label columns
under their field names. ``README.md`` declares the features (``Image``, ``ClassLabel``
with the class names) and each split's data files in its YAML header, so
``datasets.load_dataset(DIR)`` needs nothing else; Dask, Spark and DuckDB read the files
as they are. Each file's schema carries the same features (key ``huggingface``) and what
IDX needs to come back exactly (key ``idxtool``). Records are encoded and written a chunk
at a time (one row group each): memory stays bounded whatever the input's size.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, MissingDependencyError
from ..model import Part, Splits
from ..progress import ProgressFactory
from ..progress import start as start_progress
from . import ReadOptions, Target, WriteOptions
from ._sharded import (
    Meta,
    bounds,
    chunks_between,
    class_names,
    decode_png,
    extra_columns,
    labels_back,
    meta_of,
    png_batch,
    restore,
    shard_count,
    split_name,
    stack,
)

#: A shard's file name: ``train-00000-of-00003.parquet``.
SHARD = re.compile(r"^(?P<split>.+)-(?P<i>\d{5})-of-(?P<n>\d{5})\.parquet$")


def _pyarrow() -> Any:
    try:
        import pyarrow as pa  # type: ignore[import-untyped]
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
    except ImportError:
        raise MissingDependencyError(
            "Parquet needs pyarrow, which is not installed: pip install pyarrow", name="pyarrow"
        ) from None
    return pa, pq


def features(meta: Meta, names: list[str] | None) -> dict[str, Any]:
    """The ``datasets`` features, as its ``Features.to_dict()`` writes them."""
    out: dict[str, Any] = {"image": {"_type": "Image"}}
    if meta.labelled:
        out["label"] = {"_type": "ClassLabel", "names": names} if names is not None else _value("int64")
        for _, name in extra_columns(meta):
            out[name] = _value("int64")
    return out


def _value(dtype: str) -> dict[str, str]:
    return {"dtype": dtype, "_type": "Value"}


def _schema(meta: Meta, names: list[str] | None) -> Any:
    pa, _ = _pyarrow()
    fields = [pa.field("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())]))]
    if meta.labelled:
        fields.append(pa.field("label", pa.int64()))
        fields += [pa.field(name, pa.int64()) for _, name in extra_columns(meta)]
    hf = {"info": {"features": features(meta, names)}}
    return pa.schema(fields, metadata={b"huggingface": json.dumps(hf).encode(), b"idxtool": meta.to_json().encode()})


def _yaml_str(text: str) -> str:
    """A YAML scalar that reads back as ``text`` (single-quoted)."""
    return "'" + text.replace("'", "''") + "'"


def readme(meta: Meta, names: list[str] | None, files: dict[str, list[str]], title: str) -> str:
    """The dataset card: YAML features, splits and data files, then a short description."""
    lines = ["---", "dataset_info:", "  features:", "  - name: image", "    dtype: image"]
    if meta.labelled:
        lines.append("  - name: label")
        if names is None:
            lines.append("    dtype: int64")
        else:
            lines += ["    dtype:", "      class_label:", "        names:"]
            lines += [f"          {_yaml_str(str(i))}: {_yaml_str(n)}" for i, n in enumerate(names)]
        for _, name in extra_columns(meta):
            lines += [f"  - name: {_yaml_str(name)}", "    dtype: int64"]
    lines += ["configs:", "- config_name: default", "  data_files:"]
    for split in files:
        lines += [f"  - split: {_yaml_str(split)}", f"    path: {_yaml_str(f'data/{split}-*')}"]
    lines += ["---", "", f"# {title}", ""]
    lines.append(
        "Written by idxtool: one row per record, `image` a PNG (8-bit grayscale), `label` the class index"
        + (f" (the label less {meta.label_offset})" if meta.label_offset else "")
        + ". Load it with `datasets.load_dataset(<this folder>)`."
    )
    return "\n".join(lines) + "\n"


def write(folder: Path, splits: Splits, options: WriteOptions, progress: ProgressFactory | None = None) -> list[Path]:
    """Write ``splits`` in the Hub layout into ``folder``; the files written."""
    pa, pq = _pyarrow()
    meta = meta_of(splits)
    parts = {split_name(s): p for s, p in splits.parts.items()}
    names = class_names(meta, list(parts.values()))
    schema = _schema(meta, names)
    extras = extra_columns(meta)
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    files: dict[str, list[str]] = {}
    record_bytes = int(np.prod(meta.shape))
    for split, part in parts.items():
        ranges = bounds(part.count, shard_count(options, part.count, record_bytes)) if part.count else [(0, 0)]
        files[split] = []
        task = start_progress(progress, f"{split}: parquet", part.count, "records")
        done = 0
        try:
            for i, (first, end) in enumerate(ranges):
                path = data / f"{split}-{i:05d}-of-{len(ranges):05d}.parquet"
                with pq.ParquetWriter(path, schema, compression="none") as out:
                    for begin, chunk in chunks_between(part, first, end):
                        out.write_table(_table(pa, schema, part, meta, extras, begin, chunk))
                        done += len(chunk)
                        task.update(done)
                    if first == end:
                        out.write_table(schema.empty_table())
                files[split].append(path.name)
                written.append(path)
        finally:
            task.close()
    title = meta.dataset or splits.name or "images"
    card = folder / "README.md"
    card.write_text(readme(meta, names, files, title), "utf-8")
    return [*written, card]


def _table(pa: Any, schema: Any, part: Part, meta: Meta, extras: list[tuple[int, str]], begin: int, chunk: Any) -> Any:
    pngs = png_batch(chunk, transpose=meta.transposed)
    width = max(len(str(part.count - 1)), 5)
    paths = [f"{begin + k:0{width}d}.png" for k in range(len(pngs))]
    image = pa.StructArray.from_arrays([pa.array(pngs, pa.binary()), pa.array(paths, pa.string())], ["bytes", "path"])
    columns = [image]
    if meta.labelled and part.labels is not None:
        labels = part.labels[begin : begin + len(chunk)]
        cls = labels if labels.ndim == 1 else labels[:, meta.label_column]
        columns.append(pa.array(cls.astype(np.int64) - meta.label_offset, pa.int64()))
        columns += [pa.array(labels[:, i].astype(np.int64), pa.int64()) for i, _ in extras]
    return pa.Table.from_arrays(columns, schema=schema)


# -- reading ------------------------------------------------------------------------------------


def shard_files(folder: Path) -> dict[str, list[Path]]:
    """The shards of each split under ``folder/data``, in order (checked complete)."""
    found: dict[str, list[tuple[int, int, Path]]] = {}
    for path in sorted((folder / "data").glob("*.parquet")):
        m = SHARD.match(path.name)
        if m is None:
            found.setdefault(path.stem, []).append((0, 1, path))
            continue
        found.setdefault(m.group("split"), []).append((int(m.group("i")), int(m.group("n")), path))
    out: dict[str, list[Path]] = {}
    for split, shards in found.items():
        total = shards[0][1]
        if sorted(i for i, _, _ in shards) != list(range(total)) or any(n != total for _, n, _ in shards):
            have = ", ".join(p.name for _, _, p in shards)
            raise DataError(f"{folder}: the shards of split {split!r} are incomplete ({have}; expected {total})")
        out[split] = [p for _, _, p in sorted(shards)]
    return out


def read(path: Path) -> Splits:
    """A Hub-layout folder (or one .parquet file) back to splits; labels as idxtool wrote them."""
    _, pq = _pyarrow()
    groups = {path.stem: [path]} if path.is_file() else shard_files(path)
    if not groups:
        raise DataError(f"{path}: no Parquet files in {path / 'data'}")
    parts: dict[str, Part] = {}
    meta: Meta | None = None
    for split, files in groups.items():
        images: list[np.ndarray] = []
        cls: list[np.ndarray] = []
        extras: dict[str, list[np.ndarray]] = {}
        for file in files:
            try:
                pf = pq.ParquetFile(file)
            except Exception as exc:  # pyarrow raises its own ArrowInvalid, an OSError or ValueError
                raise DataError(f"{file}: not a readable Parquet file ({exc})") from exc
            meta = meta or _meta(pf, file)
            if "image" not in pf.schema_arrow.names:
                raise DataError(f"{file}: has no image column (columns: {', '.join(pf.schema_arrow.names)})")
            for batch in pf.iter_batches(batch_size=8192):
                table = batch.to_pydict()
                for k, cell in enumerate(table["image"]):
                    data = cell.get("bytes") if isinstance(cell, dict) else None
                    if data is None:
                        raise DataError(f"{file}: row {k} of a batch has no image bytes")
                    images.append(decode_png(data, f"{file}: image {len(images)}"))
                if meta.labelled:
                    cls.append(np.asarray(table["label"], np.int64))
                    for _, name in extra_columns(meta):
                        extras.setdefault(name, []).append(np.asarray(table[name], np.int64))
        if meta is None:  # pragma: no cover - groups are never empty lists
            raise DataError(f"{path}: no Parquet files")
        shape = meta.shape or (list(images[0].shape) if images else [0, 0])
        x = restore(stack(images, shape, f"{path} [{split}]"), meta)
        y = None
        if meta.labelled:
            ex = {name: np.concatenate(v) for name, v in extras.items()}
            y = labels_back(np.concatenate(cls) if cls else np.empty(0, np.int64), ex, meta)
        parts[split] = Part(x, y, f"{path} [{split}]", f"{path} [{split}: label]" if y is not None else None)
    info = meta.label_info() if meta is not None else None
    return Splits(parts, info, str(path)) if info is not None else Splits(parts, name=str(path))


def _meta(pf: Any, file: Path) -> Meta:
    """idxtool's metadata, or what a foreign file's schema and Hub features say."""
    kv = pf.schema_arrow.metadata or {}
    if b"idxtool" in kv:
        return Meta.from_json(kv[b"idxtool"], str(file))
    names = pf.schema_arrow.names
    classes = None
    if b"huggingface" in kv:
        with_features = json.loads(kv[b"huggingface"]).get("info", {}).get("features", {})
        label = with_features.get("label", {})
        if label.get("_type") == "ClassLabel":
            classes = label.get("names")
    return Meta(shape=[], classes=classes, labelled="label" in names, label_dtype="int64")


class ParquetFormat:
    """Parquet shards in the Hugging Face Hub layout."""

    name = "parquet"
    max_inputs = 1
    sniff_order = 5

    def sniff(self, path: Path) -> bool:
        if path.is_file():
            return path.suffix.lower() == ".parquet"
        return path.is_dir() and any((path / "data").glob("*.parquet"))

    def read(self, paths: Sequence[Path], options: ReadOptions) -> Splits:
        return read(paths[0])

    def target(self, splits: Splits) -> Target:
        return "folder"

    def write(
        self, splits: Splits, out: Path, options: WriteOptions, *, final: Path, progress: ProgressFactory | None
    ) -> None:
        write(out, splits, options, progress)


FORMAT = ParquetFormat()
