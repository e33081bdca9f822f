"""Benchmark idxtool's IDX reader against the fastest baselines, measured in the same run.

Builds a 60,000-image MNIST-shaped file from the real MNIST test images (tiled 6 times, as
../shared/datasets/README.md suggests), gzip level 6 and raw, then times:

  gzip: idxtool.read  vs  stdlib gzip + numpy, isal + numpy (whole buffer),
        isal streamed into a preallocated array (the fastest decompression we know)
  raw:  idxtool.read  vs  np.fromfile

and prints medians and ratios. Targets: gzip <= 1.15x the fastest baseline, raw <= 1.3x.

    python tests/benchmarks/bench_read.py [--repeat 9] [--source ../shared/datasets/mnist]
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import struct
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from isal import igzip

import idxtool

ROOT = Path(__file__).resolve().parents[2]
HEADER = 16
BODY = 60000 * 28 * 28


def build_inputs(source: Path, folder: Path) -> tuple[Path, Path]:
    """A 60,000 x 28 x 28 file from the real 10,000 test images, as .gz (level 6) and raw."""
    test = gzip.decompress((source / "t10k-images-idx3-ubyte.gz").read_bytes())
    data = struct.pack(">BBBBIII", 0, 0, 8, 3, 60000, 28, 28) + test[HEADER:] * 6
    gz, raw = folder / "train-images-idx3-ubyte.gz", folder / "train-images-idx3-ubyte"
    gz.write_bytes(gzip.compress(data, 6, mtime=0))
    raw.write_bytes(data)
    return gz, raw


def median_time(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm the page cache and the allocator
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def stdlib_gzip(path: Path) -> np.ndarray:
    return np.frombuffer(gzip.decompress(path.read_bytes()), np.uint8, offset=HEADER)


def isal_whole(path: Path) -> np.ndarray:
    return np.frombuffer(igzip.decompress(path.read_bytes()), np.uint8, offset=HEADER)


def isal_streamed(path: Path) -> np.ndarray:
    out = np.empty(BODY, np.uint8)
    view, filled = memoryview(out), 0
    with igzip.open(path, "rb") as fh:
        fh.read(HEADER)
        while filled < BODY:
            n = fh.readinto(view[filled : filled + (4 << 20)])
            if not n:
                break
            filled += n
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="Time idxtool.read against same-run baselines.")
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "datasets" / "mnist")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        gz, raw = build_inputs(args.source, Path(tmp))
        expected = idxtool.read(raw)
        assert np.array_equal(idxtool.read(gz), expected)
        assert np.array_equal(isal_streamed(gz).reshape(expected.shape), expected)
        print(f"input: 60,000 x 28 x 28 uint8; {gz.stat().st_size:,} bytes gzip, {raw.stat().st_size:,} raw")
        print(f"median of {args.repeat} runs\n")
        gz_times = {
            "idxtool.read (gzip)": median_time(lambda: idxtool.read(gz), args.repeat),
            "stdlib gzip + numpy": median_time(lambda: stdlib_gzip(gz), args.repeat),
            "isal whole buffer + numpy": median_time(lambda: isal_whole(gz), args.repeat),
            "isal streamed into array": median_time(lambda: isal_streamed(gz), args.repeat),
        }
        raw_times = {
            "idxtool.read (raw)": median_time(lambda: idxtool.read(raw), args.repeat),
            "np.fromfile": median_time(lambda: np.fromfile(raw, np.uint8, offset=HEADER), args.repeat),
        }
    for name, t in {**gz_times, **raw_times}.items():
        print(f"  {name:<28} {t * 1000:8.1f} ms")
    fastest_name = min((k for k in gz_times if not k.startswith("idxtool")), key=gz_times.__getitem__)
    gz_ratio = gz_times["idxtool.read (gzip)"] / gz_times[fastest_name]
    raw_ratio = raw_times["idxtool.read (raw)"] / raw_times["np.fromfile"]
    speedup = gz_times["stdlib gzip + numpy"] / gz_times["idxtool.read (gzip)"]
    print()
    print(
        f"gzip: idxtool / fastest baseline ({fastest_name}) = {gz_ratio:.2f}x  (target <= 1.15x)"
        f"  {'OK' if gz_ratio <= 1.15 else 'MISSED'}"
    )
    print(f"gzip: idxtool is {speedup:.2f}x faster than stdlib gzip + numpy")
    print(f"raw:  idxtool / np.fromfile = {raw_ratio:.2f}x  (target <= 1.3x)  {'OK' if raw_ratio <= 1.3 else 'MISSED'}")


if __name__ == "__main__":
    main()
