"""Run a grid of independent tasks through Dask, here or on a cluster, caching each result.

An analysis that is a grid (participants x models x layers x lags) hands its tasks to
:func:`run`. Each :class:`Task` is a module-level function with its arguments, a label
that says what it is (``sub-01 space-wav2vec2-base layer-6``) and, if its result is kept,
everything that result depends on; another task may be one of its arguments. The tasks
run through ``dask.distributed`` (:func:`connect`):

- in this process by default (a thread per core);
- on ``N`` local worker processes (``workers=N``, a :class:`~distributed.LocalCluster`);
- on a running cluster (``scheduler="tcp://host:8786"``, or a scheduler file written by
  ``dask scheduler --scheduler-file``), e.g. SLURM jobs started with ``dask-jobqueue``
  (see ``docs/cluster.md``).

Every result that is kept is written by the worker that made it, before it reports,
as an entry of a :class:`~neurospeech.store.Store` (``derivatives/neurospeech-grid/``
by default), named by its label and keyed by its inputs, salted with the package's
fingerprint (code and installed versions). A run that
stops half way (a failed task, a killed worker or job) therefore loses nothing that was
finished, and the next run computes only what is missing. A failed task does not stop
the others: :class:`GridError` names it, and why, once the rest are done.

Results do not depend on the executor: the seeds are arguments of the tasks, and every
worker runs its numerical libraries (BLAS, OpenMP, torch) on one thread, because their
sums are split differently with more threads and would change the last bits.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from distributed.diagnostics.plugin import WorkerPlugin
from tqdm.auto import tqdm

from neurospeech import fingerprint
from neurospeech.store import Store

logger = logging.getLogger(__name__)

#: Name of the worker resource that marks a GPU (``dask worker --resources GPU=1``).
GPU = "GPU"


@dataclasses.dataclass(frozen=True, eq=False)
class Task:
    """One unit of work: a function, its arguments, and what names and identifies it.

    Attributes
    ----------
    func : callable
        A module-level function (workers import it), returning a dict of arrays if the
        result is kept.
    kwargs : dict
        Its arguments; a :class:`Task` among them is replaced by that task's result.
    label : dict
        What the task is, as BIDS-like entities (``{"sub": "01", "space": "log-mel"}``);
        it names the result file (``sub-01_space-log-mel_fit_<hash>.npz``) and the task
        in error messages.
    kind : str
        What the function computes (``"fit"``), the file name's suffix.
    identity : dict
        Everything the result depends on besides the label, the function and the tasks
        it takes (their own identities count): parameters, input hashes. JSON-serializable.
    keep : bool
        Write the result under the grid's folder and read it there on the next run.
    gpu : bool
        Run it on a worker that has a ``GPU`` resource, when the cluster has one.
    priority : int
        Among the tasks ready to run, those of a higher priority start first (Dask's
        ``priority``): give the longest tasks the highest, so that none of them starts
        last and runs alone while the other workers idle.
    """

    func: Callable[..., Any]
    kwargs: Mapping[str, Any]
    label: Mapping[str, object]
    kind: str
    identity: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    keep: bool = True
    gpu: bool = False
    priority: int = 0

    @property
    def name(self) -> str:
        """The label as a file name stem: ``sub-01_space-log-mel_fit``."""
        return "_".join([*(f"{key}-{value}" for key, value in self.label.items()), self.kind])

    @property
    def description(self) -> str:
        """The label for people: ``sub 01, space log-mel (fit)``."""
        entities = ", ".join(f"{key} {value}" for key, value in self.label.items())
        return f"{entities} ({self.kind})"

    @property
    def dependencies(self) -> dict[str, Task]:
        """The arguments that are tasks, by argument name."""
        return {arg: value for arg, value in self.kwargs.items() if isinstance(value, Task)}


class GridError(RuntimeError):
    """Some tasks of a grid failed; the others finished and their results are kept.

    Attributes
    ----------
    failed : dict
        The exception of each task that failed itself, by task.
    blocked : list of Task
        Tasks not run because a task they need failed.
    """

    def __init__(self, failed: dict[Task, BaseException], blocked: list[Task]) -> None:
        self.failed = failed
        self.blocked = blocked
        lines = [f"{len(failed)} task(s) of the grid failed; the others finished and are kept:"]
        lines += sorted(
            f"  {task.description}: {type(err).__name__}: {err}" for task, err in failed.items()
        )
        if blocked:
            lines.append(f"  and {len(blocked)} task(s) that need them were not run")
        lines.append("Run again to compute only what is missing.")
        super().__init__("\n".join(lines))


@dataclasses.dataclass
class Outcome:
    """The results of a grid, by task.

    Attributes
    ----------
    results : dict
        Result of each task asked for, by task.
    seconds : dict
        Compute time of each task asked for and run now (not of results read from the
        cache), by task.
    from_cache : list of Task
        The tasks whose result was read from the cache.
    """

    results: dict[Task, Any]
    seconds: dict[Task, float]
    from_cache: list[Task]

    def __getitem__(self, task: Task) -> Any:
        """Return the result of ``task``."""
        return self.results[task]


class _OneThread(WorkerPlugin):
    """Worker plugin: numerical libraries on one thread while the worker runs, then restored.

    A worker process of a cluster gets it when the client connects; an in-process worker
    shares the limits with this process until it closes.
    """

    idempotent = True
    name = "neurospeech-one-thread"

    def setup(self, worker) -> None:
        """Limit BLAS, OpenMP and torch to one thread."""
        import torch
        from threadpoolctl import threadpool_limits

        self._limits = threadpool_limits(1)
        self._torch_threads = torch.get_num_threads()
        torch.set_num_threads(1)

    def teardown(self, worker) -> None:
        """Restore the thread counts found at setup."""
        import torch

        self._limits.restore_original_limits()
        torch.set_num_threads(self._torch_threads)


@contextlib.contextmanager
def connect(workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """Yield a ``distributed.Client`` for :func:`run`: this process, local processes or a cluster.

    Parameters
    ----------
    workers : int, optional
        Start a :class:`~distributed.LocalCluster` of this many worker processes (one
        thread each).
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``) or the path of its
        scheduler file; its workers must see the same files (dataset, derivatives).

    With neither, the tasks run in this process on a thread per core.
    """
    from distributed import Client, LocalCluster

    if workers is not None and scheduler is not None:
        raise ValueError("give workers (a local cluster) or scheduler (a running one), not both")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    with contextlib.ExitStack() as stack:
        if scheduler is not None:
            if Path(scheduler).is_file():
                client = stack.enter_context(Client(scheduler_file=scheduler))
            else:
                client = stack.enter_context(Client(scheduler))
        else:
            options = (
                {"n_workers": workers, "threads_per_worker": 1, "dashboard_address": ":0"}
                if workers is not None
                else {
                    "processes": False,
                    "n_workers": 1,
                    "threads_per_worker": os.cpu_count() or 1,
                    "dashboard_address": None,
                }
            )
            cluster = stack.enter_context(LocalCluster(**options))
            client = stack.enter_context(Client(cluster))
        client.register_plugin(_OneThread())
        logger.info("Dask: %s", client)
        yield client


def worker_device() -> str:
    """Return ``"cuda"`` inside a task on a worker with a ``GPU`` resource, else ``"cpu"``."""
    from distributed import get_worker

    try:
        worker = get_worker()
    except ValueError:  # not in a task
        return "cpu"
    return "cuda" if worker.state.total_resources.get(GPU) else "cpu"


def _with_dependencies(tasks: Iterable[Task]) -> list[Task]:
    """Return the tasks and every task they need, each after the tasks it needs."""
    ordered: list[Task] = []
    seen: set[int] = set()

    def visit(task: Task) -> None:
        if id(task) in seen:
            return
        seen.add(id(task))
        for dependency in task.dependencies.values():
            visit(dependency)
        ordered.append(task)

    for task in tasks:
        visit(task)
    return ordered


def _entries(ordered: list[Task], folder: Path) -> dict[Task, _Entry]:
    """Return where each task's result is kept: its store, entry name, key and description."""
    salt = fingerprint.salt()
    entries: dict[Task, _Entry] = {}
    for task in ordered:
        description = {
            "func": f"{task.func.__module__}.{task.func.__qualname__}",
            "label": dict(task.label),
            "kind": task.kind,
            "identity": dict(task.identity),
            "needs": {arg: entries[dep].key for arg, dep in task.dependencies.items()},
        }
        key = fingerprint.key(description, salt)
        subject = task.label.get("sub")
        entries[task] = _Entry(
            str(folder / f"sub-{subject}" if subject else folder),
            f"{task.name}_{key[:12]}",
            key,
            description,
        )
    return entries


