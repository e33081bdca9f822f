"""Get one file intact from the first source that can deliver it.

Sources are tried in order: ``http(s)://`` (requests, streamed), ``file://`` and
``package://`` (idxtool's own package data). Any failure of a source (connection error,
timeout, HTTP error, an HTML page, wrong size, wrong hash) moves on to the next one.
Transient failures (connection errors, timeouts, HTTP 408/429/5xx, a body cut short) are
retried on the same source with exponential backoff, resuming with ``Range`` where the
server allows it. The file is written beside the target as ``.NAME.part``, checked, and
only then renamed to its final name; a wrong download is deleted.

Nothing escapes the target's folder: the partial file is opened with ``O_NOFOLLOW`` (and
``O_EXCL`` when new) and must be a regular file of the current user with one link, and the
file renamed into place is checked to be the one written. Nothing hangs or fills the disk:
on top of the connect and read timeouts each file has an overall deadline
(``IDXTOOL_DEADLINE``), a file whose size is not fixed by the manifest may not exceed
``IDXTOOL_MAX_BYTES``, and a caller's cancel Event stops every transfer at once (sockets
are shut down; the resumable partial is kept).

Large files (``Policy.split_min``, 32 MB) from a server that answers a Range request with
206 come over ``Policy.connections`` parallel ranges written with positioned writes; each
range resumes after a drop, the whole file is hashed once complete, and a server that
refuses ranges gets one stream.

Each failed source and each retry is logged (INFO) on the ``idxtool.download`` logger;
downloads run in worker threads, so a handler must be thread-safe (logging's are).
``requests`` is imported only when an HTTP source is actually tried.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import socket
import stat
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from . import progress as progress_
from .atomic import temp_name
from .cache import partial
from .checksum import BLOCK, Digest, Expected, Hasher, Verdict, judge
from .errors import DownloadError, UsageError
from .policy import Policy
from .progress import Progress, ProgressFactory

if TYPE_CHECKING:
    import requests

logger = logging.getLogger(__name__)

NET_CHUNK = 64 * 1024
_HTML_START = re.compile(rb"^\s*(<!doctype\s+html|<html|<head|<body|<\?xml)", re.IGNORECASE)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
#: A multi-range download opens its other connections unless its first piece arrived within
#: this many seconds at _FAST_ENOUGH bytes per second (then one connection is not the limit).
_SPLIT_AFTER = 0.1
_FAST_ENOUGH = 64e6
#: Seconds between two records of the ranges a ranged download has written (see _write_done).
_RECORD_EVERY = 1.0


@dataclass(frozen=True)
class Fetched:
    """A file that arrived intact: where from, its digest, and whether only its payload matched."""

    source: str
    digest: Digest
    repacked: bool = False


class Cancelled(DownloadError):
    """The caller cancelled the download (Ctrl-C); a resumable partial file is kept."""


class SourceFailed(Exception):
    """This source cannot deliver the file; ``transient`` ones are worth retrying."""

    def __init__(self, reason: str, *, transient: bool = False, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        #: Seconds the server asked us to wait (``Retry-After``), if it said.
        self.retry_after = retry_after


class _NoRanges(Exception):
    """The server does not serve this file in ranges: fall back to one stream."""


class _WriteFailed(Exception):
    """Writing the partial file failed (disk full, I/O error)."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


# -- watching: deadline and cancellation ---------------------------------------------------------


