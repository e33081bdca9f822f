"""idxtool info NAME: one dataset's files, sources, hashes, classes and license."""

from __future__ import annotations

from typing import Any

import click

from .complete import dataset_names
from .render import emit_json, human_bytes, settings, stdout_console


def describe(name: str, dir: str | None) -> dict[str, Any]:
    """The info --json document of dataset ``name``."""
    from .. import cache, registry
    from ..fetching import mirrors_from_env, sources

    ds = registry.get(name)
    base = cache.root(dir)
    files = []
    for r in ds.files:
        path = cache.path_of(ds, r, base)
        files.append(
            {
                "name": r.name,
                "split": r.split,
                "kind": r.kind,
                "size": r.size,
                "sha256": r.sha256,
                "md5": r.md5,
                "idx_sha256": r.idx_sha256,
                "md5_only": r.md5_only,
                "archive": r.archive,
                "member": r.member,
                "urls": [] if r.extracted else sources(ds, r, mirrors_from_env()),
                "path": str(path),
                "cached": path.is_file(),
            }
        )
    return {
        "name": ds.name,
        "description": ds.description,
        "splits": ds.splits,
        "classes": list(ds.classes) if ds.classes else None,
        **{k: list(v) for k, v in ds.extras.items()},
        "transpose": ds.transpose,
        "label_offset": ds.label_offset,
        "label_column": ds.label_column,
        "license": ds.license,
        "homepage": ds.homepage,
        "citation": ds.citation,
        "urls": list(ds.urls),
        "mirrors": [] if ds.embedded else mirrors_from_env(),
        "download_size": ds.download_size,
        "manifest": ds.source,
        "folder": str(cache.folder(ds, base)),
        "files": files,
    }


def _render(doc: dict[str, Any]) -> None:
    console = stdout_console()
    console.print(f"[bold]{doc['name']}[/bold]  {doc['description']}")
    facts = [
        ("License", doc["license"]),
        ("Homepage", doc["homepage"]),
        ("Splits", ", ".join(doc["splits"])),
        ("Download", human_bytes(doc["download_size"])),
        ("Folder", doc["folder"]),
        ("Manifest", doc["manifest"]),
    ]
    if doc["classes"]:
        first = doc["label_offset"]
        facts.append(("Classes", ", ".join(f"{i + first}={c}" for i, c in enumerate(doc["classes"]))))
    quirks = []
    if doc["transpose"]:
        quirks.append("images are stored transposed")
    if doc["label_offset"]:
        quirks.append(f"labels start at {doc['label_offset']}")
    if doc["label_column"] is not None:
        quirks.append(f"labels are a table; the class is column {doc['label_column']}")
    if quirks:
        facts.append(("Quirks", "; ".join(quirks)))
    for key, value in facts:
        console.print(f"  {key + ':':<10} {value}", markup=False)
    console.print()
    console.print("Files:", markup=False)
    for f in doc["files"]:
        split = f" {f['split']}" if f["split"] else ""
        cached = "cached" if f["cached"] else "not cached"
        console.print(f"  {f['name']}  ({f['kind']}{split}, {human_bytes(f['size'])}, {cached})", markup=False)
        if f["sha256"]:
            console.print(f"    sha256      {f['sha256']}", markup=False)
        if f["md5"]:
            only = "  (md5 only: no sha256 published)" if f["md5_only"] else ""
            console.print(f"    md5         {f['md5']}{only}", markup=False)
        if f["idx_sha256"]:
            console.print(f"    idx_sha256  {f['idx_sha256']}  (decompressed payload)", markup=False)
        if f["archive"]:
            console.print(f"    extracted from {f['archive']} ({f['member']})", markup=False)
    console.print()
    mirrors = doc["mirrors"]
    console.print("Mirrors (IDXTOOL_MIRROR), tried in order:" if mirrors else "Sources, tried in order:", markup=False)
    for url in mirrors or doc["urls"]:
        console.print(f"  {url}", markup=False)
    if doc["citation"]:
        console.print()
        console.print("Cite:", markup=False)
        console.print(f"  {' '.join(doc['citation'].split())}", markup=False)


@click.command("info")
@click.argument("name", shell_complete=dataset_names)
@click.option(
    "--dir",
    "dir_",
    type=click.Path(file_okay=False),
    help="Cache root to report on (default: IDXTOOL_HOME, else the user cache folder).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def info_cmd(*, name: str, dir_: str | None, as_json: bool) -> None:
    """Show one dataset: files, sizes, hashes, URLs, classes, license, cache state.

    URLs reflect IDXTOOL_MIRROR when it is set.
    """
    doc = describe(name, dir_)
    if as_json:
        emit_json(doc)
    elif not settings().quiet:
        _render(doc)