@dataclasses.dataclass(frozen=True)
class _Entry:
    """Where a task's result is kept (a :class:`~neurospeech.store.Store` entry)."""

    folder: str
    name: str
    key: str
    description: dict[str, Any]

    def read(self) -> dict[str, np.ndarray] | None:
        """Return the kept result, or None if missing, stale or damaged (then computed again)."""
        return Store(self.folder).get(self.name, self.key)

    def write(self, result: Mapping[str, Any]) -> None:
        """Keep ``result`` (a dict of arrays)."""
        Store(self.folder).put(self.name, self.key, self.description, dict(result))


@dataclasses.dataclass(frozen=True)
class _Done:
    """What a task hands back: its result and its compute time."""

    result: Any
    seconds: float


def _execute(func: Callable[..., Any], entry: _Entry | None, kwargs: dict[str, Any]) -> _Done:
    """Run one task on a worker; keep its result before returning it, if it is kept."""
    kwargs = {arg: v.result if isinstance(v, _Done) else v for arg, v in kwargs.items()}
    start = time.perf_counter()
    result = func(**kwargs)
    seconds = time.perf_counter() - start
    if entry is not None:
        if not isinstance(result, Mapping):
            raise TypeError(f"{func.__qualname__} must return a dict of arrays to be kept")
        entry.write(result)
    return _Done(result, seconds)


