"""Fuzz the IDX reader and the CLI with a large seeded corpus (thousands of inputs).

The corpus is tests/fuzz_corpus.py's, built for several seeds with more bit flips per seed
file and bigger bombs than the CI sample in tests/test_fuzz.py. Every input goes through
every operation (read, chunks, chunks(1), value_chunks, record(0), record(-1), check_body),
alternately as a path and as a file object, each under a per-input deadline and with
tracemalloc measuring its peak; then a sample goes through ``idxtool inspect`` (header,
``--stats``, ``--show 0``) and ``idxtool verify`` in one driver process. Prints the corpus
size, outcomes per operation, the worst peak and time, and every problem found.

    python tests/benchmarks/fuzz_large.py [--seeds 4] [--flips 300] [--cli 300] [--source ../shared/datasets]
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

import fuzz_corpus  # noqa: E402

from idxtool import idx  # noqa: E402
from idxtool.errors import IdxError  # noqa: E402


def family(name: str) -> str:
    """The mutation family of a case name (``s0:FILE:MUTATION...``)."""
    mutation = name.split(":")[2]
    for prefix, label in (
        ("flip", "bit flips"),
        ("cut", "truncations"),
        ("zcut", "truncations"),
        ("long", "truncations"),
        ("bomb", "bombs"),
        ("one-big", "bombs"),
        ("gzip", "wrappers"),
        ("xz", "wrappers"),
        ("bz2", "wrappers"),
    ):
        if mutation.startswith(prefix):
            return label
    return "valid seeds" if mutation == "valid" else "header edits"


def classify(name: str, data: bytes, op: str, folder: Path, *, as_path: bool) -> tuple[str, int, float]:
    """Outcome ("ok", "IdxError:<class>" or a problem), traced peak and seconds, for one run."""
    started = time.perf_counter()
    source: object
    if as_path:
        path = folder / "case.idx"
        path.write_bytes(data)
        source = path
    else:
        import io

        source = io.BytesIO(data)
    tracemalloc.start()
    outcome = "ok"
    try:
        with fuzz_corpus.deadline(fuzz_corpus.TIMEOUT), idx.open_idx(source, name=name) as f:  # type: ignore[arg-type]
            fuzz_corpus.OPS[op](f)
    except IdxError as exc:
        outcome = f"IdxError:{type(exc).__name__}" if name in str(exc) else f"PROBLEM unnamed {type(exc).__name__}"
    except fuzz_corpus.Hang:
        outcome = "PROBLEM hang"
    except BaseException as exc:  # the point: anything else escaping is a finding
        outcome = f"PROBLEM escaped {type(exc).__name__}: {str(exc)[:80]}"
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    if peak > fuzz_corpus.MEMORY_LIMIT and peak > fuzz_corpus.memory_limit(data):
        outcome = f"PROBLEM peak {peak:,}"
    return outcome, peak, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=4, help="corpus seeds (each one full corpus)")
    parser.add_argument("--flips", type=int, default=300, help="bit-flip cases per seed file and seed")
    parser.add_argument("--cli", type=int, default=300, help="inputs sampled for the CLI run")
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "datasets")
    args = parser.parse_args()

    cases: list[fuzz_corpus.Case] = []
    for seed in range(args.seeds):
        built = fuzz_corpus.build(args.source, seed=seed, flips_per_seed=args.flips, bomb_zeros=4 << 20)
        cases += [(f"s{seed}:{name}", data) for name, data in built]
    families = collections.Counter(family(name) for name, _ in cases)
    print(f"corpus: {len(cases):,} inputs from {len(fuzz_corpus.SOURCES)} real files, seeds 0..{args.seeds - 1}")
    print(f"  total {sum(len(d) for _, d in cases) / 1e6:,.1f} MB; families: {dict(families.most_common())}")

    outcomes: dict[str, collections.Counter[str]] = {op: collections.Counter() for op in fuzz_corpus.OPS}
    problems: list[str] = []
    worst_peak, runs = 0, 0
    slowest: list[tuple[float, str]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for i, (name, data) in enumerate(cases):
            for op in fuzz_corpus.OPS:
                outcome, peak, seconds = classify(name, data, op, folder, as_path=(i + len(op)) % 2 == 0)
                runs += 1
                outcomes[op][outcome.split(":")[0] if outcome.startswith("IdxError") else outcome] += 1
                worst_peak = max(worst_peak, peak)
                slowest = sorted([*slowest, (seconds, f"{name} {op}")], reverse=True)[:5]
                if outcome.startswith("PROBLEM"):
                    problems.append(f"{name} {op}: {outcome}")
        library_seconds = time.perf_counter() - started
        print(f"library: {runs:,} runs in {library_seconds:.1f} s; worst peak {worst_peak / 2**20:.1f} MiB")
        print(
            f"  (limits {fuzz_corpus.MEMORY_LIMIT >> 20} MiB + 2x the data present, {fuzz_corpus.TIMEOUT:.0f} s a run)"
        )
        print("  slowest: " + "; ".join(f"{what} {seconds:.2f} s" for seconds, what in slowest))
        for op, counter in outcomes.items():
            print(f"  {op:13s} {dict(counter)}")

        sample = fuzz_corpus.sample(cases, args.cli, seed=99)
        paths = []
        for i, (_, data) in enumerate(sample):
            path = folder / f"cli{i:04d}.idx"
            path.write_bytes(data)
            paths.append(str(path))
        commands = [["inspect"], ["inspect", "--stats"], ["inspect", "--show", "0"], ["verify"]]
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", fuzz_corpus.DRIVER, json.dumps(commands), *paths],
            capture_output=True,
            text=True,
            check=False,
        )
        results = [json.loads(line) for line in proc.stdout.splitlines()]
        names = {p: n for p, (n, _) in zip(paths, sample, strict=True)}
        codes = collections.Counter(r["code"] for r in results)
        cli_problems = [f"{names[r['path']]} {r['args']}: {p}" for r in results if (p := fuzz_corpus.cli_problem(r))]
        print(
            f"cli: {len(sample)} inputs x {len(commands)} commands = {len(results)} runs in "
            f"{time.perf_counter() - started:.1f} s; exit codes {dict(sorted(codes.items()))}; "
            f"tracebacks/bad output: {len(cli_problems)}"
        )
        if proc.returncode:
            print(f"  driver failed: {proc.stderr[-1000:]}")
    for line in problems[:50] + cli_problems[:50]:
        print("  PROBLEM", line)
    print("result:", "no problems" if not problems and not cli_problems and not proc.returncode else "PROBLEMS")


if __name__ == "__main__":
    main()