class _Watch:
    """Ends a file's transfers when its deadline passes or the caller cancels.

    Every socket the file's sessions open is registered here; a watchdog thread shuts them
    down when the time is up or ``cancel`` is set, which wakes any blocked read at once
    (a trickling server never trips a read timeout).
    """

    def __init__(self, name: str, cancel: threading.Event | None, seconds: float) -> None:
        self.name, self.cancel, self.seconds = name, cancel, seconds
        self.end = time.monotonic() + seconds
        self.reason: str | None = None
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="idxtool-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(0.05):
            if self.cancel is not None and self.cancel.is_set():
                self.fire("cancelled")
            elif time.monotonic() >= self.end:
                self.fire("deadline")
            if self.reason:
                return

    def fire(self, reason: str) -> None:
        """Stop every transfer of this file for ``reason`` (cancelled or deadline)."""
        with self._lock:
            if self.reason is None:
                self.reason = reason
        self.interrupt()

    def interrupt(self) -> None:
        """Shut down every open connection (the readers see the connection end)."""
        with self._lock:
            socks, self._socks = self._socks, [s for s in self._socks if s.fileno() != -1]
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def add(self, sock: socket.socket | None) -> None:
        """Watch a newly connected socket."""
        if sock is None:
            return
        with self._lock:
            self._socks = [s for s in self._socks if s.fileno() != -1]
            self._socks.append(sock)
            late = self.reason is not None
        if late:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def check(self) -> None:
        """Raise if the file's time is up or the caller cancelled."""
        if self.reason is None:
            if self.cancel is not None and self.cancel.is_set():
                self.reason = "cancelled"
            elif time.monotonic() >= self.end:
                self.reason = "deadline"
        if self.reason == "cancelled":
            raise Cancelled(f"{self.name}: interrupted")
        if self.reason == "deadline":
            raise DownloadError(
                f"{self.name}: not complete after {self.seconds:g} s, the per-file deadline "
                "(IDXTOOL_DEADLINE); what arrived is kept to resume"
            )

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (less if the deadline comes first), waking at once on cancel."""
        seconds = max(0.0, min(seconds, self.end - time.monotonic()))
        if self.cancel is not None:
            self.cancel.wait(seconds)
        else:
            time.sleep(seconds)
        self.check()

    def stop(self) -> None:
        """The file is done: end the watchdog."""
        self._done.set()


# -- the partial file ------------------------------------------------------------------------------


class _Part:
    """The partial download, opened without following links; writes that fail raise _WriteFailed."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self.fd = path, fd
        st = os.fstat(fd)
        self.ident = (st.st_dev, st.st_ino)

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def write(self, block: bytes | memoryview) -> None:
        view = memoryview(block)
        try:
            while view:
                view = view[os.write(self.fd, view) :]
        except OSError as exc:
            raise _WriteFailed(exc) from None

    def pwrite(self, block: bytes | memoryview, offset: int) -> None:
        view = memoryview(block)
        try:
            while view:
                n = os.pwrite(self.fd, view, offset)
                view, offset = view[n:], offset + n
        except OSError as exc:
            raise _WriteFailed(exc) from None

    def resize(self, size: int) -> None:
        try:
            os.ftruncate(self.fd, size)
        except OSError as exc:
            raise _WriteFailed(exc) from None

    def hasher(self, expected: Expected, upto: int | None = None) -> Hasher:
        """A Hasher fed with the file's bytes (the first ``upto``), read through this descriptor."""
        hasher = Hasher.for_expected(expected)
        pos, end = 0, self.size() if upto is None else upto
        while pos < end:
            block = os.pread(self.fd, min(BLOCK, end - pos), pos)
            if not block:
                break
            hasher.update(block)
            pos += len(block)
        return hasher

    def close(self, *, sync: bool = True) -> None:
        if self.fd < 0:
            return
        try:
            if sync:
                os.fsync(self.fd)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO):
                raise _WriteFailed(exc) from None
        finally:
            os.close(self.fd)
            self.fd = -1


def _unsafe(part: Path, st: os.stat_result) -> str | None:
    """Why ``st`` is not a partial download idxtool may write to, or None."""
    if stat.S_ISLNK(st.st_mode):
        return "a symbolic link"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return f"owned by another user (uid {st.st_uid})"
    if st.st_nlink != 1:
        return f"a file with {st.st_nlink} hard links"
    return None


def _refuse(name: str, part: Path, why: str) -> DownloadError:
    return DownloadError(
        f"{name}: {part} is {why}, not a partial download idxtool wrote; refusing to write "
        "through it (remove it and try again)"
    )


def _open_part(part: Path, name: str, *, keep: bool) -> _Part:
    """Open the partial file for writing: created exclusively, or an existing one of ours.

    ``keep`` keeps its bytes (to resume), else it is emptied. Never follows a link and
    never writes to a file that is not a regular file of this user with one link.
    """
    try:
        st: os.stat_result | None = os.lstat(part)
    except FileNotFoundError:
        st = None
    if st is not None and (why := _unsafe(part, st)):
        raise _refuse(name, part, why)
    flags = os.O_RDWR | _O_NOFOLLOW | _O_CLOEXEC
    if st is None:
        flags |= os.O_CREAT | os.O_EXCL
    try:
        fd = os.open(part, flags, 0o644)
    except FileExistsError:
        raise _refuse(name, part, "a file that appeared while it was being created") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refuse(name, part, "a symbolic link") from None
        raise DownloadError(f"{name}: cannot write {part} ({exc.strerror or exc})") from None
    out = _Part(part, fd)
    why = _unsafe(part, os.fstat(fd))
    if why:
        out.close(sync=False)
        raise _refuse(name, part, why)
    if not keep:
        out.resize(0)
        _drop_done(part)
    return out


