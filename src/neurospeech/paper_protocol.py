"""The protocol of Khanday et al. (Interspeech 2025), faithfully, and an audit of its metric.

The paper predicts each participant's high-gamma activity from word embeddings: the
target of a trial is the full-rate high-gamma envelope averaged over the first
``trial_length`` seconds (1 or 2) after the word cue, one value per channel; an
``ElasticNet(alpha=1.0, l1_ratio=0.5)`` is fitted with leave-one-word-out
cross-validation, and each held-out trial is scored *across its channels* (MSE, RMSE,
R2 and Pearson r of the flattened channel vector). That score is dominated by how much
the channels' mean levels differ, which a predictor of the training means gets right
without any features: :func:`audit` puts the paper's numbers beside that predictor,
beside pure-noise features and beside shuffled word-to-feature assignments,
:func:`variance_ratio` says how high that predictor scores and why, and
:func:`word_level_encoding` is an evaluation that can fail: Pearson r per channel
across held-out words, with a permutation null.

Published quirks are options, off by default, that reproduce the published behaviour
when on: ``drop_participant_10`` of :func:`paper_participants` and
``pca_on_all_trials`` of :func:`leave_one_word_out`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control
from sklearn.base import RegressorMixin, clone
from sklearn.decomposition import PCA
from sklearn.dummy import DummyRegressor
from sklearn.model_selection import GroupKFold
from tqdm.auto import tqdm

from neurospeech import elastic_net, highgamma, ridge, stats
from neurospeech.bids import Recording

#: The paper's regression model.
ELASTIC_NET = {"alpha": 1.0, "l1_ratio": 0.5}
#: Ridge penalties searched by the word-level evaluation (z-scored features and targets).
WORD_LEVEL_ALPHAS = np.logspace(-2, 6, 17)
#: Metric columns of :func:`leave_one_word_out`.
METRICS = ("mse", "rmse", "r2", "pcc")


def paper_participants(subjects: Iterable[str], *, drop_participant_10: bool = False) -> list[str]:
    """Return the participants the analysis runs on.

    Parameters
    ----------
    subjects : iterable of str
        Participant labels (with or without ``sub-``), e.g. from
        :func:`neurospeech.bids.subjects`.
    drop_participant_10 : bool
        The published quirk: the authors' loop builds each label as ``f"0{n}"``, so
        participant 10 becomes ``"010"``, is not found, and is skipped. When True, every
        label that this rule does not produce is dropped, as published.

    Returns
    -------
    subjects : list of str
        Labels without ``sub-``.
    """
    labels = [str(s).removeprefix("sub-") for s in subjects]
    if not drop_participant_10:
        return labels
    return [s for s in labels if s.isdigit() and f"0{int(s)}" == s]


def _word_events(recording: Recording, trial_length: float) -> pd.DataFrame:
    words = recording.trials()
    if not trial_length > 0:
        raise ValueError(f"trial_length must be positive seconds, got {trial_length}")
    return words


def _check_fit(recording: Recording, words, starts, stops, available: int, what: str) -> None:
    outside = np.flatnonzero((starts < 0) | (stops > available))
    if outside.size:
        k = outside[0]
        raise ValueError(
            f"sub-{recording.subject}: the trial of word {words['value'].iloc[k]!r} (event "
            f"sample {words['sample'].iloc[k]}) does not fit in the {available} {what} of "
            f"the recording"
        )


def trial_means(
    recording: Recording,
    trial_length: float,
    *,
    method: str = "reference",
    n_jobs: int | None = 1,
) -> np.ndarray:
    """High-gamma envelope averaged over each word trial: the paper's targets.

    The full-rate envelope (:func:`neurospeech.highgamma.envelope`: linear detrend,
    70-170 Hz band-pass, notches at the second and third mains harmonics, Hilbert
    amplitude) averaged over ``int(trial_length * sfreq)`` samples from each ``word``
    event's ``sample``. Channels flagged bad (non-finite samples) are left out with a
    :class:`~neurospeech.bids.RecordingWarning` (the published code has no such step);
    the columns are then the channels of :meth:`~neurospeech.bids.Recording.pick_good`.

    Parameters
    ----------
    recording : Recording
        From :func:`neurospeech.bids.read_recording`.
    trial_length : float
        Seconds averaged from the cue (the paper uses 1 and 2).
    method, n_jobs
        See :func:`neurospeech.highgamma.envelope`; ``"reference"`` is the paper's chain.

    Returns
    -------
    means : ndarray, shape (n_words, n_channels)
        One row per ``word`` event, in event order.
    """
    words = _word_events(recording, trial_length)
    length = int(trial_length * recording.sfreq)
    starts = words["sample"].to_numpy(dtype=int)
    _check_fit(recording, words, starts, starts + length, recording.ieeg.shape[0], "samples")
    recording = recording.pick_good()
    env = highgamma.envelope(
        recording.ieeg,
        recording.sfreq,
        line_freq=recording.line_freq,
        method=method,
        n_jobs=n_jobs,
    )
    return np.stack([env[start : start + length].mean(axis=0) for start in starts])


def _check_trials(x, y, words) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of predictor, target and words must match; predictors are flattened per row."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    words = np.asarray(words).astype(str)
    if y.ndim != 2:
        raise ValueError(f"Y must be 2-D (trials x channels), got shape {y.shape}")
    if words.ndim != 1 or len(words) != len(y):
        raise ValueError(f"words must hold one label per row of Y ({len(y)}), got {words.shape}")
    if x.ndim < 2 or len(x) != len(y):
        raise ValueError(
            f"the predictor X has shape {x.shape} but Y has {len(y)} rows: X needs one row per "
            f"trial, in the same (event) order as Y and words"
        )
    x = x.reshape(len(x), -1)
    for name, array in (("X", x), ("Y", y)):
        if not np.all(np.isfinite(array)):
            columns = np.unique(np.nonzero(~np.isfinite(array))[1])
            raise ValueError(f"{name} has non-finite values in columns {columns.tolist()[:10]}")
    if np.any(words == ""):
        raise ValueError("words contains empty labels; every trial needs its word")
    if len(np.unique(words)) < 2:
        raise ValueError("leave-one-word-out needs at least two distinct words")
    return x, y, words


@dataclass(frozen=True)
class _Folds:
    """Leave-one-word-out folds: fold k holds out every trial of the k-th sorted word."""

    labels: np.ndarray  # the distinct words, sorted
    fold: np.ndarray  # fold of each trial

    @classmethod
    def of(cls, words: np.ndarray) -> _Folds:
        labels, fold = np.unique(words, return_inverse=True)
        return cls(labels, fold)

    @property
    def sizes(self) -> np.ndarray:
        return np.bincount(self.fold, minlength=len(self.labels))

    @property
    def splits(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return [
            (np.flatnonzero(self.fold != k), np.flatnonzero(self.fold == k))
            for k in range(len(self.labels))
        ]

    def per_fold(self, values: np.ndarray) -> np.ndarray:
        """Sum ``values`` (one per trial) over the trials of each fold."""
        return np.bincount(self.fold, weights=values, minlength=len(self.labels))


Splits = list[tuple[np.ndarray, np.ndarray]]


def _elastic_net_predictions(x: np.ndarray, y: np.ndarray, splits: Splits) -> np.ndarray:
    """Held-out predictions of ``ElasticNet(**ELASTIC_NET)``, as scikit-learn computes them.

    Every split's training rows must be all rows not in its test rows
    (:func:`neurospeech.elastic_net.held_out_predictions`, which fits all channels of all
    splits from one Gram matrix: thousands of shuffles stay affordable).
    """
    return elastic_net.held_out_predictions(x, y, splits, **ELASTIC_NET)


def _components_elastic_net(z: np.ndarray, y: np.ndarray, train, test) -> np.ndarray:
    """Held-out predictions of ``ElasticNet(**ELASTIC_NET)`` on principal components.

    ``z`` holds the rows' scores on the components of a PCA fitted on the ``train`` rows,
    which are centred and orthogonal there. The coordinates then do not interact, and
    each coefficient is the soft-thresholded cross-product
    ``S(z_j' y_c, alpha * l1_ratio * n) / (z_j' z_j + alpha * (1 - l1_ratio) * n)``,
    exactly what coordinate descent reaches in its first sweep; it is computed for every
    channel at once.
    """
    n_train = len(train)
    mean_z, mean_y = z[train].mean(axis=0), y[train].mean(axis=0)
    centred = z[train] - mean_z
    cross = centred.T @ (y[train] - mean_y)
    alpha, l1_ratio = ELASTIC_NET["alpha"], ELASTIC_NET["l1_ratio"]
    shrunk = np.sign(cross) * np.maximum(np.abs(cross) - alpha * l1_ratio * n_train, 0.0)
    coef = shrunk / ((centred**2).sum(axis=0) + alpha * (1 - l1_ratio) * n_train)[:, None]
    return (z[test] - mean_z) @ coef + mean_y


def _estimator_predictions(
    x: np.ndarray, y: np.ndarray, splits: Splits, estimator: RegressorMixin
) -> np.ndarray:
    predicted = np.zeros_like(y)
    for train, test in splits:
        model = clone(estimator).fit(x[train], y[train])
        predicted[test] = np.asarray(model.predict(x[test])).reshape(len(test), -1)
    return predicted


def _fit_predict(x, y, splits, estimator) -> np.ndarray:
    """Held-out predictions of every split: the paper's ElasticNet, or ``estimator``."""
    if estimator is None:
        return _elastic_net_predictions(x, y, splits)
    return _estimator_predictions(x, y, splits, estimator)


