"""Dataset manifests (TOML) -> :class:`Dataset` and :class:`Resource` objects.

Built-in manifests ship in ``idxtool/datasets/*.toml``, one file per family. Users add their
own with ``IDXTOOL_REGISTRY`` (files or folders, ``os.pathsep``-separated); a user manifest
with a built-in name replaces it, and the first user manifest to define a name wins.

A manifest file describes one dataset (top-level ``name``, ``urls``, ``[[files]]``) or a
family: top-level keys are defaults shared by each ``[[datasets]]`` table, and top-level
``[[files]]`` (an archive, say) are prepended to every dataset's files.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import ManifestError, UnknownDatasetError, UsageError
from .selection import Selection, parse_selection

KINDS = ("images", "labels", "archive", "other")
URL_SCHEMES = ("http", "https", "file", "package")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_HEX = {64: re.compile(r"^[0-9a-fA-F]{64}$"), 32: re.compile(r"^[0-9a-fA-F]{32}$")}


@dataclass(frozen=True)
class Resource:
    """One file of a dataset, as published."""

    name: str
    kind: str
    split: str | None = None
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None
    #: sha256 of the decompressed IDX payload: tells a re-compressed copy from corrupt data.
    idx_sha256: str | None = None
    #: Only an md5 was ever published for this file (weaker; reported as such by verify).
    md5_only: bool = False
    #: Name of the archive resource this file is extracted from, and its path inside it.
    archive: str | None = None
    member: str | None = None

    @property
    def extracted(self) -> bool:
        """True for a file that comes out of an archive rather than straight from a URL."""
        return self.archive is not None


@dataclass(frozen=True)
class Dataset:
    """A registered dataset: where its files come from, what they must hash to, what they mean."""

    name: str
    urls: tuple[str, ...]
    files: tuple[Resource, ...]
    classes: tuple[str, ...] | None = None
    transpose: bool = False
    label_offset: int = 0
    label_column: int | None = None
    license: str = ""
    homepage: str = ""
    citation: str = ""
    description: str = ""
    family: str = ""
    source: str = ""
    builtin: bool = True
    extras: Mapping[str, Any] = field(default_factory=dict)
    #: Named record ranges of a split (QMNIST's ``test10k`` = ``test[:10000]``).
    views: Mapping[str, Selection] = field(default_factory=dict)

    @property
    def splits(self) -> list[str]:
        """Split names in manifest order (train before test)."""
        seen: list[str] = []
        for r in self.files:
            if r.kind in ("images", "labels") and r.split and r.split not in seen:
                seen.append(r.split)
        return seen

    def pairs(self) -> dict[str, tuple[Resource, Resource | None]]:
        """split -> (images resource, labels resource or None), in manifest order."""
        out: dict[str, tuple[Resource, Resource | None]] = {}
        for split in self.splits:
            images = next(r for r in self.files if r.split == split and r.kind == "images")
            labels = next((r for r in self.files if r.split == split and r.kind == "labels"), None)
            out[split] = (images, labels)
        return out

    def resource(self, name: str) -> Resource:
        return next(r for r in self.files if r.name == name)

    @property
    def archives(self) -> tuple[Resource, ...]:
        return tuple(r for r in self.files if r.kind == "archive")

    @property
    def embedded(self) -> bool:
        """Every source is package data: works offline, mirrors do not apply."""
        return all(u.startswith("package:") for u in self.urls)

    @property
    def download_size(self) -> int | None:
        """Bytes fetched from the network (archives, not their members); None if unknown."""
        sizes = [r.size for r in self.files if not r.extracted]
        return None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)


# -- parsing -----------------------------------------------------------------------------------

_DATASET_KEYS = {
    "name", "urls", "files", "classes", "class_chars", "label_fields", "transpose",
    "label_offset", "label_column", "license", "homepage", "citation", "description", "family", "views",
}
_FAMILY_KEYS = (_DATASET_KEYS - {"name"}) | {"datasets"}
_FILE_KEYS = {"name", "split", "kind", "sha256", "md5", "size", "idx_sha256", "md5_only", "archive", "member"}
_EXTRA_KEYS = ("class_chars", "label_fields")


class _Where:
    """Names the manifest file and the key for error messages."""

    def __init__(self, source: str, prefix: str = "") -> None:
        self.source, self.prefix = source, prefix

    def key(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def sub(self, prefix: str) -> _Where:
        return _Where(self.source, self.key(prefix) if self.prefix else prefix)

    def fail(self, key: str, message: str) -> ManifestError:
        return ManifestError(f"{self.source}: {self.key(key)}: {message}")


def _typed(table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: _Where, what: str) -> Any:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) and kind is int:
        raise where.fail(key, f"expected {what}, got {value!r}")
    if not isinstance(value, kind):
        raise where.fail(key, f"expected {what}, got {type(value).__name__} {value!r}")
    return value


def _str_list(table: Mapping[str, Any], key: str, where: _Where) -> tuple[str, ...] | None:
    value = _typed(table, key, list, where, "a list of strings")
    if value is None:
        return None
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise where.fail(f"{key}[{i}]", f"expected a string, got {item!r}")
    return tuple(value)


def _check_keys(table: Mapping[str, Any], allowed: set[str], where: _Where) -> None:
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(sorted(allowed))})"
            raise where.fail(key, f"unknown key{hint}")


def _hex(table: Mapping[str, Any], key: str, digits: int, where: _Where) -> str | None:
    value = _typed(table, key, str, where, f"{digits} hex digits")
    if value is not None and not _HEX[digits].match(value):
        raise where.fail(key, f"expected {digits} hex digits, got {value!r}")
    return value.lower() if value else None


def _plain_name(value: str) -> bool:
    return bool(value) and value not in (".", "..") and "/" not in value and "\\" not in value


def _safe_member(value: str) -> bool:
    parts = value.replace("\\", "/").split("/")
    return bool(value) and not value.startswith(("/", "\\")) and ":" not in parts[0] and ".." not in parts


def _parse_file(table: Any, where: _Where) -> Resource:
    if not isinstance(table, dict):
        raise ManifestError(f"{where.source}: {where.prefix}: expected a table, got {table!r}")
    _check_keys(table, _FILE_KEYS, where)
    name = _typed(table, "name", str, where, "a file name")
    if name is None:
        raise where.fail("name", "missing (the file name appended to each base URL)")
    if not _plain_name(name):
        raise where.fail("name", f"must be a plain file name without folders, got {name!r}")
    kind = _typed(table, "kind", str, where, "a string")
    if kind not in KINDS:
        raise where.fail("kind", f"expected one of {', '.join(KINDS)}, got {kind!r}")
    split = _typed(table, "split", str, where, "a string")
    if kind in ("images", "labels") and not split:
        raise where.fail("split", f"missing (required for kind = \"{kind}\")")
    size = _typed(table, "size", int, where, "a whole number of bytes")
    if size is not None and size < 0:
        raise where.fail("size", f"must not be negative, got {size}")
    md5_only = bool(_typed(table, "md5_only", bool, where, "true or false"))
    archive = _typed(table, "archive", str, where, "the name of an archive file")
    member = _typed(table, "member", str, where, "a path inside the archive")
    if (archive is None) != (member is None):
        raise where.fail("member" if archive else "archive", "'archive' and 'member' go together")
    if member is not None and not _safe_member(member):
        raise where.fail("member", f"must be a relative path inside the archive, got {member!r}")
    resource = Resource(
        name=name,
        kind=kind,
        split=split,
        sha256=_hex(table, "sha256", 64, where),
        md5=_hex(table, "md5", 32, where),
        size=size,
        idx_sha256=_hex(table, "idx_sha256", 64, where),
        md5_only=md5_only,
        archive=archive,
        member=member,
    )
    if md5_only and not resource.md5:
        raise where.fail("md5", "missing (md5_only = true needs an md5)")
    if md5_only and resource.sha256:
        raise where.fail("md5_only", "set, but the entry has a sha256")
    if not resource.sha256 and not md5_only and not resource.extracted:
        raise where.fail(
            "sha256", "missing (required; for a file published with an md5 only, set md5_only = true)"
        )
    return resource


def _parse_dataset(table: Mapping[str, Any], where: _Where, builtin: bool) -> Dataset:
    name = _typed(table, "name", str, where, "a dataset name")
    if name is None:
        raise where.fail("name", "missing")
    if not NAME_RE.match(name):
        raise where.fail("name", f"must be letters, digits, '.', '_' or '-' (not first), got {name!r}")
    urls = _str_list(table, "urls", where)
    if not urls:
        raise where.fail("urls", "missing (a list of base URLs, tried in order)")
    for i, url in enumerate(urls):
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme not in URL_SCHEMES:
            raise where.fail(f"urls[{i}]", f"expected an {'/'.join(URL_SCHEMES)} URL, got {url!r}")
    raw_files = _typed(table, "files", list, where, "an array of [[files]] tables")
    if not raw_files:
        raise where.fail("files", "missing (at least one [[files]] entry)")
    files = tuple(_parse_file(t, where.sub(f"files[{i}]")) for i, t in enumerate(raw_files))
    _check_files(files, where)
    classes = _str_list(table, "classes", where)
    if classes is not None and not classes:
        raise where.fail("classes", "must not be empty (leave it out when classes are unknown)")
    label_offset = _typed(table, "label_offset", int, where, "an integer") or 0
    label_column = _typed(table, "label_column", int, where, "an integer")
    if label_column is not None and label_column < 0:
        raise where.fail("label_column", f"must not be negative, got {label_column}")
    extras = {k: _str_list(table, k, where) for k in _EXTRA_KEYS if k in table}
    views = _views(table, files, where)
    text = {k: _typed(table, k, str, where, "a string") or "" for k in ("license", "homepage", "citation", "description", "family")}
    return Dataset(
        name=name,
        urls=tuple(u if u.endswith("/") else u + "/" for u in urls),
        files=files,
        classes=classes,
        transpose=bool(_typed(table, "transpose", bool, where, "true or false")),
        label_offset=label_offset,
        label_column=label_column,
        license=text["license"],
        homepage=text["homepage"],
        citation=text["citation"].strip(),
        description=text["description"],
        family=text["family"] or name,
        source=where.source,
        builtin=builtin,
        extras=extras,
        views=views,
    )


def _views(table: Mapping[str, Any], files: tuple[Resource, ...], where: _Where) -> dict[str, Selection]:
    """``[views]``: name -> "SPLIT[START:STOP]", each on a split the files define."""
    raw = _typed(table, "views", dict, where, "a table of name = \"SPLIT[START:STOP]\"")
    if not raw:
        return {}
    splits = {r.split for r in files if r.kind in ("images", "labels") and r.split}
    views: dict[str, Selection] = {}
    for name, text in raw.items():
        key = f"views.{name}"
        if not isinstance(text, str):
            raise where.fail(key, f"expected a string like \"test[:10000]\", got {text!r}")
        if not NAME_RE.match(name) or name in splits:
            raise where.fail(key, "must be a plain name that is not also a split")
        try:
            selection = parse_selection(text)
        except UsageError as exc:
            raise where.fail(key, str(exc)) from None
        if selection.split not in splits:
            raise where.fail(key, f"names split {selection.split!r}, which has no files (splits: {', '.join(sorted(splits))})")
        views[name] = selection
    return views


def _check_files(files: tuple[Resource, ...], where: _Where) -> None:
    seen: dict[str, int] = {}
    for i, r in enumerate(files):
        if r.name in seen:
            raise where.fail(f"files[{i}].name", f"duplicate file name {r.name!r} (also files[{seen[r.name]}])")
        seen[r.name] = i
    archives = {r.name for r in files if r.kind == "archive"}
    pairs: dict[tuple[str | None, str], int] = {}
    for i, r in enumerate(files):
        if r.archive is not None and r.archive not in archives:
            raise where.fail(f"files[{i}].archive", f"no file of kind \"archive\" is named {r.archive!r}")
        if r.kind in ("images", "labels"):
            if (r.split, r.kind) in pairs:
                raise where.fail(f"files[{i}].kind", f"split {r.split!r} already has {r.kind} (files[{pairs[r.split, r.kind]}])")
            pairs[r.split, r.kind] = i
    for split, kind in pairs:
        if kind == "labels" and (split, "images") not in pairs:
            raise where.fail("files", f"split {split!r} has labels but no images")


def parse_manifest(text: str, source: str, builtin: bool = False) -> list[Dataset]:
    """Parse one manifest file's text into its datasets; ManifestError names file and key."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{source}: invalid TOML: {exc}") from None
    top = _Where(source)
    if "datasets" not in doc:
        _check_keys(doc, _DATASET_KEYS, top)
        return [_parse_dataset(doc, top, builtin)]
    _check_keys(doc, _FAMILY_KEYS, top)
    tables = _typed(doc, "datasets", list, top, "an array of [[datasets]] tables")
    shared_files = _typed(doc, "files", list, top, "an array of [[files]] tables") or []
    defaults = {k: v for k, v in doc.items() if k not in ("datasets", "files")}
    out: list[Dataset] = []
    for i, table in enumerate(tables):
        where = top.sub(f"datasets[{i}]")
        if not isinstance(table, dict):
            raise ManifestError(f"{source}: datasets[{i}]: expected a table")
        _check_keys(table, _DATASET_KEYS, where)
        merged = {**defaults, **table, "files": [*shared_files, *table.get("files", [])]}
        ds = _parse_dataset(merged, where, builtin)
        if any(d.name == ds.name for d in out):
            raise where.fail("name", f"duplicate dataset name {ds.name!r}")
        out.append(ds)
    if not out:
        raise top.fail("datasets", "empty")
    return out


