"""The features cache: a participant's features of every model, in a store.

The cache is a :class:`~neurospeech.store.Store` of ``.npy`` entries.

An entry's description holds the feature space (name, model id, revision, untrained
seed), the level and its parameters, the number of rows it must have (trials or neural
frames) and a hash of the input (the audio samples and rate, the events); the store
salts it with the package's fingerprint, so a change to the code that computes
features, or another version of torch or transformers, computes them again. A damaged
file (truncated, foreign, of the wrong shape) is computed again with a warning naming
it. Values are float16 where every layer keeps a Pearson r of at least 0.999 with the
float32 values, float32 elsewhere.

The caches of a dataset's participants share a budget (:func:`budget`, 10 GiB unless
``NEUROSPEECH_CACHE_GIB`` says otherwise): :func:`trim` removes, beyond it, the entries of
other code first, then the least recently used, and a removed entry is computed again
when next asked for. Every layer of XLS-R at 100 frames a second is 1.5 GB a participant
in float16, so the real study's frame-level features (about 4.5 GB a participant) do not
all fit: the encoding grid runs as many participants at a time as the budget holds (see
:func:`neurospeech.encoding_grid.run`).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from neurospeech import fingerprint, lock, stats
from neurospeech.bids import Recording
from neurospeech.store import Store

logger = logging.getLogger(__name__)

#: Smallest per-layer r between float16 and float32 for float16 storage.
MIN_R_FLOAT16 = 0.999
#: Environment variable: the most the features caches of a dataset hold, in GiB.
BUDGET_ENV = "NEUROSPEECH_CACHE_GIB"
#: Its default: the real study's frame-level features of two participants fit.
DEFAULT_BUDGET_GIB = 10.0


def budget() -> float:
    """Return the features caches' budget in bytes (``inf``: no limit).

    Read from ``NEUROSPEECH_CACHE_GIB`` (a positive number of GiB, or ``inf``), else
    :data:`DEFAULT_BUDGET_GIB`.

    Raises
    ------
    ValueError
        If the variable is not a positive number; the message names it.
    """
    text = os.environ.get(BUDGET_ENV, "").strip()
    try:
        gib = float(text) if text else DEFAULT_BUDGET_GIB
    except ValueError:
        gib = math.nan
    if not gib > 0:  # NaN too
        raise ValueError(
            f"{BUDGET_ENV}={text!r}: give the features caches' budget as a positive "
            "number of GiB, or inf for no limit"
        )
    return gib * 2**30


def _entries(folders: list[Path]) -> list[tuple[Path, Path]]:
    """Return the (value, description) files of the entries in ``folders``."""
    return [
        (value, value.with_suffix(".json"))
        for folder in folders
        for value in sorted(folder.glob("*.npy"))
        if value.with_suffix(".json").exists()
    ]


def size(folders: list[str | os.PathLike]) -> int:
    """Return the bytes of the cached values in ``folders`` (missing folders hold none)."""
    return sum(value.stat().st_size for value, _ in _entries([Path(f) for f in folders]))


def trim(
    folders: list[str | os.PathLike],
    max_bytes: float,
    *,
    keep: list[str | os.PathLike] = (),
) -> list[Path]:
    """Remove the least recently used entries of ``folders`` until they hold ``max_bytes``.

    Entries made by other code (another salt: :func:`neurospeech.fingerprint.salt`),
    which this code never reads, go first, oldest first; then the entries of this code
    by recency, the value file's modification time, which :func:`store` renews on every
    use. An entry being read elsewhere stays readable there (its file is unlinked, not
    overwritten), and is computed again when next asked for.

    Parameters
    ----------
    folders : list of path-like
        Caches that share the budget (e.g. every participant's).
    max_bytes : float
    keep : list of path-like
        Caches whose entries of this code are never removed (e.g. those a running batch
        needs); they count towards the total.

    Returns
    -------
    removed : list of Path
        The value files removed, oldest first.
    """
    kept = {Path(folder).resolve() for folder in keep}
    entries = _entries([Path(folder) for folder in folders])
    total = sum(value.stat().st_size for value, _ in entries)
    current = fingerprint.salt()
    stale = {
        value: (Store(value.parent, fmt=".npy").record(value.stem) or {}).get("salt") != current
        for value, _ in entries
    }
    removed = []
    for value, description in sorted(
        entries, key=lambda entry: (not stale[entry[0]], entry[0].stat().st_mtime)
    ):
        if total <= max_bytes:
            break
        if value.parent.resolve() in kept and not stale[value]:
            continue
        with lock.hold(value.parent / ".lock", f"trimming {value.parent}", wait=600):
            total -= value.stat().st_size
            description.unlink(missing_ok=True)  # first: the entry is gone, not damaged
            value.unlink(missing_ok=True)
        removed.append(value)
    if removed:
        logger.info(
            "features caches over %.1f GiB: removed %d entries (they are computed again "
            "when next needed)",
            max_bytes / 2**30,
            len(removed),
        )
    return removed


def input_hash(recording: Recording, *, audio_input: bool) -> str:
    """Hash of what a feature depends on: the words and their timing, and the audio."""
    digest = hashlib.sha256()
    words = recording.words[["value", "sample"]].to_csv(index=False)
    digest.update(words.encode())
    digest.update(repr((recording.sfreq, recording.ieeg.shape[0], recording.audio_offset)).encode())
    if audio_input:
        digest.update(repr(recording.audio_sfreq).encode())
        digest.update(np.ascontiguousarray(recording.audio).tobytes())
    return digest.hexdigest()


def storage_dtype(features: np.ndarray) -> np.dtype:
    """float16 if every layer (first axis) keeps r >= :data:`MIN_R_FLOAT16`, else float32.

    A constant layer must be exact in float16. The layers are checked one at a time: the
    check of every layer of XLS-R 300M at once (3 GiB in float32) took 20 GiB in float64.
    """
    for layer in np.asarray(features, dtype=np.float32):
        flat = layer.reshape(-1, 1)
        with np.errstate(over="ignore"):  # beyond float16's range: checked below
            half = flat.astype(np.float16).astype(np.float32)
        if not np.all(np.isfinite(half)):
            return np.dtype(np.float32)
        if flat.std() == 0:
            exact = np.array_equal(flat, half)
        else:
            exact = stats.pearson_r(flat, half)[0] >= MIN_R_FLOAT16
        if not exact:
            return np.dtype(np.float32)
    return np.dtype(np.float16)


def _check_rows(rows: int) -> Callable[[np.ndarray], str | None]:
    """Return a check that features are layers x ``rows`` x dims."""

    def check(features: np.ndarray) -> str | None:
        if features.ndim != 3 or features.shape[1] != rows:
            return f"features of shape {features.shape}, expected (layers, {rows}, dims)"
        return None

    return check


def store(
    folder: str | os.PathLike,
    description: dict[str, Any],
    compute: Callable[[], np.ndarray],
) -> Path:
    """Return the file of the features described, computing and writing it if needed.

    Parameters
    ----------
    folder : path-like
        Where the cache lives.
    description : dict
        Everything the features depend on (JSON-serializable), with ``space``,
        ``level`` and ``rows`` (the rows each layer must have).
    compute : callable
        Computes the features (layers x rows x dims) when the cache has no intact entry.

    Returns
    -------
    path : Path
        The ``.npy`` file (read it with :func:`read`).
    """
    features = Store(folder, ".npy")
    name = Store.entry_name(f"{description['space']}_{description['level']}", description)

    def make() -> np.ndarray:
        values = np.asarray(compute(), dtype=np.float32)
        return values.astype(storage_dtype(values))

    features.fetch(name, description, make, check=_check_rows(description["rows"]))
    path = features.value_path(name)
    os.utime(path)  # used now: the last to go when the caches are trimmed
    return path


def read(path: str | os.PathLike, layer: int | None = None) -> np.ndarray:
    """Read cached features as float32: every layer, or only ``layer`` (the rest is not read).

    Raises
    ------
    IndexError
        If the file has no such layer; the message names the file.
    """
    values = np.load(path, mmap_mode="r")
    if layer is None:
        return np.asarray(values, dtype=np.float32)
    if not -len(values) <= layer < len(values):
        raise IndexError(f"{path} holds {len(values)} layers; there is no layer {layer}")
    return np.asarray(values[layer], dtype=np.float32)


def cached(
    folder: str | os.PathLike | None,
    description: dict[str, Any],
    compute: Callable[[], np.ndarray],
) -> np.ndarray:
    """Return the features described, from ``folder`` if there, else computed and stored.

    Parameters
    ----------
    folder : path-like or None
        Where the cache lives (None: no caching).
    description, compute
        As for :func:`store`.

    Returns
    -------
    features : ndarray, float32
        As stored (float16 storage included), whether computed now or read.
    """
    if folder is None:
        values = np.asarray(compute(), dtype=np.float32)
        reason = _check_rows(description["rows"])(values)
        if reason:
            raise ValueError(f"{description['space']}: {reason}")
        return values
    return read(store(folder, description, compute))
