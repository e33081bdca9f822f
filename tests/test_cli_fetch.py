"""idxtool fetch: exit codes, --json, --mirror, IDXTOOL_MIRROR, --dir, --force, messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from http_server import FaultServer

from idxtool.cli import main


def run(*args: str) -> object:
    return CliRunner().invoke(main, list(args))


def test_fetch_the_embedded_sample_offline(isolated_home: Path) -> None:
    result = run("fetch", "mnist-sample")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"mnist-sample: {isolated_home / 'mnist-sample'} (2 downloaded)\n"
    again = run("-v", "fetch", "mnist-sample")
    assert again.stdout == (
        f"mnist-sample: {isolated_home / 'mnist-sample'} (2 cached)\n"
        "  sample-images-idx3-ubyte.gz: cached\n  sample-labels-idx1-ubyte.gz: cached\n"
    )


def test_json_names_every_file_and_exit_3_names_the_missing_one(server: FaultServer, tmp_path: Path) -> None:
    root = tmp_path / "cache"
    result = run("fetch", "mnist", "--dir", str(root), "--mirror", server.url, "--json")
    assert result.exit_code == 3
    doc = json.loads(result.stdout)
    assert doc["root"] == str(root)
    assert [(f["name"], f["status"], f["repacked"]) for f in doc["files"]] == [
        ("train-images-idx3-ubyte.gz", "failed", False),
        ("train-labels-idx1-ubyte.gz", "downloaded", False),
        ("t10k-images-idx3-ubyte.gz", "downloaded", True),
        ("t10k-labels-idx1-ubyte.gz", "downloaded", False),
    ]
    labels = doc["files"][3]
    assert labels == {
        "dataset": "mnist",
        "name": "t10k-labels-idx1-ubyte.gz",
        "kind": "labels",
        "split": "test",
        "path": str(root / "mnist" / "t10k-labels-idx1-ubyte.gz"),
        "status": "downloaded",
        "size": 4542,
        "sha256": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        "source": f"{server.url}mnist/t10k-labels-idx1-ubyte.gz",
        "repacked": False,
        "error": None,
    }
    assert result.stderr.splitlines()[-1] == (
        f"Error: mnist/train-images-idx3-ubyte.gz: could not be obtained from any source: "
        f"{server.url}mnist/train-images-idx3-ubyte.gz: HTTP 404 Not Found; {server.url}train-images-idx3-ubyte.gz: HTTP 404 Not Found"
    )
    assert (
        f"mnist/t10k-images-idx3-ubyte.gz: {server.url}mnist/t10k-images-idx3-ubyte.gz is a re-compressed copy"
        in result.stderr
    )


def test_mirror_from_the_environment_and_file_urls(
    shared: Path, monkeypatch: pytest.MonkeyPatch, isolated_home: Path
) -> None:
    monkeypatch.setenv("IDXTOOL_MIRROR", shared.as_uri())
    result = run("fetch", "fashion-mnist", "--json")
    assert result.exit_code == 3
    assert [f["status"] for f in json.loads(result.stdout)["files"]] == ["failed", "downloaded", "failed", "downloaded"]
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert [e.split(": could not")[0] for e in errors] == [
        "Error: fashion-mnist/train-images-idx3-ubyte.gz",
        "Error: fashion-mnist/t10k-images-idx3-ubyte.gz",
    ]
    assert errors[0].endswith(
        f"{shared.as_uri()}/fashion-mnist/train-images-idx3-ubyte.gz: no such file; "
        f"{shared.as_uri()}/train-images-idx3-ubyte.gz: no such file"
    )


def test_verbose_shows_each_retry(server: FaultServer, isolated_home: Path) -> None:
    server.fault("/qmnist/qmnist-test-labels-idx2-int.gz", "500")
    result = run("-v", "fetch", "qmnist", "--mirror", server.url, "--jobs", "1")
    assert result.exit_code == 3
    assert (
        f"qmnist/qmnist-test-labels-idx2-int.gz: {server.url}qmnist/qmnist-test-labels-idx2-int.gz: "
        "HTTP 500 Internal Server Error; retrying in 0.0 s (attempt 2 of 3)"
    ) in result.stderr
    assert (isolated_home / "qmnist" / "qmnist-test-labels-idx2-int.gz").is_file()


def test_force_downloads_again(isolated_home: Path) -> None:
    run("fetch", "mnist-sample")
    result = run("fetch", "mnist-sample", "--force", "--json")
    assert [f["status"] for f in json.loads(result.stdout)["files"]] == ["downloaded", "downloaded"]


def test_quiet_prints_nothing(isolated_home: Path) -> None:
    result = run("-q", "fetch", "mnist-sample")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")


def test_unknown_name_is_a_usage_error_before_any_download(isolated_home: Path) -> None:
    result = run("fetch", "mnist-sample", "kmnst")
    assert result.exit_code == 2
    assert result.stderr == "Error: kmnst: unknown dataset; did you mean kmnist? (idxtool list shows them all)\n"
    assert not isolated_home.exists()


def test_jobs_must_be_positive() -> None:
    result = run("fetch", "mnist-sample", "--jobs", "0")
    assert result.exit_code == 2 and "Invalid value for '-j' / '--jobs'" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("IDXTOOL_TIMEOUT", "abc", "IDXTOOL_TIMEOUT='abc': expected seconds, or CONNECT,READ seconds (more than 0)"),
        ("IDXTOOL_RETRIES", "-2", "IDXTOOL_RETRIES='-2': expected a whole number of retries (0 or more)"),
        (
            "IDXTOOL_BACKOFF",
            "soon",
            "IDXTOOL_BACKOFF='soon': expected seconds to wait before the first retry (0 or more)",
        ),
    ],
)
def test_garbage_in_the_environment_is_exit_2_without_a_traceback(
    variable: str, value: str, message: str, monkeypatch: pytest.MonkeyPatch, isolated_home: Path
) -> None:
    monkeypatch.setenv(variable, value)
    result = run("fetch", "mnist-sample")
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"Error: {message}\n")
    assert not isolated_home.exists()


def test_a_damaged_file_is_a_warning_above_the_summary(isolated_home: Path) -> None:
    run("fetch", "mnist-sample")
    labels = isolated_home / "mnist-sample" / "sample-labels-idx1-ubyte.gz"
    labels.write_bytes(b"junk")
    result = run("fetch", "mnist-sample")
    assert result.exit_code == 0
    assert result.stderr.startswith(
        "Warning: mnist-sample/sample-labels-idx1-ubyte.gz: present but size is 4 bytes, expected 84; sha256 mismatch: "
    )
    assert result.stderr.endswith("; downloading it again\n") and result.stderr.count("\n") == 1
    assert run("-q", "fetch", "mnist-sample", "--force").stderr == ""


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("IDXTOOL_DEADLINE", "later", "IDXTOOL_DEADLINE='later': expected the seconds one file may take (more than 0)"),
        (
            "IDXTOOL_MAX_BYTES",
            "huge",
            "IDXTOOL_MAX_BYTES='huge': expected a number of bytes, optionally with K, M, G or T",
        ),
        (
            "IDXTOOL_CONNECTIONS",
            "many",
            "IDXTOOL_CONNECTIONS='many': expected a whole number of connections from 1 to 16",
        ),
        ("IDXTOOL_MIRROR", "http://[::1/", "IDXTOOL_MIRROR: 'http://[::1/' is not a valid URL (Invalid IPv6 URL)"),
        (
            "IDXTOOL_MIRROR",
            "mirror.example.org",
            "IDXTOOL_MIRROR: 'mirror.example.org' is neither a URL (http, https, file, s3) nor an existing folder",
        ),
    ],
)
def test_garbage_limits_and_mirrors_in_the_environment_are_exit_2(
    variable: str, value: str, message: str, monkeypatch: pytest.MonkeyPatch, isolated_home: Path
) -> None:
    monkeypatch.setenv(variable, value)
    result = run("fetch", "mnist-sample")
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"Error: {message}\n")
    assert not isolated_home.exists()


@pytest.mark.parametrize(
    ("mirror", "problem"),
    [
        ("http://[::1/", "is not a valid URL (Invalid IPv6 URL)"),
        ("ftp://example.org/", "has an unsupported URL scheme (expected one of http, https, file, s3)"),
        ("no/such/folder", "is neither a URL (http, https, file, s3) nor an existing folder"),
    ],
)
def test_a_mirror_that_is_no_url_or_folder_is_exit_2_before_any_download(
    mirror: str, problem: str, server: FaultServer, isolated_home: Path
) -> None:
    result = run("fetch", "qmnist", "--mirror", server.url, "--mirror", mirror)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"Error: --mirror {mirror} {problem}\n")
    assert server.requests == [] and not isolated_home.exists()


def test_a_mirror_folder_is_used_as_a_file_url(shared: Path, isolated_home: Path) -> None:
    result = run("fetch", "fashion-mnist", "--mirror", str(shared), "--json")
    assert [f["status"] for f in json.loads(result.stdout)["files"]] == ["failed", "downloaded", "failed", "downloaded"]
    assert json.loads(result.stdout)["files"][1]["source"].startswith(shared.resolve().as_uri() + "/")


def test_the_deadline_names_the_file_with_exit_3(
    server: FaultServer, monkeypatch: pytest.MonkeyPatch, isolated_home: Path
) -> None:
    server.fault("/qmnist/qmnist-test-labels-idx2-int.gz", "trickle:0.4")
    monkeypatch.setenv("IDXTOOL_DEADLINE", "1")
    result = run("fetch", "qmnist", "--mirror", server.url)
    assert result.exit_code == 3
    assert (
        "Error: qmnist/qmnist-test-labels-idx2-int.gz: not complete after 1 s, the per-file deadline "
        "(IDXTOOL_DEADLINE); what arrived is kept to resume\n"
    ) in result.stderr


def test_connections_must_be_between_1_and_16() -> None:
    result = run("fetch", "mnist-sample", "--connections", "0")
    assert result.exit_code == 2 and "Invalid value for '--connections'" in result.stderr
