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


def test_load_options_as_the_classic_load_mnist(tmp_path: Path) -> None:
    """normalize, flatten and one_hot as load_mnist(normalize, flatten, one_hot_label), each alone and together."""
    ((raw_x, raw_y),) = idxtool.load("mnist-sample", tmp_path)
    assert (raw_x.dtype, raw_x.shape, raw_y.dtype, raw_y.shape) == (np.uint8, (100, 28, 28), np.uint8, (100,))

    ((x, y),) = idxtool.load("mnist-sample", tmp_path, normalize=True)
    assert x.dtype == np.float32 and x.shape == (100, 28, 28) and np.array_equal(y, raw_y)
    assert np.array_equal(x, raw_x.astype(np.float32) / np.float32(255))
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0

    ((x, _),) = idxtool.load("mnist-sample", tmp_path, flatten=True)
    assert x.dtype == np.uint8 and x.shape == (100, 784)
    assert np.array_equal(x[17], raw_x[17].reshape(-1))  # row-major: row 0's pixels first

    ((x, y),) = idxtool.load("mnist-sample", tmp_path, one_hot=True)
    assert x is not None and np.array_equal(x, raw_x)
    assert y is not None and y.shape == (100, 10) and y.dtype == np.float32
    assert np.array_equal(y.argmax(axis=1), raw_y) and np.array_equal(y.sum(axis=1), np.ones(100))

    x, y = idxtool.load("mnist-sample:test[10:20]", tmp_path, normalize=True, flatten=True, one_hot=True)
    assert x is not None and y is not None
    assert x.shape == (10, 784) and np.array_equal(x, raw_x[10:20].reshape(10, -1) / np.float32(255))
    assert np.array_equal(y.argmax(axis=1), raw_y[10:20])


def _run_on_a_terminal(code: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Run ``code`` with stderr on a pseudo-terminal (stdout a pipe); returns (exit code, stdout, terminal)."""
    import os
    import pty
    import subprocess
    import sys

    main, secondary = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=secondary, env=env)
    os.close(secondary)
    seen = b""
    while True:
        try:
            block = os.read(main, 4096)
        except OSError:
            break
        if not block:
            break
        seen += block
    out = proc.stdout.read().decode() if proc.stdout else ""
    os.close(main)
    return proc.wait(timeout=60), out, seen.decode(errors="replace")


def test_load_shows_progress_on_a_terminal_and_nothing_otherwise(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    code = "import idxtool; print(idxtool.load('mnist-sample')[0][0].shape)"
    env = {**os.environ, "IDXTOOL_HOME": str(tmp_path / "a")}
    status, out, terminal = _run_on_a_terminal(code, env)
    assert status == 0 and out.strip() == "(100, 28, 28)"
    assert "idxtool: fetching 2 files" in terminal and "(100%)" in terminal and terminal.endswith("\n")
    # Not a terminal: nothing on stderr.
    env["IDXTOOL_HOME"] = str(tmp_path / "b")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0 and proc.stderr == ""
    # Cached already: nothing to fetch, nothing drawn.
    status, _, terminal = _run_on_a_terminal(code, {**env, "IDXTOOL_HOME": str(tmp_path / "a")})
    assert status == 0 and "fetching" not in terminal
