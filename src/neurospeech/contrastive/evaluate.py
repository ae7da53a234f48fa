"""Retrieval of words never seen in training: the contrastive model, a ridge baseline, chance."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import torch
from scipy import stats as scipy_stats
from sklearn.model_selection import GroupKFold
from tqdm.auto import tqdm

from neurospeech import ridge
from neurospeech.config import ContrastiveTraining
from neurospeech.contrastive import train as training
from neurospeech.contrastive.data import Segments
from neurospeech.encoding import ALPHAS

#: The k of the top-k accuracies reported.
KS = (1, 5, 10)
METHODS = ("contrastive", "ridge")


def word_folds(words: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Assign every distinct word to one of ``n_folds`` folds, at random from ``seed``.

    A word is in the same fold for every participant, so a held-out word was never seen
    in training, from anyone.

    Returns
    -------
    fold : ndarray of int, shape (n_segments,)
    """
    unique = np.unique(words)
    if not 2 <= n_folds <= len(unique):
        raise ValueError(f"n_folds must be between 2 and the {len(unique)} distinct words")
    order = np.random.default_rng(seed).permutation(len(unique))
    fold_of = dict(zip(unique[order], np.arange(len(unique)) % n_folds))
    return np.array([fold_of[w] for w in words])


def retrieval_ranks(predicted: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Rank of each row's own target among all rows' targets (0: retrieved first).

    Candidates are scored as the loss scores them, ``<z_i, y_j> / ||y_j||``; the rank is
    the number of other candidates scoring strictly higher.
    """
    scores = training.similarity(torch.as_tensor(predicted), torch.as_tensor(targets)).numpy()
    return (scores > np.diag(scores)[:, None]).sum(axis=1)


def ridge_predictions(
    data: training.Batched,
    targets: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    *,
    alphas: Iterable[float] = ALPHAS,
    n_inner_folds: int = 5,
) -> np.ndarray:
    """Predict with the regression baseline: ridge from each participant's segments.

    Per participant, the same brain segments as the model's (its own contacts,
    z-scored on the training rows) are mapped to the same targets; each target's
    penalty is chosen by an inner cross-validation grouped by word
    (:class:`neurospeech.ridge.InnerCV`).

    Returns
    -------
    predicted : ndarray, shape (len(test), n_features)
    """
    predicted = np.zeros((len(test), targets.shape[1]), np.float32)
    for p in range(len(data.subjects)):
        rows_train, out = train[data.subject[train] == p], data.subject[test] == p
        if not out.any():
            continue
        rows = np.concatenate([rows_train, test[out]])
        contacts = data.mask[rows[0]]
        x = data.brain[rows][:, :, contacts].reshape(len(rows), -1).astype(float)
        fitted = np.arange(len(rows_train))
        x, _, _ = ridge.standardize(x, fitted)
        y = targets[rows_train].astype(float)
        mean = y.mean(axis=0)
        groups = data.words[rows_train]
        inner = GroupKFold(min(n_inner_folds, len(np.unique(groups))))
        solver = ridge.InnerCV(
            x[fitted], x[len(rows_train) :], inner.split(x[fitted], groups=groups), alphas
        )
        predicted[out] = solver.fit_predict(y - mean)[0] + mean
    return predicted


def cross_validate(
    segments: Sequence[Segments],
    *,
    seeds: Sequence[int] = (0, 1, 2),
    n_folds: int = 5,
    config: ContrastiveTraining | None = None,
    baseline: bool = True,
    device: str | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Train on some words, retrieve the others: every word held out once per seed.

    For each seed the distinct words are dealt into ``n_folds`` folds
    (:func:`word_folds`); for each fold one brain module is trained on every
    participant's other words (:func:`neurospeech.contrastive.train.fit`, seeded by
    seed and fold) and, with ``baseline``, a ridge per participant is fitted on the same
    rows (:func:`ridge_predictions`). Each held-out segment is then ranked among the
    fold's held-out segments of its participant, and among those of all participants.

    Parameters
    ----------
    segments : sequence of Segments
        One per participant.
    seeds : sequence of int
    n_folds : int
    config : neurospeech.config.ContrastiveTraining, optional
        The brain module and its training (default: its defaults).
    baseline : bool
        Also fit the ridge baseline.
    device : str, optional
        Torch device of the brain module.
    progress : bool
        Progress bar over the trainings.

    Returns
    -------
    ranks : DataFrame
        One row per seed, method and held-out segment: ``seed, fold, method,
        participant, word, rank, candidates, rank_pooled, candidates_pooled`` (ranks
        from 0).
    """
    config = config or ContrastiveTraining()
    data = training.batched(segments)
    runs = [(seed, fold) for seed in seeds for fold in range(n_folds)]
    rows = []
    folds = {seed: word_folds(data.words, n_folds, seed) for seed in seeds}
    for seed, fold in tqdm(runs, desc="contrastive trainings", disable=not progress):
        test = np.flatnonzero(folds[seed] == fold)
        train = np.flatnonzero(folds[seed] != fold)
        targets = training.pooled_targets(data.targets, train, config.pool)
        model = training.fit(
            data,
            targets,
            train,
            config,
            seed=int(np.random.SeedSequence([seed, fold]).generate_state(1)[0]),
            device=device,
        )
        predicted = {"contrastive": training.predict(model, data, test, config.pool, device=device)}
        if baseline:
            predicted["ridge"] = ridge_predictions(data, targets, train, test)
        for method, values in predicted.items():
            rows.append(
                _ranks(data, test, values, targets[test]).assign(
                    seed=seed, fold=fold, method=method
                )
            )
    columns = ["seed", "fold", "method", "participant", "word", "rank", "candidates"]
    return pd.concat(rows, ignore_index=True)[columns + ["rank_pooled", "candidates_pooled"]]


