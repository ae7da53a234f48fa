"""What a step costs: wall time, peak memory of its processes, disk written.

:func:`measure` watches a block of work: the wall-clock seconds it takes, the peak of the
resident memory of this process and of every process it starts (a notebook's kernel, the
local Dask workers), sampled a few times a second, and how many bytes the files of the
folders it is given (the features cache, the grid's results, the outputs) grew by.
:mod:`neurospeech.pipeline` measures every step of a reproduce this way and keeps the
numbers in ``paper/build/usage.json``, beside the manifest rather than in it (the
manifest holds only what the same outputs always give).

The memory is the sum of the processes' resident sets: pages two processes share are
counted twice, so it is an upper bound of what the machine needed, and a peak shorter
than the sampling interval can be missed.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

#: Seconds between two samples of the memory.
INTERVAL = 0.2


@dataclass
class Usage:
    """The cost of a block of work (see :func:`measure`).

    Attributes
    ----------
    wall_s : float
        Wall-clock seconds.
    peak_rss_bytes : int
        Peak of the summed resident memory of this process and its descendants.
    disk_bytes : int
        Growth of the bytes in the folders watched (negative if they shrank).
    """

    wall_s: float = 0.0
    peak_rss_bytes: int = 0
    disk_bytes: int = 0

    def to_dict(self) -> dict[str, float | int]:
        """Return the numbers, rounded for a record (milliseconds)."""
        return {**asdict(self), "wall_s": round(self.wall_s, 3)}

    def __str__(self) -> str:
        return (
            f"{self.wall_s:.0f} s, peak memory {self.peak_rss_bytes / 2**30:.2f} GiB, "
            f"{self.disk_bytes / 2**20:+.1f} MiB on disk"
        )


def tree_rss(process: psutil.Process | None = None) -> int:
    """Return the summed resident memory of ``process`` (default: this one) and its descendants."""
    process = process or psutil.Process()
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue  # it ended between the listing and the reading
    return total


def folder_bytes(folders: Iterable[str | os.PathLike]) -> int:
    """Return the bytes of the files under ``folders`` (those that exist; links not followed)."""
    total = 0
    for folder in folders:
        for dirpath, _, names in os.walk(folder):
            for name in names:
                try:
                    total += os.lstat(os.path.join(dirpath, name)).st_size
                except FileNotFoundError:
                    continue  # removed while walking
    return total


@contextmanager
def measure(folders: Iterable[str | os.PathLike] = ()) -> Iterator[Usage]:
    """Measure the block's wall time, peak memory and the growth of ``folders``.

    Parameters
    ----------
    folders : iterable of path-like
        Folders whose files' bytes are counted before and after.

    Yields
    ------
    usage : Usage
        Filled in when the block ends (also when it raises).

    Examples
    --------
    >>> with measure() as usage:  # no folder: time and memory only
    ...     data = bytearray(10**6)
    >>> usage.wall_s >= 0 and usage.peak_rss_bytes > 0
    True
    """
    folders = [Path(folder) for folder in folders]
    usage = Usage(peak_rss_bytes=tree_rss())
    before = folder_bytes(folders)
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(INTERVAL):
            usage.peak_rss_bytes = max(usage.peak_rss_bytes, tree_rss())

    watcher = threading.Thread(target=sample, name="neurospeech-usage", daemon=True)
    start = time.monotonic()
    watcher.start()
    try:
        yield usage
    finally:
        stop.set()
        watcher.join()
        usage.wall_s = time.monotonic() - start
        usage.peak_rss_bytes = max(usage.peak_rss_bytes, tree_rss())
        usage.disk_bytes = folder_bytes(folders) - before
