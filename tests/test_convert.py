"""convert: IDX -> every format -> IDX gives the same arrays; sources and errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

import idxtool
from idxtool.conversion import convert
from idxtool.errors import DataError, OutputExistsError, UsageError
from idxtool.formats import WriteOptions, detect
from idxtool.loading import read_splits


@pytest.fixture
def pair(mnist_images: Path, mnist_labels: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The first 600 real MNIST test records as a gzip IDX pair."""
    (tmp_path / "src").mkdir(exist_ok=True)
    images = idxtool.write(tmp_path / "src" / "images-idx3-ubyte.gz", idxtool.read(mnist_images)[:600])
    labels = idxtool.write(tmp_path / "src" / "labels-idx1-ubyte.gz", idxtool.read(mnist_labels)[:600])
    return images, labels


OUTPUTS = {"npz": "a.npz", "npy": "npy", "csv": "a.csv", "png": "png", "idx": "idx"}


@pytest.mark.parametrize("to", list(OUTPUTS))
def test_round_trip_is_bit_exact(pair: tuple[Path, Path], tmp_path: Path, to: str) -> None:
    out = tmp_path / OUTPUTS[to]
    convert([str(p) for p in pair], to=to, out=out)
    back = convert([str(out)], to="idx", out=tmp_path / "back")
    assert [p.name for p in back.outputs] == ["images-idx3-ubyte", "labels-idx1-ubyte"]
    x, y = (idxtool.read(p) for p in back.outputs)
    assert x.dtype == np.uint8 and y.dtype == np.uint8
    assert np.array_equal(x, idxtool.read(pair[0])) and np.array_equal(y, idxtool.read(pair[1]))


