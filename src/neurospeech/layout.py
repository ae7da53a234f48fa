"""Where the package keeps what it computes: the derivative folders, named in one place.

A dataset's ``derivatives/`` holds the simulator's truth (an input: the recovery tables
read it) and the package's two stores (not inputs: they are recomputed from the inputs
and the code):

- ``neurospeech-embeddings/sub-XX/``: features of every model and level;
- ``neurospeech-grid/sub-XX/``: the results of the task grids.

:func:`neurospeech.pipeline.verify` points these at a fresh folder, so that nothing
cached is trusted.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The dataset's folder of derived data.
DERIVATIVES = "derivatives"
#: The simulator's planted truth, under ``derivatives/`` (an input of the analyses).
SIMULATION = "simulation"
#: The features cache, under ``derivatives/``.
FEATURES = "neurospeech-embeddings"
#: The task grids' kept results, under ``derivatives/``.
GRID = "neurospeech-grid"
#: The package's stores: computed from the inputs, so not inputs themselves.
STORES = (FEATURES, GRID)


def derivatives(bids_root: str | os.PathLike) -> Path:
    """Return the dataset's ``derivatives/`` folder."""
    return Path(bids_root) / DERIVATIVES


def features(derivatives_dir: str | os.PathLike, subject: str) -> Path:
    """Return a participant's features cache under ``derivatives_dir``."""
    return Path(derivatives_dir) / FEATURES / f"sub-{subject}"


def feature_caches(derivatives_dir: str | os.PathLike) -> list[Path]:
    """Return every participant's features cache under ``derivatives_dir`` (they share a budget)."""
    return sorted((Path(derivatives_dir) / FEATURES).glob("sub-*"))


def grid(derivatives_dir: str | os.PathLike) -> Path:
    """Return the folder of the task grids' kept results under ``derivatives_dir``."""
    return Path(derivatives_dir) / GRID
