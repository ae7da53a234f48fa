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

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.linalg
from scipy.stats import false_discovery_control
from sklearn.model_selection import KFold

from neurospeech import ridge, stats

#: Default lags (ms): -500 to +500 in 50 ms steps.
LAGS_MS = np.arange(-500, 501, 50)
#: Default penalties: 20 values from 1e-2 to 1e8 (z-scored features and targets).
ALPHAS = np.logspace(-2, 8, 20)
#: Weights of a band relative to the first band searched by a banded fit (:func:`fit_bands`).
RATIOS = (0.01, 0.1, 1.0, 10.0, 100.0)
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


def lagged(
    features: np.ndarray,
    lags: Iterable[int],
    rows: np.ndarray | None = None,
    order: np.ndarray | None = None,
) -> np.ndarray:
    """Stack lagged copies of ``features``: column block ``l`` holds ``features[t - lags[l]]``.

    A positive lag predicts a frame from earlier features (the brain follows the audio), a
    negative lag from later ones (the brain leads). Frames with no source are zero.

    Parameters
    ----------
    features : ndarray, shape (n_frames, n_features)
    lags : iterable of int
        In frames.
    rows : ndarray of int, optional
        The frames ``t`` to build (default: all).
    order : ndarray of int, shape (n_frames,), optional
        Lag the reordered frames ``features[order]`` (without copying them all).

    Returns
    -------
    stacked : ndarray, shape (n_rows, n_lags * n_features)
    """
    lags = np.array([int(lag) for lag in lags], dtype=int)
    n, width = features.shape
    rows = np.arange(n) if rows is None else np.asarray(rows)
    source = rows[:, None] - lags[None, :]
    inside = (source >= 0) & (source < n)
    source = np.clip(source, 0, n - 1)
    out = features[source if order is None else order[source]]  # rows x lags x features
    out[~inside] = 0
    return out.reshape(len(rows), len(lags) * width)


def lagged_grams(
    bases: Sequence[np.ndarray], lags: Iterable[int], blocks: Iterable[np.ndarray]
) -> list[np.ndarray]:
    """Gram matrix of each block of rows of the lagged design, from the features' cross-products.

    Equal to ``x[rows].T @ x[rows]`` for each ``rows`` of ``blocks``, where ``x =
    np.hstack([lagged(base, lags) for base in bases])``, with far fewer products: over a
    run of consecutive rows ``[a, b)`` the block of lags ``l`` and ``m`` is the
    cross-product of the features with themselves ``l - m`` frames apart over the rows
    ``[a - l, b - l)``. Those ranges share the rows ``[a - min(lags), b - max(lags))``,
    whose cross-product is computed once per lag difference (41 for 21 regular lags,
    instead of 441 lag pairs); only the few rows beyond them are added per pair.

    Parameters
    ----------
    bases : sequence of ndarray, each of shape (n_frames, n_features_b)
    lags : iterable of int
        In frames.
    blocks : iterable of ndarray of int
        Rows of the design (frames), in increasing order.

    Returns
    -------
    grams : list of ndarray, each of shape (n_lags * sum of n_features_b,) * 2
    """
    lags = np.array([int(lag) for lag in lags], dtype=int)
    if not len(lags):
        raise ValueError("lagged_grams needs at least one lag")
    joined = np.hstack(bases)
    n, width = joined.shape
    reach = int(np.abs(lags).max())
    padded = np.zeros((n + 2 * reach, width))  # frame t at row t + reach; zeros outside
    padded[reach : reach + n] = joined
    # design column (band, lag, feature) -> column (lag, band's feature) of the joined lags
    # (the same order for one band)
    offsets = np.cumsum([0] + [base.shape[1] for base in bases])
    order = np.concatenate(
        [
            i * width + np.arange(start, stop)
            for start, stop in zip(offsets, offsets[1:])
            for i in range(len(lags))
        ]
    )
    grams = []
    for rows in blocks:
        rows = np.asarray(rows)
        gram = np.zeros((len(lags) * width,) * 2)
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        for run in np.split(rows, breaks):
            if len(run):
                gram += _run_gram(padded, reach, lags, run[0], run[-1] + 1)
        grams.append(gram[np.ix_(order, order)] if len(bases) > 1 else gram)
    return grams


