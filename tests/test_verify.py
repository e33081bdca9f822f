"""verify core: hashes, structure, pairing, label range, re-compressed copies, md5-only entries."""

from __future__ import annotations

import gzip
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

import idxtool
from idxtool import registry
from idxtool.errors import ChecksumError, VerificationError
from idxtool.fetching import fetch
from idxtool.selection import Selection
from idxtool.verification import Check, VerifyReport, verify


def dataset(name: str, selection: Selection | None = None) -> tuple[registry.Dataset, Selection | None]:
    return registry.get(name), selection


def one(path: Path, *, strict: bool = False) -> Check:
    (check,) = verify([path], strict=strict).checks
    return check


@pytest.fixture()
def sample(isolated_home: Path) -> Path:
    fetch(["mnist-sample"])
    return isolated_home / "mnist-sample"


def test_a_fetched_dataset_verifies(sample: Path) -> None:
    report = verify([dataset("mnist-sample")])
    assert isinstance(report, VerifyReport) and report.ok and report.failed == []
    report.raise_for_failures()
    assert [(c.name, c.status, c.dtype, c.shape) for c in report.checks] == [
        ("sample-images-idx3-ubyte.gz", "ok", "uint8", [100, 28, 28]),
        ("sample-labels-idx1-ubyte.gz", "ok", "uint8", [100]),
    ]


def test_missing_files_fail(isolated_home: Path) -> None:
    report = verify([dataset("kmnist")])
    assert {c.status for c in report.checks} == {"missing"}
    assert report.checks[0].message() == "kmnist/train-images-idx3-ubyte.gz: missing from the cache"
    with pytest.raises(VerificationError) as info:
        report.raise_for_failures()
    assert type(info.value) is VerificationError  # nothing mismatched: nothing there at all
    files = registry.get("kmnist").files
    assert str(info.value) == "; ".join(f"kmnist/{r.name}: missing from the cache" for r in files)


def test_a_changed_file_fails_with_size_and_hashes(sample: Path) -> None:
    labels = sample / "sample-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:-1])
    report = verify([dataset("mnist-sample")])
    check = report.checks[1]
    assert check.status == "failed" and check.mismatch
    assert check.problems[0].startswith("size is 83 bytes, expected 84; sha256 mismatch: expected f6d2e5545dd7")
    assert check.problems[1].startswith("compressed stream is truncated")
    with pytest.raises(ChecksumError) as info:
        report.raise_for_failures()
    assert str(info.value) == check.message()
    assert str(info.value).startswith("mnist-sample/sample-labels-idx1-ubyte.gz: ")


def user_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, images: np.ndarray, labels: np.ndarray, extra: str = ""
) -> Path:
    """A user dataset 'mine' in the cache, its manifest pinning the files as written."""
    folder = tmp_path / "idxtool-home" / "mine"  # the isolated IDXTOOL_HOME
    folder.mkdir(parents=True, exist_ok=True)
    idxtool.write(folder / "i.gz", images)
    idxtool.write(folder / "l.gz", labels)
    entries = "".join(
        f'[[files]]\nname = "{n}"\nsplit = "train"\nkind = "{k}"\nsha256 = "{hashlib.sha256((folder / n).read_bytes()).hexdigest()}"\n'
        for n, k in (("i.gz", "images"), ("l.gz", "labels"))
    )
    manifest = tmp_path / "mine.toml"
    manifest.write_text(f'name = "mine"\nurls = ["https://x.example/"]\nclasses = ["a", "b", "c"]\n{extra}{entries}')
    monkeypatch.setenv("IDXTOOL_REGISTRY", str(manifest))
    return folder


