"""export-png: folder names, selection, trees Pillow reads back exactly, atomicity, sheets."""

from __future__ import annotations

import csv
import itertools
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import idxtool
import idxtool.registry
from idxtool.conversion import export_png
from idxtool.errors import DataError, InvalidIdxError, OutputExistsError, UsageError
from idxtool.formats.png import encoder, tree
from idxtool.formats.png.sheet import parse_grid
from idxtool.formats.png.tree import PngOptions as ExportOptions
from idxtool.formats.png.tree import class_folders, safe_name, select
from idxtool.loading import IdxImages
from idxtool.model import LabelInfo, Part, Splits
from idxtool.workers import Task

FASHION = LabelInfo(
    ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    dataset="fashion-mnist",
)


@pytest.fixture
def part(mnist_images: Path, mnist_labels: Path) -> Part:
    return Part(idxtool.read(mnist_images)[:300], idxtool.read(mnist_labels)[:300], "t10k-images", "t10k-labels")


def test_safe_names() -> None:
    assert safe_name("T-shirt/top", "0") == "T-shirt_top"
    assert safe_name('a:b*c?"d<e>|f\\g', "1") == "a_b_c__d_e__f_g"
    assert safe_name("dots...", "2") == "dots"
    assert safe_name("..", "3") == "3"
    assert safe_name("CON", "4") == "CON_" and safe_name("aux.txt", "5") == "aux.txt_"


def test_class_folders_numbers_names_and_case_collisions() -> None:
    labels = np.arange(10)
    assert class_folders(FASHION, labels, names=False) == {i: str(i) for i in range(10)}
    assert class_folders(FASHION, labels, names=True)[0] == "0_T-shirt_top"
    assert class_folders(LabelInfo(), np.arange(47), names=False)[7] == "07"
    assert class_folders(LabelInfo(), np.array([3, 120]), names=False) == {3: "003", 120: "120"}
    assert class_folders(FASHION, labels[:3], names=False, width=2) == {0: "00", 1: "01", 2: "02"}
    byclass = LabelInfo(
        tuple("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"), dataset="emnist-byclass"
    )
    folders = class_folders(byclass, np.arange(62), names=True)
    assert folders[10] == "10_A" and folders[36] == "36_a" and folders[61] == "61_z"
    assert len({f.casefold() for f in folders.values()}) == 62  # never one folder on macOS/Windows
    letters = LabelInfo(tuple("abc"), label_offset=1, dataset="emnist-letters")
    assert class_folders(letters, np.array([1, 3]), names=True) == {1: "1_a", 3: "3_c"}
    with pytest.raises(
        UsageError, match="names=True needs class names: give a dataset name, or dataset=NAME for files"
    ):
        class_folders(LabelInfo(), labels, names=True)


def test_select_per_class_then_limit() -> None:
    labels = np.array([0, 1, 0, 0, 1, 2, 1])
    assert select(labels, 7, None, 2).tolist() == [0, 1, 2, 4, 5]
    assert select(labels, 7, 3, 2).tolist() == [0, 1, 2]
    with pytest.raises(UsageError, match="per_class=2 needs labels"):
        select(None, 7, None, 2)


def read_index(root: Path) -> list[dict[str, str]]:
    with open(root / "labels.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("jobs", [1, 2])
def test_tree_is_pixel_exact_and_indexed(part: Part, tmp_path: Path, jobs: int) -> None:
    out = tmp_path / "tree"
    result = export_tree(out, Splits({"": part}), ExportOptions(jobs=jobs))
    assert result.images == 300
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        *map(str, range(10)),
        "classes.txt",
        "labels.csv",
    ]
    rows = read_index(out)
    assert rows[0] == {"index": "0", "path": "7/000.png", "label": "7", "class": ""}
    for row in rows[::17]:
        i = int(row["index"])
        with Image.open(out / row["path"]) as im:
            assert im.mode == "L" and np.array_equal(np.asarray(im), part.images[i])
        assert int(row["label"]) == part.labels[i]
    assert [p.name for p in tmp_path.iterdir()] == ["tree"]  # no temporary folder left


