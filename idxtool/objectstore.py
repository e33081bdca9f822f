"""Object stores (``s3://bucket/prefix/``): mirrors for ``fetch``, outputs of ``convert``, and reading them back.

Needs the ``cloud`` extra (fsspec and s3fs): ``pip install 'idxtool[cloud]'``; without it
every use raises :class:`~idxtool.errors.MissingDependencyError`. Credentials and the
endpoint come from the standard AWS variables (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``) and botocore's usual configuration.

Object stores have no rename, so an output is written as: every object first, then the
completion marker :data:`MARKER` last, a JSON list of the objects and their sizes. A
prefix without its marker is an upload still running or one that died: :func:`read` (and
``convert s3://... --to idx``) refuses it. Replacing an output (``force``) removes the old
marker first, so a reader never takes a half-replaced output for a complete one.

Before its first object an upload lists every object it may leave behind in
:data:`UPLOADING` (removed once the marker is written): an upload that died is then known
for idxtool's own, and ``force`` replaces it (without ``force`` it is refused, as it may
still be running on another machine). A ``_SUCCESS`` or ``_UPLOADING`` that is not idxtool's
JSON list (Spark and Hadoop leave an empty ``_SUCCESS``) is foreign: never replaced, and its
prefix is not read as an idxtool output.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path, PosixPath
from typing import IO, TYPE_CHECKING, Any

from .errors import DataError, InputNotFoundError, MissingDependencyError, OutputError, OutputExistsError
from .outputs import ForeignFileError
from .progress import ProgressFactory
from .progress import start as start_progress

if TYPE_CHECKING:
    from .formats import Format, ReadOptions, WriteOptions
    from .model import Splits

logger = logging.getLogger(__name__)

__all__ = [
    "MARKER",
    "UPLOADING",
    "ObjectPath",
    "download_prefix",
    "filesystem",
    "is_url",
    "open_object",
    "read",
    "write_output",
]

#: The completion marker, written last under an output's prefix (Hadoop and Spark's name).
MARKER = "_SUCCESS"
#: The objects an upload under way may leave behind: written before the first, removed last.
UPLOADING = "_UPLOADING"
SCHEMES = ("s3://",)


def is_url(value: str | os.PathLike[str]) -> bool:
    """True for an object store URL (``s3://...``), also after ``pathlib`` folded its ``//``."""
    text = os.fspath(value)
    return text.startswith("s3://") or text.startswith("s3:/")


def url_of(value: str | os.PathLike[str]) -> str:
    """``s3://bucket/prefix`` (no trailing slash), also from a ``Path('s3://...')``."""
    text = os.fspath(value)
    return "s3://" + text[3:].lstrip("/").rstrip("/")


class ObjectPath(PosixPath):
    """An object's URL where the library returns paths: ``str()`` gives ``s3://bucket/key``."""

    def __str__(self) -> str:
        return url_of(super().__str__())


def filesystem() -> Any:
    """An s3fs file system from the AWS environment variables (``AWS_ENDPOINT_URL`` for the endpoint).

    Raises
    ------
    MissingDependencyError
        The ``cloud`` extra (fsspec, s3fs) is not installed.
    """
    try:
        import s3fs  # type: ignore[import-untyped]
    except ImportError:
        raise MissingDependencyError(
            "s3:// URLs need the cloud extra (fsspec and s3fs): pip install 'idxtool[cloud]'", name="s3fs"
        ) from None
    client: dict[str, str] = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "").strip()
    if endpoint:
        client["endpoint_url"] = endpoint
    return s3fs.S3FileSystem(client_kwargs=client, skip_instance_cache=True, use_listings_cache=False)


def _key(url: str) -> str:
    """``bucket/key`` of an ``s3://bucket/key`` URL."""
    return url_of(url)[len("s3://") :]


def open_object(url: str) -> IO[bytes]:
    """Open one object for reading (a mirror's file).

    Raises
    ------
    FileNotFoundError
        No such object (or bucket).
    OSError
        Any other failure: access denied, the endpoint unreachable.
    MissingDependencyError
        The ``cloud`` extra is not installed.
    """
    fs = filesystem()
    try:
        handle: IO[bytes] = fs.open(_key(url), "rb")
    except FileNotFoundError:
        raise
    except OSError:
        raise
    except Exception as exc:  # botocore's own errors (endpoint unreachable, bad credentials)
        raise OSError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc
    return handle


