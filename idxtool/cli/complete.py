"""Shell completion callbacks: dataset names from the registry (user manifests included)."""

from __future__ import annotations

import os
from typing import Any

import click


def builtin_names() -> list[str]:
    """The built-in datasets' names, read with tomllib alone: the fast path of every TAB.

    Parsing and validating the manifests (``registry.names()``) costs about 20 ms more at
    start-up; a test keeps the two lists equal.
    """
    import tomllib
    from pathlib import Path

    found: list[str] = []
    for path in sorted((Path(__file__).resolve().parents[1] / "datasets").glob("*.toml")):
        doc = tomllib.loads(path.read_text("utf-8"))
        tables = doc.get("datasets") or [doc]
        found += [t["name"] for t in tables if isinstance(t, dict) and isinstance(t.get("name"), str)]
    return sorted(found)


def _names() -> list[str]:
    try:
        if not os.environ.get("IDXTOOL_REGISTRY", "").strip():
            return builtin_names()
        from ..registry import names

        return names()
    except Exception:  # a broken user manifest must not break the shell: complete nothing
        return []


def dataset_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Registered dataset names starting with what was typed."""
    from click.shell_completion import CompletionItem

    return [CompletionItem(name) for name in _names() if name.startswith(incomplete)]


def dataset_or_path(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Dataset names when they match what was typed, else paths (the shell completes those).

    The file item comes first: click's bash shim clears earlier items when it sees it.
    """
    from click.shell_completion import CompletionItem

    names = [] if "/" in incomplete else dataset_names(ctx, param, incomplete)
    return [CompletionItem(incomplete, type="file"), *names]
