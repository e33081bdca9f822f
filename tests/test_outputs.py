"""Output rules with real processes and real file types: racing writers, special targets, stale
temporary files of killed runs, and a full disk (a real 1 MB tmpfs when this machine lets us mount one)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from idxtool import formats
from idxtool.atomic import temp_name
from idxtool.errors import OutputExistsError, UsageError
from idxtool.outputs import RECORD, output_file, output_folder, sweep_stale


def idxtool(*args: str, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "idxtool", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def dead_pid() -> int:
    """The PID of a process that has ended (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# -- two writers, one output -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "target"),
    [(["convert", "--to", "npz"], "same.npz"), (["export-png"], "tree")],
)
def test_racing_writers_one_wins(
    mnist_images: Path, mnist_labels: Path, tmp_path: Path, args: list[str], target: str
) -> None:
    procs = [
        idxtool(args[0], str(mnist_images), str(mnist_labels), *args[1:], "-o", target, cwd=tmp_path) for _ in range(3)
    ]
    results = [(p.wait(timeout=120), p.stderr.read().decode()) for p in procs]  # type: ignore[union-attr]
    assert sorted(code for code, _ in results) == [0, 2, 2], results
    for code, err in results:
        if code:
            assert err.startswith("Error: ") and "already exists" in err, err
    assert (tmp_path / target).exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


# -- targets that are not files ----------------------------------------------------------------


def test_fifo_socket_and_symlink_targets_are_refused_and_untouched(mnist_images: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    victim = tmp_path / "victim.npz"
    victim.write_bytes(b"precious")
    link = tmp_path / "link.npz"
    link.symlink_to(victim)
    tree_link = tmp_path / "tree"
    (tmp_path / "elsewhere").mkdir()
    tree_link.symlink_to(tmp_path / "elsewhere")
    with contextlib.closing(socket.socket(socket.AF_UNIX)) as sock:
        sock.bind(str(tmp_path / "sock.npz"))
        for target in (fifo, link, tmp_path / "sock.npz"):
            proc = idxtool("convert", str(mnist_images), "--to", "npz", "-o", str(target), "--force")
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 2, err
            assert err.decode().startswith(f"Error: {target}: is a "), err
        assert stat.S_ISSOCK((tmp_path / "sock.npz").lstat().st_mode)
    proc = idxtool("export-png", str(mnist_images), "--limit", "3", "-o", str(tree_link), "--force")
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err.decode()) == (
        2,
        f"Error: {tree_link}: is a symbolic link; idxtool does not write through links\n",
    )
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert link.is_symlink() and victim.read_bytes() == b"precious"
    assert list((tmp_path / "elsewhere").iterdir()) == []


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="/dev/null can be replaced only by root")
def test_dev_null_is_never_replaced_even_by_root(mnist_images: Path) -> None:
    for args in (["convert", "--to", "npz"], ["export-png", "--grid", "2x2"]):
        proc = idxtool(args[0], str(mnist_images), *args[1:], "-o", "/dev/null", "--force")
        _, err = proc.communicate(timeout=60)
        assert (proc.returncode, err.decode()) == (
            2,
            "Error: /dev/null: is a special file (device, socket or pipe); not replacing it\n",
        )
        assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)
    assert not [n for n in os.listdir("/dev") if n.startswith(".null.")]


def test_library_refuses_special_targets(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "p")
    with pytest.raises(UsageError, match="is a special file"), output_file(tmp_path / "p", force=True):
        pass
    (tmp_path / "f").write_text("x")
    with pytest.raises(UsageError, match="is a file; a folder is expected"), output_folder(tmp_path / "f"):
        pass
    with pytest.raises(OutputExistsError, match="f: already exists"), output_file(tmp_path / "f"):
        pass
    assert (tmp_path / "f").read_text() == "x"


# -- stale temporary files of killed runs --------------------------------------------------------


