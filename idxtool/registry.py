"""The registry: which datasets exist, found by name in the built-in and user manifests.

Built-in manifests ship in ``idxtool/datasets/*.toml``, one file per family. Users add their
own with ``IDXTOOL_REGISTRY`` (files or folders, ``os.pathsep``-separated); a user manifest
with a built-in name replaces it, and the first user manifest to define a name wins.

The data model (:class:`Dataset`, :class:`Resource`) and the reading and checking of a
manifest's text live in :mod:`idxtool.manifest`; they are re-exported here, so
``from idxtool.registry import Dataset`` keeps working.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from .errors import ManifestError, UnknownDatasetError
from .manifest import Dataset, Kind, Resource, parse_manifest

__all__ = [
    "Dataset",
    "Kind",
    "Resource",
    "all_datasets",
    "get",
    "names",
    "unknown_message",
    "user_manifest_paths",
]

_builtin_cache: dict[str, Dataset] | None = None


def _builtins() -> dict[str, Dataset]:
    global _builtin_cache
    if _builtin_cache is None:
        found: dict[str, Dataset] = {}
        # The package's own folder, not importlib.resources: that imports zipfile and tempfile,
        # ~35 ms paid on every shell completion of a dataset name.
        folder = Path(__file__).parent / "datasets"
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".toml"):
                source = f"idxtool/datasets/{entry.name}"
                for ds in parse_manifest(entry.read_text("utf-8"), source, builtin=True):
                    found[ds.name] = ds
        _builtin_cache = found
    return _builtin_cache


def user_manifest_paths() -> list[Path]:
    """The manifest files named by ``IDXTOOL_REGISTRY`` (folders expand to their ``*.toml``).

    Returns
    -------
    list[Path]
        In the order given; a folder's manifests sorted by name.

    Raises
    ------
    ManifestError
        A named file or folder does not exist.
    """
    paths: list[Path] = []
    for part in os.environ.get("IDXTOOL_REGISTRY", "").split(os.pathsep):
        if not part.strip():
            continue
        path = Path(part).expanduser()
        if path.is_dir():
            paths.extend(sorted(path.glob("*.toml")))
        elif path.is_file():
            paths.append(path)
        else:
            raise ManifestError(f"{path}: no such manifest file or folder (from IDXTOOL_REGISTRY)")
    return paths


def _user() -> dict[str, Dataset]:
    found: dict[str, Dataset] = {}
    for path in user_manifest_paths():
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ManifestError(f"{path}: cannot read manifest ({exc})") from None
        for ds in parse_manifest(text, str(path)):
            found.setdefault(ds.name, ds)
    return found


def _all() -> dict[str, Dataset]:
    return {**_builtins(), **_user()}


def names() -> list[str]:
    """Every registered dataset name, sorted (user manifests included).

    Raises
    ------
    ManifestError
        A user manifest is missing or malformed.
    """
    return sorted(_all())


def all_datasets() -> list[Dataset]:
    """Every registered dataset, sorted by name.

    Raises
    ------
    ManifestError
        A user manifest is missing or malformed.
    """
    registry = _all()
    return [registry[n] for n in sorted(registry)]


def get(name: str) -> Dataset:
    """The dataset called ``name``.

    Parameters
    ----------
    name
        A registered name, exactly (``fashion-mnist``).

    Returns
    -------
    Dataset
        From a user manifest when one defines ``name``, else the built-in one.

    Raises
    ------
    UnknownDatasetError
        No dataset has that name; the message suggests a close one.
    ManifestError
        A user manifest is missing or malformed.
    """
    registry = _all()
    if name in registry:
        return registry[name]
    raise UnknownDatasetError(unknown_message(name, list(registry)))


def unknown_message(name: str, known: list[str]) -> str:
    """``'NAME: unknown dataset; did you mean ...?'`` with a close match from ``known``.

    Parameters
    ----------
    name
        The name that was not found.
    known
        The names to suggest from.

    Returns
    -------
    str
        The message, ending with where to see every name.
    """
    lowered = {n.lower().replace("_", "-"): n for n in known}
    close = difflib.get_close_matches(name.lower().replace("_", "-"), list(lowered), n=1, cutoff=0.6)
    hint = f"; did you mean {lowered[close[0]]}?" if close else ""
    return f"{name}: unknown dataset{hint} (idxtool list shows them all)"
