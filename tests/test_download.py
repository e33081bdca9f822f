"""download.download against a real HTTP server on 127.0.0.1 with injected faults."""

from __future__ import annotations

import hashlib
import logging
import re
import time
from pathlib import Path

import pytest
from http_server import FaultServer, RecordingProgress, Records

from idxtool.checksum import Expected
from idxtool.download import download
from idxtool.errors import DownloadError, UsageError
from idxtool.policy import Policy

LABELS = "/mnist/t10k-labels-idx1-ubyte.gz"
IMAGES = "/mnist/t10k-images-idx3-ubyte.gz"


def expected_of(path: Path, name: str | None = None) -> Expected:
    data = path.read_bytes()
    return Expected(name or path.name, hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest(), len(data))


@pytest.fixture()
def labels(shared: Path) -> tuple[Path, Expected]:
    path = shared / "mnist" / "t10k-labels-idx1-ubyte.gz"
    return path, expected_of(path)


@pytest.fixture()
def images(shared: Path) -> tuple[Path, Expected]:
    path = shared / "mnist" / "t10k-images-idx3-ubyte.gz"
    return path, expected_of(path)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_plain_download_is_byte_exact(server: FaultServer, labels: tuple[Path, Expected], tmp_path: Path) -> None:
    source, expected = labels
    target = tmp_path / "out" / source.name
    got = download([server.url + LABELS[1:]], target, expected)
    assert target.read_bytes() == source.read_bytes()
    assert (got.source, got.digest.sha256, got.repacked) == (server.url + LABELS[1:], expected.sha256, False)
    assert leftovers(target.parent) == [source.name]
    seen = server.hits(LABELS)[0]
    assert seen.headers["accept-encoding"] == "identity" and seen.headers["user-agent"].startswith("idxtool/")


def test_404_moves_on_to_the_next_source(
    server: FaultServer, labels: tuple[Path, Expected], tmp_path: Path, logs: Records
) -> None:
    source, expected = labels
    server.fault(LABELS, "404")
    got = download([server.url + LABELS[1:]] * 2, tmp_path / source.name, expected)
    assert got.digest.sha256 == expected.sha256
    assert len(server.hits(LABELS)) == 2  # a 404 is not retried on the same source
    assert [(r.name, r.levelno, r.getMessage()) for r in logs.records] == [
        (
            "idxtool.download",
            logging.INFO,
            f"{source.name}: {server.url}{LABELS[1:]}: HTTP 404 Not Found; trying the next source",
        )
    ]


def test_500_then_success_is_retried_on_the_same_source(
    server: FaultServer, labels: tuple[Path, Expected], tmp_path: Path, logs: Records
) -> None:
    source, expected = labels
    server.fault(LABELS, "500", "500")
    got = download([server.url + LABELS[1:]], tmp_path / source.name, expected)
    assert got.digest.sha256 == expected.sha256 and len(server.hits(LABELS)) == 3
    assert logs.lines() == [
        f"{source.name}: {server.url}{LABELS[1:]}: HTTP 500 Internal Server Error; retrying in 0.0 s (attempt 2 of 3)",
        f"{source.name}: {server.url}{LABELS[1:]}: HTTP 500 Internal Server Error; retrying in 0.0 s (attempt 3 of 3)",
    ]
    assert {r.levelno for r in logs.records} == {logging.INFO}  # retries are --verbose detail


@pytest.mark.parametrize("fault", ["html", "html-octet"])
def test_an_html_page_is_never_taken_for_the_file(
    fault: str, server: FaultServer, labels: tuple[Path, Expected], tmp_path: Path
) -> None:
    source, expected = labels
    expected = Expected(expected.name, expected.sha256)  # no size known: the page itself must give it away
    server.fault(LABELS, fault)
    with pytest.raises(DownloadError) as info:
        download([server.url + LABELS[1:]], tmp_path / source.name, expected)
    reason = (
        "served an HTML page (Content-Type: text/html; charset=utf-8), not the file"
        if fault == "html"
        else "served an HTML page, not the file"
    )
    assert (
        str(info.value) == f"{source.name}: could not be obtained from any source: {server.url}{LABELS[1:]}: {reason}"
    )
    assert leftovers(tmp_path) == []


def test_html_from_a_dead_host_falls_back_to_the_mirror(
    server: FaultServer, labels: tuple[Path, Expected], tmp_path: Path
) -> None:
    source, expected = labels
    server.fault(LABELS, "html")
    got = download([server.url + LABELS[1:]] * 2, tmp_path / source.name, expected)
    assert got.digest.sha256 == expected.sha256


