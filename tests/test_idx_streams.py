"""Reading IDX from binary file objects: open files, BytesIO, real pipes, zip members, HTTP bodies.

Every input is real: the published files in ../shared/datasets, OS pipes fed by a thread or
by ``cat``, a zip archive written here, a real http.server on 127.0.0.1. Each array read
from a stream must equal ``idxtool.read(path)`` exactly.
"""

from __future__ import annotations

import bz2
import doctest
import gzip
import io
import lzma
import os
import struct
import subprocess
import sys
import threading
import tracemalloc
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pytest
from http_server import FaultServer, serve

import idxtool
from idxtool import compress, idx
from idxtool.errors import InputNotFoundError, InvalidIdxError, RecordIndexError, UsageError

CODECS: dict[str, Callable[[bytes], bytes]] = {
    "raw": lambda b: b,
    "gzip": lambda b: gzip.compress(b, 6, mtime=0),
    "xz": lambda b: lzma.compress(b, preset=1),
    "bz2": lambda b: bz2.compress(b, 1),
}


@pytest.fixture(scope="module")
def int_labels_idx(qmnist_int_labels: Path) -> bytes:
    """The real QMNIST extended labels, decompressed: 60000 x 8 big-endian int32 (1.9 MB)."""
    return gzip.decompress(qmnist_int_labels.read_bytes())


@pytest.fixture(scope="module")
def expected_int_labels(qmnist_int_labels: Path) -> np.ndarray:
    return idxtool.read(qmnist_int_labels)


@pytest.fixture(scope="module")
def encoded(int_labels_idx: bytes) -> dict[str, bytes]:
    """The QMNIST labels in every compression idxtool reads."""
    return {codec: fn(int_labels_idx) for codec, fn in CODECS.items()}


def assert_same(got: np.ndarray, expected: np.ndarray) -> None:
    assert got.dtype == expected.dtype and got.dtype.isnative
    assert got.shape == expected.shape
    assert np.array_equal(got, expected)


@pytest.fixture()
def pipe_reader() -> Iterator[Callable[..., BinaryIO]]:
    """Open a real OS pipe fed by a writer thread in small pieces; returns the read end."""
    opened: list[tuple[BinaryIO, threading.Thread]] = []

    def make(data: bytes, *, buffering: int = -1, piece: int = 65536) -> BinaryIO:
        r, w = os.pipe()

        def feed() -> None:
            with os.fdopen(w, "wb", buffering=0) as out:
                try:
                    for start in range(0, len(data), piece):
                        out.write(data[start : start + piece])
                except BrokenPipeError:  # the reader stopped early (an error test): fine
                    pass

        thread = threading.Thread(target=feed, daemon=True)
        thread.start()
        reader: BinaryIO = os.fdopen(r, "rb", buffering=buffering)
        opened.append((reader, thread))
        return reader

    yield make
    for reader, thread in opened:
        reader.close()
        thread.join(timeout=10)


# -- every kind of file object, every compression, exact arrays ----------------------------------


@pytest.mark.parametrize("codec", list(CODECS))
def test_open_binary_file(
    tmp_path: Path, encoded: dict[str, bytes], expected_int_labels: np.ndarray, codec: str
) -> None:
    path = tmp_path / f"labels-{codec}"
    path.write_bytes(encoded[codec])
    with open(path, "rb") as fh:
        with idxtool.open_idx(fh) as f:
            assert (f.name, f.compression, f.size_on_disk, f.path) == (str(path), codec, None, None)
            got = f.read()
        assert not fh.closed
        fh.seek(0)  # the caller's file is untouched by closing ours
        assert fh.read(4) == encoded[codec][:4]
    assert_same(got, expected_int_labels)
    assert_same(idxtool.read(path), expected_int_labels)


@pytest.mark.parametrize("codec", list(CODECS))
def test_bytesio(encoded: dict[str, bytes], expected_int_labels: np.ndarray, codec: str) -> None:
    buf = io.BytesIO(encoded[codec])
    assert_same(idxtool.read(buf), expected_int_labels)
    assert not buf.closed


@pytest.mark.parametrize("buffering", [0, -1], ids=["unbuffered", "buffered"])
@pytest.mark.parametrize("codec", list(CODECS))
def test_real_os_pipe(
    pipe_reader: Callable[..., BinaryIO],
    encoded: dict[str, bytes],
    expected_int_labels: np.ndarray,
    codec: str,
    buffering: int,
) -> None:
    # Pieces of 1,000 bytes: an unbuffered reader sees short reads, even inside the header.
    reader = pipe_reader(encoded[codec], buffering=buffering, piece=1000)
    assert not reader.seekable()
    with idxtool.open_idx(reader, name="pipe") as f:
        assert (f.compression, f.size_on_disk) == (codec, None)
        assert_same(f.read(), expected_int_labels)
    assert not reader.closed