def test_named_flat_transposed_and_selected(part: Part, tmp_path: Path) -> None:
    coll = Splits({"": part}, FASHION)
    export_tree(tmp_path / "n", coll, ExportOptions(names=True, per_class=2, transpose=True))
    rows = read_index(tmp_path / "n")
    assert len(rows) == 20 and rows[0]["class"] == "Sneaker" and rows[0]["path"] == "7_Sneaker/000.png"
    assert (tmp_path / "n" / "0_T-shirt_top").is_dir()
    with Image.open(tmp_path / "n" / rows[0]["path"]) as im:
        assert np.array_equal(np.asarray(im), part.images[0].T)
    export_tree(tmp_path / "f", coll, ExportOptions(flat=True, limit=5))
    assert sorted(p.name for p in (tmp_path / "f").iterdir() if not p.name.startswith(".")) == [
        "000.png",
        "001.png",
        "002.png",
        "003.png",
        "004.png",
        "labels.csv",
    ]


def test_splits_and_unlabelled(part: Part, tmp_path: Path) -> None:
    coll = Splits({"train": Part(part.images[:20], part.labels[:20]), "test": Part(part.images[20:25])})
    export_tree(tmp_path / "d", coll)
    assert sorted(p.name for p in (tmp_path / "d").iterdir() if not p.name.startswith(".")) == ["test", "train"]
    assert read_index(tmp_path / "d" / "test")[0] == {"index": "0", "path": "0.png"}
    assert (tmp_path / "d" / "train" / "7" / "00.png").is_file()


def test_existing_output_and_foreign_folders(part: Part, tmp_path: Path) -> None:
    coll = Splits({"": Part(part.images[:5], part.labels[:5])})
    export_tree(tmp_path / "t", coll)
    with pytest.raises(OutputExistsError, match="t: already exists$"):
        export_tree(tmp_path / "t", coll)
    export_tree(tmp_path / "t", Splits({"": Part(part.images[:3], part.labels[:3])}), force=True)
    assert len(read_index(tmp_path / "t")) == 3
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "thesis.tex").write_text("precious")
    with pytest.raises(UsageError, match="home: holds files idxtool did not write \\(thesis.tex\\)"):
        export_tree(tmp_path / "home", coll, force=True)
    assert (tmp_path / "home" / "thesis.tex").read_text() == "precious"
    # an earlier tree with a foreign file planted inside it: --force keeps the foreign file
    (tmp_path / "t" / "project").mkdir()
    (tmp_path / "t" / "project" / "thesis.tex").write_text("precious")
    with pytest.raises(UsageError, match="project/thesis.tex"):
        export_tree(tmp_path / "t", coll, force=True)
    assert (tmp_path / "t" / "project" / "thesis.tex").read_text() == "precious"


def failing_after_100(root: str, paths: list[str], images: np.ndarray, level: int) -> int:
    """A batch writer whose disk fills up at record 100 (module level: workers unpickle it)."""
    if int(Path(paths[0]).stem) >= 100:
        raise OSError(28, "No space left on device")
    encoder.write_batch(paths, images, level, root)
    return len(paths)


@pytest.mark.parametrize("jobs", [1, 2])
def test_failure_halfway_leaves_no_tree(part: Part, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int) -> None:
    monkeypatch.setattr(tree, "_write_batch", failing_after_100)
    monkeypatch.setattr(tree, "BATCH", 50)
    with pytest.raises(OSError, match="No space left"):
        export_tree(tmp_path / "t", Splits({"": part}), ExportOptions(jobs=jobs, flat=True))
    assert list(tmp_path.iterdir()) == []


def test_rejects_non_images(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="x: is 2 x 2 x 2 int32; PNG export needs 8-bit grayscale images"):
        export_tree(tmp_path / "t", Splits({"": Part(np.zeros((2, 2, 2), np.int32), None, "x")}))
    assert list(tmp_path.iterdir()) == []


