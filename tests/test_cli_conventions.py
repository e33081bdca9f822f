"""Conventions every command keeps: JSON on stdout only, quiet, verbose, colour, suggestions."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

import idxtool

ANSI = re.compile(r"\x1b\[")


def idxtool_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess: stdout and stderr are pipes, not terminals."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "idxtool", *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=120
    )


@pytest.fixture()
def sample_files(isolated_home: Path) -> tuple[Path, Path]:
    proc = idxtool_cli("-q", "fetch", "mnist-sample")
    assert proc.returncode == 0, proc.stderr
    folder = isolated_home / "mnist-sample"
    return folder / "sample-images-idx3-ubyte.gz", folder / "sample-labels-idx1-ubyte.gz"


def test_version() -> None:
    proc = idxtool_cli("--version")
    assert proc.returncode == 0
    assert proc.stdout == f"idxtool {idxtool.__version__}\n"


def json_commands(images: Path, labels: Path) -> list[list[str]]:
    return [
        ["list", "--json"],
        ["info", "mnist-sample", "--json"],
        ["fetch", "mnist-sample", "--json"],
        ["verify", "mnist-sample", "--json"],
        ["verify", str(images), "--json"],
        ["inspect", str(images), str(labels), "--json", "--stats"],
    ]


def test_json_is_one_document_on_stdout_for_every_command(sample_files: tuple[Path, Path]) -> None:
    for args in json_commands(*sample_files):
        proc = idxtool_cli(*args)
        assert proc.returncode == 0, (args, proc.stderr)
        json.loads(proc.stdout)  # the whole of stdout is one JSON document
        assert not ANSI.search(proc.stdout + proc.stderr), args


def test_json_on_failure_is_still_one_document(tmp_path: Path) -> None:
    bad = tmp_path / "bad.idx"
    bad.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x09")
    for args in (["inspect", str(bad), "--json"], ["verify", str(bad), "--json"]):
        proc = idxtool_cli(*args)
        assert proc.returncode == 1, args
        json.loads(proc.stdout)
        assert proc.stderr.startswith("Error: ") and str(bad) in proc.stderr


def test_no_colour_on_pipes_and_with_no_color(sample_files: tuple[Path, Path]) -> None:
    images, labels = sample_files
    for env in ({}, {"NO_COLOR": "1"}):
        proc = idxtool_cli("inspect", str(images), str(labels), "--stats", "--show", "3", env=env)
        assert proc.returncode == 0
        assert not ANSI.search(proc.stdout) and not ANSI.search(proc.stderr)


def test_quiet_prints_nothing_but_errors(sample_files: tuple[Path, Path], tmp_path: Path) -> None:
    images, labels = sample_files
    for args in (
        ["fetch", "mnist-sample"],
        ["verify", "mnist-sample"],
        ["inspect", str(images)],
        ["export-png", str(images), str(labels), "-o", str(tmp_path / "png")],
        ["split", str(images), str(labels), "--ratio", "0.8", "-o", str(tmp_path / "split")],
        ["convert", str(images), str(labels), "--to", "npz", "-o", str(tmp_path / "s.npz")],
    ):
        proc = idxtool_cli("-q", *args)
        assert proc.returncode == 0, (args, proc.stderr)
        assert (proc.stdout, proc.stderr) == ("", ""), args
    bad = tmp_path / "bad.idx"
    bad.write_bytes(b"")
    proc = idxtool_cli("-q", "inspect", str(bad))
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", f"Error: {bad}: file is empty\n")


def test_verbose_adds_the_traceback_on_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.idx"
    bad.write_bytes(b"\x07\x00\x08\x01")
    quiet = idxtool_cli("verify", str(bad))
    loud = idxtool_cli("-v", "verify", str(bad))
    assert quiet.returncode == loud.returncode == 1
    assert "Traceback" not in quiet.stderr
    assert "Traceback (most recent call last)" in loud.stderr
    assert loud.stderr.rstrip().splitlines()[-1] == quiet.stderr.rstrip().splitlines()[-1]


@pytest.mark.parametrize(
    "args",
    [
        ["fetch", "fashion-mnis"],
        ["info", "fashion-mnis"],
        ["verify", "fashion-mnis"],
        ["inspect", "fashion-mnis"],
        ["convert", "fashion-mnis", "--to", "npz", "-o", "{tmp}/x.npz"],
        ["export-png", "fashion-mnis", "-o", "{tmp}/png"],
        ["split", "fashion-mnis", "--ratio", "0.9", "-o", "{tmp}/split"],
    ],
)
def test_unknown_dataset_suggests_the_closest_and_exits_2(args: list[str], tmp_path: Path) -> None:
    proc = idxtool_cli(*[a.format(tmp=tmp_path) for a in args])
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("Error: ")
    assert "did you mean fashion-mnist?" in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_progress_bar_shows_on_a_terminal(sample_files: tuple[Path, Path], tmp_path: Path) -> None:
    """Run under tmux as a person would and read the screen: a bar with a rate while running."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    images, labels = sample_files
    session = f"idxtool-bar-{uuid.uuid4().hex[:8]}"
    out = tmp_path / "png"
    command = f"{sys.executable} -m idxtool export-png {images} {labels} -o {out} --jobs 1; echo EXIT=$?; sleep 30"
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "30", command], env=env, check=True)
    try:
        screen = ""
        for _ in range(100):
            time.sleep(0.2)
            screen = subprocess.run(
                ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True
            ).stdout
            if "EXIT=" in screen:
                break
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    assert "EXIT=0" in screen, screen
    assert "100/100" in screen and "images/s" in screen, screen


