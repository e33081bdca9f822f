"""The one resolver: every data argument of every command and of the API, by one rule.

A dotted dataset name (``my.data``) is a dataset everywhere; a folder that shadows a dataset
name is ignored with a warning naming ``./NAME``; a missing ``x.gz`` gets one message and
exit code 2 from every command; split specs select records the same way everywhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import idxtool
from idxtool.cli import main
from idxtool.errors import IdxError, UsageError
from idxtool.sources import STDIN, DatasetRef, NoSuchInputError, resolve

SAMPLE = Path(idxtool.__file__).parent / "data" / "mnist-sample"


def run(*args: str, input: bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def dotted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A user manifest for a dataset named ``my.data``: the embedded sample's files, served by file://."""
    files = tmp_path / "served"
    files.mkdir()
    entries = []
    for kind in ("images", "labels"):
        name = f"sample-{kind}-idx{3 if kind == 'images' else 1}-ubyte.gz"
        data = (SAMPLE / name).read_bytes()
        (files / name).write_bytes(data)
        entries.append(
            f'[[files]]\nname = "{name}"\nsplit = "test"\nkind = "{kind}"\n'
            f'sha256 = "{hashlib.sha256(data).hexdigest()}"\nsize = {len(data)}\n'
        )
    manifest = tmp_path / "my.toml"
    manifest.write_text(
        f'name = "my.data"\nurls = ["{files.as_uri()}/"]\nclasses = {json.dumps(list("0123456789"))}\n\n'
        + "\n".join(entries)
    )
    monkeypatch.setenv("IDXTOOL_REGISTRY", str(manifest))
    return "my.data"


def test_the_rule() -> None:
    assert resolve("-") is STDIN
    ref = resolve("mnist:train[:50000]")
    assert isinstance(ref, DatasetRef) and ref.name == "mnist" and str(ref) == "mnist:train[:50000]"
    assert ref.selection is not None and ref.selection.bounds(60000) == (0, 50000)
    view = resolve("qmnist:test50k[-10:]")
    assert isinstance(view, DatasetRef) and view.selection is not None
    assert view.selection.bounds(60000) == (59990, 60000)
    with pytest.raises(UsageError, match="mnist: no split 'valid' \\(splits: train, test\\)"):
        resolve("mnist:valid")
    with pytest.raises(UsageError, match="'a' is not a whole number"):
        resolve("mnist:train[a:3]")


def test_a_missing_word_is_one_error_catchable_three_ways(tmp_path: Path) -> None:
    for word in ("x.gz", str(tmp_path / "x.gz"), "./x.gz", "mnsit"):
        with pytest.raises(NoSuchInputError, match="no such file or registered dataset") as info:
            resolve(word)
        assert isinstance(info.value, FileNotFoundError)
        assert isinstance(info.value, LookupError) and isinstance(info.value, IdxError)
        assert info.value.exit_code == 2
    with pytest.raises(NoSuchInputError, match="mnsit: no such file or registered dataset; did you mean mnist\\?"):
        resolve("mnsit")


def test_path_objects_and_words_with_separators_are_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mnist").mkdir()
    assert resolve(Path("mnist")) == Path("mnist")
    assert resolve("./mnist") == Path("mnist")
    assert isinstance(resolve("mnist"), DatasetRef)


def test_shadowing_folder_means_the_dataset_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    idxtool.export_png("mnist-sample", tmp_path / "mnist-sample")  # the README's own first step
    caplog.set_level("WARNING")
    assert isinstance(resolve("mnist-sample"), DatasetRef)
    assert "write ./mnist-sample" in caplog.text


# -- every command, one rule ---------------------------------------------------------------------

COMMANDS = {
    "inspect": ["inspect", "{}"],
    "verify": ["verify", "{}"],
    "convert": ["convert", "{}", "--to", "npz", "-o", "{out}.npz"],
    "export-png": ["export-png", "{}", "-o", "{out}"],
    "split": ["split", "{}", "--ratio", "0.5", "-o", "{out}"],
}


