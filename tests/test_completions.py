"""Shell completions: committed scripts are current, and real shells complete with them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import ci_script

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def shell_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment where `idxtool` is this interpreter's, with one user manifest."""
    if not (BIN / "idxtool").exists():
        pytest.skip(f"idxtool is not installed beside {sys.executable}")
    registry = tmp_path_factory.mktemp("registry") / "zebra.toml"
    registry.write_text(
        'name = "zebra-digits"\nurls = ["https://zebra.example/"]\n'
        '[[files]]\nname = "z-images-idx3-ubyte.gz"\nsplit = "train"\nkind = "images"\n'
        'sha256 = "' + "0" * 64 + '"\n'
    )
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["IDXTOOL_REGISTRY"] = str(registry)
    return env


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_committed_scripts_are_current(shell: str) -> None:
    committed = (ROOT / "completions" / f"idxtool.{shell}").read_text(encoding="utf-8")
    assert committed == ci_script("generate").completion_source(shell), (
        f"completions/idxtool.{shell} is stale: run `python .ci/generate.py`"
    )


def bash_complete(words: list[str], env: dict[str, str]) -> list[str]:
    """Run the bash completion function for ``words`` (the last one is being typed)."""
    script = (
        f"source {ROOT / 'completions' / 'idxtool.bash'}\n"
        f"COMP_WORDS=({' '.join(words)}); COMP_CWORD={len(words) - 1}\n"
        "_idxtool_completion idxtool\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    proc = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script], env=env, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    return [line for line in proc.stdout.splitlines() if line]


def test_bash_completes_commands_and_dataset_names(shell_env: dict[str, str]) -> None:
    assert bash_complete(["idxtool", "fe"], shell_env) == ["fetch"]
    assert bash_complete(["idxtool", "ex"], shell_env) == ["export-png"]
    assert bash_complete(["idxtool", "fetch", "fash"], shell_env) == ["fashion-mnist"]
    assert "emnist-letters" in bash_complete(["idxtool", "info", "emnist-"], shell_env)
    assert bash_complete(["idxtool", "fetch", "zeb"], shell_env) == ["zebra-digits"]  # user manifest
    assert "--json" in bash_complete(["idxtool", "inspect", "--j"], shell_env)


def _tmux_screen(
    shell_cmd: list[str], setup: list[str], typed: str, expect: str, env: dict[str, str], cwd: Path
) -> str:
    """Start a real interactive shell in tmux, type, press Tab; the screen once ``expect`` shows."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    session = f"idxtool-test-{uuid.uuid4().hex[:8]}"
    command = " ".join(shell_cmd)
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "200", "-y", "40", "-c", str(cwd), command],
        env=env,
        check=True,
        timeout=10,
    )
    try:
        for line in setup:
            subprocess.run(["tmux", "send-keys", "-t", session, line, "Enter"], check=True, timeout=10)
        time.sleep(0.8)
        subprocess.run(["tmux", "send-keys", "-t", session, typed, "Tab"], check=True, timeout=10)
        screen = ""
        for _ in range(50):  # up to ~10 s for the shim to call back into idxtool
            time.sleep(0.2)
            screen = subprocess.run(
                ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True
            ).stdout
            if expect in screen:
                break
        return screen
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, timeout=10)


def test_bash_completes_file_arguments_as_paths(shell_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"")
    screen = _tmux_screen(
        ["bash", "--norc", "--noprofile"],
        ["PS1='$ '", f"source {ROOT / 'completions' / 'idxtool.bash'}"],
        "idxtool inspect t10k-im",
        "idxtool inspect t10k-images-idx3-ubyte.gz",
        shell_env,
        tmp_path,
    )
    assert "idxtool inspect t10k-images-idx3-ubyte.gz" in screen, screen


def test_zsh_completes_command_and_dataset(shell_env: dict[str, str], tmp_path: Path) -> None:
    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed (apt-get install zsh)")
    setup = ["PS1='$ '", "autoload -Uz compinit && compinit -u", f"source {ROOT / 'completions' / 'idxtool.zsh'}"]
    expect = "idxtool fetch fashion-mnist"
    screen = _tmux_screen(["zsh", "-f"], setup, "idxtool fetch fashion-mn", expect, shell_env, tmp_path)
    assert expect in screen, screen
    screen = _tmux_screen(["zsh", "-f"], setup, "idxtool exp", "idxtool export-png", shell_env, tmp_path)
    assert "idxtool export-png" in screen, screen


def fish_complete(line: str, env: dict[str, str], cwd: Path) -> list[str]:
    script = f"source {ROOT / 'completions' / 'idxtool.fish'}; complete -C '{line}'"
    proc = subprocess.run(
        ["fish", "--no-config", "-c", script], env=env, cwd=cwd, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    return [l.split("\t")[0] for l in proc.stdout.splitlines()]


def test_fish_completes_commands_names_and_paths(shell_env: dict[str, str], tmp_path: Path) -> None:
    if shutil.which("fish") is None:
        pytest.skip("fish is not installed (apt-get install fish)")
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"")
    assert fish_complete("idxtool fe", shell_env, tmp_path) == ["fetch"]
    assert fish_complete("idxtool fetch fash", shell_env, tmp_path) == ["fashion-mnist"]
    assert "zebra-digits" in fish_complete("idxtool verify zeb", shell_env, tmp_path)
    assert "t10k-images-idx3-ubyte.gz" in fish_complete("idxtool inspect t10k", shell_env, tmp_path)


def test_the_fast_name_list_is_the_registry_s(monkeypatch: pytest.MonkeyPatch) -> None:
    from idxtool import registry
    from idxtool.cli.complete import builtin_names

    monkeypatch.delenv("IDXTOOL_REGISTRY", raising=False)
    assert builtin_names() == registry.names()
