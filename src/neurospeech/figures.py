"""One figure style, and deterministic figure and table files."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

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


SIMULATED_TITLE = "SIMULATED sample data (neurospeech.simulate), not recordings"


def mark_simulated(fig: plt.Figure, simulated: bool) -> None:
    """Title ``fig`` as made from simulated data, when it is."""
    if simulated:
        fig.suptitle(SIMULATED_TITLE, color="C3")


def accuracy_errorbar(ax: plt.Axes, x, rows, label: str) -> None:
    """Plot ``rows``' ``accuracy`` against ``x`` with its ``ci_low``-``ci_high`` interval."""
    ax.errorbar(
        x,
        rows["accuracy"],
        yerr=interval(rows),
        marker="o",
        capsize=2,
        label=label,
    )


def interval(rows) -> list:
    """Return matplotlib's ``yerr`` for ``rows``' ``accuracy`` within ``ci_low``-``ci_high``."""
    return [rows["accuracy"] - rows["ci_low"], rows["ci_high"] - rows["accuracy"]]


def save_table(
    table: pd.DataFrame,
    path: str | os.PathLike,
    *,
    caption: str | None = None,
    label: str | None = None,
    float_format: str = "%.3f",
) -> list[Path]:
    """Save ``table`` as CSV and, given a caption, as a LaTeX table.

    ``path`` gets the suffix ``.csv`` (full precision) and ``.tex`` (for the manuscript,
    numbers formatted with ``float_format``); each file is written atomically.

    Returns
    -------
    paths : list of Path
        The files written.
    """
    path = Path(path)
    written = [_io.write_text(path.with_suffix(".csv"), table.to_csv(index=False))]
    if caption is not None:
        latex = table.to_latex(index=False, float_format=float_format, caption=caption, label=label)
        written.append(_io.write_text(path.with_suffix(".tex"), latex))
    return written


def region_summary(summary, found: str, title: str):
    """Figure of a per-region summary (:func:`neurospeech.regions.summarise`).

    Left: the share of rows significant per region, with the counts; right: the mean r,
    and the mean r of the significant rows.

    Parameters
    ----------
    summary : DataFrame
    found : str
        What the significant rows are (the left axis' label).
    title : str

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    fig, (ax_share, ax_r) = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
    y = np.arange(len(summary))
    ax_share.barh(y, summary["share_significant"], color="0.6")
    for k, row in summary.reset_index(drop=True).iterrows():
        ax_share.text(
            row["share_significant"] + 0.01,
            k,
            f"{int(row['significant'])}/{int(row['rows'])} ({int(row['participants'])} part.)",
            va="center",
            fontsize=7,
        )
    ax_share.set(
        yticks=y,
        yticklabels=summary["region"],
        xlim=(0, 1.3),
        xlabel=f"share of {found}",
        title=title,
    )
    ax_share.invert_yaxis()
    ax_r.scatter(summary["mean_r"], y, color="0.3", label="all")
    ax_r.scatter(summary["mean_r_significant"], y, color="C3", label="significant")
    ax_r.axvline(0, color="0.5", lw=0.8)
    ax_r.set(xlabel="mean r", title="r per region")
    ax_r.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig
