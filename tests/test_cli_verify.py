"""idxtool verify: tables, --json, exit 1 naming each failing file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

import idxtool
from idxtool.cli import main


def run(*args: str) -> object:
    return CliRunner().invoke(main, list(args))


def test_a_good_dataset(isolated_home: Path) -> None:
    run("fetch", "mnist-sample")
    result = run("verify", "mnist-sample")
    assert result.exit_code == 0 and result.stderr == ""
    assert "mnist-sample/sample-images-idx3-ubyte.gz" in result.stdout and "uint8 100 x 28 x 28" in result.stdout
    doc = json.loads(run("verify", "mnist-sample", "--json").stdout)
    assert doc["ok"] is True and [f["status"] for f in doc["files"]] == ["ok", "ok"]


def test_each_failing_file_is_named_with_why(isolated_home: Path, tmp_path: Path) -> None:
    run("fetch", "mnist-sample")
    labels = isolated_home / "mnist-sample" / "sample-labels-idx1-ubyte.gz"
    labels.write_bytes(b"\x1f\x8b" + labels.read_bytes()[2:40])
    stray = tmp_path / "stray.idx"
    idxtool.write(stray, np.zeros(3, np.uint8))
    stray.write_bytes(stray.read_bytes() + b"\x00")
    result = run("verify", "mnist-sample", str(stray), "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["ok"] is False
    assert [f["status"] for f in doc["files"]] == ["ok", "failed", "failed"]
    lines = result.stderr.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(
        "Error: mnist-sample/sample-labels-idx1-ubyte.gz: size is 40 bytes, expected 84; sha256 mismatch: "
    )
    assert (
        lines[1] == f"Error: {stray}: body is longer than the header says: 4 bytes, header declares 3 uint8 = 3 bytes"
    )


def test_a_dataset_not_fetched_fails_as_missing(isolated_home: Path) -> None:
    result = run("verify", "mnist")
    assert result.exit_code == 1
    assert (
        result.stderr.splitlines()[-1]
        == "Error: mnist/t10k-labels-idx1-ubyte.gz: missing from the cache (run: idxtool fetch mnist)"
    )
    assert result.stderr.count("Error: ") == 4


def test_strict_refuses_a_recompressed_copy(mnist_images: Path) -> None:
    plain = run("verify", str(mnist_images), "--dir", "/nonexistent-is-fine-for-paths")
    assert plain.exit_code == 0 and "repacked" in plain.stdout
    strict = run("verify", str(mnist_images), "--strict")
    assert strict.exit_code == 1
    assert (
        strict.stderr
        == f"Error: {mnist_images}: re-compressed copy: its sha256 differs from the published file (refused in strict mode)\n"
    )


def test_missing_path_and_unknown_name(tmp_path: Path) -> None:
    missing = run("verify", str(tmp_path / "x.gz"))
    assert (missing.exit_code, missing.stderr) == (
        2,
        f"Error: {tmp_path / 'x.gz'}: no such file or registered dataset\n",
    )
    unknown = run("verify", "emnist-leters")
    assert unknown.exit_code == 2 and "did you mean emnist-letters?" in unknown.stderr


def test_a_valid_file_that_only_shares_a_published_name_passes_unless_strict(
    mnist_labels: Path, tmp_path: Path
) -> None:
    # notMNIST ships its own train/t10k files under MNIST's names.
    other = tmp_path / mnist_labels.name
    idxtool.write(other, np.arange(10_000, dtype=np.uint8) % 10)
    result = run("verify", str(other), "--json")
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.stdout)["files"]
    assert entry["status"] == "unpublished" and entry["shape"] == [10_000] and entry["problems"] == []
    note = entry["notes"][0]
    assert note.startswith("not a published file: a valid IDX file that shares its name with fashion-mnist/")
    assert " mnist/t10k-labels-idx1-ubyte.gz, " in note and "matches none of the published files" in note
    table = run("verify", str(other))
    assert table.exit_code == 0 and "unpublished" in table.stdout
    strict = run("verify", str(other), "--strict")
    assert strict.exit_code == 1
    assert strict.stderr.startswith(f"Error: {other}: not a published file (fashion-mnist/t10k-labels-idx1-ubyte.gz, ")
    assert strict.stderr.rstrip().endswith("(refused in strict mode)")


def test_json_is_the_report_document(isolated_home: Path) -> None:
    from idxtool.registry import get
    from idxtool.verification import verify

    run("fetch", "mnist-sample")
    result = run("verify", "mnist-sample", "kmnist", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == verify([(get("mnist-sample"), None), (get("kmnist"), None)]).to_json()
    # The library's messages carry no CLI remedy; the command adds it to missing files only.
    assert "idxtool fetch" not in verify([(get("kmnist"), None)]).checks[0].message()
    assert result.stderr.splitlines()[0] == (
        "Error: kmnist/train-images-idx3-ubyte.gz: missing from the cache (run: idxtool fetch kmnist)"
    )
