"""``idxtool split``: files, determinism, dataset names, errors through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from idxtool.cli import main


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_split_real_pair_is_deterministic(mnist_images: Path, mnist_labels: Path, tmp_path: Path) -> None:
    args = ["split", str(mnist_images), str(mnist_labels), "--sizes", "9000,1000", "--seed", "4"]
    code, stdout, err = run(*args, "-o", str(tmp_path / "a"), "--json")
    assert code == 0, err
    doc = json.loads(stdout)
    assert doc["counts"] == {"train": 9000, "val": 1000}
    assert run(*args, "-o", str(tmp_path / "b"))[0] == 0
    for name in [Path(f).name for f in doc["files"]]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_dataset_name_splits_its_only_split(tmp_path: Path) -> None:
    code, _, err = run("split", "mnist-sample", "--ratio", "0.8", "--names", "fit,check", "-o", str(tmp_path))
    assert code == 0, err
    assert err == "fit: 80 records\ncheck: 20 records\n"
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [
        "check-images-idx3-ubyte.gz",
        "check-labels-idx1-ubyte.gz",
        "fit-images-idx3-ubyte.gz",
        "fit-labels-idx1-ubyte.gz",
        "idxtool-home",
    ]


def test_errors(mnist_images: Path, mnist_labels: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "o")
    code, _, err = run("split", str(mnist_images), str(mnist_labels), "--sizes", "50000,10000", "-o", out)
    assert (code, err) == (2, "Error: --sizes 50000,10000 add up to 60,000, but the input has 10,000 records\n")
    code, _, err = run("split", str(mnist_images), str(mnist_labels), "--sizes", "a,b", "-o", out)
    assert code == 2 and "expected comma-separated counts" in err
    code, _, err = run("split", str(mnist_images), str(mnist_images), "--ratio", "0.5", "-o", out)
    assert (code, err) == (
        1,
        f"Error: {mnist_images}: is 10000 x 28 x 28, which looks like images, not labels "
        "(labels are 1- or 2-dimensional)\n",
    )
    assert not Path(out).exists()
    assert run("split", "mnist-sample", "--ratio", "0.5", "-o", out)[0] == 0
    code, _, err = run("split", "mnist-sample", "--ratio", "0.5", "-o", out)
    assert code == 2 and err.endswith("already exists (pass --force to overwrite it)\n")
