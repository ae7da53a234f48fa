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


def r2(truth: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """Coefficient of determination of each column, ``1 - SSE / SS`` about the column's mean.

    Parameters
    ----------
    truth, prediction : ndarray, shape (n_samples, n_columns)

    Returns
    -------
    r2 : ndarray, shape (n_columns,)
    """
    truth = np.asarray(truth, dtype=float)
    spread = nonzero_std(truth, "columns {} of the truth are constant") ** 2 * len(truth)
    return 1 - ((truth - prediction) ** 2).sum(axis=0) / spread


def circular_gain_null(
    truth: np.ndarray,
    full: np.ndarray,
    reduced: np.ndarray,
    *,
    n_shifts: int = 10_000,
    seed: int = 0,
    margin: float = 0.1,
) -> np.ndarray:
    """Null distribution of ``R2(full) - R2(reduced)`` from circular shifts of the truth.

    The same shifts as :func:`circular_shift_null` with the same seed. For a shift
    ``k``, ``SSE(reduced) - SSE(full) = sum p_r^2 - sum p_f^2 - 2 sum y_k (p_r - p_f)``:
    one FFT cross-correlation per column of the two predictions' difference.

    Parameters
    ----------
    truth, full, reduced : ndarray, shape (n_samples, n_columns)
        The observed series and the held-out predictions of the two nested models.
    n_shifts, seed, margin
        As for :func:`circular_shift_null`.

    Returns
    -------
    null : ndarray, shape (n_shifts, n_columns)
    """
    truth = np.asarray(truth, dtype=float)
    full, reduced = np.asarray(full, dtype=float), np.asarray(reduced, dtype=float)
    if full.shape != truth.shape or reduced.shape != truth.shape:
        raise ValueError(
            f"truth {truth.shape} and predictions {full.shape}, {reduced.shape} must have "
            "the same shape"
        )
    spread = nonzero_std(truth, "columns {} of the truth are constant") ** 2 * len(truth)
    shifts = _random_shifts(len(truth), n_shifts, seed, margin)
    gain = (reduced**2).sum(axis=0) - (full**2).sum(axis=0)
    gain = gain - 2 * _cross(reduced - full, truth)[shifts]
    return gain / spread


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


def group_permutation(observed, nulls) -> dict[str, float]:
    """Test one statistic across participants at once, the null paired by draw.

    The statistic is the mean over participants of each one's observed value; the
    ``k``-th null value is the mean of every participant's ``k``-th draw, valid because
    each participant's draws are made independently of the others' (fixed effects: the
    question is whether these participants' data carry the effect). One test per
    predictor, where the per-participant tests make a family as many times larger as
    there are participants (:func:`holm_floor`).

    Parameters
    ----------
    observed : sequence of float
        One value per participant.
    nulls : sequence of ndarray, shape (n_draws,)
        Each participant's null draws, as many for every participant.

    Returns
    -------
    result : dict
        ``participants``, ``observed`` (the mean), ``null_mean`` (the mean of the paired
        null), ``p`` (one-sided, +1 corrected: :func:`permutation_p`) and ``n_draws``.
    """
    observed = np.asarray(observed, dtype=float)
    sizes = sorted({len(null) for null in nulls})
    if observed.ndim != 1 or not len(observed) or len(nulls) != len(observed):
        raise ValueError(
            f"need one observed value and one null per participant, got {observed.shape} "
            f"values and {len(nulls)} nulls"
        )
    if len(sizes) > 1:
        raise ValueError(f"the participants' nulls differ in length: {sizes}")
    null = np.mean([np.asarray(draws, dtype=float) for draws in nulls], axis=0)
    return {
        "participants": len(observed),
        "observed": float(observed.mean()),
        "null_mean": float(null.mean()),
        "p": permutation_p(observed.mean(), null),
        "n_draws": len(null),
    }


def holm_floor(n_draws: int, n_tests: int) -> float:
    """Return the smallest Holm-adjusted p-value a family of permutation tests can reach.

    With ``n_draws`` draws each p-value is at least ``1 / (n_draws + 1)``
    (:func:`permutation_p`), and Holm multiplies the smallest by ``n_tests``: when this
    floor is not below the level, no test of the family can be significant, whatever the
    data, and a family with no rejection says nothing. About ``n_tests / level`` draws
    lift it below ``level``.

    Parameters
    ----------
    n_draws : int
        Permutations (or shuffles, shifts) behind each p-value.
    n_tests : int
        Size of the Holm family.

    Returns
    -------
    floor : float
        ``min(1, n_tests / (n_draws + 1))``.
    """
    if n_draws < 1 or n_tests < 1:
        raise ValueError(f"need at least one draw and one test, got {n_draws} and {n_tests}")
    return min(1.0, n_tests / (n_draws + 1))


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


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (family-wise error rate).

    The ``k``-th smallest of ``m`` p-values is multiplied by ``m - k + 1`` (``k`` from 1),
    made non-decreasing in that order and capped at 1. Reject where the adjusted value is
    below the level: this controls the chance of any false rejection in the family.

    Parameters
    ----------
    p : array of float
        Any shape; NaN is not allowed.

    Returns
    -------
    adjusted : ndarray
        Same shape as ``p``.
    """
    p = np.asarray(p, dtype=float)
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("p-values must be finite and within [0, 1]")
    flat = p.ravel()
    order = np.argsort(flat, kind="stable")
    scaled = flat[order] * (len(flat) - np.arange(len(flat)))
    adjusted = np.empty_like(flat)
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return adjusted.reshape(p.shape)


def nonzero_std(x: np.ndarray, message: str) -> np.ndarray:
    """Return the standard deviation of each column; raise ``message`` if one is zero.

    ``{}`` in ``message`` is replaced by the list of constant columns.
    """
    std = x.std(axis=0)
    if np.any(std == 0):
        raise ValueError(message.format(np.flatnonzero(std == 0).tolist()))
    return std


def _zscore(x: np.ndarray, name: str) -> np.ndarray:
    std = nonzero_std(x, f"columns {{}} of the {name} are constant")
    return (x - x.mean(axis=0)) / std


def circular_correlations(truth: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """Pearson r of every column for every circular shift, by FFT cross-correlation.

    Parameters
    ----------
    truth, prediction : ndarray, shape (n_samples, n_columns)

    Returns
    -------
    r : ndarray, shape (n_samples, n_columns)
        Row ``k``: r between ``prediction`` and ``truth`` shifted by ``k`` samples,
        ``np.roll(truth, -k, axis=0)`` (row 0 is the unshifted r).
    """
    truth = np.asarray(truth, dtype=float)
    prediction = np.asarray(prediction, dtype=float)
    if truth.ndim != 2 or prediction.shape != truth.shape:
        raise ValueError(
            f"truth must be 2-D and prediction of the same shape, got {truth.shape} and "
            f"{prediction.shape}"
        )
    n = len(truth)
    # r(k) = mean_t z_pred[t] * z_truth[(t + k) mod n]: a circular cross-correlation.
    z_truth = _zscore(truth, "truth")
    return _cross(_zscore(prediction, "prediction"), z_truth) / n


def circular_shift_null(
    truth: np.ndarray,
    prediction: np.ndarray,
    *,
    n_shifts: int = 10_000,
    seed: int = 0,
    margin: float = 0.1,
) -> np.ndarray:
    """Null distribution of r from random circular shifts of the truth against a prediction.

    Each draw shifts ``truth`` circularly by a whole number of samples drawn uniformly
    between ``margin`` and ``1 - margin`` of its length (so the shifted series is never
    near its original alignment) and correlates it with ``prediction``, column by
    column; all shifts come from one FFT cross-correlation per column, not a loop.

    Parameters
    ----------
    truth, prediction : ndarray, shape (n_samples, n_columns)
    n_shifts : int
        Number of shifts drawn (the same shifts for every column, so a row is one draw
        of the whole family, as :func:`max_statistic_p` needs).
    seed : int
    margin : float
        Smallest shift as a fraction of the length.

    Returns
    -------
    null : ndarray, shape (n_shifts, n_columns)
    """
    shifts = _random_shifts(len(truth), n_shifts, seed, margin)
    return circular_correlations(truth, prediction)[shifts]


def _random_shifts(n: int, n_shifts: int, seed: int, margin: float) -> np.ndarray:
    low, high = int(n * margin), int(n * (1 - margin))
    if high <= low:
        raise ValueError(f"{n} samples leave no shift between {margin:.0%} margins")
    return np.random.default_rng(seed).integers(low, high, size=n_shifts)


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``out[k] = sum_t a[t] * b[(t + k) mod n]`` for every k, column by column (FFT)."""
    n = len(a)
    return np.fft.irfft(np.conj(np.fft.rfft(a, axis=0)) * np.fft.rfft(b, axis=0), n, axis=0)


def circular_fold_null(
    truth: np.ndarray,
    prediction: np.ndarray,
    fold: np.ndarray,
    *,
    n_shifts: int = 10_000,
    seed: int = 0,
    margin: float = 0.1,
) -> np.ndarray:
    """Like :func:`circular_shift_null`, with r computed within each fold and averaged.

    For a score reported as the mean over cross-validation folds of the r within each
    fold: each draw shifts the whole ``truth`` circularly (the same shifts as
    :func:`circular_shift_null` with the same seed), correlates it with ``prediction``
    inside each fold's samples and averages over folds. The within-fold sums of every
    shift come from FFT cross-correlations of the fold's indicator.

    Parameters
    ----------
    truth, prediction : ndarray, shape (n_samples, n_columns)
    fold : ndarray of int, shape (n_samples,)
        The fold of each sample (0 to n_folds - 1).
    n_shifts, seed, margin
        As for :func:`circular_shift_null`.

    Returns
    -------
    null : ndarray, shape (n_shifts, n_columns)
        Mean over folds of the within-fold r of each shift.
    """
    truth = _zscore(np.asarray(truth, dtype=float), "truth")
    prediction = np.asarray(prediction, dtype=float)
    fold = np.asarray(fold)
    if prediction.shape != truth.shape or fold.shape != truth.shape[:1]:
        raise ValueError(
            f"truth {truth.shape}, prediction {prediction.shape} and fold {fold.shape} must "
            "have the same number of samples (and the same columns)"
        )
    shifts = _random_shifts(len(truth), n_shifts, seed, margin)
    squares = truth**2
    r = np.zeros((n_shifts, truth.shape[1]))
    labels = np.unique(fold)
    for label in labels:
        inside = fold == label
        indicator = inside.astype(float)[:, None]
        centred = prediction[inside] - prediction[inside].mean(axis=0)
        spread = (centred**2).sum(axis=0)
        sum_x = _cross(indicator, truth)[shifts]
        sum_xx = _cross(indicator, squares)[shifts]
        sum_xy = _cross(indicator * (prediction - prediction[inside].mean(axis=0)), truth)
        with np.errstate(invalid="ignore", divide="ignore"):
            r += sum_xy[shifts] / np.sqrt((sum_xx - sum_x**2 / inside.sum()) * spread)
    return r / len(labels)