def _has_gpu(client) -> bool:
    workers = client.scheduler_info().get("workers", {}).values()
    return any(worker.get("resources", {}).get(GPU) for worker in workers)


def run(
    tasks: Iterable[Task],
    client,
    folder: str | os.PathLike,
    *,
    desc: str = "tasks",
    progress: bool = True,
) -> Outcome:
    """Run the tasks not already kept, with a progress bar, and return every result.

    Parameters
    ----------
    tasks : iterable of Task
        The tasks whose results are wanted; the tasks they take run as needed.
    client : distributed.Client
        From :func:`connect`.
    folder : path-like
        Where kept results are written and read (``derivatives/neurospeech-grid``); on a
        cluster, a folder every worker can write.
    desc : str
        Progress bar label.
    progress : bool
        Show a progress bar over the tasks run.

    Returns
    -------
    Outcome

    Raises
    ------
    GridError
        If tasks failed, once every other task has finished (and its result is kept).
    """
    from distributed import as_completed

    wanted = list(tasks)
    asked = set(wanted)
    ordered = _with_dependencies(wanted)
    entries = _entries(ordered, Path(folder))
    results: dict[Task, Any] = {}
    for task in ordered:
        if task.keep:
            kept = entries[task].read()
            if kept is not None:
                results[task] = kept
    from_cache = [task for task in wanted if task in results]

    needed: set[Task] = set()

    def need(task: Task) -> None:
        if task in results or task in needed:
            return
        needed.add(task)
        for dependency in task.dependencies.values():
            need(dependency)

    for task in wanted:
        need(task)
    gpu = _has_gpu(client)
    run_id = uuid.uuid4().hex[:8]  # a new Dask key per run: never an old run's (erred) task
    futures: dict[Task, Any] = {}
    for task in ordered:
        if task not in needed:
            continue
        kwargs = {
            arg: futures.get(value, results.get(value)) if isinstance(value, Task) else value
            for arg, value in task.kwargs.items()
        }
        futures[task] = client.submit(
            _execute,
            task.func,
            entries[task] if task.keep else None,
            kwargs,
            key=f"{entries[task].name}-{run_id}",
            resources={GPU: 1} if task.gpu and gpu else None,
            priority=task.priority,
        )
    by_future = {future.key: task for task, future in futures.items()}
    seconds: dict[Task, float] = {}
    failed: dict[Task, BaseException] = {}
    errored: set[Task] = set()
    with tqdm(total=len(futures), desc=desc, disable=not progress or not futures) as bar:
        for future in as_completed(list(futures.values())):
            task = by_future[future.key]
            if future.status == "finished":
                if task in asked:  # the others' results stay on the workers
                    done = future.result()
                    results[task], seconds[task] = done.result, done.seconds
            else:
                errored.add(task)
                try:
                    failed[task] = future.exception()
                except BaseException as err:  # cancelled: the cluster lost it
                    failed[task] = err
            futures.pop(task)
            bar.update()
            if errored:
                bar.set_postfix(failed=len(errored))
    if errored:

        def upstream_failed(task: Task) -> bool:
            return any(dep in errored or upstream_failed(dep) for dep in task.dependencies.values())

        blocked = [task for task in errored if upstream_failed(task)]
        raise GridError({t: e for t, e in failed.items() if t not in blocked}, blocked)
    return Outcome(
        results={task: results[task] for task in wanted},
        seconds=seconds,
        from_cache=from_cache,
    )
