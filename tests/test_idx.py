"""The IDX core: real published files read bit-exact, round trips, and a corpus of broken files."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import idxtool
from idxtool import idx
from idxtool.errors import InputNotFoundError, InvalidIdxError, ParameterError, UsageError

CODECS = {"raw": lambda b: b, "gzip": lambda b: gzip.compress(b, mtime=0), "xz": lzma.compress, "bz2": bz2.compress}
TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def independent_decode(path: Path) -> np.ndarray:
    """Decode an IDX .gz with stdlib gzip + struct, sharing no code with idxtool."""
    data = gzip.decompress(path.read_bytes())
    zero, type_code, ndim = struct.unpack(">HBB", data[:4])
    assert zero == 0
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    return np.frombuffer(data[4 + 4 * ndim :], TYPES[type_code]).reshape(shape)


# -- real published files --------------------------------------------------------------------


@pytest.mark.parametrize(
    "relative, shape, dtype",
    [
        ("mnist/t10k-images-idx3-ubyte.gz", (10000, 28, 28), "uint8"),
        ("mnist/t10k-labels-idx1-ubyte.gz", (10000,), "uint8"),
        ("mnist/train-labels-idx1-ubyte.gz", (60000,), "uint8"),
        ("fashion-mnist/t10k-labels-idx1-ubyte.gz", (10000,), "uint8"),
        ("fashion-mnist/train-labels-idx1-ubyte.gz", (60000,), "uint8"),
        ("qmnist/qmnist-test-labels-idx1-ubyte.gz", (60000,), "uint8"),
        ("qmnist/qmnist-test-labels-idx2-int.gz", (60000, 8), "int32"),
    ],
)
def test_real_files_read_bit_exact(shared: Path, relative: str, shape: tuple[int, ...], dtype: str) -> None:
    path = shared / relative
    arr = idxtool.read(path)
    expected = independent_decode(path)
    assert arr.shape == shape
    assert arr.dtype == np.dtype(dtype) and arr.dtype.isnative
    assert np.array_equal(arr, expected)
    assert arr.flags.writeable


def test_real_mnist_known_values(mnist_images: Path, mnist_labels: Path) -> None:
    images, labels = idxtool.read(mnist_images), idxtool.read(mnist_labels)
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert images.mean() == pytest.approx(33.7912, abs=1e-3)


def test_qmnist_int32_labels_match_class_file(shared: Path) -> None:
    extended = idxtool.read(shared / "qmnist/qmnist-test-labels-idx2-int.gz")
    classes = idxtool.read(shared / "qmnist/qmnist-test-labels-idx1-ubyte.gz")
    assert np.array_equal(extended[:, 0], classes)


def test_open_idx_reads_header_only_and_chunks(mnist_images: Path) -> None:
    with idxtool.open_idx(mnist_images) as f:
        assert (f.dtype, f.shape, f.compression, f.count) == (np.dtype("uint8"), (10000, 28, 28), "gzip", 10000)
        assert f._position == 0  # nothing of the body read yet
        chunks = list(f.chunks(3000))
    assert [len(c) for c in chunks] == [3000, 3000, 3000, 1000]
    assert np.array_equal(np.concatenate(chunks), independent_decode(mnist_images))


def test_compression_is_told_by_content_not_name(tmp_path: Path, mnist_labels: Path) -> None:
    expected = independent_decode(mnist_labels)
    gz_named_idx = tmp_path / "labels.idx"
    gz_named_idx.write_bytes(mnist_labels.read_bytes())
    raw_named_gz = tmp_path / "labels.gz"
    raw_named_gz.write_bytes(gzip.decompress(mnist_labels.read_bytes()))
    with idxtool.open_idx(gz_named_idx) as f, idxtool.open_idx(raw_named_gz) as g:
        assert (f.compression, g.compression) == ("gzip", "raw")
    assert np.array_equal(idxtool.read(gz_named_idx), expected)
    assert np.array_equal(idxtool.read(raw_named_gz), expected)


def test_memmap_is_lazy_and_exact(tmp_path: Path, qmnist_int_labels: Path) -> None:
    raw = tmp_path / "labels-idx2-int"
    raw.write_bytes(gzip.decompress(qmnist_int_labels.read_bytes()))
    with idxtool.open_idx(raw) as f:
        mapped = f.memmap()
    assert isinstance(mapped, np.memmap)
    assert np.array_equal(mapped, idxtool.read(qmnist_int_labels))
    with idxtool.open_idx(qmnist_int_labels) as f, pytest.raises(UsageError, match="gzip-compressed and cannot be"):
        f.memmap()


def test_record_streams_to_one_record(mnist_images: Path) -> None:
    with idxtool.open_idx(mnist_images) as f:
        rec = f.record(9999)
    assert np.array_equal(rec, independent_decode(mnist_images)[9999])


# -- round trips ----------------------------------------------------------------------------

dtypes = st.sampled_from(["uint8", "int8", "int16", "int32", "float32", "float64"])
arrays = dtypes.flatmap(lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=1, max_dims=5, min_side=0, max_side=6)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(array=arrays, codec=st.sampled_from(["", ".gz", ".xz", ".bz2"]))
def test_round_trip_every_type_and_ndim(tmp_path: Path, array: np.ndarray, codec: str) -> None:
    path = tmp_path / f"a{codec}"
    idxtool.write(path, array)
    back = idxtool.read(path)
    assert back.dtype == array.dtype and back.shape == array.shape
    assert np.array_equal(back, array, equal_nan=array.dtype.kind == "f")
    with idxtool.open_idx(path) as f:
        assert f.compression == {"": "raw", ".gz": "gzip", ".xz": "xz", ".bz2": "bz2"}[codec]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(array=arrays, per_chunk=st.integers(1, 7))
def test_chunks_concatenate_to_read(tmp_path: Path, array: np.ndarray, per_chunk: int) -> None:
    path = tmp_path / "c.gz"
    idxtool.write(path, array)
    with idxtool.open_idx(path) as f:
        parts = list(f.chunks(per_chunk))
    got = np.concatenate(parts) if parts else np.empty(array.shape, array.dtype)
    assert np.array_equal(got.reshape(array.shape), array, equal_nan=True)


def test_written_bytes_are_big_endian_idx(tmp_path: Path) -> None:
    arr = np.array([[1, -2], [300, 70000]], dtype=np.int32)
    path = idxtool.write(tmp_path / "x.idx", arr)
    assert path.read_bytes() == bytes([0, 0, 0x0C, 2]) + struct.pack(">II", 2, 2) + arr.astype(">i4").tobytes()


def test_explicit_compression_overrides_suffix(tmp_path: Path) -> None:
    path = idxtool.write(tmp_path / "x.idx", np.arange(10, dtype=np.uint8), compression="gzip")
    assert path.read_bytes()[:2] == b"\x1f\x8b"


def test_gzip_written_at_a_sane_level(tmp_path: Path, mnist_images: Path) -> None:
    images = idxtool.read(mnist_images)
    path = idxtool.write(tmp_path / "x.gz", images)
    level9 = len(gzip.compress(gzip.decompress(path.read_bytes()), 9))
    assert level9 < path.stat().st_size < level9 * 1.05  # level 6: within 5% of 9, not 9 itself


@pytest.mark.parametrize("dtype", ["int64", "uint16", "bool", "complex64"])
def test_write_refuses_types_idx_cannot_hold(tmp_path: Path, dtype: str) -> None:
    with pytest.raises(UsageError, match=f"cannot write {dtype} to IDX"):
        idxtool.write(tmp_path / "x.idx", np.zeros(3, dtype))
    assert list(tmp_path.iterdir()) == []


def test_write_is_atomic_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "keep.idx"
    target.write_bytes(b"precious")

    def chunks():
        yield np.zeros(4, np.uint8)
        raise RuntimeError("disk full")

    header = idx.Header(0x08, (8,))
    with pytest.raises(RuntimeError):
        with idx.atomic_file(target) as fh:
            idx.write_stream(fh, header, chunks())
    assert target.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.idx"]


# -- broken files ---------------------------------------------------------------------------


def idx_bytes(type_code: int = 0x08, shape: tuple[int, ...] = (2, 3), body: bytes | None = None) -> bytes:
    head = bytes([0, 0, type_code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)
    if body is None:
        body = bytes(int(np.prod(shape)) * np.dtype(TYPES.get(type_code, ">u1")).itemsize)
    return head + body


BROKEN = {
    "empty": (b"", "file is empty"),
    "two bytes": (b"\x00\x00", "file is 2 bytes, shorter than an IDX magic number"),
    "bad magic": (b"\x01\x02\x08\x01" + b"\x00" * 8, "not an IDX file (magic starts with 01 02, expected 00 00)"),
    "unknown type": (idx_bytes(type_code=0x0A), "unknown IDX type code 0x0A"),
    "short header": (
        bytes([0, 0, 8, 3]) + struct.pack(">I", 5),
        "header declares 3 dimensions but is cut short after 1",
    ),
    "short body": (
        idx_bytes(body=b"\x01" * 5),
        "body is shorter than the header says: 5 bytes, header declares 2 x 3 uint8 = 6 bytes",
    ),
    "long body": (idx_bytes(body=b"\x01" * 7), "body is longer than the header says"),
}


@pytest.mark.parametrize("codec", list(CODECS))
@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_files_fail_with_one_clear_error(tmp_path: Path, case: str, codec: str) -> None:
    content, message = BROKEN[case]
    if codec != "raw" and case == "empty":
        message = "file is empty"
    path = tmp_path / f"broken-{codec}"
    path.write_bytes(CODECS[codec](content))
    with pytest.raises(InvalidIdxError) as info:
        idxtool.read(path)
    text = str(info.value)
    assert text.startswith(f"{path}: ")
    assert message in text
    assert "\n" not in text
    with pytest.raises(InvalidIdxError):
        with idxtool.open_idx(path) as f:
            f.check_body()


@pytest.mark.parametrize("codec", ["gzip", "xz", "bz2"])
def test_truncated_compressed_stream(tmp_path: Path, mnist_labels: Path, codec: str) -> None:
    data = CODECS[codec](gzip.decompress(mnist_labels.read_bytes()))
    path = tmp_path / "trunc"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidIdxError, match=rf"^{path}: (compressed stream is truncated|body is shorter)"):
        idxtool.read(path)


@pytest.mark.parametrize("codec", ["gzip", "xz", "bz2"])
def test_corrupt_compressed_stream(tmp_path: Path, mnist_labels: Path, codec: str) -> None:
    data = bytearray(CODECS[codec](gzip.decompress(mnist_labels.read_bytes())))
    for i in range(len(data) // 3, len(data) // 3 + 64):
        data[i] ^= 0x5A
    path = tmp_path / "corrupt"
    path.write_bytes(bytes(data))
    with pytest.raises(InvalidIdxError, match=rf"^{path}: "):
        idxtool.read(path)


@pytest.mark.parametrize("codec", list(CODECS))
def test_huge_header_claim_fails_fast_without_allocating(tmp_path: Path, codec: str) -> None:
    path = tmp_path / "huge"
    path.write_bytes(CODECS[codec](idx_bytes(shape=(2**31, 2**31), body=b"\x00" * 1000)))
    with pytest.raises(InvalidIdxError, match="body|hold"):
        idxtool.read(path)  # a 2**62-byte allocation would raise MemoryError instead


def test_missing_and_folder_inputs(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match=f"^{tmp_path / 'nope'}: no such file$"):
        idxtool.read(tmp_path / "nope")
    with pytest.raises(InputNotFoundError, match="is a folder"):
        idxtool.read(tmp_path)


def test_every_error_is_an_idxerror() -> None:
    for name in idxtool.__all__:
        obj = getattr(idxtool, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, idxtool.IdxError)


def test_no_temp_files_left_after_write(tmp_path: Path) -> None:
    idxtool.write(tmp_path / "a.gz", np.arange(100, dtype=np.int16))
    assert os.listdir(tmp_path) == ["a.gz"]


def test_unwritable_output_is_an_idxerror_naming_the_target(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_bytes(b"")
    target = blocker / "x.gz"
    with pytest.raises(idxtool.OutputError) as info:
        idxtool.write(target, np.zeros(3, np.uint8))
    assert str(info.value).startswith(f"{target}: ")
    assert str(blocker) in str(info.value) and ".tmp" not in str(info.value)
    assert info.value.exit_code == 1 and isinstance(info.value, OSError)


def test_write_creates_no_missing_folder(tmp_path: Path) -> None:
    """Issue 9: a missing parent folder is an OutputError naming it, and nothing is created."""
    target = tmp_path / "not" / "there" / "x.idx"
    with pytest.raises(idxtool.OutputError, match=r"folder .*not/there does not exist") as info:
        idxtool.write(target, np.zeros(3, np.uint8))
    assert str(info.value).startswith(f"{target}: ") and str(tmp_path / "not" / "there") in str(info.value)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "not" / "there").mkdir(parents=True)
    assert idxtool.read(idxtool.write(target, np.zeros(3, np.uint8))).tolist() == [0, 0, 0]


# -- threaded gzip writing (issue 12) --------------------------------------------------------


@pytest.fixture(scope="module")
def emnist_like(mnist_images: Path) -> np.ndarray:
    """12,000 real MNIST test images (tiled): nine writer blocks, real compressibility."""
    images = idxtool.read(mnist_images)
    return np.concatenate([images, images[:2000]])


def test_threaded_gzip_same_bytes_for_any_threads_and_writes(tmp_path: Path, emnist_like: np.ndarray) -> None:
    from idxtool import compress

    files = [idxtool.write(tmp_path / f"t{n}.gz", emnist_like, threads=n).read_bytes() for n in (1, 2, 3, 8)]
    assert len(set(files)) == 1
    again = idxtool.write(tmp_path / "again.gz", emnist_like).read_bytes()  # default: the core count
    assert again == files[0]
    raw = idx.header_for(emnist_like).pack() + emnist_like.tobytes()
    out = io.BytesIO()
    writer = compress.open_write(out, "gzip", threads=2)
    pos, step = 0, 1
    while pos < len(raw):  # odd write sizes, crossing block boundaries anywhere
        writer.write(raw[pos : pos + step])
        pos, step = pos + step, step * 3 + 1
    writer.close()
    assert out.getvalue() == files[0]
    assert writer.closed and not out.closed


def test_threaded_gzip_is_read_by_every_reader(tmp_path: Path, emnist_like: np.ndarray) -> None:
    import shutil
    import subprocess

    from isal import igzip

    path = idxtool.write(tmp_path / "x.gz", emnist_like, threads=2)
    data = path.read_bytes()
    raw = idx.header_for(emnist_like).pack() + emnist_like.tobytes()
    assert gzip.decompress(data) == raw
    assert igzip.decompress(data) == raw
    assert np.array_equal(idxtool.read(path), emnist_like)
    assert data[:4] == b"\x1f\x8b\x08\x00" and data[4:8] == bytes(4)  # no name, mtime 0
    for tool in ("gzip", "zcat", "pigz"):
        if shutil.which(tool):
            args = [tool, "-dc"] if tool != "zcat" else [tool]
            assert subprocess.run([*args, str(path)], capture_output=True, check=True).stdout == raw, tool
    assert subprocess.run(["gzip", "-t", str(path)], check=False).returncode == 0
    one_stream = len(gzip.compress(raw, 6, mtime=0))
    assert len(data) < one_stream * 1.005  # blocks primed with the previous 32 KiB: ratio kept


def test_threaded_gzip_small_and_empty(tmp_path: Path) -> None:
    from idxtool import compress

    for payload in (b"", b"x", bytes(range(256)) * 5000):
        out = io.BytesIO()
        with compress.open_write(out, "gzip", 1, threads=4) as writer:
            writer.write(payload)
        assert gzip.decompress(out.getvalue()) == payload
    with pytest.raises(idxtool.ParameterError, match="level=10"):
        compress.open_write(io.BytesIO(), "gzip", 10)
    with pytest.raises(idxtool.ParameterError, match="threads=0"):
        compress.open_write(io.BytesIO(), "gzip", threads=0)


def test_crc_combine_fallback_matches_zlib() -> None:
    import zlib

    from idxtool import compress

    a, b = os.urandom(1000), os.urandom(77_777)
    assert compress._crc32_combine_py(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)
    assert compress._crc32_combine_py(zlib.crc32(a), 0, 0) == zlib.crc32(a)


def test_threaded_gzip_threads_end_and_a_closed_target_is_left_alone() -> None:
    import threading

    from idxtool import compress

    out = io.BytesIO()
    writer = compress.open_write(out, "gzip", threads=3)
    writer.write(bytes(3 << 20))
    assert any(t.name.startswith("idxtool-gzip") for t in threading.enumerate())
    out.close()  # the caller's file went away: closing the writer must neither raise nor hang
    writer.close()
    assert not any(t.name.startswith("idxtool-gzip") for t in threading.enumerate())
    with pytest.raises(ValueError, match="closed"):
        writer.write(b"more")


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_chunks_from_start_to_stop(tmp_path: Path, suffix: str) -> None:
    """A range of records: a raw file is read from ``start`` on, a gzip one decompressed up to it;
    the end of the body is checked only by a range that reaches it."""
    data = np.arange(7 * 3 * 2, dtype=np.uint8).reshape(7, 3, 2)
    path = tmp_path / f"x{suffix}"
    idx.write(path, data)
    for start, stop in [(0, 7), (2, 5), (6, 7), (3, 3), (0, None), (4, None)]:
        with idx.open_idx(path) as f:
            got = list(f.chunks(2, start=start, stop=stop))
        expected = data[start:stop]
        assert np.array_equal(np.concatenate(got) if got else np.empty((0, 3, 2), np.uint8), expected)
        assert all(len(c) <= 2 for c in got)
    with idx.open_idx(path) as f, pytest.raises(ParameterError, match=r"must be 0 <= start <= stop <= 7"):
        f.chunks(start=5, stop=8)
    with idx.open_idx(path) as f, pytest.raises(ParameterError, match=r"must be 0 <= start <= stop <= 7"):
        f.chunks(start=3, stop=2)
    # a body cut short is found by the range that reaches the end, not by the ones before it
    raw = tmp_path / "cut"
    raw.write_bytes(idx.Header(0x08, (7, 3, 2)).pack() + data.tobytes()[:-6])
    cut = tmp_path / "cut.gz"
    cut.write_bytes(gzip.compress(raw.read_bytes()))
    with idx.open_idx(cut) as f:
        assert np.array_equal(np.concatenate(list(f.chunks(start=1, stop=5))), data[1:5])
    with idx.open_idx(cut) as f, pytest.raises(InvalidIdxError, match="body is shorter"):
        list(f.chunks(start=5))


def test_parts_read_a_range_of_records(tmp_path: Path) -> None:
    """Part.image_chunks(start=, stop=) of arrays, files, and selections of files."""
    from idxtool.loading import IdxImages
    from idxtool.model import Part

    data = np.arange(10 * 2 * 2, dtype=np.uint8).reshape(10, 2, 2)
    idx.write(tmp_path / "raw", data)
    idx.write(tmp_path / "z.gz", data)
    parts = [Part(data), Part(IdxImages(tmp_path / "raw")), Part(IdxImages(tmp_path / "z.gz"))]
    assert [p.seekable for p in parts] == [True, True, False]
    for part in parts:
        assert np.array_equal(np.concatenate(list(part.image_chunks(3, start=2, stop=9))), data[2:9])
        narrow = part.select(4, 9)  # records 4..8 of the source
        assert narrow.seekable == part.seekable
        assert np.array_equal(np.concatenate(list(narrow.image_chunks(2, start=1, stop=3))), data[5:7])
        assert np.array_equal(np.concatenate(list(narrow.image_chunks())), data[4:9])


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_a_part_reads_its_file_whole_into_one_array(tmp_path: Path, suffix: str) -> None:
    """Part.images of a file: the file's own whole read (one allocation, filled in place), or
    the selected records only; a body cut short is an error, never unfilled memory."""
    from idxtool.loading import IdxImages
    from idxtool.model import Part

    data = np.arange(9 * 4 * 3, dtype=np.uint8).reshape(9, 4, 3)
    path = idx.write(tmp_path / f"x{suffix}", data)
    whole = Part(IdxImages(path)).images
    assert np.array_equal(whole, data) and whole.flags.writeable
    assert np.array_equal(Part(IdxImages(path)).select(2, 7).images, data[2:7])
    assert np.array_equal(Part(IdxImages(path)).select(3, 3).images, data[3:3])
    cut = tmp_path / f"cut{suffix}"
    body = idx.Header(0x08, (9, 4, 3)).pack() + data.tobytes()[:-5]
    cut.write_bytes(gzip.compress(body) if suffix else body)
    with pytest.raises(InvalidIdxError, match="body is shorter"):  # raw: from its size, at once
        Part(IdxImages(cut)).images  # noqa: B018
    with pytest.raises(InvalidIdxError, match="body is shorter"):
        Part(IdxImages(cut)).select(5, 9).images  # noqa: B018


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_reading_a_part_whole_holds_its_images_once(tmp_path: Path, suffix: str) -> None:
    """Not chunks and then their join: the peak is one copy of the images and a chunk of the
    decompressor's (numpy reports its allocations to tracemalloc)."""
    import tracemalloc

    from idxtool.loading import IdxImages
    from idxtool.model import Part

    data = np.random.default_rng(0).integers(0, 256, (40_000, 28, 28), dtype=np.uint8)  # 31 MB
    path = idx.write(tmp_path / f"x{suffix}", data)
    part = Part(IdxImages(path))
    tracemalloc.start()
    try:
        images = part.images
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.array_equal(images, data)
    assert peak < data.nbytes + 2 * idx.CHUNK_BYTES, f"peak {peak:,} bytes for {data.nbytes:,} bytes of images"