class _Features:
    """A predictor of the trials, with the PCA step it asks for, for any assignment of rows.

    The audit's shuffles give the trials the same rows of features in other orders. A
    PCA fitted in a fold depends only on which rows it is fitted on, and with
    leave-one-word-out a fold leaves out the rows of one word, so each PCA is computed
    once, however many shuffles need it (the splits must test every trial once and
    train on the others, as leave-one-word-out does).
    """

    def __init__(self, x: np.ndarray, pca: float | int | None, pca_on_all_trials: bool) -> None:
        if pca is None and pca_on_all_trials:
            raise ValueError("pca_on_all_trials=True needs pca (the variance to keep, e.g. 0.9)")
        self.x = _compact(x, pca)
        self.pca = pca
        self.pca_on_all_trials = pca_on_all_trials
        self._reductions: dict[tuple[int, ...], np.ndarray] = {}

    def _reduced(self, left_out: np.ndarray) -> np.ndarray:
        """Every row, projected by the PCA of the rows not in ``left_out``."""
        key = tuple(np.sort(left_out).tolist())
        if key not in self._reductions:
            kept = np.ones(len(self.x), bool)
            kept[list(key)] = False
            projection = PCA(n_components=self.pca, svd_solver="full").fit(self.x[kept])
            self._reductions[key] = projection.transform(self.x)
        return self._reductions[key]

    def predictions(
        self, y: np.ndarray, splits: Splits, estimator=None, rows: np.ndarray | None = None
    ) -> np.ndarray:
        """Held-out predictions of ``y``, trial ``i`` having the features of row ``rows[i]``."""
        rows = np.arange(len(self.x)) if rows is None else rows
        if self.pca is None:
            return _fit_predict(self.x[rows], y, splits, estimator)
        if self.pca_on_all_trials:  # the published quirk: held-out trials shape the projection
            return _fit_predict(self._reduced(np.array([], int))[rows], y, splits, estimator)
        predicted = np.zeros_like(y)
        for train, test in splits:
            reduced = self._reduced(rows[test])[rows]
            if estimator is None:
                predicted[test] = _components_elastic_net(reduced, y, train, test)
            else:
                predicted[test] = _fit_predict(reduced, y, [(train, test)], estimator)[test]
        return predicted