def _run_gram(padded: np.ndarray, reach: int, lags: np.ndarray, start: int, stop: int):
    """Return the lagged Gram matrix (lag-major columns) of the rows ``[start, stop)``."""
    width = padded.shape[1]
    low, high = lags.min(), lags.max()
    if stop - start <= high - low:  # too short to share rows: build them
        rows = lagged(padded[reach : len(padded) - reach], lags, np.arange(start, stop))
        return rows.T @ rows

    def cross(first: int, last: int, difference: int) -> np.ndarray:
        """Sum over frames s in [first, last) of features[s]' features[s + difference]."""
        left = padded[reach + first : reach + last]
        return left.T @ padded[reach + first + difference : reach + last + difference]

    core = {d: cross(start - low, stop - high, d) for d in np.unique(lags[:, None] - lags)}
    gram = np.zeros((len(lags) * width,) * 2)
    for i, lag in enumerate(lags):
        for j, other in enumerate(lags):
            d = lag - other
            block = core[d] + cross(start - lag, start - low, d) + cross(stop - high, stop - lag, d)
            gram[i * width : (i + 1) * width, j * width : (j + 1) * width] = block
    return gram


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
    band_weight : ndarray, shape (n_folds, n_bands, n_electrodes)
        The weight of each feature band (:func:`fit_bands`): band ``b``'s penalty is
        ``alpha / band_weight[:, b]``; all ones for a single band.
    swap_r : ndarray, shape (n_swaps, n_electrodes)
        r of the same models' held-out predictions from the features of each reordering
        of the frames given (:func:`trial_swaps`); no rows without any.
    """

    r: np.ndarray
    predicted: np.ndarray
    alpha: np.ndarray
    fold: np.ndarray
    lags_ms: np.ndarray
    band_weight: np.ndarray
    swap_r: np.ndarray


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
    swaps: Sequence[np.ndarray] = (),
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
    swaps : sequence of ndarray of int
        Reorderings of the frames whose held-out predictions are also made (see
        :func:`fit_bands`).
    device : str, optional
        Solve with torch on this device (e.g. ``"cuda"``) instead of NumPy; the PCA and
        the lagging stay on the CPU.

    Returns
    -------
    EncodingFit
    """
    return fit_bands(
        [features],
        targets,
        lags_ms=lags_ms,
        shift=shift,
        n_folds=n_folds,
        n_inner_folds=n_inner_folds,
        alphas=alphas,
        n_components=[n_components],
        swaps=swaps,
        device=device,
    )


