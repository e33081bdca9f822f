"""split: stratified, seeded, byte-deterministic, lossless; sizes, names, per-class, errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import idxtool
from idxtool.errors import DataError, OutputExistsError, ParameterError, UsageError
from idxtool.model import SplitFiles
from idxtool.splitting import apportion, assign, split


@pytest.fixture
def pair(mnist_images: Path, mnist_labels: Path, tmp_path: Path) -> SplitFiles:
    """2,000 real MNIST test records as a gzip IDX pair."""
    (tmp_path / "in").mkdir(exist_ok=True)
    images = idxtool.write(tmp_path / "in" / "t-images-idx3-ubyte.gz", idxtool.read(mnist_images)[:2000])
    labels = idxtool.write(tmp_path / "in" / "t-labels-idx1-ubyte.gz", idxtool.read(mnist_labels)[:2000])
    return SplitFiles(images, labels)


def records(images: np.ndarray, labels: np.ndarray) -> list[str]:
    return sorted(hashlib.sha1(x.tobytes() + y.tobytes()).hexdigest() for x, y in zip(images, labels, strict=False))


@given(st.lists(st.integers(0, 500), min_size=1, max_size=12), st.lists(st.integers(1, 50), min_size=2, max_size=4))
@settings(max_examples=200, deadline=None)
def test_apportion_has_exact_margins_and_fair_shares(counts: list[int], weights: list[int]) -> None:
    total = sum(counts)
    if total < len(weights):
        return
    sizes = [max(1, total * w // sum(weights)) for w in weights[:-1]]
    sizes.append(total - sum(sizes))
    if sizes[-1] < 1:
        return
    table = apportion(np.array(counts), sizes)
    assert table.min() >= 0
    assert table.sum(axis=1).tolist() == counts and table.sum(axis=0).tolist() == sizes
    assert np.all(np.abs(table[:, 0] - np.array(counts) * sizes[0] / total) < 1)


def test_ratio_split_is_stratified_lossless_and_ordered(pair: SplitFiles, tmp_path: Path) -> None:
    result = split(pair, tmp_path / "out", ratio=0.9)
    assert result.counts == {"train": 1800, "val": 200}
    names = sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith("."))
    assert names == [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "val-images-idx3-ubyte.gz",
        "val-labels-idx1-ubyte.gz",
    ]
    x, y = idxtool.read(pair.images), idxtool.read(pair.labels)
    tx, ty = idxtool.read(tmp_path / "out" / names[0]), idxtool.read(tmp_path / "out" / names[1])
    vx, vy = idxtool.read(tmp_path / "out" / names[2]), idxtool.read(tmp_path / "out" / names[3])
    assert records(np.concatenate([tx, vx]), np.concatenate([ty, vy])) == records(x, y)
    full, val = np.bincount(y, minlength=10), np.bincount(vy, minlength=10)
    assert np.all(np.abs(val - full * 0.1) < 1)  # every class in proportion, to the record
    positions = {hashlib.sha1(r.tobytes()).hexdigest(): i for i, r in enumerate(x)}
    order = [positions[hashlib.sha1(r.tobytes()).hexdigest()] for r in vx]
    assert order == sorted(order)  # source order kept within a part
    assert idxtool.open_idx(tmp_path / "out" / names[0]).compression == "gzip"


def test_same_seed_same_bytes_other_seed_other_bytes(pair: SplitFiles, tmp_path: Path) -> None:
    def digest(out: Path) -> list[bytes]:
        return [p.read_bytes() for p in sorted(out.iterdir())]

    split(pair, tmp_path / "a", ratio=0.8, seed=7)
    split(pair, tmp_path / "b", ratio=0.8, seed=7)
    split(pair, tmp_path / "c", ratio=0.8, seed=8)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")


def test_sizes_names_and_types_are_kept(qmnist_int_labels: Path, tmp_path: Path) -> None:
    labels = idxtool.read(qmnist_int_labels)[:300]
    images = np.arange(300 * 4, dtype=np.int16).reshape(300, 2, 2)
    src = SplitFiles(idxtool.write(tmp_path / "i.idx", images), idxtool.write(tmp_path / "l.idx.xz", labels))
    result = split(src, tmp_path / "o", sizes=[200, 60, 40], names=["a", "b", "c"])
    assert result.counts == {"a": 200, "b": 60, "c": 40}
    b_images = idxtool.read(tmp_path / "o" / "b-images-idx3-short")
    b_labels = idxtool.read(tmp_path / "o" / "b-labels-idx2-int")
    assert b_images.dtype == np.int16 and b_labels.dtype == np.int32 and b_labels.shape == (60, 8)
    positions = (b_images[:, 0, 0] // 4).astype(int)
    assert np.array_equal(b_labels, labels[positions])  # each image keeps its own label row


def test_unstratified_and_unlabelled(pair: SplitFiles, tmp_path: Path) -> None:
    labels = idxtool.read(pair.labels)
    a, b = assign(labels, [1000, 1000], 0, stratify=True), assign(labels, [1000, 1000], 0, stratify=False)
    assert not np.array_equal(a, b)
    result = split(SplitFiles(pair.images), tmp_path / "o", ratio=0.5)
    assert result.counts == {"train": 1000, "val": 1000}
    assert sorted(p.name for p in (tmp_path / "o").iterdir() if not p.name.startswith(".")) == [
        "train-images-idx3-ubyte.gz",
        "val-images-idx3-ubyte.gz",
    ]


def test_per_class_subset(pair: SplitFiles, tmp_path: Path) -> None:
    result = split(pair, tmp_path / "o", per_class=8)
    assert result.counts == {"subset": 80, "rest": 1920}
    y = idxtool.read(tmp_path / "o" / "subset-labels-idx1-ubyte.gz")
    assert np.bincount(y).tolist() == [8] * 10
    with pytest.raises(DataError, match="class 5 has 2 records, fewer than per_class=3"):
        src = SplitFiles(
            idxtool.write(tmp_path / "x", np.zeros((8, 2, 2), np.uint8)),
            idxtool.write(tmp_path / "y", np.array([0, 0, 0, 5, 5, 1, 1, 1], np.uint8)),
        )
        split(src, tmp_path / "p", per_class=3)


def test_errors_leave_nothing(pair: SplitFiles, tmp_path: Path, mnist_labels: Path) -> None:
    out = tmp_path / "o"
    cases = [
        (dict(ratio=1.5), ParameterError, "ratio=1.5 must be between 0 and 1"),
        (dict(sizes=[1000, 900]), ValueError, "sizes=[1000, 900] add up to 1,900, but the input has 2,000 records"),
        (dict(sizes=[500, 500, 500, 500]), UsageError, "names=None must name the 4 parts"),
        (dict(ratio=0.5, names=["a", "a"]), UsageError, "names=['a', 'a'] repeats a name"),
        (dict(ratio=0.5, sizes=[1, 1]), UsageError, "ratio and sizes cannot be combined"),
        (dict(), UsageError, "give one of ratio, sizes or per_class"),
    ]
    for kwargs, error, message in cases:
        with pytest.raises(error, match=message.replace("(", r"\(").replace("[", r"\[")):
            split(pair, out, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="has 2,000 records but .* has 10,000 labels"):
        split(SplitFiles(pair.images, mnist_labels), out, ratio=0.5)
    with pytest.raises(DataError, match="which is a labels file, not images"):
        split(SplitFiles(pair.labels), out, ratio=0.5)
    assert not out.exists()


def test_existing_parts_need_force(pair: SplitFiles, tmp_path: Path) -> None:
    split(pair, tmp_path / "o", ratio=0.5)
    before = (tmp_path / "o" / "val-labels-idx1-ubyte.gz").read_bytes()
    with pytest.raises(OutputExistsError, match="train-images-idx3-ubyte.gz: already exists"):
        split(pair, tmp_path / "o", ratio=0.5, seed=3)
    assert (tmp_path / "o" / "val-labels-idx1-ubyte.gz").read_bytes() == before
    split(pair, tmp_path / "o", ratio=0.5, seed=3, force=True)
    assert (tmp_path / "o" / "val-labels-idx1-ubyte.gz").read_bytes() != before


def test_corrupt_input_halfway_leaves_nothing(pair: SplitFiles, tmp_path: Path) -> None:
    data = pair.images.read_bytes()
    truncated = tmp_path / "cut-images.gz"
    truncated.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(idxtool.InvalidIdxError, match="compressed stream is truncated"):
        split(SplitFiles(truncated, pair.labels), tmp_path / "o", ratio=0.5)
    assert not (tmp_path / "o").exists()


def test_split_holds_chunks_not_the_images(mnist_images: Path, mnist_labels: Path, tmp_path: Path) -> None:
    """30,000 records (23.5 MB raw): the parts are written chunk by chunk (issue 11)."""
    import tracemalloc

    x, y = np.tile(idxtool.read(mnist_images), (3, 1, 1)), np.tile(idxtool.read(mnist_labels), 3)
    (tmp_path / "in").mkdir(exist_ok=True)
    images = idxtool.write(tmp_path / "in" / "images-idx3-ubyte", x)
    labels = idxtool.write(tmp_path / "in" / "labels-idx1-ubyte", y)
    tracemalloc.start()
    try:
        result = split(SplitFiles(images, labels), tmp_path / "out", ratio=0.9, seed=3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < x.nbytes / 2, f"peak {peak:,} bytes for {x.nbytes:,} bytes of images"
    train = idxtool.read(tmp_path / "out" / "train-images-idx3-ubyte")
    val = idxtool.read(tmp_path / "out" / "val-images-idx3-ubyte")
    assert result.counts == {"train": 27000, "val": 3000}
    assert sorted(
        records(
            np.concatenate([train, val]),
            np.concatenate(
                [
                    idxtool.read(tmp_path / "out" / "train-labels-idx1-ubyte"),
                    idxtool.read(tmp_path / "out" / "val-labels-idx1-ubyte"),
                ]
            ),
        )
    ) == records(x, y)
