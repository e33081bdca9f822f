"""Real `idxtool fetch` processes against a real 127.0.0.1 server: Ctrl-C (a real SIGINT) stops
within a second and keeps what can resume; eight processes fetching at once end with one copy."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from http_server import FaultServer

IMAGES = "t10k-images-idx3-ubyte.gz"
LABELS = "t10k-labels-idx1-ubyte.gz"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def tiny(shared: Path, server: FaultServer, tmp_path: Path) -> tuple[FaultServer, dict[str, str]]:
    """A user manifest for MNIST's test files on the server, and the environment to fetch it."""
    entries = []
    for name, kind in ((IMAGES, "images"), (LABELS, "labels")):
        path = shared / "mnist" / name
        entries.append(
            f'[[files]]\nname = "{name}"\nsplit = "test"\nkind = "{kind}"\n'
            f'sha256 = "{sha256(path)}"\nsize = {path.stat().st_size}\n'
        )
    manifest = tmp_path / "tiny.toml"
    manifest.write_text(
        f'name = "tiny"\nurls = ["{server.url}mnist/"]\nclasses = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]\n'
        + "".join(entries)
    )
    env = {
        **os.environ,
        "IDXTOOL_REGISTRY": str(manifest),
        "IDXTOOL_HOME": str(tmp_path / "home"),
        "IDXTOOL_TIMEOUT": "5",
        "IDXTOOL_BACKOFF": "0.05",
        "NO_PROXY": "127.0.0.1",
    }
    env.pop("IDXTOOL_MIRROR", None)
    return server, env


def test_ctrl_c_stops_within_a_second_and_the_next_run_resumes(
    tiny: tuple[FaultServer, dict[str, str]], shared: Path, tmp_path: Path
) -> None:
    server, env = tiny
    server.rate = 100_000  # 1.6 MB at 100 KB/s: about 16 s if nothing stops it
    folder = tmp_path / "home" / "tiny"
    part = folder / f".{IMAGES}.part"
    proc = subprocess.Popen(
        [sys.executable, "-m", "idxtool", "fetch", "tiny"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        until = time.monotonic() + 15
        while not (part.exists() and part.stat().st_size >= 100_000):
            assert time.monotonic() < until and proc.poll() is None, "the download never started"
            time.sleep(0.05)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert took < 1.0, f"took {took:.2f} s to stop"
    print(f"stopped in {took:.3f} s")
    assert err.splitlines()[-1] == "Error: interrupted" and "Traceback" not in err
    kept = part.read_bytes()
    assert len(kept) >= 100_000 and (shared / "mnist" / IMAGES).read_bytes().startswith(kept)
    assert not (folder / IMAGES).exists()

    server.rate = None
    done = subprocess.run(
        [sys.executable, "-m", "idxtool", "fetch", "tiny"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert sha256(folder / IMAGES) == sha256(shared / "mnist" / IMAGES) and not part.exists()
    resumed = server.hits(f"/mnist/{IMAGES}")[-1].headers.get("range", "")
    assert resumed.startswith("bytes=") and int(resumed[6:-1]) >= len(kept)


def test_eight_processes_fetching_at_once_end_with_one_verified_copy(
    tiny: tuple[FaultServer, dict[str, str]], shared: Path, tmp_path: Path
) -> None:
    server, env = tiny
    server.fault(f"/mnist/{IMAGES}", "slow:0.5")  # the first download takes a while: the others wait
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "idxtool", "fetch", "tiny", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [err for _, err in outputs]
    statuses = sorted(tuple(f["status"] for f in json.loads(out)["files"]) for out, _ in outputs)
    assert statuses == [("cached", "cached")] * 7 + [("downloaded", "downloaded")]
    assert len(server.hits(f"/mnist/{IMAGES}")) == 1 and len(server.hits(f"/mnist/{LABELS}")) == 1
    folder = tmp_path / "home" / "tiny"
    assert not list(folder.glob(".*.part"))
    for name in (IMAGES, LABELS):
        assert sha256(folder / name) == sha256(shared / "mnist" / name)
