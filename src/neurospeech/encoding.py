"""Frame-level encoding models: lagged ridge from a feature space to every electrode.

The features of each 10 ms frame (a model layer, or the log-mel spectrogram) are lagged
over a window (default -500 to +500 ms in 50 ms steps; a negative lag means the brain
leads the audio, as in speech production) and mapped to each electrode's high-gamma by
ridge regression. Outer contiguous K-fold (never shuffled: neighbouring frames leak);
features and targets z-scored with the training frames' statistics; optionally a PCA of
the features fitted on the training frames; the penalty of each electrode chosen by an
inner contiguous K-fold over a log grid (:class:`neurospeech.ridge.InnerCV`: one
eigendecomposition per split for every penalty and electrode). The held-out predictions
of all folds are scored by Pearson r per electrode, and against circular shifts
(:func:`neurospeech.stats.circular_shift_null`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control
from sklearn.decomposition import PCA
from sklearn.model_selection import KFold

from neurospeech import ridge, stats

#: Default lags (ms): -500 to +500 in 50 ms steps.
LAGS_MS = np.arange(-500, 501, 50)
#: Default penalties: 20 values from 1e-2 to 1e8 (z-scored features and targets).
ALPHAS = np.logspace(-2, 8, 20)
#: Largest number of lagged columns fitted without a PCA (the Gram matrices are square).
MAX_COLUMNS = 4096


def lag_frames(lags_ms: Iterable[float], shift: float = 0.01) -> np.ndarray:
    """Convert lags in milliseconds to whole frames of ``shift`` seconds."""
    lags = np.asarray(list(lags_ms), dtype=float)
    frames = np.round(lags / 1000 / shift).astype(int)
    if not np.allclose(frames * shift * 1000, lags):
        raise ValueError(
            f"lags {lags} ms are not whole multiples of the {shift * 1000:g} ms frames"
        )
    return frames


def lagged(features: np.ndarray, lags: Iterable[int]) -> np.ndarray:
    """Stack lagged copies of ``features``: column block ``l`` holds ``features[t - lags[l]]``.

    A positive lag predicts a frame from earlier features (the brain follows the audio), a
    negative lag from later ones (the brain leads). Frames with no source are zero.

    Parameters
    ----------
    features : ndarray, shape (n_frames, n_features)
    lags : iterable of int
        In frames.

    Returns
    -------
    stacked : ndarray, shape (n_frames, n_lags * n_features)
    """
    lags = [int(lag) for lag in lags]
    n = len(features)
    out = np.zeros((n, len(lags) * features.shape[1]), dtype=features.dtype)
    for block, lag in enumerate(lags):
        columns = slice(block * features.shape[1], (block + 1) * features.shape[1])
        if abs(lag) >= n:
            continue
        if lag >= 0:
            out[lag:, columns] = features[: n - lag]
        else:
            out[:lag, columns] = features[-lag:]
    return out


@dataclass(frozen=True)
class EncodingFit:
    """Held-out predictions of a lagged ridge encoding model and their scores.

    Attributes
    ----------
    r : ndarray, shape (n_electrodes,)
        Pearson r of each electrode's held-out predictions with its high-gamma.
    predicted : ndarray, shape (n_frames, n_electrodes)
        Each frame predicted by the model of the fold that held it out.
    alpha : ndarray, shape (n_folds, n_electrodes)
        Penalty chosen for each electrode in each outer fold.
    fold : ndarray of int, shape (n_frames,)
    lags_ms : ndarray
    """

    r: np.ndarray
    predicted: np.ndarray
    alpha: np.ndarray
    fold: np.ndarray
    lags_ms: np.ndarray


def _check(features, targets, lags, n_folds) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(features, dtype=float)
    y = np.asarray(targets, dtype=float)
    if x.ndim != 2 or y.ndim != 2:
        raise ValueError(
            f"features and targets must be 2-D (frames x features, frames x electrodes), got "
            f"shapes {x.shape} and {y.shape}"
        )
    if len(x) != len(y):
        raise ValueError(
            f"features have {len(x)} frames but targets {len(y)}: put them on the same frame "
            f"grid (embeddings.frame_level gives one row per high-gamma frame)"
        )
    for name, array in (("features", x), ("targets", y)):
        if not np.all(np.isfinite(array)):
            rows = np.unique(np.nonzero(~np.isfinite(array))[0])
            raise ValueError(
                f"{name} have non-finite values in {len(rows)} frames (first {rows[0]})"
            )
    if n_folds < 2 or len(x) < n_folds:
        raise ValueError(f"{len(x)} frames cannot be split into {n_folds} folds (n_folds >= 2)")
    reach = np.max(np.abs(lags)) if len(lags) else 0
    if reach >= len(x) // n_folds:
        raise ValueError(
            f"the lag window reaches {reach} frames, as long as a whole fold of the "
            f"{len(x)}-frame recording ({len(x) // n_folds} frames): shorten the lags"
        )
    return x, y


def fit(
    features: np.ndarray,
    targets: np.ndarray,
    *,
    lags_ms: Iterable[float] = LAGS_MS,
    shift: float = 0.01,
    n_folds: int = 5,
    n_inner_folds: int = 5,
    alphas: Iterable[float] = ALPHAS,
    n_components: int | None = None,
    device: str | None = None,
) -> EncodingFit:
    """Fit and evaluate a lagged ridge encoding model by contiguous cross-validation.

    Parameters
    ----------
    features : ndarray, shape (n_frames, n_features)
        One row per high-gamma frame (e.g. one layer of
        :func:`neurospeech.embeddings.frame_level`).
    targets : ndarray, shape (n_frames, n_electrodes)
        High-gamma frames (:func:`neurospeech.highgamma.extract`).
    lags_ms : iterable of float
        Lags in milliseconds, multiples of ``shift``.
    shift : float
        Frame hop in seconds.
    n_folds, n_inner_folds : int
        Outer and inner contiguous folds.
    alphas : iterable of float
        Penalties searched per electrode.
    n_components : int, optional
        Reduce the features to this many principal components (fitted on each outer
        fold's training frames) before lagging.
    device : str, optional
        Solve with torch on this device (e.g. ``"cuda"``) instead of NumPy; the PCA and
        the lagging stay on the CPU.

    Returns
    -------
    EncodingFit
    """
    lags = lag_frames(lags_ms, shift)
    x, y = _check(features, targets, lags, n_folds)
    width = (n_components or x.shape[1]) * len(lags)
    if width > MAX_COLUMNS:
        raise ValueError(
            f"{x.shape[1]} features x {len(lags)} lags = {width} columns is too many to fit "
            f"directly (at most {MAX_COLUMNS}); pass n_components to reduce the features first"
        )
    predicted = np.zeros_like(y)
    chosen = np.zeros((n_folds, y.shape[1]))
    fold = np.zeros(len(y), dtype=int)
    for k, (train, test) in enumerate(KFold(n_folds).split(x)):
        base, _, _ = ridge.standardize(x, train)
        if n_components is not None:
            pca = PCA(n_components, svd_solver="covariance_eigh").fit(base[train])
            base = pca.transform(base)
        design = lagged(base, lags)
        zy, mean, std = ridge.standardize(y, train)
        if np.any(std == 0):
            constant = np.flatnonzero(std == 0).tolist()
            raise ValueError(
                f"electrodes {constant} are constant in the training frames of fold {k}"
            )
        inner = list(KFold(n_inner_folds).split(train))
        model = ridge.InnerCV(design[train], design[test], inner, alphas, device=device)
        prediction, chosen[k] = model.fit_predict(zy[train])
        predicted[test] = prediction * std + mean
        fold[test] = k
    return EncodingFit(
        r=stats.pearson_r(y, predicted),
        predicted=predicted,
        alpha=chosen,
        fold=fold,
        lags_ms=np.asarray(list(lags_ms), dtype=float),
    )


def significance(
    targets: np.ndarray,
    encoding: EncodingFit,
    *,
    n_shifts: int = 10_000,
    seed: int = 0,
    null: np.ndarray | None = None,
) -> pd.DataFrame:
    """Test every electrode's r against circular shifts of its high-gamma.

    Parameters
    ----------
    targets : ndarray, shape (n_frames, n_electrodes)
    encoding : EncodingFit
    n_shifts : int
        Shifts of at least 10 % of the recording (the same shifts for every electrode).
    seed : int
    null : ndarray, shape (n_shifts, n_electrodes), optional
        The null already computed with :func:`neurospeech.stats.circular_shift_null`
        (e.g. kept for a family-wise test across layers); ``n_shifts`` and ``seed`` are
        then not used.

    Returns
    -------
    table : DataFrame
        One row per electrode (in column order): ``r``, ``p`` (+1 corrected), ``q``
        (Benjamini-Hochberg across electrodes) and ``p_fwe`` (maximum over electrodes).
    """
    if null is None:
        null = stats.circular_shift_null(targets, encoding.predicted, n_shifts=n_shifts, seed=seed)
    p = stats.permutation_p(encoding.r, null)
    return pd.DataFrame(
        {
            "r": encoding.r,
            "p": p,
            "q": false_discovery_control(p),
            "p_fwe": stats.max_statistic_p(encoding.r, null),
        }
    )


@dataclass(frozen=True)
class LagProfile:
    """Held-out r of one single-lag model per lag, and each electrode's best lag.

    Attributes
    ----------
    r : ndarray, shape (n_lags, n_electrodes)
    lags_ms : ndarray, shape (n_lags,)
    best_lag_ms : ndarray, shape (n_electrodes,)
        The lag of each electrode's highest r.
    p_fwe : ndarray, shape (n_electrodes,)
        p-value of that highest r, corrected for the search over lags and electrodes: the
        same circular shifts are applied at every lag, and each shift's maximum over lags
        and electrodes forms the null.
    """

    r: np.ndarray
    lags_ms: np.ndarray
    best_lag_ms: np.ndarray
    p_fwe: np.ndarray


def single_lag(
    features: np.ndarray,
    targets: np.ndarray,
    lag_ms: float,
    *,
    n_shifts: int = 10_000,
    seed: int = 0,
    **options,
) -> tuple[np.ndarray, np.ndarray]:
    """Fit one single-lag model (as :func:`fit`, with ``options``) and its circular-shift null.

    One point of a lag profile: :func:`lag_profile` runs every lag; a task grid
    (:mod:`neurospeech.encoding_grid`) runs them apart and joins them with
    :func:`combine_lags`.

    Returns
    -------
    r : ndarray, shape (n_electrodes,)
        Held-out r of each electrode.
    draw_max : ndarray, shape (n_shifts,)
        The largest r over electrodes of each circular shift.
    """
    result = fit(features, targets, lags_ms=[lag_ms], **options)
    null = stats.circular_shift_null(targets, result.predicted, n_shifts=n_shifts, seed=seed)
    return result.r, null.max(axis=1)


def combine_lags(
    lags_ms: Iterable[float], r: Iterable[np.ndarray], draw_max: Iterable[np.ndarray]
) -> LagProfile:
    """Join the single-lag fits of :func:`single_lag` (in the order of ``lags_ms``) into a profile.

    The same shifts at every lag: each shift's maximum over lags and electrodes is one
    draw of the family-wise null of each electrode's best r.
    """
    lags = np.asarray(list(lags_ms), dtype=float)
    r = np.stack(list(r))
    family = np.max(np.stack(list(draw_max)), axis=0)
    return LagProfile(
        r=r,
        lags_ms=lags,
        best_lag_ms=lags[r.argmax(axis=0)],
        p_fwe=stats.permutation_p(r.max(axis=0), family[:, None]),
    )


def lag_profile(
    features: np.ndarray,
    targets: np.ndarray,
    lags_ms: Iterable[float] = np.arange(-500, 501, 10),
    *,
    n_shifts: int = 10_000,
    seed: int = 0,
    **options,
) -> LagProfile:
    """Fit one single-lag model per lag (as :func:`fit`, with ``options``) and compare them.

    Parameters
    ----------
    features, targets
        As for :func:`fit`.
    lags_ms : iterable of float
        The lags searched (default -500 to +500 ms in 10 ms steps).
    n_shifts, seed
        Circular shifts of the family-wise null (see :class:`LagProfile`).

    Returns
    -------
    LagProfile
    """
    lags = np.asarray(list(lags_ms), dtype=float)
    fits = [
        single_lag(features, targets, lag, n_shifts=n_shifts, seed=seed, **options) for lag in lags
    ]
    return combine_lags(lags, (r for r, _ in fits), (top for _, top in fits))
