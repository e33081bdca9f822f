"""``--to webdataset``: deterministic tar shards that ``webdataset`` decodes, and back to IDX."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import webdataset as wds
from click.testing import CliRunner

import idxtool
from idxtool.cli import main


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def mnist(shared: Path) -> tuple[np.ndarray, np.ndarray]:
    return idxtool.read(shared / "mnist" / "t10k-images-idx3-ubyte.gz"), idxtool.read(
        shared / "mnist" / "t10k-labels-idx1-ubyte.gz"
    )


@pytest.fixture(scope="module")
def shards(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wds") / "shards"
    images, labels = shared / "mnist" / "t10k-images-idx3-ubyte.gz", shared / "mnist" / "t10k-labels-idx1-ubyte.gz"
    code, output = run("convert", str(images), str(labels), "--to", "webdataset", "-o", str(out), "--shards", "4")
    assert code == 0, output
    return out


def test_layout_and_deterministic_members(shards: Path) -> None:
    assert sorted(p.name for p in shards.iterdir() if not p.name.startswith(".")) == [
        "dataset.json",
        *[f"train-00000{i}.tar" for i in range(4)],
    ]
    with tarfile.open(shards / "train-000001.tar") as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert names[:3] == ["002500.cls", "002500.json", "002500.png"]
    assert len(members) == 3 * 2500
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) for m in members} == {(0, 0, 0, "", "", 0o644)}
    doc = json.loads((shards / "dataset.json").read_text())
    assert doc["shards"]["train"] == [{"url": f"train-00000{i}.tar", "nsamples": 2500} for i in range(4)]


def test_same_input_same_bytes(mnist: tuple[np.ndarray, np.ndarray], shards: Path, tmp_path: Path) -> None:
    x, y = mnist
    idxtool.convert((x, y), to="webdataset", out=tmp_path / "again", options=_shards(4))
    for i in range(4):
        name = f"train-00000{i}.tar"
        assert (tmp_path / "again" / name).read_bytes() == (shards / name).read_bytes()


def _shards(n: int) -> idxtool.formats.WriteOptions:
    from idxtool.formats import WriteOptions

    return WriteOptions(shards=n)


def test_webdataset_decodes_every_image_exact(mnist: tuple[np.ndarray, np.ndarray], shards: Path) -> None:
    x, y = mnist
    urls = [str(p) for p in sorted(shards.glob("*.tar"))]
    seen = 0
    for sample in wds.WebDataset(urls, shardshuffle=False).decode("l8"):
        i = int(sample["__key__"])
        assert np.array_equal(sample["png"], x[i])
        assert sample["cls"] == y[i]
        assert sample["json"] == {"class": str(y[i]), "index": i, "label": int(y[i])}
        seen += 1
    assert seen == len(x)


def test_back_to_idx(mnist: tuple[np.ndarray, np.ndarray], shards: Path, tmp_path: Path) -> None:
    code, output = run("convert", str(shards), "--to", "idx", "-o", str(tmp_path / "back"))
    assert code == 0, output
    assert np.array_equal(idxtool.read(tmp_path / "back" / "train-images-idx3-ubyte"), mnist[0])
    assert np.array_equal(idxtool.read(tmp_path / "back" / "train-labels-idx1-ubyte"), mnist[1])


def test_qmnist_fields_in_json_and_back(
    mnist: tuple[np.ndarray, np.ndarray], qmnist_int_labels: Path, tmp_path: Path
) -> None:
    x = mnist[0][:300]
    y = idxtool.read(qmnist_int_labels)[:300]
    idxtool.convert({"test": (x, y)}, to="webdataset", out=tmp_path / "q", dataset="qmnist")
    sample = next(iter(wds.WebDataset([str(tmp_path / "q" / "test-000000.tar")], shardshuffle=False).decode()))
    assert sample["json"]["writer_id"] == int(y[0, 2])
    assert sample["json"]["hsf_series"] == int(y[0, 1])
    assert sample["cls"] == int(y[0, 0])
    idxtool.convert(tmp_path / "q", to="idx", out=tmp_path / "back")
    back = idxtool.read(tmp_path / "back" / "test-labels-idx2-int")
    assert back.dtype == np.int32 and np.array_equal(back, y)


def test_foreign_shards_without_metadata_read(mnist: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    """Shards another tool wrote (tarfile, no dataset.json) read by their .png and .cls members."""
    import io

    x, y = mnist
    folder = tmp_path / "foreign"
    folder.mkdir()
    from PIL import Image

    with tarfile.open(folder / "train-000000.tar", "w") as tar:
        for i in range(20):
            for ext, data in (("cls", str(int(y[i])).encode()), ("png", _png(Image, io, x[i]))):
                info = tarfile.TarInfo(f"sample{i:04d}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    idxtool.convert(folder, to="idx", out=tmp_path / "back")
    assert np.array_equal(idxtool.read(tmp_path / "back" / "train-images-idx3-ubyte"), x[:20])
    assert np.array_equal(idxtool.read(tmp_path / "back" / "train-labels-idx1-ubyte"), y[:20])


def _png(image_module, io_module, pixels: np.ndarray) -> bytes:  # type: ignore[no-untyped-def]
    buf = io_module.BytesIO()
    image_module.fromarray(pixels).save(buf, format="PNG", optimize=True)  # Pillow's own filters
    return buf.getvalue()