# -- writing ------------------------------------------------------------------------------------


def _marker_of(fs: Any, prefix: str, name: str = MARKER) -> dict[str, int] | None:
    """The objects (relative key -> size) the marker ``name`` under ``prefix`` lists; None without it.

    Raises
    ------
    ForeignFileError
        The object is not a list idxtool wrote (Spark and Hadoop leave an empty ``_SUCCESS``):
        idxtool neither reads that prefix as its output nor replaces the object.
    """
    try:
        raw = fs.cat_file(f"{prefix}/{name}")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    ours = isinstance(data, dict) and data.get("written_by") == "idxtool" and isinstance(data.get("objects"), dict)
    if not ours:
        raise ForeignFileError(
            f"s3://{prefix}/{name}: was not written by idxtool (not its list of objects); "
            "idxtool neither reads nor replaces it"
        )
    return {k: int(v) for k, v in data["objects"].items() if isinstance(k, str) and isinstance(v, int)}


def _listing(fs: Any, prefix: str) -> dict[str, int]:
    """Every object under ``prefix/`` (relative key -> size), the marker included."""
    try:
        found = fs.find(prefix, detail=True)
    except FileNotFoundError:
        return {}
    out = {}
    for key, info in found.items():
        if info.get("type", "file") == "file" and key.startswith(prefix + "/"):
            out[key[len(prefix) + 1 :]] = int(info.get("size") or 0)
    return out


def _file_name(fmt: Format) -> str:
    return f"data.{fmt.name}"


def write_output(
    splits: Splits,
    fmt: Format,
    url: str | os.PathLike[str],
    options: WriteOptions,
    *,
    force: bool = False,
    progress: ProgressFactory | None = None,
) -> list[Path]:
    """Write ``splits`` in ``fmt`` under the prefix ``url``: every object, then the completion marker.

    A format whose output is a file (an npz, a pair's CSV) becomes the object ``data.<format>``
    under the prefix; a folder's files keep their relative names.

    Parameters
    ----------
    splits, fmt, options
        What to write, and how (as for :func:`idxtool.conversion.write`).
    url
        ``s3://bucket/prefix`` (``pathlib`` may have folded the ``//``).
    force
        Replace an output idxtool wrote under the prefix before (its marker goes first, its
        objects the new one does not write again last); never objects it did not write.

    Returns
    -------
    list[Path]
        The objects written, as :class:`ObjectPath` (``str()`` is the ``s3://`` URL).

    Raises
    ------
    OutputExistsError
        The prefix holds a complete output (its marker) and ``force`` is False.
    ForeignFileError
        An object to write exists and idxtool did not write it.
    OutputError
        An upload failed (access denied, endpoint unreachable).
    """
    base = url_of(url)
    prefix = _key(base)
    fs = filesystem()
    with tempfile.TemporaryDirectory(prefix="idxtool-upload-") as tmp:
        staging = Path(tmp)
        if fmt.target(splits) == "file":
            name = _file_name(fmt)
            fmt.write(splits, staging / name, options, final=ObjectPath(f"{base}/{name}"), progress=progress)
        else:
            fmt.write(splits, staging, options, final=ObjectPath(base), progress=progress)
        local = {p.relative_to(staging).as_posix(): p for p in sorted(staging.rglob("*")) if p.is_file()}
        try:
            _upload(fs, base, prefix, local, force=force, progress=progress)
        except (FileExistsError, MissingDependencyError):
            raise
        except OSError as exc:
            raise OutputError(exc.errno or 0, _reason(exc), base) from exc
    return [ObjectPath(f"{base}/{rel}") for rel in local]


def _reason(exc: BaseException) -> str:
    return (getattr(exc, "strerror", None) or str(exc) or type(exc).__name__).splitlines()[0]