# -- the registry ------------------------------------------------------------------------------

_builtin_cache: dict[str, Dataset] | None = None


def _builtins() -> dict[str, Dataset]:
    global _builtin_cache
    if _builtin_cache is None:
        found: dict[str, Dataset] = {}
        folder = resources.files("idxtool") / "datasets"
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".toml"):
                for ds in parse_manifest(entry.read_text("utf-8"), f"idxtool/datasets/{entry.name}", True):
                    found[ds.name] = ds
        _builtin_cache = found
    return _builtin_cache


def user_manifest_paths(value: str | None = None) -> list[Path]:
    """The manifest files named by ``IDXTOOL_REGISTRY`` (folders expand to their *.toml)."""
    value = os.environ.get("IDXTOOL_REGISTRY", "") if value is None else value
    paths: list[Path] = []
    for part in value.split(os.pathsep):
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
    """Every registered dataset name, sorted (user manifests included)."""
    return sorted(_all())


def all_datasets() -> list[Dataset]:
    """Every registered dataset, sorted by name."""
    registry = _all()
    return [registry[n] for n in sorted(registry)]



def get(name: str) -> Dataset:
    """The dataset called ``name``; UnknownDatasetError with suggestions when there is none."""
    registry = _all()
    if name in registry:
        return registry[name]
    raise UnknownDatasetError(unknown_message(name, list(registry)))


def unknown_message(name: str, known: list[str]) -> str:
    """'NAME: unknown dataset; did you mean ...?' with close matches from ``known``."""
    lowered = {n.lower().replace("_", "-"): n for n in known}
    close = difflib.get_close_matches(name.lower().replace("_", "-"), list(lowered), n=1, cutoff=0.6)
    hint = f"; did you mean {lowered[close[0]]}?" if close else ""
    return f"{name}: unknown dataset{hint} (idxtool list shows them all)"


def is_registered(name: str) -> bool:
    return name in _all()