def test_a_dropped_connection_resumes_with_a_range_request(
    server: FaultServer, images: tuple[Path, Expected], tmp_path: Path, logs: Records
) -> None:
    source, expected = images
    server.fault(IMAGES, "drop:300000")
    target = tmp_path / source.name
    progress = RecordingProgress()
    got = download([server.url + IMAGES[1:]], target, expected, progress=progress)
    assert target.read_bytes() == source.read_bytes() and got.digest.sha256 == expected.sha256
    first, second = server.hits(IMAGES)
    assert "range" not in first.headers
    messages = logs.lines()
    dropped = re.match(
        rf"{re.escape(source.name)}: {re.escape(server.url + IMAGES[1:])}: connection dropped after ([\d,]+) bytes",
        messages[0],
    )
    assert dropped, messages
    kept = int(dropped.group(1).replace(",", ""))
    assert 0 < kept <= 300_000  # what reached the disk before the cut, whole chunks
    assert second.headers["range"] == f"bytes={kept}-"
    assert messages[1] == f"{source.name}: {server.url}{IMAGES[1:]}: resuming at byte {kept:,}"
    assert leftovers(tmp_path) == [source.name]
    (task,) = progress.tasks  # one task for the file, across the retry
    assert (task.description, task.total, task.unit, task.closed) == (source.name, expected.size, "bytes", 1)
    assert task.updates[-1] == expected.size and kept in task.updates


def test_a_server_that_ignores_range_starts_over(
    server: FaultServer, images: tuple[Path, Expected], tmp_path: Path
) -> None:
    source, expected = images
    server.fault(IMAGES, "drop:200000", "norange")
    target = tmp_path / source.name
    download([server.url + IMAGES[1:]], target, expected)
    assert target.read_bytes() == source.read_bytes()
    assert server.hits(IMAGES)[1].headers["range"].startswith("bytes=")  # asked to resume, got 200: took it whole


def test_wrong_bytes_are_deleted_and_named_with_both_hashes(
    server: FaultServer, labels: tuple[Path, Expected], tmp_path: Path
) -> None:
    source, expected = labels
    server.fault(LABELS, "wrong")
    progress = RecordingProgress()
    with pytest.raises(DownloadError) as info:
        download([server.url + LABELS[1:]], tmp_path / source.name, expected, progress=progress)
    assert [t.closed for t in progress.tasks] == [1]  # a failed file's task is closed too
    zeros = bytes(expected.size or 0)
    assert str(info.value) == (
        f"{source.name}: could not be obtained from any source: {server.url}{LABELS[1:]}: "
        f"sha256 mismatch: expected {expected.sha256}, got {hashlib.sha256(zeros).hexdigest()}"
    )  # md5 is not computed when a sha256 is known
    assert leftovers(tmp_path) == []  # never under the final name, no .part left


def test_a_wrong_content_length_is_refused_before_the_body(
    server: FaultServer, labels: tuple[Path, Expected], tmp_path: Path
) -> None:
    source, expected = labels
    server.fault(LABELS, "length")
    with pytest.raises(DownloadError, match=r"server announces 4,547 bytes, expected 4,542$"):
        download([server.url + LABELS[1:]], tmp_path / source.name, expected)
    assert leftovers(tmp_path) == []


def test_a_slow_reply_times_out_and_is_retried(
    server: FaultServer, labels: tuple[Path, Expected], tmp_path: Path, logs: Records
) -> None:
    source, expected = labels
    server.fault(LABELS, "slow:1.5")
    start = time.monotonic()
    download([server.url + LABELS[1:]], tmp_path / source.name, expected)
    assert time.monotonic() - start < 1.4  # the read timeout (0.5 s) fired, not the server's pace
    first = logs.lines()[0]
    assert "timed out" in first and first.endswith("retrying in 0.0 s (attempt 2 of 3)")


def test_a_source_that_always_times_out_fails_in_bounded_time(
    server: FaultServer, labels: tuple[Path, Expected], tmp_path: Path
) -> None:
    source, expected = labels
    server.fault(LABELS, "slow:3", "slow:3")
    policy = Policy(connect_timeout=1, read_timeout=0.3, retries=1, backoff=0.01)
    start = time.monotonic()
    with pytest.raises(DownloadError, match=r": timed out \(Read timed out\) \(gave up after 2 attempts\)$"):
        download([server.url + LABELS[1:]], tmp_path / source.name, expected, policy=policy)
    assert time.monotonic() - start < 2.0