@pytest.mark.parametrize("codec", list(CODECS))
def test_pipe_chunks_concatenate_to_read(
    pipe_reader: Callable[..., BinaryIO], encoded: dict[str, bytes], expected_int_labels: np.ndarray, codec: str
) -> None:
    with idxtool.open_idx(pipe_reader(encoded[codec])) as f:
        parts = list(f.chunks(7000))
    assert [len(p) for p in parts] == [7000] * 8 + [4000]
    assert_same(np.concatenate(parts), expected_int_labels)


def test_cat_pipe_of_real_gzip_images(mnist_images: Path) -> None:
    expected = idxtool.read(mnist_images)
    with subprocess.Popen(["cat", str(mnist_images)], stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        with idxtool.open_idx(proc.stdout) as f:
            assert (f.name, f.shape, f.compression) == ("<stream>", (10000, 28, 28), "gzip")
            assert_same(f.read(), expected)
        assert not proc.stdout.closed
    assert proc.returncode == 0


def test_real_stdin_pipe_as_the_cli_passes_it(mnist_labels: Path) -> None:
    script = "import sys, idxtool; a = idxtool.read(sys.stdin.buffer, name='-'); print(a.shape, int(a.sum()))"
    with subprocess.Popen(["cat", str(mnist_labels)], stdout=subprocess.PIPE) as cat:
        done = subprocess.run(
            [sys.executable, "-c", script], stdin=cat.stdout, capture_output=True, text=True, check=False
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"(10000,) {int(idxtool.read(mnist_labels).sum())}"


def test_stdin_errors_name_the_dash() -> None:
    script = "import sys, idxtool; idxtool.read(sys.stdin.buffer, name='-')"
    done = subprocess.run(
        [sys.executable, "-c", script], input=b"\x00\x00\x08\x01\x00\x00\x00\x05ab", capture_output=True, check=False
    )
    assert b"InvalidIdxError: -: body is shorter than the header says: 2 bytes" in done.stderr


def test_named_pipe_path_is_read_once_as_a_stream(tmp_path: Path, mnist_labels: Path) -> None:
    fifo = tmp_path / "labels.fifo"
    os.mkfifo(fifo)
    data = mnist_labels.read_bytes()

    def feed() -> None:
        with open(fifo, "wb") as out:
            out.write(data)

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    with idxtool.open_idx(fifo) as f:
        assert (f.name, f.compression, f.size_on_disk) == (str(fifo), "gzip", None)
        assert_same(f.read(), idxtool.read(mnist_labels))
    thread.join(timeout=10)


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED], ids=["stored", "deflated"])
def test_zip_members(
    tmp_path: Path, mnist_images: Path, encoded: dict[str, bytes], expected_int_labels: np.ndarray, method: int
) -> None:
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w", compression=method) as zf:
        zf.write(mnist_images, "t10k-images-idx3-ubyte.gz")
        zf.writestr("labels-idx2-int", encoded["raw"])
        zf.writestr("labels-idx2-int.xz", encoded["xz"])
    with zipfile.ZipFile(archive) as zf:
        with zf.open("t10k-images-idx3-ubyte.gz") as member:
            with idxtool.open_idx(member) as f:
                assert (f.name, f.compression) == ("t10k-images-idx3-ubyte.gz", "gzip")
                assert_same(f.read(), idxtool.read(mnist_images))
            assert not member.closed
        for name in ("labels-idx2-int", "labels-idx2-int.xz"):
            with zf.open(name) as member:
                assert_same(idxtool.read(member), expected_int_labels)


# -- HTTP bodies from a real server ------------------------------------------------------------


def test_http_response_urllib(server: FaultServer, mnist_images: Path, qmnist_int_labels: Path) -> None:
    for relative, path in [
        ("mnist/t10k-images-idx3-ubyte.gz", mnist_images),
        ("qmnist/qmnist-test-labels-idx2-int.gz", qmnist_int_labels),
    ]:
        with urllib.request.urlopen(server.url + relative, timeout=10) as response:
            with idxtool.open_idx(response, name=relative) as f:
                assert f.compression == "gzip"
                assert_same(f.read(), idxtool.read(path))
            assert not response.closed or response.length == 0


