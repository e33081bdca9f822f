"""A seeded fuzz corpus of IDX inputs built from the real published files in ../shared/datasets.

Shared by tests/test_fuzz.py (a sample, in CI) and tests/benchmarks/fuzz_large.py (thousands).
Every case is ``(name, data)``: the bytes of a file as idxtool would find it on disk. The same
seed gives the same corpus.

Seeds are small valid IDX files cut from the real ones (their first records, the header's
count rewritten), so the mutations hit real pixel statistics and real headers, and each case
stays small enough to run thousands. Mutations:

- ``flip``: 1 to 8 random bits flipped anywhere (header or body), raw or inside a
  compressed wrapper;
- ``cut``: truncations at every boundary: inside the magic, after it, inside the sizes,
  at the body start, one byte in, mid-body, one byte short, one byte long;
- ``head``: header edits: magic, every type code and unknown ones, ndim 0/1/65/255 (valid
  files with more than numpy's 64 dimensions among them), huge and zero sizes;
- ``wrap``: gzip, xz and bz2 wrappers, concatenated members (valid and with a corrupt or
  truncated second member), trailing garbage, compressed data cut short or bit-flipped;
- ``bomb``: small files declaring huge bodies (gzip/xz/bz2 of zeros), and valid files whose
  single record is larger than a chunk.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import random
import signal
import struct
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

from idxtool import idx
from idxtool.errors import IdxError

#: The real files the seeds are cut from (relative to ../shared/datasets), with how many
#: records each seed keeps.
SOURCES: tuple[tuple[str, int], ...] = (
    ("mnist/t10k-images-idx3-ubyte.gz", 6),
    ("mnist/t10k-labels-idx1-ubyte.gz", 300),
    ("fashion-mnist/train-labels-idx1-ubyte.gz", 300),
    ("qmnist/qmnist-test-labels-idx2-int.gz", 40),
)

Case = tuple[str, bytes]

WRAPPERS: dict[str, Callable[[bytes], bytes]] = {
    "raw": lambda b: b,
    "gzip": lambda b: gzip.compress(b, 6, mtime=0),
    "xz": lambda b: lzma.compress(b, preset=1),
    "bz2": lambda b: bz2.compress(b, 1),
}

_ITEMSIZE = {0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}


def header(type_code: int, shape: tuple[int, ...]) -> bytes:
    """An IDX header (any ndim up to 255, sizes taken modulo 2**32)."""
    return bytes((0, 0, type_code, len(shape))) + b"".join(struct.pack(">I", d % 2**32) for d in shape)


def cut_seed(payload: bytes, records: int) -> bytes:
    """The first ``records`` records of a decompressed IDX file, its count rewritten."""
    ndim = payload[3]
    dims = struct.unpack(f">{ndim}I", payload[4 : 4 + 4 * ndim])
    record = _ITEMSIZE[payload[2]]
    for d in dims[1:]:
        record *= d
    keep = min(records, dims[0])
    head = header(payload[2], (keep, *dims[1:]))
    start = 4 + 4 * ndim
    return head + payload[start : start + keep * record]


def seeds(datasets: Path) -> list[Case]:
    """Small valid IDX files (decompressed) cut from each real file."""
    out = []
    for rel, records in SOURCES:
        payload = gzip.decompress((datasets / rel).read_bytes())
        out.append((Path(rel).name.removesuffix(".gz"), cut_seed(payload, records)))
    return out


def _flip(rng: random.Random, data: bytes, bits: int) -> bytes:
    buf = bytearray(data)
    for _ in range(bits):
        i = rng.randrange(len(buf))
        buf[i] ^= 1 << rng.randrange(8)
    return bytes(buf)


def flips(rng: random.Random, name: str, data: bytes, n: int) -> Iterator[Case]:
    """Random bit flips, raw and inside each compressed wrapper (before or after compressing)."""
    for i in range(n):
        bits = rng.choice((1, 1, 2, 4, 8))
        wrap = rng.choice(tuple(WRAPPERS))
        if rng.random() < 0.5:
            yield f"{name}:flip{i}:{bits}b:payload:{wrap}", WRAPPERS[wrap](_flip(rng, data, bits))
        else:  # flip the compressed bytes: corrupt streams, bad CRCs, bad magic
            yield f"{name}:flip{i}:{bits}b:file:{wrap}", _flip(rng, WRAPPERS[wrap](data), bits)


def cuts(rng: random.Random, name: str, data: bytes) -> Iterator[Case]:
    """Truncations (and one-byte extensions) at every boundary, raw and gzip-wrapped."""
    ndim = data[3]
    start = 4 + 4 * ndim
    points = {0, 1, 2, 3, 4, 5, 4 + 2 * ndim, start - 1, start, start + 1, (start + len(data)) // 2}
    points |= {len(data) - 1, rng.randrange(len(data))}
    for p in sorted(x for x in points if 0 <= x < len(data)):
        yield f"{name}:cut{p}:raw", data[:p]
        yield f"{name}:cut{p}:{(w := rng.choice(('gzip', 'xz', 'bz2')))}", WRAPPERS[w](data[:p])
    yield f"{name}:long1:raw", data + b"\x00"
    yield f"{name}:long1:gzip", WRAPPERS["gzip"](data + b"\x07")
    for wrap in ("gzip", "xz", "bz2"):  # the compressed stream itself cut short
        packed = WRAPPERS[wrap](data)
        for p in {1, 5, 10, len(packed) // 2, len(packed) - 1, len(packed) - 4}:
            if 0 < p < len(packed):
                yield f"{name}:zcut{p}:{wrap}", packed[:p]


def header_edits(rng: random.Random, name: str, data: bytes) -> Iterator[Case]:
    """Edits of the magic, the type code, ndim and the sizes (the body kept as it is)."""
    ndim = data[3]
    body = data[4 + 4 * ndim :]
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    type_code = data[2]
    for magic in (b"\x01\x00", b"\x00\x01", b"\xff\xff", b"PK"):
        yield f"{name}:magic{magic.hex()}", magic + data[2:]
    for code in (*_ITEMSIZE, 0x00, 0x0A, 0x0F, 0xFF):
        yield f"{name}:type{code:02x}", data[:2] + bytes((code,)) + data[3:]
    for new_ndim in (0, 1, 2, 65, 255):
        yield f"{name}:ndim{new_ndim}", data[:3] + bytes((new_ndim,)) + data[4:]
    # valid files of unusual rank: 0-d, and more dimensions than numpy allows (65, 255)
    yield f"{name}:valid0d", header(type_code, ()) + body[: _ITEMSIZE[type_code]]
    for rank in (64, 65, 255):
        shape = (dims[0], *dims[1:], *([1] * (rank - ndim)))
        yield f"{name}:valid{rank}d", header(type_code, shape) + body
    yield f"{name}:valid255d-flat", header(type_code, (*[1] * 254, len(body) // _ITEMSIZE[type_code])) + body
    huge = (2**32 - 1, 2**31, 2**31 + 1, 2**16, 10**9)
    for i in range(ndim):
        for value in (0, *rng.sample(huge, 2)):
            shape = tuple(value if j == i else d for j, d in enumerate(dims))
            wrap = rng.choice(tuple(WRAPPERS))
            yield f"{name}:dim{i}={value}:{wrap}", WRAPPERS[wrap](header(type_code, shape) + body)
    yield f"{name}:alldims-max", header(type_code, (2**32 - 1,) * max(ndim, 2)) + body
    yield f"{name}:zero-count-long", header(type_code, (0, *dims[1:])) + body
    yield f"{name}:zero-record-huge-count", header(type_code, (2**32 - 1, 0)) + b""


def wrappers(rng: random.Random, name: str, data: bytes) -> Iterator[Case]:
    """Compression wrappers: each alone, concatenated members, corrupt or truncated members."""
    half = len(data) // 2
    for wrap in ("gzip", "xz", "bz2"):
        one = WRAPPERS[wrap](data)
        yield f"{name}:{wrap}", one
        yield f"{name}:{wrap}x2", one + one  # a valid concatenation: the body is twice too long
        yield f"{name}:{wrap}-split", WRAPPERS[wrap](data[:half]) + WRAPPERS[wrap](data[half:])  # valid
        yield f"{name}:{wrap}+garbage", one + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
        yield f"{name}:{wrap}+corrupt", one + _flip(rng, one, 16)
        yield f"{name}:{wrap}+cut", one + one[: len(one) // 2]
        yield f"{name}:{wrap}+zeros", one + bytes(512)
    yield f"{name}:gzip-in-xz", lzma.compress(gzip.compress(data, mtime=0), preset=1)
    yield f"{name}:gzip-in-gzip", gzip.compress(gzip.compress(data, mtime=0), mtime=0)


def bombs(name: str, data: bytes, *, zeros: int = 1 << 20) -> Iterator[Case]:
    """Small files declaring huge bodies, and valid files whose one record is larger than a chunk."""
    type_code = data[2]
    filler = bytes(zeros)  # what actually follows the header: compresses to almost nothing
    for wrap in ("gzip", "xz", "bz2"):
        for shape in ((1, 2**31, 2**31), (2**32 - 1, 2**32 - 1), (1, 2**30), (60000, 28, 28), (1, 1 << 24, 7)):
            yield f"{name}:bomb{'x'.join(map(str, shape))}:{wrap}", WRAPPERS[wrap](header(type_code, shape) + filler)
    # valid: one record of ``zeros`` * 9 bytes (uint8), larger than a 4 MiB chunk
    big = header(0x08, (1, 3, zeros * 3)) + bytes(9 * zeros)
    yield f"{name}:one-big-record:gzip", WRAPPERS["gzip"](big)
    yield f"{name}:one-big-record:xz", WRAPPERS["xz"](big)


def build(datasets: Path, *, seed: int = 0, flips_per_seed: int = 60, bomb_zeros: int = 1 << 20) -> list[Case]:
    """The whole corpus for ``seed``: every mutation family over every seed file."""
    rng = random.Random(seed)
    cases: list[Case] = []
    for name, data in seeds(datasets):
        cases.append((f"{name}:valid", data))
        cases.extend(flips(rng, name, data, flips_per_seed))
        cases.extend(cuts(rng, name, data))
        cases.extend(header_edits(rng, name, data))
        cases.extend(wrappers(rng, name, data))
    cases.extend(bombs("zeros", seeds(datasets)[1][1], zeros=bomb_zeros))
    return cases


def sample(cases: list[Case], n: int, *, seed: int = 0) -> list[Case]:
    """``n`` cases drawn reproducibly, always keeping every bomb and every header edit of rank."""
    rng = random.Random(seed)
    must = [c for c in cases if ":bomb" in c[0] or ":valid" in c[0] or "big-record" in c[0]]
    rest = [c for c in cases if c not in must]
    return must + rng.sample(rest, max(0, min(len(rest), n - len(must))))


# -- running a case: only IdxError, no hang, bounded memory ------------------------------------

#: Per-input time limit (seconds); a case normally takes milliseconds.
TIMEOUT = 10.0
#: Peak traced memory allowed for one operation on one corpus input (its real data is < 10 MiB).
MEMORY_LIMIT = 64 << 20


def present_bytes(data: bytes, cap: int = 1 << 30) -> int:
    """How many decompressed bytes ``data`` really holds (up to a corrupt spot, at most ``cap``)."""
    from idxtool import compress

    total = 0
    try:
        _, reader = compress.open_stream(io.BytesIO(data))
        while total < cap and (piece := reader.read(1 << 20)):
            total += len(piece)
    except compress.STREAM_ERRORS:
        pass
    return total


def memory_limit(data: bytes) -> int:
    """Peak allowed for one operation: a fixed allowance plus twice the data present.

    A chunk holds at least one record, so a valid record larger than a chunk costs its
    size (and the copy joining its pieces); what a header merely declares costs nothing.
    """
    return MEMORY_LIMIT + 2 * present_bytes(data)


Op = Callable[[idx.IdxFile], object]

OPS: dict[str, Op] = {
    "read": lambda f: f.read(),
    "chunks": lambda f: sum(1 for _ in f.chunks()),
    "chunks1": lambda f: sum(1 for _ in f.chunks(1)) if f.count <= 100_000 else None,
    "value_chunks": lambda f: sum(c.size for c in f.value_chunks(1000)),
    "record_last": lambda f: f.record(-1),
    "record_first": lambda f: f.record(0),
    "check_body": lambda f: f.check_body(),
}


class Hang(BaseException):
    """Raised by the per-input alarm; a BaseException, so no ``except Exception`` swallows it."""


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise :class:`Hang` in the block after ``seconds``; an outer alarm (pytest-timeout's) is kept."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"no result after {seconds} s")

    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, expire)
    outer_delay, outer_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_delay:  # re-arm the outer alarm with what was left of it
            left = max(outer_delay - (time.monotonic() - started), 0.001)
            signal.setitimer(signal.ITIMER_REAL, left, outer_interval)


def run_case(name: str, data: bytes, op: str, folder: Path, *, as_path: bool) -> str | None:
    """Run one operation on one input; return a problem description, or None when it behaved."""
    source: object
    if as_path:
        path = folder / "case.idx"
        path.write_bytes(data)
        source = path
    else:
        source = io.BytesIO(data)
    tracemalloc.start()
    try:
        with deadline(TIMEOUT):
            with idx.open_idx(source, name=name) as f:  # type: ignore[arg-type]
                OPS[op](f)
    except IdxError as exc:
        if name not in str(exc):
            return f"{type(exc).__name__} does not name the input: {exc}"
    except Hang as exc:
        return f"hang: {exc}"
    except BaseException as exc:  # the point of the test: anything else escaping
        return f"escaped {type(exc).__name__}: {str(exc)[:200]}"
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    if peak > MEMORY_LIMIT and peak > memory_limit(data):
        return f"peak memory {peak:,} bytes (limit {memory_limit(data):,})"
    return None


# -- the CLI: one Error: line, no traceback, exit 1 or 2 -----------------------------------------

DRIVER = """
import contextlib, io, json, sys, traceback
from idxtool.cli import main
for path in sys.argv[2:]:
    for args in json.loads(sys.argv[1]):
        err, out = io.StringIO(), io.StringIO()
        code, escaped = 0, None
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                main.main(args=[*args, path], prog_name="idxtool", standalone_mode=True)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                escaped = traceback.format_exc()
        print(json.dumps({"path": path, "args": args, "code": code, "err": err.getvalue(), "escaped": escaped}))
"""


def cli_problem(result: dict[str, object]) -> str | None:
    err = str(result["err"])
    errors = [line for line in err.splitlines() if line.startswith("Error: ")]
    if result["escaped"]:
        return f"traceback: {str(result['escaped']).strip().splitlines()[-1]}"
    if "Traceback" in err:
        return "traceback on stderr"
    if result["code"] == 0:
        return None if not errors else "Error: line with exit 0"
    if result["code"] not in (1, 2):
        return f"exit {result['code']}"
    if len(errors) != 1 or len(err.strip().splitlines()) != 1:
        return f"expected one Error: line, got {err!r}"
    if str(result["path"]) not in errors[0]:
        return f"error does not name the file: {errors[0]}"
    return None
