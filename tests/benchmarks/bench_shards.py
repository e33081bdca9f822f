"""Time and peak RSS of ``convert --to webdataset`` and ``--to parquet`` at 60,000 and 814,255 records.

Each command runs through the CLI in a child process (``python -m idxtool ...``); its peak RSS
is GNU ``/usr/bin/time``'s ``%M``. The input is the real MNIST test set (10,000 images) tiled
to the wanted count, written raw into a temporary folder. Baseline timed in the same run,
alternating with the measured commands: ``convert --to idx`` of the same pair (read, write
the same bytes: the floor of any streaming conversion). Figures are medians.

Run: ``python tests/benchmarks/bench_shards.py [--sizes 60000,814255] [--repeat 3]``.
``BENCH_TMP`` chooses where inputs and outputs go (default: the system temp folder).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("IDXTOOL_SHARED_DATASETS", ROOT.parent / "shared" / "datasets"))
sys.path.insert(0, str(ROOT))

import idxtool  # noqa: E402


def build(folder: Path, count: int) -> tuple[Path, Path]:
    x10 = idxtool.read(SHARED / "mnist" / "t10k-images-idx3-ubyte.gz")
    y10 = idxtool.read(SHARED / "mnist" / "t10k-labels-idx1-ubyte.gz")
    reps = -(-count // len(x10))
    images, labels = folder / "images-idx3-ubyte", folder / "labels-idx1-ubyte"
    idxtool.write(images, np.tile(x10, (reps, 1, 1))[:count])
    idxtool.write(labels, np.tile(y10, reps)[:count])
    return images, labels


def run(args: list[str], out: Path) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of ``idxtool ARGS -o OUT`` in a child process."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = ["/usr/bin/time", "-f", "%M", sys.executable, "-m", "idxtool", *args, "-o", str(out)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {proc.stderr}")
    return seconds, int(proc.stderr.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="60000,814255")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    base = Path(os.environ.get("BENCH_TMP", tempfile.gettempdir()))
    with tempfile.TemporaryDirectory(dir=base, prefix="bench-shards-") as tmp:
        folder = Path(tmp)
        for count in (int(s) for s in args.sizes.split(",")):
            images, labels = build(folder, count)
            pair = [str(images), str(labels)]
            commands = {
                "idx (baseline)": ["convert", *pair, "--to", "idx"],
                "webdataset": ["convert", *pair, "--to", "webdataset"],
                "parquet": ["convert", *pair, "--to", "parquet"],
            }
            figures: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
            for _ in range(args.repeat):  # alternate: each round runs every command once
                for name, cmd in commands.items():
                    figures[name].append(run(cmd, folder / "out"))
            floor = statistics.median(t for t, _ in figures["idx (baseline)"])
            print(f"{count:,} records")
            for name, runs in figures.items():
                seconds = statistics.median(t for t, _ in runs)
                rss = max(r for _, r in runs)
                print(f"  {name:16} {seconds:7.2f} s  {seconds / floor:5.1f}x baseline  peak RSS {rss:6.0f} MB")
            shutil.rmtree(folder / "out", ignore_errors=True)


if __name__ == "__main__":
    main()
