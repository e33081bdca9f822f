"""Where outputs may be written, and how they replace what is there: the one place for ``force``.

Every output is made beside its target under a temporary name and moved into place only when
complete. An output file replaces an existing regular file only with ``force``; never a
folder, a symlink (or what it points to), a device node or a socket.

An output folder records the files idxtool wrote into it (``.idxtool-outputs.json``). A
later run writes into it again only where that is safe:

* new names are added beside whatever else is there;
* a name idxtool wrote before is replaced only with ``force``, and then every file of the
  earlier run that the new run does not write again is removed (no stale part survives);
* a file idxtool did not write is never replaced or removed: the run fails naming it.

An *exclusive* folder (a PNG tree) must hold nothing but idxtool's own files.

A run that was killed (SIGKILL, a power cut) leaves its temporary ``.NAME.PID.*.tmp`` beside
the target; the next run writing that target removes it once that PID is no longer alive
(:func:`sweep_stale`), and never anything else.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from .atomic import naming_targets, temp_name, temp_owner
from .errors import OutputError, OutputExistsError, UsageError

log = logging.getLogger(__name__)

#: The record of the files idxtool wrote into an output folder.
RECORD = ".idxtool-outputs.json"


class ForeignFileError(UsageError, FileExistsError):
    """An output folder holds a file idxtool did not write where idxtool would write or clean."""


def check_file_target(target: Path, *, force: bool) -> None:
    """Refuse a target that is anything but a missing name, or (with ``force``) a regular file.

    Raises
    ------
    OutputExistsError
        ``target`` exists and ``force`` is False.
    UsageError
        ``target`` is a folder, a symlink, a device node, a socket or a FIFO.
    """
    try:
        info = target.lstat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OutputError(exc.errno, exc.strerror or str(exc), str(target)) from None
    if stat.S_ISLNK(info.st_mode):
        raise UsageError(f"{target}: is a symbolic link; idxtool does not write through links")
    if stat.S_ISDIR(info.st_mode):
        raise UsageError(f"{target}: is a folder; a file is expected here")
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"{target}: is a special file (device, socket or pipe); not replacing it")
    if not force:
        raise OutputExistsError(f"{target}: already exists", filename=str(target))


def pid_alive(pid: int) -> bool:
    """True unless no process ``pid`` exists (a process of another user counts as alive)."""
    if pid <= 0:
        return True  # not a PID we could have written: leave it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError as exc:  # EPERM: alive, someone else's
        return exc.errno != errno.ESRCH
    return True


def sweep_stale(target: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files and folders that killed runs left beside ``target``.

    Only names of the form ``.NAME.PID.RANDOM.tmp`` (``NAME`` being ``target``'s), owned
    by this user, whose PID is neither this process nor alive, are removed; a folder is
    removed with its contents, a symlink as a link.

    Returns
    -------
    list[Path]
        What was removed.

    Examples
    --------
    >>> stale = tmp / ".out.npz.999999999.0a1b2c3d.tmp"
    >>> _ = stale.write_bytes(b"half")
    >>> [p.name for p in sweep_stale(tmp / "out.npz")]
    ['.out.npz.999999999.0a1b2c3d.tmp']
    """
    final = Path(target)
    try:
        entries = list(os.scandir(final.parent))
    except OSError:
        return []
    removed: list[Path] = []
    for entry in entries:
        pid = temp_owner(final, entry.name)
        if pid is None or pid == os.getpid() or pid_alive(pid):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
                continue
            if stat.S_ISDIR(info.st_mode):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except OSError as exc:  # removed meanwhile, or not ours to remove: leave it
            log.debug("could not remove %s: %s", entry.path, exc)
            continue
        log.info("removed %s, left by an interrupted run (process %d)", entry.path, pid)
        removed.append(Path(entry.path))
    return removed


