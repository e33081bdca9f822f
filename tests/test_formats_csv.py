"""CSV: the header styles, text identical to numpy.savetxt, round trips, and the way back."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

import idxtool
from idxtool.errors import DataError, UsageError
from idxtool.formats import csv
from idxtool.model import Part, Splits


@pytest.fixture
def part(mnist_images: Path, mnist_labels: Path) -> Part:
    return Part(idxtool.read(mnist_images)[:300], idxtool.read(mnist_labels)[:300], "images", "labels")


def text(part: Part, header: str) -> str:
    buf = io.BytesIO()
    csv.write_part(buf, part, header)
    return buf.getvalue().decode()


def test_rows_are_exactly_what_savetxt_writes(part: Part) -> None:
    expected = io.BytesIO()
    rows = np.concatenate([part.labels[:, None], part.images.reshape(len(part.labels), -1)], axis=1)
    np.savetxt(expected, rows, fmt="%d", delimiter=",")
    assert text(part, "none") == expected.getvalue().decode()


@pytest.mark.parametrize(
    ("style", "start", "end"),
    [
        ("pixel0", "label,pixel0,pixel1,", ",pixel783\n"),
        ("pixel1", "label,pixel1,pixel2,", ",pixel784\n"),
        ("rowcol", "label,1x1,1x2,", ",28x27,28x28\n"),
    ],
)
def test_header_styles(part: Part, style: str, start: str, end: str) -> None:
    header = text(part, style).split("\n")[0] + "\n"
    assert header.startswith(start) and header.endswith(end)
    assert header.count(",") == 784


def test_unlabelled_images_have_no_label_column(part: Part) -> None:
    assert text(Part(part.images[:2]), "pixel0").startswith("pixel0,pixel1")


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
@pytest.mark.parametrize("style", csv.HEADERS)
def test_round_trip_is_exact(part: Part, tmp_path: Path, suffix: str, style: str) -> None:
    out = tmp_path / f"a{suffix}"
    csv.write(out, Splits({"": part}), style)
    back = csv.read(out).parts[""]
    assert back.images.dtype == np.uint8 and back.labels.dtype == np.uint8
    assert np.array_equal(back.images, part.images) and np.array_equal(back.labels, part.labels)


def test_other_element_types_round_trip(tmp_path: Path) -> None:
    cases = [
        np.array([[[-5, 300], [7, 0]]], np.int16),
        np.array([[[2**31 - 1, -(2**31)], [0, 1]]], np.int32),
        np.array([[[0.5, 1 / 3], [1e-8, 2]]], np.float32),
    ]
    for images in cases:
        (tmp_path / "t.csv").unlink(missing_ok=True)
        csv.write(tmp_path / "t.csv", Splits({"": Part(images, np.array([3], np.uint8))}))
        back = csv.read(tmp_path / "t.csv").parts[""]
        assert back.images.dtype == images.dtype and np.array_equal(back.images, images)


def test_non_square_rows_need_a_shape(tmp_path: Path) -> None:
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    csv.write(tmp_path / "r.csv", Splits({"": Part(images, np.array([1, 2], np.uint8))}), "pixel0")
    with pytest.raises(UsageError, match="rows have 12 pixel values, not a square; pass --shape HxW"):
        csv.read(tmp_path / "r.csv")
    assert np.array_equal(csv.read(tmp_path / "r.csv", (3, 4)).parts[""].images, images)
    csv.write(tmp_path / "rc.csv", Splits({"": Part(images, np.array([1, 2], np.uint8))}), "rowcol")
    assert np.array_equal(csv.read(tmp_path / "rc.csv").parts[""].images, images)  # 3x4 from the header


def test_two_column_labels_are_refused(part: Part) -> None:
    wide = Part(part.images[:2], np.zeros((2, 8), np.int32), "images", "qmnist-labels")
    with pytest.raises(DataError, match="qmnist-labels: CSV holds one label a row, but these labels have 8 columns"):
        text(wide, "pixel0")
