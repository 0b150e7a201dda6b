"""Worker processes with a hard time limit per task, for the embedded runner (``pixelguard deid``).

Why not ``concurrent.futures.ProcessPoolExecutor``: it cannot stop one task. A decoder stuck in native code
ignores the cooperative time budget (``core.limits.Deadline``), and a worker that dies (a segfault in a
codec) breaks the whole executor, failing every pending task with one anonymous error. Here each worker
owns one pipe and one task at a time; the parent kills a worker whose task outlives ``hard_time_s``, or
notices one that died, reports that task with its cause, and starts a replacement.
"""
from __future__ import annotations

import contextlib
import multiprocessing as mp
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Generic, TypeVar

T = TypeVar("T")  # a task's key (the caller's item)
R = TypeVar("R")  # a task's result


@dataclass(frozen=True)
class TaskFailed:
    """Why a task has no result: ``code`` is ``over-budget`` (killed at the hard limit) or ``worker-died``."""

    code: str
    reason: str
    elapsed_s: float = 0.0


def _serve(conn: Connection, init: Callable[..., None], initargs: tuple[Any, ...],
           work: Callable[..., Any]) -> None:
    init(*initargs)
    conn.send(("ready", None))
    while True:
        try:
            args = conn.recv()
        except EOFError:
            return
        if args is None:
            return
        conn.send(("done", work(*args)))


class _Worker:
    def __init__(
        self, ctx: Any, init: Callable[..., None], initargs: tuple[Any, ...], work: Callable[..., Any]
    ) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, init, initargs, work), daemon=True)
        self.process.start()
        child.close()
        self.ready = False
        self.task: Any = None
        self.started = 0.0

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            with contextlib.suppress(OSError):
                self.conn.send(None)
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


class WorkerPool(Generic[T, R]):
    """``size`` processes running ``work(*args)``; ``run`` yields ``(key, result | TaskFailed)`` as tasks end."""

    def __init__(self, size: int, init: Callable[..., None], initargs: tuple[Any, ...],
                 work: Callable[..., R], hard_time_s: float) -> None:
        self._ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        self._spec = (init, initargs, work)
        self.hard_time_s = hard_time_s
        self.size = max(1, size)
        self.replaced = 0  # workers killed or found dead, then replaced
        self._failed_starts = 0

    def _spawn(self) -> _Worker:
        return _Worker(self._ctx, *self._spec)

    def run(self, tasks: Iterable[tuple[T, tuple[Any, ...]]]) -> Iterator[tuple[T, R | TaskFailed]]:
        queue = iter(tasks)
        workers = [self._spawn() for _ in range(self.size)]
        try:
            yield from self._loop(queue, workers)
        finally:
            for worker in workers:
                worker.stop(kill=worker.task is not None)

    def _loop(self, queue: Iterator[tuple[T, tuple[Any, ...]]],
              workers: list[_Worker]) -> Iterator[tuple[T, R | TaskFailed]]:
        exhausted = False
        while True:
            for worker in workers:
                if worker.ready and worker.task is None and not exhausted:
                    nxt = next(queue, None)
                    if nxt is None:
                        exhausted = True
                    else:
                        worker.task, worker.started = nxt[0], time.monotonic()
                        worker.conn.send(nxt[1])
            busy = [w for w in workers if w.task is not None or not w.ready]
            if exhausted and not any(w.task is not None for w in workers):
                return
            for conn in wait([w.conn for w in busy], timeout=self._next_timeout(busy)):
                worker = next(w for w in workers if w.conn is conn)
                try:
                    kind, result = worker.conn.recv()
                except (EOFError, OSError):
                    worker.process.join(timeout=5)
                    if not worker.ready:
                        self._failed_starts += 1
                        if self._failed_starts >= 3:
                            raise RuntimeError(f"worker processes cannot start (exit code "
                                               f"{worker.process.exitcode}): see the messages above") from None
                    yield from self._replace(workers, worker, TaskFailed(
                        "worker-died", f"the worker process died ({_exit(worker.process.exitcode)}) while "
                                       "processing this object; it was replaced and the run went on"))
                    continue
                if kind == "ready":
                    worker.ready = True
                else:
                    key, worker.task = worker.task, None
                    yield key, result
            now = time.monotonic()
            for worker in list(workers):
                if worker.task is not None and now - worker.started > self.hard_time_s:
                    yield from self._replace(workers, worker, TaskFailed(
                        "over-budget", f"the object was still being processed after the hard limit of "
                                       f"{self.hard_time_s:.0f} s; its worker was stopped and replaced "
                                       "(split the series or raise PIXELGUARD_HARD_TIME_S)"), kill=True)

    def _next_timeout(self, busy: list[_Worker]) -> float:
        running = [w.started for w in busy if w.task is not None]
        if not running:
            return 1.0
        return max(0.05, min(1.0, self.hard_time_s - (time.monotonic() - min(running))))

    def _replace(self, workers: list[_Worker], worker: _Worker, failure: TaskFailed,
                 kill: bool = False) -> Iterator[tuple[T, R | TaskFailed]]:
        key = worker.task
        worker.task = None
        failure = TaskFailed(failure.code, failure.reason, time.monotonic() - worker.started)
        worker.stop(kill=kill)
        workers[workers.index(worker)] = self._spawn()
        self.replaced += 1
        if key is not None:
            yield key, failure


def _exit(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by signal {-code}"
    return f"exit code {code}"
