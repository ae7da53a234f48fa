"""Ridge regression for many penalties and many targets from one factorization per fold.

With the training features' Gram matrix ``X'X = V diag(lam) V'`` (or, with fewer rows than
features, the right singular vectors of ``X``), the ridge coefficients for penalty
``alpha`` are ``V diag(1 / (lam + alpha)) V' X'Y``: one eigendecomposition serves every
penalty and every target. Cross-validation over blocks needs no pass over the data per
split either: a split's training Gram matrix is the total minus its test block's, and the
block's squared error is a quadratic form in the block's own Gram matrix. :class:`InnerCV`
keeps those factorizations, so new targets (another channel set, a permutation of the
trials) cost a few small products; with ``device=`` it computes with torch (e.g. on a
GPU). :func:`banded` gives each band of features its own penalty by running one
:class:`InnerCV` per candidate of band weights. Nothing here fits an intercept: centre
(or z-score) features and targets with training statistics first, as the analyses do.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as array_device


def check_alphas(alphas: Iterable[float]) -> np.ndarray:
    """Return ``alphas`` as a 1-D float array, or raise if one is not positive and finite."""
    alphas = np.atleast_1d(np.asarray(list(alphas), dtype=float))
    if alphas.ndim != 1 or alphas.size == 0 or not np.all(np.isfinite(alphas)):
        raise ValueError(f"alphas must be a non-empty sequence of finite numbers, got {alphas}")
    if np.any(alphas <= 0):
        raise ValueError(f"alphas must be positive, got {alphas}")
    return alphas


def standardize(values: np.ndarray, train: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Z-score ``values`` with the mean and standard deviation of the ``train`` rows.

    A column constant over the training rows is only centred (its deviation divides by 1).

    Returns
    -------
    z, mean, std : ndarray
    """
    mean = values[train].mean(axis=0)
    std = values[train].std(axis=0)
    return (values - mean) / np.where(std > 0, std, 1.0), mean, std


def _eigen(x, gram=None):
    """Eigenvalues and eigenvectors of ``x'x`` restricted to the row space of ``x``.

    From the thin SVD of ``x`` when it has fewer rows than columns, else from ``gram``
    (``x'x``, computed if not given). NumPy arrays or torch tensors.
    """
    if x.shape[0] < x.shape[1]:
        _, s, vt = array_namespace(x).linalg.svd(x, full_matrices=False)
        return s**2, vt.T
    return _gram_eigen(x.T @ x if gram is None else gram)


def _gram_eigen(gram):
    """Eigenvalues (negative rounding errors set to zero) and eigenvectors of a Gram matrix."""
    xp = array_namespace(gram)
    values, vectors = xp.linalg.eigh(gram)
    return xp.clip(values, min=0.0), vectors


def _block_grams(x, splits):
    """Return each split's test block's Gram matrix ``x[test]' x[test]``.

    None with fewer rows than columns: :class:`InnerCV` then works from the rows.
    """
    if x.shape[0] < x.shape[1]:
        return None
    return [x[test].T @ x[test] for _, test in splits]


def _coefficients(values, vectors, cross, alpha):
    """``V diag(1 / (lam + alpha)) V' X'Y``; ``alpha`` of shape (1,) or (1, n_targets)."""
    return vectors @ ((vectors.T @ cross) / (values[:, None] + alpha))


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
    values, vectors = _eigen(x_train)
    cross = x_train.T @ y_train
    return np.stack(
        [x_test @ _coefficients(values, vectors, cross, a[None]) for a in check_alphas(alphas)]
    )