def test_sweep_removes_only_dead_runs_temporaries(tmp_path: Path) -> None:
    target = tmp_path / "out.npz"
    dead = dead_pid()
    stale_file = tmp_path / f".out.npz.{dead}.0123abcd.tmp"
    stale_file.write_bytes(b"half")
    stale_folder = tmp_path / f".out.npz.{dead}.89abcdef.tmp"
    (stale_folder / "7").mkdir(parents=True)
    (stale_folder / "7" / "0001.png").write_bytes(b"x")
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    stale_link = tmp_path / f".out.npz.{dead}.00000000.tmp"
    stale_link.symlink_to(outside)
    kept = [
        tmp_path / f".out.npz.{os.getpid()}.0123abcd.tmp",  # this process: running
        tmp_path / f".out.npz.{os.getppid()}.0123abcd.tmp",  # alive
        tmp_path / f".other.npz.{dead}.0123abcd.tmp",  # another target's
        tmp_path / f".out.npz.{dead}.tmp",  # not idxtool's pattern
        tmp_path / f"out.npz.{dead}.0123abcd.tmp",
        tmp_path / f".out.npz.{dead}.0123ABCD.tmp",
    ]
    for path in kept:
        path.write_bytes(b"keep")
    removed = sweep_stale(target)
    assert sorted(removed) == sorted([stale_file, stale_folder, stale_link])
    assert not stale_file.exists() and not stale_folder.exists() and not stale_link.is_symlink()
    assert outside.read_text() == "keep"  # a link is removed as a link, never followed
    assert all(p.read_bytes() == b"keep" for p in kept)
    assert temp_name(target).name.startswith(f".out.npz.{os.getpid()}.")


def test_next_run_sweeps_a_killed_runs_leftovers(mnist_images: Path, tmp_path: Path) -> None:
    dead = dead_pid()
    stale = tmp_path / f".tree.{dead}.0123abcd.tmp"
    (stale / "7").mkdir(parents=True)
    (stale / "7" / "0000.png").write_bytes(b"half")
    (tmp_path / "tree").mkdir()
    stale_record = tmp_path / "tree" / f".{RECORD}.{dead}.0123abcd.tmp"
    stale_record.write_text("{")
    proc = idxtool("export-png", str(mnist_images), "--limit", "3", "-o", "tree", cwd=tmp_path)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert not stale.exists() and not stale_record.exists()
    assert sorted(p.name for p in (tmp_path / "tree").iterdir()) == [
        RECORD,
        *(f"{i:04d}.png" for i in range(3)),
        "labels.csv",
    ]


# -- a full disk ---------------------------------------------------------------------------------


@pytest.fixture
def small_disk() -> Iterator[Path]:
    """A real 1 MB tmpfs (needs root and a kernel that lets this container mount one)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a 1 MB tmpfs needs root and mount(8)")
    folder = Path(tempfile.mkdtemp(prefix="idxtool-full-"))
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True)
    if done.returncode:
        folder.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)
        folder.rmdir()


WRITERS = [
    *[(["convert", "--to", fmt], f"out.{fmt}") for fmt in formats._discover() if fmt != "pkl"],
    (["export-png"], "tree"),
    (["split", "--ratio", "0.5"], "parts"),
]


def test_full_disk_names_the_output(mnist_images: Path, mnist_labels: Path, small_disk: Path) -> None:
    failures = []
    for args, target in WRITERS:
        out = small_disk / target
        proc = idxtool(args[0], str(mnist_images), str(mnist_labels), *args[1:], "-o", str(out))
        _, err = proc.communicate(timeout=120)
        text = err.decode()
        if not (proc.returncode == 1 and text.startswith(f"Error: {out}: ") and "No space left on device" in text):
            failures.append((args, proc.returncode, text))
        assert not out.exists() or (out.is_dir() and not any(out.iterdir()))
        assert [p.name for p in small_disk.iterdir()] in ([], [target]), list(small_disk.iterdir())
    assert failures == []