def test_pairing_and_label_range(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user_dataset(tmp_path, monkeypatch, np.zeros((4, 2, 2), np.uint8), np.array([0, 1, 5, 2], np.uint8))
    report = verify([dataset("mine")])
    images, labels = report.checks
    assert images.status == "ok"
    assert labels.message() == "mine/l.gz: 1 labels outside 0..2 (3 classes); found 0..5"
    with pytest.raises(VerificationError) as info:
        report.raise_for_failures()
    assert not isinstance(info.value, ChecksumError)
    user_dataset(tmp_path, monkeypatch, np.zeros((4, 2, 2), np.uint8), np.array([0, 1, 2], np.uint8))
    assert verify([dataset("mine")]).checks[1].message() == "mine/l.gz: has 3 records but i.gz has 4"


def test_label_offset_and_label_column(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user_dataset(
        tmp_path, monkeypatch, np.zeros((3, 2, 2), np.uint8), np.array([1, 2, 3], np.uint8), "label_offset = 1\n"
    )
    assert [c.status for c in verify([dataset("mine")]).checks] == ["ok", "ok"]
    table = np.array([[0, 7], [2, 9], [3, 1]], np.int32)
    user_dataset(tmp_path, monkeypatch, np.zeros((3, 2, 2), np.uint8), table, "label_column = 0\n")
    assert verify([dataset("mine")]).checks[1].message() == "mine/l.gz: 1 labels outside 0..2 (3 classes); found 0..3"


def test_a_recompressed_copy_is_told_apart_from_corrupt_data(mnist_images: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mnist"
    folder.mkdir()
    copy = folder / mnist_images.name
    shutil.copy(mnist_images, copy)
    check = one(copy)
    assert check.status == "repacked" and check.shape == [10000, 28, 28]
    assert check.notes == [
        "compared with mnist/t10k-images-idx3-ubyte.gz",
        "re-compressed copy: the file differs from the published one, the decompressed IDX payload matches idx_sha256",
    ]
    strict = verify([copy], strict=True)
    assert strict.checks[0].message() == (
        f"{copy}: re-compressed copy: its sha256 differs from the published file (refused in strict mode)"
    )
    with pytest.raises(ChecksumError):
        strict.raise_for_failures()
    # Different data, valid IDX: not the published file (notMNIST uses MNIST's names), a
    # failure only in strict mode; a broken stream of that name fails either way.
    data = bytearray(gzip.decompress(mnist_images.read_bytes()))
    data[5000] ^= 0xFF
    copy.write_bytes(gzip.compress(bytes(data)))
    other = one(copy)
    assert other.status == "unpublished" and not other.failed and other.shape == [10000, 28, 28]
    assert other.notes[0].startswith(
        "not a published file: a valid IDX file that shares its name with mnist/t10k-images-idx3-ubyte.gz"
    )
    assert "sha256 mismatch: expected 8d422c7b0a1c" in other.notes[0]
    bad = one(copy, strict=True)
    assert bad.status == "failed" and bad.mismatch
    assert bad.problems[0].startswith("not a published file (mnist/t10k-images-idx3-ubyte.gz): size is ")
    assert bad.problems[0].endswith("(refused in strict mode)")
    copy.write_bytes(copy.read_bytes()[:-100])
    broken = one(copy)
    assert broken.status == "failed" and broken.problems[0].startswith("compressed stream is truncated")
    assert broken.problems[1].startswith("not the published file (mnist/t10k-images-idx3-ubyte.gz): size is ")


def test_a_bare_path_is_matched_by_name_across_datasets(shared: Path) -> None:
    check = one(shared / "fashion-mnist" / "train-labels-idx1-ubyte.gz")
    assert (check.status, check.notes) == ("ok", ["compared with fashion-mnist/train-labels-idx1-ubyte.gz"])


def test_a_bare_path_without_manifest_entry_gets_the_structure_check(tmp_path: Path) -> None:
    ok = tmp_path / "mine.idx"
    idxtool.write(ok, np.zeros((2, 3), np.int16))
    check = one(ok)
    assert (check.status, check.notes, check.dtype) == (
        "ok",
        ["no manifest entry of that name: structure checked only"],
        "int16",
    )
    bad = tmp_path / "bad.idx"
    bad.write_bytes(ok.read_bytes()[:-1])
    assert (
        one(bad).message()
        == f"{bad}: body is shorter than the header says: 11 bytes, header declares 2 x 3 int16 = 12 bytes"
    )


def test_md5_only_entries_say_so(isolated_home: Path) -> None:
    folder = isolated_home / "qmnist-nist"
    folder.mkdir(parents=True)
    idxtool.write(folder / "xnist-images-idx3-ubyte.xz", np.zeros((1, 2, 2), np.uint8))
    check = verify([dataset("qmnist-nist")]).checks[0]
    assert check.status == "failed"
    assert check.problems[0].startswith("md5 mismatch: expected 7f124b3b8ab81486c9d8c2749c17f834, got ")
    assert check.notes == ["md5 only: no sha256 was ever published for this file"]


def test_missing_paths_and_folders_are_reported_not_raised(tmp_path: Path) -> None:
    missing, folder = tmp_path / "nope.gz", tmp_path
    report = verify([missing, folder])
    assert [(c.status, c.message()) for c in report.checks] == [
        ("missing", f"{missing}: no such file"),
        ("failed", f"{folder}: is a folder, not a file"),
    ]
    with pytest.raises(VerificationError, match=rf"^{missing}: no such file; {folder}: is a folder, not a file$"):
        report.raise_for_failures()


def test_words_must_be_resolved_first() -> None:
    with pytest.raises(TypeError, match=r"takes paths and \(Dataset, Selection \| None\) pairs, got 'mnist'"):
        verify(["mnist"])  # type: ignore[list-item]


def test_a_selection_checks_only_its_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    labels = np.array([0, 1, 2], np.uint8)
    user_dataset(tmp_path, monkeypatch, np.zeros((3, 2, 2), np.uint8), labels)
    report = verify([dataset("mine", Selection("train", 0, 2))])
    assert [c.name for c in report.checks] == ["i.gz", "l.gz"] and report.ok
    nothing = verify([dataset("mine", Selection("test"))])
    assert [c.message() for c in nothing.checks] == ["mine/test: no split 'test' (splits: train)"]
    qmnist = verify([dataset("qmnist", Selection("test", None, 10000))])
    assert [c.name for c in qmnist.checks] == ["qmnist-test-images-idx3-ubyte.gz", "qmnist-test-labels-idx2-int.gz"]


def test_a_split_with_labels_and_no_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = user_dataset(tmp_path, monkeypatch, np.zeros((4, 2, 2), np.uint8), np.array([0, 1, 2, 1], np.uint8))
    alone = folder / "extra-labels.gz"
    idxtool.write(alone, np.array([2, 0, 7], np.uint8))  # 7 is not a class
    manifest = tmp_path / "mine.toml"
    manifest.write_text(
        manifest.read_text()
        + (
            f'[[files]]\nname = "extra-labels.gz"\nsplit = "extra"\nkind = "labels"\n'
            f'sha256 = "{hashlib.sha256(alone.read_bytes()).hexdigest()}"\n'
        )
    )
    assert registry.get("mine").pairs()["extra"] == (None, registry.get("mine").resource("extra-labels.gz"))
    report = verify([dataset("mine")])
    assert [(c.name, c.split, c.status) for c in report.checks] == [
        ("i.gz", "train", "ok"),
        ("l.gz", "train", "ok"),
        ("extra-labels.gz", "extra", "failed"),
    ]
    assert report.checks[2].message() == "mine/extra-labels.gz: 1 labels outside 0..2 (3 classes); found 0..7"
    only = verify([dataset("mine", Selection("extra"))])
    assert [c.name for c in only.checks] == ["extra-labels.gz"] and only.checks[0].shape == [3]


def test_report_json(sample: Path, tmp_path: Path) -> None:
    report = verify([dataset("mnist-sample"), tmp_path / "gone.idx"])
    doc = report.to_json()
    assert doc["ok"] is False
    assert [(f["name"], f["status"]) for f in doc["files"]] == [
        ("sample-images-idx3-ubyte.gz", "ok"),
        ("sample-labels-idx1-ubyte.gz", "ok"),
        ("gone.idx", "missing"),
    ]
    assert doc["files"][2]["problems"] == ["no such file"]


def test_one_exception_per_failing_file(sample: Path, tmp_path: Path) -> None:
    labels = sample / "sample-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:-1])
    report = verify([dataset("mnist-sample"), tmp_path / "gone.idx"])
    errors = report.exceptions()
    assert [type(e) for e in errors] == [ChecksumError, VerificationError]
    assert [str(e) for e in errors] == [c.message() for c in report.failed]
    with pytest.raises(ChecksumError) as info:  # one of the failures is a mismatch
        report.raise_for_failures()
    assert str(info.value) == "; ".join(str(e) for e in errors)
    assert verify([dataset("mnist-sample", Selection("test"))]).exceptions() != []
    labels.unlink()
    assert verify([]).exceptions() == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            lambda b: b[:-1],
            "body is shorter than the header says: 23 bytes, header declares 2 x 3 x 4 uint8 = 24 bytes",
        ),
        (lambda b: b + b"\x00", "body is longer than the header says (header declares 2 x 3 x 4 uint8 = 24 bytes)"),
    ],
)
def test_a_compressed_body_of_the_wrong_length_is_named_as_open_idx_names_it(
    tmp_path: Path, change: object, problem: str
) -> None:
    raw = tmp_path / "x.idx"
    idxtool.write(raw, np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    for compress in (gzip.compress, __import__("lzma").compress, __import__("bz2").compress):
        bad = tmp_path / "x-images-idx3-ubyte.z"
        bad.write_bytes(compress(change(raw.read_bytes())))  # type: ignore[operator]
        check = one(bad)
        assert check.problems == [problem] and check.shape is None
        assert check.sha256 == hashlib.sha256(bad.read_bytes()).hexdigest()  # hashed all the same


def test_a_multi_member_gzip_is_read_whole(tmp_path: Path, mnist_labels: Path) -> None:
    data = gzip.decompress(mnist_labels.read_bytes())
    two = tmp_path / "two-members.gz"
    two.write_bytes(gzip.compress(data[:3000]) + gzip.compress(data[3000:]))
    check = one(two)
    assert check.status == "ok" and check.shape == [10000] and check.size == two.stat().st_size
