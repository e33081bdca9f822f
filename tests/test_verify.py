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
from idxtool.errors import InputNotFoundError, UnknownDatasetError
from idxtool.fetch import fetch
from idxtool.verify import verify, verify_dataset, verify_path


@pytest.fixture()
def sample(isolated_home: Path) -> Path:
    fetch(["mnist-sample"])
    return isolated_home / "mnist-sample"


def test_a_fetched_dataset_verifies(sample: Path) -> None:
    checks = verify(["mnist-sample"])
    assert [(c.name, c.status, c.dtype, c.shape) for c in checks] == [
        ("sample-images-idx3-ubyte.gz", "ok", "uint8", [100, 28, 28]),
        ("sample-labels-idx1-ubyte.gz", "ok", "uint8", [100]),
    ]


def test_missing_files_fail(isolated_home: Path) -> None:
    checks = verify_dataset(registry.get("kmnist"))
    assert {c.status for c in checks} == {"missing"}
    assert checks[0].message() == "kmnist/train-images-idx3-ubyte.gz: missing (run: idxtool fetch kmnist)"


def test_a_changed_file_fails_with_size_and_hashes(sample: Path) -> None:
    labels = sample / "sample-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:-1])
    check = verify_dataset(registry.get("mnist-sample"))[1]
    assert check.status == "failed"
    assert check.problems[0].startswith("size is 83 bytes, expected 84; sha256 mismatch: expected f6d2e5545dd7")
    assert check.problems[1].startswith("compressed stream is truncated")


def user_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, images: np.ndarray, labels: np.ndarray,
                 extra: str = "") -> Path:
    """A user dataset 'mine' in the cache, its manifest pinning the files as written."""
    folder = tmp_path / "idxtool-home" / "mine"  # the isolated IDXTOOL_HOME
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
    images, labels = verify(["mine"])
    assert images.status == "ok"
    assert labels.message() == "mine/l.gz: 1 labels outside 0..2 (3 classes); found 0..5"
    user_dataset(tmp_path, monkeypatch, np.zeros((4, 2, 2), np.uint8), np.array([0, 1, 2], np.uint8))
    assert verify(["mine"])[1].message() == "mine/l.gz: has 3 records but i.gz has 4"


def test_label_offset_and_label_column(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user_dataset(tmp_path, monkeypatch, np.zeros((3, 2, 2), np.uint8), np.array([1, 2, 3], np.uint8), "label_offset = 1\n")
    assert [c.status for c in verify(["mine"])] == ["ok", "ok"]
    table = np.array([[0, 7], [2, 9], [3, 1]], np.int32)
    user_dataset(tmp_path, monkeypatch, np.zeros((3, 2, 2), np.uint8), table, "label_column = 0\n")
    assert verify(["mine"])[1].message() == "mine/l.gz: 1 labels outside 0..2 (3 classes); found 0..3"


def test_a_recompressed_copy_is_told_apart_from_corrupt_data(mnist_images: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mnist"
    folder.mkdir()
    copy = folder / mnist_images.name
    shutil.copy(mnist_images, copy)
    check = verify_path(copy)
    assert check.status == "repacked" and check.shape == [10000, 28, 28]
    assert check.notes == ["compared with mnist/t10k-images-idx3-ubyte.gz",
                           "re-compressed copy: the file differs from the published one, the decompressed IDX payload matches idx_sha256"]
    strict = verify([str(copy)], strict=True)[0]
    assert strict.message() == f"{copy}: re-compressed copy: its sha256 differs from the published file (--strict)"
    # Different data in the same wrapper size: corrupt, not re-compressed.
    data = bytearray(gzip.decompress(mnist_images.read_bytes()))
    data[5000] ^= 0xFF
    copy.write_bytes(gzip.compress(bytes(data)))
    bad = verify_path(copy)
    assert bad.status == "failed" and bad.problems[0].startswith("size is ")
    assert "sha256 mismatch: expected 8d422c7b0a1c" in bad.problems[0]


def test_a_bare_path_is_matched_by_name_across_datasets(shared: Path) -> None:
    check = verify_path(shared / "fashion-mnist" / "train-labels-idx1-ubyte.gz")
    assert (check.status, check.notes) == ("ok", ["compared with fashion-mnist/train-labels-idx1-ubyte.gz"])


def test_a_bare_path_without_manifest_entry_gets_the_structure_check(tmp_path: Path) -> None:
    ok = tmp_path / "mine.idx"
    idxtool.write(ok, np.zeros((2, 3), np.int16))
    check = verify_path(ok)
    assert (check.status, check.notes, check.dtype) == ("ok", ["no manifest entry of that name: structure checked only"], "int16")
    bad = tmp_path / "bad.idx"
    bad.write_bytes(ok.read_bytes()[:-1])
    assert verify_path(bad).message() == f"{bad}: body is shorter than the header says: 11 bytes, header declares 2 x 3 int16 = 12 bytes"


def test_md5_only_entries_say_so(isolated_home: Path) -> None:
    folder = isolated_home / "qmnist-nist"
    folder.mkdir(parents=True)
    idxtool.write(folder / "xnist-images-idx3-ubyte.xz", np.zeros((1, 2, 2), np.uint8))
    check = verify_dataset(registry.get("qmnist-nist"))[0]
    assert check.status == "failed"
    assert check.problems[0].startswith("md5 mismatch: expected 7f124b3b8ab81486c9d8c2749c17f834, got ")
    assert check.notes == ["md5 only: no sha256 was ever published for this file"]


def test_unknown_names_and_missing_paths(tmp_path: Path) -> None:
    with pytest.raises(UnknownDatasetError):
        verify(["mnsit"])
    with pytest.raises(InputNotFoundError, match=r"no such file or registered dataset$"):
        verify([str(tmp_path / "nope.gz")])