def fit_bands(
    bands: Sequence[np.ndarray],
    targets: np.ndarray,
    *,
    lags_ms: Iterable[float] = LAGS_MS,
    shift: float = 0.01,
    n_folds: int = 5,
    n_inner_folds: int = 5,
    alphas: Iterable[float] = ALPHAS,
    ratios: Iterable[float] = RATIOS,
    n_components: Sequence[int | None] | None = None,
    swaps: Sequence[np.ndarray] = (),
    device: str | None = None,
) -> EncodingFit:
    """Fit a joint model of several feature spaces, each with its own penalty (banded ridge).

    Each band is z-scored (and optionally reduced by PCA) on each outer fold's training
    frames and lagged as in :func:`fit`; the lagged bands side by side form one design,
    fitted by :func:`neurospeech.ridge.banded` with the candidate band weights of
    :func:`neurospeech.ridge.band_weights` (``ratios``) and the penalties ``alphas``,
    chosen per electrode by the inner folds. One band is :func:`fit`.

    Parameters
    ----------
    bands : sequence of ndarray, each of shape (n_frames, n_features_b)
    targets : ndarray, shape (n_frames, n_electrodes)
    lags_ms, shift, n_folds, n_inner_folds, alphas, device
        As for :func:`fit`.
    ratios : iterable of float
        Weights of every band but the first relative to the first.
    n_components : sequence of (int or None), optional
        Principal components kept of each band (None: all its features).
    swaps : sequence of ndarray of int, each of shape (n_frames,)
        Reorderings of the frames (:func:`trial_swaps`): each fold's model also predicts
        its held-out frames from the features of frames ``swap[t]`` instead of ``t``
        (scored in ``EncodingFit.swap_r``). The z-scoring and PCA act on each frame
        alone, so they are those of the real features.

    Returns
    -------
    EncodingFit
    """
    lags = lag_frames(lags_ms, shift)
    n_components = list(n_components) if n_components is not None else [None] * len(bands)
    if not bands or len(n_components) != len(bands):
        raise ValueError(
            f"{len(bands)} feature bands need as many n_components, got {len(n_components)}"
        )
    checked = [_check(band, targets, lags, n_folds) for band in bands]
    xs, y = [x for x, _ in checked], checked[0][1]
    widths = [(k or x.shape[1]) * len(lags) for x, k in zip(xs, n_components)]
    if sum(widths) > MAX_COLUMNS:
        raise ValueError(
            f"{' + '.join(str(w) for w in widths)} lagged feature columns are too many to "
            f"fit directly (at most {MAX_COLUMNS}); pass n_components to reduce the features "
            "first"
        )
    weights = ridge.band_weights(len(bands), ratios)
    swaps = [np.asarray(swap) for swap in swaps]
    # sums of the swapped predictions p over the held-out frames: p, p^2, p * y
    sums = np.zeros((3, len(swaps), y.shape[1]))
    predicted = np.zeros_like(y)
    chosen = np.zeros((n_folds, y.shape[1]))
    band_weight = np.zeros((n_folds, len(bands), y.shape[1]))
    fold = np.zeros(len(y), dtype=int)
    folds = list(KFold(n_folds).split(y))
    per_band = [_fold_bases(x, folds, n) for x, n in zip(xs, n_components)]
    for k, ((train, test), bases) in enumerate(zip(folds, zip(*per_band))):
        design = np.hstack([lagged(base, lags) for base in bases])
        zy, mean, std = ridge.standardize(y, train)
        if np.any(std == 0):
            constant = np.flatnonzero(std == 0).tolist()
            raise ValueError(
                f"electrodes {constant} are constant in the training frames of fold {k}"
            )
        inner = list(KFold(n_inner_folds).split(train))
        # the inner blocks' Gram matrices from the lag structure (when the solver uses them)
        grams = (
            lagged_grams(bases, lags, [train[test] for _, test in inner])
            if len(train) >= sum(widths)
            else None
        )
        coefficients, chosen[k], band_weight[k] = ridge.banded(
            design[train], zy[train], widths, inner, alphas, weights, device=device, grams=grams
        )
        fitted = design @ coefficients  # every frame's: the swaps read the training frames'
        predicted[test] = fitted[test] * std + mean
        held_out = y[test]
        for s, swap in enumerate(swaps):
            # the sums of z-scored predictions g, then of p = g * std + mean
            guess = swapped_predictions(fitted, bases, lags, swap, test, coefficients)
            g, gg = guess.sum(0), np.einsum("ij,ij->j", guess, guess)
            gy = np.einsum("ij,ij->j", guess, held_out)
            sums[0, s] += std * g + len(test) * mean
            sums[1, s] += std**2 * gg + 2 * std * mean * g + len(test) * mean**2
            sums[2, s] += std * gy + mean * held_out.sum(0)
        fold[test] = k
    return EncodingFit(
        r=stats.pearson_r(y, predicted),
        predicted=predicted,
        alpha=chosen,
        fold=fold,
        lags_ms=np.asarray(list(lags_ms), dtype=float),
        band_weight=band_weight,
        swap_r=_r_from_sums(y, *sums),
    )


