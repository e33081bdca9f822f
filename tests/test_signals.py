"""Signals against every writing command: real processes, real signals, at seeded random moments.

Each command runs as ``python -m idxtool ...`` in its own session (process group) on 20,000
real MNIST test images (tiled twice, raw IDX). Once its temporary output has appeared (it
is writing), the test waits a seeded random moment and sends SIGINT (to the process group,
as Ctrl-C does), SIGTERM or SIGKILL (to the main process only, as ``kill PID`` does: the hard
case for worker processes). Then:

- the exit: 130 for SIGINT, killed by the signal for SIGTERM and SIGKILL;
- no partial final output: the target does not exist, or (the signal landed after the final
  rename) it holds exactly the files, of the same sizes, that an uninterrupted run writes;
- no stray process: nothing of the process group is left running (workers die with their
  parent), zombies waiting for init excepted;
- the next run of the same command succeeds and leaves no temporary file of the killed run.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from idxtool import formats

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups read from /proc")

COUNT = 20_000
RNG = random.Random(20261121)
SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGKILL]
#: (name, arguments after IMAGES LABELS, output name)
COMMANDS = [
    *[
        (f"convert-{fmt}", ["convert", "--to", fmt, *(["-j", "2"] if fmt == "png" else [])], f"out.{fmt}")
        for fmt in formats._discover()
    ],
    ("export-png", ["export-png", "-j", "2"], "tree"),
    ("export-png-gz", ["export-png", "-j", "2"], "tree"),  # decompressed by the main process, in a thread
    ("split", ["split", "--ratio", "0.9"], "parts"),
]


@pytest.fixture(scope="module")
def pair(mnist_images: Path, mnist_labels: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """20,000 real MNIST test images and labels (tiled twice) as raw IDX files."""
    folder = tmp_path_factory.mktemp("signals-input")
    with gzip.open(mnist_images) as fh:
        images = fh.read()[16:]
    with gzip.open(mnist_labels) as fh:
        labels = fh.read()[8:]
    tiles = COUNT // 10_000
    (folder / "images").write_bytes(b"\0\0\x08\x03" + np.array([COUNT, 28, 28], ">u4").tobytes() + images * tiles)
    (folder / "labels").write_bytes(b"\0\0\x08\x01" + np.array([COUNT], ">u4").tobytes() + labels * tiles)
    x = np.frombuffer(images * tiles, np.uint8).reshape(COUNT, 28, 28)
    y = np.frombuffer(labels * tiles, np.uint8)
    # pkl's layout needs train and test splits: the same records as Keras-style arrays
    np.savez(folder / "keras.npz", x_train=x[:15_000], y_train=y[:15_000], x_test=x[15_000:], y_test=y[15_000:])
    for name in ("images", "labels"):  # gzip copies: export-png-gz
        (folder / f"{name}.gz").write_bytes(gzip.compress((folder / name).read_bytes(), 1))
    return folder / "images", folder / "labels"


def group_alive(pgid: int) -> list[int]:
    """PIDs of the process group ``pgid`` that are not zombies."""
    alive = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(entry))
    return alive


def temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def listing(out: Path) -> dict[str, int]:
    """Relative path -> size of every file of an output (idxtool's record of them excepted)."""
    if out.is_file():
        return {"": out.stat().st_size}
    return {
        str(p.relative_to(out)): p.stat().st_size
        for p in out.rglob("*")
        if p.is_file() and p.name != ".idxtool-outputs.json"
    }


def start(argv: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "IDXTOOL_HOME": str(cwd / ".home")}
    return subprocess.Popen(
        [sys.executable, "-m", "idxtool", *argv],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def wait_for_temp(proc: subprocess.Popen[bytes], folder: Path, deadline: float = 20.0) -> bool:
    """True once a temporary output exists (the command is writing); False if it ended first."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if temps(folder):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.002)
    raise AssertionError("the command neither wrote nor ended in time")


@pytest.fixture
def work(tmp_path: Path) -> Iterator[Path]:
    """An empty folder, on tmpfs (/dev/shm) where there is one: PNG trees are then quick to write."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        (tmp_path / "work").mkdir()
        yield tmp_path / "work"
        return
    folder = Path(tempfile.mkdtemp(prefix="idxtool-signals-", dir=shm))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
@pytest.mark.parametrize(("name", "args", "target"), COMMANDS, ids=[c[0] for c in COMMANDS])
def test_signal_mid_write(
    pair: tuple[Path, Path], work: Path, name: str, args: list[str], target: str, sig: int
) -> None:
    sources = [pair[0].with_name("keras.npz")] if name == "convert-pkl" else pair
    if name == "export-png-gz":
        sources = (pair[0].with_name("images.gz"), pair[1].with_name("labels.gz"))
    argv = [args[0], *map(str, sources), *args[1:], "-o", target]
    proc = start(argv, work)
    writing = wait_for_temp(proc, work)
    time.sleep(RNG.uniform(0.0, 0.15))
    with contextlib.suppress(ProcessLookupError):  # it may have ended just now
        if sig == signal.SIGINT:
            os.killpg(proc.pid, sig)  # Ctrl-C: the terminal signals the whole foreground group
        else:
            os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=30)
    out = work / target
    text = err.decode()
    if out.exists():  # it ended, or renamed its output into place, before the signal landed
        assert proc.returncode in (0, 130, -signal.SIGINT, -sig), text
        if proc.returncode != 0:  # then it must be whole
            reference = work / "reference"
            reference.mkdir()
            done = start(argv, reference)
            assert done.wait(timeout=60) == 0
            assert listing(out) == listing(reference / target), f"{name}: a partial {target}"
    else:
        assert writing, text
        assert proc.returncode == (130 if sig == signal.SIGINT else -sig), text
        if sig == signal.SIGINT:
            assert text.endswith("Error: interrupted\n"), text
            assert temps(work) == []  # cleaned up on the way out
        if sig == signal.SIGTERM:  # `kill PID`: cleaned up as for Ctrl-C, then ended by the signal
            assert text.endswith("Error: terminated\n"), text
            assert temps(work) == []
    end = time.monotonic() + 5
    while group_alive(proc.pid) and time.monotonic() < end:
        time.sleep(0.02)
    assert group_alive(proc.pid) == [], f"{name}: processes left running after {signal.Signals(sig).name}"
    if out.exists() or sig != signal.SIGKILL:
        return
    # the next run sweeps the killed run's temporary files and writes the output
    left = temps(work)
    again = start(argv, work)
    _, err = again.communicate(timeout=60)
    assert again.returncode == 0, err.decode()
    assert out.exists() and temps(work) == [], (left, temps(work))
