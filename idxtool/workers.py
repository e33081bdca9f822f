"""Share work between forked worker processes that die with their parent.

:class:`Workers` forks one process per share. Each runs ``task(share, report)`` on what it
inherited from the parent (nothing is pickled on the way in: a worker reads its own input),
calls ``report(n)`` as it gets ``n`` more things done, and ends. The parent, free meanwhile
to do its own part of the job, then calls :meth:`Workers.wait`, which passes progress on; the
first error a worker raises is raised again in the parent (the other workers are stopped), and a
worker killed by a signal is an OSError. When the parent stops early (an error, Ctrl-C,
SIGTERM), every worker is killed and reaped before the exception goes on: no worker outlives
the command, and none keeps writing into a folder being removed.

Where ``os.fork`` is missing (Windows), or for one share, the task runs in the parent.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import struct
import sys
import threading
from collections.abc import Callable

__all__ = ["Report", "Task", "WorkQueue", "Workers", "can_fork", "die_with_parent"]

#: ``report(n)``: ``n`` more things done.
Report = Callable[[int], None]
#: ``task(share, report)``: do share number ``share`` of the work.
Task = Callable[[int, Report], None]

_PR_SET_PDEATHSIG = 1
_MESSAGE = struct.Struct("<cI")  # kind (b"p" progress, b"e" error), payload length
_COUNT = struct.Struct("<Q")


def can_fork() -> bool:
    """True where worker processes can be forked (POSIX)."""
    return hasattr(os, "fork")


def die_with_parent(parent: int) -> None:
    """Make this (worker) process die when ``parent`` does, even by SIGKILL.

    On Linux the kernel sends SIGKILL when the parent exits (``prctl(PR_SET_PDEATHSIG)``);
    everywhere, a thread checks every second that the parent is still ours and exits if not.
    """
    if sys.platform.startswith("linux"):
        import ctypes  # in the worker: not paid at start-up

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
            pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            threading.Event().wait(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="idxtool-parent-watch", daemon=True).start()


def _send(fd: int, kind: bytes, payload: bytes) -> None:
    data = memoryview(_MESSAGE.pack(kind, len(payload)) + payload)
    while data:
        data = data[os.write(fd, data) :]


def _error_payload(exc: BaseException) -> bytes:
    """The exception pickled; one that cannot be, as an OSError with its message."""
    import pickle

    try:
        data = pickle.dumps(exc)
        pickle.loads(data)  # some exceptions pickle but cannot be rebuilt
    except Exception:
        data = pickle.dumps(OSError(f"{type(exc).__name__}: {exc}"))
    return data


def _run_child(task: Task, share: int, fd: int, parent: int) -> None:
    """The whole life of a worker process: never returns to the caller's code."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        die_with_parent(parent)
        task(share, lambda n: _send(fd, b"p", _COUNT.pack(n)))
        code = 0
    except BaseException as exc:  # everything goes to the parent, whatever it is
        with contextlib.suppress(BaseException):
            _send(fd, b"e", _error_payload(exc))
    finally:
        os._exit(code)


class WorkQueue:
    """The numbers ``0 .. count - 1``, each handed out once to whichever process asks first.

    Made before the fork, shared by the workers: a pipe filled at once with every number and
    closed for writing, so a worker that is done with one piece takes the next, and the
    workers finish together however fast each one runs. Each number is one 4-byte write, and
    a pipe hands whole small writes to one reader each; at most :data:`WorkQueue.LIMIT`
    numbers (4 KiB: what the smallest pipe buffer holds, so filling it never blocks).
    """

    LIMIT = 1024
    _ITEM = struct.Struct("<I")

    def __init__(self, count: int) -> None:
        if not 0 <= count <= self.LIMIT:
            raise ValueError(f"a WorkQueue holds 0 to {self.LIMIT} numbers, not {count}")
        self._read, write_end = os.pipe()
        try:
            data = b"".join(self._ITEM.pack(i) for i in range(count))
            while data:
                data = data[os.write(write_end, data) :]
        finally:
            os.close(write_end)

    def take(self) -> int | None:
        """The next number, or None when all are taken."""
        data = os.read(self._read, self._ITEM.size)
        return self._ITEM.unpack(data)[0] if data else None

    def close(self) -> None:
        """Close this process's end of the queue."""
        with contextlib.suppress(OSError):
            os.close(self._read)


