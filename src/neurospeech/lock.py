"""Locks between processes: one reproduce per checkout, one writer per store at a time.

A lock is a file held with ``flock``: the kernel releases it when its holder exits, so a
run killed with SIGKILL never leaves a lock that blocks the next one. The holder writes
who it is (pid, host, start time) into the file; a process that finds the lock taken
names that holder, and one that takes a lock whose file still names a holder knows that
the holder died without releasing it (it says so, and takes the lock over: the file is
released only by emptying it).

``flock`` works between processes of one machine, and between machines on network file
systems that support it (NFSv4 maps it to byte-range locks).
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

#: Seconds between two attempts while waiting for a lock.
POLL = 0.5


class LockError(RuntimeError):
    """The lock is held by another process; the message names it (pid, host, start time)."""


def _holder(fid) -> str:
    """Describe the holder recorded in an open lock file, or say that none is recorded."""
    fid.seek(0)
    text = fid.read()
    try:
        who = json.loads(text)
        return f"pid {who['pid']} on {who['host']}, started {who['started']} ({who['what']})"
    except (ValueError, KeyError, TypeError):
        return "a process that recorded no details"


def _try(fid) -> bool:
    try:
        fcntl.flock(fid, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextlib.contextmanager
def hold(path: str | os.PathLike, what: str, *, wait: float = 0.0) -> Iterator[Path]:
    """Hold the lock ``path`` for the block; refuse, or wait, if another process holds it.

    Parameters
    ----------
    path : path-like
        The lock file (created if missing; never removed, only emptied on release).
    what : str
        What the holder does, recorded for whoever finds the lock taken
        (``"neurospeech reproduce"``).
    wait : float
        Seconds to wait for the holder to finish (0: refuse at once). A message naming
        the holder is logged once when waiting starts.

    Raises
    ------
    LockError
        If the lock is still held after ``wait`` seconds; the message names the holder
        and the lock file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fid = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held for the block)
    try:
        deadline = time.monotonic() + wait
        told = False
        while not _try(fid):
            holder = _holder(fid)
            if time.monotonic() >= deadline:
                raise LockError(
                    f"{path} is held by {holder}: wait for it to finish (or stop it), "
                    f"then run again"
                )
            if not told:
                logger.warning("waiting for %s, held by %s", path, holder)
                told = True
            time.sleep(POLL)
        fid.seek(0)
        if fid.read().strip():
            logger.warning(
                "%s was left by %s, which ended without releasing it; taking it over",
                path,
                _holder(fid),
            )
        started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": started, "what": what}
        fid.seek(0)
        fid.truncate()
        fid.write(json.dumps(me))
        fid.flush()
        try:
            yield path
        finally:
            fid.seek(0)
            fid.truncate()
            fid.flush()
            fcntl.flock(fid, fcntl.LOCK_UN)
    finally:
        fid.close()
