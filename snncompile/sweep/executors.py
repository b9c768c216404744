"""Executors: where the points of a sweep run. Each maps `fn` over tasks and yields
`(position, result)` as results arrive (any order); the runner sorts them, so every executor
gives the same results.

  SerialExecutor()               in this process, one point after the other (the default)
  ProcessExecutor(workers)       a local process pool (`spawn`: workers import snncompile
                                 afresh, nothing of this process is forked)
  DaskExecutor(scheduler=ADDR)   an existing dask.distributed cluster (its workers need
                                 snncompile installed, and an ONNX model path readable)
  DaskExecutor(local_workers=N)  a LocalCluster of N single-threaded worker processes
  DaskExecutor(client=c)         a Client the caller owns (tests: an in-process cluster)

dask is optional (`pip install 'snncompile[cluster]'`); without it, a dask executor raises
`MissingDependencyError` saying so. `make_executor(workers, scheduler, dask_local)` picks one
from the CLI's options. Executors are context managers (pools and clusters are shut down on
exit, also on error).
"""

from __future__ import annotations

import uuid
from typing import Any, Callable, Iterator, Sequence

from snncompile.errors import ConfigError, MissingDependencyError

INSTALL_HINT = "pip install 'snncompile[cluster]'"


class SerialExecutor:
    """Run every task in this process, in order."""

    name = "local"

    def __enter__(self) -> "SerialExecutor":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name, "workers": 1}

    def map(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        for i, task in enumerate(tasks):
            yield i, fn(task)


class ProcessExecutor:
    """A pool of `workers` local processes (concurrent.futures, spawn start method)."""

    name = "local"

    def __init__(self, workers: int) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ConfigError(f"--workers must be a positive integer, got {workers!r}")
        self.workers = workers
        self._pool = None

    def __enter__(self) -> "ProcessExecutor":
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        self._pool = ProcessPoolExecutor(self.workers,
                                         mp_context=multiprocessing.get_context("spawn"))
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name, "workers": self.workers}

    def map(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        from concurrent.futures import as_completed
        if self._pool is None:
            raise RuntimeError("ProcessExecutor.map outside its `with` block")
        futures = {self._pool.submit(fn, t): i for i, t in enumerate(tasks)}
        try:
            for fut in as_completed(futures):
                yield futures[fut], fut.result()
        finally:
            for fut in futures:
                fut.cancel()


def import_distributed():
    """`distributed`, or MissingDependencyError naming what to install."""
    try:
        import distributed
    except ImportError:
        raise MissingDependencyError(
            f"the dask executor needs dask.distributed, which is not installed "
            f"({INSTALL_HINT})") from None
    return distributed


class DaskExecutor:
    """Points as dask futures on a dask.distributed cluster (module docstring)."""

    name = "dask"

    def __init__(self, *, scheduler: str | None = None, local_workers: int | None = None,
                 client: Any = None) -> None:
        given = sum(x is not None for x in (scheduler, local_workers, client))
        if given != 1:
            raise ConfigError("the dask executor needs exactly one of --scheduler ADDRESS or "
                              "--dask-local N")
        if local_workers is not None and (isinstance(local_workers, bool)
                                          or not isinstance(local_workers, int)
                                          or local_workers < 1):
            raise ConfigError(f"--dask-local must be a positive integer, got {local_workers!r}")
        self.scheduler, self.local_workers = scheduler, local_workers
        self.client, self._owns_client, self._cluster = client, False, None

    def __enter__(self) -> "DaskExecutor":
        distributed = import_distributed()
        if self.client is not None:
            return self
        if self.local_workers is not None:
            self._cluster = distributed.LocalCluster(
                n_workers=self.local_workers, threads_per_worker=1, processes=True,
                dashboard_address=None)
            self.client = distributed.Client(self._cluster, set_as_default=False)
        else:
            try:
                self.client = distributed.Client(self.scheduler, timeout="20s",
                                                 set_as_default=False)
            except (OSError, TimeoutError, ValueError) as exc:
                raise ConfigError(f"--scheduler {self.scheduler}: cannot connect to a dask "
                                  f"scheduler ({exc})") from None
        self._owns_client = True
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._owns_client and self.client is not None:
            self.client.close()
            self.client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"executor": self.name}
        if self.scheduler is not None:
            out["scheduler"] = self.scheduler
        if self.local_workers is not None:
            out["workers"] = self.local_workers
        if self.client is not None:
            try:
                out["workers"] = len(self.client.scheduler_info().get("workers", {}))
            except Exception:  # noqa: BLE001 - informational only
                pass
        return out

    def map(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        distributed = import_distributed()
        if self.client is None:
            raise RuntimeError("DaskExecutor.map outside its `with` block")
        run = uuid.uuid4().hex[:12]
        futures = [self.client.submit(fn, t, key=f"snncompile-sweep-{run}-{i}", pure=False)
                   for i, t in enumerate(tasks)]
        position = {f.key: i for i, f in enumerate(futures)}
        try:
            for fut in distributed.as_completed(futures, loop=self.client.loop):
                yield position[fut.key], fut.result()
        finally:
            self.client.cancel(futures)


def make_executor(workers: int = 1, scheduler: str | None = None,
                  dask_local: int | None = None):
    """The executor the CLI options ask for: dask when --scheduler or --dask-local is given,
    else local (serial for one worker, a process pool for more)."""
    if scheduler is not None or dask_local is not None:
        if workers != 1:
            raise ConfigError("--workers is for the local executor; a dask cluster has its own "
                              "workers (--dask-local N)")
        if scheduler is not None and dask_local is not None:
            raise ConfigError("give either --scheduler or --dask-local, not both")
        return DaskExecutor(scheduler=scheduler, local_workers=dask_local)
    if workers == 1:
        return SerialExecutor()
    return ProcessExecutor(workers)
