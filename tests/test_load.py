"""idxtool.load: arrays split by split, fetched first when missing."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from http_server import serve

import idxtool


def test_load_the_sample(isolated_home: Path) -> None:
    loaded = idxtool.load("mnist-sample")
    ((x_test, y_test),) = loaded
    assert (x_test.shape, x_test.dtype, y_test.shape, y_test.dtype) == ((100, 28, 28), np.uint8, (100,), np.uint8)
    assert np.bincount(y_test).tolist() == [10] * 10
    assert loaded.splits == ("test",) and loaded["test"][0] is x_test
    with pytest.raises(KeyError, match="no split 'train'"):
        loaded["train"]
    assert (isolated_home / "mnist-sample" / "sample-images-idx3-ubyte.gz").is_file()


def test_load_into_a_chosen_folder(tmp_path: Path) -> None:
    ((x, _),) = idxtool.load("mnist-sample", tmp_path / "data")
    assert x.shape == (100, 28, 28) and (tmp_path / "data" / "mnist-sample").is_dir()


def test_load_train_and_test_in_order_with_extended_labels(
    shared: Path, tmp_path: Path, fast_network: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real files over HTTP: train = MNIST test images and labels; test = QMNIST's 60000 x 8 label table alone."""
    served = tmp_path / "served"
    served.mkdir()
    files = {
        "images.gz": ("train", "images", shared / "mnist" / "t10k-images-idx3-ubyte.gz"),
        "labels.gz": ("train", "labels", shared / "mnist" / "t10k-labels-idx1-ubyte.gz"),
        "test-labels.gz": ("test", "labels", shared / "qmnist" / "qmnist-test-labels-idx2-int.gz"),
    }
    text = 'name = "pair"\nurls = ["URL"]\nlabel_column = 0\n'
    for name, (split, kind, source) in files.items():
        shutil.copy(source, served / name)
        text += (
            f'[[files]]\nname = "{name}"\nsplit = "{split}"\nkind = "{kind}"\n'
            f'sha256 = "{hashlib.sha256(source.read_bytes()).hexdigest()}"\n'
        )
    for srv in serve(served):
        (tmp_path / "pair.toml").write_text(text.replace("URL", srv.url))
        monkeypatch.setenv("IDXTOOL_REGISTRY", str(tmp_path / "pair.toml"))
        (x_train, y_train), (x_test, y_test) = idxtool.load("pair")
        assert (x_train.shape, y_train.shape, x_test) == ((10000, 28, 28), (10000,), None)
        assert np.array_equal(y_train, idxtool.read(shared / "mnist" / "t10k-labels-idx1-ubyte.gz"))
        # The class column of QMNIST's extended table is exactly its class-only labels file.
        assert y_test.dtype == np.int32 and y_test.shape == (60000,) and y_test.flags.c_contiguous
        assert np.array_equal(y_test, idxtool.read(shared / "qmnist" / "qmnist-test-labels-idx1-ubyte.gz"))
        requests = len(srv.requests)
        idxtool.load("pair")
        assert len(srv.requests) == requests  # cached and verified: no network
