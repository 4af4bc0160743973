"""Groups of seeds in forked processes, so that a many-seed run uses every core.

A step of the K-seed engine is mostly fixed cost (a few dozen small NumPy and torch calls, whatever K),
so two processes of K/2 seeds finish in about 0.7 of the time one process of K takes on two cores.
``run_forked(fn, groups)`` returns ``[fn(g) for g in groups]``: ``groups[0]`` runs here while each other
group runs in a child made by ``os.fork`` (so ``fn`` may be any function, a notebook's own included),
which sends its result back pickled. Nothing here is on the reading path: it only makes
``train_seeds`` faster, and tests/test_train_seeds.py holds a forked run equal to its groups run here.

Signals: a child has its own process group, so Ctrl-C in a notebook or a terminal reaches this process
only. Its answer (the engine's ``Interrupt``: stop after the current iteration) is passed on to every
child, once, with the same signal; a second Ctrl-C stops everything at once. A child dies with its parent.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence

__all__ = ["can_fork", "usable_cores", "auto_processes", "inside_group", "split", "run_forked", "over_seed_groups"]

_PR_SET_PDEATHSIG = 1
_inside_group = False  # True in a forked child, and here while this process trains its own group: no processes of processes


def can_fork() -> bool:
    """Forking is used on Linux only (on macOS, fork is unsafe with the system's frameworks)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover
        return os.cpu_count() or 1


def auto_processes(k: int) -> int:
    """How many processes K seeds get by default: one per usable core, at most 4 and at most K; 1 where
    forking is not used or inside a forked child. PGCOURSE_PROCESSES overrides (1 turns forking off)."""
    if _inside_group or not can_fork():
        return 1
    wanted = os.environ.get("PGCOURSE_PROCESSES", "").strip()
    if wanted:
        if not wanted.isdigit() or int(wanted) < 1:
            raise ValueError(f"PGCOURSE_PROCESSES must be a whole number ≥ 1, got {wanted!r}")
        return max(1, min(int(wanted), k))
    return max(1, min(usable_cores(), 4, k))


def over_seed_groups(fn: Callable, seeds: Sequence, interrupted: Callable[[object], str | None] = lambda r: None,
                     processes: int | None = None) -> list:
    """``[fn(group) for group in split(seeds, n)]``, the groups in forked processes when n > 1
    (n = processes, or ``auto_processes(len(seeds))``). fn must do nothing that has to happen in this
    process (a progress bar, a plot, a callback that keeps state here): its result is all that comes back.
    Merge the groups' results in order to get the seeds' results in order."""
    seeds = list(seeds)
    n = auto_processes(len(seeds)) if processes is None else min(processes, len(seeds))
    if _inside_group:  # no processes of processes
        n = 1
    if n <= 1:
        return [fn(seeds)]
    return run_forked(fn, split(seeds, n), interrupted)


def inside_group() -> bool:
    """True in a forked child, and in this process while it trains its own group of a forked call."""
    return _inside_group


def split(items: Sequence, n: int) -> list[list]:
    """``items`` in ``n`` contiguous groups whose sizes differ by at most one, in order."""
    size, extra = divmod(len(items), n)
    groups, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        groups.append(list(items[start:end]))
        start = end
    return groups


def run_forked(fn: Callable, groups: Sequence, interrupted: Callable[[object], str | None] = lambda r: None) -> list:
    """``[fn(g) for g in groups]``, groups[1:] each in a forked child, groups[0] in this process.

    interrupted(result) names the signal (e.g. "SIGINT") that stopped this process's own ``fn`` early, or
    None; the children then get that signal too, and stop the same way. A child writes its result to an
    unlinked temporary file, so it never waits for this process to read. An exception in a child is raised
    here with the child's traceback as a note (as a RuntimeError if it cannot travel)."""
    global _inside_group
    children: list[tuple[int, object]] = []
    _flush()  # what this process printed so far is sent now, not once more by every child
    try:
        for group in groups[1:]:
            children.append(_fork(fn, group))
        nested, _inside_group = _inside_group, True  # this process's own group stays in this process too
        try:
            results = [fn(groups[0])]
        finally:
            _inside_group = nested
        stopped = interrupted(results[0])
        if stopped is not None:
            _signal_all(children, getattr(signal, stopped))
        with _Forwarding(children):
            while children:
                pid, file = children[0]
                _, status = os.waitpid(pid, 0)  # a second Ctrl-C here raises: the child is still listed, and killed
                children.pop(0)  # reaped: never signalled or killed again
                results.append(_receive(pid, file, status))
        return results
    finally:  # an error or a second Ctrl-C here: no child outlives the call
        for pid, file in children:
            _kill(pid, file)


def _fork(fn: Callable, group) -> tuple[int, object]:
    file = tempfile.TemporaryFile()
    try:
        pid = os.fork()
    except BaseException:
        file.close()
        raise
    if pid == 0:  # the child: never returns
        global _inside_group
        _inside_group, status = True, 1
        try:
            os.setpgid(0, 0)  # Ctrl-C to this process group (a kernel's interrupt) reaches the parent only
            _die_with_parent()
            try:
                payload = pickle.dumps(("ok", fn(group)))
            except BaseException as error:  # noqa: BLE001 - every failure goes back to the parent
                payload = _pickled_error(error)
            for signum in (signal.SIGINT, signal.SIGTERM):  # done: a late signal must not cut the result short
                signal.signal(signum, signal.SIG_IGN)
            file.write(payload)
            file.flush()
            status = 0
        finally:
            _flush()
            os._exit(status)
    try:
        os.setpgid(pid, pid)  # also here, so no signal to our group reaches the child before it does so itself
    except OSError:
        pass
    return pid, file


def _pickled_error(error: BaseException) -> bytes:
    trace = traceback.format_exc()
    try:
        payload = pickle.dumps(("error", error, trace))
        pickle.loads(payload)  # an exception that pickles but does not unpickle comes back as a RuntimeError
        return payload
    except Exception:  # noqa: BLE001
        return pickle.dumps(("error", RuntimeError(f"{type(error).__name__}: {error}"), trace))


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed or odd stream must not stop training
            pass


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # pragma: no cover
        pass
    if os.getppid() == 1:  # the parent died before the request took effect
        os._exit(1)


def _receive(pid: int, file, status: int):
    """The result a reaped child left in its file (raised, if it was an error)."""
    try:
        file.seek(0)
        data = file.read()
    finally:
        file.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0 or not data:
        raise RuntimeError(f"a training process (pid {pid}) ended without a result (exit status {code})")
    kind, value, *trace = pickle.loads(data)
    if kind == "error":
        if trace:
            value.add_note(f"in the process that trained these seeds (pid {pid}):\n{trace[0]}")
        raise value
    return value


def _kill(pid: int, file) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    file.close()


def _signal_all(children, signum: int) -> None:
    for pid, _ in children:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


class _Forwarding:
    """While this process waits for its children, SIGINT and SIGTERM are passed on to them."""

    def __init__(self, children):
        self.children, self.previous, self.received = children, {}, False

    def _forward(self, signum, frame):
        if self.received:  # a second signal: stop at once (the caller's finally kills the children)
            raise KeyboardInterrupt
        self.received = True
        _signal_all(self.children, signum)

    def __enter__(self):
        if self.children and signal.getsignal(signal.SIGINT) is not None:
            try:
                for signum in (signal.SIGINT, signal.SIGTERM):
                    self.previous[signum] = signal.signal(signum, self._forward)
            except ValueError:  # not the main thread: signals go where they went
                pass
        return self

    def __exit__(self, *exc):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        return False
