"""Reading PNG trees back: labels.csv, numeric folders, ImageFolder order, bad images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from idxtool.conversion import export_png
from idxtool.errors import DataError
from idxtool.formats.png.reader import read as read_tree
from idxtool.formats.png.tree import PngOptions as ExportOptions
from idxtool.model import LabelInfo, Part, Splits


@pytest.fixture
def part() -> Part:
    rng = np.random.default_rng(3)
    return Part(rng.integers(0, 256, (30, 5, 7), dtype=np.uint8), rng.integers(0, 3, 30).astype(np.uint8), "x", "y")


def test_named_tree_round_trips_through_labels_csv(part: Part, tmp_path: Path) -> None:
    info = LabelInfo(("cat/dog", "A", "a"), dataset="toy")
    export_tree(tmp_path / "t", Splits({"": part}, info), ExportOptions(names=True))
    assert sorted(p.name for p in (tmp_path / "t").iterdir() if not p.name.startswith(".")) == [
        "0_cat_dog",
        "1_A",
        "2_a",
        "classes.txt",
        "labels.csv",
    ]
    back = read_tree(tmp_path / "t").parts[""]
    assert np.array_equal(back.images, part.images) and np.array_equal(back.labels, part.labels)


def test_numeric_folders_without_labels_csv_keep_order(part: Part, tmp_path: Path) -> None:
    export_tree(tmp_path / "t", Splits({"": part}))
    (tmp_path / "t" / "labels.csv").unlink()
    back = read_tree(tmp_path / "t").parts[""]
    assert np.array_equal(back.images, part.images) and np.array_equal(back.labels, part.labels)


def test_image_folder_convention_for_named_folders(tmp_path: Path) -> None:
    for name, value in [("zebra", 1), ("ant", 2)]:
        (tmp_path / name).mkdir()
        Image.fromarray(np.full((2, 2), value, np.uint8)).save(tmp_path / name / "img.png")
    back = read_tree(tmp_path).parts[""]
    assert back.labels.tolist() == [0, 1]  # sorted names: ant = 0, zebra = 1
    assert back.images[:, 0, 0].tolist() == [2, 1]


def test_rejects_colour_and_mixed_sizes(tmp_path: Path) -> None:
    (tmp_path / "0").mkdir()
    Image.new("RGB", (2, 2)).save(tmp_path / "0" / "1.png")
    with pytest.raises(DataError, match="1.png: is a RGB image; expected 8-bit grayscale \\(mode L\\)"):
        read_tree(tmp_path)
    Image.new("L", (2, 2)).save(tmp_path / "0" / "1.png")
    Image.new("L", (3, 2)).save(tmp_path / "0" / "2.png")
    with pytest.raises(DataError, match="2.png: is 3 x 2, the others are 2 x 2"):
        read_tree(tmp_path)
    with pytest.raises(DataError, match="no PNG files, class folders or labels.csv found"):
        read_tree(_empty(tmp_path))


def _empty(tmp_path: Path) -> Path:
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty"


def export_tree(out: Path, splits: Splits, opts: ExportOptions | None = None, *, force: bool = False) -> object:
    """The library's export_png on in-memory splits."""
    return export_png(splits, out, options=opts, force=force)


def test_classes_txt_then_sorted_folders_when_labels_csv_is_gone(part: Part, tmp_path: Path) -> None:
    info = LabelInfo(("zebra", "ant", "cat"), dataset="toy")  # label order differs from name order
    export_tree(tmp_path / "t", Splits({"": part}, info), ExportOptions(names=True))
    assert (tmp_path / "t" / "classes.txt").read_text() == "0_zebra\n1_ant\n2_cat\n"
    (tmp_path / "t" / "labels.csv").unlink()
    back = read_tree(tmp_path / "t").parts[""]
    assert np.array_equal(back.images, part.images) and np.array_equal(back.labels, part.labels)
    # classes.txt wins over the sorted-folder rule: list the folders in another order
    (tmp_path / "t" / "classes.txt").write_text("1_ant\n0_zebra\n2_cat\n")
    swapped = read_tree(tmp_path / "t").parts[""]
    assert np.array_equal(swapped.labels, np.array([1, 0, 2])[part.labels])
    (tmp_path / "t" / "classes.txt").write_text("0_zebra\n1_ant\n")
    with pytest.raises(DataError, match="classes.txt: does not list the class folder '2_cat'"):
        read_tree(tmp_path / "t")
    (tmp_path / "t" / "classes.txt").unlink()  # the sorted-folder rule: here also the label order
    assert np.array_equal(read_tree(tmp_path / "t").parts[""].labels, part.labels)


def test_labels_csv_wins_over_classes_txt(part: Part, tmp_path: Path) -> None:
    export_tree(tmp_path / "t", Splits({"": part}))
    (tmp_path / "t" / "classes.txt").write_text("2\n1\n0\n")
    assert np.array_equal(read_tree(tmp_path / "t").parts[""].labels, part.labels)