def test_contact_sheet_has_a_row_per_class(part: Part, tmp_path: Path) -> None:
    path = export_png(Splits({"": part}), tmp_path / "s.png", grid="10x3").path
    drawn = np.asarray(Image.open(path))
    assert drawn.shape == (280, 84)
    for digit in range(10):
        first = np.flatnonzero(part.labels == digit)[:3]
        for c, i in enumerate(first):
            assert np.array_equal(drawn[digit * 28 : (digit + 1) * 28, c * 28 : (c + 1) * 28], part.images[i])
    with pytest.raises(UsageError, match="grid='10' must be ROWSxCOLUMNS, e.g. 10x10"):
        parse_grid("10")


def export_tree(out: Path, splits: Splits, opts: ExportOptions | None = None, *, force: bool = False) -> object:
    """The library's export_png on in-memory splits."""
    return export_png(splits, out, options=opts, force=force)


# -- ImageFolder / Ultralytics numbering ---------------------------------------------------------


def image_folder_classes(root: Path) -> tuple[list[str], dict[str, int]]:
    """torchvision's ``DatasetFolder.find_classes``, which ImageFolder and Ultralytics' loader follow.

    torchvision itself cannot be installed here (no CPU build on this machine's package index),
    so this is its rule, as written in torchvision/datasets/folder.py:
    ``classes = sorted(entry.name for entry in os.scandir(directory) if entry.is_dir())`` and
    ``class_to_idx = {cls_name: i for i, cls_name in enumerate(classes)}``.
    """
    classes = sorted(entry.name for entry in os.scandir(root) if entry.is_dir())
    return classes, {cls_name: i for i, cls_name in enumerate(classes)}


def image_folder_targets(root: Path) -> dict[str, int]:
    """Relative path -> the target ImageFolder gives that image."""
    _, class_to_idx = image_folder_classes(root)
    return {
        f"{folder}/{name}": index
        for folder, index in class_to_idx.items()
        for name in sorted(os.listdir(root / folder))
        if name.endswith(".png")
    }


