"""``idxtool convert``: exit codes, exact error lines, --force, JSON, dataset names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

import idxtool
from idxtool.cli import main


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_pair_to_npz_and_back(mnist_images: Path, mnist_labels: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.npz"
    code, stdout, err = run("convert", str(mnist_images), str(mnist_labels), "--to", "npz", "-o", str(out))
    assert (code, stdout) == (0, ""), err
    assert err == f"Wrote {out}\n"
    code, stdout, _ = run("convert", str(out), "--to", "idx", "-o", str(tmp_path / "idx"), "--json")
    doc = json.loads(stdout)
    assert code == 0 and doc["records"] == {"": 10000} and doc["from"] == "npz"
    assert np.array_equal(idxtool.read(doc["outputs"][0]), idxtool.read(mnist_images))


def test_existing_output_needs_force(mnist_images: Path, mnist_labels: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.csv"
    out.write_text("mine")
    args = ["convert", str(mnist_images), str(mnist_labels), "--to", "csv", "-o", str(out)]
    assert run(*args) == (2, "", f"Error: {out}: already exists (pass --force to overwrite it)\n")
    assert out.read_text() == "mine"
    code, _, _ = run(*args, "--force", "--header", "pixel1")
    assert code == 0 and out.read_text().startswith("label,pixel1,")


def test_data_errors_exit_1(mnist_images: Path, mnist_labels: Path, qmnist_int_labels: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "x.npz")
    code, _, err = run("convert", str(mnist_images), str(qmnist_int_labels), "--to", "npz", "-o", out)
    assert (code, err) == (
        1,
        f"Error: {mnist_images} has 10,000 records but {qmnist_int_labels} has 60,000 labels; "
        "give the labels file that belongs to these images\n",
    )
    code, _, err = run("convert", str(mnist_labels), "--to", "npz", "-o", out)
    assert (code, err) == (
        1,
        f"Error: {mnist_labels}: is 1-dimensional (10,000 values), which is a labels file, "
        "not images; give the images file first\n",
    )
    bad = tmp_path / "bad-images.idx"
    bad.write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 12 + b"\x01")
    code, _, err = run("convert", str(bad), "--to", "npz", "-o", out)
    assert code == 1 and err.startswith(f"Error: {bad}: body is longer than the header says")
    assert not any(p.name.endswith(".npz") for p in tmp_path.iterdir())


def test_usage_errors_exit_2(mnist_images: Path, mnist_labels: Path, tmp_path: Path) -> None:
    code, _, err = run("convert", str(mnist_images), "--to", "hdf5", "-o", str(tmp_path / "x"))
    assert code == 2 and "Invalid value for '--to': 'hdf5' is not one of" in err
    code, _, err = run("convert", str(tmp_path / "missing.gz"), "--to", "npz", "-o", str(tmp_path / "x"))
    assert (code, err) == (2, f"Error: {tmp_path / 'missing.gz'}: no such file or registered dataset\n")
    code, _, err = run("convert", "mnsit", "--to", "npz", "-o", str(tmp_path / "x"))
    assert code == 2 and err == "Error: mnsit: no such file or registered dataset; did you mean mnist?\n"
    code, _, err = run(
        "convert", str(mnist_images), str(mnist_labels), "--to", "png", "--names", "-o", str(tmp_path / "p")
    )
    assert (code, err) == (2, "Error: --names needs class names: give a dataset name, or --dataset NAME for files\n")
    assert not (tmp_path / "p").exists()


def test_dataset_name_to_keras_npz_and_png(tmp_path: Path) -> None:
    code, _, err = run("convert", "mnist-sample", "--to", "npz", "-o", str(tmp_path / "s.npz"))
    assert code == 0, err
    with np.load(tmp_path / "s.npz") as z:
        assert z.files == ["x_test", "y_test"]
    code, _, err = run("convert", "mnist-sample", "--to", "png", "-o", str(tmp_path / "png"))
    assert code == 0, err
    assert len(list((tmp_path / "png" / "test").glob("*/*.png"))) == 100
    code, _, _ = run("convert", str(tmp_path / "png"), "--to", "npz", "-o", str(tmp_path / "back.npz"))
    with np.load(tmp_path / "back.npz") as a, np.load(tmp_path / "s.npz") as b:
        assert np.array_equal(a["x_test"], b["x_test"]) and np.array_equal(a["y_test"], b["y_test"])


def test_fashion_labels_do_not_fit_emnist_letters(mnist_images: Path, tmp_path: Path, shared: Path) -> None:
    labels = shared / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz"
    code, _, err = run(
        "convert",
        str(mnist_images),
        str(labels),
        "--dataset",
        "emnist-letters",
        "--to",
        "npz",
        "-o",
        str(tmp_path / "x.npz"),
    )
    first_zero = int(np.flatnonzero(idxtool.read(labels) == 0)[0])
    assert (code, err) == (
        1,
        f"Error: {labels}: label 0 at record {first_zero:,} does not fit the 26 classes of "
        "emnist-letters (labels 1..26)\n",
    )


def test_tutorial_pickle_to_idx_gives_the_original_files(
    mnist_images: Path, mnist_labels: Path, tmp_path: Path
) -> None:
    import gzip
    import pickle

    x, y = idxtool.read(mnist_images)[:3000], idxtool.read(mnist_labels)[:3000]
    flat = x.reshape(len(x), -1).astype(np.float32) / np.float32(256)  # what mnist.pkl.gz stores
    data = ((flat[:2000], y[:2000].astype(np.int64)), (flat[2000:2500], y[2000:2500].astype(np.int64)))
    data += ((flat[2500:], y[2500:].astype(np.int64)),)
    src = tmp_path / "mnist.pkl.gz"
    with gzip.open(src, "wb", compresslevel=1) as f:
        pickle.dump(data, f, protocol=2)
    code, _, err = run("convert", str(src), "--to", "idx", "-o", str(tmp_path / "idx"))
    assert code == 0, err
    idxtool.write(tmp_path / "ref", x[2500:])
    assert (tmp_path / "idx" / "test-images-idx3-ubyte").read_bytes() == (tmp_path / "ref").read_bytes()
    assert idxtool.read(tmp_path / "idx" / "train-images-idx3-ubyte").dtype == np.uint8
    # and forward again: the same floats, value for value
    code, _, err = run("convert", str(tmp_path / "idx"), "--to", "pkl", "-o", str(tmp_path / "again.pkl.gz"))
    assert code == 0, err
    with gzip.open(tmp_path / "again.pkl.gz") as f:
        again = pickle.load(f, encoding="latin1")
    # the IDX folder has train, valid and test: they are taken as they are (no --val cut)
    for (ax, ay), (ex, ey) in zip(again, data, strict=True):
        assert ax.dtype == ex.dtype and ay.dtype == ey.dtype
        assert np.array_equal(ax, ex) and np.array_equal(ay, ey)
