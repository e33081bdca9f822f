"""torchvision-compatible dataset classes: signatures, items, attributes, fetching, errors; no torch."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import idxtool
from idxtool.vision import DIGITS

SAMPLE = Path(idxtool.__file__).parent / "data" / "mnist-sample"


def _manifest(tmp_path: Path, name: str, files: dict[str, tuple[str, str, Path]], extra: str = "") -> str:
    """A user manifest ``name`` whose files (name -> split, kind, source) are served by file://."""
    served = tmp_path / f"served-{name}"
    served.mkdir()
    text = f'name = "{name}"\nurls = ["{served.as_uri()}/"]\nclasses = {json.dumps(list("0123456789"))}\n{extra}\n'
    for file, (split, kind, source) in files.items():
        data = source.read_bytes()
        (served / file).write_bytes(data)
        text += f'[[files]]\nname = "{file}"\nsplit = "{split}"\nkind = "{kind}"\n'
        text += f'sha256 = "{hashlib.sha256(data).hexdigest()}"\n'
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return str(path)


@pytest.fixture
def mnist_like(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[np.ndarray, np.ndarray]:
    """A user manifest that replaces ``mnist``: train = the sample reversed, test = the sample."""
    x = idxtool.read(SAMPLE / "sample-images-idx3-ubyte.gz")
    y = idxtool.read(SAMPLE / "sample-labels-idx1-ubyte.gz")
    idxtool.write(tmp_path / "rev-images", np.ascontiguousarray(x[::-1]), compression="gzip")
    idxtool.write(tmp_path / "rev-labels", np.ascontiguousarray(y[::-1]), compression="gzip")
    files = {
        "train-images-idx3-ubyte.gz": ("train", "images", tmp_path / "rev-images"),
        "train-labels-idx1-ubyte.gz": ("train", "labels", tmp_path / "rev-labels"),
        "t10k-images-idx3-ubyte.gz": ("test", "images", SAMPLE / "sample-images-idx3-ubyte.gz"),
        "t10k-labels-idx1-ubyte.gz": ("test", "labels", SAMPLE / "sample-labels-idx1-ubyte.gz"),
    }
    monkeypatch.setenv("IDXTOOL_REGISTRY", _manifest(tmp_path, "mnist", files))
    return x, y


def test_mnist_as_torchvision(mnist_like: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    x, y = mnist_like
    root = tmp_path / "root"
    test = idxtool.MNIST(root, train=False, download=True)
    assert (root / "mnist" / "t10k-images-idx3-ubyte.gz").is_file()
    assert len(test) == 100 and test.data.dtype == np.uint8 and test.data.shape == (100, 28, 28)
    assert test.targets.dtype == np.int64 and np.array_equal(test.data, x) and np.array_equal(test.targets, y)
    image, target = test[5]
    assert type(target) is int and target == int(y[5])
    assert image.mode == "L" and image.size == (28, 28) and np.array_equal(np.asarray(image), x[5])
    assert test.classes == list(DIGITS) and test.class_to_idx["7 - seven"] == 7
    train = idxtool.MNIST(str(root))  # train=True by default; cached now: no download needed
    assert np.array_equal(train.data, x[::-1]) and np.array_equal(train.targets, y[::-1])
    assert repr(train).splitlines()[:2] == ["Dataset MNIST", "    Number of datapoints: 100"]
    assert "Split: Train" in repr(train)


def test_transforms_apply_to_image_and_target(mnist_like: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    x, y = mnist_like
    ds = idxtool.MNIST(
        tmp_path,
        train=False,
        download=True,
        transform=lambda im: np.asarray(im).sum(),
        target_transform=lambda t: t + 100,
    )
    total, target = ds[3]
    assert total == int(x[3].sum()) and target == int(y[3]) + 100


def test_missing_without_download_is_torchvisions_error(mnist_like: object, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="^Dataset not found. You can use download=True to download it") as info:
        idxtool.MNIST(tmp_path / "empty")
    assert isinstance(info.value, idxtool.IdxError) and isinstance(info.value, idxtool.DatasetNotFoundError)
    assert not (tmp_path / "empty" / "mnist").exists()  # nothing was downloaded


def test_works_in_a_plain_loop_without_torch(mnist_like: object, tmp_path: Path) -> None:
    """A DataLoader-style loop in a fresh process: torch never imported, items batch by index."""
    code = (
        "import sys, idxtool\n"
        "ds = idxtool.MNIST(sys.argv[1], train=False, download=True)\n"
        "batch = [ds[i] for i in range(len(ds))]\n"
        "print(len(batch), 'torch' in sys.modules, 'torchvision' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["100", "False", "False"]


def test_other_classes_read_their_datasets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sample = {
        "i.gz": ("test", "images", SAMPLE / "sample-images-idx3-ubyte.gz"),
        "l.gz": ("test", "labels", SAMPLE / "sample-labels-idx1-ubyte.gz"),
    }
    fashion = _manifest(tmp_path, "fashion-mnist", sample)
    letters = _manifest(tmp_path, "emnist-letters", sample, "transpose = true\nlabel_offset = 1\n")
    text = (
        Path(letters)
        .read_text()
        .replace(json.dumps(list("0123456789")), json.dumps(list("abcdefghijklmnopqrstuvwxyz")))
    )
    Path(letters).write_text(text)
    monkeypatch.setenv("IDXTOOL_REGISTRY", f"{fashion}:{letters}")
    f = idxtool.FashionMNIST(tmp_path, train=False, download=True)
    assert f.classes == list("0123456789") and len(f) == 100  # the manifest's names
    e = idxtool.EMNIST(tmp_path, split="letters", train=False, download=True)
    assert e.classes[0] == "N/A" and e.classes[1:] == list("abcdefghijklmnopqrstuvwxyz")
    # As torchvision: images as stored (EMNIST's transposed storage is not undone), targets as stored.
    assert np.array_equal(e.data, idxtool.read(SAMPLE / "sample-images-idx3-ubyte.gz"))
    with pytest.raises(ValueError, match="split='nope' must be one of byclass"):
        idxtool.EMNIST(tmp_path, split="nope")
    with pytest.raises(ValueError, match="what='valid' must be one of train, test, test10k"):
        idxtool.QMNIST(tmp_path, what="valid")


def test_qmnist_views_and_compat_on_the_real_label_table(
    shared: Path,
    mnist_images: Path,
    mnist_labels: Path,
    qmnist_int_labels: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """QMNIST's real 60000 x 8 test labels with images whose first 10,000 are MNIST's test images (tiled)."""
    images = idxtool.read(mnist_images)
    idxtool.write(tmp_path / "tiled", np.tile(images, (6, 1, 1)))
    files = {
        "qmnist-test-images-idx3-ubyte": ("test", "images", tmp_path / "tiled"),
        "qmnist-test-labels-idx2-int.gz": ("test", "labels", qmnist_int_labels),
    }
    views = 'label_column = 0\nviews = { test10k = "test[:10000]", test50k = "test[10000:]" }\n'
    monkeypatch.setenv("IDXTOOL_REGISTRY", _manifest(tmp_path, "qmnist", files, views))
    table = idxtool.read(qmnist_int_labels)

    test = idxtool.QMNIST(tmp_path, what="test", download=True)
    assert len(test) == 60000 and test.targets.shape == (60000, 8) and test.targets.dtype == np.int64
    assert np.array_equal(test.targets, table)
    _image, target = test[12345]
    assert type(target) is int and target == int(table[12345, 0])
    assert test.classes == list(DIGITS)

    ten = idxtool.QMNIST(tmp_path, what="test10k")
    assert len(ten) == 10000 and np.array_equal(ten.data, images)
    # MNIST's test set is QMNIST's first 10,000: the class column is MNIST's test labels.
    assert np.array_equal(ten.targets[:, 0], idxtool.read(mnist_labels))
    fifty = idxtool.QMNIST(tmp_path, what="test50k", compat=False)
    assert len(fifty) == 50000
    _, row = fifty[0]
    assert row.shape == (8,) and np.array_equal(row, table[10000])
    assert "Split: test50k" in repr(fifty)
    by_train = idxtool.QMNIST(tmp_path, train=False)  # what=None: train chooses
    assert by_train.what == "test" and len(by_train) == 60000


def test_class_lists_are_torchvisions_for_every_builtin_dataset() -> None:
    """The names torchvision documents, built from idxtool's own manifests (no files needed)."""
    import string

    from idxtool import registry
    from idxtool.model import LabelInfo

    merged = set("cijklmopsuvwxyz")
    letters_digits = set(string.digits + string.ascii_letters)
    expected = {
        "byclass": sorted(letters_digits),
        "bymerge": sorted(letters_digits - merged),
        "balanced": sorted(letters_digits - merged),
        "letters": ["N/A", *string.ascii_lowercase],
        "digits": list(string.digits),
        "mnist": list(string.digits),
    }
    for split, classes in expected.items():
        info = LabelInfo.of(registry.get(f"emnist-{split}"))
        assert idxtool.EMNIST._classes(idxtool.EMNIST.__new__(idxtool.EMNIST), info) == classes, split
    fashion = LabelInfo.of(registry.get("fashion-mnist"))
    assert idxtool.FashionMNIST._classes(idxtool.FashionMNIST.__new__(idxtool.FashionMNIST), fashion) == [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ]
    kmnist = LabelInfo.of(registry.get("kmnist"))
    assert idxtool.KMNIST._classes(idxtool.KMNIST.__new__(idxtool.KMNIST), kmnist) == [
        "o",
        "ki",
        "su",
        "tsu",
        "na",
        "ha",
        "ma",
        "ya",
        "re",
        "wo",
    ]
