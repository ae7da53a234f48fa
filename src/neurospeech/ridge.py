"""Ridge regression for many penalties and many targets from one factorization.

One thin SVD of the training features serves every penalty and every target: with
``X = U diag(s) V^T``, the ridge coefficients for penalty ``alpha`` are
``V diag(s / (s^2 + alpha)) U^T Y``. A :class:`Factorization` keeps that SVD, so new
targets (another channel set, a permutation of the trials) cost two small products.
Nothing here fits an intercept: centre (or z-score) features and targets with training
statistics first, as the analyses do.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np


def check_alphas(alphas: Iterable[float]) -> np.ndarray:
    """Return ``alphas`` as a 1-D float array, or raise if one is not positive and finite."""
    alphas = np.atleast_1d(np.asarray(list(alphas), dtype=float))
    if alphas.ndim != 1 or alphas.size == 0 or not np.all(np.isfinite(alphas)):
        raise ValueError(f"alphas must be a non-empty sequence of finite numbers, got {alphas}")
    if np.any(alphas <= 0):
        raise ValueError(f"alphas must be positive, got {alphas}")
    return alphas


class Factorization:
    """The SVD of training features, with the test features projected on it.

    Parameters
    ----------
    x_train : ndarray, shape (n_train, n_features)
    x_test : ndarray, shape (n_test, n_features)
    """

    def __init__(self, x_train: np.ndarray, x_test: np.ndarray) -> None:
        u, self.s, vt = np.linalg.svd(x_train, full_matrices=False)
        self.ut = u.T
        self.projected_test = x_test @ vt.T

    def predict(self, y_train: np.ndarray, alphas: np.ndarray) -> np.ndarray:
        """Ridge predictions of the test rows for every penalty.

        Parameters
        ----------
        y_train : ndarray, shape (n_train, n_targets)
        alphas : ndarray, shape (n_alphas,)
            Positive penalties (see :func:`check_alphas`).

        Returns
        -------
        predicted : ndarray, shape (n_alphas, n_test, n_targets)
        """
        shrink = self.s / (self.s**2 + alphas[:, None])  # alphas x components
        return (self.projected_test[None] * shrink[:, None, :]) @ (self.ut @ y_train)


def predictions(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, alphas: Iterable[float]
) -> np.ndarray:
    """Ridge predictions of the test rows for every penalty at once.

    Parameters
    ----------
    x_train : ndarray, shape (n_train, n_features)
    y_train : ndarray, shape (n_train, n_targets)
    x_test : ndarray, shape (n_test, n_features)
    alphas : sequence of float
        Positive penalties.

    Returns
    -------
    predicted : ndarray, shape (n_alphas, n_test, n_targets)
        ``x_test @ argmin_w ||y_train - x_train w||^2 + alpha ||w||^2`` for each alpha.
    """
    return Factorization(x_train, x_test).predict(y_train, check_alphas(alphas))


def r2_scores(y_true: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """R2 of every target (last axis), for predictions stacked on leading axes.

    NaN for a target that is constant in ``y_true``.
    """
    residual = ((y_true - predicted) ** 2).sum(axis=-2)
    total = ((y_true - y_true.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1 - residual / total


class InnerCV:
    """Ridge whose penalty each target chooses by an inner cross-validation.

    The SVDs of the training set and of every inner training split are computed once;
    :meth:`fit_predict` then handles any targets for the same rows cheaply.

    Parameters
    ----------
    x_train : ndarray, shape (n_train, n_features)
    x_test : ndarray, shape (n_test, n_features)
    splits : iterable of (train, test) index arrays into the rows of ``x_train``
    alphas : sequence of float
        Positive penalties.
    """

    def __init__(
        self,
        x_train: np.ndarray,
        x_test: np.ndarray,
        splits: Iterable[tuple[np.ndarray, np.ndarray]],
        alphas: Iterable[float],
    ) -> None:
        self.alphas = check_alphas(alphas)
        self.splits = [(np.asarray(train), np.asarray(test)) for train, test in splits]
        if not self.splits:
            raise ValueError("no inner cross-validation splits were given")
        self.inner = [Factorization(x_train[train], x_train[test]) for train, test in self.splits]
        self.outer = Factorization(x_train, x_test)

    def scores(self, y_train: np.ndarray) -> np.ndarray:
        """Mean R2 over the inner splits, shape (n_alphas, n_targets).

        A split where a target is constant does not count for that target.
        """
        per_split = [
            r2_scores(y_train[test], factors.predict(y_train[train], self.alphas))
            for (train, test), factors in zip(self.splits, self.inner)
        ]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
            return np.nanmean(per_split, axis=0)

    def fit_predict(self, y_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predict the test rows, each target with its best penalty.

        Parameters
        ----------
        y_train : ndarray, shape (n_train, n_targets)

        Returns
        -------
        predicted : ndarray, shape (n_test, n_targets)
        alpha : ndarray, shape (n_targets,)
            The penalty of each target: the first with the best mean inner R2.
        """
        scores = np.nan_to_num(self.scores(y_train), nan=-np.inf)
        best = np.argmax(scores, axis=0)
        every = self.outer.predict(y_train, self.alphas)
        predicted = np.take_along_axis(every, best[None, None, :], axis=0)[0]
        return predicted, self.alphas[best]
