"""A real HTTP server on 127.0.0.1 for download tests, with faults injected per path.

It serves the files under a folder (``../shared/datasets`` or one built in tmp_path),
honours ``Range: bytes=N-`` with 206, records every request with its headers, and plays
queued faults for a path, one per request, before serving normally again:

    server.fault("/mnist/t10k-labels-idx1-ubyte.gz", "500", "500")

Faults: ``404``, ``500``, ``html`` (a 200 text/html page), ``html-octet`` (an HTML page
labelled application/octet-stream), ``drop:N`` (announce the whole file, send N bytes,
close the connection), ``wrong`` (same length, wrong bytes), ``slow:S`` (wait S seconds
before answering), ``norange`` (ignore Range, send the whole file with 200), ``length``
(a Content-Length that is not the file's).

Hostile ones: ``trickle:S`` (announce the file, then send one byte every S seconds),
``headers:S`` (trickle the status line and headers one byte every S seconds), ``endless``
(200 with no Content-Length and a body that never ends), ``redirect:URL`` (302 to URL),
``badrange`` (answer a Range request with 206 and a Content-Range one byte off), ``rdrop:N``
(honour the Range, send N bytes of it, close). ``bytes=N-M`` ranges are honoured;
``FaultServer.ranges = False`` ignores every Range header, and ``FaultServer.rate`` caps each
connection at that many bytes per second.

Also here, for the tests of what downloads report: :class:`RecordingProgress` (a
ProgressFactory that keeps its tasks) and the ``logs`` fixture (every record of the
``idxtool`` loggers).
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

HTML = (
    b"<!DOCTYPE html>\n<html><head><title>Domain for sale</title></head><body>This domain has expired.</body></html>\n"
)


@dataclass
class Seen:
    """One request the server received."""

    path: str
    headers: dict[str, str]


@dataclass
class FaultServer:
    root: Path
    port: int = 0
    requests: list[Seen] = field(default_factory=list)
    faults: dict[str, list[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    ranges: bool = True
    rate: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def fault(self, path: str, *behaviours: str) -> None:
        """Queue faults for ``path`` (leading '/'), played one per request."""
        with self.lock:
            self.faults.setdefault(path, []).extend(behaviours)

    def hits(self, path: str) -> list[Seen]:
        """The requests for ``path``."""
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def _next_fault(self, path: str) -> str | None:
        with self.lock:
            queue = self.faults.get(path)
            return queue.pop(0) if queue else None


def _handler(state: FaultServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            try:
                self._serve()
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                self.close_connection = True

        def _serve(self) -> None:
            with state.lock:
                state.requests.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}))
            fault = state._next_fault(self.path)
            if fault and fault.startswith("slow:"):
                time.sleep(float(fault.split(":", 1)[1]))
                fault = None
            if fault and fault.startswith("headers:"):
                return self._trickle(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", fault)
            if fault and fault.startswith("redirect:"):
                self.send_response(302)
                self.send_header("Location", fault.split(":", 1)[1])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            if fault == "endless":
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                block = bytes(1 << 16)
                while True:
                    self.wfile.write(block)
            if fault in ("404", "500"):
                return self._send(int(fault), b"no\n", "text/plain")
            if fault == "html":
                return self._send(200, HTML, "text/html; charset=utf-8")
            if fault == "html-octet":
                return self._send(200, HTML, "application/octet-stream")
            target = (state.root / self.path.lstrip("/")).resolve()
            if not target.is_file() or state.root.resolve() not in target.parents:
                return self._send(404, b"not found\n", "text/plain")
            data = target.read_bytes()
            if fault == "wrong":
                return self._send(200, bytes(len(data)), "application/octet-stream")
            if fault == "length":
                return self._send(200, data + b"extra", "application/octet-stream")
            if fault and fault.startswith("drop:"):
                cut = int(fault.split(":", 1)[1])
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                self.wfile.write(data[:cut])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_WR)
                return None
            if fault and fault.startswith("trickle:"):
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                return self._trickle(data, fault)
            span = _range(self.headers.get("Range"), len(data))
            if span is not None and fault != "norange" and state.ranges:
                start, end = span
                if start >= len(data):
                    return self._send(416, b"", "text/plain")
                shown = start + 1 if fault == "badrange" else start
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {shown}-{end - 1}/{len(data)}")
                if fault and fault.startswith("rdrop:"):
                    cut = int(fault.split(":", 1)[1])
                    self.send_header("Content-Length", str(end - start))
                    self.end_headers()
                    self.wfile.write(data[start : start + cut])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_WR)
                    return None
                return self._body(data[start:end])
            self.send_response(200)
            return self._body(data)

        def _trickle(self, data: bytes, fault: str) -> None:
            pause = float(fault.split(":", 1)[1])
            for i in range(len(data)):
                self.wfile.write(data[i : i + 1])
                self.wfile.flush()
                time.sleep(pause)
            self.close_connection = True

        def _body(self, data: bytes) -> None:
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            if state.ranges:
                self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if state.rate is None:
                self.wfile.write(data)
                return
            step = max(1, int(state.rate / 50))  # 50 slices a second
            began = time.monotonic()
            for sent in range(0, len(data), step):
                ahead = began + sent / state.rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
                self.wfile.write(data[sent : sent + step])

        def _send(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def _range(value: str | None, size: int) -> tuple[int, int] | None:
    """``bytes=N-`` or ``bytes=N-M`` as ``[start, end)``, or None."""
    if not value or not value.startswith("bytes="):
        return None
    first, _, last = value[len("bytes=") :].partition("-")
    return int(first), min(size, int(last) + 1) if last else size


@pytest.fixture()
def fast_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short timeouts, two retries, no real backoff: fault tests stay fast."""
    monkeypatch.setenv("IDXTOOL_TIMEOUT", "2,0.5")
    monkeypatch.setenv("IDXTOOL_RETRIES", "2")
    monkeypatch.setenv("IDXTOOL_BACKOFF", "0.01")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv("http_proxy", raising=False)