@contextlib.contextmanager
def output_file(target: str | os.PathLike[str], *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``target`` that becomes ``target`` when the block succeeds.

    Without ``force`` the final name is created exclusively: of two runs writing the same
    output, one wins and the other raises OutputExistsError.
    """
    final = Path(target)
    check_file_target(final, force=force)
    sweep_stale(final)
    temp = temp_name(final)
    with naming_targets([(temp, final)]):
        final.parent.mkdir(parents=True, exist_ok=True)
    try:
        with naming_targets([(temp, final)]):
            yield temp
            _settle_file(temp, final, force=force)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def _settle_file(temp: Path, final: Path, *, force: bool) -> None:
    if force:
        check_file_target(final, force=True)  # still not a link or a device since we looked
        os.replace(temp, final)
        return
    try:
        os.link(temp, final)  # fails if the name exists: exclusive creation of the final name
    except FileExistsError:
        raise OutputExistsError(f"{final}: already exists", filename=str(final)) from None
    except OSError:  # a file system without hard links: check, then rename
        check_file_target(final, force=False)
        os.replace(temp, final)
    else:
        os.unlink(temp)


def read_record(folder: Path) -> set[str]:
    """The '/'-separated paths idxtool wrote into ``folder`` before (empty when none)."""
    try:
        data = json.loads((folder / RECORD).read_text("utf-8"))
    except (OSError, ValueError):
        return set()
    files = data.get("files") if isinstance(data, dict) else None
    return {f for f in files if isinstance(f, str)} if isinstance(files, list) else set()


class Listing:
    """The record of an output folder, written as its files are: :meth:`add` each group of
    '/'-separated paths (relative to the folder) as it is written, then :meth:`close`.

    A writer that knows what it wrote lists it into its staging folder (see
    :func:`output_folder`) and spares settling a walk of the folder: 814,255 PNG paths are
    never all held, nor all looked up again. Streamed a group at a time, each group encoded
    at once by json's C encoder.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._temp = temp_name(folder / RECORD)
        self._fh = open(self._temp, "w", encoding="utf-8")  # noqa: SIM115  # closed by close()
        self._fh.write('{"written_by": "idxtool", "files": [')
        self._sep = "\n "

    def add(self, group: list[str]) -> None:
        """List ``group``: paths of files written, relative to the folder, '/'-separated."""
        if group:
            self._fh.write(self._sep + json.dumps(group)[1:-1])
            self._sep = ",\n "

    def close(self) -> None:
        """Finish the record and put it in place."""
        self._fh.write("\n]}\n")
        self._fh.close()
        os.replace(self._temp, self.folder / RECORD)

    def __enter__(self) -> Listing:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
            return
        self._fh.close()
        with contextlib.suppress(OSError):
            os.unlink(self._temp)


def _write_record(folder: Path, groups: Iterable[list[str]]) -> None:
    """Write the record of the files in ``groups`` (lists of names)."""
    with Listing(folder) as listing:
        for group in groups:
            listing.add(group)


def _walk_groups(folder: Path) -> Iterator[list[str]]:
    """Every non-folder entry below ``folder`` (links included, not followed), '/'-separated and
    sorted, one list per folder (the record being written and stale temp files are not outputs)."""
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        rel = os.path.relpath(root, folder)
        links = [d for d in dirs if os.path.islink(os.path.join(root, d))]
        names = sorted([*files, *links])
        if rel == ".":
            yield [n for n in names if n != RECORD and temp_owner(Path(RECORD), n) is None]
        else:
            prefix = rel.replace(os.sep, "/") + "/"
            yield [prefix + n for n in names]


def _walk_files(folder: Path) -> Iterator[str]:
    """:func:`_walk_groups`, one name at a time."""
    for group in _walk_groups(folder):
        yield from group


def _files_under(folder: Path) -> set[str]:
    """:func:`_walk_files` as a set."""
    return set(_walk_files(folder))


@contextlib.contextmanager
def output_folder(target: str | os.PathLike[str], *, force: bool = False, exclusive: bool = False) -> Iterator[Path]:
    """Yield an empty staging folder; its files join ``target`` by the rules of this module.

    What the staging folder holds is found by walking it, unless the writer listed what it
    wrote with a :class:`Listing` of the staging folder.

    Parameters
    ----------
    target
        The output folder; made if missing.
    force
        Replace files idxtool wrote into ``target`` before, and remove the rest of that
        earlier run's files.
    exclusive
        ``target`` must hold only idxtool's own files (a PNG tree).

    Raises
    ------
    OutputExistsError
        A file to write exists and ``force`` is False.
    ForeignFileError
        A file idxtool did not write is in the way (or, if ``exclusive``, anywhere).
    OutputError
        Writing failed (disk full, permissions); names the target.
    """
    final = Path(target)
    _check_folder_target(final)
    sweep_stale(final)
    if final.is_dir():
        sweep_stale(final / RECORD)
    temp = temp_name(final)
    with naming_targets([(temp, final)]):
        final.parent.mkdir(parents=True, exist_ok=True)
        temp.mkdir()
    try:
        with naming_targets([(temp, final)]):
            yield temp
            _settle_folder(temp, final, force=force, exclusive=exclusive)
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _check_folder_target(final: Path) -> None:
    if final.is_symlink():
        raise UsageError(f"{final}: is a symbolic link; idxtool does not write through links")
    if final.exists() and not final.is_dir():
        raise UsageError(f"{final}: is a file; a folder is expected here")


def _settle_folder(temp: Path, final: Path, *, force: bool, exclusive: bool) -> None:
    listed = (temp / RECORD).is_file()  # the writer's Listing
    if not os.path.lexists(final):  # the common case: a new output, recorded without a set in memory
        if not listed:
            _write_record(temp, _walk_groups(temp))
        try:
            os.rename(temp, final)
        except OSError as exc:  # another run made it meanwhile
            if os.path.isdir(final) and any(final.iterdir()):
                raise OutputExistsError(f"{final}: already exists", filename=str(final)) from exc
            raise
        return
    new = read_record(temp) if listed else _files_under(temp)
    _check_folder_target(final)
    ours = read_record(final)
    there = _files_under(final)
    foreign = sorted(there - ours)
    clashes = sorted(new & there)
    if exclusive and foreign:
        raise ForeignFileError(
            f"{final}: holds files idxtool did not write ({foreign[0]}"
            f"{f' and {len(foreign) - 1:,} more' if len(foreign) > 1 else ''}); "
            "remove them or choose another folder"
        )
    in_the_way = [c for c in clashes if c not in ours]
    if in_the_way:
        raise ForeignFileError(f"{final / in_the_way[0]}: exists and idxtool did not write it; not replacing it")
    if clashes and not force:
        where = final if exclusive else final / clashes[0]
        raise OutputExistsError(f"{where}: already exists", filename=str(where))
    stale = (ours & there) - new if force else set()
    if force and not foreign and (ours & there):
        _swap(temp, final, new)  # everything there is ours: replace the folder in one move
        return
    for rel in sorted(new):
        _move_in(temp, final, rel)
    for rel in sorted(stale):
        with contextlib.suppress(FileNotFoundError):
            (final / rel).unlink()
        _prune(final, rel)
    _write_record(final, [sorted((ours - stale) | new)])


def _swap(temp: Path, final: Path, new: set[str]) -> None:
    _write_record(temp, [sorted(new)])
    old = temp_name(final)
    os.rename(final, old)
    try:
        os.rename(temp, final)
    except BaseException:
        os.rename(old, final)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _move_in(temp: Path, final: Path, rel: str) -> None:
    """Move ``temp/rel`` to ``final/rel``, making folders but never entering a symlink."""
    parts = rel.split("/")
    folder = final
    for part in parts[:-1]:
        folder = folder / part
        if folder.is_symlink():
            raise UsageError(f"{folder}: is a symbolic link; idxtool does not write through links")
        folder.mkdir(exist_ok=True)
    os.replace(temp.joinpath(*parts), folder / parts[-1])


def _prune(final: Path, rel: str) -> None:
    """Remove the folders of ``rel`` below ``final`` that the removal left empty."""
    folder = (final / rel).parent
    while folder != final:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent
