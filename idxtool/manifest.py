"""Dataset manifests: TOML text -> validated :class:`Dataset` and :class:`Resource` objects.

A manifest file describes one dataset (top-level ``name``, ``urls``, ``[[files]]``) or a
family: top-level keys are defaults shared by each ``[[datasets]]`` table, and top-level
``[[files]]`` (an archive, say) are prepended to every dataset's files.

Everything is checked before a Dataset exists: unknown keys (with a did-you-mean), types,
hashes, URL schemes, and every value that becomes part of a path in the cache (dataset and
family names, file names, split names, archive members): no separators, no ``..``, not
absolute, no NUL, not empty. A :class:`~idxtool.errors.ManifestError` names the manifest
file and the key (``mine.toml: datasets[1].files[0].member: ...``).

Where to find manifests (built-in and ``IDXTOOL_REGISTRY``) is :mod:`idxtool.registry`'s job.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PureWindowsPath
from typing import Any, Literal, TypeVar, get_args

from .errors import ManifestError, UsageError
from .selection import Selection, parse_selection

__all__ = ["KINDS", "NAME_RE", "URL_SCHEMES", "Dataset", "Kind", "Resource", "parse_manifest"]

#: What a file of a dataset is.
Kind = Literal["images", "labels", "archive", "other"]
KINDS: tuple[Kind, ...] = get_args(Kind)
_KIND_OF: dict[str, Kind] = {k: k for k in KINDS}
URL_SCHEMES = ("http", "https", "file", "package")
#: Dataset, family, split and view names: what users type, and folder names in the cache.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_HEX = {64: re.compile(r"^[0-9a-fA-F]{64}$"), 32: re.compile(r"^[0-9a-fA-F]{32}$")}
_T = TypeVar("_T")


@dataclass(frozen=True)
class Resource:
    """One file of a dataset, as published."""

    name: str
    kind: Kind
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
    #: Names the shared-archive folder ``ROOT/_archives/FAMILY/``; the dataset's name by default.
    family: str = ""
    #: The manifest file this dataset was read from.
    source: str = ""
    builtin: bool = True
    #: Descriptive string lists passed through to ``info`` (``class_chars``, ``label_fields``).
    extras: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
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

    def pairs(self) -> dict[str, tuple[Resource | None, Resource | None]]:
        """Split -> (images, labels) resources, in manifest order.

        Returns
        -------
        dict[str, tuple[Resource | None, Resource | None]]
            Each split has at least one of the two: a split may publish labels without
            images (a label table published alone), or images without labels.
        """
        out: dict[str, tuple[Resource | None, Resource | None]] = {}
        for split in self.splits:
            images = next((r for r in self.files if r.split == split and r.kind == "images"), None)
            labels = next((r for r in self.files if r.split == split and r.kind == "labels"), None)
            out[split] = (images, labels)
        return out

    def resource(self, name: str) -> Resource:
        """The file called ``name``.

        Raises
        ------
        KeyError
            The dataset has no file of that name.
        """
        for r in self.files:
            if r.name == name:
                return r
        raise KeyError(f"{self.name}: no file {name!r}")

    @property
    def archives(self) -> tuple[Resource, ...]:
        """The archive files other files are extracted from."""
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
    "name",
    "urls",
    "files",
    "classes",
    "class_chars",
    "label_fields",
    "transpose",
    "label_offset",
    "label_column",
    "license",
    "homepage",
    "citation",
    "description",
    "family",
    "views",
}
_FAMILY_KEYS = (_DATASET_KEYS - {"name"}) | {"datasets"}
_FILE_KEYS = {"name", "split", "kind", "sha256", "md5", "size", "idx_sha256", "md5_only", "archive", "member"}
_EXTRA_KEYS = ("class_chars", "label_fields")
_TEXT_KEYS = ("license", "homepage", "citation", "description")


class _Where:
    """Names the manifest file and the key for error messages.

    ``inherited`` keys of a ``[[datasets]]`` table came from the top level of a family
    manifest: they are named as written there (``family``, not ``datasets[0].family``).
    """

    def __init__(self, source: str, prefix: str = "", inherited: frozenset[str] = frozenset()) -> None:
        self.source, self.prefix, self.inherited = source, prefix, inherited

    def key(self, key: str) -> str:
        if not self.prefix or key.split(".", 1)[0].split("[", 1)[0] in self.inherited:
            return key
        return f"{self.prefix}.{key}"

    def sub(self, prefix: str) -> _Where:
        return _Where(self.source, self.key(prefix))

    def fail(self, key: str, message: str) -> ManifestError:
        return ManifestError(f"{self.source}: {self.key(key)}: {message}")


def _typed(table: Mapping[str, Any], key: str, kind: type[_T], where: _Where, what: str) -> _T | None:
    """``table[key]`` if it is a ``kind`` (None when absent); ManifestError otherwise."""
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


# -- path components: every value that ends up in a path under the cache root ------------------


def _name(table: Mapping[str, Any], key: str, where: _Where, what: str) -> str | None:
    """A dataset, family or split name: letters, digits, '.', '_', '-', not first."""
    value = _typed(table, key, str, where, what)
    if value is not None and not NAME_RE.match(value):
        raise where.fail(key, f"must be letters, digits, '.', '_' or '-' (not first), got {value!r}")
    return value


def _plain_part(value: str) -> bool:
    """One path component: not empty, not '.' or '..', no separator, NUL or drive."""
    return (
        bool(value)
        and value not in (".", "..")
        and not any(c in value for c in "/\\\0")
        and not PureWindowsPath(value).drive
    )


def _file_name(value: str, where: _Where) -> str:
    if not value:
        raise where.fail("name", "must not be empty")
    if not _plain_part(value):
        raise where.fail("name", f"must be a plain file name without folders, got {value!r}")
    if value.startswith("."):
        raise where.fail("name", f"must not start with '.' (idxtool's own files in the cache do), got {value!r}")
    return value


def _member(value: str, where: _Where) -> str:
    """A relative path inside an archive: '/'-separated plain components."""
    if not value or value.startswith(("/", "\\")) or not all(map(_plain_part, re.split(r"[/\\]", value))):
        raise where.fail("member", f"must be a relative path inside the archive, got {value!r}")
    return value


# -- tables ------------------------------------------------------------------------------------


def _parse_file(table: object, where: _Where) -> Resource:
    if not isinstance(table, dict):
        raise ManifestError(f"{where.source}: {where.prefix}: expected a table, got {table!r}")
    _check_keys(table, _FILE_KEYS, where)
    name = _typed(table, "name", str, where, "a file name")
    if name is None:
        raise where.fail("name", "missing (the file name appended to each base URL)")
    _file_name(name, where)
    kind = _typed(table, "kind", str, where, "a string")
    if kind not in KINDS:
        raise where.fail("kind", f"expected one of {', '.join(KINDS)}, got {kind!r}")
    split = _name(table, "split", where, "a split name")
    if kind in ("images", "labels") and not split:
        raise where.fail("split", f'missing (required for kind = "{kind}")')
    size = _typed(table, "size", int, where, "a whole number of bytes")
    if size is not None and size < 0:
        raise where.fail("size", f"must not be negative, got {size}")
    md5_only = bool(_typed(table, "md5_only", bool, where, "true or false"))
    archive = _typed(table, "archive", str, where, "the name of an archive file")
    member = _typed(table, "member", str, where, "a path inside the archive")
    if (archive is None) != (member is None):
        raise where.fail("member" if archive else "archive", "'archive' and 'member' go together")
    resource = Resource(
        name=name,
        kind=_KIND_OF[kind],
        split=split,
        sha256=_hex(table, "sha256", 64, where),
        md5=_hex(table, "md5", 32, where),
        size=size,
        idx_sha256=_hex(table, "idx_sha256", 64, where),
        md5_only=md5_only,
        archive=archive,
        member=None if member is None else _member(member, where),
    )
    if md5_only and not resource.md5:
        raise where.fail("md5", "missing (md5_only = true needs an md5)")
    if md5_only and resource.sha256:
        raise where.fail("md5_only", "set, but the entry has a sha256")
    if not resource.sha256 and not md5_only and not resource.extracted:
        raise where.fail("sha256", "missing (required; for a file published with an md5 only, set md5_only = true)")
    return resource


def _parse_files(raw: list[Any], where: _Where) -> list[tuple[Resource, _Where]]:
    """Each ``[[files]]`` table with where it was written (for later cross-checks)."""
    out: list[tuple[Resource, _Where]] = []
    for i, table in enumerate(raw):
        at = where.sub(f"files[{i}]")
        out.append((_parse_file(table, at), at))
    return out


def _parse_dataset(
    table: Mapping[str, Any], where: _Where, shared: list[tuple[Resource, _Where]], *, builtin: bool
) -> Dataset:
    name = _name(table, "name", where, "a dataset name")
    if name is None:
        raise where.fail("name", "missing")
    urls = _str_list(table, "urls", where)
    if not urls:
        raise where.fail("urls", "missing (a list of base URLs, tried in order)")
    for i, url in enumerate(urls):
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme not in URL_SCHEMES:
            raise where.fail(f"urls[{i}]", f"expected an {'/'.join(URL_SCHEMES)} URL, got {url!r}")
    own = _typed(table, "files", list, where, "an array of [[files]] tables") or []
    located = [*shared, *_parse_files(own, where)]
    if not located:
        raise where.fail("files", "missing (at least one [[files]] entry)")
    _check_files(located)
    files = tuple(r for r, _ in located)
    classes = _str_list(table, "classes", where)
    if classes is not None and not classes:
        raise where.fail("classes", "must not be empty (leave it out when classes are unknown)")
    label_offset = _typed(table, "label_offset", int, where, "an integer") or 0
    label_column = _typed(table, "label_column", int, where, "an integer")
    if label_column is not None and label_column < 0:
        raise where.fail("label_column", f"must not be negative, got {label_column}")
    extras = {k: v for k in _EXTRA_KEYS if (v := _str_list(table, k, where)) is not None}
    text = {k: _typed(table, k, str, where, "a string") or "" for k in _TEXT_KEYS}
    family = _name(table, "family", where, "a family name") or name
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
        family=family,
        source=where.source,
        builtin=builtin,
        extras=extras,
        views=_views(table, files, where),
    )


def _views(table: Mapping[str, Any], files: tuple[Resource, ...], where: _Where) -> dict[str, Selection]:
    """``[views]``: name -> "SPLIT[START:STOP]", each on a split the files define."""
    raw = _typed(table, "views", dict, where, 'a table of name = "SPLIT[START:STOP]"')
    if not raw:
        return {}
    splits = {r.split for r in files if r.kind in ("images", "labels") and r.split}
    views: dict[str, Selection] = {}
    for name, text in raw.items():
        key = f"views.{name}"
        if not isinstance(text, str):
            raise where.fail(key, f'expected a string like "test[:10000]", got {text!r}')
        if not NAME_RE.match(name) or name in splits:
            raise where.fail(key, "must be a plain name that is not also a split")
        try:
            selection = parse_selection(text)
        except UsageError as exc:
            raise where.fail(key, str(exc)) from None
        if selection.split not in splits:
            known = ", ".join(sorted(s for s in splits if s))
            raise where.fail(key, f"names split {selection.split!r}, which has no files (splits: {known})")
        views[name] = selection
    return views


def _check_files(located: list[tuple[Resource, _Where]]) -> None:
    """Checks across the files of one dataset: unique names, archives that exist, roles.

    Each split has at most one images and one labels file. A split may have labels
    without images (a label table published alone), or images without labels.
    """
    seen: dict[str, _Where] = {}
    for r, at in located:
        if r.name in seen:
            raise at.fail("name", f"duplicate file name {r.name!r} (also {seen[r.name].prefix})")
        seen[r.name] = at
    archives = {r.name for r, _ in located if r.kind == "archive"}
    roles: dict[tuple[str | None, str], _Where] = {}
    for r, at in located:
        if r.archive is not None and r.archive not in archives:
            raise at.fail("archive", f'no file of kind "archive" is named {r.archive!r}')
        if r.kind in ("images", "labels"):
            if (r.split, r.kind) in roles:
                first = roles[r.split, r.kind].prefix
                raise at.fail("kind", f"split {r.split!r} already has {r.kind} ({first})")
            roles[r.split, r.kind] = at


def parse_manifest(text: str, source: str, *, builtin: bool = False) -> list[Dataset]:
    """Parse one manifest file's text into its datasets.

    Parameters
    ----------
    text
        The TOML text of the manifest.
    source
        How error messages name the manifest (its path).
    builtin
        The manifest ships with idxtool (recorded on each :class:`Dataset`).

    Returns
    -------
    list[Dataset]
        One dataset, or each ``[[datasets]]`` table of a family manifest, in file order.

    Raises
    ------
    ManifestError
        The text is not TOML (or nests arrays or tables too deeply to parse), or a key
        is unknown, missing or wrong; the message names ``source`` and the key (exit
        code 2).
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{source}: invalid TOML: {exc}") from None
    except RecursionError:  # tomllib recurses once per nesting level
        raise ManifestError(f"{source}: invalid TOML: nested too deeply") from None
    top = _Where(source)
    if "datasets" not in doc:
        _check_keys(doc, _DATASET_KEYS, top)
        return [_parse_dataset(doc, top, [], builtin=builtin)]
    _check_keys(doc, _FAMILY_KEYS, top)
    tables = _typed(doc, "datasets", list, top, "an array of [[datasets]] tables") or []
    shared = _parse_files(_typed(doc, "files", list, top, "an array of [[files]] tables") or [], top)
    defaults = {k: v for k, v in doc.items() if k not in ("datasets", "files")}
    out: list[Dataset] = []
    for i, table in enumerate(tables):
        if not isinstance(table, dict):
            raise ManifestError(f"{source}: datasets[{i}]: expected a table")
        where = _Where(source, f"datasets[{i}]", frozenset(defaults) - set(table))
        _check_keys(table, _DATASET_KEYS, where)
        ds = _parse_dataset({**defaults, **table}, where, shared, builtin=builtin)
        if any(d.name == ds.name for d in out):
            raise where.fail("name", f"duplicate dataset name {ds.name!r}")
        out.append(ds)
    if not out:
        raise top.fail("datasets", "empty")
    return out
