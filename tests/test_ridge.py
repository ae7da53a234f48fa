import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold

from neurospeech import ridge

ALPHAS = np.logspace(-2, 4, 7)


def _centred(n_rows, n_features, n_targets, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_rows, n_features))
    y = x @ rng.standard_normal((n_features, n_targets)) + 3 * rng.standard_normal(
        (n_rows, n_targets)
    )
    return x - x.mean(axis=0), y - y.mean(axis=0)


@pytest.mark.parametrize("shape", [(80, 12), (30, 60)])  # more rows than features, and fewer
def test_predictions_equal_sklearn_ridge_for_every_penalty(shape):
    x, y = _centred(*shape, n_targets=4)
    train, test = np.arange(shape[0] - 10), np.arange(shape[0] - 10, shape[0])
    predicted = ridge.predictions(x[train], y[train], x[test], ALPHAS)
    assert predicted.shape == (len(ALPHAS), 10, 4)
    for a, alpha in enumerate(ALPHAS):
        model = Ridge(alpha=alpha, fit_intercept=False, solver="svd").fit(x[train], y[train])
        np.testing.assert_allclose(predicted[a], model.predict(x[test]), rtol=0, atol=1e-8)


# Gram path (inner test blocks of 37 and 15 rows: more and fewer than the 20 features),
# and SVD path (fewer rows than features)
@pytest.mark.parametrize("n_rows, n_features", [(200, 20), (90, 20), (40, 60)])
def test_inner_cv_picks_the_penalty_a_loop_over_sklearn_picks(n_rows, n_features):
    x, y = _centred(n_rows, n_features, 6, seed=1)
    y[:, :3] = 10 * np.random.default_rng(2).standard_normal((n_rows, 3))  # noise: large alpha
    y -= y.mean(axis=0)
    train, test = np.arange(n_rows - 15), np.arange(n_rows - 15, n_rows)
    splits = list(KFold(5).split(train))
    scores = np.zeros((len(ALPHAS), 6))
    for a, alpha in enumerate(ALPHAS):
        for inner_train, inner_test in splits:
            model = Ridge(alpha=alpha, fit_intercept=False).fit(x[inner_train], y[inner_train])
            scores[a] += r2_score(
                y[inner_test], model.predict(x[inner_test]), multioutput="raw_values"
            )
    expected_alpha = ALPHAS[np.argmax(scores, axis=0)]
    model = ridge.InnerCV(x[train], x[test], splits, ALPHAS)
    np.testing.assert_allclose(model.scores(y[train]), scores / 5, rtol=0, atol=1e-10)
    predicted, alpha = model.fit_predict(y[train])
    np.testing.assert_array_equal(alpha, expected_alpha)
    assert alpha[:3].min() > alpha[3:].max()
    for target in range(6):
        reference = Ridge(alpha=alpha[target], fit_intercept=False).fit(x[train], y[train, target])
        np.testing.assert_allclose(
            predicted[:, target], reference.predict(x[test]), rtol=0, atol=1e-8
        )


@pytest.mark.parametrize("alphas", [[], [1.0, 0.0], [np.nan], [-1.0]])
def test_bad_penalties_are_clear_errors(alphas):
    with pytest.raises(ValueError, match="alphas must"):
        ridge.check_alphas(alphas)


def test_inner_cv_needs_splits():
    x, _ = _centred(10, 3, 1)
    with pytest.raises(ValueError, match="no inner cross-validation splits"):
        ridge.InnerCV(x, x, [], ALPHAS)


def test_inner_cv_picks_the_penalties_himalaya_picks():
    himalaya = pytest.importorskip("himalaya.ridge")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((300, 15))
    y = x @ (rng.standard_normal((15, 8)) * np.logspace(-2, 1, 8)) + rng.standard_normal((300, 8))
    splits = list(KFold(5).split(x))
    model = himalaya.RidgeCV(
        alphas=ALPHAS, cv=splits, fit_intercept=False, solver_params={"local_alpha": True}
    ).fit(x, y)
    ours = ridge.InnerCV(x, x[:5], splits, ALPHAS)
    _, alpha = ours.fit_predict(y)
    np.testing.assert_allclose(alpha, np.asarray(model.best_alphas_), rtol=1e-12)
    assert len(set(alpha)) > 2  # the targets do choose different penalties


