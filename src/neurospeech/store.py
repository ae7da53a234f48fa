"""One store for every cached result: key -> file, written atomically, described beside it.

A :class:`Store` is a folder of entries. Each entry has a name and a key (the
description of what it holds, salted with the package's fingerprint:
:func:`neurospeech.fingerprint.key`), and is two files:

- the value, ``<name>.npy`` (one array, read by memory map), ``<name>.npz`` (a dict of
  arrays), or nothing when the value is small JSON;
- ``<name>.json``: the key, the description, the code hash and the salt it was made
  with, and the value's size, shape and type (or the JSON value itself).

Both are written atomically, the value first, under the store's lock (one writer at a
time, across processes and machines sharing the folder). An entry is used only if its
key is the one asked for and its value is intact (present, of the recorded size, shape
and type, and passing the caller's check); otherwise it is computed again, with a
warning that names the file when the entry was damaged rather than merely out of date.

The step records of a reproduce, the results of the task grids and the features cache
are all stores.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from neurospeech import _io, fingerprint, lock

logger = logging.getLogger(__name__)

#: Value formats: one array, a dict of arrays, or JSON inside the description file.
FORMATS = (".npy", ".npz", None)


class CorruptEntry(ValueError):
    """A stored value that cannot be read, or does not match its description."""


def _describe(value: Any, fmt: str | None) -> dict[str, Any]:
    if fmt == ".npy":
        return {"shape": list(value.shape), "dtype": value.dtype.str}
    if fmt == ".npz":
        return {
            "arrays": {
                name: {"shape": list(np.shape(v)), "dtype": np.asarray(v).dtype.str}
                for name, v in value.items()
            }
        }
    return {}


class Store:
    """A folder of cached results, each keyed by what it depends on.

    Parameters
    ----------
    folder : path-like
        Where the entries live (created on the first write).
    fmt : {".npy", ".npz", None}
        How values are kept: one array, a dict of arrays, or JSON in the description file.
    """

    def __init__(self, folder: str | os.PathLike, fmt: str | None = ".npz") -> None:
        if fmt not in FORMATS:
            raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
        self.folder = Path(folder)
        self.fmt = fmt

    def __repr__(self) -> str:
        return f"Store({str(self.folder)!r}, fmt={self.fmt!r})"

    def value_path(self, name: str) -> Path:
        """Return the file of an entry's value (its description file for JSON values)."""
        return self.folder / f"{name}{self.fmt or '.json'}"

    def description_path(self, name: str) -> Path:
        """Return the description file of an entry."""
        return self.folder / f"{name}.json"

    def record(self, name: str) -> dict[str, Any] | None:
        """Return the description file's content of an entry, whatever its key, or None."""
        path = self.description_path(name)
        try:
            found = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            logger.warning("%s is unreadable (%s); it is ignored", path, err)
            return None
        return found if isinstance(found, dict) else None

    def _read(self, name: str, record: dict[str, Any]) -> Any:
        """Read an entry's value and check it against its record; raise CorruptEntry if not."""
        if self.fmt is None:
            if "value" not in record:
                raise CorruptEntry("it holds no value")
            return record["value"]
        path = self.value_path(name)
        try:
            if path.stat().st_size != record.get("bytes"):
                size = path.stat().st_size
                raise CorruptEntry(
                    f"it has {size} bytes, its description says {record.get('bytes')}"
                )
            if self.fmt == ".npy":
                value = np.load(path, mmap_mode="r", allow_pickle=False)
            else:
                with np.load(path, allow_pickle=False) as stored:
                    value = {name: stored[name] for name in stored.files}
        except (OSError, ValueError, EOFError) as err:
            raise CorruptEntry(str(err)) from None
        if _describe(value, self.fmt) != record.get("content"):
            raise CorruptEntry("its shape or type differs from its description")
        return value

    def get(
        self,
        name: str,
        key: str,
        *,
        check: Callable[[Any], str | None] | None = None,
    ) -> Any | None:
        """Return the value of entry ``name`` if it has ``key`` and is intact, else None.

        Parameters
        ----------
        name : str
        key : str
            From :func:`neurospeech.fingerprint.key`.
        check : callable, optional
            Given the value, returns a reason why it is wrong (e.g. its number of rows),
            or None if it is right.

        A damaged entry (unreadable, truncated, foreign, failing ``check``) gives a
        warning naming its file; an entry made for another key is out of date, which is
        only logged.
        """
        record = self.record(name)
        if record is None:
            return None
        if record.get("key") != key:
            logger.info("%s is out of date (another key); computing it again", self.folder / name)
            return None
        try:
            value = self._read(name, record)
            reason = check(value) if check is not None else None
            if reason:
                raise CorruptEntry(reason)
        except CorruptEntry as err:
            logger.warning("%s is damaged (%s); computing it again", self.value_path(name), err)
            return None
        return value

    def put(self, name: str, key: str, description: Mapping[str, Any], value: Any) -> Path:
        """Write entry ``name``: its value, then its description; return the value's file."""
        with lock.hold(self.folder / ".lock", f"writing to {self.folder}", wait=600):
            record = {
                "key": key,
                "description": dict(description),
                "code": fingerprint.code_hash(),
                "salt": fingerprint.salt(),
            }
            path = self.value_path(name)
            if self.fmt is None:
                record["value"] = value
            else:
                with _io.atomic_path(path) as tmp:
                    with open(tmp, "wb") as fid:
                        if self.fmt == ".npy":
                            np.save(fid, value, allow_pickle=False)
                        else:
                            np.savez(fid, allow_pickle=False, **value)
                record["bytes"] = path.stat().st_size
                record["content"] = _describe(value, self.fmt)
            _io.write_json(self.description_path(name), record)
        return path

    def remove(self, name: str) -> None:
        """Remove entry ``name`` (value and description), if there."""
        for path in {self.value_path(name), self.description_path(name)}:
            path.unlink(missing_ok=True)

    def fetch(
        self,
        name: str,
        description: Mapping[str, Any],
        compute: Callable[[], Any],
        *,
        check: Callable[[Any], str | None] | None = None,
    ) -> Any:
        """Return the entry described, computing and writing it if missing, stale or damaged.

        Parameters
        ----------
        name : str
            The entry's name; give it a part of the key when several descriptions share a
            name stem (see :meth:`entry_name`).
        description : mapping
            Everything the value depends on besides the fingerprint (JSON-serializable).
        compute : callable
            Returns the value (an array, a dict of arrays or JSON, by the store's format).
        check : callable, optional
            As for :meth:`get`; a freshly computed value that fails it is an error.
        """
        key = fingerprint.key(dict(description))
        value = self.get(name, key, check=check)
        if value is not None:
            logger.info("from the store: %s", self.value_path(name))
            return value
        value = compute()
        reason = check(value) if check is not None else None
        if reason:
            raise ValueError(f"computed {self.value_path(name)} is wrong: {reason}")
        self.put(name, key, description, value)
        return self.get(name, key) if self.fmt == ".npy" else value

    @staticmethod
    def entry_name(stem: str, description: Mapping[str, Any]) -> str:
        """Return ``<stem>_<first 16 hex of the key>``: one entry per description."""
        return f"{stem}_{fingerprint.key(dict(description))[:16]}"