def _resumable(part: Path) -> int:
    """The bytes from the start of a partial file that may be resumed (0 when there is none,
    or it is unsafe): the file's size, or what a record of ranges says was written from byte 0."""
    try:
        st = os.lstat(part)
    except OSError:
        return 0
    if _unsafe(part, st):
        return 0
    done = _read_done(part)
    if done is not None:
        return done[0][1] if done and done[0][0] == 0 else 0
    return st.st_size


def _remove(part: Path) -> None:
    """Remove the partial file and its record of ranges (a link is removed, never its target)."""
    with contextlib.suppress(FileNotFoundError):
        part.unlink()
    _drop_done(part)


# -- what a ranged download has written ----------------------------------------------------------
#
# A download in ranges fills its partial file out of order. While it runs it records the
# ranges written so far beside it, every second (``.NAME.part.ranges``), so a run killed
# without warning (SIGKILL, a lost machine) resumes them; every way out that runs removes the
# record and leaves a plain prefix, or the finished file. Without a record a partial file is a
# prefix. The whole file is hashed at the end: a record that lies costs a fresh download,
# never a wrong file.


def _done_file(part: Path) -> Path:
    return part.with_name(part.name + ".ranges")


def _identity(expected: Expected) -> str:
    return f"{expected.size}:{expected.sha256 or ''}:{expected.md5 or ''}"


def _read_done(part: Path, expected: Expected | None = None) -> list[tuple[int, int]] | None:
    """The ranges a ranged download recorded as written in ``part`` (sorted, disjoint), or None
    when there is no usable record: missing, malformed, for another file (``expected``), or
    not matching the partial file's size."""
    try:
        fd = os.open(_done_file(part), os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        raw = fh.read(1 << 20)
    try:
        doc = json.loads(raw)
        size, ranges = int(doc["size"]), [(int(a), int(b)) for a, b in doc["done"]]
        key = str(doc["file"])
    except (ValueError, TypeError, KeyError):
        return None
    if expected is not None and key != _identity(expected):
        return None
    ends = [x for r in ranges for x in r]
    if ends != sorted(ends) or any(a >= b for a, b in ranges) or (ends and (ends[0] < 0 or ends[-1] > size)):
        return None
    try:
        st = os.lstat(part)
    except OSError:
        return None
    return None if _unsafe(part, st) or st.st_size != size else ranges


def _write_done(part: Path, expected: Expected, ranges: list[tuple[int, int]]) -> None:
    """Record ``ranges`` as written (atomically; best effort: a failure only loses the record)."""
    doc = {"file": _identity(expected), "size": expected.size, "done": ranges}
    temp = temp_name(_done_file(part))  # a new name: never an existing file, never a link
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(doc))
        os.replace(temp, _done_file(part))
    except FileExistsError as exc:  # a name taken meanwhile: not ours to remove
        logger.debug("%s: cannot record the ranges written (%s)", part, exc)
    except OSError as exc:
        logger.debug("%s: cannot record the ranges written (%s)", part, exc)
        with contextlib.suppress(OSError):
            os.unlink(temp)