class InnerCV:
    """Ridge whose penalty each target chooses by an inner cross-validation.

    The inner splits must partition the training rows (each row in exactly one test
    split, as ``KFold`` gives). Each split's training Gram matrix is the total minus the
    split's own block; its eigendecomposition and the block's projection are computed
    once, so :meth:`fit_predict` handles any targets for the same rows with small
    products only. Scores are R2 per target (``1 - SSE / SS`` about the split's test
    mean) averaged over splits, as ``himalaya.ridge.RidgeCV`` scores them.

    Parameters
    ----------
    x_train : ndarray, shape (n_train, n_features)
    x_test : ndarray, shape (n_test, n_features), or None
        The rows :meth:`predict` predicts (None: none; :meth:`coefficients` serves any).
    splits : iterable of (train, test) index arrays into the rows of ``x_train``
    alphas : sequence of float
        Positive penalties.
    device : str, optional
        Compute with torch on this device (``"cuda"``, ``"cpu"``) instead of NumPy, in
        float64; results come back as NumPy arrays either way.
    grams : list of ndarray, optional
        Each split's test block's Gram matrix ``x_train[test].T @ x_train[test]``, in the
        order of ``splits``, when the caller has them (:func:`banded` shares them between
        its candidates); used with at least as many training rows as features.
    """

    def __init__(
        self,
        x_train: np.ndarray,
        x_test: np.ndarray | None,
        splits: Iterable[tuple[np.ndarray, np.ndarray]],
        alphas: Iterable[float],
        *,
        device: str | None = None,
        grams: list[np.ndarray] | None = None,
    ) -> None:
        self.device = device
        self.alphas = self._array(check_alphas(alphas))
        self.x_train = self._array(x_train)
        self.x_test = self._array(x_train[:0] if x_test is None else x_test)
        splits = [(np.asarray(train), np.asarray(test)) for train, test in splits]
        if not splits:
            raise ValueError("no inner cross-validation splits were given")
        tested = np.sort(np.concatenate([test for _, test in splits]))
        if not np.array_equal(tested, np.arange(len(x_train))):
            raise ValueError("the inner splits must test every training row exactly once")
        self.splits = [(self._index(train), self._index(test)) for train, test in splits]
        many_rows = self.x_train.shape[0] >= self.x_train.shape[1]
        if grams is None:
            grams = _block_grams(self.x_train, self.splits)
        elif many_rows:
            grams = [self._array(gram) for gram in grams]
        total = sum(grams) if many_rows else None
        self.factors = []
        for k, (train, test) in enumerate(self.splits):
            if many_rows and len(train) >= self.x_train.shape[1]:  # no need for the rows
                values, vectors = _gram_eigen(total - grams[k])
            else:
                values, vectors = _eigen(self.x_train[train])
            # the test error is a quadratic form in the block's Gram matrix; when the
            # block has fewer rows than the rank, its predictions for every penalty come
            # from one product with the block's rows, scaled per penalty once here
            if len(test) < vectors.shape[1]:
                quadratic = None
                projected = self.x_train[test] @ vectors
                scaled = projected[None] / (values[None, None, :] + self.alphas[:, None, None])
                predictor = scaled.reshape(-1, projected.shape[1])  # (alphas x tested) x rank
            elif many_rows:  # as many test rows as features: fewer products from the Gram
                quadratic, predictor = vectors.T @ (grams[k] @ vectors), None
            else:
                projected = self.x_train[test] @ vectors
                quadratic, predictor = projected.T @ projected, None
            # with fewer rows than columns, projecting the rows once is cheaper than
            # projecting the columns' cross-products for every new target set
            rows = None if many_rows else self.x_train @ vectors
            self.factors.append((values, vectors, quadratic, predictor, rows))
        self.outer = _eigen(self.x_train, total)
        # with fewer rows than columns, predict in the row space: the products of every
        # new target set are then rows x rank instead of rows x columns
        self.outer_rows = (
            None if many_rows else (self.x_train @ self.outer[1], self.x_test @ self.outer[1])
        )

    def _array(self, values):
        """float64 values as a NumPy array, or a torch tensor on ``self.device``."""
        if self.device is None:
            return np.asarray(values, dtype=float)
        import torch

        return torch.as_tensor(np.asarray(values, dtype=float), device=self.device)

    def _index(self, rows):
        if self.device is None:
            return rows
        import torch

        return torch.as_tensor(rows, device=self.device)

    @staticmethod
    def _numpy(values) -> np.ndarray:
        return values if isinstance(values, np.ndarray) else values.cpu().numpy()

    def scores(self, y_train: np.ndarray) -> np.ndarray:
        """Mean R2 over the inner splits, shape (n_alphas, n_targets).

        A split where a target is constant does not count for that target.
        """
        return self._numpy(self._scores(self._array(y_train)))

    def _scores(self, y, crosses=None):
        xp = array_namespace(y)
        many_rows = self.factors[0][4] is None
        if not many_rows:
            crosses = []
        elif crosses is None:
            crosses = [self.x_train[test].T @ y[test] for _, test in self.splits]
        else:
            crosses = [self._array(cross) for cross in crosses]
        total = sum(crosses)
        summed = xp.zeros((self.alphas.shape[0], y.shape[1]), dtype=y.dtype, device=array_device(y))
        counted = xp.zeros(y.shape[1], dtype=y.dtype, device=array_device(y))
        for k, ((train, test), (values, vectors, quadratic, predictor, rows)) in enumerate(
            zip(self.splits, self.factors)
        ):
            # training and test cross-products, projected on the split's eigenvectors
            if many_rows:
                z = vectors.T @ (total - crosses[k])
            else:
                z = rows[train].T @ y[train]
            squares = (y[test] ** 2).sum(axis=0)
            spread = squares - y[test].sum(axis=0) ** 2 / len(test)
            valid = spread > 0
            if predictor is not None:
                predicted = (predictor @ z).reshape(self.alphas.shape[0], len(test), -1)
                sse = ((y[test][None] - predicted) ** 2).sum(axis=1)
            else:
                b = vectors.T @ crosses[k] if many_rows else rows[test].T @ y[test]
                # the split's coefficients for every penalty: alphas x rank x targets
                dz = z[None] / (values[None, :, None] + self.alphas[:, None, None])
                sse = squares - 2 * (b * dz).sum(axis=1) + (dz * (quadratic @ dz)).sum(axis=1)
            summed += xp.where(valid, 1 - sse / xp.where(valid, spread, 1.0), 0.0)
            counted += xp.astype(valid, y.dtype)
        return summed / counted

    def best(
        self, y_train: np.ndarray, crosses: list[np.ndarray] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return the penalty of each target with the best mean inner R2 (the first if tied).

        Parameters
        ----------
        y_train : ndarray, shape (n_train, n_targets)
        crosses : list of ndarray, optional
            Each split's ``x_train[test].T @ y_train[test]``, in the order of the splits,
            when the caller has them (:func:`banded` shares them between its candidates);
            used with at least as many training rows as features, as ``grams``.

        Returns
        -------
        alpha, score : ndarray, shape (n_targets,)
        """
        y = self._array(y_train)
        xp = array_namespace(y)
        scores = self._scores(y, crosses)
        scores = xp.where(xp.isnan(scores), -xp.inf, scores)
        best = xp.argmax(scores, axis=0)
        return self._numpy(self.alphas[best]), self._numpy(xp.max(scores, axis=0))

    def _fitted(self, y_train: np.ndarray, alpha: np.ndarray):
        """Fit on all training rows: coefficients, or row-space weights.

        With fewer rows than columns, the weights are on the eigenvectors of ``self.outer``.
        """
        y, alpha = self._array(y_train), self._array(alpha)
        if self.outer_rows is None:
            return _coefficients(*self.outer, self.x_train.T @ y, alpha[None, :])
        return (self.outer_rows[0].T @ y) / (self.outer[0][:, None] + alpha[None, :])

    def coefficients(self, y_train: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        """Fit on all training rows with each target's ``alpha``.

        Returns
        -------
        coefficients : ndarray, shape (n_features, n_targets)
        """
        fitted = self._fitted(y_train, alpha)
        return self._numpy(fitted if self.outer_rows is None else self.outer[1] @ fitted)

    def predict(self, y_train: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        """Predict the test rows, fitted on all training rows with each target's ``alpha``.

        Returns
        -------
        predicted : ndarray, shape (n_test, n_targets)
        """
        fitted = self._fitted(y_train, alpha)
        rows = self.x_test if self.outer_rows is None else self.outer_rows[1]
        return self._numpy(rows @ fitted)

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
        alpha, _ = self.best(y_train)
        return self.predict(y_train, alpha), alpha


def band_weights(n_bands: int, ratios: Iterable[float]) -> np.ndarray:
    """Candidate weights of the feature bands of a banded ridge.

    Every band but the first takes each of ``ratios`` relative to the first band's
    weight; each candidate is normalised to sum to 1 (the overall scale is the penalty's).
    The equal weights come first, so that ties keep them.

    Returns
    -------
    weights : ndarray, shape (n_candidates, n_bands)
        ``len(ratios) ** (n_bands - 1)`` distinct candidates (one for a single band).
    """
    ratios = check_alphas(ratios)
    grids = np.meshgrid(*[ratios] * (n_bands - 1), indexing="ij")
    rest = np.stack([g.ravel() for g in grids], axis=1) if n_bands > 1 else np.empty((1, 0))
    weights = np.hstack([np.ones((len(rest), 1)), rest])
    weights = np.unique(weights / weights.sum(axis=1, keepdims=True), axis=0)
    equal = np.all(np.isclose(weights, 1 / n_bands), axis=1)
    return np.vstack([weights[equal], weights[~equal]])


def banded(
    x_train: np.ndarray,
    y_train: np.ndarray,
    bands: Iterable[int],
    splits: Iterable[tuple[np.ndarray, np.ndarray]],
    alphas: Iterable[float],
    weights: np.ndarray,
    *,
    device: str | None = None,
    grams: list[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Banded ridge: a penalty per feature band, chosen per target by inner cross-validation.

    Scaling band ``b`` by ``sqrt(w_b)`` turns ridge with penalty ``alpha`` into a penalty
    ``alpha / w_b`` on that band's coefficients (the search of
    ``himalaya.ridge.solve_group_ridge_random_search`` with given candidate weights).
    Each candidate of ``weights`` is one :class:`InnerCV`; a target keeps the first
    candidate and penalty with the best mean inner R2 (a later candidate must beat it by
    more than the float64 epsilon, as himalaya's search).

    Parameters
    ----------
    x_train : ndarray, shape (n_train, n_features)
    y_train : ndarray, shape (n_train, n_targets)
    bands : iterable of int
        The number of columns of each band, in column order (summing to ``n_features``).
    splits : iterable of (train, test)
        Inner splits of the training rows (as :class:`InnerCV`).
    alphas : iterable of float
    weights : ndarray, shape (n_candidates, n_bands)
        Candidate band weights (:func:`band_weights`).
    device : str, optional
    grams : list of ndarray, optional
        Each split's test block's Gram matrix of the unscaled ``x_train``, when the caller
        has them (as :class:`InnerCV`; e.g. :func:`neurospeech.encoding.lagged_grams`).

    Returns
    -------
    coefficients : ndarray, shape (n_features, n_targets)
        Fitted on all training rows with each target's penalties, for the unscaled
        features: predict new rows ``x`` by ``x @ coefficients``.
    alpha : ndarray, shape (n_targets,)
    weight : ndarray, shape (n_bands, n_targets)
        Each target's band weights: band ``b``'s penalty is ``alpha / weight[b]``.
    """
    bands = [int(n) for n in bands]
    if sum(bands) != x_train.shape[1] or weights.shape[1] != len(bands):
        raise ValueError(
            f"bands of {bands} columns and weights of {weights.shape[1]} bands do not fit "
            f"{x_train.shape[1]} feature columns"
        )
    splits = list(splits)
    n_targets = y_train.shape[1]
    coefficients = np.zeros((x_train.shape[1], n_targets))
    alpha, weight = np.ones(n_targets), np.ones((len(bands), n_targets)) / len(bands)
    score = np.full(n_targets, -np.inf)
    # the scaled blocks' Gram matrices are the unscaled ones scaled on both sides
    if grams is None:
        grams = _block_grams(x_train, splits)
    elif x_train.shape[0] < x_train.shape[1]:
        grams = None  # InnerCV works from the rows
    # and their cross-products with the targets are the unscaled ones scaled on the left
    crosses = None if grams is None else [x_train[test].T @ y_train[test] for _, test in splits]
    for candidate in weights:
        scale = np.repeat(np.sqrt(candidate), bands)
        scaled = None if grams is None else [gram * np.outer(scale, scale) for gram in grams]
        model = InnerCV(x_train * scale, None, splits, alphas, device=device, grams=scaled)
        best, best_score = model.best(
            y_train, None if crosses is None else [cross * scale[:, None] for cross in crosses]
        )
        better = best_score > score + np.finfo(float).eps
        if better.any():
            fitted = model.coefficients(y_train[:, better], best[better])
            coefficients[:, better] = fitted * scale[:, None]
            score[better], alpha[better] = best_score[better], best[better]
            weight[:, better] = candidate[:, None]
    return coefficients, alpha, weight
