"""One figure style and deterministic figure files."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from neurospeech import _io  # noqa: E402

STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "neurospeech",
    "svg.fonttype": "path",
}


def apply_style() -> None:
    """Use the package's figure style for every figure made afterwards."""
    plt.rcParams.update(STYLE)


def save(fig: plt.Figure, path: str | os.PathLike, formats: tuple[str, ...] = ("svg", "png")):
    """Save ``fig`` as ``path`` with each suffix in ``formats``, byte-for-byte reproducibly.

    No creation date or software version is embedded, SVG ids come from a fixed salt,
    and each file is written atomically.

    Returns
    -------
    paths : list of Path
        The files written.
    """
    path = Path(path)
    written = []
    for fmt in formats:
        out = path.with_suffix(f".{fmt}")
        metadata = {"Date": None, "Creator": None} if fmt == "svg" else {"Software": None}
        with _io.atomic_path(out) as tmp, plt.rc_context({"svg.hashsalt": STYLE["svg.hashsalt"]}):
            fig.savefig(tmp, format=fmt, metadata=metadata)
        written.append(out)
    plt.close(fig)
    return written
