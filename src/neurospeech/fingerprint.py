"""One fingerprint of what every computed result depends on: code, dependencies, inputs.

Every cached result of the package (a step's record, a grid task's result, a model's
features) is keyed by a description of what it computed, salted with :func:`salt`: a
hash of the package's code (:func:`code_hash`) and of the installed distributions'
versions (:func:`package_versions`). A change to any function of the package, or another
version of numpy or torch, therefore invalidates every cache entry alike; the inputs
(the dataset's files, :func:`input_hashes`) enter the descriptions that read them.
"""

from __future__ import annotations

import functools
import hashlib
import os
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import neurospeech
from neurospeech import _io, layout

#: Folders of a dataset that are not inputs: version control and the package's stores
#: (:data:`neurospeech.layout.STORES`); other derivatives, such as the simulation's
#: truth, are inputs.
NOT_INPUTS = frozenset({".git", ".datalad", *layout.STORES})


def files(folder: str | os.PathLike, skip: frozenset[str] = frozenset()) -> list[Path]:
    """Every file under ``folder`` (following links), sorted, leaving out the ``skip`` names.

    Hidden files (``.name``) are left out. A link to a folder that contains it (a cycle)
    is not followed, with a warning naming it.
    """
    found = []
    for parent, dirs, names in os.walk(folder, followlinks=True):
        here = os.path.realpath(parent)
        kept = []
        for name in sorted(d for d in dirs if d not in skip):
            target = os.path.realpath(os.path.join(parent, name))
            if here == target or here.startswith(target + os.sep):
                warnings.warn(
                    f"{Path(parent) / name} links to {target}, which contains it: not followed",
                    stacklevel=2,
                )
            else:
                kept.append(name)
        dirs[:] = kept
        found += [Path(parent) / name for name in sorted(names) if not name.startswith(".")]
    return found


def input_hashes(bids_root: str | os.PathLike) -> dict[str, str]:
    """SHA-256 of every file of the dataset (not the package's derivatives), by relative path.

    Annexed files (DataLad links) are hashed by content.
    """
    root = Path(bids_root)
    return {f.relative_to(root).as_posix(): _io.sha256(f) for f in files(root, NOT_INPUTS)}


def code_hash() -> str:
    """SHA-256 over the package's source files (their paths and contents)."""
    package = Path(neurospeech.__file__).parent
    digest = hashlib.sha256()
    for path in files(package, frozenset({"__pycache__"})):
        if path.suffix == ".py":
            digest.update(path.relative_to(package).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def package_versions() -> dict[str, str]:
    """Version of every installed distribution, by lower-case name.

    Read once per process (about 0.1 s each time, and a grid keeps hundreds of entries):
    a package installed while a process runs is seen by the next process.
    """
    return dict(_versions())


@functools.lru_cache(maxsize=1)
def _versions() -> tuple[tuple[str, str], ...]:
    """Return the installed versions (cached for the process)."""
    versions = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            versions[name.lower()] = dist.version
    return tuple(sorted(versions.items()))


def fingerprint() -> dict[str, Any]:
    """Return the package's code hash and the installed versions: what every result needs."""
    return {"code": code_hash(), "packages": package_versions()}


def salt() -> str:
    """Hash of :func:`fingerprint`, mixed into every cache key."""
    return _io.digest(fingerprint())


def key(description: dict[str, Any], salt_value: str | None = None) -> str:
    """Return the cache key of a result: its description, salted with the fingerprint.

    Parameters
    ----------
    description : dict
        Everything the result depends on besides the package's code and the installed
        versions (JSON-serializable).
    salt_value : str, optional
        :func:`salt`, when the caller computed it already for many keys.
    """
    return _io.digest({"description": description, "salt": salt_value or salt()})