def test_torch_computes_the_same_as_numpy():
    torch = pytest.importorskip("torch")
    x, y = _centred(120, 10, 4, seed=5)
    splits = list(KFold(4).split(x[:100]))
    on_numpy = ridge.InnerCV(x[:100], x[100:], splits, ALPHAS)
    on_torch = ridge.InnerCV(x[:100], x[100:], splits, ALPHAS, device="cpu")
    assert isinstance(on_torch.x_train, torch.Tensor)
    np.testing.assert_allclose(on_torch.scores(y[:100]), on_numpy.scores(y[:100]), atol=1e-10)
    for ours, expected in zip(on_torch.fit_predict(y[:100]), on_numpy.fit_predict(y[:100])):
        np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-10)
    xw, yw = _centred(40, 60, 3, seed=6)  # fewer rows than features: the SVD path
    wide = list(KFold(4).split(xw[:30]))
    expected = ridge.InnerCV(xw[:30], xw[30:], wide, ALPHAS).fit_predict(yw[:30])[0]
    ours = ridge.InnerCV(xw[:30], xw[30:], wide, ALPHAS, device="cpu").fit_predict(yw[:30])[0]
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-10)


def test_inner_cv_takes_the_blocks_gram_matrices_it_is_given():
    x, y = _centred(200, 20, 3, seed=7)
    splits = list(KFold(5).split(x))
    grams = [x[test].T @ x[test] for _, test in splits]
    expected = ridge.InnerCV(x, None, splits, ALPHAS).scores(y)
    np.testing.assert_allclose(
        ridge.InnerCV(x, None, splits, ALPHAS, grams=grams).scores(y), expected, atol=1e-12
    )
    doubled = ridge.InnerCV(x, None, splits, ALPHAS, grams=[2 * gram for gram in grams])
    assert not np.allclose(doubled.scores(y), expected)  # the given ones are the ones used


def test_band_weights_cover_the_ratios_with_equal_weights_first():
    weights = ridge.band_weights(3, [0.1, 1.0, 10.0])
    assert weights.shape == (9, 3)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    np.testing.assert_allclose(weights[0], 1 / 3)
    assert len(np.unique(weights.round(12), axis=0)) == 9
    np.testing.assert_array_equal(ridge.band_weights(1, [0.1, 10.0]), [[1.0]])


@pytest.mark.parametrize("n_rows", [300, 30])  # Gram and SVD paths
def test_banded_ridge_equals_himalaya_group_ridge_search(n_rows):
    himalaya = pytest.importorskip("himalaya.ridge")
    from himalaya.scoring import r2_score as himalaya_r2

    rng = np.random.default_rng(5)
    sizes = [5, 8, 4] if n_rows > 30 else [20, 15, 10]
    bands = [rng.standard_normal((n_rows, size)) for size in sizes]
    x = np.hstack(bands)
    # targets 0-1 read the first band, 2-3 the second, 4-5 the third
    scale = np.repeat(np.eye(3), sizes, axis=0).repeat(2, axis=1)
    y = x @ (rng.standard_normal((x.shape[1], 6)) * scale) + rng.standard_normal((n_rows, 6))
    weights = ridge.band_weights(3, [0.1, 1.0, 10.0])
    coefficients, alpha, weight = ridge.banded(
        x, y, sizes, list(KFold(5).split(x)), ALPHAS, weights
    )
    deltas, expected, _ = himalaya.solve_group_ridge_random_search(
        bands,
        y,
        n_iter=weights,
        alphas=ALPHAS,
        cv=KFold(5),
        score_func=himalaya_r2,
        fit_intercept=False,
        return_weights=True,
        progress_bar=False,
        warn=False,
    )
    np.testing.assert_allclose(coefficients, expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.log(weight / alpha), deltas, rtol=1e-12)  # same penalties
    assert len({tuple(w) for w in weight.T}) > 1  # the targets do choose different weights
    with pytest.raises(ValueError, match="do not fit"):
        ridge.banded(x, y, [5, 5], list(KFold(5).split(x)), ALPHAS, weights)


def test_one_band_is_plain_inner_cv():
    x, y = _centred(120, 10, 3)
    splits = list(KFold(5).split(x))
    coefficients, alpha, weight = ridge.banded(x, y, [10], splits, ALPHAS, np.ones((1, 1)))
    predicted, expected_alpha = ridge.InnerCV(x, x, splits, ALPHAS).fit_predict(y)
    np.testing.assert_allclose(x @ coefficients, predicted, atol=1e-10)
    np.testing.assert_array_equal(alpha, expected_alpha)
    np.testing.assert_array_equal(weight, 1.0)
