"""Time the paper protocol's fits at one real participant's size against scikit-learn.

The size of participant 01 of the real dataset (100 words, 127 channels) with trial means
taken from a rehearsal-sized simulated recording's scale (channel levels 5-30 uV, a few
uV across words), side by side in one run (issue 24):

- one leave-one-word-out pass of ``ElasticNet(alpha=1.0, l1_ratio=0.5)`` (what each
  shuffle of the audit costs): a loop over scikit-learn's ``ElasticNet`` (the published
  code's estimator, as the reference implementation calls it) against
  :func:`neurospeech.elastic_net.held_out_predictions`, on mean-pooled features of 768
  dims and on the 89 principal components of 102,400 flattened dims fitted on all
  trials (the published XLS-R condition);
- one permutation of the word-level encoding: a loop over scikit-learn's ``RidgeCV``
  per channel and outer fold (inner ``GroupKFold``, the same penalties) against
  :func:`neurospeech.paper_protocol.word_level_encoding`.

The predictions are compared. Each time is the best of ``--repeat`` runs, one thread.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import ElasticNet, Ridge
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut

from neurospeech import elastic_net, paper_protocol

N_WORDS, N_CHANNELS = 100, 127


def make_data(n_features: int, seed: int = 0):
    """Features of unit scale and trial means in microvolts, some channels reading them."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N_WORDS, n_features))
    spread = rng.gamma(2.0, 0.6, N_CHANNELS)  # how much each channel varies across words
    y = rng.uniform(5, 30, N_CHANNELS) + spread * rng.standard_normal((N_WORDS, N_CHANNELS))
    y[:, :10] += x[:, :10] @ rng.standard_normal((10, 10)) * 0.3
    words = np.array([f"w{k:03d}" for k in range(N_WORDS)])
    return x, y, words


def best_of(repeat: int, function, *args):
    """Return the result and the shortest of ``repeat`` wall times of ``function(*args)``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = function(*args)
        times.append(time.perf_counter() - start)
    return result, min(times)


def sklearn_elastic_net(x, y, splits):
    predicted = np.zeros_like(y)
    for train, test in splits:
        model = ElasticNet(alpha=1.0, l1_ratio=0.5).fit(x[train], y[train])
        predicted[test] = model.predict(x[test])
    return predicted


def sklearn_word_level(x, y, words):
    """Held-out predictions of a ridge per channel with its penalty chosen per fold."""
    predicted = np.zeros_like(y)
    for train, test in GroupKFold(10).split(x, groups=words):
        mean_x, std_x = x[train].mean(axis=0), x[train].std(axis=0)
        zx = (x - mean_x) / std_x
        mean_y, std_y = y[train].mean(axis=0), y[train].std(axis=0)
        zy = (y[train] - mean_y) / std_y
        inner = list(GroupKFold(5).split(zx[train], groups=words[train]))
        for channel in range(y.shape[1]):
            scores = []
            for alpha in paper_protocol.WORD_LEVEL_ALPHAS:
                r2 = []
                for fit, held in inner:
                    model = Ridge(alpha=alpha, fit_intercept=False)
                    model.fit(zx[train][fit], zy[fit, channel])
                    r2.append(model.score(zx[train][held], zy[held, channel]))
                scores.append(np.mean(r2))
            alpha = paper_protocol.WORD_LEVEL_ALPHAS[int(np.argmax(scores))]
            model = Ridge(alpha=alpha, fit_intercept=False).fit(zx[train], zy[:, channel])
            predicted[test, channel] = model.predict(zx[test]) * std_y[channel] + mean_y[channel]
    return predicted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for label, n_features, pca in [
        ("mean-pooled, 768 dims", 768, False),
        ("flattened 102,400 dims, PCA 90 % on all trials", 102_400, True),
    ]:
        x, y, words = make_data(n_features)
        if pca:
            x = PCA(0.9, svd_solver="full").fit_transform(x)
        splits = list(LeaveOneGroupOut().split(x, y, words))
        elastic_net.held_out_predictions(x, y, splits[:2])  # compile
        expected, reference = best_of(args.repeat, sklearn_elastic_net, x, y, splits)
        ours, seconds = best_of(args.repeat, elastic_net.held_out_predictions, x, y, splits)
        error = np.abs(ours - expected).max()
        rows.append((f"elastic net, {label} ({x.shape[1]} columns)", reference, seconds, error))
    x, y, words = make_data(768)
    expected, reference = best_of(1, sklearn_word_level, x, y, words)

    def ours_word_level():
        return paper_protocol.word_level_encoding(x, y, words, n_permutations=1).predicted

    ours, seconds = best_of(args.repeat, ours_word_level)
    rows.append(
        ("word-level encoding, 768 dims", reference, seconds, np.abs(ours - expected).max())
    )
    print(
        "| fit (one participant) | scikit-learn (s) | neurospeech (s) | speed-up | max difference |"
    )
    print("|---|---|---|---|---|")
    for label, reference, seconds, error in rows:
        ratio = reference / seconds
        print(f"| {label} | {reference:.2f} | {seconds:.3f} | {ratio:.1f}x | {error:.1e} |")


if __name__ == "__main__":
    main()