def test_detects_formats(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    convert([str(pair[0]), str(pair[1])], to="npy", out=tmp_path / "n")
    convert([str(pair[0]), str(pair[1])], to="csv", out=tmp_path / "c.csv.gz")
    assert [detect(p).name for p in (pair[0], tmp_path / "n", tmp_path / "n" / "x.npy", tmp_path / "c.csv.gz")] == [
        "idx",
        "npy",
        "npy",
        "csv",
    ]


def test_idx_content_is_idx_whatever_the_name(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    """IDX magic, compressed or not, decides before any suffix: an IDX file named x.npy is IDX."""
    (tmp_path / "x.npy").write_bytes(gzip.decompress(pair[0].read_bytes()))  # raw IDX
    (tmp_path / "y.csv.gz").write_bytes(pair[1].read_bytes())  # gzip IDX
    assert detect(tmp_path / "x.npy").name == "idx" and detect(tmp_path / "y.csv.gz").name == "idx"
    back = convert([str(tmp_path / "x.npy"), str(tmp_path / "y.csv.gz")], to="npz", out=tmp_path / "o.npz")
    assert back.records == {"": 600} and back.source_format == "idx"
    (tmp_path / "z.npy").write_bytes(b"\x00\x00\x07\x01")  # an unknown type code: not IDX
    assert detect(tmp_path / "z.npy").name == "npy"


def test_idx_output_compression_and_names(pair: tuple[Path, Path], tmp_path: Path) -> None:
    out = convert(
        [str(pair[0]), str(pair[1])], to="idx", out=tmp_path / "o", options=WriteOptions(compression="xz")
    ).outputs
    assert [p.name for p in out] == ["images-idx3-ubyte.xz", "labels-idx1-ubyte.xz"]
    assert idxtool.open_idx(out[0]).compression == "xz"


def test_dataset_name_gives_keras_layout_and_csv_folder(tmp_path: Path) -> None:
    result = convert(["mnist-sample"], to="npz", out=tmp_path / "s.npz")
    with np.load(result.outputs[0]) as z:
        assert z.files == ["x_test", "y_test"] and z["x_test"].shape == (100, 28, 28)
    csvs = convert(["mnist-sample"], to="csv", out=tmp_path / "csv").outputs
    assert [p.name for p in csvs] == ["test.csv"]
    back = convert([str(tmp_path / "csv")], to="idx", out=tmp_path / "idx").outputs
    assert [p.name for p in back] == ["test-images-idx3-ubyte", "test-labels-idx1-ubyte"]


def test_emnist_orientation_round_trips_with_transpose(pair: tuple[Path, Path], tmp_path: Path) -> None:
    convert([str(pair[0]), str(pair[1])], to="png", out=tmp_path / "png", transpose=True)
    back = convert([str(tmp_path / "png")], to="idx", out=tmp_path / "back", transpose=True).outputs
    assert np.array_equal(idxtool.read(back[0]), idxtool.read(pair[0]))


def test_errors(pair: tuple[Path, Path], tmp_path: Path, mnist_labels: Path) -> None:
    images, labels = (str(p) for p in pair)
    with pytest.raises(DataError, match="has 600 records but .* has 10,000 labels"):
        read_splits([images, str(mnist_labels)])
    with pytest.raises(DataError, match="is 1-dimensional \\(600 values\\), which is a labels file, not images"):
        read_splits([labels])
    convert([images, labels], to="npz", out=tmp_path / "a.npz")
    with pytest.raises(UsageError, match="a npz input is read alone; got 2 inputs"):
        read_splits([str(tmp_path / "a.npz"), labels])
    (tmp_path / "taken.npz").write_bytes(b"keep")
    with pytest.raises(OutputExistsError, match="taken.npz: already exists$"):
        convert([images, labels], to="npz", out=tmp_path / "taken.npz")
    assert (tmp_path / "taken.npz").read_bytes() == b"keep"
    convert([images, labels], to="npz", out=tmp_path / "taken.npz", force=True)
    assert (tmp_path / "taken.npz").read_bytes() != b"keep"


def test_failure_halfway_leaves_nothing(
    pair: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from idxtool.formats import csv

    def boom(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(csv, "format_rows", boom)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(OSError, match="No space left"):
        convert([str(p) for p in pair], to="csv", out=out / "a.csv")
    with pytest.raises(OSError, match="No space left"):
        convert(["mnist-sample"], to="csv", out=out / "split-csv")
    assert list(out.iterdir()) == []


# -- streaming: no writer but png/pkl-from-arrays reads the images whole (issue 11) -------------


@pytest.mark.parametrize(("to", "compression"), [("npz", None), ("npy", None), ("csv", None), ("idx", "gzip")])
def test_streamed_input_stays_streamed_and_converts_exactly(
    mnist_images: Path, mnist_labels: Path, tmp_path: Path, to: str, compression: str | None
) -> None:
    from idxtool.formats import get
    from idxtool.loading import read_part
    from idxtool.model import SplitFiles, Splits

    x = np.tile(idxtool.read(mnist_images), (2, 1, 1))  # 20,000 records: several 4 MiB chunks
    y = np.tile(idxtool.read(mnist_labels), 2)
    (tmp_path / "src").mkdir(exist_ok=True)
    images = idxtool.write(tmp_path / "src" / "images-idx3-ubyte", x)
    labels = idxtool.write(tmp_path / "src" / "labels-idx1-ubyte", y)
    part = read_part(SplitFiles(images, labels))
    splits = Splits({"": part})
    out = tmp_path / OUTPUTS[to]
    from idxtool.conversion import write

    write(splits, get(to), out, WriteOptions(compression=compression))  # type: ignore[arg-type]
    assert part.streamed, f"{to}: the writer read all images into memory"
    back = convert([str(out)], to="idx", out=tmp_path / "back")
    assert np.array_equal(idxtool.read(back.outputs[0]), x) and np.array_equal(idxtool.read(back.outputs[1]), y)
    if to == "idx":
        assert [p.name for p in back.outputs] == ["images-idx3-ubyte", "labels-idx1-ubyte"]
        assert out.joinpath("images-idx3-ubyte.gz").exists()