@pytest.mark.parametrize("codec", ["raw", "xz", "bz2"])
def test_http_response_requests_raw(
    tmp_path: Path, fast_network: None, encoded: dict[str, bytes], expected_int_labels: np.ndarray, codec: str
) -> None:
    requests = pytest.importorskip("requests")
    (tmp_path / "labels").write_bytes(encoded[codec])
    for http in serve(tmp_path):
        with requests.get(http.url + "labels", stream=True, timeout=10) as response:
            response.raise_for_status()
            with idxtool.open_idx(response.raw) as f:
                assert f.compression == codec
                parts = list(f.chunks())
    assert_same(np.concatenate(parts), expected_int_labels)


def test_http_body_cut_short_urllib(server: FaultServer) -> None:
    relative = "mnist/t10k-images-idx3-ubyte.gz"
    server.fault("/" + relative, "drop:500000")
    with urllib.request.urlopen(server.url + relative, timeout=10) as response:
        with pytest.raises(InvalidIdxError, match=rf"^{relative}: (compressed stream is truncated|read failed)"):
            idxtool.read(response, name=relative)


def test_http_body_cut_short_requests(server: FaultServer) -> None:
    requests = pytest.importorskip("requests")
    relative = "mnist/t10k-images-idx3-ubyte.gz"
    server.fault("/" + relative, "drop:500000")
    with requests.get(server.url + relative, stream=True, timeout=10) as response:
        with pytest.raises(InvalidIdxError, match=r"^download: (compressed stream is truncated|read failed)"):
            idxtool.read(response.raw, name="download")


# -- wrong lengths, named after the stream -------------------------------------------------------


