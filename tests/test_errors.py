"""Every public error class, provoked for real through the API and the CLI.

Each is caught both as ``idxtool.IdxError`` and as its built-in, and the CLI exits with its
code. A test at the end checks that every error class in ``idxtool.__all__`` is covered here.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

import idxtool

SAMPLE = Path(idxtool.__file__).parent / "data" / "mnist-sample"
IMAGES = SAMPLE / "sample-images-idx3-ubyte.gz"
LABELS = SAMPLE / "sample-labels-idx1-ubyte.gz"


def cli(*args: str, env: dict[str, str] | None = None, block: str = "") -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess; ``block`` names a module made unimportable first."""
    code = "import sys\n"
    if block:
        code += f"for m in {block.split(',')!r}: sys.modules[m] = None\n"
    code += "from idxtool.cli import main\nmain(sys.argv[1:], prog_name='idxtool')\n"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


@dataclass
class Case:
    """How to provoke one error class: an API call, the built-in it also is, and a CLI run with its exit code."""

    error: type[idxtool.IdxError]
    builtin: type[BaseException] | None
    api: Callable[[Path], object]
    cli: Callable[[Path], subprocess.CompletedProcess[str]] | None
    code: int | None


def _bad_idx(tmp: Path) -> Path:
    bad = tmp / "bad-idx1-ubyte"
    bad.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")
    return bad


def _short_labels(tmp: Path) -> Path:
    path = tmp / "short-labels-idx1-ubyte"
    idxtool.write(path, idxtool.read(LABELS)[:50])
    return path


def _under_a_file(tmp: Path) -> Path:
    """An output whose parent is a regular file: no folder can be made there."""
    (tmp / "plain").write_bytes(b"a file, not a folder")
    return tmp / "plain" / "o.npz"


def _existing(tmp: Path) -> Path:
    out = tmp / "exists.npz"
    out.write_bytes(b"mine")
    return out


def _unreachable(tmp: Path) -> dict[str, str]:
    """A user manifest whose only source is a closed port on 127.0.0.1 (nothing listens on port 9)."""
    data = IMAGES.read_bytes()
    manifest = tmp / "gone.toml"
    manifest.write_text(
        'name = "gone"\nurls = ["http://127.0.0.1:9/"]\n[[files]]\nname = "i.gz"\nsplit = "test"\n'
        f'kind = "images"\nsha256 = "{hashlib.sha256(data).hexdigest()}"\nsize = {len(data)}\n'
    )
    return {"IDXTOOL_REGISTRY": str(manifest), "IDXTOOL_RETRIES": "0", "IDXTOOL_TIMEOUT": "5"}


def _with_env(env: dict[str, str], call: Callable[[], object]) -> object:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return call()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _corrupt_cache(tmp: Path) -> Path:
    """The sample fetched into ``tmp/cache``, then its labels file altered (same size, other bytes)."""
    idxtool.fetch("mnist-sample", dir=tmp / "cache")
    labels = tmp / "cache" / "mnist-sample" / LABELS.name
    data = bytearray(gzip.decompress(labels.read_bytes()))
    data[-1] = (data[-1] + 1) % 10
    labels.write_bytes(gzip.compress(bytes(data), mtime=0))
    return tmp / "cache"


def _blocked(modules: str, call: Callable[[], object]) -> object:
    saved = {m: sys.modules.get(m) for m in modules.split(",")}
    for m in saved:
        sys.modules[m] = None  # type: ignore[assignment]  # import now raises ImportError
    try:
        return call()
    finally:
        for m, mod in saved.items():
            if mod is None:
                sys.modules.pop(m, None)
            else:
                sys.modules[m] = mod


