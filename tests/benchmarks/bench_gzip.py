"""Benchmark idxtool's threaded gzip writer against ``pigz -p N`` (N = cores), timed in the same run.

Builds an EMNIST-size image array (814,255 x 28 x 28 uint8, 638 MB) by tiling the real MNIST
test images from ../shared/datasets, in a temporary folder, then alternates:

  pigz:    ``pigz -p N -6 -c -n -T RAW > OUT`` (the raw IDX file, read from the page cache),
           then fsync of OUT, as idxtool.write syncs its output before renaming it into place
  idxtool: ``idxtool.write(OUT.gz, array)`` (the same IDX bytes, gzip level 6, N threads)

and prints medians, the ratio idxtool / pigz (target <= 1.1) and, once, Python's
single-threaded ``gzip`` module for reference. It checks that every idxtool output is the same
bytes, that ``gzip -t`` accepts it and that idxtool reads back the array. Skips (exit 0, with the
reason) when pigz is not installed: ``apt-get install pigz``.

    python tests/benchmarks/bench_gzip.py [--repeat 3] [--records 814255] [--threads N]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import idxtool
from idxtool import compress

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT.parent / "shared" / "datasets" / "mnist" / "t10k-images-idx3-ubyte.gz"


def build_array(records: int) -> np.ndarray:
    """``records`` x 28 x 28 images tiled from the real 10,000 MNIST test images."""
    test = idxtool.read(SOURCE)
    reps = -(-records // len(test))
    return np.ascontiguousarray(np.tile(test, (reps, 1, 1))[:records])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--records", type=int, default=814_255)
    parser.add_argument("--threads", type=int, default=compress.default_threads())
    parser.add_argument("--no-stdlib", action="store_true", help="skip the single-threaded reference run")
    args = parser.parse_args()
    pigz = shutil.which("pigz")
    if pigz is None:
        print("SKIP: pigz is not installed (apt-get install pigz)")
        return 0
    if not SOURCE.is_file():
        print(f"SKIP: real MNIST test images not found at {SOURCE}")
        return 0
    n = args.threads
    array = build_array(args.records)
    with tempfile.TemporaryDirectory(dir=ROOT.parent if (ROOT.parent).is_dir() else None) as tmp:
        folder = Path(tmp)
        raw = idxtool.write(folder / "images-idx3-ubyte", array)
        size = raw.stat().st_size
        print(f"input: {array.shape[0]:,} x 28 x 28 uint8 = {size / 1e6:,.1f} MB IDX; {n} threads; pigz {pigz}")

        cpu: dict[str, list[float]] = {"pigz": [], "idxtool": []}

        def children_cpu() -> float:
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            return usage.ru_utime + usage.ru_stime

        def run_pigz() -> float:
            started, cpu_started = time.perf_counter(), children_cpu()
            with open(folder / "pigz.gz", "wb") as out:
                subprocess.run([pigz, "-p", str(n), "-6", "-c", "-n", "-T", str(raw)], stdout=out, check=True)
                os.fsync(out.fileno())  # idxtool.write syncs its output before renaming it into place
            cpu["pigz"].append(children_cpu() - cpu_started)
            return time.perf_counter() - started

        digests = set()

        def run_idxtool() -> float:
            target = folder / "idxtool.gz"
            target.unlink(missing_ok=True)
            started, cpu_started = time.perf_counter(), time.process_time()
            idxtool.write(target, array, threads=n)
            seconds = time.perf_counter() - started
            cpu["idxtool"].append(time.process_time() - cpu_started)
            digests.add(hashlib.sha256(target.read_bytes()).hexdigest())
            return seconds

        times: dict[str, list[float]] = {"pigz": [], "idxtool": []}
        for _ in range(args.repeat):  # alternate, so both see the same machine load
            times["pigz"].append(run_pigz())
            times["idxtool"].append(run_idxtool())
        pigz_s, ours_s = statistics.median(times["pigz"]), statistics.median(times["idxtool"])
        ours_size, pigz_size = (folder / "idxtool.gz").stat().st_size, (folder / "pigz.gz").stat().st_size
        print(f"pigz -p {n}:        median {pigz_s:6.2f} s  {size / pigz_s / 1e6:6.1f} MB/s  {pigz_size:,} bytes")
        print(f"idxtool.write:     median {ours_s:6.2f} s  {size / ours_s / 1e6:6.1f} MB/s  {ours_size:,} bytes")
        print(f"ratio idxtool / pigz: {ours_s / pigz_s:.2f}x wall (target <= 1.10x); runs {times}")
        pigz_cpu, ours_cpu = statistics.median(cpu["pigz"]), statistics.median(cpu["idxtool"])
        print(
            f"CPU time: pigz {pigz_cpu:.2f} s, idxtool {ours_cpu:.2f} s = {ours_cpu / pigz_cpu:.2f}x (load-independent)"
        )
        if not args.no_stdlib:
            started = time.perf_counter()
            with open(folder / "stdlib.gz", "wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", compresslevel=6) as gz:
                gz.write(raw.read_bytes())
            stdlib_s = time.perf_counter() - started
            print(f"stdlib gzip (1 thread, reference): {stdlib_s:6.2f} s = {stdlib_s / ours_s:.2f}x idxtool")
        check = subprocess.run(["gzip", "-t", str(folder / "idxtool.gz")], capture_output=True, text=True)
        same = len(digests) == 1
        back = np.array_equal(idxtool.read(folder / "idxtool.gz"), array)
        print(
            f"same bytes every run: {same}; gzip -t: {'ok' if check.returncode == 0 else check.stderr}; read back: {back}"
        )
        return 0 if same and back and check.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