class Task:
    """One task of a RecordingProgress: every update, and how often it was closed."""

    def __init__(self, description: str, total: int | None, unit: str) -> None:
        self.description, self.total, self.unit = description, total, unit
        self.updates: list[int] = []
        self.closed = 0

    def update(self, done: int, total: int | None = None) -> None:
        self.updates.append(done)
        if total is not None:
            self.total = total

    def close(self) -> None:
        self.closed += 1


class RecordingProgress:
    """A ProgressFactory that keeps its tasks (thread-safe, like the CLI's bars)."""

    def __init__(self) -> None:
        self.tasks: list[Task] = []
        self.lock = threading.Lock()

    def __call__(self, description: str, total: int | None, unit: str) -> Task:
        task = Task(description, total, unit)
        with self.lock:
            self.tasks.append(task)
        return task


class Records(logging.Handler):
    """Keeps every record it is handed (from any thread)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self, level: int = logging.DEBUG) -> list[str]:
        """The messages at ``level`` and above."""
        return [r.getMessage() for r in self.records if r.levelno >= level]


@pytest.fixture()
def logs() -> Iterator[Records]:
    """Every record of the ``idxtool`` loggers during the test, at all levels.

    Attached to the ``idxtool`` logger itself: a CLI test run earlier in the process may
    have installed the CLI's handler there and stopped propagation to the root logger.
    """
    logger = logging.getLogger("idxtool")
    handler = Records()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up mid-body (a full disk, a cancel: what the tests provoke) is no
    error worth a traceback on the test run's terminal; anything else still is."""

    def handle_error(self, request: object, client_address: object) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


def serve(root: Path) -> Iterator[FaultServer]:
    """Run a FaultServer for ``root`` on 127.0.0.1 until the generator is closed."""
    state = FaultServer(root)
    httpd = _QuietServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture()
def server(shared: Path, fast_network: None) -> Iterator[FaultServer]:
    """A FaultServer serving ../shared/datasets (laid out like an idxtool cache)."""
    yield from serve(shared)
