"""Every argument that names data, resolved by one rule: :func:`resolve`.

A data argument is standard input (``-``), a path, a registered dataset name, or a
dataset with a split spec: ``NAME:SPLIT`` or ``NAME:SPLIT[START:STOP]`` (Python slice
semantics; a manifest may define named views such as QMNIST's ``test10k``). The rule, as
pip settles "name or local folder":

1. ``-`` is standard input; ``s3://bucket/prefix`` an output idxtool wrote to an object store.
2. A word with a path separator, or starting with ``.`` or ``~``, is a path.
3. Otherwise a registered name (with or without a split spec) is the dataset. An existing
   file or folder of the same name is ignored, with a warning that says how to mean it
   (``./mnist``).
4. Otherwise an existing path is that path.
5. Otherwise: :class:`NoSuchInputError` (exit code 2), "no such file or registered
   dataset", with a did-you-mean.

Path objects (``pathlib.Path``) are always paths, and binary file objects are inputs as they
are: only strings are ever looked up in the registry.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from .errors import InputNotFoundError, UnknownDatasetError, UsageError
from .selection import Selection, parse_selection

if TYPE_CHECKING:
    from .registry import Dataset

logger = logging.getLogger(__name__)

__all__ = ["STDIN", "DatasetRef", "NoSuchInputError", "Remote", "Source", "Stdin", "resolve"]


@dataclass(frozen=True)
class Stdin:
    """Standard input (the argument ``-``)."""

    def __str__(self) -> str:
        return "-"


#: The one standard-input source.
STDIN = Stdin()


@dataclass(frozen=True)
class DatasetRef:
    """A registered dataset, all of its splits or one selection (``mnist:train[:50000]``)."""

    dataset: Dataset
    selection: Selection | None = None

    @property
    def name(self) -> str:
        """The dataset's registered name."""
        return self.dataset.name

    def __str__(self) -> str:
        return self.name if self.selection is None else f"{self.name}:{self.selection}"


@dataclass(frozen=True)
class Remote:
    """An object-store prefix (``s3://bucket/prefix``) holding a complete idxtool output."""

    url: str

    def __str__(self) -> str:
        return self.url


#: What :func:`resolve` returns.
Source = Path | Stdin | DatasetRef | Remote


class NoSuchInputError(InputNotFoundError, UnknownDatasetError):
    """A data argument is neither an existing path nor a registered dataset.

    Both a FileNotFoundError (through :class:`~idxtool.errors.InputNotFoundError`) and a
    LookupError (through :class:`~idxtool.errors.UnknownDatasetError`).
    """


def looks_like_path(word: str) -> bool:
    """True for a word that can only mean a path: a separator, or a leading ``.`` or ``~``."""
    separators = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    return word.startswith((".", "~")) or any(s in word for s in separators)


def resolve(arg: str | os.PathLike[str] | DatasetRef | Stdin) -> Source:
    """Resolve one data argument by the rule of this module.

    Parameters
    ----------
    arg
        A word as typed (``"mnist"``, ``"qmnist:test10k"``, ``"./mnist"``, ``"-"``), a
        path object, or an already resolved source (returned as it is).

    Returns
    -------
    Path | Stdin | DatasetRef
        What the argument names. Nothing is read or fetched.

    Raises
    ------
    NoSuchInputError
        Neither an existing path nor a registered dataset (exit code 2).
    UsageError
        A registered name with a split it does not have, or a malformed split spec.

    Examples
    --------
    >>> ref = resolve("mnist:train[:50000]")
    >>> ref.name, str(ref.selection), ref.selection.bounds(60000)
    ('mnist', 'train[:50000]', (0, 50000))
    >>> resolve("qmnist:test50k").selection.bounds(60000)
    (10000, 60000)
    >>> resolve("-")
    Stdin()
    >>> resolve("mnsit")
    Traceback (most recent call last):
    ...
    idxtool.sources.NoSuchInputError: mnsit: no such file or registered dataset; did you mean mnist?
    """
    if isinstance(arg, (DatasetRef, Stdin, Remote)):
        return arg
    if not isinstance(arg, str):
        return Path(arg)
    if arg == "-":
        return STDIN
    if arg.startswith("s3://"):
        return Remote(arg.rstrip("/"))
    if not arg:
        raise UsageError("an empty argument names no file or dataset")
    if "\0" in arg:
        raise UsageError(f"{arg!r}: a name cannot contain a NUL byte")
    if looks_like_path(arg):
        path = Path(arg).expanduser()
        if not os.path.lexists(path):
            raise NoSuchInputError(f"{arg}: no such file or registered dataset", filename=arg)
        return path
    name, colon, spec = arg.partition(":")
    known = _known()
    if name in known:
        ref = DatasetRef(known[name], _selection(known[name], spec) if colon else None)
        if os.path.lexists(arg):
            kind = "folder" if os.path.isdir(arg) else "file"
            logger.warning(
                "%r is the registered dataset %s; to mean the %s of that name, write ./%s", arg, ref, kind, arg
            )
        return ref
    if os.path.lexists(arg):
        return Path(arg)
    raise NoSuchInputError(_no_such(arg, name if colon else arg, known), filename=arg)


def _known() -> dict[str, Dataset]:
    from . import registry  # not for a path: its manifests are read only when a name is looked up

    return {d.name: d for d in registry.all_datasets()}


def _selection(dataset: Dataset, spec: str) -> Selection:
    """``SPLIT[START:STOP]`` checked against the dataset's splits and views."""
    import difflib  # for the message only: not paid at start-up

    wanted = parse_selection(spec)
    if wanted.split in dataset.views:
        return wanted.of_view(dataset.views[wanted.split], wanted.split)
    if wanted.split in dataset.splits:
        return wanted
    choices = [*dataset.splits, *dataset.views]
    close = difflib.get_close_matches(wanted.split, choices, n=1)
    hint = f"; did you mean {dataset.name}:{close[0]}?" if close else ""
    raise UsageError(f"{dataset.name}: no split {wanted.split!r} (splits: {', '.join(choices)}){hint}")


def _no_such(arg: str, name: str, known: dict[str, Dataset]) -> str:
    import difflib  # for the message only: not paid at start-up

    lowered = {n.lower().replace("_", "-"): n for n in known}
    close = difflib.get_close_matches(name.lower().replace("_", "-"), list(lowered), n=1, cutoff=0.6)
    hint = f"; did you mean {lowered[close[0]]}?" if close else ""
    return f"{arg}: no such file or registered dataset{hint}"


def describe_source(source: Source | BinaryIO) -> str:
    """How messages name a source: the path, ``-``, ``NAME:SPLIT[...]`` or a stream's name."""
    if isinstance(source, (Path, Stdin, DatasetRef, Remote)):
        return str(source)
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else "<stream>"
