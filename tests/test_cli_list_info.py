"""idxtool list and info: tables, --json shapes, cache state, broken user manifests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from idxtool.cli import main


def run(*args: str) -> object:
    return CliRunner().invoke(main, list(args))


def test_list_json_and_table(isolated_home: Path) -> None:
    doc = json.loads(run("list", "--json").stdout)
    names = [d["name"] for d in doc]
    assert names[:1] == ["emnist-balanced"] and "mnist-sample" in names and "qmnist-nist" in names
    sample = next(d for d in doc if d["name"] == "mnist-sample")
    assert (sample["cached"], sample["splits"], sample["classes"], sample["download_size"]) == (
        "absent",
        ["test"],
        10,
        16819,
    )
    run("fetch", "mnist-sample")
    after = json.loads(run("list", "--json").stdout)
    assert next(d for d in after if d["name"] == "mnist-sample")["cached"] == "complete"
    table = run("list").stdout
    assert table.splitlines()[0].split() == ["Name", "Splits", "Classes", "Download", "Cached", "License"]
    assert any(line.startswith("fashion-mnist ") and "30.9 MB" in line and "MIT" in line for line in table.splitlines())


def test_info_json(isolated_home: Path) -> None:
    doc = json.loads(run("info", "fashion-mnist", "--json").stdout)
    assert doc["classes"][0] == "T-shirt/top" and doc["license"] == "MIT"
    first = doc["files"][0]
    assert (first["name"], first["size"], first["sha256"], first["cached"]) == (
        "train-images-idx3-ubyte.gz",
        26421880,
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        False,
    )
    assert first["urls"] == [
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/train-images-idx3-ubyte.gz",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-images-idx3-ubyte.gz",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/train-images-idx3-ubyte.gz",
    ]
    letters = json.loads(run("info", "emnist-letters", "--json").stdout)
    assert (letters["transpose"], letters["label_offset"], letters["files"][0]["name"]) == (True, 1, "gzip.zip")
    assert letters["files"][1]["member"] == "gzip/emnist-letters-train-images-idx3-ubyte.gz"
    assert json.loads(run("info", "kmnist", "--json").stdout)["class_chars"][0] == "お"


def test_info_text_shows_what_is_cached(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run("fetch", "mnist-sample")
    text = run("info", "mnist-sample").stdout
    assert "  sample-labels-idx1-ubyte.gz  (labels test, 84 B, cached)" in text
    assert "    sha256      f6d2e5545dd7255f15052c00be914e28f5cb2af83c55792fb84a20b7d7f3a691" in text
    nist = run("info", "qmnist-nist").stdout
    assert "md5         7f124b3b8ab81486c9d8c2749c17f834  (md5 only: no sha256 published)" in nist
    assert "Quirks:    labels are a table; the class is column 0" in nist
    monkeypatch.setenv("IDXTOOL_MIRROR", "https://mirror.example/idx/")
    mirrored = run("info", "mnist").stdout
    assert "Mirrors (IDXTOOL_MIRROR), tried in order:\n  https://mirror.example/idx/\n" in mirrored


def test_info_unknown_name() -> None:
    result = run("info", "qmnst")
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: qmnst: unknown dataset; did you mean qmnist? (idxtool list shows them all)\n",
    )


def test_a_broken_user_manifest_is_an_error_not_a_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'name = "mine"\nurls = ["https://x.example/"]\n[[files]]\nname = "a.gz"\nkind = "images"\nsplit = "train"\n'
    )
    monkeypatch.setenv("IDXTOOL_REGISTRY", str(bad))
    for args in (["list"], ["info", "mnist"], ["fetch", "mnist-sample"]):
        result = run(*args)
        assert result.exit_code == 2, args
        assert result.stderr == (
            f"Error: {bad}: files[0].sha256: missing (required; for a file published with an md5 only, "
            "set md5_only = true)\n"
        )


def test_a_user_manifest_nested_3000_deep_is_a_one_line_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 3000 + "]" * 3000 + "\n")
    monkeypatch.setenv("IDXTOOL_REGISTRY", str(deep))
    for args in (["list"], ["info", "mnist"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2, result.output
        assert result.stderr == f"Error: {deep}: invalid TOML: nested too deeply\n"
        assert "Traceback" not in result.output
