"""Small I/O helpers shared across the package: atomic writes, hashing, a network probe."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import socket
import tempfile
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path that replaces ``path`` only if the block succeeds.

    The temporary file lives in the same folder, so the final :func:`os.replace` is
    atomic: a reader sees either the old file or the complete new one, never a
    partial write, and an exception leaves any existing file untouched.

    Parameters
    ----------
    path : path-like
        The destination file.

    Yields
    ------
    tmp : Path
        Where to write. It does not exist when the block starts.

    Raises
    ------
    OSError
        The folder cannot be written (read-only, full disk, no permission): the message
        names ``path`` and the reason.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(
            prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
        )
    except OSError as err:
        raise _naming(err, path) from None
    os.close(fd)
    tmp = Path(name)
    tmp.unlink()
    try:
        try:
            yield tmp
        except OSError as err:  # writing the temporary file: only the disk's own errors
            if err.errno in _DISK_ERRORS:
                raise _naming(err, path) from None
            raise
        try:
            os.replace(tmp, path)
        except OSError as err:
            raise _naming(err, path) from None
    finally:
        tmp.unlink(missing_ok=True)


#: Errors of a disk that cannot take a write: full, read-only, over quota, file too big.
_DISK_ERRORS = frozenset({errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EFBIG})


def _naming(err: OSError, path: Path) -> OSError:
    """Return ``err`` as an error of the same type that names ``path`` (nothing was changed)."""
    reason = err.strerror or str(err)
    return type(err)(err.errno, f"cannot write {path}: {reason}; it is left as it was")


def write_text(path: str | os.PathLike, text: str, *, newline: str = "\n") -> Path:
    """Write ``text`` atomically with the given line ending and return the path."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline=newline) as fid:
            fid.write(text)
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically and return the path."""
    return write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def sha256(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Return the hexadecimal SHA-256 digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fid:
        for block in iter(lambda: fid.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def digest(obj: Any) -> str:
    """Return the SHA-256 of a JSON-serializable object (keys sorted, others as ``str``)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def reachable(url: str, timeout: float = 3.0) -> bool:
    """Whether the host of ``url`` accepts a TCP connection within ``timeout`` seconds.

    Local paths and ``file:`` URLs are always reachable.
    """
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme in ("", "file") or not parsed.hostname:
        return True
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((parsed.hostname, port), timeout=timeout).close()
    except OSError:
        return False
    return True
