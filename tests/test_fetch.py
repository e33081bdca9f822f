"""fetch: the cache, mirrors, no network for verified files, locks, archives, progress and logs."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from http_server import FaultServer, RecordingProgress, Records, serve

import idxtool
from idxtool import registry
from idxtool.cache import read_record
from idxtool.errors import DownloadError, ParameterError, UsageError
from idxtool.fetching import fetch, sources


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tiny_manifest(shared: Path, url: str) -> str:
    """A user manifest for the real MNIST test files as they are in ../shared (re-gzipped images)."""
    images = shared / "mnist" / "t10k-images-idx3-ubyte.gz"
    labels = shared / "mnist" / "t10k-labels-idx1-ubyte.gz"
    return f'''name = "tiny"
urls = ["{url}"]
classes = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
[[files]]
name = "{images.name}"
split = "test"
kind = "images"
sha256 = "{sha256(images)}"
size = {images.stat().st_size}
[[files]]
name = "{labels.name}"
split = "test"
kind = "labels"
sha256 = "{sha256(labels)}"
size = {labels.stat().st_size}
'''


@pytest.fixture()
def tiny(shared: Path, server: FaultServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FaultServer:
    path = tmp_path / "tiny.toml"
    path.write_text(tiny_manifest(shared, server.url + "mnist/"))
    monkeypatch.setenv("IDXTOOL_REGISTRY", str(path))
    return server


def test_sources_with_and_without_mirrors() -> None:
    mnist = registry.get("mnist")
    r = mnist.resource("t10k-labels-idx1-ubyte.gz")
    assert sources(mnist, r) == [u + r.name for u in mnist.urls]
    assert sources(mnist, r, ["file:///srv/m", "http://h/x/"]) == [
        "file:///srv/m/mnist/t10k-labels-idx1-ubyte.gz",
        "file:///srv/m/t10k-labels-idx1-ubyte.gz",
        "http://h/x/mnist/t10k-labels-idx1-ubyte.gz",
        "http://h/x/t10k-labels-idx1-ubyte.gz",
    ]
    emnist = registry.get("emnist-letters")
    assert sources(emnist, emnist.archives[0], ["http://h/"]) == [
        "http://h/_archives/emnist/gzip.zip",
        "http://h/gzip.zip",
    ]
    sample = registry.get("mnist-sample")
    assert sources(sample, sample.files[0], ["http://h/"]) == [
        "package://idxtool/data/mnist-sample/sample-images-idx3-ubyte.gz"
    ]


def test_built_in_manifest_through_a_mirror(server: FaultServer, isolated_home: Path) -> None:
    report = fetch(["mnist"], mirrors=[server.url])
    status = {r.name: (r.status, r.repacked) for r in report.results}
    assert status == {
        "train-images-idx3-ubyte.gz": ("failed", False),  # not on this mirror
        "train-labels-idx1-ubyte.gz": ("downloaded", False),
        "t10k-images-idx3-ubyte.gz": ("downloaded", True),  # re-gzipped by a third party, same IDX payload
        "t10k-labels-idx1-ubyte.gz": ("downloaded", False),
    }
    assert report.results[3].source == server.url + "mnist/t10k-labels-idx1-ubyte.gz"
    assert sorted(p.name for p in (isolated_home / "mnist").iterdir()) == [
        ".lock",
        ".verified.json",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
    ]
    with pytest.raises(DownloadError) as info:
        report.raise_for_failures()
    assert str(info.value) == (
        f"mnist/train-images-idx3-ubyte.gz: could not be obtained from any source: "
        f"{server.url}mnist/train-images-idx3-ubyte.gz: HTTP 404 Not Found; {server.url}train-images-idx3-ubyte.gz: HTTP 404 Not Found"
    )


def test_mirror_from_the_environment(server: FaultServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDXTOOL_MIRROR", f"http://127.0.0.1:1/nothing {server.url}")
    report = fetch(["fashion-mnist"], policy=idxtool.policy.Policy(retries=0, connect_timeout=1))
    assert [r.status for r in report.results] == ["failed", "downloaded", "failed", "downloaded"]


def test_present_and_verified_files_cost_no_request(tiny: FaultServer, isolated_home: Path) -> None:
    first = fetch(["tiny"])
    assert [r.status for r in first.results] == ["downloaded", "downloaded"]
    count = len(tiny.requests)
    again = fetch(["tiny"])
    assert [r.status for r in again.results] == ["cached", "cached"] and len(tiny.requests) == count
    assert again.results[0].sha256 == first.results[0].sha256


def test_a_damaged_cached_file_is_downloaded_again(tiny: FaultServer, isolated_home: Path, logs: Records) -> None:
    fetch(["tiny"])
    labels = isolated_home / "tiny" / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:-10])
    damaged = sha256(labels)
    logs.records.clear()
    report = fetch(["tiny"])
    assert [r.status for r in report.results] == ["cached", "downloaded"]
    assert logs.lines(logging.WARNING) == [
        "tiny/t10k-labels-idx1-ubyte.gz: present but size is 4,532 bytes, expected 4,542; "
        f"sha256 mismatch: expected {sha256(tiny.root / 'mnist' / labels.name)}, got {damaged}; downloading it again"
    ]
    assert sha256(labels) == sha256(tiny.root / "mnist" / labels.name)
    assert [r.name for r in logs.records if r.levelno >= logging.WARNING] == ["idxtool.fetching"]


def test_one_progress_task_per_file_closed_when_done(tiny: FaultServer, isolated_home: Path) -> None:
    progress = RecordingProgress()
    fetch(["tiny"], progress=progress)
    tasks = sorted(progress.tasks, key=lambda t: t.description)
    assert [(t.description, t.unit, t.closed) for t in tasks] == [
        ("tiny/t10k-images-idx3-ubyte.gz", "bytes", 1),
        ("tiny/t10k-labels-idx1-ubyte.gz", "bytes", 1),
    ]
    assert all(t.updates[-1] == t.total for t in tasks)
    again = RecordingProgress()
    fetch(["tiny"], progress=again)
    assert again.tasks == []  # present and verified: nothing to show


def test_a_recompressed_copy_is_kept_with_a_warning(server: FaultServer, isolated_home: Path, logs: Records) -> None:
    fetch(["mnist"], mirrors=[server.url])
    warnings = logs.lines(logging.WARNING)
    assert warnings == [
        f"mnist/t10k-images-idx3-ubyte.gz: {server.url}mnist/t10k-images-idx3-ubyte.gz is a re-compressed copy "
        "(its sha256 differs from the published file, but the decompressed IDX payload matches idx_sha256); kept"
    ]
    assert not any("--" in line for line in logs.lines())  # the library never names command-line flags


def test_garbage_in_the_environment_fails_before_anything_happens(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDXTOOL_RETRIES", "many")
    with pytest.raises(UsageError, match=r"^IDXTOOL_RETRIES='many': expected a whole number"):
        fetch(["mnist-sample"])
    with pytest.raises(ParameterError, match=r"^jobs=0 must be at least 1$"):
        fetch(["mnist-sample"], jobs=0)
    assert not isolated_home.exists()


def test_a_split_with_labels_and_no_images(
    shared: Path, server: FaultServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_home: Path
) -> None:
    text = tiny_manifest(shared, server.url + "mnist/")
    labels = shared / "mnist" / "train-labels-idx1-ubyte.gz"
    text += (
        f'[[files]]\nname = "{labels.name}"\nsplit = "train"\nkind = "labels"\n'
        f'sha256 = "{sha256(labels)}"\nsize = {labels.stat().st_size}\n'
    )
    path = tmp_path / "tiny.toml"
    path.write_text(text)
    monkeypatch.setenv("IDXTOOL_REGISTRY", str(path))
    ds = registry.get("tiny")
    assert ds.splits == ["test", "train"] and ds.pairs()["train"] == (None, ds.resource(labels.name))
    report = fetch(["tiny"])
    assert [(r.name, r.split, r.status) for r in report.results] == [
        ("t10k-images-idx3-ubyte.gz", "test", "downloaded"),
        ("t10k-labels-idx1-ubyte.gz", "test", "downloaded"),
        ("train-labels-idx1-ubyte.gz", "train", "downloaded"),
    ]
    assert sha256(isolated_home / "tiny" / labels.name) == sha256(labels)


def test_force_downloads_again_and_dir_overrides_home(tiny: FaultServer, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    fetch(["tiny"], other)
    report = fetch(["tiny"], other, force=True)
    assert [r.status for r in report.results] == ["downloaded", "downloaded"]
    assert report.root == other and (other / "tiny" / "t10k-labels-idx1-ubyte.gz").is_file()


def test_a_file_that_cannot_be_had_again_fails_and_the_rest_is_kept(tiny: FaultServer, isolated_home: Path) -> None:
    fetch(["tiny"]).raise_for_failures()
    tiny.fault("/mnist/t10k-labels-idx1-ubyte.gz", "404")
    (isolated_home / "tiny" / "t10k-labels-idx1-ubyte.gz").unlink()
    report = fetch(["tiny"])
    assert [r.status for r in report.results] == ["cached", "failed"]
    with pytest.raises(
        DownloadError, match=r"^tiny/t10k-labels-idx1-ubyte\.gz: could not be obtained from any source: "
    ):
        report.raise_for_failures()
    assert (isolated_home / "tiny" / "t10k-images-idx3-ubyte.gz").is_file()  # what arrived is kept


def test_four_processes_fetching_at_once_end_with_one_copy(
    tiny: FaultServer, isolated_home: Path, tmp_path: Path
) -> None:
    tiny.fault("/mnist/t10k-images-idx3-ubyte.gz", "slow:0.5")  # the first download takes a while
    env = {**os.environ, "IDXTOOL_HOME": str(isolated_home), "IDXTOOL_TIMEOUT": "5"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "idxtool", "fetch", "tiny", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [err for _, err in outputs]
    statuses = sorted(tuple(f["status"] for f in json.loads(out)["files"]) for out, _ in outputs)
    assert statuses == [("cached", "cached")] * 3 + [("downloaded", "downloaded")]
    assert len(tiny.hits("/mnist/t10k-images-idx3-ubyte.gz")) == 1
    assert len(tiny.hits("/mnist/t10k-labels-idx1-ubyte.gz")) == 1
    folder = isolated_home / "tiny"
    assert sorted(p.name for p in folder.iterdir()) == [
        ".lock",
        ".verified.json",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]
    assert sha256(folder / "t10k-images-idx3-ubyte.gz") == sha256(tiny.root / "mnist" / "t10k-images-idx3-ubyte.gz")


# -- an EMNIST-like family: one archive shared by two datasets ---------------------------------


def build_family(tmp_path: Path) -> tuple[Path, str]:
    """A served folder with all.zip holding two tiny transposed IDX datasets, and its manifest."""
    parts = tmp_path / "parts"
    parts.mkdir()
    members: dict[str, bytes] = {}
    for ds, count in (("fam-a", 5), ("fam-b", 7)):
        images = np.arange(count * 4 * 3, dtype=np.uint8).reshape(count, 4, 3)
        idxtool.write(parts / f"{ds}-images-idx3-ubyte.gz", images.swapaxes(1, 2))  # stored transposed
        idxtool.write(parts / f"{ds}-labels-idx1-ubyte.gz", (np.arange(count) % 3 + 1).astype(np.uint8))
        for kind in ("images-idx3", "labels-idx1"):
            members[f"all/{ds}-{kind}-ubyte.gz"] = (parts / f"{ds}-{kind}-ubyte.gz").read_bytes()
    served = tmp_path / "served"
    served.mkdir()
    with zipfile.ZipFile(served / "all.zip", "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        zf.writestr("all/readme.txt", b"hello")
    manifest = f'''family = "fam"
urls = ["URL"]
transpose = true
label_offset = 1
classes = ["x", "y", "z"]
[[files]]
name = "all.zip"
kind = "archive"
sha256 = "{sha256(served / "all.zip")}"
size = {(served / "all.zip").stat().st_size}
'''
    for ds in ("fam-a", "fam-b"):
        manifest += f'[[datasets]]\nname = "{ds}"\n'
        for kind, stem in (("images", "images-idx3"), ("labels", "labels-idx1")):
            manifest += (
                f'[[datasets.files]]\nname = "{ds}-{stem}-ubyte.gz"\nsplit = "train"\nkind = "{kind}"\n'
                f'archive = "all.zip"\nmember = "all/{ds}-{stem}-ubyte.gz"\n'
            )
    return served, manifest


@pytest.fixture()
def family(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_network: None) -> Iterator[FaultServer]:
    served, manifest = build_family(tmp_path)
    for srv in serve(served):
        path = tmp_path / "fam.toml"
        path.write_text(manifest.replace("URL", srv.url))
        monkeypatch.setenv("IDXTOOL_REGISTRY", str(path))
        yield srv


def test_an_archive_is_downloaded_once_and_each_dataset_extracts_its_own(
    family: FaultServer, isolated_home: Path
) -> None:
    a = fetch(["fam-a"])
    assert [(r.name, r.status) for r in a.results] == [
        ("all.zip", "downloaded"),
        ("fam-a-images-idx3-ubyte.gz", "extracted"),
        ("fam-a-labels-idx1-ubyte.gz", "extracted"),
    ]
    b = fetch(["fam-b"])
    assert [r.status for r in b.results] == ["cached", "extracted", "extracted"]
    assert len(family.hits("/all.zip")) == 1
    assert (isolated_home / "_archives" / "fam" / "all.zip").is_file()
    assert sorted(p.name for p in (isolated_home / "fam-b").iterdir()) == [
        ".extracted.json",
        ".lock",
        ".verified.json",
        "fam-b-images-idx3-ubyte.gz",
        "fam-b-labels-idx1-ubyte.gz",
    ]
    record = read_record(isolated_home / "fam-b")
    entry = record["fam-b-labels-idx1-ubyte.gz"]
    assert (entry.sha256, entry.archive) == (sha256(isolated_home / "fam-b" / "fam-b-labels-idx1-ubyte.gz"), "all.zip")
    assert entry.archive_sha256 == sha256(isolated_home / "_archives" / "fam" / "all.zip")
    (isolated_home / "_archives" / "fam" / "all.zip").unlink()  # members stay verified without the archive
    again = fetch(["fam-a"])
    assert [r.status for r in again.results] == ["skipped", "cached", "cached"] and len(family.hits("/all.zip")) == 1


def test_a_damaged_extracted_file_is_extracted_again(family: FaultServer, isolated_home: Path) -> None:
    fetch(["fam-a"])
    labels = isolated_home / "fam-a" / "fam-a-labels-idx1-ubyte.gz"
    labels.write_bytes(b"junk")
    report = fetch(["fam-a"])
    assert [r.status for r in report.results] == ["cached", "cached", "extracted"]
    assert idxtool.read(labels).tolist() == [1, 2, 3, 1, 2]


def test_load_undoes_the_transposition(family: FaultServer) -> None:
    ((x, y),) = idxtool.load("fam-b")
    assert x.shape == (7, 4, 3) and x.flags.c_contiguous
    assert np.array_equal(x, np.arange(7 * 4 * 3, dtype=np.uint8).reshape(7, 4, 3))
    assert y.tolist() == [1, 2, 3, 1, 2, 3, 1]


def test_an_archive_that_cannot_be_had_fails_its_members(family: FaultServer) -> None:
    family.fault("/all.zip", "404")
    report = fetch(["fam-a"], mirrors=[family.url])
    assert [r.status for r in report.results] == ["failed", "failed", "failed"]
    with pytest.raises(DownloadError) as info:
        report.raise_for_failures()
    message = str(info.value)
    assert message.startswith("_archives/fam/all.zip: could not be obtained from any source: ")
    assert (
        "; fam-a/fam-a-images-idx3-ubyte.gz, fam-a/fam-a-labels-idx1-ubyte.gz: not extracted, because _archives/fam/all.zip:"
        in message
    )


def test_an_extracted_member_that_is_not_the_published_one_fails(
    family: FaultServer, isolated_home: Path, tmp_path: Path
) -> None:
    manifest = tmp_path / "fam.toml"
    wrong = "0" * 64
    member = 'member = "all/fam-a-labels-idx1-ubyte.gz"\n'
    manifest.write_text(manifest.read_text().replace(member, f'{member}sha256 = "{wrong}"\n'))
    progress = RecordingProgress()
    report = fetch(["fam-a"], progress=progress)
    assert [r.status for r in report.results] == ["downloaded", "extracted", "failed"]
    assert not (isolated_home / "fam-a" / "fam-a-labels-idx1-ubyte.gz").exists()
    assert "fam-a-labels-idx1-ubyte.gz" not in read_record(isolated_home / "fam-a")
    error = report.results[2].error or ""
    assert error.startswith(
        f"fam-a/fam-a-labels-idx1-ubyte.gz (extracted from all.zip): sha256 mismatch: expected {wrong}, got "
    )
    assert "delete it and download it again" in error and "--" not in error
    assert sorted(t.description for t in progress.tasks) == ["_archives/fam/all.zip", "fam-a: extracting all.zip"]
    assert all(t.closed == 1 for t in progress.tasks)
    with pytest.raises(DownloadError):
        report.raise_for_failures()
