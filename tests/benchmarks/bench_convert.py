"""Benchmark convert/export-png against same-run baselines on a 60,000-image MNIST-sized input.

The input is the real MNIST test set (10,000 images) tiled 6 times, header count 60000, in a
temporary folder. Figures are medians of several runs; each ratio compares with a baseline
measured in the same run on the same machine:

- CSV:  idxtool's vectorised writer vs ``numpy.savetxt`` (60,000 rows, label + 784 pixels)
- PNG:  ``export_png`` (one core, all cores) vs a single-process Pillow ``Image.save`` loop
        (10,000 real test images, runs interleaved, each into a new folder), on the temp
        folder's disk and on /dev/shm (tmpfs; ``BENCH_PNG_DIRS`` overrides)
- NPZ:  idxtool's .npz writer vs ``numpy.savez`` (stored) and ``numpy.savez_compressed`` (deflate)

Run: ``python tests/benchmarks/bench_convert.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("IDXTOOL_SHARED_DATASETS", ROOT.parent / "shared" / "datasets"))
sys.path.insert(0, str(ROOT))

import idxtool  # noqa: E402
from idxtool.conversion import PngOptions, export_png  # noqa: E402
from idxtool.formats import csv, npz  # noqa: E402
from idxtool.model import Part, Splits  # noqa: E402


def median_time(fn: Callable[[], object], repeat: int, before: Callable[[], object] | None = None) -> float:
    times = []
    for _ in range(repeat):
        if before is not None:
            before()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def with_suppress_unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError, IsADirectoryError):
        path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (median reported)")
    args = parser.parse_args()
    images_path = SHARED / "mnist" / "t10k-images-idx3-ubyte.gz"
    labels_path = SHARED / "mnist" / "t10k-labels-idx1-ubyte.gz"
    if not images_path.exists():
        sys.exit(f"real MNIST files not found under {SHARED}")
    x10, y10 = idxtool.read(images_path), idxtool.read(labels_path)
    with tempfile.TemporaryDirectory(prefix="bench-convert-", dir=os.environ.get("BENCH_TMP")) as tmp_name:
        tmp = Path(tmp_name)
        # the 60,000-image input: real test images tiled 6 times, header count 60000
        idxtool.write(tmp / "train-images-idx3-ubyte", np.tile(x10, (6, 1, 1)))
        idxtool.write(tmp / "train-labels-idx1-ubyte", np.tile(y10, 6))
        x, y = idxtool.read(tmp / "train-images-idx3-ubyte"), idxtool.read(tmp / "train-labels-idx1-ubyte")
        assert x.shape == (60000, 28, 28)
        pair = Splits({"": Part(x, y)})
        rows = np.concatenate([y[:, None], x.reshape(len(x), -1)], axis=1)
        print(
            f"input: {x.shape[0]:,} x 28 x 28 uint8 (real MNIST test images x 6); {os.cpu_count()} cores; "
            f"median of {args.repeat}"
        )

        # -- CSV ----------------------------------------------------------------------------
        out = tmp / "out.csv"
        t_idx = median_time(lambda: csv.write(out, pair, "none"), args.repeat, lambda: with_suppress_unlink(out))
        ours = out.read_bytes()
        t_np = median_time(lambda: np.savetxt(out, rows, fmt="%d", delimiter=","), max(1, args.repeat // 2))
        assert out.read_bytes() == ours, "CSV text differs from numpy.savetxt"
        print(
            f"CSV  60,000 rows: idxtool {t_idx:6.2f} s   np.savetxt {t_np:6.2f} s   "
            f"{t_np / t_idx:5.1f}x faster  (identical bytes, {len(ours) / 1e6:.0f} MB)"
        )

        # -- NPZ ----------------------------------------------------------------------------
        npzf = tmp / "out.npz"
        for label, compress, baseline in (
            ("stored ", False, lambda: np.savez(npzf, x=x, y=y)),
            ("deflate", True, lambda: np.savez_compressed(npzf, x=x, y=y)),
        ):
            t_ours = median_time(lambda c=compress: npz.write(npzf, pair, compress=c), args.repeat)
            size_ours = npzf.stat().st_size
            t_base = median_time(baseline, args.repeat)
            size_base = npzf.stat().st_size
            name = "np.savez" if not compress else "np.savez_compressed"
            print(
                f"NPZ  {label}: idxtool {t_ours:6.2f} s ({size_ours / 1e6:5.1f} MB)   {name} {t_base:6.2f} s "
                f"({size_base / 1e6:5.1f} MB)   {t_base / t_ours:5.1f}x"
            )

        # -- PNG ----------------------------------------------------------------------------
        (tmp / "png").mkdir()
        png_bench(x10, y10, tmp / "png", args.repeat)
        for extra in filter(None, os.environ.get("BENCH_PNG_DIRS", "/dev/shm").split(os.pathsep)):
            if Path(extra).is_dir() and os.access(extra, os.W_OK):
                with tempfile.TemporaryDirectory(prefix="bench-png-", dir=extra) as other:
                    png_bench(x10, y10, Path(other), args.repeat)


def png_bench(x10: np.ndarray, y10: np.ndarray, where: Path, repeat: int) -> None:
    """Pillow loop vs export_png, interleaved; every run writes a never-used folder.

    Deleting 10,000 files between runs makes the next run wait for the file system (on a
    disk mounted with ``discard`` badly so); all trees are removed after the timings instead.
    """
    from PIL import Image

    real = Splits({"": Part(x10, y10)})
    counter = iter(range(1_000_000))

    def pillow_loop() -> None:
        tree = where / f"pil{next(counter)}"
        tree.mkdir()
        for label in range(10):
            (tree / str(label)).mkdir()
        for i, (image, label) in enumerate(zip(x10, y10.tolist(), strict=False)):
            Image.fromarray(image).save(tree / str(label) / f"{i:04d}.png")

    def ours(jobs: int) -> Callable[[], object]:
        return lambda: export_png(real, where / f"idx{next(counter)}", options=PngOptions(jobs=jobs))

    cores = os.cpu_count() or 1
    runs: dict[str, list[float]] = {"pillow": [], "1": [], str(cores): []}
    os.sync()
    for _ in range(repeat):
        for key, fn in (("pillow", pillow_loop), ("1", ours(1)), (str(cores), ours(cores))):
            start = time.perf_counter()
            fn()
            runs[key].append(time.perf_counter() - start)
    for child in where.iterdir():
        shutil.rmtree(child)
    n = len(x10)
    t_pil = statistics.median(runs["pillow"])
    print(f"PNG  10,000 real images in {where} ({_fs_type(where)}): Pillow loop {n / t_pil:8,.0f} images/s")
    for jobs in ("1", str(cores)):
        t = statistics.median(runs[jobs])
        print(f"     idxtool --jobs {jobs}: {n / t:8,.0f} images/s   {t_pil / t:4.1f}x the Pillow loop")


def _fs_type(path: Path) -> str:
    best, kind = "", "?"
    try:
        with open("/proc/mounts") as fh:
            for line in fh:
                _, mount, fstype, *_ = line.split()
                if str(path).startswith(mount) and len(mount) > len(best):
                    best, kind = mount, fstype
    except OSError:
        pass
    return kind


if __name__ == "__main__":
    main()
