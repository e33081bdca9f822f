"""checksum: digests, judging a file against what was published, check_file's ChecksumError."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest

from idxtool import registry
from idxtool.checksum import Expected, check_file, file_digest, judge
from idxtool.errors import ChecksumError, IdxError, VerificationError


def test_check_file_returns_the_digest_of_a_published_file(mnist_labels: Path) -> None:
    published = registry.get("mnist").resource(mnist_labels.name)
    digest = check_file(mnist_labels, Expected.of(published))
    assert (digest.size, digest.sha256) == (published.size, published.sha256)
    assert digest == file_digest(mnist_labels, md5=False)  # a sha256 was published: no md5 computed
    assert digest.md5 is None and file_digest(mnist_labels).md5 == published.md5


def test_check_file_accepts_a_recompressed_copy_by_its_payload(mnist_images: Path) -> None:
    published = Expected.of(registry.get("mnist").resource(mnist_images.name))
    digest = check_file(mnist_images, published)  # re-gzipped by a third party, same IDX payload
    assert digest.sha256 != published.sha256 and judge(mnist_images, digest, published).repacked


def test_check_file_raises_a_checksum_error_naming_file_hashes_and_remedy(mnist_labels: Path, tmp_path: Path) -> None:
    published = registry.get("mnist").resource(mnist_labels.name)
    cut = tmp_path / mnist_labels.name
    cut.write_bytes(mnist_labels.read_bytes()[:100])
    data = cut.read_bytes()
    with pytest.raises(ChecksumError) as info:
        check_file(cut, Expected.of(published))
    assert str(info.value) == (
        f"t10k-labels-idx1-ubyte.gz: size is 100 bytes, expected 4,542; "
        f"sha256 mismatch: expected {published.sha256}, got {hashlib.sha256(data).hexdigest()}. "
        "The file is corrupt or incomplete, or is not the published one (or the published hash is outdated); "
        "delete it and download it again"
    )
    assert isinstance(info.value, VerificationError) and isinstance(info.value, IdxError)
    assert info.value.exit_code == 1


def test_check_file_with_a_known_digest_and_a_payload_that_differs(mnist_labels: Path, tmp_path: Path) -> None:
    changed = tmp_path / "labels.gz"
    payload = bytearray(gzip.decompress(mnist_labels.read_bytes()))
    payload[100] ^= 1
    changed.write_bytes(gzip.compress(bytes(payload)))
    published = registry.get("mnist").resource(mnist_labels.name)
    expected = Expected("mine/labels.gz", published.sha256, idx_sha256=hashlib.sha256(b"other").hexdigest())
    with pytest.raises(ChecksumError, match=r"^mine/labels\.gz: sha256 mismatch: expected f7ae60f9"):
        check_file(changed, expected, digest=file_digest(changed))
    assert check_file(changed, Expected("only-a-name")) == file_digest(
        changed, md5=False
    )  # nothing published: nothing to fail


def test_md5_is_computed_only_for_md5_only_entries(mnist_labels: Path) -> None:
    from idxtool.checksum import Hasher, mismatches, needs_md5

    data = mnist_labels.read_bytes()
    published = Expected.of(registry.get("mnist").resource(mnist_labels.name))
    md5_only = Expected("x", md5=hashlib.md5(data).hexdigest())
    assert not needs_md5(published) and needs_md5(md5_only) and not needs_md5(Expected("nothing"))
    assert Hasher.for_expected(published).md5 is None and Hasher.for_expected(md5_only).md5 is not None
    fast = file_digest(mnist_labels, md5=False)
    assert fast.md5 is None and mismatches(fast, published) == []  # sha256 judges it
    assert mismatches(fast, md5_only) == ["md5 was not computed, and only an md5 was published"]
    assert check_file(mnist_labels, md5_only).md5 == md5_only.md5  # check_file asks for md5 itself
    wrong = Expected("x", md5="0" * 32)
    with pytest.raises(ChecksumError, match=f"md5 mismatch: expected {'0' * 32}, got {md5_only.md5}"):
        check_file(mnist_labels, wrong)


def test_an_expectation_key_changes_with_every_published_field() -> None:
    base = Expected("a", "A" * 64, "b" * 32, 10, "c" * 64)
    assert base.key() == Expected("other-name", "a" * 64, "b" * 32, 10, "c" * 64).key()  # name and case ignored
    for changed in (
        Expected("a", "d" * 64, "b" * 32, 10, "c" * 64),
        Expected("a", "a" * 64, None, 10, "c" * 64),
        Expected("a", "a" * 64, "b" * 32, 11, "c" * 64),
        Expected("a", "a" * 64, "b" * 32, 10, None),
    ):
        assert changed.key() != base.key()
