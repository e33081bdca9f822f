"""Benchmark ``verify`` against the single-pass floor, and a dataset name against its paths.

Builds an EMNIST-size dataset (814,255 x 28 x 28 images and their labels) by tiling the real
10,000 MNIST test images and labels (../shared/datasets/mnist), as .gz (level 6) and raw, in
a temporary folder that is removed at the end (never committed). Then times, as medians of
alternating runs:

  verify (.gz, raw): ``idxtool.verify`` of the dataset (hash, IDX structure, pairing, label
      range) against the floor: one loop, one thread, that reads each file once, feeds each
      block to sha256 and to isal's gzip reader (into one reused buffer), nothing else.
      Target: at most 1.1x.
  name vs paths: ``idxtool inspect NAME`` against ``idxtool inspect IMAGES LABELS`` (the same
      cached files), each in a fresh process as a user runs it, and ``read_splits`` of the
      name against the paths (every image read). With verification stamps a name must cost
      at most 1.1x its paths. ``fetch`` with ``rehash=True`` (what ``idxtool fetch`` does)
      is shown for scale.

    python tests/benchmarks/bench_verify.py [--repeat 5] [--source ../shared/datasets/mnist]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from isal import igzip

ROOT = Path(__file__).resolve().parents[2]
COUNT = 814_255
BLOCK = 1 << 20
HEADER = 16


def _open_write(path: Path, *, gz: bool) -> BinaryIO:
    """gzip level 6 (the published files' level: realistic ratio), else raw."""
    return gzip.open(path, "wb", compresslevel=6) if gz else open(path, "wb")


def build(source: Path, folder: Path) -> dict[str, tuple[Path, Path]]:
    """EMNIST-size images and labels, tiled from the real test files, as .gz and raw."""
    images = gzip.decompress((source / "t10k-images-idx3-ubyte.gz").read_bytes())[HEADER:]
    labels = gzip.decompress((source / "t10k-labels-idx1-ubyte.gz").read_bytes())[8:]
    reps, rest = divmod(COUNT, 10_000)
    out: dict[str, tuple[Path, Path]] = {}
    for kind in ("gz", "raw"):
        suffix = ".gz" if kind == "gz" else ""
        img = folder / f"bench-{kind}" / f"big-images-idx3-ubyte{suffix}"
        lbl = folder / f"bench-{kind}" / f"big-labels-idx1-ubyte{suffix}"
        img.parent.mkdir(parents=True)
        with _open_write(img, gz=kind == "gz") as fh:
            fh.write(struct.pack(">BBBBIII", 0, 0, 8, 3, COUNT, 28, 28))
            for _ in range(reps):
                fh.write(images)
            fh.write(images[: rest * 784])
        with _open_write(lbl, gz=kind == "gz") as fh:
            fh.write(struct.pack(">BBBBI", 0, 0, 8, 1, COUNT) + labels * reps + labels[:rest])
        out[kind] = (img, lbl)
    return out


def manifest(files: dict[str, tuple[Path, Path]], path: Path) -> None:
    """A user manifest naming both datasets, with their real sizes and sha256."""
    parts = []
    for kind, (img, lbl) in files.items():
        parts.append(f'[[datasets]]\nname = "bench-{kind}"\nclasses = {[str(d) for d in range(10)]!r}\n')
        for f, role in ((img, "images"), (lbl, "labels")):
            with open(f, "rb") as fh:
                sha = hashlib.file_digest(fh, "sha256").hexdigest()
            parts.append(
                f'[[datasets.files]]\nname = "{f.name}"\nsplit = "train"\nkind = "{role}"\n'
                f'sha256 = "{sha}"\nsize = {f.stat().st_size}\n'
            )
    head = f'family = "bench"\nurls = ["{files["gz"][0].parent.parent.as_uri()}/"]\n'
    path.write_text(head + "".join(parts).replace("'", '"'))


class _Hashing:
    """A file whose every read block also goes to sha256, in the reading thread."""

    def __init__(self, fh: BinaryIO, h: hashlib._Hash) -> None:
        self.fh, self.h = fh, h

    def read(self, size: int = -1) -> bytes:
        block = self.fh.read(size)
        self.h.update(block)
        return block

    def readinto(self, buffer: bytearray | memoryview) -> int:
        n = self.fh.readinto(buffer)
        self.h.update(memoryview(buffer)[:n])
        return n


def floor(paths: tuple[Path, ...], *, gz: bool) -> None:
    """Hash + decompress in one loop, one thread: each file read once, every block hashed
    and decompressed (isal, the decompressor idxtool uses, into one reused buffer)."""
    buffer = bytearray(4 << 20)
    for path in paths:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            if gz:
                with igzip.IGzipFile(fileobj=_Hashing(fh, h)) as stream:  # type: ignore[arg-type]
                    while stream.readinto(buffer):
                        pass
            else:
                while block := fh.read(BLOCK):
                    h.update(block)
        h.hexdigest()


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compare(label: str, base: Callable[[], object], mine: Callable[[], object], repeat: int) -> float:
    """Median of alternating runs; prints and returns mine / base."""
    a: list[float] = []
    b: list[float] = []
    for i in range(repeat):
        if i % 2:
            b.append(timed(mine))
            a.append(timed(base))
        else:
            a.append(timed(base))
            b.append(timed(mine))
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"{label:<44} baseline {ma:8.3f} s   idxtool {mb:8.3f} s   ratio {mb / ma:5.2f}x", flush=True)
    return mb / ma


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "datasets" / "mnist")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="idxtool-bench-verify-") as tmp:
        base = Path(tmp) / "cache"
        print(f"building {COUNT:,} x 28 x 28 images (.gz and raw) in {tmp} ...", flush=True)
        files = build(args.source, base)
        for kind, (img, lbl) in files.items():
            print(f"  {kind}: images {img.stat().st_size:,} bytes, labels {lbl.stat().st_size:,} bytes")
        registry = Path(tmp) / "bench.toml"
        manifest(files, registry)
        os.environ["IDXTOOL_REGISTRY"] = str(registry)
        os.environ["IDXTOOL_HOME"] = str(base)

        import idxtool
        from idxtool.fetching import fetch
        from idxtool.loading import read_splits

        ratios: dict[str, float] = {}
        for kind, paths in files.items():
            report = idxtool.verify(f"bench-{kind}")
            if not report.ok:
                raise SystemExit(f"verify failed: {[c.message() for c in report.failed]}")
            ratios[f"verify {kind}"] = compare(
                f"verify bench-{kind} vs hash+decompress floor",
                lambda p=paths, g=(kind == "gz"): floor(p, gz=g),
                lambda k=kind: idxtool.verify(f"bench-{k}"),
                args.repeat,
            )
        fetch(["bench-gz"])  # stamps every file
        img, lbl = files["gz"]
        exe = [sys.executable, "-m", "idxtool"]

        def cli(*argv: str) -> Callable[[], object]:
            return lambda: subprocess.run([*exe, *argv], check=True, stdout=subprocess.DEVNULL)

        ratios["inspect NAME"] = compare(
            "inspect bench-gz vs inspect IMAGES LABELS",
            cli("inspect", str(img), str(lbl)),
            cli("inspect", "bench-gz"),
            args.repeat,
        )

        def read_all(inputs: list[str]) -> Callable[[], object]:
            def run() -> None:
                splits, _ = read_splits(inputs)
                for part in splits.parts.values():
                    part.images  # noqa: B018  # every image decompressed

            return run

        ratios["read NAME"] = compare(
            "read_splits(bench-gz) vs read_splits(paths)",
            read_all([str(img), str(lbl)]),
            read_all(["bench-gz"]),
            args.repeat,
        )
        compare(
            "(scale) fetch rehash=True vs stamps (rehash=False)",
            lambda: fetch(["bench-gz"], rehash=False),
            lambda: fetch(["bench-gz"]),
            args.repeat,
        )
        print()
        for name, ratio in ratios.items():
            verdict = "ok" if ratio <= 1.1 else "OVER TARGET"
            print(f"{name:<14} {ratio:5.2f}x (target <= 1.10x): {verdict}")


if __name__ == "__main__":
    main()
