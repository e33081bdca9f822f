"""Benchmark idxtool's start-up against the import line it is judged by, timed in the same run.

Baseline: ``python -c "import numpy, PIL, click, rich, requests"``. Timed, each as a fresh
process with stdout and stderr on pipes (so no terminal rendering, as in a shell pipeline):

  --help               ``idxtool --help``
  --version            ``idxtool --version``
  complete command     bash completion of ``idxtool in<TAB>``
  complete dataset     bash completion of ``idxtool inspect mn<TAB>`` (reads the registry)
  inspect (header)     ``idxtool inspect FILE`` on the real MNIST test labels (header and body length)

Runs alternate (baseline, then each command, round after round) and medians are compared.
Targets (issue 12): --help and completion <= 0.35x the baseline, header-only inspect <= 0.6x.

    python tests/benchmarks/bench_startup.py [--repeat 21] [--labels ../shared/datasets/mnist/t10k-labels-idx1-ubyte.gz]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BASELINE = [sys.executable, "-c", "import numpy, PIL, click, rich, requests"]


def _idxtool() -> list[str]:
    """The installed console script (what a shell runs), else ``python -m idxtool``."""
    script = Path(sys.executable).with_name("idxtool")
    if script.is_file():
        return [str(script)]
    found = shutil.which("idxtool")
    return [found] if found else [sys.executable, "-m", "idxtool"]


def _time(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.decode()}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=21)
    parser.add_argument(
        "--labels", type=Path, default=ROOT.parent / "shared" / "datasets" / "mnist" / "t10k-labels-idx1-ubyte.gz"
    )
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("_IDXTOOL_COMPLETE", "COMP_"))}
    tool = _idxtool()
    cases: dict[str, tuple[list[str], dict[str, str], float]] = {
        "--help": ([*tool, "--help"], env, 0.35),
        "--version": ([*tool, "--version"], env, 0.35),
        "complete command": (
            tool,
            {**env, "_IDXTOOL_COMPLETE": "bash_complete", "COMP_WORDS": "idxtool in", "COMP_CWORD": "1"},
            0.35,
        ),
        "complete dataset": (
            tool,
            {**env, "_IDXTOOL_COMPLETE": "bash_complete", "COMP_WORDS": "idxtool inspect mn", "COMP_CWORD": "2"},
            0.35,
        ),
        "inspect (header)": ([*tool, "inspect", str(args.labels)], env, 0.6),
    }
    for argv, case_env, _ in cases.values():  # warm the page cache and .pyc files
        _time(argv, case_env)
    _time(BASELINE, env)
    times: dict[str, list[float]] = {"baseline": [], **{name: [] for name in cases}}
    for _ in range(args.repeat):
        times["baseline"].append(_time(BASELINE, env))
        for name, (argv, case_env, _) in cases.items():
            times[name].append(_time(argv, case_env))
    base = statistics.median(times["baseline"])
    print(f"baseline (import numpy, PIL, click, rich, requests): {base * 1000:.0f} ms (median of {args.repeat})")
    failed = False
    for name, (_, _, target) in cases.items():
        median = statistics.median(times[name])
        ratio = median / base
        ok = ratio <= target
        failed |= not ok
        print(f"{name:<18} {median * 1000:6.0f} ms  {ratio:.2f}x  (target <= {target}x)  {'ok' if ok else 'MISSED'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