def _args(command: str, word: str, out: Path) -> list[str]:
    return [a.format(word, out=out) for a in COMMANDS[command]]


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_takes_a_dotted_dataset_name(command: str, dotted: str, tmp_path: Path) -> None:
    assert run("fetch", dotted)[0] == 0
    code, _, err = run(*_args(command, dotted, tmp_path / "out"))
    assert code == 0, err


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_gives_one_message_for_a_missing_file(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(*_args(command, "missing.gz", tmp_path / "out")) == (
        2,
        "",
        "Error: missing.gz: no such file or registered dataset\n",
    )
    assert run(*_args(command, "mnsit", tmp_path / "out"))[2] == (
        "Error: mnsit: no such file or registered dataset; did you mean mnist?\n"
    )


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_means_the_dataset_when_a_folder_shadows_it(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run("export-png", "mnist-sample", "-o", "mnist-sample", "--per-class", "1")[0] == 0
    code, _, err = run(*_args(command, "mnist-sample", tmp_path / "out"))
    assert code == 0, err
    assert err.startswith("Warning: 'mnist-sample' is the registered dataset mnist-sample; to mean the folder")
    assert "write ./mnist-sample" in err


def test_convert_after_the_readme_export_gives_the_whole_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bug this resolver fixes: `mnist` meant the new folder of 80 PNGs, silently."""
    monkeypatch.chdir(tmp_path)
    assert run("export-png", "mnist-sample", "-o", "mnist-sample/", "--per-class", "2")[0] == 0
    code, _, err = run("convert", "mnist-sample", "--to", "npz", "-o", "s.npz")
    assert code == 0, err
    with np.load(tmp_path / "s.npz") as z:
        assert z["x_test"].shape == (100, 28, 28)
    assert run("convert", "./mnist-sample", "--to", "npz", "-o", "folder.npz")[0] == 0
    with np.load(tmp_path / "folder.npz") as z:
        assert z["x_test"].shape == (20, 28, 28)


def test_split_specs_select_the_same_records_everywhere(tmp_path: Path) -> None:
    (x, y) = idxtool.load("mnist-sample:test[-30:]")
    assert y is not None
    full = idxtool.load("mnist-sample")["test"]
    assert np.array_equal(x, full[0][-30:]) and np.array_equal(y, full[1][-30:])
    assert run("convert", "mnist-sample:test[-30:]", "--to", "npz", "-o", str(tmp_path / "a.npz"))[0] == 0
    with np.load(tmp_path / "a.npz") as z:
        assert np.array_equal(z["x_test"], x)
    code, out, err = run("inspect", "mnist-sample:test[-30:]", "--json")
    assert code == 0, err
    assert [d["shape"][0] for d in json.loads(out)] == [30, 30]
    assert (
        run("split", "mnist-sample:test[-30:]", "--sizes", "20,10", "--no-shuffle", "-o", str(tmp_path / "s"))[0] == 0
    )
    parts = sorted((tmp_path / "s").glob("*images*"))
    assert np.array_equal(np.concatenate([idxtool.read(parts[0]), idxtool.read(parts[1])]), x)
    code, _, err = run("export-png", "mnist-sample:test[:3]", "-o", str(tmp_path / "p"))
    assert code == 0, err
    assert len(list((tmp_path / "p").rglob("*.png"))) == 3


def test_standard_input_is_a_source(tmp_path: Path) -> None:
    data = (SAMPLE / "sample-images-idx3-ubyte.gz").read_bytes()
    code, out, err = run("inspect", "-", "--json", input=data)
    assert code == 0, err
    assert json.loads(out)["shape"] == [100, 28, 28]
    code, _, err = run("convert", "-", "--to", "npy", "-o", str(tmp_path / "n"), input=data)
    assert code == 0, err
    assert np.load(tmp_path / "n" / "x.npy").shape == (100, 28, 28)


def test_an_output_equal_to_an_input_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "in"
    shutil.copytree(SAMPLE, src)
    images = src / "sample-images-idx3-ubyte.gz"
    code, _, err = run("convert", str(images), "--to", "npz", "-o", str(images), "--force")
    assert (code, err) == (2, f"Error: {images}: is an input of this conversion; choose another output\n")
    assert images.read_bytes() == (SAMPLE / "sample-images-idx3-ubyte.gz").read_bytes()
    assert os.path.getsize(images) > 0


def test_the_library_warns_once_about_a_shadowing_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mnist-sample").mkdir()
    caplog.set_level("WARNING", logger="idxtool")
    idxtool.convert("mnist-sample", to="npz", out=tmp_path / "s.npz")
    assert caplog.text.count("write ./mnist-sample") == 1
