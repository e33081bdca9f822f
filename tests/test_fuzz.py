"""Fuzzing the IDX reader with a seeded corpus built from the real files in ../shared/datasets.

Every failure of open_idx / read / chunks / value_chunks / record / check_body must be an
IdxError naming the input (InvalidIdxError for bad data), never another exception, never a
hang, and memory must stay bounded by the chunk size and the data present, not by what a
header declares. The CLI must print one ``Error:`` line and no traceback for each bad file.

The corpus is built by tests/fuzz_corpus.py; tests/benchmarks/fuzz_large.py runs thousands.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import fuzz_corpus
import numpy as np
import pytest

import idxtool
from idxtool import idx
from idxtool.errors import DataError, InvalidIdxError, ParameterError


@pytest.fixture(scope="module")
def corpus(shared: Path) -> list[fuzz_corpus.Case]:
    return fuzz_corpus.build(shared, seed=1234)


def test_corpus_covers_every_family(corpus: list[fuzz_corpus.Case], shared: Path) -> None:
    names = [name for name, _ in corpus]
    for family in (":flip", ":cut", ":zcut", ":magic", ":type", ":ndim65", ":ndim0", ":valid65d", ":dim0="):
        assert any(family in n for n in names), family
    for family in (":gzipx2", ":xz+corrupt", ":bz2+cut", ":bomb", "big-record"):
        assert any(family in n for n in names), family
    assert len(corpus) > 500
    assert fuzz_corpus.build(shared, seed=1234) == corpus  # seeded: the same corpus every run
    assert fuzz_corpus.build(shared, seed=1235) != corpus


@pytest.mark.parametrize("op", list(fuzz_corpus.OPS))
def test_only_idx_errors_no_hang_bounded_memory(corpus: list[fuzz_corpus.Case], op: str, tmp_path: Path) -> None:
    cases = fuzz_corpus.sample(corpus, 260, seed=list(fuzz_corpus.OPS).index(op))
    problems = []
    for i, (name, data) in enumerate(cases):
        problem = fuzz_corpus.run_case(name, data, op, tmp_path, as_path=i % 2 == 0)
        if problem:
            problems.append(f"{name}: {problem}")
    assert not problems, "\n".join(problems[:20])


def test_valid_files_of_unusual_rank(shared: Path, tmp_path: Path) -> None:
    """A valid 0-d file reads as a scalar; a 65-d file is a DataError for arrays, flat values work."""
    labels = fuzz_corpus.seeds(shared)[1][1]
    scalar = fuzz_corpus.header(0x08, ()) + labels[8:9]
    assert idxtool.read(io.BytesIO(scalar)).shape == ()
    path = tmp_path / "scalar.idx"
    path.write_bytes(scalar)
    with idxtool.open_idx(path) as f:
        assert f.record(0) == labels[8] and f.record(-1).shape == ()
    body = labels[8:]
    deep = fuzz_corpus.header(0x08, (len(body), *[1] * 64)) + body
    (tmp_path / "deep.idx").write_bytes(deep)
    for source in (lambda: io.BytesIO(deep), lambda: tmp_path / "deep.idx"):
        with pytest.raises(DataError, match=r"has 65 dimensions.*numpy allows at most 64"):
            idxtool.read(source(), name="deep")  # type: ignore[arg-type]
        with idxtool.open_idx(source(), name="deep") as f:  # type: ignore[arg-type]
            assert np.concatenate(list(f.value_chunks(7))).tobytes() == body
        with idxtool.open_idx(source(), name="deep") as f:  # type: ignore[arg-type]
            record = f.record(3)
            assert record.shape == (1,) * 64 and int(record.reshape(-1)[0]) == body[3]
        with idxtool.open_idx(source(), name="deep") as f:  # type: ignore[arg-type]
            f.check_body()


def test_value_chunks_bounded_by_values_not_record(tmp_path: Path) -> None:
    """One valid 256 MiB record in a small gzip: value_chunks and check_body stay at one chunk."""
    size = 256 << 20
    data = gzip.compress(fuzz_corpus.header(0x08, (1, 4, size // 4)) + bytes(size), 1, mtime=0)
    path = tmp_path / "big.gz"
    path.write_bytes(data)
    assert len(data) < 2 << 20
    tracemalloc.start()
    try:
        total = 0
        with idxtool.open_idx(path) as f:
            for chunk in f.value_chunks(1 << 20):
                assert chunk.ndim == 1 and chunk.size <= 1 << 20
                total += chunk.size
        value_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        with idxtool.open_idx(path) as f:
            f.check_body()
        check_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total == size
    assert value_peak < 8 << 20, value_peak
    assert check_peak < 4 * idx.CHUNK_BYTES, check_peak  # one reused chunk, plus the decompressor


def test_chunks_allocate_only_the_data_present(tmp_path: Path) -> None:
    """A small xz declaring a 2**62-byte record holding 64 MiB: chunks() costs about the data, not more."""
    import lzma

    present = 64 << 20
    data = lzma.compress(fuzz_corpus.header(0x08, (1, 2**31, 2**31)) + bytes(present), preset=1)
    path = tmp_path / "bomb.xz"
    path.write_bytes(data)
    for op in ("chunks", "read", "record_first"):
        tracemalloc.start()
        try:
            with pytest.raises(InvalidIdxError, match=r"bomb\.xz: body is shorter than the header says: 67,108,864"):
                with idxtool.open_idx(path) as f:
                    fuzz_corpus.OPS[op](f)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 2 * present + (16 << 20), (op, peak)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_chunk_sizes_must_be_positive(bad: object) -> None:
    data = fuzz_corpus.header(0x08, (3,)) + b"abc"
    with idxtool.open_idx(io.BytesIO(data)) as f:
        with pytest.raises(ParameterError, match="records="):
            f.chunks(bad)  # type: ignore[arg-type]
        with pytest.raises(ParameterError, match="max_values="):
            f.value_chunks(bad)  # type: ignore[arg-type]


def test_cli_inspect_sample(corpus: list[fuzz_corpus.Case], tmp_path: Path) -> None:
    """~100 corpus files through `idxtool inspect` (header, --stats, --show 0) and verify, in one process."""
    cases = fuzz_corpus.sample(corpus, 100, seed=7)
    paths = []
    for i, (_, data) in enumerate(cases):
        path = tmp_path / f"case{i:03d}.idx"
        path.write_bytes(data)
        paths.append(str(path))
    commands = [["inspect"], ["inspect", "--stats"], ["inspect", "--show", "0"], ["verify"]]
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", fuzz_corpus.DRIVER, json.dumps(commands), *paths],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(results) == len(paths) * len(commands)
    names = {p: n for p, (n, _) in zip(paths, cases, strict=True)}
    problems = [f"{names[r['path']]} {r['args']}: {p}" for r in results if (p := fuzz_corpus.cli_problem(r))]
    assert not problems, "\n".join(problems[:20])
    assert sum(r["code"] != 0 for r in results) > len(results) // 3  # the sample really is hostile


def test_cli_real_processes(corpus: list[fuzz_corpus.Case], tmp_path: Path) -> None:
    """The installed entry point itself, as a user runs it, on a few hostile files."""
    picks = [c for c in corpus if c[0].endswith((":ndim65", ":valid65d", ":gzipx2", ":xz+cut"))][:4]
    picks += [c for c in corpus if ":bomb1x2147483648x2147483648:xz" in c[0]][:1]
    assert len(picks) == 5
    for i, (name, data) in enumerate(picks):
        path = tmp_path / f"hostile{i}.idx"
        path.write_bytes(data)
        proc = subprocess.run(
            [sys.executable, "-m", "idxtool", "inspect", "--stats", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        problem = fuzz_corpus.cli_problem(
            {"path": str(path), "code": proc.returncode, "err": proc.stderr, "escaped": None}
        )
        assert problem is None, (name, problem)
        if ":valid65d" not in name:
            assert proc.returncode in (1, 2), (name, proc.returncode)


def test_the_per_input_deadline_catches_a_real_hang() -> None:
    """The timeout the fuzz loop relies on does fire: a pipe whose writer never finishes blocks the read."""
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, fuzz_corpus.header(0x08, (10,)) + b"abc")  # 3 of 10 bytes, and no end
        with open(read_end, "rb", buffering=0, closefd=False) as pipe, idxtool.open_idx(pipe) as f:
            with pytest.raises(fuzz_corpus.Hang), fuzz_corpus.deadline(0.5):
                f.read()
    finally:
        os.close(read_end)
        os.close(write_end)
