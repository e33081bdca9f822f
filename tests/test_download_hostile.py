"""download.download against hostile servers, planted links, full disks and cancellation (issue 10),
multi-connection ranges (issue 12), and re-compressed HTTP mirrors (issue 9). All on 127.0.0.1."""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from http_server import FaultServer, Records, serve

from idxtool.checksum import Expected
from idxtool.download import Cancelled, _commit, _Part, download
from idxtool.errors import DownloadError, ParameterError, UsageError
from idxtool.policy import Policy, check_mirror, parse_size

LABELS = "/mnist/t10k-labels-idx1-ubyte.gz"
IMAGES = "/mnist/t10k-images-idx3-ubyte.gz"
FAST = Policy(connect_timeout=2, read_timeout=2, retries=2, backoff=0.01)


def expected_of(path: Path) -> Expected:
    data = path.read_bytes()
    return Expected(path.name, hashlib.sha256(data).hexdigest(), None, len(data))


@pytest.fixture()
def labels(shared: Path) -> tuple[Path, Expected]:
    path = shared / "mnist" / "t10k-labels-idx1-ubyte.gz"
    return path, expected_of(path)


@pytest.fixture()
def images(shared: Path) -> tuple[Path, Expected]:
    path = shared / "mnist" / "t10k-images-idx3-ubyte.gz"
    return path, expected_of(path)


# -- nothing escapes its folder ----------------------------------------------------------------


@pytest.mark.parametrize("victim_exists", [True, False])
def test_a_planted_symlink_at_the_partial_name_is_never_written_through(
    server: FaultServer, labels: tuple[Path, Expected], tmp_path: Path, *, victim_exists: bool
) -> None:
    source, expected = labels
    folder = tmp_path / "cache" / "mnist"
    folder.mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    if victim_exists:
        victim.write_text("the user's thesis\n")
    link = folder / f".{source.name}.part"
    link.symlink_to(victim)
    with pytest.raises(DownloadError) as info:
        download([server.url + LABELS[1:]], folder / source.name, expected, policy=FAST)
    assert str(info.value) == (
        f"{source.name}: {link} is a symbolic link, not a partial download idxtool wrote; "
        "refusing to write through it (remove it and try again)"
    )
    assert info.value.exit_code == 3
    assert link.is_symlink() and os.readlink(link) == str(victim)
    assert (victim.read_text() == "the user's thesis\n") if victim_exists else not victim.exists()
    assert not (folder / source.name).exists()


def test_a_planted_hard_link_is_refused_too(server: FaultServer, labels: tuple[Path, Expected], tmp_path: Path) -> None:
    source, expected = labels
    victim = tmp_path / "victim.bin"
    victim.write_bytes(b"precious")
    part = tmp_path / f".{source.name}.part"
    os.link(victim, part)
    with pytest.raises(DownloadError, match=r"is a file with 2 hard links, not a partial download idxtool wrote"):
        download([server.url + LABELS[1:]], tmp_path / source.name, expected, policy=FAST)
    assert victim.read_bytes() == b"precious"


def test_a_partial_swapped_before_the_rename_is_caught_after_it(tmp_path: Path) -> None:
    part, final = tmp_path / ".x.part", tmp_path / "x"
    fd = os.open(part, os.O_RDWR | os.O_CREAT | os.O_EXCL)
    written = _Part(part, fd)
    written.close()
    part.unlink()
    part.symlink_to(tmp_path / "elsewhere")  # an attacker replaced it between the check and the rename
    with pytest.raises(DownloadError, match=r"was replaced by another file while it was being checked"):
        _commit(part, final, written.ident, "x")
    assert not final.exists() and not final.is_symlink()


def test_a_resumed_partial_is_our_own_regular_file(
    server: FaultServer, images: tuple[Path, Expected], tmp_path: Path
) -> None:
    source, expected = images
    part = tmp_path / f".{source.name}.part"
    part.write_bytes(source.read_bytes()[:100_000])
    download([server.url + IMAGES[1:]], tmp_path / source.name, expected, policy=FAST)
    assert server.hits(IMAGES)[0].headers["range"] == "bytes=100000-"
    assert (tmp_path / source.name).read_bytes() == source.read_bytes()


