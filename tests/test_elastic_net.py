import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ElasticNet
from sklearn.model_selection import LeaveOneGroupOut

from neurospeech import elastic_net


def _problem(n_rows, n_features, scale, seed):
    """Targets in microvolts (distinct channel levels), some following the features."""
    rng = np.random.default_rng(seed)
    words = np.array([f"w{k:03d}" for k in range(n_rows)])
    words[7] = words[2]  # a word said twice: a split of two held-out rows
    x = scale * rng.standard_normal((n_rows, n_features))
    y = rng.uniform(5, 30, 12) + rng.standard_normal((n_rows, 12))
    y[:, :5] += x[:, :3].sum(axis=1, keepdims=True) * np.array([0.1, 0.3, 1, 3, 10])
    return x, y, list(LeaveOneGroupOut().split(x, y, words))


def _sklearn(x, y, splits, **params):
    predicted = np.zeros_like(y)
    for train, test in splits:
        model = ElasticNet(alpha=1.0, l1_ratio=0.5, **params).fit(x[train], y[train])
        predicted[test] = model.predict(x[test])
    return predicted


# zero solutions only (small features), a few fitted channels with sparse to dense
# solutions, every channel fitted, and dense solutions with more features than rows
PROBLEMS = [(60, 200, 0.05), (60, 200, 1.0), (40, 6, 3.0), (30, 400, 4.0)]


@pytest.mark.parametrize("n_rows, n_features, scale", PROBLEMS)
def test_predictions_equal_scikit_learns_elastic_net(n_rows, n_features, scale):
    x, y, splits = _problem(n_rows, n_features, scale, seed=n_features)
    ours = elastic_net.held_out_predictions(x, y, splits)
    # rounding differs (Gram matrix against residuals) and adds up over many sweeps
    np.testing.assert_allclose(ours, _sklearn(x, y, splits), rtol=1e-9, atol=1e-10)


def test_without_the_column_cache_the_predictions_are_the_same(monkeypatch):
    x, y, splits = _problem(30, 400, 4.0, seed=400)
    cached = elastic_net.held_out_predictions(x, y, splits)
    monkeypatch.setattr(elastic_net, "CACHED_FEATURES", 100)  # 400 features: computed each time
    np.testing.assert_array_equal(elastic_net.held_out_predictions(x, y, splits), cached)


def test_the_problems_exercise_zero_sparse_and_dense_solutions():
    nonzero = []
    for n_rows, n_features, scale in PROBLEMS:
        x, y, splits = _problem(n_rows, n_features, scale, seed=n_features)
        train = splits[0][0]
        coef = ElasticNet(alpha=1.0, l1_ratio=0.5).fit(x[train], y[train]).coef_
        nonzero.append((coef != 0).sum(axis=1))
    assert nonzero[0].max() == 0  # the zero solution everywhere
    assert nonzero[1].min() == 0 and 0 < np.sort(nonzero[1])[-3] < 10  # zero and sparse
    assert nonzero[2].min() == 0 and nonzero[3].min() > 10  # dense


def test_a_fit_stopped_early_warns_and_equals_scikit_learns_iterate(monkeypatch):
    x, y, splits = _problem(30, 400, 4.0, seed=1)
    monkeypatch.setattr(elastic_net, "MAX_ITER", 1)
    with pytest.warns(ConvergenceWarning, match="did not converge in 1 sweeps"):
        ours = elastic_net.held_out_predictions(x, y, splits[:3])
    with pytest.warns(ConvergenceWarning):
        expected = _sklearn(x, y, splits[:3], max_iter=1)
    tested = np.concatenate([test for _, test in splits[:3]])
    np.testing.assert_allclose(ours[tested], expected[tested], rtol=0, atol=1e-10)


def test_bad_splits_and_penalties_are_clear_errors():
    x, y, splits = _problem(20, 4, 1.0, seed=0)
    train, test = splits[0]
    with pytest.raises(ValueError, match="train on every row it does not test"):
        elastic_net.held_out_predictions(x, y, [(train[1:], test)])
    with pytest.raises(ValueError, match="alpha > 0"):
        elastic_net.held_out_predictions(x, y, splits, alpha=0.0)
