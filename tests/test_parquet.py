"""``--to parquet``: the Hugging Face Hub layout, read by ``datasets`` and by pyarrow, and back to IDX."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

import idxtool
from idxtool import formats
from idxtool.cli import main
from idxtool.formats import WriteOptions


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def mnist(shared: Path) -> tuple[np.ndarray, np.ndarray]:
    return idxtool.read(shared / "mnist" / "t10k-images-idx3-ubyte.gz"), idxtool.read(
        shared / "mnist" / "t10k-labels-idx1-ubyte.gz"
    )


def card(folder: Path) -> dict:
    text = (folder / "README.md").read_text()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_hub_layout_loads_in_datasets_pixel_exact(
    mnist_images: Path, mnist_labels: Path, mnist: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    import datasets

    out = tmp_path / "hub"
    code, output = run(
        "convert", str(mnist_images), str(mnist_labels), "--to", "parquet", "-o", str(out), "--shards", "3"
    )
    assert code == 0, output
    names = sorted(p.name for p in (out / "data").iterdir())
    assert names == [f"train-0000{i}-of-00003.parquet" for i in range(3)]
    meta = card(out)
    features = meta["dataset_info"]["features"]
    assert features[0] == {"name": "image", "dtype": "image"}
    assert features[1]["name"] == "label"
    assert features[1]["dtype"]["class_label"]["names"] == {str(i): str(i) for i in range(10)}
    assert meta["configs"] == [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}]
    schema = pq.read_schema(out / "data" / names[0])
    assert str(schema.field("image").type) == "struct<bytes: binary, path: string>"
    assert str(schema.field("label").type) == "int64"

    ds = datasets.load_dataset(str(out), split="train")
    assert isinstance(ds.features["image"], datasets.Image)
    assert ds.features["label"] == datasets.ClassLabel(names=[str(i) for i in range(10)])
    x, y = mnist
    assert len(ds) == len(x)
    got = ds.with_format("numpy")
    images = np.stack([got[i]["image"] for i in range(0, len(x), 7)])
    assert np.array_equal(images, x[::7])
    assert np.array_equal(np.asarray(ds["label"]), y.astype(np.int64))


def test_back_to_idx_is_the_source(
    mnist_images: Path, mnist_labels: Path, mnist: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    out = tmp_path / "hub"
    idxtool.convert([mnist_images, mnist_labels], to="parquet", out=out)
    assert len(list((out / "data").iterdir())) == 1  # 7.8 MB of pixels: one shard by default
    # several row groups: records were encoded and written a chunk at a time
    assert pq.ParquetFile(next((out / "data").iterdir())).num_row_groups > 1
    code, output = run("convert", str(out), "--to", "idx", "-o", str(tmp_path / "back"))
    assert code == 0, output
    assert np.array_equal(idxtool.read(tmp_path / "back" / "train-images-idx3-ubyte"), mnist[0])
    assert np.array_equal(idxtool.read(tmp_path / "back" / "train-labels-idx1-ubyte"), mnist[1])


def test_shard_size_sets_the_file_count(mnist: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    x, y = mnist
    options = WriteOptions(shard_bytes=784 * 2500)  # 2,500 records' pixels a shard
    idxtool.convert(
        {"train": (x[:6000], y[:6000]), "test": (x[6000:], y[6000:])}, to="parquet", out=tmp_path / "h", options=options
    )
    files = sorted(p.name for p in (tmp_path / "h" / "data").iterdir())
    assert files == [f"test-0000{i}-of-00002.parquet" for i in range(2)] + [
        f"train-0000{i}-of-00003.parquet" for i in range(3)
    ]
    assert [pq.ParquetFile(tmp_path / "h" / "data" / f).metadata.num_rows for f in files] == [2000] * 2 + [2000] * 3
    configs = card(tmp_path / "h")["configs"][0]["data_files"]
    assert {c["split"] for c in configs} == {"train", "test"}
    # replacing with fewer shards leaves no stale shard behind
    idxtool.convert((x[:100], y[:100]), to="parquet", out=tmp_path / "h", force=True)
    assert sorted(p.name for p in (tmp_path / "h" / "data").iterdir()) == ["train-00000-of-00001.parquet"]


def test_qmnist_extended_labels_are_named_columns(
    mnist: tuple[np.ndarray, np.ndarray], qmnist_int_labels: Path, tmp_path: Path
) -> None:
    import datasets

    x = mnist[0][:500]
    y = idxtool.read(qmnist_int_labels)[:500]
    idxtool.convert((x, y), to="parquet", out=tmp_path / "q", dataset="qmnist")
    table = pq.read_table(next((tmp_path / "q" / "data").iterdir()))
    fields = [
        "hsf_series",
        "writer_id",
        "writer_digit_index",
        "nist_class_code",
        "nist_digit_index",
        "duplicate",
        "unused",
    ]
    assert table.column_names == ["image", "label", *fields]
    assert np.array_equal(table.column("label").to_numpy(), y[:, 0])
    assert np.array_equal(table.column("writer_id").to_numpy(), y[:, 2])
    ds = datasets.load_dataset(str(tmp_path / "q"), split="train")
    assert ds.features["writer_id"] == datasets.Value("int64")
    splits = formats.get("parquet").read([tmp_path / "q"], formats.ReadOptions())
    part = splits.parts["train"]
    assert part.labels is not None and part.labels.dtype == np.int32
    assert np.array_equal(part.labels, y) and np.array_equal(part.images, x)
    assert splits.info.label_fields == ("class", *fields)


def test_class_names_offset_and_orientation(tmp_path: Path) -> None:
    """EMNIST letters: labels 1..26 become class indices 0..25 named a..z; images upright, restored on read."""
    import datasets

    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (60, 28, 28), dtype=np.uint8)
    y = rng.integers(1, 27, 60).astype(np.uint8)
    idxtool.convert((x, y), to="parquet", out=tmp_path / "l", dataset="emnist-letters")
    ds = datasets.load_dataset(str(tmp_path / "l"), split="train").with_format("numpy")
    names = ds.features["label"].names
    assert len(names) == 26
    assert np.array_equal(ds["label"], y.astype(np.int64) - 1)
    assert np.array_equal(ds[5]["image"], x[5].T)  # written upright, as export-png does for EMNIST
    idxtool.convert(tmp_path / "l", to="idx", out=tmp_path / "back")
    assert np.array_equal(idxtool.read(tmp_path / "back" / "train-images-idx3-ubyte"), x)
    assert np.array_equal(idxtool.read(tmp_path / "back" / "train-labels-idx1-ubyte"), y)


def test_images_png_cannot_hold_are_refused(tmp_path: Path) -> None:
    x = np.zeros((3, 4, 4), np.float32)
    with pytest.raises(idxtool.IdxError, match="8-bit grayscale PNG"):
        idxtool.convert((x, np.zeros(3, np.uint8)), to="parquet", out=tmp_path / "f")
    assert not (tmp_path / "f").exists()


def test_a_parquet_file_datasets_wrote_reads_back(mnist: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    """Not only idxtool's own files: ``Dataset.to_parquet`` of Pillow images (Pillow's PNG encoder)."""
    import datasets
    from PIL import Image

    x, y = mnist[0][:200], mnist[1][:200]
    features = datasets.Features(
        {"image": datasets.Image(), "label": datasets.ClassLabel(names=[str(i) for i in range(10)])}
    )
    ds = datasets.Dataset.from_dict({"image": [Image.fromarray(a) for a in x], "label": y.tolist()}, features=features)
    ds.to_parquet(str(tmp_path / "digits.parquet"))
    code, output = run("convert", str(tmp_path / "digits.parquet"), "--to", "idx", "-o", str(tmp_path / "back"))
    assert code == 0, output
    assert np.array_equal(idxtool.read(tmp_path / "back" / "digits-images-idx3-ubyte"), x)
    assert np.array_equal(idxtool.read(tmp_path / "back" / "digits-labels-idx1-ubyte"), y)