# -- nothing hangs -------------------------------------------------------------------------------


def test_slowloris_body_is_stopped_by_the_deadline(
    server: FaultServer, labels: tuple[Path, Expected], tmp_path: Path
) -> None:
    source, expected = labels
    server.fault(LABELS, "trickle:2")  # one byte every 2 s: the 3 s read timeout never fires
    policy = replace(FAST, read_timeout=3, deadline=2.5)
    start = time.monotonic()
    with pytest.raises(DownloadError) as info:
        download([server.url + LABELS[1:]], tmp_path / source.name, expected, policy=policy)
    assert time.monotonic() - start < 3.5
    assert str(info.value) == (
        f"{source.name}: not complete after 2.5 s, the per-file deadline (IDXTOOL_DEADLINE); "
        "what arrived is kept to resume"
    )
    assert not (tmp_path / source.name).exists()
    kept = (tmp_path / f".{source.name}.part").read_bytes()  # whole 64 KB chunks only: here none yet
    assert source.read_bytes().startswith(kept)


def test_trickled_headers_are_stopped_by_the_deadline(
    server: FaultServer, labels: tuple[Path, Expected], tmp_path: Path
) -> None:
    source, expected = labels
    server.fault(LABELS, "headers:0.5")
    policy = replace(FAST, read_timeout=3, deadline=1.5)
    start = time.monotonic()
    with pytest.raises(DownloadError, match=r"not complete after 1.5 s, the per-file deadline"):
        download([server.url + LABELS[1:]], tmp_path / source.name, expected, policy=policy)
    assert time.monotonic() - start < 2.5


def test_an_endless_body_stops_at_the_byte_limit(
    server: FaultServer, labels: tuple[Path, Expected], tmp_path: Path
) -> None:
    source, expected = labels
    server.fault(LABELS, "endless")
    policy = replace(FAST, max_bytes=2 << 20)
    with pytest.raises(DownloadError) as info:
        download([server.url + LABELS[1:]], tmp_path / source.name, replace(expected, size=None), policy=policy)
    assert str(info.value) == (
        f"{source.name}: could not be obtained from any source: {server.url}{LABELS[1:]}: sent more than "
        "2,097,152 bytes, the limit for a file whose size is not fixed (IDXTOOL_MAX_BYTES)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # the partial is gone
    assert len(server.hits(LABELS)) == 1  # not retried


def test_a_redirect_to_a_local_file_is_not_followed(
    server: FaultServer, labels: tuple[Path, Expected], tmp_path: Path
) -> None:
    source, expected = labels
    server.fault(LABELS, f"redirect:{source.as_uri()}")
    with pytest.raises(DownloadError, match=r"redirected where idxtool does not follow"):
        download([server.url + LABELS[1:]], tmp_path / source.name, expected, policy=FAST)
    assert len(server.hits(LABELS)) == 1 and list(tmp_path.iterdir()) == []


def test_a_wrong_content_range_starts_over(
    server: FaultServer, images: tuple[Path, Expected], tmp_path: Path, logs: Records
) -> None:
    source, expected = images
    server.fault(IMAGES, "drop:300000", "badrange")
    download([server.url + IMAGES[1:]], tmp_path / source.name, expected, policy=FAST)
    assert (tmp_path / source.name).read_bytes() == source.read_bytes()
    assert any("resumed at the wrong place (Content-Range: bytes " in line for line in logs.lines())
    assert "range" not in server.hits(IMAGES)[2].headers  # started over from scratch


def test_cancel_stops_a_transfer_at_once_and_keeps_the_partial(
    server: FaultServer, labels: tuple[Path, Expected], tmp_path: Path
) -> None:
    source, expected = labels
    server.fault(LABELS, "trickle:0.2")
    cancel = threading.Event()
    timer = threading.Timer(1.0, cancel.set)
    timer.start()
    start = time.monotonic()
    with pytest.raises(Cancelled, match=rf"^{source.name}: interrupted$"):
        download([server.url + LABELS[1:]], tmp_path / source.name, expected, policy=FAST, cancel=cancel)
    assert time.monotonic() - start < 1.5
    kept = (tmp_path / f".{source.name}.part").read_bytes()
    assert len(kept) > 0 and source.read_bytes().startswith(kept)


def test_cancel_also_cuts_a_retry_wait_short(labels: tuple[Path, Expected], tmp_path: Path) -> None:
    _, expected = labels
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    start = time.monotonic()
    with pytest.raises(Cancelled):
        download(
            ["http://127.0.0.1:9/x.gz"], tmp_path / "x.gz", expected, policy=replace(FAST, backoff=30), cancel=cancel
        )
    assert time.monotonic() - start < 1.0


# -- a full disk ------------------------------------------------------------------------------------


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs (root only; skipped where mounting is not allowed)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip() or done.returncode}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.parametrize("ranges", [True, False])
def test_a_full_disk_names_the_file_and_keeps_the_partial_only_if_it_can_resume(
    server: FaultServer, images: tuple[Path, Expected], small_disk: Path, *, ranges: bool
) -> None:
    source, expected = images  # 1.6 MB: does not fit
    server.ranges = ranges
    with pytest.raises(DownloadError) as info:
        download([server.url + IMAGES[1:]], small_disk / source.name, expected, policy=FAST)
    part = small_disk / f".{source.name}.part"
    kept = "kept to resume" if ranges else "removed"
    assert str(info.value) == (
        f"{source.name}: cannot write {part} (No space left on device); the partial file was {kept}"
    )
    assert part.exists() is ranges
    assert len(server.hits(IMAGES)) == 1  # a full disk is not retried, nor another source tried


# -- issue 9: a re-compressed HTTP mirror -------------------------------------------------------------


@pytest.fixture()
def repacked(shared: Path, tmp_path: Path) -> tuple[Path, Expected]:
    """A mirror folder with MNIST's test labels re-compressed (another size), and what was published."""
    original = shared / "mnist" / "t10k-labels-idx1-ubyte.gz"
    payload = gzip.decompress(original.read_bytes())
    served = tmp_path / "served" / "mnist"
    served.mkdir(parents=True)
    (served / original.name).write_bytes(gzip.compress(payload, compresslevel=1, mtime=0))
    assert (served / original.name).stat().st_size != original.stat().st_size
    return served.parent, replace(expected_of(original), idx_sha256=hashlib.sha256(payload).hexdigest())


def test_a_recompressed_http_copy_of_another_size_is_judged_by_its_payload(
    repacked: tuple[Path, Expected], tmp_path: Path, fast_network: None
) -> None:
    root, expected = repacked
    for mirror in serve(root):
        got = download([mirror.url + LABELS[1:]], tmp_path / "a" / "x.gz", expected, policy=FAST)
        assert got.repacked and (tmp_path / "a" / "x.gz").read_bytes() == (root / LABELS[1:]).read_bytes()
        without = replace(expected, idx_sha256=None)  # nothing to judge a payload by: the size decides
        with pytest.raises(DownloadError, match=r"server announces [\d,]+ bytes, expected 4,542$"):
            download([mirror.url + LABELS[1:]], tmp_path / "b" / "x.gz", without, policy=FAST)


def test_a_wrong_payload_of_another_size_is_still_refused(
    repacked: tuple[Path, Expected], tmp_path: Path, fast_network: None
) -> None:
    root, expected = repacked
    (root / LABELS[1:]).write_bytes(gzip.compress(b"not MNIST"))
    for mirror in serve(root):
        with pytest.raises(DownloadError, match=r"sha256 mismatch"):
            download([mirror.url + LABELS[1:]], tmp_path / "x.gz", expected, policy=FAST)
    assert list(tmp_path.glob("*.gz")) == [] and list(tmp_path.glob(".*.part")) == []


# -- issue 12: several connections ---------------------------------------------------------------------

RANGED = replace(FAST, connections=4, split_min=1 << 20)


