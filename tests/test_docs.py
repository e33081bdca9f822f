"""Docs that cannot drift: the README's CLI reference is every command's current --help."""

from __future__ import annotations

import difflib
from pathlib import Path

import click

from conftest import ci_script
from idxtool.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[1]


def test_readme_reference_is_current() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    current = ci_script("generate").readme_with_reference(readme)
    diff = "".join(difflib.unified_diff(readme.splitlines(True), current.splitlines(True), "README.md", "generated"))
    assert not diff, f"the README's CLI reference is stale: run `python .ci/generate.py`\n{diff[:3000]}"


def test_every_command_is_in_the_reference_and_the_contract_list() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ctx = click.Context(main, info_name="idxtool")
    listed = main.list_commands(ctx)
    assert listed == list(COMMANDS)  # every command the contract names is installed
    for name in listed:
        assert f"### `idxtool {name}`" in readme
        assert f"idxtool {name}" in readme.split("## CLI reference")[0], f"{name} missing from the command list"


def test_every_command_and_option_has_help_text() -> None:
    ctx = click.Context(main, info_name="idxtool")
    for name in main.list_commands(ctx):
        command = main.get_command(ctx, name)
        assert command is not None and command.help and command.short_help != "", name
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"idxtool {name} {param.opts[0]} has no help text"


def test_version_constant_matches_the_package_metadata() -> None:
    import tomllib

    import idxtool

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    assert idxtool.__version__ == project["version"]
