"""Retrieval accuracies with their nulls: permutation p-values and bootstrap intervals.

Per participant, the null relabels which candidate is each prediction's own target (a
permutation of the participant's words, the same for every seed): a predictor without
information on the word scores like any relabelling. The group statistic is the mean of
the participants' accuracies, tested two ways: by the same relabelling within every
participant at once (fixed effects: these participants' words carry information), and
by a one-sided Wilcoxon signed-rank test of accuracy minus chance across participants
(random effects: new participants would; with ``n`` participants its p-value is at
least ``2 ** -n``). Intervals are percentile bootstraps over words, and for the group
over participants and then words within each.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from neurospeech.contrastive.evaluate import KS, Retrieval
from neurospeech.stats import permutation_p

#: The metric of the top-k rows, and the normalised rank accuracy (1 - rank / (n - 1)).
TOP_K, RANK = "top-k", "rank accuracy"


def _metrics(ranks: np.ndarray, n: int, ks: Iterable[int]) -> dict[tuple[str, float], np.ndarray]:
    """Per-word scores averaged over seeds: ``ranks`` (n_seeds, ..., n_words) -> (..., n_words)."""
    found = {(TOP_K, float(k)): (ranks < k).mean(axis=0) for k in ks}
    found[(RANK, np.nan)] = (1 - ranks / max(n - 1, 1)).mean(axis=0)
    return found


def _chance(metric: str, k: float, n: int) -> float:
    return min(k, n) / n if metric == TOP_K else 0.5


def participant_statistics(
    matrix: np.ndarray,
    ks: Iterable[int] = KS,
    *,
    own: np.ndarray | None = None,
    n_permutations: int = 10000,
    n_bootstrap: int = 2000,
    seed: int = 0,
) -> dict[tuple[str, float], dict]:
    """Accuracy, chance, permutation null and bootstrap of one participant and method.

    Parameters
    ----------
    matrix : ndarray, shape (n_seeds, n_predictions, n_words)
        Ranks of every candidate for every prediction (:class:`Retrieval`).
    own : ndarray of int, shape (n_predictions,), optional
        The column of each prediction's own target (default: the diagonal).

    Returns
    -------
    statistics : dict
        ``(metric, k)`` to ``accuracy, chance, null`` (n_permutations,), ``boot``
        (n_bootstrap,), ``p_value``.
    """
    n_rows, n = matrix.shape[1:]
    own = np.arange(n_rows) if own is None else np.asarray(own)
    rng = np.random.default_rng(seed)
    rows = np.arange(n_rows)
    observed = _metrics(matrix[:, rows, own], n, ks)
    relabelled = np.argsort(rng.random((n_permutations, n)), axis=1)[:, own]
    null = _metrics(matrix[:, rows, relabelled], n, ks)  # (seeds, draws, predictions)
    resampled = rng.integers(0, n_rows, (n_bootstrap, n_rows))
    found = {}
    for key, per_word in observed.items():
        accuracy = float(per_word.mean())
        draws = null[key].mean(axis=1)
        found[key] = {
            "accuracy": accuracy,
            "chance": _chance(*key, n),
            "null": draws,
            "boot": per_word[resampled].mean(axis=1),
            "p_value": permutation_p(accuracy - 1e-12, draws),
        }
    return found


def retrieval_table(
    retrieval: Retrieval,
    ks: Iterable[int] = KS,
    *,
    n_permutations: int = 10000,
    n_bootstrap: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """Tabulate retrieval within participants, per participant and for the group, with nulls.

    Parameters
    ----------
    retrieval : Retrieval
        From :func:`neurospeech.contrastive.cross_validate`.
    ks : iterable of int
    n_permutations, n_bootstrap : int
    seed : int
        Seeds the permutations and the bootstrap (the same draws for every method).
    level : float
        Of the bootstrap intervals.

    Returns
    -------
    table : DataFrame
        One row per participant (and ``group``) x method x metric (``top-k`` with its
        ``k``; ``rank accuracy``: 1 - rank / (n - 1), chance 0.5, ``k`` empty):
        ``participant, method, metric, k, accuracy, chance, p_value, ci_low, ci_high,
        p_participants`` (group rows: the Wilcoxon test across participants),
        ``candidates`` (words ranked against; group: the mean), ``seeds``.
    """
    ks = tuple(ks)
    tails = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    rows = []
    methods = dict.fromkeys(method for method, _ in retrieval.matrices)
    for method in methods:
        people = {
            person: matrix
            for (name, person), matrix in retrieval.matrices.items()
            if name == method
        }
        found = {
            person: participant_statistics(
                matrix,
                ks,
                own=retrieval.own.get((method, person)),
                n_permutations=n_permutations,
                n_bootstrap=n_bootstrap,
                seed=seed,
            )
            for person, matrix in people.items()
        }
        n_seeds = next(iter(people.values())).shape[0]
        for person, stats in found.items():
            for (metric, k), s in stats.items():
                low, high = np.percentile(s["boot"], tails)
                rows.append(
                    {
                        "participant": person,
                        "method": method,
                        "metric": metric,
                        "k": k,
                        "accuracy": s["accuracy"],
                        "chance": s["chance"],
                        "p_value": s["p_value"],
                        "ci_low": low,
                        "ci_high": high,
                        "p_participants": np.nan,
                        "candidates": people[person].shape[2],
                        "seeds": n_seeds,
                    }
                )
        rows.extend(_group_rows(method, found, people, n_seeds, tails, seed))
    return pd.DataFrame(rows)


def _group_rows(method, found, people, n_seeds, tails, seed) -> list[dict]:
    """Return the group rows: the participants' mean, its two tests and its interval."""
    rng = np.random.default_rng([seed, 1])
    rows = []
    for key in next(iter(found.values())):
        parts = [stats[key] for stats in found.values()]
        accuracy = np.array([s["accuracy"] for s in parts])
        chance = np.array([s["chance"] for s in parts])
        null = np.mean([s["null"] for s in parts], axis=0)
        boots = np.array([s["boot"] for s in parts])  # participants x draws
        chosen = rng.integers(0, len(parts), (boots.shape[1], len(parts)))
        group_boot = boots[chosen, np.arange(boots.shape[1])[:, None]].mean(axis=1)
        low, high = np.percentile(group_boot, tails)
        rows.append(
            {
                "participant": "group",
                "method": method,
                "metric": key[0],
                "k": key[1],
                "accuracy": accuracy.mean(),
                "chance": chance.mean(),
                "p_value": permutation_p(accuracy.mean() - 1e-12, null),
                "ci_low": low,
                "ci_high": high,
                "p_participants": wilcoxon_above_chance(accuracy - chance),
                "candidates": np.mean([m.shape[2] for m in people.values()]),
                "seeds": n_seeds,
            }
        )
    return rows


