"""Forked workers: progress reaches the parent, errors come back as they were raised, a worker
killed by a signal is an error, and no worker outlives the parent's wait or its failure."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from pathlib import Path

import pytest

from idxtool.errors import OutputError
from idxtool.workers import Report, Workers, WorkQueue, can_fork

needs_fork = pytest.mark.skipif(not can_fork(), reason="needs os.fork")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@needs_fork
def test_each_share_runs_in_its_own_process_and_reports(tmp_path: Path) -> None:
    def task(share: int, report: Report) -> None:
        (tmp_path / f"share-{share}").write_text(str(os.getpid()))
        for _ in range(10):
            report(share + 1)

    seen: list[int] = []
    with Workers(task, 3) as workers:
        workers.wait(seen.append)
    assert sum(seen) == 10 * (1 + 2 + 3) and len(seen) == 30
    pids = {int((tmp_path / f"share-{s}").read_text()) for s in range(3)}
    assert len(pids) == 3 and os.getpid() not in pids
    assert not any(alive(pid) for pid in pids)  # reaped


def test_one_share_runs_in_the_parent() -> None:
    pids: list[int] = []
    with Workers(lambda share, report: pids.append(os.getpid()), 1) as workers:
        workers.wait()
    assert pids == [os.getpid()]


@needs_fork
def test_a_workers_error_is_raised_again_and_stops_the_others(tmp_path: Path) -> None:
    def task(share: int, report: Report) -> None:
        if share == 0:
            raise OutputError(errno.ENOSPC, "No space left on device", str(tmp_path / "t"))
        (tmp_path / "slow.tmp").write_text(str(os.getpid()))
        (tmp_path / "slow.tmp").rename(tmp_path / "slow")  # whole, or not there: it may be killed at once
        time.sleep(60)

    started = time.monotonic()
    with pytest.raises(OutputError, match="No space left on device") as caught, Workers(task, 2) as workers:
        workers.wait()
    assert caught.value.errno == errno.ENOSPC
    assert time.monotonic() - started < 30  # the sleeping worker was killed, not waited for
    if (tmp_path / "slow").exists():
        assert not alive(int((tmp_path / "slow").read_text()))


@needs_fork
def test_an_exception_that_cannot_be_pickled_comes_back_as_its_message() -> None:
    class Local(Exception):  # a local class cannot be pickled
        pass

    def task(share: int, report: Report) -> None:
        raise Local("lost in translation")

    with pytest.raises(OSError, match="Local: lost in translation"), Workers(task, 2) as workers:
        workers.wait()


@needs_fork
def test_a_worker_killed_by_a_signal_is_an_error() -> None:
    def task(share: int, report: Report) -> None:
        if share == 1:
            os.kill(os.getpid(), signal.SIGKILL)

    with pytest.raises(OSError, match=r"a worker process \(pid \d+\) was killed by SIGKILL"), Workers(task, 2) as w:
        w.wait()


@needs_fork
def test_leaving_early_kills_and_reaps_every_worker(tmp_path: Path) -> None:
    def task(share: int, report: Report) -> None:
        (tmp_path / f"w{share}.tmp").write_text(str(os.getpid()))
        (tmp_path / f"w{share}.tmp").rename(tmp_path / f"w{share}")
        time.sleep(60)

    with pytest.raises(KeyboardInterrupt), Workers(task, 2):
        deadline = time.monotonic() + 10
        while len(list(tmp_path.glob("w?"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        raise KeyboardInterrupt  # as Ctrl-C in the parent, before or while it waits
    pids = [int(p.read_text()) for p in tmp_path.glob("w?")]
    assert len(pids) == 2 and not any(alive(pid) for pid in pids)


@needs_fork
def test_a_work_queue_hands_each_piece_to_one_worker_once(tmp_path: Path) -> None:
    queue = WorkQueue(WorkQueue.LIMIT)

    def task(share: int, report: Report) -> None:
        taken = []
        while (piece := queue.take()) is not None:
            taken.append(piece)
            if share == 0:
                time.sleep(0.001)  # a slow worker: the other takes more pieces
        (tmp_path / f"taken-{share}").write_text(" ".join(map(str, taken)))

    with contextlib.closing(queue), Workers(task, 3) as workers:
        workers.wait()
    taken = [[int(t) for t in (tmp_path / f"taken-{s}").read_text().split()] for s in range(3)]
    assert sorted(t for share in taken for t in share) == list(range(WorkQueue.LIMIT))
    assert len(taken[0]) < max(len(taken[1]), len(taken[2]))  # the free ones took more
    with pytest.raises(ValueError, match="holds 0 to 1024 numbers"):
        WorkQueue(WorkQueue.LIMIT + 1)