def test_a_large_file_comes_in_four_ranges(server: FaultServer, images: tuple[Path, Expected], tmp_path: Path) -> None:
    source, expected = images
    got = download([server.url + IMAGES[1:]], tmp_path / source.name, expected, policy=RANGED)
    assert (tmp_path / source.name).read_bytes() == source.read_bytes() and got.digest.sha256 == expected.sha256
    asked = sorted(tuple(map(int, h.headers["range"][6:].split("-"))) for h in server.hits(IMAGES))
    assert len(asked) >= 4 and asked[0][0] == 0 and asked[-1][1] == (expected.size or 0) - 1
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(asked))  # the pieces tile the file
    assert sorted(p.name for p in tmp_path.iterdir()) == [source.name]


def test_a_dropped_range_resumes_on_its_own(
    server: FaultServer, images: tuple[Path, Expected], tmp_path: Path, logs: Records
) -> None:
    source, expected = images
    server.fault(IMAGES, "rdrop:100000")
    download([server.url + IMAGES[1:]], tmp_path / source.name, expected, policy=RANGED)
    assert (tmp_path / source.name).read_bytes() == source.read_bytes()
    hits = server.hits(IMAGES)
    assert len(hits) == 7  # six pieces (1.6 MB in 256 KB or more) and one resumed
    assert any("; resuming the range in" in line for line in logs.lines())


def test_a_server_without_ranges_gets_one_stream(
    server: FaultServer, images: tuple[Path, Expected], tmp_path: Path, logs: Records
) -> None:
    source, expected = images
    server.ranges = False
    download([server.url + IMAGES[1:]], tmp_path / source.name, expected, policy=RANGED)
    assert (tmp_path / source.name).read_bytes() == source.read_bytes()
    assert len(server.hits(IMAGES)) == 2  # the Range probe, then the whole file
    assert any(
        "does not serve ranges (HTTP 200 to a Range request); downloading it as one stream" in m for m in logs.lines()
    )


def test_small_files_and_one_connection_never_split(
    server: FaultServer, images: tuple[Path, Expected], tmp_path: Path
) -> None:
    source, expected = images
    download([server.url + IMAGES[1:]], tmp_path / "a" / source.name, expected, policy=replace(RANGED, connections=1))
    download([server.url + IMAGES[1:]], tmp_path / "b" / source.name, expected, policy=FAST)  # under 32 MB
    assert ["range" in h.headers for h in server.hits(IMAGES)] == [False, False]


# -- settings --------------------------------------------------------------------------------------------