def _drop_done(part: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_done_file(part))


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted ranges with touching or overlapping ones joined; empty ones dropped."""
    out: list[tuple[int, int]] = []
    for a, b in sorted(r for r in ranges if r[0] < r[1]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _commit(part: Path, path: Path, ident: tuple[int, int], name: str) -> None:
    """Rename the checked partial file into place, then check the name holds what was written."""
    os.replace(part, path)
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != ident:
        _remove(path)
        raise DownloadError(
            f"{name}: {part} was replaced by another file while it was being checked; removed it, nothing kept"
        )


def _disk_error(name: str, part: Path, exc: _WriteFailed, *, resumable: bool) -> DownloadError:
    """The error for a partial file that could not be written; it is removed unless it can resume."""
    if not resumable:
        _remove(part)
    kept = "kept to resume" if resumable else "removed"
    return DownloadError(
        f"{name}: cannot write {part} ({exc.error.strerror or exc.error}); the partial file was {kept}"
    )


# -- the one entry point -------------------------------------------------------------------------


def download(
    sources: Sequence[str],
    target: str | os.PathLike[str],
    expected: Expected,
    *,
    policy: Policy | None = None,
    progress: ProgressFactory | None = None,
    cancel: threading.Event | None = None,
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
        is the progress task's description. With ``idx_sha256`` known, a copy of another
        size is downloaded and judged by its payload.
    policy
        Timeouts, limits, retries and connections; None reads :meth:`Policy.from_env`.
    progress
        Reports the bytes received as one task (closed when the file is done or failed).
    cancel
        Set from another thread to stop the download within a fraction of a second
        (raises :class:`Cancelled`; a resumable partial file is kept).

    Returns
    -------
    Fetched
        The source that delivered it, its digest, and whether it was accepted as a
        re-compressed copy (same ``idx_sha256`` payload).

    Raises
    ------
    DownloadError
        No source delivered it intact, its deadline passed, it could not be written (disk
        full), or its partial file is not one idxtool may write; the message names the
        file and why (exit code 3). :class:`Cancelled` when ``cancel`` was set.
    UsageError
        ``policy`` is None and an ``IDXTOOL_*`` variable has a garbage value, or a source
        is a malformed URL.
    """
    policy = policy or Policy.from_env()
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = partial(path)
    failures: list[str] = []
    task = progress_.start(progress, expected.name, expected.size, "bytes")
    watch = _Watch(expected.name, cancel, policy.deadline)
    try:
        for i, url in enumerate(sources):
            watch.check()
            try:
                scheme = _scheme(url)
                if scheme in ("http", "https"):
                    digest, verdict, ident = _retrying(url, part, expected, policy, task, watch)
                # (other remote schemes, such as s3://, dispatch here)
                else:
                    digest, verdict, ident = _local(url, part, expected, policy, task, watch)
            except SourceFailed as exc:
                watch.check()  # a cut made by the deadline or a cancel is not the source's fault
                failures.append(f"{url}: {exc.reason}")
                nxt = "; trying the next source" if i + 1 < len(sources) else ""
                logger.info("%s: %s: %s%s", expected.name, url, exc.reason, nxt)
                continue
            _commit(part, path, ident, expected.name)
            return Fetched(url, digest, verdict.repacked)
    finally:
        watch.stop()
        task.close()
    if not sources:
        raise DownloadError(f"{expected.name}: no source to download it from")
    raise DownloadError(f"{expected.name}: could not be obtained from any source: {'; '.join(failures)}")


def _scheme(url: str) -> str:
    try:
        return urlsplit(url).scheme.lower()
    except ValueError as exc:
        raise UsageError(f"{url}: not a valid URL ({exc})") from None


def _limit(expected: Expected, policy: Policy) -> tuple[int, bool]:
    """The most bytes to accept, and whether that is the file's exact published size."""
    if expected.size is not None and not expected.idx_sha256:
        return expected.size, True
    return policy.max_bytes, False


def _too_many(expected: Expected, policy: Policy) -> str:
    limit, exact = _limit(expected, policy)
    if exact:
        return f"sent more than the expected {limit:,} bytes"
    return f"sent more than {limit:,} bytes, the limit for a file whose size is not fixed (IDXTOOL_MAX_BYTES)"


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
        if parts.scheme == "s3":  # an object store mirror (extra idxtool[cloud])
            from .objectstore import open_object

            return open_object(url)
    except (FileNotFoundError, IsADirectoryError, ModuleNotFoundError):
        raise SourceFailed("no such file") from None
    except OSError as exc:
        raise SourceFailed(f"cannot read it ({exc.strerror or exc})") from None
    raise SourceFailed(f"unsupported URL scheme {parts.scheme!r}")


def _local(
    url: str, part: Path, expected: Expected, policy: Policy, task: Progress, watch: _Watch
) -> tuple[Digest, Verdict, tuple[int, int]]:
    hasher = Hasher.for_expected(expected)
    with _open_local(url) as src:
        out = _open_part(part, expected.name, keep=False)
        try:
            while block := src.read(NET_CHUNK * 16):
                watch.check()
                _write(out, hasher, block, expected, policy, task)
            out.close()
        except _WriteFailed as exc:
            out.close(sync=False)
            raise _disk_error(expected.name, part, exc, resumable=False) from None
        except SourceFailed:
            out.close(sync=False)
            _remove(part)
            raise
        except BaseException:
            out.close(sync=False)
            raise
    digest, verdict = _check(part, hasher, expected, resumed=False)
    return digest, verdict, out.ident


