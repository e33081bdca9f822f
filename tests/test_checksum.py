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
    assert digest == file_digest(mnist_labels)


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
        f"sha256 mismatch: expected {published.sha256}, got {hashlib.sha256(data).hexdigest()}; "
        f"md5 mismatch: expected {published.md5}, got {hashlib.md5(data).hexdigest()}. "
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
    assert check_file(changed, Expected("only-a-name")) == file_digest(changed)  # nothing published: nothing to fail
