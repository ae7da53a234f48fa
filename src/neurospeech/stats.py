"""Statistics shared by the analyses: correlation of many columns, permutation p-values.

Every function works on whole arrays at once (columns are channels, mel bins or
features; rows of a null distribution are permutations or shifts), so a null of
thousands of draws for a hundred channels is one vectorized call.
"""

from __future__ import annotations

import numpy as np


def pearson_r(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r between matching columns of ``a`` and ``b``.

    Parameters
    ----------
    a, b : ndarray, shape (n_samples, n_columns)

    Returns
    -------
    r : ndarray, shape (n_columns,)
        NaN for a column that is constant in ``a`` or ``b``.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(axis=0) / np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))


def permutation_p(observed: np.ndarray, null: np.ndarray) -> np.ndarray:
    """One-sided permutation p-value of each column, with the +1 correction.

    ``p = (1 + #{null >= observed}) / (1 + n_draws)``: the observation counts as one of
    the draws, so p is never 0 (Phipson & Smyth 2010).

    Parameters
    ----------
    observed : float | ndarray, shape (n_columns,)
    null : ndarray, shape (n_draws,) or (n_draws, n_columns)

    Returns
    -------
    p : float | ndarray, shape (n_columns,)
    """
    null = np.asarray(null, dtype=float)
    p = (1 + np.sum(null >= observed, axis=0)) / (1 + len(null))
    return p if np.ndim(p) else float(p)


def max_statistic_p(observed: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Family-wise corrected p-values from the maximum over columns of each null draw.

    Parameters
    ----------
    observed : ndarray, shape (n_columns,)
    null : ndarray, shape (n_draws, n_columns)
        Each row is one draw of the whole family (the same permutation for every column).

    Returns
    -------
    p : ndarray, shape (n_columns,)
        ``(1 + #{max over columns of a draw >= observed}) / (1 + n_draws)``.
    """
    null = np.asarray(null, dtype=float)
    if null.ndim != 2:
        raise ValueError(f"null must be draws x columns, got shape {null.shape}")
    return permutation_p(np.asarray(observed, dtype=float), null.max(axis=1)[:, None])
