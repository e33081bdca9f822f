"""Time and peak RSS of each command at MNIST size (60,000) and EMNIST byclass size (814,255).

Every command runs through the CLI in a child process (``python -m idxtool ...``); its peak
RSS is measured by GNU ``/usr/bin/time`` (``%M``), so nothing of this process is counted.
The inputs are the real MNIST test images (10,000) tiled to the wanted count, written raw
into a temporary folder (never committed): an IDX pair for convert/split/export-png, and an
IDX folder with ``train-*`` (N records) and ``test-*`` (the 10,000 real ones) for pkl, which
needs train and test splits.

Baselines timed in the same run: ``cat`` of the images file (the read floor) and, for CSV,
``numpy.savetxt`` of the same rows (at 60k on all rows; at 814k on the first 60k rows, scaled
up by the row count) with idxtool's CSV writer timed on the same rows in memory (median of
alternating runs).

Run: ``python tests/benchmarks/bench_scale.py [--sizes 60000,814255] [--skip export-png]``.
``BENCH_TMP`` chooses where inputs and outputs go (default: the system temp folder).
"""

from __future__ import annotations

import argparse
import io
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
from idxtool.formats import csv  # noqa: E402
from idxtool.model import Part  # noqa: E402

LIMIT_MB = 250


def build(folder: Path, count: int) -> tuple[Path, Path]:
    """The real test images tiled to ``count`` records: a pair, and a train/test IDX folder."""
    x10 = idxtool.read(SHARED / "mnist" / "t10k-images-idx3-ubyte.gz")
    y10 = idxtool.read(SHARED / "mnist" / "t10k-labels-idx1-ubyte.gz")
    reps = -(-count // len(x10))
    pair = folder / "pair"
    pair.mkdir()
    idxtool.write(pair / "images-idx3-ubyte", np.tile(x10, (reps, 1, 1))[:count])
    idxtool.write(pair / "labels-idx1-ubyte", np.tile(y10, reps)[:count])
    splits = folder / "splits"
    splits.mkdir()
    for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
        os.link(pair / kind, splits / f"train-{kind}")
    idxtool.write(splits / "test-images-idx3-ubyte", x10)
    idxtool.write(splits / "test-labels-idx1-ubyte", y10)
    return pair, splits


def run(args: list[str], tmp: Path) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of ``python -m idxtool ARGS`` in a child process.

    GNU time measures the peak: a child forked from this (large) process would count the
    pages it shared before ``exec``.
    """
    report = tmp / "rss.txt"
    start = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-o", str(report), "-f", "%M", sys.executable, "-m", "idxtool", "-q", *args],
        stderr=subprocess.PIPE,
        check=False,
    )
    seconds = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"idxtool {' '.join(args)} failed ({proc.returncode}): {proc.stderr.decode()}")
    return seconds, int(report.read_text().split()[-1]) / 1024


def floor(path: Path) -> float:
    start = time.perf_counter()
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def csv_ratio(pair: Path, repeat: int) -> tuple[float, float, int]:
    """np.savetxt time / idxtool CSV time on the same rows (at most 60,000), alternating runs."""
    x = idxtool.read(pair / "images-idx3-ubyte")[:60000]
    y = idxtool.read(pair / "labels-idx1-ubyte")[:60000]
    rows = np.concatenate([y[:, None], x.reshape(len(x), -1)], axis=1)
    part = Part(x, y)
    ours, theirs = [], []
    for _ in range(repeat):
        sink = io.BytesIO()
        start = time.perf_counter()
        csv.write_part(sink, part)
        ours.append(time.perf_counter() - start)
        ref = io.BytesIO()
        start = time.perf_counter()
        np.savetxt(ref, rows, fmt="%d", delimiter=",", header=sink.getvalue().split(b"\n", 1)[0].decode(), comments="")
        theirs.append(time.perf_counter() - start)
        if ref.getvalue() != sink.getvalue():
            sys.exit("CSV output differs from numpy.savetxt's")
    return statistics.median(theirs), statistics.median(ours), len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="60000,814255", help="record counts, comma-separated")
    parser.add_argument("--skip", default="", help="commands to leave out, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the CSV ratio (median)")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    if not (SHARED / "mnist" / "t10k-images-idx3-ubyte.gz").exists():
        sys.exit(f"real MNIST files not found under {SHARED}")
    rows: list[tuple[int, str, float, float]] = []
    notes = []
    for count in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="bench-scale-", dir=os.environ.get("BENCH_TMP")) as tmp_name:
            tmp = Path(tmp_name)
            pair, splits = build(tmp, count)
            images, labels = str(pair / "images-idx3-ubyte"), str(pair / "labels-idx1-ubyte")
            out = tmp / "out"
            commands = {
                "convert npz": ["convert", images, labels, "--to", "npz", "-o", str(out) + ".npz"],
                "convert npz raw": [
                    "convert", images, labels, "--to", "npz", "--compression", "raw", "-o", str(out) + "-raw.npz",
                ],
                "convert npy": ["convert", images, labels, "--to", "npy", "-o", str(out) + "-npy"],
                "convert csv": ["convert", images, labels, "--to", "csv", "-o", str(out) + ".csv"],
                "convert idx": ["convert", images, labels, "--to", "idx", "-o", str(out) + "-idx"],
                "convert idx gzip": [
                    "convert", images, labels, "--to", "idx", "--compression", "gzip", "-o", str(out) + "-idxgz",
                ],
                "convert pkl": ["convert", str(splits), "--to", "pkl", "-o", str(out) + ".pkl"],
                "split": ["split", images, labels, "--ratio", "0.9", "-o", str(out) + "-split"],
                "export-png": ["export-png", images, labels, "-o", str(out) + "-png"],
            }  # fmt: skip
            read_floor = floor(pair / "images-idx3-ubyte")
            rows.append((count, "cat images (read floor)", read_floor, 0.0))
            for name, command in commands.items():
                if name.split()[0] in skip or name in skip:
                    continue
                seconds, peak = run(command, tmp)
                rows.append((count, name, seconds, peak))
                for p in tmp.iterdir():  # free the disk (tmpfs) between commands
                    if p.name.startswith("out"):
                        shutil.rmtree(p) if p.is_dir() else p.unlink()
            if "csv" not in skip:
                savetxt, ours, n = csv_ratio(pair, args.repeat)
                notes.append(
                    f"{count:,}: CSV writer {ours:.2f} s vs numpy.savetxt {savetxt:.2f} s on {n:,} rows in memory: "
                    f"{savetxt / ours:.1f}x faster"
                )
                cli = next((s for c, name, s, _ in rows if c == count and name == "convert csv"), None)
                if cli is not None:
                    whole = savetxt * count / n
                    notes.append(
                        f"{count:,}: convert --to csv (CLI, reading included) {cli:.2f} s vs numpy.savetxt "
                        f"{whole:.2f} s ({'measured' if n == count else 'per-row time x rows'}): {whole / cli:.1f}x faster"
                    )
    pkl_size = {c: (c + 10000) * 784 * 4 / 2**20 for c, *_ in rows}  # train + test, float32
    print(f"{os.cpu_count()} cores; peak RSS limit for streamed commands {LIMIT_MB} MB")
    print(f"{'records':>9}  {'command':<24} {'seconds':>8} {'peak RSS MB':>12}")
    for count, name, seconds, peak in rows:
        extra = ""
        if name == "convert pkl":
            extra = f"  ({peak / pkl_size[count]:.2f}x the float32 size {pkl_size[count]:.0f} MB)"
        elif peak and name != "export-png":
            extra = "  ok" if peak <= LIMIT_MB else "  OVER"
        print(f"{count:>9,}  {name:<24} {seconds:>8.2f} {peak:>12.0f}{extra}")
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