def _upload(
    fs: Any, base: str, prefix: str, local: dict[str, Path], *, force: bool, progress: ProgressFactory | None
) -> None:
    there = _listing(fs, prefix)
    old = _marker_of(fs, prefix)
    unfinished = _marker_of(fs, prefix, UPLOADING)
    if unfinished is not None and not force:
        raise OutputExistsError(
            f"{base}/: holds an upload by idxtool that did not finish (its {UPLOADING} list: "
            "still running elsewhere, or it died)",
            filename=base,
        )
    if old is not None and not force:
        raise OutputExistsError(f"{base}/: already holds an output (its {MARKER} marker)", filename=base)
    ours = set(old or {}) | set(unfinished or {})
    foreign = sorted(rel for rel in local if rel in there and rel not in ours)
    if foreign:
        raise ForeignFileError(f"{base}/{foreign[0]}: exists and idxtool did not write it; not replacing it")
    sizes = {rel: p.stat().st_size for rel, p in local.items()}
    _put_list(fs, f"{prefix}/{UPLOADING}", {**(old or {}), **(unfinished or {}), **sizes})
    if old is not None:
        fs.rm_file(f"{prefix}/{MARKER}")  # from here on the prefix reads as incomplete
    total = sum(sizes.values())
    task = start_progress(progress, f"upload {base}/", total, "bytes")
    done = 0
    try:
        for rel, path in local.items():
            fs.put_file(str(path), f"{prefix}/{rel}")
            done += sizes[rel]
            task.update(done)
    finally:
        task.close()
    for rel in sorted(ours - set(local)):
        if rel in there:
            fs.rm_file(f"{prefix}/{rel}")
    _put_list(fs, f"{prefix}/{MARKER}", sizes)
    fs.rm_file(f"{prefix}/{UPLOADING}")
    logger.info("%s/: %d objects and the %s marker written", base, len(local), MARKER)


def _put_list(fs: Any, key: str, objects: dict[str, int]) -> None:
    """Write the object ``key``: idxtool's JSON list of objects (relative key -> size)."""
    doc = {"written_by": "idxtool", "objects": objects}
    fs.pipe_file(key, (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode())


# -- reading ------------------------------------------------------------------------------------


def download_prefix(url: str | os.PathLike[str], dest: str | os.PathLike[str]) -> Path:
    """Copy a complete output under ``url`` into the folder ``dest``; the local path to read.

    Returns ``dest`` for a folder output, ``dest/data.<format>`` for a file output.

    Raises
    ------
    InputNotFoundError
        Nothing under the prefix.
    DataError
        The prefix has no completion marker (an upload running or interrupted), or an
        object the marker lists is missing or of another size.
    """
    base = url_of(url)
    prefix = _key(base)
    fs = filesystem()
    try:
        objects = _marker_of(fs, prefix)
        there = _listing(fs, prefix)
    except ForeignFileError:
        raise
    except OSError as exc:
        raise InputNotFoundError(f"{base}/: cannot be listed ({_reason(exc)})", filename=base) from exc
    if objects is None:
        if not there:
            raise InputNotFoundError(f"{base}/: no such output (nothing under this prefix)", filename=base)
        raise DataError(
            f"{base}/: incomplete output: no {MARKER} completion marker (an upload still running or interrupted); "
            "not reading it"
        )
    folder = Path(dest)
    for rel, size in sorted(objects.items()):
        if there.get(rel) != size:
            have = "missing" if rel not in there else f"{there[rel]:,} bytes"
            raise DataError(f"{base}/{rel}: listed in {MARKER} with {size:,} bytes, but {have}")
        target = folder.joinpath(*rel.split("/"))
        if ".." in rel.split("/"):
            raise DataError(f"{base}/{MARKER}: lists an object outside the prefix ({rel})")
        target.parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(f"{prefix}/{rel}", str(target))
    if len(objects) == 1:
        (only,) = objects
        if only.startswith("data."):
            return folder / only
    return folder


def read(url: str | os.PathLike[str], options: ReadOptions | None = None) -> Splits:
    """Read a complete output under ``url`` (any format idxtool reads) into splits in memory.

    Raises
    ------
    InputNotFoundError
        Nothing under the prefix.
    DataError
        No completion marker (an upload running or interrupted), or an object missing.
    MissingDependencyError
        The ``cloud`` extra is not installed.

    Examples
    --------
    With the ``cloud`` extra and credentials for the store (not run here: it needs a server)::

        from idxtool import objectstore
        splits = objectstore.read("s3://bucket/mnist-parquet")
        idxtool.convert(splits, to="idx", out="mnist-idx")
    """
    from . import formats
    from .model import check_part

    with tempfile.TemporaryDirectory(prefix="idxtool-download-") as tmp:
        local = download_prefix(url, tmp)
        fmt = formats.detect(local)
        splits = fmt.read([local], options or formats.ReadOptions())
        for part in splits.parts.values():
            check_part(part)
            part.images  # noqa: B018  # read into memory before the download folder goes
    return splits