def wilcoxon_above_chance(differences: np.ndarray) -> float:
    """One-sided Wilcoxon signed-rank p of ``differences > 0`` (NaN if all are zero)."""
    differences = np.asarray(differences, dtype=float)
    if len(differences) < 2 or not np.any(differences):
        return np.nan
    return float(scipy_stats.wilcoxon(differences, alternative="greater").pvalue)


def pooled_summary(ranks: pd.DataFrame, ks: Iterable[int] = KS) -> pd.DataFrame:
    """Top-k accuracy when ranking among the fold's held-out segments of every participant.

    A secondary number: the participant-identity baseline
    (:data:`~neurospeech.contrastive.evaluate.IDENTITY`) shows how much of it knowing
    who speaks explains.

    Returns
    -------
    table : DataFrame
        ``method, k, accuracy`` (mean over seeds and segments), ``chance``.
    """
    rows = []
    for method, part in ranks.groupby("method", sort=False):
        n = part["candidates_pooled"].to_numpy()
        for k in ks:
            rows.append(
                {
                    "participant": "pooled",
                    "method": method,
                    "k": k,
                    "accuracy": float((part["rank_pooled"] < k).mean()),
                    "chance": float(np.mean(np.minimum(k, n) / n)),
                }
            )
    return pd.DataFrame(rows)
