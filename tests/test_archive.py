"""archive.extract: chosen members only, atomically, and never outside the target folder."""

from __future__ import annotations

import hashlib
import stat
import zipfile
from pathlib import Path

import pytest

from idxtool.archive import UnsafeArchiveError, extract
from idxtool.errors import VerificationError


def make_zip(
    path: Path,
    members: dict[str, bytes],
    symlinks: dict[str, str] | None = None,
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return path


def test_extracts_only_the_members_asked_for(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "gzip.zip", {"gzip/a.gz": b"alpha" * 1000, "gzip/b.gz": b"beta", "gzip/c.txt": b"c"})
    dest = tmp_path / "ds"
    digests = extract(archive, dest, {"gzip/a.gz": "a.gz", "gzip/c.txt": "c.txt"})
    assert sorted(p.name for p in dest.iterdir()) == ["a.gz", "c.txt"]  # no temp folder left
    assert (dest / "a.gz").read_bytes() == b"alpha" * 1000
    assert digests["a.gz"].sha256 == hashlib.sha256(b"alpha" * 1000).hexdigest() and digests["c.txt"].size == 1


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ("../evil.gz", "path leaves the target folder"),
        ("gzip/../../evil.gz", "path leaves the target folder"),
        ("/etc/evil.gz", "absolute path"),
        ("C:/evil.gz", "absolute path"),
    ],
)
def test_refuses_an_archive_with_a_member_that_escapes(member: str, reason: str, tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "crafted.zip", {"gzip/a.gz": b"a", member: b"pwned"})
    dest = tmp_path / "ds"
    with pytest.raises(UnsafeArchiveError) as info:
        extract(archive, dest, {"gzip/a.gz": "a.gz"})
    assert str(info.value) == f"crafted.zip: unsafe member {member!r} ({reason}); refusing to extract"
    assert not dest.exists() and not (tmp_path / "evil.gz").exists()


def test_refuses_symlinks(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "links.zip", {"gzip/a.gz": b"a"}, symlinks={"gzip/link": "/etc/passwd"})
    with pytest.raises(
        UnsafeArchiveError, match=r"^links\.zip: unsafe member 'gzip/link' \(symbolic link\); refusing to extract$"
    ):
        extract(archive, tmp_path / "ds", {"gzip/a.gz": "a.gz"})


def test_refuses_more_than_the_size_limit(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "big.zip", {"gzip/a.gz": bytes(10_000)})
    with pytest.raises(UnsafeArchiveError) as info:
        extract(archive, tmp_path / "ds", {"gzip/a.gz": "a.gz"}, max_total=1000)
    assert (
        str(info.value)
        == "big.zip: the requested members would take 10,000 bytes, more than the 1,000-byte limit; refusing to extract"
    )


def test_a_target_name_cannot_be_a_path(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "g.zip", {"gzip/a.gz": b"a"})
    with pytest.raises(UnsafeArchiveError, match=r"refusing to extract 'gzip/a.gz' to '../a.gz'"):
        extract(archive, tmp_path / "ds", {"gzip/a.gz": "../a.gz"})


def test_a_missing_member_is_named(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "g.zip", {"gzip/a.gz": b"a"})
    with pytest.raises(VerificationError, match=r"^g\.zip: has no member 'gzip/b\.gz'$"):
        extract(archive, tmp_path / "ds", {"gzip/b.gz": "b.gz"})


def test_a_corrupt_member_leaves_nothing_behind(tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "g.zip", {"gzip/b.gz": b"x" * 5000, "gzip/a.gz": b"good"}, compression=zipfile.ZIP_STORED
    )
    data = archive.read_bytes()
    at = data.index(b"good")
    archive.write_bytes(data[:at] + b"evil" + data[at + 4 :])  # same length, wrong CRC
    dest = tmp_path / "ds"
    dest.mkdir()
    (dest / "a.gz").write_bytes(b"old")
    with pytest.raises(VerificationError, match=r"^g\.zip: member 'gzip/a\.gz' is corrupt \(Bad CRC-32"):
        extract(archive, dest, {"gzip/b.gz": "b.gz", "gzip/a.gz": "a.gz"})
    assert sorted(p.name for p in dest.iterdir()) == ["a.gz"] and (dest / "a.gz").read_bytes() == b"old"


def test_not_a_zip(tmp_path: Path) -> None:
    bad = tmp_path / "gzip.zip"
    bad.write_bytes(b"<html>nope</html>")
    with pytest.raises(VerificationError, match=r"^gzip\.zip: not a readable zip archive \(File is not a zip file\)$"):
        extract(bad, tmp_path / "ds", {"a": "a"})


def test_a_symlink_planted_at_a_member_name_is_replaced_never_written_through(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "gzip.zip", {"gzip/a.gz": b"alpha"})
    dest = tmp_path / "ds"
    dest.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (dest / "a.gz").symlink_to(victim)
    extract(archive, dest, {"gzip/a.gz": "a.gz"})
    assert victim.read_text() == "precious\n"
    assert not (dest / "a.gz").is_symlink() and (dest / "a.gz").read_bytes() == b"alpha"


def test_a_file_swapped_in_after_the_rename_is_removed(tmp_path: Path) -> None:
    import os

    from idxtool.archive import _recheck

    written = tmp_path / "a.gz"
    written.write_bytes(b"alpha")
    st = os.lstat(written)
    written.unlink()
    written.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(VerificationError, match=r"a.gz was replaced by another file while it was extracted"):
        _recheck(written, (st.st_dev, st.st_ino), "gzip.zip")
    assert not written.is_symlink()