# -- HTTP --------------------------------------------------------------------------------------


def _session(watch: _Watch) -> requests.Session:
    """A session whose every socket is watched (deadline, cancel)."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
    from urllib3.poolmanager import ProxyManager

    from . import __version__

    class Conn(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            watch.add(sock)
            return sock

    class SConn(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            watch.add(sock)
            return sock

        def connect(self) -> None:
            super().connect()
            watch.add(self.sock)

    class Pool(HTTPConnectionPool):
        ConnectionCls = Conn

    class SPool(HTTPSConnectionPool):
        ConnectionCls = SConn

    pools = {"http": Pool, "https": SPool}

    class Adapter(HTTPAdapter):
        def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
            manager = super().proxy_manager_for(proxy, **kwargs)
            if type(manager) is ProxyManager:  # (SOCKS managers bring their own connections)
                manager.pool_classes_by_scheme = pools
            return manager

    session = requests.Session()
    session.max_redirects = 10
    adapter = Adapter(max_retries=0)  # retries are ours: counted, logged, resumed
    adapter.poolmanager.pool_classes_by_scheme = pools
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = f"idxtool/{__version__}"
    # The exact published bytes: no transparent compression on top of .gz files.
    session.headers["Accept-Encoding"] = "identity"
    return session


def _get(
    session: requests.Session, url: str, headers: dict[str, str], policy: Policy, watch: _Watch
) -> requests.Response:
    import requests

    try:
        return session.get(url, headers=headers, stream=True, timeout=(policy.connect_timeout, policy.read_timeout))
    except (requests.exceptions.InvalidSchema, requests.exceptions.InvalidURL, requests.TooManyRedirects) as exc:
        watch.check()
        raise SourceFailed(f"redirected where idxtool does not follow ({_short(exc)})") from None
    except requests.Timeout as exc:
        watch.check()
        raise SourceFailed(f"timed out ({_short(exc)})", transient=True) from None
    except requests.RequestException as exc:
        watch.check()
        raise SourceFailed(f"connection failed ({_short(exc)})", transient=True) from None


def _retrying(
    url: str, part: Path, expected: Expected, policy: Policy, task: Progress, watch: _Watch
) -> tuple[Digest, Verdict, tuple[int, int]]:
    attempt = 1
    ranged = policy.connections > 1 and expected.size is not None and expected.size >= policy.split_min
    with contextlib.closing(_session(watch)) as session:
        while True:
            try:
                if ranged and _resumable(part) < (expected.size or 0):
                    try:
                        return _ranged(url, part, expected, policy, task, watch, session)
                    except _NoRanges as exc:
                        logger.info("%s: %s: %s; downloading it as one stream", expected.name, url, exc)
                        ranged = False
                return _http_once(url, part, expected, policy, session, task, watch)
            except SourceFailed as exc:
                if not exc.transient:
                    _remove(part)
                    raise
                if attempt > policy.retries:
                    raise SourceFailed(f"{exc.reason} (gave up after {attempt} attempts)") from None
                wait = min(exc.retry_after or policy.wait(attempt), policy.backoff_max)
                logger.info(
                    "%s: %s: %s; retrying in %.1f s (attempt %d of %d)",
                    expected.name,
                    url,
                    exc.reason,
                    wait,
                    attempt + 1,
                    policy.retries + 1,
                )
                watch.sleep(wait)
                attempt += 1


def _http_once(
    url: str,
    part: Path,
    expected: Expected,
    policy: Policy,
    session: requests.Session,
    task: Progress,
    watch: _Watch,
) -> tuple[Digest, Verdict, tuple[int, int]]:
    offset = _resumable(part)
    limit, _ = _limit(expected, policy)
    if offset >= limit or (expected.size is not None and offset >= expected.size):
        offset = 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    response = _get(session, url, headers, policy, watch)
    with response:
        offset, total = _accept(response, offset, expected, policy, part)
        if offset:
            logger.info("%s: %s: resuming at byte %s", expected.name, url, f"{offset:,}")
        out = _open_part(part, expected.name, keep=offset > 0)
        try:
            if offset:
                if out.size() < offset:
                    raise SourceFailed("the partial file shrank while resuming; starting over", transient=True)
                out.resize(offset)
                _drop_done(part)  # a plain prefix from here on
                os.lseek(out.fd, offset, os.SEEK_SET)
            else:
                os.lseek(out.fd, 0, os.SEEK_SET)
            hasher = out.hasher(expected, offset) if offset else Hasher.for_expected(expected)
            try:
                for block in _body(response):
                    watch.check()
                    if hasher.size == 0 and _HTML_START.match(block[:64]):
                        raise SourceFailed("served an HTML page, not the file")
                    _write(out, hasher, block, expected, policy, task)
            except _stream_errors() as exc:
                watch.check()
                reason = f"connection dropped after {hasher.size:,} bytes ({_short(exc)})"
                raise SourceFailed(reason, transient=True) from None
            out.close()
        except _WriteFailed as exc:
            out.close(sync=False)
            ranges = response.status_code == 206 or "bytes" in response.headers.get("Accept-Ranges", "").lower()
            raise _disk_error(expected.name, part, exc, resumable=ranges) from None
        finally:
            out.close(sync=False)
    limit, exact = _limit(expected, policy)
    total = total if total is not None or not exact else limit
    if total is not None and hasher.size < total:
        raise SourceFailed(f"connection closed after {hasher.size:,} of {total:,} bytes", transient=True)
    digest, verdict = _check(part, hasher, expected, resumed=offset > 0)
    return digest, verdict, out.ident


def _accept(
    response: requests.Response, offset: int, expected: Expected, policy: Policy, part: Path
) -> tuple[int, int | None]:
    """Check status and headers before the body; return the offset the body starts at and the
    whole file's length when known."""
    status = response.status_code
    if status == 416 and offset:
        _remove(part)
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
            _remove(part)
            where = response.headers.get("Content-Range")
            raise SourceFailed(f"resumed at the wrong place (Content-Range: {where})", transient=True)
    else:
        offset = 0  # 200 to a Range request: the server sends it all again
    total = None if length is None else offset + length
    limit, exact = _limit(expected, policy)
    if total is not None and exact and total != limit:
        raise SourceFailed(f"server announces {total:,} bytes, expected {limit:,}")
    if total is not None and total > limit:
        raise SourceFailed(f"server announces {total:,} bytes, more than {limit:,}, the limit (IDXTOOL_MAX_BYTES)")
    return offset, total


