"""``idxtool export-png``: trees, names, grids, errors and --force through the CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from PIL import Image

import idxtool
from idxtool.cli import main


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_real_pair_per_class_like_mnist160(mnist_images: Path, mnist_labels: Path, tmp_path: Path) -> None:
    out = tmp_path / "mnist160"
    code, stdout, err = run(
        "export-png", str(mnist_images), str(mnist_labels), "--per-class", "8", "-o", str(out), "--json"
    )
    assert code == 0, err
    assert json.loads(stdout) == {"path": str(out), "images": 80, "splits": {"": 80}}
    with open(out / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    x = idxtool.read(mnist_images)
    assert rows[0] == {"index": "0", "path": "7/0000.png", "label": "7", "class": ""}
    for row in rows:
        assert np.array_equal(np.asarray(Image.open(out / row["path"])), x[int(row["index"])])


def test_dataset_name_with_names_writes_split_trees(tmp_path: Path) -> None:
    code, _, err = run("export-png", "mnist-sample", "--names", "-o", str(tmp_path / "d"))
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "d").iterdir() if not p.name.startswith(".")) == ["test"]
    assert len(list((tmp_path / "d" / "test" / "3").glob("*.png"))) == 10


def test_grid_sheet(tmp_path: Path) -> None:
    code, _, err = run("export-png", "mnist-sample", "--grid", "10x10", "-o", str(tmp_path / "s.png"))
    assert code == 0, err
    assert Image.open(tmp_path / "s.png").size == (280, 280)
    code, _, err = run("export-png", "mnist-sample", "--grid", "ten", "-o", str(tmp_path / "t.png"))
    assert (code, err) == (2, "Error: --grid ten must be ROWSxCOLUMNS, e.g. 10x10\n")
    # a folder (or a name ending in /) is not a PNG file: an error, nothing written
    for out in (f"{tmp_path / 'sheets'}/", str(tmp_path)):
        code, _, err = run("export-png", "mnist-sample", "--grid", "10x10", "-o", out)
        assert (code, err) == (2, f"Error: -o {out} must be a PNG file for a contact sheet, not a folder\n"), err
    assert not (tmp_path / "sheets").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idxtool-home", "s.png"]


def test_errors(mnist_images: Path, mnist_labels: Path, qmnist_int_labels: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    code, _, err = run("export-png", str(qmnist_int_labels), "-o", str(out))
    assert (code, err) == (
        1,
        f"Error: {qmnist_int_labels}: is 60000 x 8 int32; PNG export needs 8-bit grayscale "
        "images (N x height x width uint8)\n",
    )
    code, _, err = run("export-png", str(mnist_labels), str(mnist_images), "-o", str(out))
    assert code == 1 and "which is a labels file, not images" in err
    assert not out.exists()
    out.mkdir()
    (out / "labels.csv").write_text("index,path\n")  # not written by idxtool: never replaced
    foreign = f"Error: {out}: holds files idxtool did not write (labels.csv); remove them or choose another folder\n"
    assert run("export-png", "mnist-sample", "-o", str(out))[::2] == (2, foreign)
    assert run("export-png", "mnist-sample", "-o", str(out), "--force")[::2] == (2, foreign)
    assert (out / "labels.csv").read_text() == "index,path\n"
    (out / "labels.csv").unlink()
    assert run("export-png", "mnist-sample", "-o", str(out))[0] == 0
    code, _, err = run("export-png", "mnist-sample", "-o", str(out))
    assert (code, err) == (2, f"Error: {out}: already exists (pass --force to overwrite it)\n")
    code, _, err = run("export-png", "mnist-sample", "--limit", "5", "-o", str(out), "--force")
    assert code == 0, err
    assert len(list(out.glob("test/*/*.png"))) == 5
    code, _, err = run("export-png", "mnist-sample", "--jobs", "0", "-o", str(out))
    assert code == 2 and "Invalid value for '-j' / '--jobs'" in err