CASES = {
    "InputNotFoundError": Case(
        idxtool.InputNotFoundError,
        FileNotFoundError,
        lambda t: idxtool.read(t / "missing-idx1-ubyte"),
        lambda t: cli("inspect", str(t / "missing.gz")),
        2,
    ),
    "NoSuchInputError": Case(
        idxtool.NoSuchInputError,
        FileNotFoundError,
        lambda t: idxtool.resolve(str(t / "nope.gz")),
        lambda t: cli("convert", str(t / "nope.gz"), "--to", "npz", "-o", str(t / "o.npz")),
        2,
    ),
    "InvalidIdxError": Case(
        idxtool.InvalidIdxError,
        ValueError,
        lambda t: idxtool.read(_bad_idx(t)),
        lambda t: cli("inspect", str(_bad_idx(t))),
        1,
    ),
    "DataError": Case(
        idxtool.DataError,
        ValueError,
        lambda t: idxtool.convert([IMAGES, _short_labels(t)], to="npz", out=t / "o.npz"),
        lambda t: cli("convert", str(IMAGES), str(_short_labels(t)), "--to", "npz", "-o", str(t / "o.npz")),
        1,
    ),
    "OutputError": Case(
        idxtool.OutputError,
        OSError,
        lambda t: idxtool.convert([IMAGES, LABELS], to="npz", out=_under_a_file(t)),
        lambda t: cli("convert", str(IMAGES), str(LABELS), "--to", "npz", "-o", str(_under_a_file(t))),
        1,
    ),
    "OutputExistsError": Case(
        idxtool.OutputExistsError,
        FileExistsError,
        lambda t: idxtool.convert([IMAGES, LABELS], to="npz", out=_existing(t)),
        lambda t: cli("convert", str(IMAGES), str(LABELS), "--to", "npz", "-o", str(_existing(t))),
        2,
    ),
    "ParameterError": Case(
        idxtool.ParameterError,
        ValueError,
        lambda t: idxtool.split([IMAGES, LABELS], t / "parts", ratio=1.5),
        lambda t: cli("split", str(IMAGES), str(LABELS), "-o", str(t / "parts"), "--ratio", "1.5"),
        2,
    ),
    "RecordIndexError": Case(
        idxtool.RecordIndexError,
        IndexError,
        lambda t: idxtool.open_idx(LABELS).record(100),
        lambda t: cli("inspect", str(LABELS), "--show", "100"),
        2,
    ),
    "UnknownDatasetError": Case(
        idxtool.UnknownDatasetError,
        LookupError,
        lambda t: idxtool.convert([IMAGES, LABELS], to="npz", out=t / "o.npz", dataset="mnsit"),
        lambda t: cli("convert", str(IMAGES), str(LABELS), "--to", "npz", "-o", str(t / "o.npz"), "--dataset", "mnsit"),
        2,
    ),
    "UsageError": Case(
        idxtool.UsageError,
        None,
        lambda t: idxtool.load(str(IMAGES)),
        lambda t: cli("fetch", str(IMAGES)),
        2,
    ),
    "ManifestError": Case(
        idxtool.ManifestError,
        None,
        lambda t: _with_env({"IDXTOOL_REGISTRY": str(t / "none.toml")}, lambda: idxtool.load("mnist-sample", t)),
        lambda t: cli("list", env={"IDXTOOL_REGISTRY": str(t / "none.toml")}),
        2,
    ),
    "MissingDependencyError": Case(
        idxtool.MissingDependencyError,
        ImportError,
        lambda t: _blocked(
            "pyarrow,pyarrow.parquet",
            lambda: idxtool.convert([IMAGES, LABELS], to="parquet", out=t / "o.parquet"),
        ),
        lambda t: cli(
            "convert",
            str(IMAGES),
            str(LABELS),
            "--to",
            "parquet",
            "-o",
            str(t / "o.parquet"),
            block="pyarrow,pyarrow.parquet",
        ),
        2,
    ),
    "DownloadError": Case(
        idxtool.DownloadError,
        None,
        lambda t: _with_env(_unreachable(t), lambda: idxtool.fetch("gone", dir=t)),
        lambda t: cli("fetch", "gone", "--dir", str(t), env=_unreachable(t)),
        3,
    ),
    "ChecksumError": Case(
        idxtool.ChecksumError,
        None,
        lambda t: idxtool.verify("mnist-sample", dir=_corrupt_cache(t)).raise_for_failures(),
        lambda t: cli("verify", "mnist-sample", "--dir", str(_corrupt_cache(t))),
        1,
    ),
    "VerificationError": Case(
        idxtool.VerificationError,
        None,
        lambda t: idxtool.verify(_bad_idx(t)).raise_for_failures(),
        lambda t: cli("verify", str(_bad_idx(t))),
        1,
    ),
    "DatasetNotFoundError": Case(
        idxtool.DatasetNotFoundError,
        RuntimeError,
        lambda t: idxtool.MNIST(t / "empty"),
        None,
        None,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_error_is_idxerror_and_its_builtin(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    (tmp_path / "api").mkdir()
    with pytest.raises(idxtool.IdxError) as caught:
        case.api(tmp_path / "api")
    assert type(caught.value) is case.error or isinstance(caught.value, case.error), repr(caught.value)
    assert type(caught.value).__name__ == name
    if case.builtin is not None:
        (tmp_path / "again").mkdir()
        with pytest.raises(case.builtin):
            case.api(tmp_path / "again")
    assert str(caught.value)  # a message, never empty


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.cli is not None])
def test_cli_exit_code(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    assert case.cli is not None
    proc = case.cli(tmp_path)
    assert proc.returncode == case.code == case.error.exit_code, proc.stderr
    assert proc.stderr.startswith("Error: ") and "Traceback" not in proc.stderr


def test_every_public_error_is_covered() -> None:
    public = {
        n
        for n in idxtool.__all__
        if isinstance(getattr(idxtool, n), type) and issubclass(getattr(idxtool, n), BaseException)
    }
    assert public - {"IdxError"} == set(CASES)
