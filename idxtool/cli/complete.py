"""Shell completion callbacks: dataset names from the registry (user manifests included)."""

from __future__ import annotations

from typing import Any

import click


def _names() -> list[str]:
    try:
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