def test_connection_refused_moves_on(labels: tuple[Path, Expected], tmp_path: Path, fast_network: None) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    source, expected = labels
    policy = Policy(connect_timeout=1, read_timeout=1, retries=0)
    got = download([f"http://127.0.0.1:{port}/x.gz", source.as_uri()], tmp_path / source.name, expected, policy=policy)
    assert got.source == source.as_uri()


def test_file_and_package_sources(labels: tuple[Path, Expected], tmp_path: Path) -> None:
    source, expected = labels
    download([(tmp_path / "nope.gz").as_uri(), source.as_uri()], tmp_path / "a" / source.name, expected)
    assert (tmp_path / "a" / source.name).read_bytes() == source.read_bytes()
    sample = Expected(
        "sample-labels-idx1-ubyte.gz", "f6d2e5545dd7255f15052c00be914e28f5cb2af83c55792fb84a20b7d7f3a691", size=84
    )
    got = download(
        ["package://idxtool/data/mnist-sample/sample-labels-idx1-ubyte.gz"], tmp_path / "b" / sample.name, sample
    )
    assert got.digest.size == 84


def test_a_recompressed_copy_is_accepted_by_its_payload_hash(images: tuple[Path, Expected], tmp_path: Path) -> None:
    source, _ = images
    from idxtool.registry import get

    published = Expected.of(get("mnist").resource("t10k-images-idx3-ubyte.gz"))
    got = download([source.as_uri()], tmp_path / source.name, published)
    assert got.repacked and got.digest.sha256 != published.sha256


def test_no_source_at_all(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"^x\.gz: no source to download it from$"):
        download([], tmp_path / "x.gz", Expected("x.gz", "0" * 64))


def test_policy_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDXTOOL_TIMEOUT", "3,20")
    monkeypatch.setenv("IDXTOOL_RETRIES", "5")
    monkeypatch.setenv("IDXTOOL_BACKOFF", "0.5")
    policy = Policy.from_env()
    assert (policy.connect_timeout, policy.read_timeout, policy.retries, policy.backoff) == (3, 20, 5, 0.5)
    assert [policy.wait(n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    monkeypatch.setenv("IDXTOOL_TIMEOUT", "7")
    assert (Policy.from_env().connect_timeout, Policy.from_env().read_timeout) == (7, 7)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("IDXTOOL_TIMEOUT", "abc", "IDXTOOL_TIMEOUT='abc': expected seconds, or CONNECT,READ seconds (more than 0)"),
        ("IDXTOOL_TIMEOUT", "-1", "IDXTOOL_TIMEOUT='-1': expected seconds, or CONNECT,READ seconds (more than 0)"),
        ("IDXTOOL_TIMEOUT", "0", "IDXTOOL_TIMEOUT='0': expected seconds, or CONNECT,READ seconds (more than 0)"),
        (
            "IDXTOOL_TIMEOUT",
            "1,2,3",
            "IDXTOOL_TIMEOUT='1,2,3': expected seconds, or CONNECT,READ seconds (more than 0)",
        ),
        ("IDXTOOL_TIMEOUT", "inf", "IDXTOOL_TIMEOUT='inf': expected seconds, or CONNECT,READ seconds (more than 0)"),
        ("IDXTOOL_RETRIES", "two", "IDXTOOL_RETRIES='two': expected a whole number of retries (0 or more)"),
        ("IDXTOOL_RETRIES", "-1", "IDXTOOL_RETRIES='-1': expected a whole number of retries (0 or more)"),
        ("IDXTOOL_RETRIES", "1.5", "IDXTOOL_RETRIES='1.5': expected a whole number of retries (0 or more)"),
        (
            "IDXTOOL_BACKOFF",
            "-0.5",
            "IDXTOOL_BACKOFF='-0.5': expected seconds to wait before the first retry (0 or more)",
        ),
        (
            "IDXTOOL_BACKOFF",
            "nan",
            "IDXTOOL_BACKOFF='nan': expected seconds to wait before the first retry (0 or more)",
        ),
    ],
)
def test_garbage_in_the_environment_is_a_usage_error(
    variable: str, value: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(UsageError) as info:
        Policy.from_env()
    assert str(info.value) == message and info.value.exit_code == 2


def test_blank_variables_keep_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("IDXTOOL_TIMEOUT", "IDXTOOL_RETRIES", "IDXTOOL_BACKOFF"):
        monkeypatch.setenv(name, " ")
    assert Policy.from_env() == Policy()
    monkeypatch.setenv("IDXTOOL_RETRIES", "0")
    monkeypatch.setenv("IDXTOOL_BACKOFF", "0")
    assert (Policy.from_env().retries, Policy.from_env().backoff) == (0, 0.0)
