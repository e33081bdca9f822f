"""The 8-bit grayscale PNG encoder: Pillow decodes every file to the source pixels."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

import idxtool
from idxtool.formats.png import encoder as pngwriter


def decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        assert im.mode == "L"
        return np.asarray(im)


@given(arrays(np.uint8, st.tuples(st.integers(1, 40), st.integers(1, 40))), st.sampled_from([0, 1, 3, 6, 9]))
@settings(max_examples=60, deadline=None)
def test_pillow_decodes_the_same_pixels(image: np.ndarray, level: int) -> None:
    assert np.array_equal(decode(pngwriter.encode(image, level)), image)


def test_real_digits_round_trip_and_verify(mnist_images: Path, tmp_path: Path) -> None:
    x = idxtool.open_idx(mnist_images).chunks(200).__next__()
    paths = [str(tmp_path / f"{i}.png") for i in range(len(x))]
    pngwriter.write_batch(paths, x)
    for path, image in zip(paths, x, strict=False):
        with Image.open(path) as im:
            im.verify()  # checks every chunk's CRC
        assert np.array_equal(np.asarray(Image.open(path)), image)


def test_rejects_what_is_not_8_bit_grayscale() -> None:
    with pytest.raises(ValueError, match="expected a 2-d uint8 image, got 2-d int16"):
        pngwriter.encode(np.zeros((2, 2), np.int16))
    with pytest.raises(ValueError, match="compression level must be 0-9"):
        pngwriter.deflate(b"", 10)
