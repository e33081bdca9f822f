"""Shared options and the one ParamType for data arguments.

:class:`DataArgument` resolves every argument that names data through
:func:`idxtool.sources.resolve` (so every command accepts the same words and gives the same
error), and completes dataset names (with their splits) and paths. :func:`remedy` is where
library errors get their command-line wording: flags instead of parameter names, and what
to type next.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import click

from ..errors import IdxError, OutputExistsError, ParameterError

if TYPE_CHECKING:
    from ..sources import Source


class DataArgument(click.ParamType[Any, "Source"]):
    """``-``, a path, a registered dataset name, or ``NAME:SPLIT[START:STOP]``."""

    name = "data"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Source:
        from ..sources import DatasetRef, Stdin, resolve

        if isinstance(value, (DatasetRef, Stdin)):
            return value
        return resolve(str(value))  # an IdxError here is reported by the group's one handler

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        from .complete import dataset_or_path

        return dataset_or_path(ctx, param, incomplete)


DATA = DataArgument()

#: Parameters of the library whose flag is not ``--`` + the name with dashes.
_FLAGS = {"out": "-o", "stratify": "--no-stratify", "shuffle": "--no-shuffle", "jobs": "--jobs"}


#: ``dataset=NAME`` in a library message: a parameter the user may pass, as the CLI spells it.
_PARAMETER_MENTION = re.compile(r"\b([a-z_]+)=([A-Z]+)\b")


def flag_of(param: str) -> str:
    """The command-line flag for a library parameter: ``per_class`` -> ``--per-class``."""
    return _FLAGS.get(param, "--" + param.replace("_", "-"))


def _value(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return "" if value is None or isinstance(value, bool) else str(value)


def remedy(exc: IdxError) -> str:
    """The one line the CLI prints for a library error: flags, and what to do next."""
    if isinstance(exc, ParameterError):
        shown = _value(exc.value)
        problem = _PARAMETER_MENTION.sub(lambda m: f"{flag_of(m[1])} {m[2]}", exc.problem)
        return f"{flag_of(exc.param)}{' ' + shown if shown else ''} {problem}"
    if isinstance(exc, OutputExistsError):
        return f"{exc} (pass --force to overwrite it)"
    return str(exc)


def dir_option(f: Any) -> Any:
    """``--dir``: the cache root for dataset names."""
    return click.option(
        "--dir",
        "dir_",
        type=click.Path(file_okay=False),
        help="Cache root for dataset names (default: IDXTOOL_HOME, else the user cache folder).",
    )(f)


def dataset_option(f: Any) -> Any:
    """``--dataset``: class names, offset and orientation for plain files."""
    from .complete import dataset_names

    return click.option(
        "--dataset",
        metavar="NAME",
        shell_complete=dataset_names,
        help="For files: take class names, label offset and orientation from this registered dataset.",
    )(f)