def _fold_metrics(y: np.ndarray, predicted: np.ndarray, folds: _Folds) -> pd.DataFrame:
    """MSE, RMSE, R2 and Pearson r of each fold's held-out values, flattened across channels."""
    counts = folds.sizes * y.shape[1]
    dy = y - (folds.per_fold(y.sum(axis=1)) / counts)[folds.fold, None]
    dp = predicted - (folds.per_fold(predicted.sum(axis=1)) / counts)[folds.fold, None]
    residual = folds.per_fold(((y - predicted) ** 2).sum(axis=1))
    total = folds.per_fold((dy**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        pcc = folds.per_fold((dy * dp).sum(axis=1)) / np.sqrt(
            total * folds.per_fold((dp**2).sum(axis=1))
        )
        r2 = 1 - residual / total
    mse = residual / counts
    return pd.DataFrame(
        {
            "word": folds.labels,
            "n_trials": folds.sizes,
            "mse": mse,
            "rmse": np.sqrt(mse),
            "r2": r2,
            "pcc": pcc,
        }
    )


def _compact(x: np.ndarray, pca: float | int | None) -> np.ndarray:
    """Features in their row space when a PCA comes first and they have more dims than rows.

    A PCA of any rows depends only on their inner products, which the coordinates
    ``U S`` of the rows in their own span (``x = U S V'``) keep: the components found are
    the same (up to sign, which the fits after them ignore), and 100 trials of 100,000
    flattened dims cost a 100 x 100 problem per fold instead.
    """
    if pca is None:
        return x
    return _row_coordinates(x)


def _row_coordinates(x: np.ndarray) -> np.ndarray:
    """Return the coordinates ``U S`` of the rows in their own span (``x = U S V'``).

    They keep every inner product of the rows, so any fit that depends on the rows only
    through them (a PCA, a ridge) is the same on them; ``x`` itself when it has no more
    columns than rows. They come from the eigendecomposition of the rows' Gram matrix
    ``x x' = U S^2 U'`` (for 100 rows of 100,000 dims, 30 times faster than the SVD of
    ``x``), directions of numerically zero variance left out.
    """
    if x.shape[1] <= x.shape[0]:
        return x
    values, vectors = np.linalg.eigh(x @ x.T)
    kept = values > values[-1] * len(x) * np.finfo(float).eps
    return vectors[:, kept] * np.sqrt(values[kept])


def leave_one_word_out(
    X: np.ndarray,
    Y: np.ndarray,
    words: np.ndarray,
    *,
    estimator: RegressorMixin | None = None,
    pca: float | int | None = None,
    pca_on_all_trials: bool = False,
) -> pd.DataFrame:
    """Leave-one-word-out cross-validation scored as the paper scores it.

    One fold per distinct word, in sorted order (``LeaveOneGroupOut`` with the words as
    groups): every trial of that word is held out, the model is fitted on the others,
    and the held-out trials' predicted and true values are flattened across channels to
    compute MSE, RMSE, R2 and Pearson r (PCC).

    Parameters
    ----------
    X : ndarray, shape (n_trials, ...)
        Predictor, one row per trial (further axes are flattened, as published).
    Y : ndarray, shape (n_trials, n_channels)
        Targets, e.g. :func:`trial_means`.
    words : array of str, shape (n_trials,)
        The word of each trial.
    estimator : scikit-learn regressor, optional
        Default: the paper's ``ElasticNet(alpha=1.0, l1_ratio=0.5)`` (computed exactly,
        skipping fits whose solution is provably zero). Any other regressor is cloned and
        fitted per fold, e.g. ``DummyRegressor()`` for the training-mean predictor.
    pca : float or int, optional
        Reduce X by PCA first (a float in (0, 1): the fraction of variance kept, 0.9 for
        the paper's wav2vec features), fitted on the training trials of each fold. The
        components are then orthogonal on the training trials and the elastic net is
        solved exactly; scikit-learn's coordinate descent stops within its tolerance
        (a 1e-4 duality gap), up to about 1e-4 of R2 away from that optimum.
    pca_on_all_trials : bool
        The published quirk: fit the PCA once on all trials, held-out ones included,
        before cross-validation.

    Returns
    -------
    metrics : DataFrame
        One row per fold: ``word``, ``n_trials``, ``mse``, ``rmse``, ``r2``, ``pcc``.
    """
    x, y, words = _check_trials(X, Y, words)
    folds = _Folds.of(words)
    predicted = _Features(x, pca, pca_on_all_trials).predictions(y, folds.splits, estimator)
    return _fold_metrics(y, predicted, folds)


def _summary(metrics: pd.DataFrame) -> dict[str, float]:
    return {"pcc": float(metrics["pcc"].mean()), "r2": float(metrics["r2"].mean())}


def audit(
    X: np.ndarray,
    Y: np.ndarray,
    words: np.ndarray,
    *,
    n_shuffles: int = 1000,
    seed: int = 0,
    pca: float | int | None = None,
    pca_on_all_trials: bool = False,
    progress: bool = False,
    return_null: bool = False,
) -> dict[str, float] | tuple[dict[str, float], np.ndarray]:
    """Score the paper's way, next to what that score is without any information.

    Parameters
    ----------
    X, Y, words, pca, pca_on_all_trials
        As for :func:`leave_one_word_out` (with the paper's ElasticNet).
    n_shuffles : int
        Shuffles of the trial-to-predictor assignment (rows of X permuted; the words and
        targets stay in place). 0: no shuffle null (each one costs a whole
        leave-one-word-out pass; the protocol runs them for its ``conditions`` only).
    seed : int
        Seeds the noise features and the shuffles.
    progress : bool
        Show a progress bar over the shuffles.
    return_null : bool
        Also return the shuffle null, e.g. for a group test across participants
        (:func:`neurospeech.stats.group_permutation`).

    Returns
    -------
    summary : dict
        Mean over folds of PCC and R2 for ``model`` (the features), ``mean`` (each
        channel's training mean, no features), ``noise`` (standard-normal features of
        X's width) and ``shuffled`` (mean of the shuffle distribution), as
        ``pcc_<name>`` and ``r2_<name>``; ``p_shuffle``, the permutation p-value of the
        model's mean PCC (+1 corrected), and ``n_shuffles`` (``pcc_shuffled`` and
        ``p_shuffle`` are NaN without shuffles).
    null : ndarray, shape (n_shuffles,)
        The mean PCC of each shuffle; only if ``return_null``.
    """
    x, y, words = _check_trials(X, Y, words)
    if n_shuffles < 0:
        raise ValueError(f"n_shuffles must be 0 (no shuffle null) or more, got {n_shuffles}")
    folds = _Folds.of(words)
    splits = folds.splits
    rng = np.random.default_rng(seed)

    def score(features: _Features, rows: np.ndarray | None = None) -> pd.DataFrame:
        return _fold_metrics(y, features.predictions(y, splits, rows=rows), folds)

    training_mean = _estimator_predictions(x, y, splits, DummyRegressor())  # X is not read
    noise = _Features(rng.standard_normal(x.shape), pca, pca_on_all_trials)
    features = _Features(x, pca, pca_on_all_trials)
    results = {
        "model": _summary(score(features)),
        "mean": _summary(_fold_metrics(y, training_mean, folds)),
        "noise": _summary(score(noise)),
    }
    null = np.array(
        [
            score(features, rng.permutation(len(x)))["pcc"].mean()
            for _ in tqdm(range(n_shuffles), desc="shuffles", disable=not progress, leave=False)
        ]
    )
    row = {f"{metric}_{name}": value[metric] for name, value in results.items() for metric in value}
    shuffled = n_shuffles > 0
    row["pcc_shuffled"] = float(null.mean()) if shuffled else np.nan
    row["p_shuffle"] = stats.permutation_p(results["model"]["pcc"], null) if shuffled else np.nan
    row["n_shuffles"] = n_shuffles
    return (row, null) if return_null else row


def variance_ratio(Y: np.ndarray) -> dict[str, float]:
    """Why the paper's PCC is high: channel levels against word-to-word variation.

    ``B`` is the variance across channels of the channels' mean over trials, ``W`` the
    mean over channels of each channel's variance across trials. A predictor of the
    channel means correlates with a trial's channel vector at about
    ``sqrt(B / (B + W))`` (covariance ``B``, variances ``B`` and ``B + W``), whatever
    the words: with ``B / W`` large, the PCC is near 1 without any word information.

    Parameters
    ----------
    Y : ndarray, shape (n_trials, n_channels)
        Targets, e.g. :func:`trial_means`.

    Returns
    -------
    ratio : dict
        ``between``, ``within``, ``ratio`` (B / W) and ``predicted_pcc``.
    """
    y = np.asarray(Y, dtype=float)
    if y.ndim != 2 or len(y) < 2 or y.shape[1] < 2:
        raise ValueError(f"Y must be trials x channels with at least 2 of each, got {y.shape}")
    between = float(y.mean(axis=0).var())
    within = float(y.var(axis=0).mean())
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = between / within if within > 0 else np.inf
        predicted = np.sqrt(between / (between + within)) if between + within > 0 else np.nan
    return {"between": between, "within": within, "ratio": float(ratio), "predicted_pcc": predicted}


@dataclass(frozen=True)
class WordLevelEncoding:
    """Per-channel result of :func:`word_level_encoding`.

    Attributes
    ----------
    r : ndarray, shape (n_channels,)
        Pearson r across trials between each channel's held-out predictions and its
        trial means.
    p : ndarray, shape (n_channels,)
        Permutation p-value of ``r`` (one-sided, +1 corrected).
    q : ndarray, shape (n_channels,)
        Benjamini-Hochberg adjusted ``p`` across channels.
    p_fwe : ndarray, shape (n_channels,)
        Family-wise corrected p-value from the maximum r over channels of each permutation.
    alpha : ndarray, shape (n_folds, n_channels)
        Ridge penalty chosen for each channel in each outer fold.
    predicted : ndarray, shape (n_trials, n_channels)
        Held-out predictions, in the units of the targets.
    null : ndarray, shape (n_permutations, n_channels)
        r of every permutation.
    """

    r: np.ndarray
    p: np.ndarray
    q: np.ndarray
    p_fwe: np.ndarray
    alpha: np.ndarray
    predicted: np.ndarray
    null: np.ndarray

    def significant(self, level: float = 0.05) -> np.ndarray:
        """Return the channels whose FDR-adjusted p-value is below ``level`` (boolean mask)."""
        return self.q < level


def _group_splits(groups: np.ndarray, n_splits: int, what: str) -> Splits:
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise ValueError(f"the {what} cross-validation needs at least two distinct words")
    folds = GroupKFold(n_splits=min(n_splits, n_groups))
    return list(folds.split(groups, groups=groups))


class _WordLevelModel:
    """The word-level ridge of every outer fold, factorized once for any target order."""

    def __init__(self, x: np.ndarray, outer: Splits, inner: list[Splits], alphas) -> None:
        self.outer = outer
        self.models = []
        for (train, test), splits in zip(outer, inner):
            # a ridge depends on the rows only through their inner products
            zx = _row_coordinates(ridge.standardize(x, train)[0])
            self.models.append(ridge.InnerCV(zx[train], zx[test], splits, alphas))

    def predict(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Held-out predictions of ``y`` (trials x channels) and the penalties chosen."""
        predicted = np.zeros_like(y)
        chosen = np.zeros((len(self.outer), y.shape[1]))
        for k, ((train, test), model) in enumerate(zip(self.outer, self.models)):
            zy, mean, std = ridge.standardize(y, train)
            if np.any(std == 0):
                raise ValueError(
                    f"channels {np.flatnonzero(std == 0).tolist()} are constant over the "
                    f"training trials of outer fold {k}"
                )
            pred, chosen[k] = model.fit_predict(zy[train])
            predicted[test] = pred * std + mean
        return predicted, chosen


def word_level_encoding(
    X: np.ndarray,
    Y: np.ndarray,
    words: np.ndarray,
    *,
    alphas: Iterable[float] = WORD_LEVEL_ALPHAS,
    n_folds: int = 10,
    n_inner_folds: int = 5,
    n_permutations: int = 1000,
    seed: int = 0,
    progress: bool = False,
) -> WordLevelEncoding:
    """Evaluate a word-level encoding per channel: a test that can fail, unlike the paper's.

    Outer ``GroupKFold`` over words (all trials of a word in the same fold); in each, the
    features and the targets are z-scored with the training trials' statistics, and a
    ridge regression per channel takes the penalty with the best mean R2 in an inner
    ``GroupKFold`` over the training words. The held-out predictions of all folds are
    correlated with the trial means, channel by channel, across trials. The null
    distribution repeats everything (z-scoring, penalty choice, fit) with the trials'
    targets permuted, the same permutation for every channel; the features, words and
    folds stay as they are, so each fold's factorization is computed once. p-values are
    one-sided with the +1 correction, q-values Benjamini-Hochberg across channels,
    ``p_fwe`` from the maximum over channels of each permutation.

    Parameters
    ----------
    X : ndarray, shape (n_trials, ...)
        Predictor, one row per trial (further axes flattened).
    Y : ndarray, shape (n_trials, n_channels)
        Targets, e.g. :func:`trial_means`.
    words : array of str, shape (n_trials,)
    alphas : sequence of float
        Ridge penalties searched (for z-scored features).
    n_folds, n_inner_folds : int
        Outer and inner folds (fewer when there are fewer distinct words).
    n_permutations : int
        Permutations of the null distribution.
    seed : int
        Seeds the permutations.
    progress : bool
        Show a progress bar over the permutations.

    Returns
    -------
    WordLevelEncoding

    Notes
    -----
    The cross-validated r of a channel that the features do not explain is negative on
    average, not zero: each held-out trial is predicted from a training mean that
    excludes it, so it is pulled the other way. The permutation null carries the same
    bias (``null.mean(axis=0)`` estimates it), so the p-values are exact.
    """
    x, y, words = _check_trials(X, Y, words)
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be at least 1, got {n_permutations}")
    outer = _group_splits(words, n_folds, "outer")
    inner = [_group_splits(words[train], n_inner_folds, "inner") for train, _ in outer]
    model = _WordLevelModel(x, outer, inner, alphas)
    predicted, chosen = model.predict(y)
    r = stats.pearson_r(y, predicted)
    rng = np.random.default_rng(seed)
    null = np.zeros((n_permutations, y.shape[1]))
    for i in tqdm(range(n_permutations), desc="permutations", disable=not progress, leave=False):
        shuffled = y[rng.permutation(len(y))]
        null[i] = stats.pearson_r(shuffled, model.predict(shuffled)[0])
    p = stats.permutation_p(r, null)
    return WordLevelEncoding(
        r=r,
        p=p,
        q=false_discovery_control(p),
        p_fwe=stats.max_statistic_p(r, null),
        alpha=chosen,
        predicted=predicted,
        null=null,
    )


def group_audit(audits: Iterable[tuple[dict[str, float], np.ndarray]]) -> dict[str, float]:
    """Test the paper's metric of one predictor against shuffles, across participants at once.

    The statistic is the mean over participants of each one's mean PCC, against the same
    mean under each participant's shuffle of the same draw
    (:func:`neurospeech.stats.group_permutation`): one test per predictor and trial
    length, decidable with a few hundred shuffles where the per-participant tests need
    thousands.

    Parameters
    ----------
    audits : iterable of (dict, ndarray)
        One per participant: what :func:`audit` returns with ``return_null=True``, each
        with the same number of shuffles.

    Returns
    -------
    result : dict
        ``participants``, ``mean_pcc``, ``null_mean_pcc`` (the null's mean), ``p_group``
        (one-sided, +1 corrected) and ``n_shuffles``.
    """
    audits = list(audits)
    if not audits or any(len(null) == 0 for _, null in audits):
        raise ValueError("the group test needs every participant's audit with its shuffles")
    result = stats.group_permutation(
        [row["pcc_model"] for row, _ in audits], [null for _, null in audits]
    )
    return {
        "participants": result["participants"],
        "mean_pcc": result["observed"],
        "null_mean_pcc": result["null_mean"],
        "p_group": result["p"],
        "n_shuffles": result["n_draws"],
    }


def group_word_level(encodings: Iterable[WordLevelEncoding]) -> dict[str, float]:
    """Test the word-level encoding of one predictor across participants at once.

    The statistic is the mean over participants of each one's best channel (its largest
    r, the statistic of ``p_fwe``), against the same mean under each participant's
    permutation of the same draw (:func:`neurospeech.stats.group_permutation`). One test
    per predictor and trial length, where the per-participant tests make a family as many
    times larger (with 10 participants and 1,000 permutations, Holm over 320 tests cannot
    reject anything; :func:`neurospeech.stats.holm_floor`).

    Parameters
    ----------
    encodings : iterable of WordLevelEncoding
        One per participant, each with the same number of permutations.

    Returns
    -------
    result : dict
        ``participants``, ``mean_best_r``, ``null_mean_best_r`` (the null's mean),
        ``p_group`` (one-sided, +1 corrected) and ``n_permutations``.
    """
    encodings = list(encodings)
    if not encodings:
        raise ValueError("the group test needs at least one participant's word-level encoding")
    result = stats.group_permutation(
        [encoding.r.max() for encoding in encodings],
        [encoding.null.max(axis=1) for encoding in encodings],
    )
    return {
        "participants": result["participants"],
        "mean_best_r": result["observed"],
        "null_mean_best_r": result["null_mean"],
        "p_group": result["p"],
        "n_permutations": result["n_draws"],
    }
