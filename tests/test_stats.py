import numpy as np
import pytest
from scipy import stats as scipy_stats

from neurospeech import stats


def test_pearson_r_equals_scipy_column_by_column():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((50, 6)) + 100.0  # an offset must not cost precision
    b = 0.3 * a + rng.standard_normal((50, 6))
    expected = [scipy_stats.pearsonr(a[:, k], b[:, k]).statistic for k in range(6)]
    np.testing.assert_allclose(stats.pearson_r(a, b), expected, rtol=0, atol=1e-12)


def test_pearson_r_of_a_constant_column_is_nan_and_shapes_must_match():
    a = np.column_stack([np.ones(5), np.arange(5.0)])
    r = stats.pearson_r(a, a)
    assert np.isnan(r[0]) and r[1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same shape"):
        stats.pearson_r(a, a[:4])


def test_permutation_p_counts_the_observation_once():
    null = np.array([[0.1, 0.5], [0.3, 0.2], [0.6, 0.0]])
    observed = np.array([0.3, 0.6])
    # column 0: 0.3 and 0.6 reach 0.3 -> (1 + 2) / 4; column 1: none reach 0.6 -> 1 / 4
    np.testing.assert_array_equal(stats.permutation_p(observed, null), [0.75, 0.25])
    assert stats.permutation_p(0.55, null[:, 1]) == pytest.approx(1 / 4)


def test_max_statistic_p_uses_the_maximum_of_each_draw():
    null = np.array([[0.1, 0.5], [0.3, 0.2], [0.6, 0.0]])  # row maxima 0.5, 0.3, 0.6
    np.testing.assert_array_equal(
        stats.max_statistic_p(np.array([0.55, 0.2]), null), [2 / 4, 4 / 4]
    )
    with pytest.raises(ValueError, match="draws x columns"):
        stats.max_statistic_p(np.array([0.1]), np.zeros(3))


def test_circular_shift_null_equals_a_loop_of_np_roll():
    rng = np.random.default_rng(1)
    truth = rng.standard_normal((200, 3)).cumsum(axis=0)  # autocorrelated, like high-gamma
    prediction = truth + 5 * rng.standard_normal((200, 3))
    null = stats.circular_shift_null(truth, prediction, n_shifts=50, seed=4)
    shifts = np.random.default_rng(4).integers(20, 180, size=50)
    expected = np.array([stats.pearson_r(np.roll(truth, -k, axis=0), prediction) for k in shifts])
    np.testing.assert_allclose(null, expected, rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="no shift between"):
        stats.circular_shift_null(truth[:1], prediction[:1])


def test_holm_equals_the_step_down_rule_and_keeps_the_shape():
    p = np.array([[0.01, 0.04], [0.03, 0.5]])
    # sorted .01 .03 .04 .5 times 4 3 2 1: .04 .09 .08 .5 -> monotone .04 .09 .09 .5
    np.testing.assert_allclose(stats.holm(p), [[0.04, 0.09], [0.09, 0.5]])
    assert stats.holm(np.array([0.9, 0.8])).max() == 1.0
    assert stats.holm(np.array([0.02])) == pytest.approx([0.02])
    with pytest.raises(ValueError, match="within"):
        stats.holm(np.array([np.nan, 0.1]))


def test_circular_gain_null_equals_a_loop_of_np_roll():
    rng = np.random.default_rng(2)
    truth = rng.standard_normal((300, 2)).cumsum(axis=0)
    full = truth + rng.standard_normal((300, 2))
    reduced = truth + 3 * rng.standard_normal((300, 2))
    null = stats.circular_gain_null(truth, full, reduced, n_shifts=40, seed=7)
    shifts = np.random.default_rng(7).integers(30, 270, size=40)
    expected = np.array(
        [
            stats.r2(np.roll(truth, -k, axis=0), full)
            - stats.r2(np.roll(truth, -k, axis=0), reduced)
            for k in shifts
        ]
    )
    np.testing.assert_allclose(null, expected, rtol=0, atol=1e-10)
    np.testing.assert_allclose(stats.r2(truth, truth.mean(0) + 0 * truth), 0.0, atol=1e-12)
    with pytest.raises(ValueError, match="same shape"):
        stats.circular_gain_null(truth, full[:10], reduced)


def test_holm_floor_is_the_smallest_adjusted_p_a_family_reaches():
    rng = np.random.default_rng(0)
    for n_draws, n_tests in [(1000, 320), (99, 5), (6400, 320)]:
        observed = np.full(n_tests, np.inf)  # every test beats all of its draws
        p = stats.permutation_p(observed, rng.standard_normal((n_draws, n_tests)))
        assert stats.holm(p).min() == pytest.approx(stats.holm_floor(n_draws, n_tests))
    assert stats.holm_floor(1000, 320) > 0.05 > stats.holm_floor(6400, 320)
    assert stats.holm_floor(10, 50) == 1.0
    with pytest.raises(ValueError, match="at least one draw"):
        stats.holm_floor(0, 3)