def _body(response: requests.Response, chunk: int = NET_CHUNK) -> Iterator[bytes]:
    """The body's raw bytes (never decoded: a server that compressed anyway is kept as sent),
    each block as soon as it arrives, so a cut or cancelled transfer keeps what came."""
    raw = response.raw
    if not hasattr(raw, "read1"):  # urllib3 < 2.3
        return raw.stream(chunk, decode_content=False)  # type: ignore[no-any-return]

    def blocks() -> Iterator[bytes]:
        while block := raw.read1(chunk, decode_content=False):
            yield block

    return blocks()


def _stream_errors() -> tuple[type[Exception], ...]:
    """What a body cut short raises: requests' errors, and urllib3's when read raw."""
    import requests
    from urllib3.exceptions import HTTPError

    return (requests.RequestException, HTTPError, OSError)


# -- several ranges at once ------------------------------------------------------------------------


def _keep_prefix(out: _Part, length: int) -> bool:
    """Cut an interrupted multi-range partial back to its contiguous prefix; True if any is kept.

    The record of ranges goes after the cut: killed in between, the record no longer matches
    the file's size and is ignored, and the file is the prefix it was cut to.
    """
    try:
        if length:
            out.resize(length)
        out.close()
    except _WriteFailed:
        out.close(sync=False)
        return False
    finally:
        _drop_done(out.path)
    return length > 0