def idx_bytes(shape: tuple[int, ...], body: bytes) -> bytes:
    return bytes([0, 0, 0x08, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + body


@pytest.mark.parametrize("codec", list(CODECS))
def test_truncated_stream_is_invalid_naming_it(
    pipe_reader: Callable[..., BinaryIO], int_labels_idx: bytes, codec: str
) -> None:
    short = CODECS[codec](int_labels_idx[:-4])  # a complete stream of a body one record too short
    with pytest.raises(InvalidIdxError) as info:
        idxtool.read(io.BytesIO(short))
    assert str(info.value) == (
        "<stream>: body is shorter than the header says: 1,919,996 bytes, "
        "header declares 60000 x 8 int32 = 1,920,000 bytes"
    )
    with pytest.raises(InvalidIdxError, match=r"^cut: body is shorter than the header says: 1,919,996 bytes"):
        with idxtool.open_idx(pipe_reader(short), name="cut") as f:
            for _ in f.chunks():
                pass


@pytest.mark.parametrize("codec", ["gzip", "xz", "bz2"])
def test_cut_compressed_stream_is_invalid_naming_it(
    pipe_reader: Callable[..., BinaryIO], encoded: dict[str, bytes], codec: str
) -> None:
    data = encoded[codec]
    with pytest.raises(InvalidIdxError, match=r"^cut\.gz: (compressed stream is truncated|body is shorter)"):
        idxtool.read(pipe_reader(data[: len(data) // 2]), name="cut.gz")


@pytest.mark.parametrize("codec", ["gzip", "xz", "bz2"])
def test_corrupt_compressed_stream_is_invalid_naming_it(encoded: dict[str, bytes], codec: str) -> None:
    data = bytearray(encoded[codec])
    for i in range(len(data) // 3, len(data) // 3 + 64):
        data[i] ^= 0x5A
    with pytest.raises(InvalidIdxError, match=r"^bad: compressed stream is (corrupt|truncated)"):
        idxtool.read(io.BytesIO(bytes(data)), name="bad")


@pytest.mark.parametrize("codec", list(CODECS))
def test_over_long_stream_is_invalid_naming_it(
    pipe_reader: Callable[..., BinaryIO], int_labels_idx: bytes, codec: str
) -> None:
    long = CODECS[codec](int_labels_idx + b"\x00" * 32)
    message = r"^long: body is longer than the header says \(header declares 60000 x 8 int32 = 1,920,000 bytes\)$"
    with pytest.raises(InvalidIdxError, match=message):
        idxtool.read(pipe_reader(long), name="long")
    with pytest.raises(InvalidIdxError, match=message), idxtool.open_idx(io.BytesIO(long), name="long") as f:
        f.check_body()


@pytest.mark.parametrize("codec", list(CODECS))
def test_broken_headers_from_a_stream(codec: str) -> None:
    for content, message in [
        (b"", "<stream>: file is empty"),
        (b"\x00\x00", "<stream>: file is 2 bytes, shorter than an IDX magic number"),
        (b"\x01\x02\x08\x01" + bytes(8), "<stream>: not an IDX file (magic starts with 01 02, expected 00 00)"),
        (bytes([0, 0, 8, 3]) + struct.pack(">I", 5), "<stream>: header declares 3 dimensions but is cut short after 1"),
    ]:
        with pytest.raises(InvalidIdxError) as info:
            idxtool.read(io.BytesIO(CODECS[codec](content)))
        assert str(info.value).startswith(message)


def test_reads_from_the_current_position(int_labels_idx: bytes, expected_int_labels: np.ndarray) -> None:
    buf = io.BytesIO(b"preamble" + int_labels_idx + b"trailer")
    buf.seek(8)
    with pytest.raises(InvalidIdxError, match="longer"):
        idxtool.read(buf)
    buf = io.BytesIO(b"preamble" + gzip.compress(int_labels_idx))
    buf.seek(8)
    assert_same(idxtool.read(buf), expected_int_labels)


# -- a huge declared body costs nothing until the data arrives -------------------------------------


def peak_bytes(fn: Callable[[], object]) -> int:
    """Peak traced memory (numpy buffers included) while ``fn`` runs; its InvalidIdxError is expected."""
    tracemalloc.start()
    try:
        with pytest.raises(InvalidIdxError, match=r"^huge: .*(shorter|truncated)"):
            fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_tracemalloc_sees_numpy_buffers() -> None:
    """The measurement below is meaningful: a numpy allocation shows in the traced peak."""
    tracemalloc.start()
    try:
        arr = np.empty(256 << 20, np.uint8)
        peak = tracemalloc.get_traced_memory()[1]
        del arr
    finally:
        tracemalloc.stop()
    assert peak >= 256 << 20


@pytest.mark.parametrize("codec", list(CODECS))
def test_huge_declared_body_is_never_allocated(pipe_reader: Callable[..., BinaryIO], codec: str) -> None:
    data = CODECS[codec](idx_bytes((2**31,), b"\x07" * 100))  # declares 2 GiB, delivers 100 bytes
    limit = 100 << 20

    def read_all() -> None:
        idxtool.read(pipe_reader(data), name="huge")

    def chunks_default() -> None:
        with idxtool.open_idx(pipe_reader(data), name="huge") as f:
            list(f.chunks())

    def chunks_all_at_once() -> None:
        with idxtool.open_idx(io.BytesIO(data), name="huge") as f:
            list(f.chunks(records=2**31))

    def last_record() -> None:
        with idxtool.open_idx(pipe_reader(data), name="huge") as f:
            f.record(2**31 - 1)

    for fn in (read_all, chunks_default, chunks_all_at_once, last_record):
        assert peak_bytes(fn) < limit, fn.__name__


def test_huge_records_grow_with_the_data(pipe_reader: Callable[..., BinaryIO]) -> None:
    """One record declared at 2**62 bytes: chunks() of one record still allocates only what came."""
    data = gzip.compress(idx_bytes((2, 2**31, 2**31), b"\x01" * 1000))
    with idxtool.open_idx(pipe_reader(data), name="huge") as f:
        assert peak_bytes(lambda: list(f.chunks())) < 100 << 20


# -- the caller's file object, record(), memmap(), missing paths ----------------------------------


@pytest.mark.parametrize("codec", list(CODECS))
def test_callers_file_object_stays_open(tmp_path: Path, encoded: dict[str, bytes], codec: str) -> None:
    path = tmp_path / "labels"
    path.write_bytes(encoded[codec])
    with open(path, "rb") as fh:
        f = idxtool.open_idx(fh)
        f.close()
        assert not fh.closed
        fh.seek(0)
        with idxtool.open_idx(fh) as f:
            list(f.chunks())
        assert not fh.closed
        fh.seek(0)
        broken = io.BytesIO(encoded[codec][: len(encoded[codec]) // 2])
        with pytest.raises(InvalidIdxError):
            idxtool.read(broken)
        assert not broken.closed
        assert fh.read(2) == encoded[codec][:2]


def test_gzip_streams_use_isal(mnist_labels: Path) -> None:
    isal = pytest.importorskip("isal.igzip")
    with open(mnist_labels, "rb") as fh, idxtool.open_idx(fh) as f:
        assert isinstance(f._fh, isal.IGzipFile)
    with idxtool.open_idx(mnist_labels) as f:
        assert isinstance(f._fh, isal.IGzipFile)


@pytest.mark.parametrize("index", [10000, -10001, 2**40])
def test_record_out_of_range(mnist_labels: Path, index: int) -> None:
    message = rf"record {index} out of range \(file has 10,000 records\)"
    with idxtool.open_idx(mnist_labels) as f, pytest.raises(IndexError, match=rf"^{mnist_labels}: {message}$"):
        f.record(index)
    with open(mnist_labels, "rb") as fh, idxtool.open_idx(fh) as f:
        with pytest.raises(idxtool.IdxError, match=message) as info:
            f.record(index)
        assert f.record(0) == 7  # a refused index consumes nothing: the stream is still at record 0
    assert isinstance(info.value, RecordIndexError) and isinstance(info.value, UsageError)
    assert info.value.exit_code == 2


def test_record_on_a_stream_reads_forward_once(mnist_images: Path) -> None:
    expected = idxtool.read(mnist_images)
    with open(mnist_images, "rb") as fh, idxtool.open_idx(fh) as f:
        assert np.array_equal(f.record(5000), expected[5000])
        with pytest.raises(UsageError, match="body already consumed"):
            f.record(5001)
    raw = gzip.decompress(mnist_images.read_bytes())
    with idxtool.open_idx(io.BytesIO(raw)) as f:
        assert np.array_equal(f.record(-1), expected[-1])
        with pytest.raises(UsageError, match="body already consumed"):
            f.read()


def test_memmap_of_a_stream_is_a_usage_error(mnist_labels: Path) -> None:
    raw = gzip.decompress(mnist_labels.read_bytes())
    for source in (io.BytesIO(raw), io.BytesIO(mnist_labels.read_bytes())):
        with idxtool.open_idx(source, name="in") as f:
            with pytest.raises(UsageError, match=r"^in: is a stream, not a file on disk, and cannot be memory-mapped"):
                f.memmap()


def test_missing_path_is_file_not_found_and_idx_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.gz"
    with pytest.raises(FileNotFoundError) as info:
        idxtool.read(missing)
    assert isinstance(info.value, idxtool.IdxError) and isinstance(info.value, InputNotFoundError)
    assert str(info.value) == f"{missing}: no such file"
    assert info.value.filename == str(missing)
    with pytest.raises(idxtool.IdxError, match=f"^{tmp_path / 'a-file'}/child: no such file$"):
        (tmp_path / "a-file").write_bytes(b"")
        idxtool.open_idx(tmp_path / "a-file" / "child")
    with pytest.raises(FileNotFoundError, match=f"^{tmp_path}: is a folder, not an IDX file$"):
        idxtool.open_idx(str(tmp_path))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs file permissions that bind")
def test_unreadable_path_is_input_not_found(tmp_path: Path) -> None:
    locked = tmp_path / "locked.idx"
    locked.write_bytes(idx_bytes((1,), b"\x01"))
    locked.chmod(0)
    with pytest.raises(InputNotFoundError, match=f"^{locked}: permission denied$"):
        idxtool.read(locked)


def test_other_open_errors_do_not_escape_raw(tmp_path: Path) -> None:
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(InputNotFoundError, match=rf"^{loop}: cannot open \(Too many levels of symbolic links\)$"):
        idxtool.read(loop)


def test_sources_that_are_not_binary_files_are_usage_errors(tmp_path: Path, mnist_labels: Path) -> None:
    with pytest.raises(UsageError, match="wrap data in io.BytesIO"):
        idxtool.read(mnist_labels.read_bytes())  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="expected a path or a binary file object, got int"):
        idxtool.read(3)  # type: ignore[arg-type]
    with open(mnist_labels, encoding="latin-1") as text:
        with pytest.raises(UsageError, match=rf"^{mnist_labels}: the file object is in text mode"):
            idxtool.read(text)  # type: ignore[arg-type]
    closed = open(mnist_labels, "rb")
    closed.close()
    with pytest.raises(UsageError, match=rf"^{mnist_labels}: the file object is closed$"):
        idxtool.read(closed)


def test_paths_keep_their_size_on_disk(mnist_labels: Path) -> None:
    with idxtool.open_idx(mnist_labels) as f:
        assert f.size_on_disk == mnist_labels.stat().st_size
        assert f.path == mnist_labels and f.name == str(mnist_labels)
    with idxtool.open_idx(mnist_labels, name="labels") as f:
        assert f.name == "labels"


def test_docstring_examples_run(tmp_path: Path) -> None:
    for module in (idx, compress):
        names = {"tmp": tmp_path, "np": np, "idxtool": idxtool}
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, extraglobs=names)
        assert result.failed == 0 and result.attempted > 0, module.__name__
