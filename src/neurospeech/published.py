"""The published numbers the reproduction is compared with, typed in from their sources.

``data/khanday2025.csv``: Khanday et al. (2025), R2 of GPT-2, FastText and XLS-R and PCC of
GPT-2 per participant (mean over the 100 leave-one-word-out folds; participant 10 is
absent from the authors' run). ``data/verwoert2022.csv``: the decoding baseline of
Verwoert et al. (2022), mean r per participant from an unmodified re-run of the official
code on the real data, and the values of the paper's figure 4a, digitised. Each row
names its source.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd

#: Range of the per-participant PCC stated in the abstract of Khanday et al. (2025).
KHANDAY_ABSTRACT_PCC = (0.79, 0.99)


def _read(name: str) -> pd.DataFrame:
    with resources.files("neurospeech").joinpath("data", name).open(encoding="utf-8") as f:
        return pd.read_csv(f)


def khanday2025() -> pd.DataFrame:
    """Return the published values: ``participant``, ``feature_space``, ``metric``, ``value``.

    ``feature_space`` is a registry name; ``metric`` is ``r2`` or ``pcc``.
    """
    return _read("khanday2025.csv")


def verwoert2022() -> pd.DataFrame:
    """Return the published decoding baseline: ``participant``, ``metric``, ``value``, ``source``.

    ``metric`` is ``mean_r`` (official code re-run) or ``mean_r_figure_4a`` (digitised).
    """
    return _read("verwoert2022.csv")


def beside(
    published: pd.DataFrame, ours: pd.DataFrame, on: list[str], *, simulated: bool
) -> pd.DataFrame:
    """Put our values beside the published ones, row by row.

    Parameters
    ----------
    published : DataFrame
        With the columns ``on`` and ``value``.
    ours : DataFrame
        With the columns ``on`` and ``value`` (our reproduction of the same quantity).
    on : list of str
        The columns that identify a value (e.g. participant, feature space, metric).
    simulated : bool
        Our values come from simulated data: they are not comparable, and the ``ours``
        column says ``"simulated"`` instead of a number.

    Returns
    -------
    table : DataFrame
        ``on``, ``published``, ``ours`` (a number formatted to 4 decimals, ``"simulated"``,
        or ``"not run"`` where we have no value) and ``difference`` (ours - published,
        empty where there is no number).
    """
    merged = published[[*on, "value"]].merge(
        ours[[*on, "value"]], on=on, how="left", suffixes=("_published", "_ours")
    )
    values = merged["value_ours"].to_numpy(dtype=float)
    if simulated:
        shown = np.full(len(merged), "simulated", dtype=object)
        difference = np.full(len(merged), np.nan)
    else:
        shown = np.array(
            [f"{v:.4f}" if np.isfinite(v) else "not run" for v in values], dtype=object
        )
        difference = values - merged["value_published"].to_numpy(dtype=float)
    return merged[on].assign(published=merged["value_published"], ours=shown, difference=difference)