def test_deadline_bytes_and_connections_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDXTOOL_DEADLINE", "90")
    monkeypatch.setenv("IDXTOOL_MAX_BYTES", "512M")
    monkeypatch.setenv("IDXTOOL_CONNECTIONS", "8")
    policy = Policy.from_env()
    assert (policy.deadline, policy.max_bytes, policy.connections) == (90, 512 << 20, 8)
    assert (Policy().deadline, Policy().max_bytes, Policy().connections, Policy().split_min) == (
        7200,
        4 << 30,
        4,
        32 << 20,
    )
    assert [parse_size(t) for t in ("1024", "4k", "2 MiB", "1G", "x1", "-1")] == [
        1024,
        4096,
        2 << 20,
        1 << 30,
        None,
        None,
    ]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("IDXTOOL_DEADLINE", "soon", "IDXTOOL_DEADLINE='soon': expected the seconds one file may take (more than 0)"),
        ("IDXTOOL_DEADLINE", "0", "IDXTOOL_DEADLINE='0': expected the seconds one file may take (more than 0)"),
        (
            "IDXTOOL_MAX_BYTES",
            "lots",
            "IDXTOOL_MAX_BYTES='lots': expected a number of bytes, optionally with K, M, G or T",
        ),
        ("IDXTOOL_MAX_BYTES", "0", "IDXTOOL_MAX_BYTES='0': expected a number of bytes, optionally with K, M, G or T"),
        (
            "IDXTOOL_CONNECTIONS",
            "17",
            "IDXTOOL_CONNECTIONS='17': expected a whole number of connections from 1 to 16",
        ),
        ("IDXTOOL_CONNECTIONS", "0", "IDXTOOL_CONNECTIONS='0': expected a whole number of connections from 1 to 16"),
    ],
)
def test_garbage_limits_are_usage_errors(
    variable: str, value: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(UsageError) as info:
        Policy.from_env()
    assert (str(info.value), info.value.exit_code) == (message, 2)


def test_mirrors_must_be_urls_or_existing_folders(tmp_path: Path) -> None:
    assert check_mirror("https://example.org/m/") == "https://example.org/m/"
    assert check_mirror("s3://bucket/idx") == "s3://bucket/idx"
    assert check_mirror(str(tmp_path)) == tmp_path.resolve().as_uri() + "/"
    for bad, problem in [
        ("http://[::1/", "is not a valid URL (Invalid IPv6 URL)"),
        ("http://127.0.0.1:99999/", "is not a valid URL (Port out of range 0-65535)"),
        ("ftp://example.org/", "has an unsupported URL scheme (expected one of http, https, file, s3)"),
        (str(tmp_path / "missing"), "is neither a URL (http, https, file, s3) nor an existing folder"),
        ("https:///nohost", "is not a valid URL (no host)"),
    ]:
        with pytest.raises(ParameterError) as info:
            check_mirror(bad, param="mirror")
        assert (info.value.problem, info.value.exit_code) == (problem, 2)


def test_a_malformed_source_url_is_a_usage_error(labels: tuple[Path, Expected], tmp_path: Path) -> None:
    _, expected = labels
    with pytest.raises(UsageError, match=r"^http://\[::1/x: not a valid URL \(Invalid IPv6 URL\)$"):
        download(["http://[::1/x"], tmp_path / "x", expected, policy=FAST)


def test_a_cancelled_ranged_download_keeps_its_prefix_and_resumes_in_ranges(
    server: FaultServer, images: tuple[Path, Expected], tmp_path: Path
) -> None:
    source, expected = images
    server.rate = 200_000  # each piece takes more than a second
    cancel = threading.Event()
    threading.Timer(0.8, cancel.set).start()
    with pytest.raises(Cancelled):
        download([server.url + IMAGES[1:]], tmp_path / source.name, expected, policy=RANGED, cancel=cancel)
    kept = (tmp_path / f".{source.name}.part").read_bytes()
    assert 0 < len(kept) < (expected.size or 0) and source.read_bytes().startswith(kept)  # contiguous, no holes
    server.rate = None
    before = len(server.hits(IMAGES))
    assert before == 4  # a slow first piece: four connections at once, each on its first piece
    download([server.url + IMAGES[1:]], tmp_path / source.name, expected, policy=RANGED)
    assert (tmp_path / source.name).read_bytes() == source.read_bytes()
    again = sorted(int(h.headers["range"][6:].split("-")[0]) for h in server.hits(IMAGES)[before:])
    assert again[0] == len(kept) and len(again) >= 4


def test_a_full_disk_during_a_ranged_download_keeps_only_a_contiguous_prefix(
    server: FaultServer, images: tuple[Path, Expected], small_disk: Path
) -> None:
    source, expected = images
    with pytest.raises(DownloadError, match=r"\(No space left on device\); the partial file was kept to resume$"):
        download([server.url + IMAGES[1:]], small_disk / source.name, expected, policy=RANGED)
    kept = (small_disk / f".{source.name}.part").read_bytes()
    assert 0 < len(kept) < (expected.size or 0) and source.read_bytes().startswith(kept)  # no holes kept


# -- a ranged download killed without warning ----------------------------------------------------------


def _download_in_a_child(url: str, target: Path, expected: Expected) -> subprocess.Popen[bytes]:
    """``download`` in its own process (so that it can be SIGKILLed), with RANGED's settings."""
    script = (
        "from idxtool.checksum import Expected\n"
        "from idxtool.download import download\n"
        "from idxtool.policy import Policy\n"
        f"policy = Policy(connect_timeout=2, read_timeout=5, retries=0, backoff=0.01, connections=4, split_min=1 << 20)\n"
        f"download([{url!r}], {str(target)!r}, Expected({expected.name!r}, {expected.sha256!r}, None, {expected.size}), "
        "policy=policy)\n"
    )
    return subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE)