class Workers:
    """``shares`` worker processes running ``task``: forked on entering, reaped on leaving.

    Parameters
    ----------
    task
        ``task(share, report)``, run once for each share ``0 .. shares - 1``.
    shares
        Worker processes; with one (or without ``os.fork``) the task runs in the parent
        when :meth:`wait` is called.
    """

    def __init__(self, task: Task, shares: int) -> None:
        self.task = task
        self.shares = max(1, shares)
        self.inline = self.shares == 1 or not can_fork()
        self._pipes: dict[int, int] = {}  # read end -> pid
        self._pids: list[int] = []

    def __enter__(self) -> Workers:
        if self.inline:
            return self
        parent = os.getpid()
        try:
            for share in range(self.shares):
                read_end, write_end = os.pipe()
                pid = os.fork()
                if pid == 0:  # pragma: no cover - the child's coverage is not collected
                    os.close(read_end)
                    for other in self._pipes:
                        os.close(other)
                    _run_child(self.task, share, write_end, parent)
                os.close(write_end)
                self._pipes[read_end] = pid
                self._pids.append(pid)
        except BaseException:
            self._stop()
            raise
        return self

    def wait(self, progress: Report | None = None) -> None:
        """Wait for every share to be done, passing each worker's ``report`` to ``progress``.

        Raises
        ------
        BaseException
            The first exception a worker raised (the others are stopped), or an OSError
            when a worker died of a signal.
        """
        report = progress or (lambda n: None)
        if self.inline:
            for share in range(self.shares):
                self.task(share, report)
            return
        error = self._collect(report)
        statuses = self._reap()
        if error is not None:
            raise error
        for pid, status in statuses.items():
            if os.WIFSIGNALED(status):
                sig = signal.Signals(os.WTERMSIG(status)).name
                raise OSError(f"a worker process (pid {pid}) was killed by {sig}")
            if os.WEXITSTATUS(status):
                raise OSError(f"a worker process (pid {pid}) failed (exit status {os.WEXITSTATUS(status)})")

    def _collect(self, report: Report) -> BaseException | None:
        """Read every worker's messages until all pipes close; the first error, if any."""
        buffers = dict.fromkeys(self._pipes, b"")
        error: BaseException | None = None
        with selectors.DefaultSelector() as selector:  # poll/epoll: no limit on descriptor numbers
            for fd in self._pipes:
                selector.register(fd, selectors.EVENT_READ)
            while self._pipes:
                for key, _ in selector.select():
                    sent = self._read(key.fd, buffers, report, selector)
                    error = error or sent  # the first error wins
        return error

    def _read(
        self, fd: int, buffers: dict[int, bytes], report: Report, selector: selectors.BaseSelector
    ) -> BaseException | None:
        """Take in what worker pipe ``fd`` holds: report progress; the first error it sent, if any."""
        error: BaseException | None = None
        data = os.read(fd, 1 << 16)
        if not data:
            selector.unregister(fd)
            os.close(fd)
            del self._pipes[fd]
            return None
        buffers[fd] += data
        while len(buffers[fd]) >= _MESSAGE.size:
            kind, size = _MESSAGE.unpack_from(buffers[fd])
            end = _MESSAGE.size + size
            if len(buffers[fd]) < end:
                break
            payload, buffers[fd] = buffers[fd][_MESSAGE.size : end], buffers[fd][end:]
            if kind == b"p":
                report(_COUNT.unpack(payload)[0])
            elif error is None:
                import pickle  # only on failure: not paid at start-up

                error = pickle.loads(payload)  # our own child wrote it
                self._kill()
        return error

    def _kill(self) -> None:
        for pid in self._pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _reap(self) -> dict[int, int]:
        statuses: dict[int, int] = {}
        for pid in self._pids:
            while True:
                try:
                    statuses[pid] = os.waitpid(pid, 0)[1]
                    break
                except InterruptedError:  # pragma: no cover - retried by Python itself since 3.5
                    continue
                except ChildProcessError:
                    break
        self._pids = []
        return statuses

    def _stop(self) -> None:
        """Kill and reap every worker still there, and close the pipes."""
        self._kill()
        self._reap()
        for fd in self._pipes:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._pipes = {}

    def __exit__(self, *exc: object) -> None:
        self._stop()
