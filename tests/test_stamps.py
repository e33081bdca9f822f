"""Verification stamps: a dataset name costs no re-hash of unchanged cached files; any change re-hashes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import idxtool
from idxtool import cache
from idxtool.checksum import Expected
from idxtool.errors import ChecksumError
from idxtool.fetching import fetch
from idxtool.loading import dataset_files
from idxtool.registry import get
from idxtool.sources import resolve

IMAGES = "sample-images-idx3-ubyte.gz"


def statuses(report: idxtool.fetching.FetchReport) -> list[str]:
    return [r.status for r in report.results]


@pytest.fixture()
def sample(isolated_home: Path) -> Path:
    fetch(["mnist-sample"])
    return isolated_home / "mnist-sample"


def test_a_fetch_stamps_each_file_it_verified(sample: Path) -> None:
    stamps = cache.read_stamps(sample)
    assert sorted(stamps) == [IMAGES, "sample-labels-idx1-ubyte.gz"]
    st = os.stat(sample / IMAGES)
    stamp = stamps[IMAGES]
    assert (stamp.size, stamp.mtime_ns, stamp.inode) == (st.st_size, st.st_mtime_ns, st.st_ino)
    resource = get("mnist-sample").resource(IMAGES)
    assert stamp.sha256 == resource.sha256 and stamp.against == Expected.of(resource).key()


def _corrupt_keeping_stat(path: Path) -> None:
    """Change a byte in place, then put size and mtime back: only the inode-level identity stays."""
    st = os.stat(path)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    with open(path, "r+b") as fh:  # same inode
        fh.write(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_a_valid_stamp_is_trusted_by_names_but_never_by_fetch_or_verify(sample: Path) -> None:
    # The stamp vouches for a file whose size, mtime and inode are unchanged: proven by
    # changing the content behind its back, which only a re-hash can see.
    _corrupt_keeping_stat(sample / IMAGES)
    ref = resolve("mnist-sample")
    files = dataset_files(ref)  # load / convert / inspect NAME: no re-hash
    assert files["test"].images == sample / IMAGES
    assert statuses(fetch(["mnist-sample"], rehash=False)) == ["cached", "cached"]
    report = idxtool.verify("mnist-sample")  # verify always re-hashes
    assert [c.status for c in report.checks] == ["failed", "ok"]
    assert IMAGES not in cache.read_stamps(sample)  # verify found it broken: its stamp is gone
    with pytest.raises(ChecksumError):  # so a name hashes it again, and fetch refuses nothing silently
        idxtool.verify("mnist-sample").raise_for_failures()
    # idxtool fetch (rehash=True, the default) re-hashes, finds the damage, restores the file.
    report = fetch(["mnist-sample"])
    assert statuses(report) == ["downloaded", "cached"]
    assert idxtool.verify("mnist-sample").ok


@pytest.mark.parametrize("change", ["size", "mtime", "inode"])
def test_any_change_of_size_mtime_or_inode_invalidates_the_stamp(sample: Path, change: str) -> None:
    path = sample / IMAGES
    st = os.stat(path)
    data = bytearray(path.read_bytes())
    if change == "size":
        path.write_bytes(bytes(data[:-1]))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    elif change == "mtime":
        data[-10] ^= 0xFF
        with open(path, "r+b") as fh:
            fh.write(data)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    else:
        data[-10] ^= 0xFF
        tmp = path.with_name("other")
        tmp.write_bytes(bytes(data))
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.replace(tmp, path)  # new inode, same size and mtime
        assert os.stat(path).st_ino != st.st_ino
    against = Expected.of(get("mnist-sample").resource(IMAGES)).key()
    assert cache.stamped(path, against) is None
    # A name re-hashes, sees the damage and downloads the file again.
    assert statuses(fetch(["mnist-sample"], rehash=False)) == ["downloaded", "cached"]


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'{"sample-images-idx3-ubyte.gz": {"size": "1"}}', b""])
def test_an_unreadable_stamps_file_is_never_trusted(sample: Path, content: bytes) -> None:
    _corrupt_keeping_stat(sample / IMAGES)
    (sample / cache.STAMPS).write_bytes(content)
    assert cache.read_stamps(sample) == {}
    assert statuses(fetch(["mnist-sample"], rehash=False)) == ["downloaded", "cached"]
    assert (
        json.loads((sample / cache.STAMPS).read_text())[IMAGES]["sha256"] == get("mnist-sample").resource(IMAGES).sha256
    )


def test_a_stamp_checked_against_other_hashes_is_not_trusted(sample: Path) -> None:
    path = sample / IMAGES
    assert cache.stamped(path, "published:something-else") is None
    assert cache.stamped(path, Expected.of(get("mnist-sample").resource(IMAGES)).key()) is not None


def test_no_stamp_when_the_file_changed_while_it_was_hashed(sample: Path) -> None:
    path = sample / IMAGES
    before = os.stat(path)
    (sample / cache.STAMPS).unlink()
    path.write_bytes(path.read_bytes() + b"x")
    assert not cache.write_stamp(path, "0" * 64, "published:x", before)
    assert cache.read_stamps(sample) == {}


def test_verify_stamps_the_files_that_pass_and_load_then_skips_hashing(sample: Path) -> None:
    (sample / cache.STAMPS).unlink()
    assert idxtool.verify("mnist-sample").ok
    assert sorted(cache.read_stamps(sample)) == [IMAGES, "sample-labels-idx1-ubyte.gz"]
    _corrupt_keeping_stat(sample / "sample-labels-idx1-ubyte.gz")
    with pytest.raises(ChecksumError):
        idxtool.verify("mnist-sample").raise_for_failures()
    assert "sample-labels-idx1-ubyte.gz" not in cache.read_stamps(sample)
    assert statuses(fetch(["mnist-sample"], rehash=False)) == ["cached", "downloaded"]
    assert sorted(cache.read_stamps(sample)) == [IMAGES, "sample-labels-idx1-ubyte.gz"]


def test_an_extracted_member_is_stamped_against_its_extraction_record(sample: Path) -> None:
    from idxtool.fetching import _member_against

    resource = get("emnist-digits").resource("emnist-digits-test-labels-idx1-ubyte.gz")
    assert _member_against(resource, {}) is None  # nothing recorded: nothing to trust
    entry = cache.Extracted("ab" * 32, 10, "gzip.zip")
    assert _member_against(resource, {resource.name: entry}) == f"extracted:{'ab' * 32},10"
