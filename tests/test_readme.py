"""The README's commands are real: they run as written, and CI runs the same test command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ci_script

ROOT = Path(__file__).resolve().parents[1]


def _readme_command(name: str) -> str:
    return str(ci_script("readme_command").readme_command(name))


def _copy_checkout(dest: Path) -> Path:
    """Copy the files git tracks (as they are in the work tree), like a fresh clone."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    for rel in filter(None, listed.stdout.decode().split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "readme_command.py test" in ci
    command = _readme_command("test")
    assert "pip install" in command and "pytest" in command


@pytest.mark.timeout(600)
def test_quickstart_runs_as_written_in_a_fresh_venv(tmp_path: Path) -> None:
    """Install from a copy of the checkout into a new venv and run the main job offline."""
    checkout = _copy_checkout(tmp_path / "clone")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["IDXTOOL_HOME"] = str(tmp_path / "cache")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(sys.prefix))
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", _readme_command("quickstart")],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=580,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "100 x 28 x 28" in proc.stdout
    assert "record 0  label 7" in proc.stdout
    assert (tmp_path / "cache" / "mnist-sample").is_dir()
    assert (checkout / ".venv" / "bin" / "idxtool").exists()


def test_sample_is_rebuilt_byte_for_byte(tmp_path: Path, shared: Path) -> None:
    """The embedded sample is exactly what tests/make_sample.py makes from the real files."""
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests" / "make_sample.py"),
            "--source",
            str(shared / "mnist"),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    shipped = ROOT / "idxtool" / "data" / "mnist-sample"
    for name in ("sample-images-idx3-ubyte.gz", "sample-labels-idx1-ubyte.gz"):
        assert (tmp_path / name).read_bytes() == (shipped / name).read_bytes(), name