def swapped_predictions(
    fitted: np.ndarray,
    bases: Sequence[np.ndarray],
    lags: Sequence[int],
    swap: np.ndarray,
    rows: np.ndarray,
    coefficients: np.ndarray,
) -> np.ndarray:
    """Predict ``rows`` from the lagged features of the reordered frames ``bases[b][swap]``.

    Equal to ``np.hstack([lagged(base[swap], lags, rows) for base in bases]) @
    coefficients``, built only where it must be: where a row's whole lag window moves by
    one delay (``swap[t - lag] == swap[t] - lag`` for every lag), its lagged features are
    those of frame ``swap[t]``, whose prediction ``fitted`` already holds. Trial swaps
    (:func:`trial_swaps`) move each trial by one delay, so only windows across a trial's
    edge are built.

    Parameters
    ----------
    fitted : ndarray, shape (n_frames, n_targets)
        The prediction of every frame from its own lagged features.
    bases : sequence of ndarray, each of shape (n_frames, n_features_b)
        The feature bands, before lagging, side by side in the design as ``coefficients``.
    lags : sequence of int
        In frames.
    swap : ndarray of int, shape (n_frames,)
    rows : ndarray of int
        The frames to predict.
    coefficients : ndarray, shape (n_lags * sum of n_features_b, n_targets)

    Returns
    -------
    predicted : ndarray, shape (len(rows), n_targets)
    """
    n = len(fitted)
    source = swap[rows]
    whole = np.ones(len(rows), dtype=bool)
    for lag in lags:
        earlier = rows - lag
        inside = (earlier >= 0) & (earlier < n)
        whole &= inside & (swap[np.clip(earlier, 0, n - 1)] == source - lag)
    predicted = fitted[source]
    if not whole.all():
        edge = rows[~whole]
        moved = [lagged(base, lags, edge, order=swap) for base in bases]
        predicted[~whole] = (moved[0] if len(moved) == 1 else np.hstack(moved)) @ coefficients
    return predicted


def _r_from_sums(y: np.ndarray, sum_p, sum_pp, sum_py) -> np.ndarray:
    """Pearson r of ``y`` with predictions known by their sums (one row per prediction)."""
    n = len(y)
    covariance = sum_py - sum_p * y.mean(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return covariance / np.sqrt((sum_pp - sum_p**2 / n) * (y.var(0) * n))


def _fold_bases(
    x: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], n_components: int | None
) -> Iterator[np.ndarray]:
    """Yield ``x`` z-scored on each fold's training rows, then reduced to their principal axes.

    The PCA is that of scikit-learn's ``PCA(n_components)`` fitted on the z-scored
    training rows, up to the signs of the components (which no ridge prediction sees).
    The test blocks of ``folds`` must partition the rows: a fold's training sums are then
    the total minus its test block's, so one pass over ``x`` (centred on its overall mean,
    so that the sums lose no precision) serves every fold, instead of one per fold.
    Columns constant over a fold's training rows are only centred, as
    :func:`neurospeech.ridge.standardize` does; "constant" here means a variance below
    ``1e-12`` of the squared mean, which the sums cannot resolve.
    """
    if n_components is None:
        for train, _ in folds:
            yield ridge.standardize(x, train)[0]
        return
    if not 0 < n_components <= x.shape[1]:
        raise ValueError(
            f"n_components={n_components} is not between 1 and the {x.shape[1]} features"
        )
    centred = x - x.mean(axis=0)
    sums, grams = [], []
    for _, test in folds:
        block = centred[test]
        sums.append(block.sum(axis=0))
        grams.append(block.T @ block)
    total_sum, total_gram = sum(sums), sum(grams)
    for k, (train, _) in enumerate(folds):
        mean = (total_sum - sums[k]) / len(train)
        covariance = (total_gram - grams[k]) / len(train) - np.outer(mean, mean)
        variance = np.diag(covariance)
        scale = np.where(variance > 1e-12 * mean**2, np.sqrt(np.clip(variance, 0, None)), 1.0)
        width = len(scale)
        _, vectors = scipy.linalg.eigh(
            covariance / np.outer(scale, scale), subset_by_index=[width - n_components, width - 1]
        )
        top = vectors[:, ::-1] / scale[:, None]
        yield centred @ top - mean @ top


