"""Get one file intact from the first source that can deliver it.

Sources are tried in order: ``http(s)://`` (requests, streamed), ``file://`` and
``package://`` (idxtool's own package data). Any failure of a source (connection error,
timeout, HTTP error, an HTML page, wrong size, wrong hash) moves on to the next one.
Transient failures (connection errors, timeouts, HTTP 408/429/5xx, a body cut short) are
retried on the same source with exponential backoff, resuming with ``Range`` where the
server allows it. The file is written beside the target as ``.NAME.part``, checked, and
only then renamed to its final name; a wrong download is deleted.

Each failed source and each retry is logged (INFO) on the ``idxtool.download`` logger;
downloads run in worker threads, so a handler must be thread-safe (logging's are).
``requests`` is imported only when an HTTP source is actually tried.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import IO, TYPE_CHECKING
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from . import progress as progress_
from .cache import partial
from .checksum import Digest, Expected, Hasher, Verdict, hasher_of, judge
from .errors import DownloadError, UsageError
from .progress import Progress, ProgressFactory

if TYPE_CHECKING:
    import requests

logger = logging.getLogger(__name__)

NET_CHUNK = 64 * 1024
_HTML_START = re.compile(rb"^\s*(<!doctype\s+html|<html|<head|<body|<\?xml)", re.IGNORECASE)


@dataclass(frozen=True)
class Policy:
    """Timeouts and retries for HTTP sources. ``from_env`` reads the IDXTOOL_* overrides."""

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retries: int = 3
    backoff: float = 1.0
    backoff_max: float = 30.0

    @classmethod
    def from_env(cls) -> Policy:
        """The default policy, with the environment's overrides.

        ``IDXTOOL_TIMEOUT`` is ``SECONDS`` (connect and read) or ``CONNECT,READ``;
        ``IDXTOOL_RETRIES`` the retries per source after the first attempt;
        ``IDXTOOL_BACKOFF`` the first wait between retries in seconds (doubling each time).
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
        connect, read = default.connect_timeout, default.read_timeout
        timeout = os.environ.get("IDXTOOL_TIMEOUT", "").strip()
        if timeout:
            values = [_number(p) for p in timeout.split(",")]
            seconds = [v for v in values if v is not None and v > 0]
            if len(values) > 2 or len(seconds) != len(values):
                raise _bad_env("IDXTOOL_TIMEOUT", timeout, "expected seconds, or CONNECT,READ seconds (more than 0)")
            connect, read = seconds[0], seconds[-1]
        retries = default.retries
        text = os.environ.get("IDXTOOL_RETRIES", "").strip()
        if text:
            if not re.fullmatch(r"\+?\d+", text):
                raise _bad_env("IDXTOOL_RETRIES", text, "expected a whole number of retries (0 or more)")
            retries = int(text)
        backoff = default.backoff
        text = os.environ.get("IDXTOOL_BACKOFF", "").strip()
        if text:
            value = _number(text)
            if value is None or value < 0:
                raise _bad_env("IDXTOOL_BACKOFF", text, "expected seconds to wait before the first retry (0 or more)")
            backoff = value
        return cls(connect, read, retries, backoff, default.backoff_max)

    def wait(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        return float(min(self.backoff * 2 ** (attempt - 1), self.backoff_max))


def _number(text: str) -> float | None:
    """A finite float, or None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _bad_env(name: str, value: str, expected: str) -> UsageError:
    return UsageError(f"{name}={value!r}: {expected}")


@dataclass(frozen=True)
class Fetched:
    """A file that arrived intact: where from, its digest, and whether only its payload matched."""

    source: str
    digest: Digest
    repacked: bool = False


class SourceFailed(Exception):
    """This source cannot deliver the file; ``transient`` ones are worth retrying."""

    def __init__(self, reason: str, *, transient: bool = False, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        #: Seconds the server asked us to wait (``Retry-After``), if it said.
        self.retry_after = retry_after


def download(
    sources: Sequence[str],
    target: str | os.PathLike[str],
    expected: Expected,
    *,
    policy: Policy | None = None,
    progress: ProgressFactory | None = None,
) -> Fetched:
    """Fetch one file from the first source that delivers it intact.

    Parameters
    ----------
    sources
        URLs tried in order: ``http(s)://``, ``file://``, ``package://``.
    target
        The final path; written as ``.NAME.part`` beside it, renamed when verified.
    expected
        Size and hashes the file must have; ``expected.name`` names it in messages and
        is the progress task's description.
    policy
        Timeouts and retries; None reads :meth:`Policy.from_env`.
    progress
        Reports the bytes received as one task (closed when the file is done or failed).

    Returns
    -------
    Fetched
        The source that delivered it, its digest, and whether it was accepted as a
        re-compressed copy (same ``idx_sha256`` payload).

    Raises
    ------
    DownloadError
        No source delivered it intact; the message names each source and why (exit code 3).
    UsageError
        ``policy`` is None and an ``IDXTOOL_*`` variable has a garbage value.
    """
    policy = policy or Policy.from_env()
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = partial(path)
    failures: list[str] = []
    session: requests.Session | None = None
    task = progress_.start(progress, expected.name, expected.size, "bytes")
    try:
        for i, url in enumerate(sources):
            try:
                scheme = urlsplit(url).scheme.lower()
                if scheme in ("http", "https"):
                    if session is None:
                        session = _session()
                    digest, verdict = _retrying(url, part, expected, policy, session, task)
                else:
                    digest, verdict = _local(url, part, expected, task)
            except SourceFailed as exc:
                failures.append(f"{url}: {exc.reason}")
                nxt = "; trying the next source" if i + 1 < len(sources) else ""
                logger.info("%s: %s: %s%s", expected.name, url, exc.reason, nxt)
                continue
            os.replace(part, path)
            return Fetched(url, digest, verdict.repacked)
    finally:
        task.close()
        if session is not None:
            session.close()
    if not sources:
        raise DownloadError(f"{expected.name}: no source to download it from")
    raise DownloadError(f"{expected.name}: could not be obtained from any source: {'; '.join(failures)}")


# -- local sources -----------------------------------------------------------------------------


def _open_local(url: str) -> IO[bytes]:
    parts = urlsplit(url)
    try:
        if parts.scheme == "file":
            if parts.netloc not in ("", "localhost"):
                raise SourceFailed(f"file URLs on another host ({parts.netloc}) are not supported")
            return open(url2pathname(unquote(parts.path)), "rb")
        if parts.scheme == "package":
            return (resources.files(parts.netloc) / unquote(parts.path).lstrip("/")).open("rb")
    except (FileNotFoundError, IsADirectoryError, ModuleNotFoundError):
        raise SourceFailed("no such file") from None
    except OSError as exc:
        raise SourceFailed(f"cannot read it ({exc.strerror or exc})") from None
    raise SourceFailed(f"unsupported URL scheme {parts.scheme!r}")


def _local(url: str, part: Path, expected: Expected, task: Progress) -> tuple[Digest, Verdict]:
    hasher = Hasher()
    with _open_local(url) as src, open(part, "wb") as out:
        try:
            while block := src.read(NET_CHUNK * 16):
                _write(out, hasher, block, expected, task)
        except SourceFailed:
            out.close()
            part.unlink(missing_ok=True)
            raise
        _sync(out)
    return _check(part, hasher, expected, resumed=False)


# -- HTTP --------------------------------------------------------------------------------------


def _session() -> requests.Session:
    import requests
    from requests.adapters import HTTPAdapter

    from . import __version__

    session = requests.Session()
    adapter = HTTPAdapter(max_retries=0)  # retries are ours: counted, logged, resumed
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = f"idxtool/{__version__}"
    # The exact published bytes: no transparent compression on top of .gz files.
    session.headers["Accept-Encoding"] = "identity"
    return session


def _retrying(
    url: str,
    part: Path,
    expected: Expected,
    policy: Policy,
    session: requests.Session,
    task: Progress,
) -> tuple[Digest, Verdict]:
    attempt = 1
    while True:
        try:
            return _http_once(url, part, expected, policy, session, task)
        except SourceFailed as exc:
            if not exc.transient:
                part.unlink(missing_ok=True)
                raise
            if attempt > policy.retries:
                raise SourceFailed(f"{exc.reason} (gave up after {attempt} attempts)") from None
            wait = exc.retry_after or policy.wait(attempt)
            wait = min(wait, policy.backoff_max)
            logger.info(
                "%s: %s: %s; retrying in %.1f s (attempt %d of %d)",
                expected.name,
                url,
                exc.reason,
                wait,
                attempt + 1,
                policy.retries + 1,
            )
            time.sleep(wait)
            attempt += 1


def _http_once(
    url: str,
    part: Path,
    expected: Expected,
    policy: Policy,
    session: requests.Session,
    task: Progress,
) -> tuple[Digest, Verdict]:
    import requests

    offset = part.stat().st_size if part.exists() else 0
    if expected.size is not None and offset >= expected.size:
        offset = 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        response = session.get(url, headers=headers, stream=True, timeout=(policy.connect_timeout, policy.read_timeout))
    except requests.Timeout as exc:
        raise SourceFailed(f"timed out ({_short(exc)})", transient=True) from None
    except requests.RequestException as exc:
        raise SourceFailed(f"connection failed ({_short(exc)})", transient=True) from None
    with response:
        offset = _accept(response, offset, expected, part)
        if offset:
            logger.info("%s: %s: resuming at byte %s", expected.name, url, f"{offset:,}")
        hasher = hasher_of(part) if offset else Hasher()
        with open(part, "ab" if offset else "wb") as out:
            try:
                for block in _body(response):
                    if hasher.size == 0 and _HTML_START.match(block[:64]):
                        raise SourceFailed("served an HTML page, not the file")
                    _write(out, hasher, block, expected, task)
            except _stream_errors() as exc:
                reason = f"connection dropped after {hasher.size:,} bytes ({_short(exc)})"
                raise SourceFailed(reason, transient=True) from None
            _sync(out)
    if expected.size is not None and hasher.size < expected.size:
        raise SourceFailed(f"connection closed after {hasher.size:,} of {expected.size:,} bytes", transient=True)
    return _check(part, hasher, expected, resumed=offset > 0)


def _accept(response: requests.Response, offset: int, expected: Expected, part: Path) -> int:
    """Check status and headers before the body; return the offset the body starts at."""
    status = response.status_code
    if status == 416 and offset:
        part.unlink(missing_ok=True)
        raise SourceFailed("server refused to resume (HTTP 416); starting over", transient=True)
    if status in (408, 429) or status >= 500:
        raise SourceFailed(
            f"HTTP {status} {response.reason or ''}".rstrip(),
            transient=True,
            retry_after=_retry_after(response.headers.get("Retry-After")),
        )
    if status not in (200, 206):
        raise SourceFailed(f"HTTP {status} {response.reason or ''}".rstrip())
    ctype = response.headers.get("Content-Type", "")
    if "html" in ctype.lower():
        raise SourceFailed(f"served an HTML page (Content-Type: {ctype}), not the file")
    length = _int(response.headers.get("Content-Length"))
    if status == 206:
        if not offset:
            raise SourceFailed("answered a whole-file request with partial content (HTTP 206)")
        start = _range_start(response.headers.get("Content-Range", ""))
        if start != offset:
            part.unlink(missing_ok=True)
            where = response.headers.get("Content-Range")
            raise SourceFailed(f"resumed at the wrong place (Content-Range: {where})", transient=True)
    else:
        offset = 0  # 200 to a Range request: the server sends it all again
    if length is not None and expected.size is not None and offset + length != expected.size:
        raise SourceFailed(f"server announces {offset + length:,} bytes, expected {expected.size:,}")
    return offset


def _body(response: requests.Response) -> Iterator[bytes]:
    encoding = response.headers.get("Content-Encoding", "identity").lower()
    if encoding not in ("", "identity"):  # the server compressed anyway: keep the raw bytes
        return response.raw.stream(NET_CHUNK, decode_content=False)  # type: ignore[no-any-return]
    return response.iter_content(NET_CHUNK)


def _stream_errors() -> tuple[type[Exception], ...]:
    """What a body cut short raises: requests' errors, and urllib3's when read raw."""
    import requests
    from urllib3.exceptions import HTTPError

    return (requests.RequestException, HTTPError)


# -- shared ------------------------------------------------------------------------------------


def _write(out: IO[bytes], hasher: Hasher, block: bytes, expected: Expected, task: Progress) -> None:
    hasher.update(block)
    if expected.size is not None and hasher.size > expected.size:
        raise SourceFailed(f"sent more than the expected {expected.size:,} bytes")
    out.write(block)
    task.update(hasher.size)


def _sync(out: IO[bytes]) -> None:
    out.flush()
    with contextlib.suppress(OSError):
        os.fsync(out.fileno())


def _check(part: Path, hasher: Hasher, expected: Expected, *, resumed: bool) -> tuple[Digest, Verdict]:
    digest = hasher.digest()
    verdict = judge(part, digest, expected)
    if not verdict.ok:
        part.unlink(missing_ok=True)
        if resumed:  # the pieces may come from different versions: try once more from scratch
            raise SourceFailed(f"{verdict.problem} after resuming; starting over", transient=True)
        raise SourceFailed(verdict.problem)
    return digest, verdict


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _range_start(content_range: str) -> int | None:
    match = re.match(r"\s*bytes\s+(\d+)-", content_range)
    return int(match.group(1)) if match else None


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _short(exc: BaseException) -> str:
    """The innermost useful reason of a requests/urllib3 error, on one line."""
    text = str(exc)
    for pattern in (r"\[Errno [^\]]+\] ([^'\")]+)", r"(Read timed out)", r"(Connection refused)", r"(timed out)"):
        match = re.search(pattern, text)
        if match:
            return match.group(1).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:160]