def test_a_ranged_download_killed_without_warning_resumes_only_what_it_lacked(
    server: FaultServer, images: tuple[Path, Expected], tmp_path: Path
) -> None:
    """SIGKILL runs no cleanup: the partial file keeps its holes. The record of the ranges
    written (every second) lets the next run fetch exactly the rest, and the whole file is
    hashed before it is accepted."""
    source, expected = images
    size = expected.size or 0
    server.rate = 100_000  # four connections: about 4 s for the whole file
    record = tmp_path / f".{source.name}.part.ranges"
    child = _download_in_a_child(server.url + IMAGES[1:], tmp_path / source.name, expected)
    deadline = time.monotonic() + 30
    while not record.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    child.kill()
    _, err = child.communicate(timeout=30)
    assert child.returncode == -9, err.decode()
    kept = [tuple(r) for r in json.loads(record.read_text())["done"]]
    have = sum(b - a for a, b in kept)
    assert 0 < have < size and (tmp_path / f".{source.name}.part").stat().st_size == size  # holes and all
    server.rate = None
    before = len(server.hits(IMAGES))
    download([server.url + IMAGES[1:]], tmp_path / source.name, expected, policy=RANGED)
    assert (tmp_path / source.name).read_bytes() == source.read_bytes()
    asked = [tuple(map(int, h.headers["range"][6:].split("-"))) for h in server.hits(IMAGES)[before:]]
    assert sum(b + 1 - a for a, b in asked) == size - have  # nothing twice, nothing recorded again
    assert all(b < x or a >= y for a, b in asked for x, y in kept)
    assert sorted(p.name for p in tmp_path.iterdir()) == [source.name]  # no partial file, no record


def test_a_record_of_ranges_that_lies_costs_a_fresh_download_not_a_wrong_file(
    server: FaultServer, images: tuple[Path, Expected], tmp_path: Path, logs: Records
) -> None:
    source, expected = images
    size = expected.size or 0
    (tmp_path / f".{source.name}.part").write_bytes(os.urandom(size))  # garbage the record vouches for
    identity = f"{size}:{expected.sha256}:"
    (tmp_path / f".{source.name}.part.ranges").write_text(
        json.dumps({"file": identity, "size": size, "done": [[0, size // 2]]})
    )
    download([server.url + IMAGES[1:]], tmp_path / source.name, expected, policy=RANGED)
    assert (tmp_path / source.name).read_bytes() == source.read_bytes()
    assert any("after resuming; starting over" in line for line in logs.lines())
    assert sorted(p.name for p in tmp_path.iterdir()) == [source.name]


@pytest.mark.parametrize(
    "record",
    [b"not json", b'{"file": "other", "size": 1, "done": [[0, 1]]}', b'{"done": [[5, 2]]}', b"[]", b"\xff" * 64],
)
def test_a_record_that_does_not_fit_is_ignored(
    server: FaultServer, images: tuple[Path, Expected], tmp_path: Path, record: bytes
) -> None:
    source, expected = images
    (tmp_path / f".{source.name}.part.ranges").write_bytes(record)
    download([server.url + IMAGES[1:]], tmp_path / source.name, expected, policy=RANGED)
    assert (tmp_path / source.name).read_bytes() == source.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == [source.name]


def test_a_record_planted_as_a_link_is_never_written_through(
    server: FaultServer, images: tuple[Path, Expected], tmp_path: Path
) -> None:
    source, expected = images
    precious = tmp_path / "thesis.tex"
    precious.write_text("precious")
    (tmp_path / "dl").mkdir()
    (tmp_path / "dl" / f".{source.name}.part.ranges").symlink_to(precious)
    server.rate = 200_000  # about two seconds: the download records its ranges at least once
    download([server.url + IMAGES[1:]], tmp_path / "dl" / source.name, expected, policy=RANGED)
    assert (tmp_path / "dl" / source.name).read_bytes() == source.read_bytes()
    assert precious.read_text() == "precious" and not precious.is_symlink()
    assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == [source.name]
