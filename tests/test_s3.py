"""Object stores against a real S3 server (SeaweedFS on 127.0.0.1): mirrors, outputs, completion markers."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from s3_server import Bucket, s3, s3_server  # noqa: F401  # fixtures

import idxtool
from idxtool import objectstore
from idxtool.cli import main
from idxtool.errors import DataError, MissingDependencyError, OutputExistsError


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def tiny(shared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A user dataset ``tiny`` of the real MNIST test files, whose own URL serves nothing."""
    images, labels = shared / "mnist" / "t10k-images-idx3-ubyte.gz", shared / "mnist" / "t10k-labels-idx1-ubyte.gz"
    manifest = tmp_path / "tiny.toml"
    files = "".join(
        f'[[files]]\nname = "{p.name}"\nsplit = "test"\nkind = "{k}"\nsha256 = "{sha256(p)}"\nsize = {p.stat().st_size}\n'
        for p, k in ((images, "images"), (labels, "labels"))
    )
    manifest.write_text(f'name = "tiny"\nurls = ["file://{tmp_path}/nowhere/"]\n{files}')
    monkeypatch.setenv("IDXTOOL_REGISTRY", str(manifest))
    monkeypatch.setenv("IDXTOOL_RETRIES", "0")
    return images, labels


def test_fetch_from_an_s3_mirror_laid_out_like_a_cache(s3: Bucket, tiny: tuple[Path, Path], tmp_path: Path) -> None:
    fs = s3.fs()
    for path in tiny:
        fs.put_file(str(path), f"{s3.name}/cache/tiny/{path.name}")
    code, output = run("fetch", "tiny", "--dir", str(tmp_path / "home"), "--mirror", f"{s3.url}/cache/", "--json")
    assert code == 0, output
    for path in tiny:
        assert (tmp_path / "home" / "tiny" / path.name).read_bytes() == path.read_bytes()


def test_s3_mirror_from_the_environment_falls_back_past_a_wrong_copy(
    s3: Bucket, tiny: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fs = s3.fs()
    images, labels = tiny
    # first mirror: a corrupt images file (right name, wrong bytes) and no labels at all
    fs.pipe_file(f"{s3.name}/bad/tiny/{images.name}", b"\x1f\x8b not the file")
    # second mirror: flat layout (URL/FILE)
    for path in tiny:
        fs.put_file(str(path), f"{s3.name}/good/{path.name}")
    monkeypatch.setenv("IDXTOOL_MIRROR", f"{s3.url}/bad {s3.url}/good/")
    report = idxtool.fetch("tiny", dir=tmp_path / "home")
    assert (tmp_path / "home" / "tiny" / images.name).read_bytes() == images.read_bytes()
    assert (tmp_path / "home" / "tiny" / labels.name).read_bytes() == labels.read_bytes()
    assert report is not None


def test_s3_mirror_that_has_nothing_is_a_download_error(s3: Bucket, tiny: tuple[Path, Path], tmp_path: Path) -> None:
    code, output = run("fetch", "tiny", "--dir", str(tmp_path / "home"), "--mirror", f"{s3.url}/empty/")
    assert code == 3, output
    assert f"{s3.url}/empty/tiny/t10k-images-idx3-ubyte.gz: no such file" in output


@pytest.fixture(scope="module")
def mnist(shared: Path) -> tuple[np.ndarray, np.ndarray]:
    return idxtool.read(shared / "mnist" / "t10k-images-idx3-ubyte.gz")[:3000], idxtool.read(
        shared / "mnist" / "t10k-labels-idx1-ubyte.gz"
    )[:3000]


@pytest.mark.parametrize("fmt", ["npz", "csv"])  # parquet and webdataset: test_distributed.py, below
def test_convert_to_s3_uploads_then_marks_complete(
    s3: Bucket, fmt: str, mnist: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    x, y = mnist
    src = tmp_path / "src"
    idxtool.convert((x, y), to="idx", out=src)
    url = f"{s3.url}/out/{fmt}/"
    code, output = run(
        "convert", str(src / "images-idx3-ubyte"), str(src / "labels-idx1-ubyte"), "--to", fmt, "-o", url, "--json"
    )
    assert code == 0, output
    written = json.loads(output)["outputs"]
    assert written and all(w.startswith(f"{s3.url}/out/{fmt}/") for w in written)
    fs = s3.fs()
    marker = json.loads(fs.cat_file(f"{s3.name}/out/{fmt}/_SUCCESS"))
    keys = {
        k[len(f"{s3.name}/out/{fmt}/") :]: v["size"] for k, v in fs.find(f"{s3.name}/out/{fmt}", detail=True).items()
    }
    assert marker["objects"] == {k: v for k, v in keys.items() if k != "_SUCCESS"}
    # read back, by the library and by the CLI's --to idx
    splits = objectstore.read(url)
    part = next(iter(splits.parts.values()))
    assert np.array_equal(part.images, x) and np.array_equal(part.labels, y)
    code, output = run("convert", url, "--to", "idx", "-o", str(tmp_path / "back"))
    assert code == 0, output
    assert np.array_equal(idxtool.read(tmp_path / "back" / "images-idx3-ubyte"), x)
    assert np.array_equal(idxtool.read(tmp_path / "back" / "labels-idx1-ubyte"), y)


def test_a_prefix_without_its_marker_is_refused(s3: Bucket, mnist: tuple[np.ndarray, np.ndarray]) -> None:
    url = f"{s3.url}/half/"
    idxtool.convert(mnist, to="parquet", out=url)
    s3.fs().rm_file(f"{s3.name}/half/_SUCCESS")  # as if the upload had died before its end
    with pytest.raises(DataError, match="incomplete output: no _SUCCESS completion marker"):
        objectstore.read(url)
    code, output = run("convert", url, "--to", "idx", "-o", "/tmp/never-written-by-this-test")
    assert code == 1 and "no _SUCCESS completion marker" in output and "Traceback" not in output
    with pytest.raises(FileNotFoundError, match="nothing under this prefix"):
        objectstore.read(f"{s3.url}/never-written")


def test_existing_output_needs_force_and_force_removes_stale_objects(
    s3: Bucket, mnist: tuple[np.ndarray, np.ndarray]
) -> None:
    from idxtool.formats import WriteOptions

    url = f"{s3.url}/wds"
    x, y = mnist
    idxtool.convert((x, y), to="webdataset", out=url, options=WriteOptions(shards=3))
    with pytest.raises(OutputExistsError, match="already holds an output"):
        idxtool.convert((x, y), to="webdataset", out=url)
    idxtool.convert((x[:10], y[:10]), to="webdataset", out=url, force=True)
    left = sorted(k.rsplit("/", 1)[-1] for k in s3.fs().find(f"{s3.name}/wds"))
    assert left == ["_SUCCESS", "dataset.json", "train-000000.tar"]
    assert objectstore.read(url).parts["train"].count == 10


def test_foreign_objects_are_never_replaced(s3: Bucket, mnist: tuple[np.ndarray, np.ndarray]) -> None:
    s3.fs().pipe_file(f"{s3.name}/mine/data.npz", b"someone else's")
    code, output = run("convert", str(_npz(mnist)), "--to", "npz", "-o", f"{s3.url}/mine", "--force")
    assert code == 2, output
    assert "idxtool did not write it" in output
    assert s3.fs().cat_file(f"{s3.name}/mine/data.npz") == b"someone else's"


def test_an_upload_that_died_is_replaced_with_force_only(
    s3: Bucket, mnist_images: Path, mnist_labels: Path, tmp_path: Path
) -> None:
    """A real idxtool process killed (SIGKILL) after its third object: the prefix reads as
    incomplete, a rerun refuses it without --force, and --force replaces it (the dead run's
    objects that the new output does not write again included), leaving no trace of it."""
    url = f"{s3.url}/died"
    crash = (
        "import os, signal, s3fs, sys\n"
        "put, n = s3fs.S3FileSystem.put_file, [0]\n"
        "def dying(self, *a, **k):\n"
        "    n[0] += 1\n"
        "    if n[0] == 4:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return put(self, *a, **k)\n"
        "s3fs.S3FileSystem.put_file = dying\n"
        "from idxtool.cli import run\n"
        "run()\n"
    )
    args = ["convert", str(mnist_images), str(mnist_labels), "--to", "webdataset", "--shards", "4", "-o", url]
    died = subprocess.run(
        [sys.executable, "-c", crash, *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert died.returncode == -9, died.stderr
    fs, key = s3.fs(), f"{s3.name}/died"
    left = {k.rsplit("/", 1)[-1] for k in fs.find(key)}
    assert objectstore.UPLOADING in left and "train-000001.tar" in left and objectstore.MARKER not in left
    with pytest.raises(DataError, match="incomplete output"):
        objectstore.read(url)
    code, output = run(*args)
    assert code == 2 and "holds an upload by idxtool that did not finish" in output and "--force" in output
    code, output = run(*args[:-4], "--shards", "1", "-o", url, "--force")
    assert code == 0, output
    assert {k.rsplit("/", 1)[-1] for k in fs.find(key)} == {"_SUCCESS", "dataset.json", "train-000000.tar"}
    assert objectstore.read(url).parts["train"].count == 10_000


def test_a_marker_idxtool_did_not_write_is_neither_read_nor_replaced(
    s3: Bucket, mnist: tuple[np.ndarray, np.ndarray]
) -> None:
    """Spark and Hadoop leave an empty _SUCCESS: that prefix is not idxtool's output, even with --force."""
    fs, key = s3.fs(), f"{s3.name}/spark"
    fs.pipe_file(f"{key}/_SUCCESS", b"")
    fs.pipe_file(f"{key}/part-00000.parquet", b"spark's")
    code, output = run("convert", str(_npz(mnist)), "--to", "npz", "-o", f"{s3.url}/spark", "--force")
    assert code == 2 and "_SUCCESS: was not written by idxtool" in output and "Traceback" not in output, output
    assert fs.cat_file(f"{key}/_SUCCESS") == b"" and sorted(k.rsplit("/", 1)[-1] for k in fs.find(key)) == [
        "_SUCCESS",
        "part-00000.parquet",
    ]
    code, output = run("convert", f"{s3.url}/spark", "--to", "idx", "-o", "/tmp/never-written-by-this-test")
    assert code == 2 and "_SUCCESS: was not written by idxtool" in output, output


def _npz(mnist: tuple[np.ndarray, np.ndarray]) -> Path:
    import tempfile

    path = Path(tempfile.mkdtemp()) / "m.npz"
    np.savez(path, x=mnist[0][:50], y=mnist[1][:50])
    return path


def test_bad_credentials_are_an_output_error(
    s3: Bucket, mnist: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    with pytest.raises(OSError) as info:
        idxtool.convert((mnist[0][:20], mnist[1][:20]), to="npz", out=f"{s3.url}/denied")
    assert isinstance(info.value, idxtool.IdxError)
    assert f"{s3.url}/denied" in str(info.value)


def test_missing_cloud_extra_is_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mnist: tuple[np.ndarray, np.ndarray]
) -> None:
    monkeypatch.setitem(sys.modules, "s3fs", None)  # as if not installed: import s3fs raises ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'idxtool\[cloud\]'"):
        objectstore.read("s3://bucket/prefix")
    code, output = run("convert", str(_npz(mnist)), "--to", "csv", "-o", "s3://bucket/prefix/")
    assert code == 2
    lines = output.strip().splitlines()
    assert lines == ["Error: s3:// URLs need the cloud extra (fsspec and s3fs): pip install 'idxtool[cloud]'"]
