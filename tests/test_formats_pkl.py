"""pkl: the mnist.pkl.gz tutorial layout, read back safely."""

from __future__ import annotations

import gzip
import os
import pickle
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
    assert tx.min() >= 0.0 and tx.max() <= 1.0
    x = dataset.parts["train"].images
    assert np.array_equal(np.rint(vx * 255).astype(np.uint8), x[70:].reshape(30, -1))
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