def _ranks(data: training.Batched, test: np.ndarray, predicted, targets) -> pd.DataFrame:
    """Ranks of the held-out rows within their participant and pooled."""
    within = np.zeros(len(test), int)
    candidates = np.zeros(len(test), int)
    subject = data.subject[test]
    for p in np.unique(subject):
        own = subject == p
        within[own] = retrieval_ranks(predicted[own], targets[own])
        candidates[own] = own.sum()
    return pd.DataFrame(
        {
            "participant": [f"sub-{data.subjects[p]}" for p in subject],
            "word": data.words[test],
            "rank": within,
            "candidates": candidates,
            "rank_pooled": retrieval_ranks(predicted, targets),
            "candidates_pooled": len(test),
        }
    )


def _interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean of ``values``, within [0, 1] (NaN with fewer than two)."""
    if len(values) < 2:
        return np.nan, np.nan
    half = scipy_stats.t.ppf((1 + level) / 2, len(values) - 1) * scipy_stats.sem(values)
    return max(0.0, values.mean() - half), min(1.0, values.mean() + half)


def summary(ranks: pd.DataFrame, ks: Iterable[int] = KS) -> pd.DataFrame:
    """Top-k accuracy per participant and pooled, with a 95 % interval over seeds.

    Parameters
    ----------
    ranks : DataFrame
        From :func:`cross_validate`.
    ks : iterable of int

    Returns
    -------
    table : DataFrame
        ``participant`` (``pooled``: ranked among all participants' held-out segments),
        ``method``, ``k``, ``accuracy`` (mean over seeds), ``ci_low``, ``ci_high`` (a
        Student-t interval over the seeds, cut to [0, 1]),
        ``chance`` (``min(k, n) / n`` for ``n`` candidates, averaged), ``seeds``.
    """
    scopes = [(p, ranks[ranks["participant"] == p], "") for p in ranks["participant"].unique()]
    scopes.append(("pooled", ranks, "_pooled"))
    rows = []
    for scope, part, suffix in scopes:
        rank, n = part[f"rank{suffix}"].to_numpy(), part[f"candidates{suffix}"].to_numpy()
        for k in ks:
            hit = pd.Series(rank < k, index=part.index)
            chance = np.mean(np.minimum(k, n) / n)
            for method, group in part.groupby("method", sort=False):
                per_seed = hit[group.index].groupby(group["seed"]).mean().to_numpy()
                low, high = _interval(per_seed)
                rows.append(
                    {
                        "participant": scope,
                        "method": method,
                        "k": k,
                        "accuracy": per_seed.mean(),
                        "ci_low": low,
                        "ci_high": high,
                        "chance": chance,
                        "seeds": len(per_seed),
                    }
                )
    return pd.DataFrame(rows)
