"""Compare the encoding solver and the circular-shift null with their peers.

The issue's size, side by side in one run: 30,000 frames x 768 features x 110 electrodes,
5 contiguous outer folds, each with 5 contiguous inner folds and 20 penalties chosen per
electrode:

- ``neurospeech``: :class:`neurospeech.ridge.InnerCV` (one eigendecomposition per split);
- ``himalaya``: ``himalaya.ridge.RidgeCV`` (numpy backend, ``local_alpha=True``), the same
  outer and inner folds and the same grid; the penalties chosen are compared;
- ``scikit-learn``: ``RidgeCV(alpha_per_target=True)`` (efficient leave-one-out, not the
  same folds: a speed reference only).

Then 10,000 circular shifts of 110 electrodes' high-gamma against their predictions:
:func:`neurospeech.stats.circular_shift_null` against a loop of ``np.roll``.
Every method gets the same z-scored design per fold; only the fitting is timed.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
from sklearn.linear_model import RidgeCV as SklearnRidgeCV
from sklearn.model_selection import KFold

from neurospeech import ridge, stats

N_FRAMES, N_FEATURES, N_ELECTRODES, N_SHIFTS = 30_000, 768, 110, 10_000
ALPHAS = np.logspace(-2, 8, 20)


def make_data():
    rng = np.random.default_rng(0)
    latent = rng.standard_normal((N_FRAMES, 40))
    x = latent @ rng.standard_normal((40, N_FEATURES)) + rng.standard_normal((N_FRAMES, N_FEATURES))
    weights = rng.standard_normal((40, N_ELECTRODES)) * rng.uniform(0, 1, N_ELECTRODES)
    y = latent @ weights + 3 * rng.standard_normal((N_FRAMES, N_ELECTRODES))
    return x, y


def folds(x, y):
    """Yield z-scored (train x, train y, test x, inner splits) per outer fold."""
    for train, test in KFold(5).split(x):
        mean, std = x[train].mean(axis=0), x[train].std(axis=0)
        y_mean, y_std = y[train].mean(axis=0), y[train].std(axis=0)
        yield (
            (x[train] - mean) / std,
            (y[train] - y_mean) / y_std,
            (x[test] - mean) / std,
            list(KFold(5).split(train)),
        )


def ours(prepared):
    return [ridge.InnerCV(xt, xs, inner, ALPHAS).fit_predict(yt) for xt, yt, xs, inner in prepared]


def himalaya(prepared):
    from himalaya.ridge import RidgeCV

    out = []
    for xt, yt, xs, inner in prepared:
        model = RidgeCV(
            alphas=ALPHAS, cv=inner, fit_intercept=False, solver_params={"local_alpha": True}
        ).fit(xt, yt)
        out.append((model.predict(xs), np.asarray(model.best_alphas_)))
    return out


def scikit_learn(prepared):
    out = []
    for xt, yt, xs, _ in prepared:
        model = SklearnRidgeCV(alphas=ALPHAS, alpha_per_target=True, fit_intercept=False)
        out.append((model.fit(xt, yt).predict(xs), model.alpha_))
    return out


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def solvers(x, y) -> None:
    prepared = list(folds(x, y))
    t_ours, fitted = timed(ours, prepared)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    t_sklearn, _ = timed(scikit_learn, prepared)
    t_himalaya, reference = timed(himalaya, prepared)
    same = np.mean(
        [np.isclose(a, b, rtol=1e-9).mean() for (_, a), (_, b) in zip(fitted, reference)]
    )
    print(f"{N_FRAMES} frames x {N_FEATURES} features x {N_ELECTRODES} electrodes, 5 x 5 folds")
    print("\n| solver | time (s) | neurospeech is |\n|---|---|---|")
    print(f"| neurospeech InnerCV | {t_ours:.1f} | 1x |")
    print(f"| himalaya RidgeCV (numpy) | {t_himalaya:.1f} | {t_himalaya / t_ours:.0f}x faster |")
    print(f"| scikit-learn RidgeCV (LOO) | {t_sklearn:.1f} | {t_sklearn / t_ours:.1f}x faster |")
    print(f"\npenalties equal to himalaya's: {same:.1%} of electrode x fold")
    print(f"peak resident memory after the neurospeech fits: {peak:.2f} GiB")


def shifts(y) -> None:
    rng = np.random.default_rng(1)
    truth = y
    prediction = y + 5 * rng.standard_normal(y.shape)
    t_fft, null = timed(stats.circular_shift_null, truth, prediction, n_shifts=N_SHIFTS, seed=0)
    drawn = np.random.default_rng(0).integers(int(0.1 * N_FRAMES), int(0.9 * N_FRAMES), N_SHIFTS)

    def loop():
        return np.array([stats.pearson_r(np.roll(truth, -k, axis=0), prediction) for k in drawn])

    t_loop, looped = timed(loop)
    print(f"\n| {N_SHIFTS} circular shifts x {N_ELECTRODES} electrodes | time (s) |\n|---|---|")
    print(f"| neurospeech (FFT cross-correlation) | {t_fft:.2f} |")
    print(f"| loop of np.roll + Pearson r | {t_loop:.1f} ({t_loop / t_fft:.0f}x slower) |")
    print(f"max difference: {np.abs(null - looped).max():.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=("solvers", "shifts"), help="run one comparison")
    args = parser.parse_args()
    x, y = make_data()
    if args.only != "shifts":
        solvers(x, y)
    if args.only != "solvers":
        shifts(y)


if __name__ == "__main__":
    main()