def tiled_part(part: Part, classes: int, count: int) -> Part:
    """``count`` real MNIST test images labelled 0..classes-1 (every class present), EMNIST-like."""
    labels = (
        part.labels.astype(np.int64)[np.arange(count) % len(part.labels)] + 10 * (np.arange(count) // 7)
    ) % classes
    return Part(part.images[np.arange(count) % len(part.images)], labels.astype(np.uint8))


@pytest.mark.parametrize("classes", [47, 62])
@pytest.mark.parametrize("names", [False, True])
def test_image_folder_rule_gives_every_image_its_label(part: Part, tmp_path: Path, classes: int, names: bool) -> None:
    chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    info = LabelInfo(tuple(chars[:classes]), dataset=f"emnist-{classes}")
    x = tiled_part(part, classes, 470)
    assert len(np.unique(x.labels)) == classes
    export_tree(tmp_path / "t", Splits({"": x}, info), ExportOptions(names=names))
    targets = image_folder_targets(tmp_path / "t")
    rows = read_index(tmp_path / "t")
    assert len(targets) == len(rows) == 470
    wrong = [r for r in rows if targets[r["path"]] != int(r["label"])]
    assert wrong == []  # today's unpadded folders: 450 of 470 wrong
    folders, _ = image_folder_classes(tmp_path / "t")
    assert (tmp_path / "t" / "classes.txt").read_text().splitlines() == folders
    assert folders[:3] == ["00", "01", "02"]  # a class named as its number keeps the number alone
    if names:
        assert folders[10] == "10_A" and folders[-1] == ("61_z" if classes == 62 else "46_k")


def test_image_folder_rule_on_fashion_mnist_names(part: Part, tmp_path: Path) -> None:
    info = LabelInfo.of(idxtool.registry.get("fashion-mnist"))
    assert info.classes is not None and info.classes[0] == "T-shirt/top"
    export_tree(
        tmp_path / "t",
        Splits({"train": part, "test": Part(part.images[:100], part.labels[:100])}, info),
        ExportOptions(names=True),
    )
    for split, count in [("train", 300), ("test", 100)]:
        root = tmp_path / "t" / split
        targets = image_folder_targets(root)
        rows = read_index(root)
        assert len(rows) == len(targets) == count
        assert [
            r["path"] for r in rows if targets[r["path"]] != int(r["label"])
        ] == []  # unprefixed names: 29 of 50 wrong
        folders, _ = image_folder_classes(root)
        assert folders == [f"{i}_{safe_name(c, str(i))}" for i, c in enumerate(info.classes)]
        assert (root / "classes.txt").read_text().splitlines() == folders
        assert folders[0] == "0_T-shirt_top" and folders[9] == "9_Ankle boot"


def test_streams_without_reading_the_images_whole(mnist_images: Path, mnist_labels: Path, tmp_path: Path) -> None:
    source = idxtool.open_idx(mnist_images)
    streamed = Part(source, idxtool.read(mnist_labels), "t10k-images")
    export_tree(tmp_path / "t", Splits({"": streamed}), ExportOptions(per_class=3, transpose=True))
    assert streamed.streamed  # part.images (the whole array) was never asked for
    rows = read_index(tmp_path / "t")
    x = idxtool.read(mnist_images)
    assert len(rows) == 30
    for row in rows:
        with Image.open(tmp_path / "t" / row["path"]) as im:
            assert np.array_equal(np.asarray(im), x[int(row["index"])].T)


def walked(root: Path) -> set[str]:
    """Every file below ``root`` but the record, as '/'-separated relative paths."""
    return {
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.name != ".idxtool-outputs.json"
    }


@pytest.mark.parametrize(
    ("options", "splits"),
    [
        (ExportOptions(jobs=2), False),
        (ExportOptions(jobs=2, names=True, per_class=7), False),
        (ExportOptions(jobs=1, flat=True, limit=33), False),
        (ExportOptions(jobs=2), True),
    ],
)
def test_record_lists_exactly_the_files_written(
    part: Part, tmp_path: Path, options: ExportOptions, *, splits: bool
) -> None:
    """The tree lists what it writes (no walk of the folder): the list must be the folder."""
    coll = (
        Splits({"train": Part(part.images[:200], part.labels[:200]), "test": Part(part.images[200:260])}, FASHION)
        if splits
        else Splits({"": part}, FASHION)
    )
    export_tree(tmp_path / "t", coll, options)
    recorded = idxtool.outputs.read_record(tmp_path / "t")
    assert recorded == walked(tmp_path / "t") and len(recorded) > 30


@pytest.mark.parametrize("compressed", [False, True])
def test_workers_reading_their_own_share_of_a_file_write_every_image(
    mnist_images: Path, mnist_labels: Path, tmp_path: Path, *, compressed: bool
) -> None:
    """Each worker reads its records from the file itself (seeking in a raw one, decompressing
    a gzip one up to its share): together every record once, pixel for pixel, in two splits."""
    images, labels = idxtool.read(mnist_images)[:1500], idxtool.read(mnist_labels)[:1500]
    suffix = ".gz" if compressed else ""
    for name, array in (("images", images), ("labels", labels)):
        idxtool.write(tmp_path / f"{name}{suffix}", array)
    out = tmp_path / "t"
    export_png([tmp_path / f"images{suffix}", tmp_path / f"labels{suffix}"], out, options=ExportOptions(jobs=2))
    rows = read_index(out)
    assert [int(r["index"]) for r in rows] == list(range(1500))
    for row in rows[::7] + rows[-3:]:
        with Image.open(out / row["path"]) as im:
            assert np.array_equal(np.asarray(im), images[int(row["index"])])
    assert len(walked(out)) == 1500 + 2


def test_more_jobs_than_batches_start_one_worker_a_batch(
    part: Part, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """-j 5000 on 1,500 images: three workers (one per batch of 500), not 5,000 processes."""
    started: list[int] = []

    class Counting(tree.Workers):
        def __init__(self, task: Task, shares: int) -> None:
            started.append(shares)
            super().__init__(task, shares)

    monkeypatch.setattr(tree, "Workers", Counting)
    splits = Splits({"": Part(np.concatenate([part.images] * 5), np.tile(part.labels, 5))})
    export_tree(tmp_path / "t", splits, ExportOptions(jobs=5000))
    assert started == [3] and len(read_index(tmp_path / "t")) == 1500


@pytest.mark.parametrize("options", [ExportOptions(jobs=2, per_class=90), ExportOptions(jobs=3, limit=1234)])
def test_compressed_splits_are_written_whole_by_workers_sharing_them(
    mnist_images: Path, mnist_labels: Path, tmp_path: Path, options: ExportOptions
) -> None:
    """Two gzip splits, a selection: each worker decompresses up to its share of each split
    and writes every selected record of it, pixel for pixel."""
    images, labels = idxtool.read(mnist_images)[:2500], idxtool.read(mnist_labels)[:2500]
    parts = {}
    for split, (a, b) in {"train": (0, 1800), "test": (1800, 2500)}.items():
        x = idxtool.write(tmp_path / f"{split}-images.gz", images[a:b])
        y = idxtool.write(tmp_path / f"{split}-labels.gz", labels[a:b])
        parts[split] = Part(IdxImages(x), idxtool.read(y), x.name)
    assert not any(p.seekable for p in parts.values())
    export_tree(tmp_path / "t", Splits(parts), options)
    for split, (a, b) in {"train": (0, 1800), "test": (1800, 2500)}.items():
        want = select(labels[a:b], b - a, options.limit, options.per_class)
        rows = read_index(tmp_path / "t" / split)
        assert [int(r["index"]) for r in rows] == want.tolist()
        for row in rows[::11]:
            with Image.open(tmp_path / "t" / split / row["path"]) as im:
                assert np.array_equal(np.asarray(im), images[a + int(row["index"])])
    assert idxtool.outputs.read_record(tmp_path / "t") == walked(tmp_path / "t")


def test_a_corrupt_compressed_file_fails_the_export_and_leaves_nothing(
    mnist_images: Path, mnist_labels: Path, tmp_path: Path
) -> None:
    """A worker finds the corruption while reading its share: its error, raised again as is."""
    images = idxtool.write(tmp_path / "x.gz", idxtool.read(mnist_images)[:3000])
    data = bytearray(images.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    images.write_bytes(bytes(data))
    labels = idxtool.write(tmp_path / "y.gz", idxtool.read(mnist_labels)[:3000])
    with pytest.raises(InvalidIdxError, match="x.gz: compressed stream is corrupt"):
        export_png([images, labels], tmp_path / "t", options=ExportOptions(jobs=2))
    assert not (tmp_path / "t").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_shares_are_contiguous_balanced_and_cover_every_record() -> None:
    index = np.arange(100_000)
    assert tree.shares(index, 1, 0.15) == [(0, 100_000)]
    assert tree.shares(index, 2, 0.0) == [(0, 50_000), (50_000, 100_000)]
    cuts = tree.shares(index, 3, 0.15)
    assert cuts[0][0] == 0 and cuts[-1][1] == 100_000
    assert all(a[1] == b[0] for a, b in itertools.pairwise(cuts))
    # a share costs reading up to its last record plus writing its own: equal within a record
    costs = [0.15 * index[end - 1] + (end - begin) for begin, end in cuts]
    assert max(costs) - min(costs) < 2
    sizes = [end - begin for begin, end in cuts]
    assert sizes == sorted(sizes, reverse=True)  # later shares read further: fewer records
    assert tree.shares(np.arange(3), 4, 0.15) == [(0, 1), (1, 2), (2, 3), (3, 3)]
    assert tree.shares(np.arange(0), 2, 0.15) == [(0, 0)]


def test_labels_csv_quotes_what_csv_must(part: Part, tmp_path: Path) -> None:
    """Class names with commas and quotes (and folders with commas) come back from csv intact."""
    info = LabelInfo(tuple(f'class {i}, "the {i}th"' for i in range(10)))
    export_tree(tmp_path / "t", Splits({"": part}, info), ExportOptions(names=True, jobs=2))
    rows = read_index(tmp_path / "t")
    assert rows[0]["class"] == 'class 7, "the 7th"' and rows[0]["path"] == "7_class 7, _the 7th_/000.png"
    assert all((tmp_path / "t" / r["path"]).is_file() for r in rows)
