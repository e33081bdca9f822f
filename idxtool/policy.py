"""How downloads behave, and where they may come from: the Policy and the mirror check.

Separate from :mod:`idxtool.download` so that reading these settings (and rejecting a
garbage ``IDXTOOL_*`` value before anything starts) costs no HTTP machinery at start-up.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from .errors import ParameterError, UsageError

T = TypeVar("T")

__all__ = ["MIRROR_SCHEMES", "Policy", "check_mirror", "parse_size"]

#: URL schemes a mirror may use.
MIRROR_SCHEMES = ("http", "https", "file", "s3")
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


@dataclass(frozen=True)
class Policy:
    """Timeouts, limits, retries and connections for downloads.

    ``from_env`` reads the IDXTOOL_* overrides. ``deadline`` bounds the seconds one file
    may take in all (every source and retry); ``max_bytes`` the bytes of a file whose size
    the manifest does not fix; ``connections`` the parallel ranges of a file of at least
    ``split_min`` bytes.
    """

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retries: int = 3
    backoff: float = 1.0
    backoff_max: float = 30.0
    deadline: float = 7200.0
    max_bytes: int = 4 << 30
    connections: int = 4
    split_min: int = 32 << 20

    @classmethod
    def from_env(cls) -> Policy:
        """The default policy, with the environment's overrides.

        ``IDXTOOL_TIMEOUT`` is ``SECONDS`` (connect and read) or ``CONNECT,READ``;
        ``IDXTOOL_RETRIES`` the retries per source after the first attempt;
        ``IDXTOOL_BACKOFF`` the first wait between retries in seconds (doubling each time);
        ``IDXTOOL_DEADLINE`` the seconds one file may take in all (default 7200);
        ``IDXTOOL_MAX_BYTES`` the most bytes accepted for a file with no fixed size
        (a number, optionally with K, M, G or T, binary; default 4G);
        ``IDXTOOL_CONNECTIONS`` the parallel connections for one large file (1-16, default 4).
        Unset or blank variables keep the defaults.

        Returns
        -------
        Policy
            The policy to use.

        Raises
        ------
        UsageError
            A variable's value is not a number, or out of range; the message names the
            variable and its value (exit code 2).
        """
        default = cls()
        connect, read = _env(
            "IDXTOOL_TIMEOUT", _timeouts, "expected seconds, or CONNECT,READ seconds (more than 0)"
        ) or (
            default.connect_timeout,
            default.read_timeout,
        )
        retries = _env("IDXTOOL_RETRIES", _whole, "expected a whole number of retries (0 or more)")
        backoff = _env("IDXTOOL_BACKOFF", _at_least(0), "expected seconds to wait before the first retry (0 or more)")
        deadline = _env("IDXTOOL_DEADLINE", _above(0), "expected the seconds one file may take (more than 0)")
        max_bytes = _env("IDXTOOL_MAX_BYTES", _size, "expected a number of bytes, optionally with K, M, G or T")
        connections = _env("IDXTOOL_CONNECTIONS", _connections, "expected a whole number of connections from 1 to 16")
        retries = default.retries if retries is None else retries
        backoff = default.backoff if backoff is None else backoff
        deadline = default.deadline if deadline is None else deadline
        max_bytes = default.max_bytes if max_bytes is None else max_bytes
        connections = default.connections if connections is None else connections
        return cls(
            connect,
            read,
            retries,
            backoff,
            default.backoff_max,
            deadline=deadline,
            max_bytes=max_bytes,
            connections=connections,
            split_min=default.split_min,
        )

    def wait(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        return float(min(self.backoff * 2 ** (attempt - 1), self.backoff_max))


def parse_size(text: str) -> int | None:
    """A byte count such as ``1048576``, ``512M`` or ``4G`` (binary units), or None.

    Examples
    --------
    >>> from idxtool.policy import parse_size
    >>> parse_size("512M"), parse_size("4g"), parse_size("10"), parse_size("x")
    (536870912, 4294967296, 10, None)
    """
    match = re.fullmatch(r"\s*(\d+)\s*([kmgt]?)(?:i?b)?\s*", text.lower())
    return int(match.group(1)) * _SIZE_UNITS[match.group(2)] if match else None


def _number(text: str) -> float | None:
    """A finite float, or None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _bad_env(name: str, value: str, expected: str) -> UsageError:
    return UsageError(f"{name}={value!r}: {expected}")


def check_mirror(mirror: str, *, param: str = "mirrors") -> str:
    """A mirror as a base URL: an ``http(s)://``, ``file://`` or ``s3://`` URL, or an existing folder.

    Parameters
    ----------
    mirror
        What the user gave.
    param
        The parameter named in the error.

    Returns
    -------
    str
        The URL (an existing folder becomes its ``file://`` URL).

    Raises
    ------
    ParameterError
        Neither a URL of those schemes nor an existing folder, or a malformed URL (such
        as an unclosed IPv6 bracket); exit code 2.

    Examples
    --------
    >>> from idxtool.policy import check_mirror
    >>> check_mirror("https://example.org/mnist/")
    'https://example.org/mnist/'
    >>> check_mirror(str(tmp)).startswith("file:///")
    True
    """
    text = mirror.strip()
    if "\0" in text:
        raise ParameterError(param, mirror, "is not a URL: it holds a NUL character")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (parses the port: raises on garbage)
    except ValueError as exc:
        raise ParameterError(param, mirror, f"is not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme in MIRROR_SCHEMES:
        if scheme != "file" and not parts.netloc:
            raise ParameterError(param, mirror, "is not a valid URL (no host)")
        return text
    if len(scheme) <= 1 and Path(text).is_dir():  # a folder (a Windows drive letter parses as a scheme)
        return Path(text).resolve().as_uri() + "/"
    if len(scheme) > 1:
        raise ParameterError(
            param, mirror, f"has an unsupported URL scheme (expected one of {', '.join(MIRROR_SCHEMES)})"
        )
    raise ParameterError(param, mirror, "is neither a URL (http, https, file, s3) nor an existing folder")


def _env(name: str, parse: Callable[[str], T | None], expected: str) -> T | None:
    """The value of variable ``name`` parsed by ``parse``; None when unset or blank.

    Raises
    ------
    UsageError
        ``parse`` refused the value: "NAME='value': expected ..." (exit code 2).
    """
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    value = parse(text)
    if value is None:
        raise _bad_env(name, text, expected)
    return value


def _timeouts(text: str) -> tuple[float, float] | None:
    values = [_number(p) for p in text.split(",")]
    seconds = [v for v in values if v is not None and v > 0]
    if len(values) > 2 or len(seconds) != len(values):
        return None
    return seconds[0], seconds[-1]


def _whole(text: str) -> int | None:
    return int(text) if re.fullmatch(r"\+?\d+", text) else None


def _at_least(low: float) -> Callable[[str], float | None]:
    def parse(text: str) -> float | None:
        value = _number(text)
        return value if value is not None and value >= low else None

    return parse


def _above(low: float) -> Callable[[str], float | None]:
    def parse(text: str) -> float | None:
        value = _number(text)
        return value if value is not None and value > low else None

    return parse


def _size(text: str) -> int | None:
    size = parse_size(text)
    return size if size is not None and size >= 1 else None


def _connections(text: str) -> int | None:
    value = _whole(text)
    return value if value is not None and 1 <= value <= 16 else None