def _ranges(size: int, n: int) -> list[tuple[int, int]]:
    """``size`` bytes cut into ``n`` ranges ``[start, end)``, in order."""
    step = -(-size // n)
    return [(s, min(s + step, size)) for s in range(0, size, step)]


def _content_range(value: str) -> tuple[int, int, int | None] | None:
    match = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", value)
    if not match:
        return None
    total = None if match.group(3) == "*" else int(match.group(3))
    return int(match.group(1)), int(match.group(2)) + 1, total


def _ranged(
    url: str,
    part: Path,
    expected: Expected,
    policy: Policy,
    task: Progress,
    watch: _Watch,
    session: requests.Session,
) -> tuple[Digest, Verdict, tuple[int, int]]:
    """Download over ``policy.connections`` connections, in ranges written in place.

    The file is cut into up to four pieces per connection; each connection takes the next
    piece in file order, so the bytes written from the start grow at the combined rate and
    the calling thread hashes them as they complete (the hash is done moments after the last
    byte). A dropped piece resumes where it stopped. Raises _NoRanges to fall back to one
    stream.
    """
    if expected.size is None:
        raise _NoRanges("no size to split")
    size, n = expected.size, policy.connections
    recorded = _read_done(part, expected)  # ranges of a run killed without warning
    offset = _resumable(part)  # else a prefix kept by an interrupted run
    have = recorded if recorded is not None else ([(0, offset)] if offset else [])
    missing = _merged([(a, b) for a, b in zip([0] + [b for _, b in have], [a for a, _ in have] + [size], strict=True)])
    left = sum(b - a for a, b in missing)
    if not left:
        raise _NoRanges("nothing left to split")
    count = max(n, min(4 * n, left // (256 << 10)))
    pieces = [(a + x, a + y) for a, b in missing for x, y in _ranges(b - a, max(1, round(count * (b - a) / left)))]
    bounds = sorted(have + pieces)
    wanted = [i for i, r in enumerate(bounds) if r in pieces]  # the pieces to fetch, in file order
    head = bounds[wanted[0]]
    first = _get(session, url, {"Range": f"bytes={head[0]}-{head[1] - 1}"}, policy, watch)
    if first.status_code != 206:
        first.close()
        if first.status_code == 200:
            raise _NoRanges("the server does not serve ranges (HTTP 200 to a Range request)")
        _accept(first, 0, expected, policy, part)  # raises the right SourceFailed
        raise _NoRanges(f"HTTP {first.status_code}")
    got = _content_range(first.headers.get("Content-Range", ""))
    if got is None or got[:2] != head or got[2] != size:
        first.close()
        raise _NoRanges(f"the server answered with Content-Range: {first.headers.get('Content-Range')}")
    if "html" in first.headers.get("Content-Type", "").lower():
        first.close()
        raise SourceFailed(f"served an HTML page (Content-Type: {first.headers['Content-Type']}), not the file")
    if recorded:
        logger.info("%s: %s: resuming the %s bytes still missing", expected.name, url, f"{left:,}")
    elif offset:
        logger.info("%s: %s: resuming at byte %s", expected.name, url, f"{offset:,}")
    out = _open_part(part, expected.name, keep=bool(have))
    stop = threading.Event()
    cond = threading.Condition()
    done = [i not in wanted for i in range(len(bounds))]
    at = [end if done[i] else start for i, (start, end) in enumerate(bounds)]  # how far each piece got

    def written() -> list[tuple[int, int]]:
        """What is in the file so far: the ranges done, and the start of each piece under way."""
        return _merged([(start, at[i]) for i, (start, _) in enumerate(bounds)])

    def prefix() -> int:
        """The bytes written contiguously from the start (what one stream can resume from)."""
        for index in range(len(bounds)):
            if not done[index]:
                return at[index]
        return size

    taken = [0, 0]  # next piece to hand out, bytes received so far
    errors: list[BaseException] = []

    def take() -> int | None:
        with cond:
            if stop.is_set() or taken[0] >= len(wanted):
                return None
            taken[0] += 1
            return wanted[taken[0] - 1]

    def advance(received: int) -> None:
        with cond:
            taken[1] += received
            task.update(taken[1])

    def piece(index: int, own: requests.Session, response: requests.Response | None) -> None:
        start, end = bounds[index]
        pos, attempt = start, 1
        while pos < end:
            if stop.is_set():
                return
            try:
                if response is None:
                    response = _get(own, url, {"Range": f"bytes={pos}-{end - 1}"}, policy, watch)
                    got = _content_range(response.headers.get("Content-Range", ""))
                    if response.status_code != 206 or got is None or got[:2] != (pos, end):
                        raise SourceFailed(
                            f"answered a request for bytes {pos:,}-{end - 1:,} with HTTP "
                            f"{response.status_code} (Content-Range: {response.headers.get('Content-Range')})",
                            transient=response.status_code in (408, 429) or response.status_code >= 500,
                        )
                with response:
                    try:
                        for block in _body(response, 4 * NET_CHUNK):
                            watch.check()
                            if stop.is_set():
                                return
                            if pos == 0 and _HTML_START.match(block[:64]):
                                raise SourceFailed("served an HTML page, not the file")
                            if pos + len(block) > end:
                                raise SourceFailed(f"sent more than the {end - start:,} bytes of a range")
                            out.pwrite(block, pos)
                            pos += len(block)
                            at[index] = pos
                            advance(len(block))
                    except _stream_errors() as exc:
                        watch.check()
                        raise SourceFailed(
                            f"connection dropped at byte {pos:,} ({_short(exc)})", transient=True
                        ) from None
                response = None
                if pos < end:
                    raise SourceFailed(f"a range closed at byte {pos:,} of {end:,}", transient=True)
            except SourceFailed as exc:
                if response is not None:
                    response.close()
                    response = None
                if stop.is_set():
                    return
                if not exc.transient or attempt > policy.retries:
                    raise
                wait = policy.wait(attempt)
                logger.info(
                    "%s: %s: %s; resuming the range in %.1f s (attempt %d of %d)",
                    expected.name,
                    url,
                    exc.reason,
                    wait,
                    attempt + 1,
                    policy.retries + 1,
                )
                watch.sleep(wait)
                attempt += 1

    def worker(k: int) -> None:
        own = session if k == 0 else _session(watch)
        try:
            while (index := take()) is not None:
                piece(index, own, first if index == wanted[0] else None)
                with cond:
                    done[index] = not stop.is_set()
                    cond.notify_all()
        except BaseException as exc:  # the first failure stops the other connections
            with cond:
                errors.append(exc)
                stop.set()
                cond.notify_all()
            watch.interrupt()
        finally:
            if own is not session:
                own.close()

    hasher = Hasher.for_expected(expected)  # over the whole file, in order, as pieces complete
    taken[1] = sum(b - a for a, b in have)
    index = -1
    try:
        if out.size() < (size if recorded else offset):
            raise SourceFailed("the partial file shrank while resuming; starting over", transient=True)
        out.resize(size)  # sparse; cut back to the contiguous prefix if interrupted
        with ThreadPoolExecutor(min(n, len(wanted)), thread_name_prefix="idxtool-range") as pool:
            began = saved = time.monotonic()
            pool.submit(worker, 0)
            try:
                with cond:  # more connections only help when one is slow: look at the first piece
                    cond.wait_for(lambda: done[wanted[0]] or stop.is_set(), timeout=_SPLIT_AFTER)
                took = time.monotonic() - began
                if not (done[wanted[0]] and (head[1] - head[0]) / max(took, 1e-6) >= _FAST_ENOUGH):
                    for k in range(1, min(n, len(wanted))):
                        pool.submit(worker, k)
                for index, (start, end) in enumerate(bounds):
                    with cond:
                        while not done[index] and not stop.is_set():
                            cond.wait(0.2)
                            if time.monotonic() - saved >= _RECORD_EVERY:
                                _write_done(part, expected, written())
                                saved = time.monotonic()
                    if stop.is_set():
                        break
                    for pos in range(start, end, BLOCK):
                        hasher.update(os.pread(out.fd, min(BLOCK, end - pos), pos))
            except BaseException:  # KeyboardInterrupt in the calling thread
                stop.set()
                watch.interrupt()
                raise
        first.close()  # unread if the pieces stopped early
        if errors:
            raise errors[0]
        watch.check()
        out.close()
        _drop_done(part)
    except _WriteFailed as exc:
        keep = _keep_prefix(out, prefix())
        raise _disk_error(expected.name, part, exc, resumable=keep) from None
    except SourceFailed as exc:
        if not exc.transient or not _keep_prefix(out, prefix()):
            out.close(sync=False)
            _remove(part)
        raise  # a transient one is tried again from the prefix kept
    except BaseException:  # cancelled, deadline, Ctrl-C: keep what can resume
        if not _keep_prefix(out, prefix()):
            _remove(part)
        raise
    digest, verdict = _check(part, hasher, expected, resumed=bool(have))
    return digest, verdict, out.ident


# -- shared ------------------------------------------------------------------------------------


def _write(out: _Part, hasher: Hasher, block: bytes, expected: Expected, policy: Policy, task: Progress) -> None:
    hasher.update(block)
    limit, _ = _limit(expected, policy)
    if hasher.size > limit:
        raise SourceFailed(_too_many(expected, policy))
    out.write(block)
    task.update(hasher.size)


def _check(part: Path, hasher: Hasher, expected: Expected, *, resumed: bool) -> tuple[Digest, Verdict]:
    digest = hasher.digest()
    verdict = judge(part, digest, expected)
    if not verdict.ok:
        _remove(part)
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
