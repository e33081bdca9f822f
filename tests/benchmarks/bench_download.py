"""Benchmark multi-connection downloads (issue 12) against one stream, on 127.0.0.1.

A local HTTP server streams one temporary file of random bytes (200 MB by default), honours
``Range: bytes=N-M`` with 206, and in the throttled case caps every connection at 20 MB/s
(a slow publisher such as NIST). ``idxtool.download.download`` fetches it with
``Policy(connections=1)`` (the baseline: one stream) and ``Policy(connections=N)``, runs
alternating, each verified by sha256 (identical bytes). Medians are printed, and the ratio
one stream / N connections. The server runs in its own process (as a publisher does), so it
does not compete with the client for the GIL.

Targets: at least 3.5x faster than one stream with 4 connections on the throttled server,
and no slower than one stream (ratio >= ~1.0) unthrottled.

Run: ``python tests/benchmarks/bench_download.py [--size-mb 200] [--repeat 3] [--connections 4]
[--rate-mb 20]``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from idxtool.checksum import Expected
from idxtool.download import download
from idxtool.policy import Policy

SLICE = 256 * 1024


def serve(path: Path, cap: float | None) -> None:
    """Serve ``path`` at /data.bin until killed; ``cap`` limits each connection (bytes per second)."""
    size = path.stat().st_size

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            start, end = 0, size
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
            if match:
                start = int(match.group(1))
                end = min(size, int(match.group(2)) + 1) if match.group(2) else size
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
            else:
                self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(end - start))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            began = time.monotonic()
            try:
                with open(path, "rb") as fh:
                    pos = start
                    while pos < end:
                        if cap is not None:
                            ahead = began + (pos - start) / cap - time.monotonic()
                            if ahead > 0:
                                time.sleep(ahead)
                        block = os.pread(fh.fileno(), min(SLICE, end - pos), pos)
                        self.wfile.write(block)
                        pos += len(block)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    print(httpd.server_address[1], flush=True)
    httpd.serve_forever(poll_interval=0.05)


@contextmanager
def serving(path: Path, cap: float | None) -> Iterator[str]:
    """A server process for ``path``; yields its URL."""
    argv = [sys.executable, __file__, "--serve", str(path), "--cap", str(cap or 0)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}/data.bin"
    finally:
        proc.kill()
        proc.wait()


def timed(url: str, target: Path, expected: Expected, connections: int) -> float:
    target.unlink(missing_ok=True)
    policy = Policy(connect_timeout=10, read_timeout=30, retries=1, connections=connections)
    start = time.perf_counter()
    got = download([url], target, expected, policy=policy)
    took = time.perf_counter() - start
    if got.digest.sha256 != expected.sha256:  # download() verifies too; say so if it ever did not
        sys.exit(f"wrong bytes with {connections} connection(s)")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--rate-mb", type=float, default=20.0)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--cap", type=float, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve), args.cap or None)
        return
    os.environ.setdefault("NO_PROXY", "127.0.0.1")
    with tempfile.TemporaryDirectory(prefix="bench-download-") as tmp:
        source = Path(tmp) / "data.bin"
        h = hashlib.sha256()
        with open(source, "wb") as out:
            for _ in range(args.size_mb):
                block = os.urandom(1 << 20)
                h.update(block)
                out.write(block)
        expected = Expected("data.bin", h.hexdigest(), size=args.size_mb << 20)
        target = Path(tmp) / "out" / "data.bin"
        print(f"{args.size_mb} MB from 127.0.0.1, {args.repeat} alternating runs each, medians:")
        cases = ((f"throttled at {args.rate_mb:g} MB/s per connection", args.rate_mb * 1e6), ("unthrottled", None))
        for label, cap in cases:
            with serving(source, cap) as url:
                one: list[float] = []
                many: list[float] = []
                for _ in range(args.repeat):
                    one.append(timed(url, target, expected, 1))
                    many.append(timed(url, target, expected, args.connections))
            a, b = statistics.median(one), statistics.median(many)
            mb = args.size_mb * (1 << 20) / 1e6
            print(
                f"  {label}: one stream {a:.2f} s ({mb / a:.0f} MB/s), {args.connections} connections "
                f"{b:.2f} s ({mb / b:.0f} MB/s): {a / b:.2f}x"
            )
        print("  identical bytes: yes (sha256 checked on every run)")


if __name__ == "__main__":
    main()
