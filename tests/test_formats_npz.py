""".npz: x/y for a pair, Keras' x_train/y_train/x_test/y_test for splits, valid ZIP, deterministic."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from idxtool.errors import DataError
from idxtool.formats import npz
from idxtool.formats._zipwriter import ZipWriter
from idxtool.model import Part, Splits


@pytest.fixture
def pair(mnist_images: Path, mnist_labels: Path) -> Splits:
    import idxtool

    return Splits({"": Part(idxtool.read(mnist_images)[:1000], idxtool.read(mnist_labels)[:1000])})


@pytest.mark.parametrize("compress", [True, False])
def test_pair_round_trip_loads_with_numpy(pair: Splits, tmp_path: Path, compress: bool) -> None:
    out = npz.write(tmp_path / "a.npz", pair, compress=compress)
    with np.load(out) as z:
        assert z.files == ["x", "y"]
        assert z["x"].dtype == np.uint8 and np.array_equal(z["x"], pair.parts[""].images)
        assert np.array_equal(z["y"], pair.parts[""].labels)
    with zipfile.ZipFile(out) as zf:
        assert zf.testzip() is None
        kinds = {i.compress_type for i in zf.infolist()}
        assert kinds == ({zipfile.ZIP_DEFLATED} if compress else {zipfile.ZIP_STORED})
    back = npz.read(out).parts[""]
    assert np.array_equal(back.images, pair.parts[""].images) and np.array_equal(back.labels, pair.parts[""].labels)


def test_splits_use_keras_names_and_bytes_are_deterministic(pair: Splits, tmp_path: Path) -> None:
    p = pair.parts[""]
    coll = Splits({"train": Part(p.images[:800], p.labels[:800]), "test": Part(p.images[800:], p.labels[800:])})
    a, b = npz.write(tmp_path / "a.npz", coll), npz.write(tmp_path / "b.npz", coll)
    assert a.read_bytes() == b.read_bytes()
    with np.load(a) as z:
        assert z.files == ["x_train", "y_train", "x_test", "y_test"]
        (x_train, _y_train), (_x_test, y_test) = (z["x_train"], z["y_train"]), (z["x_test"], z["y_test"])
    assert x_train.shape == (800, 28, 28) and y_test.shape == (200,)
    assert list(npz.read(a).parts) == ["train", "test"]


def test_zip64_entries_read_back(tmp_path: Path) -> None:
    path = tmp_path / "z.zip"
    with open(path, "wb") as fh:
        z = ZipWriter(fh)
        z.open("big.bin", 2**32)  # the size hint alone switches to zip64 records
        z.write(b"abc" * 1000)
        z.close_entry()
        z.close()
    with zipfile.ZipFile(path) as zf:
        assert zf.read("big.bin") == b"abc" * 1000


def test_reads_numpy_positional_arrays_and_rejects_other_layouts(tmp_path: Path) -> None:
    np.savez(tmp_path / "pos.npz", np.zeros((3, 2, 2), np.uint8), np.arange(3, dtype=np.uint8))
    assert npz.read(tmp_path / "pos.npz").parts[""].labels.tolist() == [0, 1, 2]
    np.savez(tmp_path / "odd.npz", images=np.zeros((3, 2, 2)))
    with pytest.raises(DataError, match=r"odd.npz: has no x or x_<split> array \(it holds images\)"):
        npz.read(tmp_path / "odd.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="bad.npz: not a readable .npz file"):
        npz.read(tmp_path / "bad.npz")


# -- streaming (issue 11: bounded memory) ------------------------------------------------------


@pytest.fixture
def streamed_input(mnist_images: Path, mnist_labels: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The real MNIST test records 3 times (30,000, 23.5 MB) as a raw IDX pair on disk, read in chunks."""
    import idxtool

    (tmp_path / "src").mkdir(exist_ok=True)
    images = idxtool.write(tmp_path / "src" / "images-idx3-ubyte", np.tile(idxtool.read(mnist_images), (3, 1, 1)))
    labels = idxtool.write(tmp_path / "src" / "labels-idx1-ubyte", np.tile(idxtool.read(mnist_labels), 3))
    return images, labels


def streamed_part(images: Path, labels: Path) -> Part:
    from idxtool.loading import read_part
    from idxtool.model import SplitFiles

    part = read_part(SplitFiles(images, labels))
    assert part.streamed
    return part


@pytest.mark.parametrize("compress", [True, False])
def test_streamed_images_give_the_bytes_numpy_writes(
    streamed_input: tuple[Path, Path], tmp_path: Path, compress: bool
) -> None:
    import idxtool

    part = streamed_part(*streamed_input)
    out = npz.write(tmp_path / "s.npz", Splits({"train": part}), compress=compress)
    assert part.streamed, "the writer read the images whole instead of in chunks"
    x, y = idxtool.read(streamed_input[0]), idxtool.read(streamed_input[1])
    reference = tmp_path / "ref.npy"
    np.save(reference, x)
    with zipfile.ZipFile(out) as zf:
        assert zf.read("x_train.npy") == reference.read_bytes()
    with np.load(out) as z:
        assert np.array_equal(z["x_train"], x) and np.array_equal(z["y_train"], y)


def test_streamed_npy_folder_matches_numpy_save(streamed_input: tuple[Path, Path], tmp_path: Path) -> None:
    import idxtool
    from idxtool.formats import npy

    part = streamed_part(*streamed_input)
    (tmp_path / "out").mkdir()
    written = npy.write(tmp_path / "out", Splits({"": part}))
    assert part.streamed
    assert [p.name for p in written] == ["x.npy", "y.npy"]
    np.save(tmp_path / "ref.npy", idxtool.read(streamed_input[0]))
    assert written[0].read_bytes() == (tmp_path / "ref.npy").read_bytes()


def test_streamed_write_holds_chunks_not_the_array(streamed_input: tuple[Path, Path], tmp_path: Path) -> None:
    import tracemalloc

    part = streamed_part(*streamed_input)
    size = 30000 * 28 * 28
    tracemalloc.start()
    try:
        npz.write(tmp_path / "m.npz", Splits({"": part}), compress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < size / 2, f"peak {peak:,} bytes for a {size:,}-byte array"
