"""chaoskit's resource hog: CPU workers at a duty cycle, held memory, or filled disk space, for a bounded time.

::

    python -m chaoskit.faults.hog cpu    --workers 2 --load 0.5 --duration 30 --margin 5 --tag T [options]
    python -m chaoskit.faults.hog memory --bytes 200000000        --duration 30 --margin 5 --tag T [options]
    python -m chaoskit.faults.hog disk   --bytes 1000000000 --dir /tmp --duration 30 --margin 5 --tag T [options]

options: ``--join PROCS`` (repeatable; a ``cgroup.procs`` file the hog must move into before it does anything),
``--join-optional PROCS`` (the same, a failure only noted), ``--watch PID:STARTTIME`` (stop when that process is
gone: the runner), ``--oom-score-adj N``.

The hog is in place when it prints one line on stdout, ``ready pid=P workers=W,... joined=N``, or failed with
``error MESSAGE`` (exit status 3); stdout is then closed, so a dead reader never hurts it.

**It always ends by itself**: at ``duration + margin`` seconds after it started, on SIGTERM/SIGINT/SIGHUP, or when
the ``--watch`` process is gone, whichever comes first; each CPU worker also checks the deadline and its parent,
so killing the supervisor with SIGKILL still ends every worker. Held memory and disk space belong to the process
(the disk file has no name), so the kernel frees them whenever and however the hog ends.

It joins the target's cgroups *before* it forks or allocates, so every worker and every byte it touches is charged
to the target and capped by the target's limits, while the interpreter's own start-up memory stays where it was.

Stdlib only, and it never imports chaoskit, so it starts fast and can also be run by path.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
CHUNK = 64 << 20
PERIOD = 0.05  # duty-cycle period of a CPU worker: short enough to look steady to a 100 ms CFS period
EXIT_FAILED = 3


def start_time(pid: int) -> int | None:
    """Kernel start time of ``pid`` in clock ticks, or None when it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            fields = fh.read().rsplit(")", 1)[-1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else int(fields[19])


class Clock:
    """The hog's deadline and stop conditions."""

    def __init__(self, seconds: float, watch: tuple[int, int] | None) -> None:
        self.deadline = time.monotonic() + seconds
        self.watch = watch
        self.stopped = False
        self._next_watch = 0.0

    def expired(self) -> bool:
        if self.stopped or time.monotonic() >= self.deadline:
            return True
        if self.watch is not None and time.monotonic() >= self._next_watch:
            self._next_watch = time.monotonic() + 0.2
            if start_time(self.watch[0]) != self.watch[1]:
                self.stopped = True
        return self.stopped

    def sleep(self) -> None:
        time.sleep(max(min(0.1, self.deadline - time.monotonic()), 0.0))


# ------------------------------------------------------------------------------------------------------ CPU


def cpu_worker(load: float, deadline: float, parent: int, period: float = PERIOD) -> None:
    """Burn ``load`` of one core until ``deadline`` or until the parent is gone.

    The busy part of each period is measured in CPU time the worker actually got, not wall time, so a worker that
    shares its core (or is throttled) keeps trying for its share up to the end of the period, and a shortfall is
    carried into the next period (at most one period's worth, so a frozen hog does not burst when thawed).
    """
    thread_time, monotonic = time.thread_time, time.monotonic
    busy = load * period
    debt = 0.0
    next_start = monotonic()
    while monotonic() < deadline and os.getppid() == parent:
        start, cpu0 = monotonic(), thread_time()
        if load >= 1.0:
            while monotonic() - start < period:
                pass
            continue
        want = min(busy + debt, period)
        while thread_time() - cpu0 < want and monotonic() - start < period:
            for _ in range(200):  # a little work between two clock reads
                pass
        debt = min(max(want - (thread_time() - cpu0), 0.0), busy)
        next_start += period
        now = monotonic()
        if next_start < now - period:  # fell behind (stopped, starved): start afresh
            next_start = now
        time.sleep(max(next_start - now, 0.0))


def run_cpu(args: argparse.Namespace, clock: Clock, report: Callable[[str], None]) -> None:
    parent = os.getpid()
    workers: list[int] = []
    # Workers wait at a gate until every one is forked: in a cgroup with a CPU limit, workers that spun at once
    # would starve the supervisor's own forks (64 of them took ~1.5 s in a half-CPU container).
    gate, opener = os.pipe()
    try:
        for _ in range(args.workers):
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the worker
                code = 0
                try:
                    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                        signal.signal(sig, signal.SIG_DFL)
                    os.close(opener)
                    os.read(gate, 1)  # end of file once the supervisor closes its end (or dies)
                    # the worker's deadline is the supervisor's: wall time since the fork is the same clock
                    cpu_worker(args.load, clock.deadline, parent)
                except BaseException:
                    code = 1
                os._exit(code)
            workers.append(pid)
        os.close(opener)
        opener = -1
        report(f"ready pid={parent} workers={','.join(map(str, workers))}")
        while not clock.expired():
            clock.sleep()
    finally:
        for fd in (gate, opener):
            if fd >= 0:
                os.close(fd)
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in workers:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


# --------------------------------------------------------------------------------------------------- memory


def hold_memory(size: int) -> list[bytearray]:
    """Allocate ``size`` bytes and write to every page, so all of it is resident (and charged) now."""
    blocks: list[bytearray] = []
    left = size
    while left > 0:
        n = min(CHUNK, left)
        block = bytearray(n)
        block[::PAGE] = b"\x01" * len(range(0, n, PAGE))
        blocks.append(block)
        left -= n
    return blocks


def run_memory(args: argparse.Namespace, clock: Clock, report: Callable[[str], None]) -> None:
    try:
        held = hold_memory(args.bytes)
    except MemoryError:
        raise HogError(f"cannot allocate {args.bytes} bytes") from None
    report(f"ready pid={os.getpid()} workers= bytes={sum(len(b) for b in held)}")
    while not clock.expired():
        clock.sleep()


# ----------------------------------------------------------------------------------------------------- disk


def nameless_file(directory: str) -> int:
    """An open file in ``directory`` that has no name: its space is freed when the hog ends, however it ends."""
    try:
        return os.open(directory, os.O_TMPFILE | os.O_RDWR, 0o600)
    except OSError:  # a filesystem without O_TMPFILE: create, then unlink at once
        fd, path = tempfile.mkstemp(prefix=".chaoskit-fill-", dir=directory)
        os.unlink(path)
        return fd


def fill(fd: int, size: int) -> None:
    try:
        os.posix_fallocate(fd, 0, size)  # blocks without page cache: no memory pressure on the target
        return
    except OSError as exc:
        if exc.errno not in (95, 22):  # EOPNOTSUPP, EINVAL: write instead; ENOSPC and the rest are errors
            raise
    zeros = b"\0" * (1 << 20)
    written = 0
    while written < size:
        written += os.write(fd, zeros[: min(len(zeros), size - written)])
        if written % (64 << 20) == 0:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.fsync(fd)


def run_disk(args: argparse.Namespace, clock: Clock, report: Callable[[str], None]) -> None:
    try:
        fd = nameless_file(args.dir)
        fill(fd, args.bytes)
    except OSError as exc:
        raise HogError(f"cannot fill {args.bytes} bytes in {args.dir}: {exc.strerror or exc}") from None
    report(f"ready pid={os.getpid()} workers= bytes={args.bytes}")
    try:
        while not clock.expired():
            clock.sleep()
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------------------------------- main


class HogError(Exception):
    pass


def join(procs_files: list[str], optional: list[str]) -> int:
    joined = 0
    for path in procs_files:
        try:
            with open(path, "w", encoding="ascii") as fh:
                fh.write(f"{os.getpid()}\n")
        except OSError as exc:
            raise HogError(f"cannot join cgroup {os.path.dirname(path)}: {exc.strerror or exc}") from None
        joined += 1
    for path in optional:
        with contextlib.suppress(OSError), open(path, "w", encoding="ascii") as fh:
            fh.write(f"{os.getpid()}\n")
            joined += 1
    return joined


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chaoskit.faults.hog", description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("cpu", "memory", "disk"))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--load", type=float, default=1.0, help="share of one core per worker, 0..1")
    parser.add_argument("--bytes", type=int, default=0)
    parser.add_argument("--dir", default="/tmp")
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--margin", type=float, default=5.0)
    parser.add_argument("--tag", required=True, help="marks every hog process (it is on their command line)")
    parser.add_argument("--join", action="append", default=[])
    parser.add_argument("--join-optional", action="append", default=[])
    parser.add_argument("--watch", default=None, help="PID:STARTTIME of the process whose end ends the hog")
    parser.add_argument("--oom-score-adj", type=int, default=None)
    args = parser.parse_args(argv)
    if args.workers < 1 or not 0.0 < args.load <= 1.0 or args.bytes < 0 or args.duration < 0 or args.margin < 0:
        parser.error("workers >= 1, 0 < load <= 1, bytes >= 0, duration and margin >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    watch = None
    if args.watch:
        pid_text, _, started = args.watch.partition(":")
        watch = (int(pid_text), int(started))
    clock = Clock(args.duration + args.margin, watch)

    def stop(_sig: int, _frame: object) -> None:
        clock.stopped = True

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    out = sys.stdout

    def report(line: str) -> None:
        with contextlib.suppress(OSError):
            out.write(line + "\n")
            out.flush()
        with contextlib.suppress(OSError):  # nobody reads on: never block or die writing to a dead pipe
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, out.fileno())
            os.close(devnull)

    try:
        if args.oom_score_adj is not None:
            with open("/proc/self/oom_score_adj", "w", encoding="ascii") as fh:
                fh.write(str(args.oom_score_adj))
        joined = join(args.join, args.join_optional)
        runs = {"cpu": run_cpu, "memory": run_memory, "disk": run_disk}
        runs[args.what](args, clock, lambda line: report(f"{line} joined={joined}"))
    except (HogError, OSError) as exc:
        report(f"error {exc}")
        return EXIT_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
