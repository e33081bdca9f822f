"""Build the embedded ``mnist-sample`` dataset from the real MNIST test set.

The sample is the first 10 images of each digit in the MNIST test set (t10k), kept in their
original order: 100 images and their labels, written as gzip-compressed IDX files into
``idxtool/data/mnist-sample/``. Output is byte-for-byte reproducible (gzip mtime 0).

    python tests/make_sample.py [--source ../shared/datasets/mnist]

MNIST: Yann LeCun, Corinna Cortes, Christopher J.C. Burges. CC BY-SA 3.0.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import idxtool

ROOT = Path(__file__).resolve().parents[1]
PER_CLASS = 10


def first_per_class(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Indices of the first ``per_class`` records of each label, in file order."""
    picked = [np.flatnonzero(labels == value)[:per_class] for value in np.unique(labels)]
    return np.sort(np.concatenate(picked))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "datasets" / "mnist")
    parser.add_argument("--out", type=Path, default=ROOT / "idxtool" / "data" / "mnist-sample")
    args = parser.parse_args()
    images = idxtool.read(args.source / "t10k-images-idx3-ubyte.gz")
    labels = idxtool.read(args.source / "t10k-labels-idx1-ubyte.gz")
    keep = first_per_class(labels, PER_CLASS)
    idxtool.write(args.out / "sample-images-idx3-ubyte.gz", images[keep])
    idxtool.write(args.out / "sample-labels-idx1-ubyte.gz", labels[keep])
    print(f"wrote {len(keep)} images to {args.out}")


if __name__ == "__main__":
    main()