def test_an_output_that_cannot_be_written_names_the_target(sample_files: tuple[Path, Path], tmp_path: Path) -> None:
    images, labels = sample_files
    work = tmp_path / "work"
    work.mkdir()
    blocker = work / "file"
    blocker.write_bytes(b"")
    for to, name in (("csv", "out.csv"), ("npz", "out.npz"), ("idx", "out")):
        target = blocker / name
        proc = idxtool_cli("convert", str(images), str(labels), "--to", to, "-o", str(target))
        assert proc.returncode == 1, (to, proc.stderr)
        assert proc.stderr.startswith(f"Error: {target}: ") and proc.stderr.count("\n") == 1, proc.stderr
        assert ".tmp" not in proc.stderr
    assert [p.name for p in work.iterdir()] == ["file"]


HEAVY = ("numpy", "rich", "PIL", "requests", "urllib3", "filelock", "platformdirs")


def _modules_after(argv: list[str], env: dict[str, str] | None = None) -> tuple[list[str], list[str]]:
    """Run the CLI with ``argv`` in a fresh interpreter; (heavy modules imported, idxtool modules imported)."""
    code = (
        "import json, sys\n"
        "from idxtool.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:], prog_name='idxtool')\n"
        "except SystemExit as e:\n"
        "    assert e.code in (0, None), e.code\n"
        f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))\n"
        "ours = sorted(m for m in sys.modules if m.startswith('idxtool'))\n"
        "print(json.dumps([heavy, ours]), file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    assert proc.returncode == 0, proc.stderr
    heavy, ours = json.loads(proc.stderr.strip().splitlines()[-1])
    return heavy, ours


def test_help_and_completion_import_no_command_and_nothing_heavy() -> None:
    heavy, ours = _modules_after(["--help"])
    assert heavy == [] and ours == ["idxtool", "idxtool._version", "idxtool.cli", "idxtool.errors"]
    completing = {"_IDXTOOL_COMPLETE": "bash_complete", "COMP_WORDS": "idxtool in", "COMP_CWORD": "1"}
    heavy, ours = _modules_after([], completing)
    assert heavy == [] and not any(m.endswith("_cmd") for m in ours)
    completing = {"_IDXTOOL_COMPLETE": "bash_complete", "COMP_WORDS": "idxtool inspect mn", "COMP_CWORD": "2"}
    heavy, ours = _modules_after([], completing)
    assert heavy == [] and "idxtool.cli.inspect_cmd" in ours


def test_header_only_inspect_imports_neither_numpy_nor_rich_off_a_terminal(sample_files: tuple[Path, Path]) -> None:
    heavy, _ = _modules_after(["inspect", str(sample_files[0])])
    assert heavy == []
    heavy, _ = _modules_after(["inspect", "--stats", str(sample_files[1])])
    assert heavy == ["numpy"]  # statistics need numpy; plain output still needs no rich


def test_help_lists_each_command_by_its_own_summary() -> None:
    """The summaries --help shows without importing commands are the commands' own first paragraphs."""
    import click

    from idxtool.cli import COMMANDS, SUMMARIES, main

    ctx = click.Context(main)
    assert list(SUMMARIES) == list(COMMANDS)
    for name in COMMANDS:
        command = main.get_command(ctx, name)
        assert command is not None and command.help is not None
        assert " ".join(command.help.split("\n\n")[0].split()) == SUMMARIES[name], name
    proc = idxtool_cli("--help")
    assert proc.returncode == 0
    for name, summary in SUMMARIES.items():
        line = next(l for l in proc.stdout.splitlines() if l.strip().startswith(name + " "))
        shown = line.split(None, 1)[1].removesuffix("...")
        assert summary.startswith(shown), (name, shown)


def test_a_path_is_never_folded_on_a_narrow_terminal(sample_files: tuple[Path, Path], tmp_path: Path) -> None:
    """On a 40-column terminal (rich rendering) the path stays on one line."""
    import pty

    folder = tmp_path / ("a-long-folder-name-" * 4)
    folder.mkdir()
    path = folder / sample_files[1].name
    path.write_bytes(sample_files[1].read_bytes())
    main_fd, secondary = pty.openpty()
    env = {**{k: v for k, v in os.environ.items() if k != "NO_COLOR"}, "COLUMNS": "40", "TERM": "xterm"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "idxtool", "inspect", "--stats", str(path)],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=env,
    )
    os.close(secondary)
    seen = b""
    while True:
        try:
            block = os.read(main_fd, 4096)
        except OSError:
            break
        if not block:
            break
        seen += block
    os.close(main_fd)
    assert proc.wait(timeout=60) == 0
    text = ANSI.sub("", re.sub(r"\x1b\[[0-9;]*m", "", seen.decode()))
    assert str(path) in text.replace("\r", "").splitlines(), text
    assert "value counts" in text


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("args", [["list"], ["inspect", "no-such-file.gz"]])
def test_ctrl_c_after_the_command_is_over_keeps_its_exit_code(args: list[str], tmp_path: Path) -> None:
    """A Ctrl-C landing once the command is done (in click's own exit) must not turn the run
    into click's "Aborted!" and exit 1: the program keeps the command's own exit code."""
    script = (
        "import os, signal, time, idxtool.cli as cli\n"
        "inner = cli.IdxGroup._invoke\n"
        "def late_ctrl_c(self, ctx):\n"
        "    try:\n"
        "        return inner(self, ctx)\n"
        "    finally:\n"
        "        os.kill(os.getpid(), signal.SIGINT); time.sleep(0.2)\n"
        "cli.IdxGroup._invoke = late_ctrl_c\n"
        "cli.run()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False
    )
    assert "Aborted" not in proc.stderr
    assert proc.returncode == (0 if args == ["list"] else 2), proc.stderr
