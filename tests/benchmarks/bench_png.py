"""Benchmark ``idxtool export-png`` against the file system's floor, with peak memory.

Input: the real MNIST test images (../shared/datasets) tiled to N records (60,000 and
EMNIST byclass's 814,255), raw IDX in a temporary folder, labels 0..46 (the real label plus
10 x the tile number, modulo 47: 47 class folders, as EMNIST balanced).

Each figure compares with a baseline timed in the same run, runs alternating, medians reported:

- floor: a child process creating the same files (same folders, names and PNG bytes, encoded
  beforehand and not timed) with plain ``os.open``/``os.write``/``os.close`` on tmpfs
  (``/dev/shm``; ``BENCH_PNG_DIR`` overrides). Only its loop is timed.
- idxtool: ``python -m idxtool export-png IMAGES LABELS -o DIR -j J``, the whole child
  process timed (start-up, reading, encoding, labels.csv, the final rename), peak RSS from
  ``os.wait4``'s resource usage of that child.

Children run as an installed idxtool does, from cached byte code: a machine that sets
``PYTHONDONTWRITEBYTECODE`` (as CI sandboxes do) would otherwise compile idxtool's sources
at every start of an editable install, ~40 ms that no installed copy pays. The byte code goes
to a temporary ``PYTHONPYCACHEPREFIX``, written by an untimed warm-up run.

With ``--gzip`` the input files are gzip-compressed (as a fetched dataset's are): workers then
decompress up to their share instead of reading from it, against the same floor.

Run: ``python tests/benchmarks/bench_png.py [--sizes 60000,814255] [--repeat 3] [--jobs 1,2] [--gzip]``.
"""

from __future__ import annotations

import argparse
import gzip
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

FLOOR = r"""
import os, sys, time
import numpy as np
sys.path.insert(0, sys.argv[4])
from idxtool.formats.png import encoder
images = np.fromfile(sys.argv[1], np.uint8, offset=16).reshape(-1, 28, 28)
labels = np.fromfile(sys.argv[2], np.uint8, offset=8)
out = sys.argv[3]
unique = [encoder.encode(im) for im in images[:10000]]
width = len(str(len(images) - 1))
names = sorted({int(v) for v in labels})
start = time.perf_counter()
os.mkdir(out)
for v in names:
    os.mkdir(os.path.join(out, f"{v:02d}"))
flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
for i, v in enumerate(labels.tolist()):
    fd = os.open(f"{out}/{v:02d}/{i:0{width}d}.png", flags, 0o666)
    os.write(fd, unique[i % 10000])
    os.close(fd)
print(time.perf_counter() - start)
"""


def make_input(folder: Path, count: int) -> tuple[Path, Path]:
    """Raw IDX images and labels of ``count`` records, tiled from the real MNIST test set."""
    with gzip.open(SHARED / "mnist" / "t10k-images-idx3-ubyte.gz") as fh:
        real = np.frombuffer(fh.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(SHARED / "mnist" / "t10k-labels-idx1-ubyte.gz") as fh:
        real_labels = np.frombuffer(fh.read(), np.uint8, offset=8)
    tiles = -(-count // len(real))
    images_path, labels_path = folder / f"images-{count}.idx", folder / f"labels-{count}.idx"
    with open(images_path, "wb") as fh:
        fh.write(b"\x00\x00\x08\x03" + np.array([count, 28, 28], ">u4").tobytes())
        left = count
        for _ in range(tiles):
            fh.write(real[: min(left, len(real))].tobytes())
            left -= len(real)
    labels = np.concatenate([(real_labels.astype(np.int64) + 10 * t) % 47 for t in range(tiles)])[:count]
    labels_path.write_bytes(
        b"\x00\x00\x08\x01" + np.array([count], ">u4").tobytes() + labels.astype(np.uint8).tobytes()
    )
    return images_path, labels_path


ENV = dict(os.environ)


def cache_byte_code(folder: Path) -> None:
    """Children read byte code cached in ``folder``, as from an installed copy (see above)."""
    ENV.pop("PYTHONDONTWRITEBYTECODE", None)
    ENV["PYTHONPYCACHEPREFIX"] = str(folder)


def run_child(argv: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) and stdout of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    out, err = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{argv}: exit {proc.returncode}: {err.decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024, out.decode()


def compressed(path: Path) -> Path:
    """``path`` gzip-compressed beside it (level 6, as published files are)."""
    target = path.with_name(path.name + ".gz")
    with open(path, "rb") as src, gzip.open(target, "wb", compresslevel=6) as dst:
        shutil.copyfileobj(src, dst, 1 << 22)
    return target


def command(images: Path, labels: Path, out: Path) -> list[str]:
    """``idxtool export-png`` of ``images`` and ``labels`` into ``out``, to be followed by the job count."""
    return [sys.executable, "-m", "idxtool", "export-png", str(images), str(labels), "-o", str(out), "-j"]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="60000,814255")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", default="1,2", help="job counts to compare")
    parser.add_argument("--gzip", action="store_true", help="gzip-compressed input files")
    args = parser.parse_args()
    where = Path(os.environ.get("BENCH_PNG_DIR", "/dev/shm"))
    jobs = [int(j) for j in args.jobs.split(",")]
    with tempfile.TemporaryDirectory(dir=where, prefix="bench-png-") as tmp:
        base = Path(tmp)
        cache_byte_code(base / "pycache")
        images, labels = make_input(base, 1000)
        for warm_up in (
            [sys.executable, "-c", "import numpy, idxtool.cli"],
            [*command(images, labels, base / "w"), "1"],
        ):
            run_child(warm_up)
        for count in [int(s) for s in args.sizes.split(",")]:
            images, labels = make_input(base, count)
            sources = [images, labels]
            if args.gzip:
                sources = [compressed(images), compressed(labels)]
            floors: list[float] = []
            times: dict[int, list[float]] = {j: [] for j in jobs}
            rss: dict[int, list[float]] = {j: [] for j in jobs}
            for r in range(args.repeat):
                out = base / f"floor{r}"
                floors.append(
                    float(run_child([sys.executable, "-c", FLOOR, str(images), str(labels), str(out), str(ROOT)])[2])
                )
                shutil.rmtree(out)
                for j in jobs:
                    out = base / f"idx{r}-{j}"
                    wall, peak, _ = run_child([*command(*sources, out), str(j)])
                    times[j].append(wall)
                    rss[j].append(peak)
                    shutil.rmtree(out)
            floor = statistics.median(floors)
            kind = "gzip" if args.gzip else "raw"
            print(f"{count:,} images ({kind} IDX) on {where}: floor (os.open/os.write) {floor:.2f} s")
            for j in jobs:
                t = statistics.median(times[j])
                print(
                    f"  export-png -j {j}: {t:.2f} s = {t / floor:.2f}x the floor; "
                    f"peak RSS {max(rss[j]):.0f} MB (runs: {', '.join(f'{x:.2f}' for x in times[j])})"
                )
            for path in {images, labels, *sources}:
                path.unlink()


if __name__ == "__main__":
    main()