def trial_swaps(
    n_frames: int,
    cues: np.ndarray,
    onsets: np.ndarray,
    n_swaps: int,
    *,
    shift: float = 0.01,
    window: float = 0.05,
    seed: int = 0,
) -> list[np.ndarray]:
    """Reorderings of the frames that give each trial another trial's features.

    Each draw pairs every trial (from its cue to the next cue) with another trial (a
    random derangement of the trials with a speech onset) and gives each of its frames
    the frame at the same time from the other trial's speech onset: the timing of speech
    is kept, the word is another. Frames before the first cue, and of trials without a
    speech onset, keep their own.

    Parameters
    ----------
    n_frames : int
    cues, onsets : ndarray, shape (n_trials,)
        Seconds on the iEEG clock: each trial's cue and speech onset (NaN: none).
    n_swaps : int
    shift, window : float
        The frames (frame ``t`` is centred at ``t * shift + window / 2``).
    seed : int

    Returns
    -------
    swaps : list of ndarray of int, each of shape (n_frames,)
    """
    cues, onsets = np.asarray(cues, float), np.asarray(onsets, float)
    spoken = np.flatnonzero(np.isfinite(onsets))
    if len(spoken) < 2:
        raise ValueError(f"{len(spoken)} trials with a speech onset cannot be swapped")
    centres = np.arange(n_frames) * shift + window / 2
    trial = np.searchsorted(cues, centres, side="right") - 1  # -1: before the first cue
    moved = trial >= 0
    moved[moved] = np.isfinite(onsets[trial[moved]])
    frames, own = np.flatnonzero(moved), trial[moved]
    rng = np.random.default_rng(seed)
    swaps = []
    for _ in range(n_swaps):
        drawn = rng.permutation(spoken)
        while np.any(drawn == spoken):
            drawn = rng.permutation(spoken)
        partner = np.arange(len(cues))
        partner[spoken] = drawn
        delay = (onsets[partner[own]] - onsets[own]) / shift
        source = np.arange(n_frames)
        source[frames] = np.clip(np.round(frames + delay), 0, n_frames - 1)
        swaps.append(source)
    return swaps


def fold_r(targets: np.ndarray, encoding: EncodingFit) -> np.ndarray:
    """Pearson r of each electrode within each held-out fold, shape (n_folds, n_electrodes)."""
    y = np.asarray(targets, dtype=float)
    return np.stack(
        [
            stats.pearson_r(y[encoding.fold == k], encoding.predicted[encoding.fold == k])
            for k in np.unique(encoding.fold)
        ]
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


def unique_variance(
    targets: np.ndarray,
    full: EncodingFit,
    reduced: EncodingFit | None = None,
    *,
    n_shifts: int = 10_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Measure what a joint model explains beyond a model of fewer of its feature bands.

    Both models' held-out predictions (:func:`fit_bands`) give a cross-validated R2 per
    electrode; the unique variance of the bands the reduced model lacks is their
    difference, tested against circular shifts of the high-gamma against both predictions
    (:func:`neurospeech.stats.circular_gain_null`).

    Parameters
    ----------
    targets : ndarray, shape (n_frames, n_electrodes)
    full, reduced : EncodingFit
        The joint model and the model without the bands tested (None: no features, each
        electrode predicted by its mean, so that the unique variance is the full model's
        R2).
    n_shifts, seed
        As for :func:`significance`.

    Returns
    -------
    table : DataFrame
        One row per electrode: ``r2_full``, ``r2_reduced``, ``unique``, ``p`` (+1
        corrected), ``q`` (Benjamini-Hochberg across electrodes), ``p_fwe`` (maximum
        over electrodes).
    """
    y = np.asarray(targets, dtype=float)
    smaller = reduced.predicted if reduced is not None else np.broadcast_to(y.mean(0), y.shape)
    r2_full, r2_reduced = stats.r2(y, full.predicted), stats.r2(y, smaller)
    unique = r2_full - r2_reduced
    null = stats.circular_gain_null(y, full.predicted, smaller, n_shifts=n_shifts, seed=seed)
    p = stats.permutation_p(unique, null)
    return pd.DataFrame(
        {
            "r2_full": r2_full,
            "r2_reduced": r2_reduced,
            "unique": unique,
            "p": p,
            "q": false_discovery_control(p),
            "p_fwe": stats.max_statistic_p(unique, null),
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
