"""pkl: the mnist.pkl.gz tutorial layout, read back safely."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import pickletools
import warnings
from pathlib import Path

import numpy as np
import pytest

import idxtool
from idxtool.errors import DataError, UsageError
from idxtool.formats import pkl
from idxtool.model import Part, Splits


@pytest.fixture
def dataset() -> Splits:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (120, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, 120).astype(np.uint8)
    return Splits({"train": Part(x[:100], y[:100]), "test": Part(x[100:], y[100:])}, name="d")


def test_layout_matches_the_tutorial(dataset: Splits, tmp_path: Path) -> None:
    out = pkl.write(tmp_path / "mnist.pkl.gz", dataset, val=30)
    with gzip.open(out) as fh:
        (tx, ty), (vx, _vy), (sx, sy) = pickle.load(fh, encoding="latin1")
    assert (tx.shape, vx.shape, sx.shape) == ((70, 784), (30, 784), (20, 784))
    assert tx.dtype == np.float32 and ty.dtype == np.int64
    x = dataset.parts["train"].images
    # value for value what the real mnist.pkl.gz holds: float32 pixel/256, at most 0.99609375
    assert np.array_equal(vx, x[70:].reshape(30, -1).astype(np.float32) / np.float32(256))
    assert tx.max() == np.float32(255 / 256) == 0.99609375
    assert np.array_equal(sy, dataset.parts["test"].labels)


def test_reads_back_to_uint8_images(dataset: Splits, tmp_path: Path) -> None:
    back = pkl.read(pkl.write(tmp_path / "m.pkl", dataset, val=30))
    assert list(back.parts) == ["train", "valid", "test"]
    train = back.parts["train"]
    assert train.images.dtype == np.uint8 and train.images.shape == (70, 28, 28)
    assert np.array_equal(train.images, dataset.parts["train"].images[:70])
    assert train.labels.dtype == np.uint8


def test_needs_train_and_test(dataset: Splits, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="the pkl layout needs train and test splits"):
        pkl.write(tmp_path / "m.pkl", Splits({"": dataset.parts["test"]}, name="pair"))
    with pytest.raises(UsageError, match=r"val=100 must be between 1 and 99"):
        pkl.write(tmp_path / "m.pkl", dataset, val=100)
    assert not any(tmp_path.iterdir())
    assert isinstance(UsageError("x"), idxtool.IdxError)


class Boom:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, ("echo pwned",))


def test_never_runs_code_from_a_pickle(tmp_path: Path) -> None:
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(DataError, match="refusing to load posix.system"):
        pkl.read(evil)


# -- fidelity to the real mnist.pkl.gz (issue 9) and bounded memory (issue 11) ------------------


@pytest.fixture
def idx_folder(mnist_images: Path, mnist_labels: Path, tmp_path: Path) -> Path:
    """The real MNIST test set as an IDX folder: train = records 0-7,999, test = 8,000-9,999."""
    x, y = idxtool.read(mnist_images), idxtool.read(mnist_labels)
    folder = tmp_path / "idx"
    folder.mkdir()
    idxtool.write(folder / "train-images-idx3-ubyte", x[:8000])
    idxtool.write(folder / "train-labels-idx1-ubyte", y[:8000])
    idxtool.write(folder / "test-images-idx3-ubyte.gz", x[8000:])
    idxtool.write(folder / "test-labels-idx1-ubyte.gz", y[8000:])
    return folder


def test_convert_gives_the_tutorial_arrays_and_loads_as_the_tutorials_do(
    idx_folder: Path, mnist_images: Path, mnist_labels: Path, tmp_path: Path
) -> None:
    out = tmp_path / "mnist.pkl.gz"
    idxtool.convert(str(idx_folder), to="pkl", out=out, options=idxtool.formats.WriteOptions(val=1000))
    # exactly the deeplearning.net tutorials' loader (logistic_sgd.load_data, Python 3 branch)
    with gzip.open(out, "rb") as f, warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy 2 loads numpy.core.multiarray without a deprecation
        train_set, valid_set, test_set = pickle.load(f, encoding="latin1")
    with gzip.open(out, "rb") as f:
        pickletools.dis(f.read(), out=io.StringIO())  # a well-formed opcode stream, memo included
    x, y = idxtool.read(mnist_images), idxtool.read(mnist_labels)
    expected = [(x[:7000], y[:7000]), (x[7000:8000], y[7000:8000]), (x[8000:], y[8000:])]
    for (px, py), (ex, ey) in zip((train_set, valid_set, test_set), expected, strict=True):
        assert px.dtype == np.float32 and py.dtype == np.int64
        assert px.shape == (len(ex), 784) and py.shape == (len(ex),)
        assert np.array_equal(px * 256, ex.reshape(len(ex), -1)) and np.array_equal(py, ey)
    assert train_set[0].max() == 0.99609375
    # and by plain pickle.load, and by numpy's own pickling of the same arrays
    with gzip.open(out, "rb") as f:
        again = pickle.load(f)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(again, (train_set, valid_set, test_set), strict=True))
    ref = pickle.loads(pickle.dumps(train_set[0], protocol=2))
    assert np.array_equal(ref, train_set[0]) and ref.dtype == train_set[0].dtype


def write_tutorial_pickle(path: Path, x: np.ndarray, y: np.ndarray, scale: float) -> None:
    """A pickle as the tutorials have it, written by pickle itself (protocol 2, as from Python 2)."""
    flat = (x.reshape(len(x), -1).astype(np.float32) / np.float32(scale)).astype(np.float32)
    labels = y.astype(np.int64)
    data = ((flat[:600], labels[:600]), (flat[600:800], labels[600:800]), (flat[800:], labels[800:]))
    with gzip.open(path, "wb") as f:
        pickle.dump(data, f, protocol=2)


@pytest.mark.parametrize("scale", [256, 255])
def test_tutorial_pickle_converts_back_to_the_original_uint8_idx(
    mnist_images: Path, mnist_labels: Path, tmp_path: Path, scale: int
) -> None:
    x, y = idxtool.read(mnist_images)[:1000], idxtool.read(mnist_labels)[:1000]
    src = tmp_path / "mnist.pkl.gz"
    write_tutorial_pickle(src, x, y, scale)
    result = idxtool.convert(str(src), to="idx", out=tmp_path / "idx")
    names = sorted(p.name for p in result.outputs)
    assert "train-images-idx3-ubyte" in names and "valid-labels-idx1-ubyte" in names
    back = tmp_path / "idx"
    train = idxtool.read(back / "train-images-idx3-ubyte")
    assert train.dtype == np.uint8 and np.array_equal(train, x[:600])
    assert np.array_equal(idxtool.read(back / "test-images-idx3-ubyte"), x[800:])
    assert np.array_equal(idxtool.read(back / "valid-labels-idx1-ubyte"), y[600:800])
    # the bytes of an IDX file of the same records, as published
    idxtool.write(tmp_path / "ref-idx3-ubyte", x[:600])
    assert (back / "train-images-idx3-ubyte").read_bytes() == (tmp_path / "ref-idx3-ubyte").read_bytes()


def test_other_floats_stay_float_with_a_note(
    mnist_images: Path, mnist_labels: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    x, y = idxtool.read(mnist_images)[:1000], idxtool.read(mnist_labels)[:1000]
    src = tmp_path / "m.pkl.gz"
    write_tutorial_pickle(src, x, y, 300.0)  # neither k/256 nor k/255
    with caplog.at_level("WARNING", logger="idxtool"):
        back = pkl.read(src)
    assert back.parts["train"].images.dtype == np.float32
    assert back.parts["train"].images.shape == (600, 28, 28)
    assert "not k/256 nor k/255" in caplog.text and "m.pkl.gz[train]" in caplog.text


def test_pickle_is_written_from_chunks_not_whole_arrays(idx_folder: Path, tmp_path: Path) -> None:
    import tracemalloc

    from idxtool.formats import ReadOptions, get

    splits = get("idx").read([idx_folder], ReadOptions())
    assert all(p.streamed for p in splits.parts.values())
    floats = 10000 * 784 * 4
    tracemalloc.start()
    try:
        pkl.write(tmp_path / "m.pkl", splits, val=1000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert all(p.streamed for p in splits.parts.values())
    assert peak < floats / 2, f"peak {peak:,} bytes for {floats:,} bytes of float32"
    with open(tmp_path / "m.pkl", "rb") as f:
        (tx, _), _, (sx, _) = pickle.load(f, encoding="latin1")
    assert tx.shape == (7000, 784) and sx.shape == (2000, 784)
