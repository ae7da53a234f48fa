import numpy as np
import pytest
from scipy.stats import false_discovery_control
from sklearn.decomposition import PCA
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold

from neurospeech import embeddings, encoding, highgamma, ridge


def test_lagged_puts_earlier_features_at_positive_lags():
    features = np.zeros((10, 2))
    features[4] = [1.0, 2.0]
    stacked = encoding.lagged(features, [-2, 0, 3])
    assert stacked.shape == (10, 6)
    np.testing.assert_array_equal(np.flatnonzero(stacked[:, 0]), [2])  # brain leads by 2
    np.testing.assert_array_equal(np.flatnonzero(stacked[:, 2]), [4])
    np.testing.assert_array_equal(np.flatnonzero(stacked[:, 4]), [7])  # brain follows by 3
    np.testing.assert_array_equal(encoding.lag_frames([-500, 0, 50]), [-50, 0, 5])
    with pytest.raises(ValueError, match="whole multiples"):
        encoding.lag_frames([15])


def _toy(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((n, 4))
    delayed = encoding.lagged(features, [3])
    targets = delayed @ rng.standard_normal((4, 5)) + rng.standard_normal((n, 5))
    targets[:, 4] = rng.standard_normal(n)  # an electrode the features do not explain
    return features, targets


def _assert_ridge_of_fold(result, k, design, zy, y_mean, y_std, train, test, atol):
    """Fold ``k``'s predictions are scikit-learn's Ridge at each electrode's chosen penalty."""
    for electrode in range(zy.shape[1]):
        model = Ridge(alpha=result.alpha[k, electrode], fit_intercept=False)
        model.fit(design[train], zy[train, electrode])
        expected = model.predict(design[test]) * y_std[electrode] + y_mean[electrode]
        np.testing.assert_allclose(result.predicted[test, electrode], expected, rtol=0, atol=atol)


def test_the_solver_equals_sklearn_ridge_at_the_chosen_penalty():
    features, targets = _toy()
    result = encoding.fit(features, targets, lags_ms=[0, 30], n_folds=4)
    for k, (train, test) in enumerate(KFold(4).split(features)):
        mean, std = features[train].mean(axis=0), features[train].std(axis=0)
        design = encoding.lagged((features - mean) / std, [0, 3])
        y_mean, y_std = targets[train].mean(axis=0), targets[train].std(axis=0)
        zy = (targets - y_mean) / y_std
        _assert_ridge_of_fold(result, k, design, zy, y_mean, y_std, train, test, atol=1e-6)
    assert np.all(result.r[:4] > 0.5) and abs(result.r[4]) < 0.1
    assert np.all(result.alpha[:, 4] > result.alpha[:, :4].max())  # noise: strong penalty


def test_the_pca_is_sklearns_on_each_folds_standardized_training_frames():
    rng = np.random.default_rng(3)
    features = rng.standard_normal((1500, 12)) @ rng.standard_normal((12, 12)) + 40.0
    features[:, 5] = 7.0  # constant: only centred, as the z-scoring does
    targets = encoding.lagged(features[:, :3], [2]) @ rng.standard_normal((3, 4))
    targets += rng.standard_normal(targets.shape)
    result = encoding.fit(features, targets, lags_ms=[0, 20], n_folds=3, n_components=4)
    for k, (train, test) in enumerate(KFold(3).split(features)):
        z = ridge.standardize(features, train)[0]
        design = encoding.lagged(PCA(4).fit(z[train]).transform(z), [0, 2])
        zy, y_mean, y_std = ridge.standardize(targets, train)
        _assert_ridge_of_fold(result, k, design, zy, y_mean, y_std, train, test, atol=1e-9)
    with pytest.raises(ValueError, match="n_components=13 is not between 1 and the 12"):
        encoding.fit(features, targets, n_components=13)


def test_significance_table_uses_circular_shifts_and_fdr():
    features, targets = _toy(seed=1)
    result = encoding.fit(features, targets, lags_ms=[30])
    table = encoding.significance(targets, result, n_shifts=500, seed=2)
    assert list(table.columns) == ["r", "p", "q", "p_fwe"]
    np.testing.assert_allclose(table["q"], false_discovery_control(table["p"]))
    assert (table["p"][:4] == 1 / 501).all() and table["p"][4] > 0.05


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda x, y: (x[:-1], y, {}), "features have 1999 frames but targets 2000"),
        (lambda x, y: (np.where(x > 3, np.nan, x), y, {}), "features have non-finite"),
        (lambda x, y: (x, y, {"lags_ms": [-5000, 0]}), "lag window reaches 500 frames"),
        (lambda x, y: (x[:3], y[:3], {}), "cannot be split into 5 folds"),
        (lambda x, y: (np.tile(x, 80), y, {"lags_ms": np.arange(0, 160, 10)}), "n_components"),
    ],
)
def test_bad_input_is_a_clear_error(change, message):
    features, targets = _toy()
    x, y, options = change(features, targets)
    with pytest.raises(ValueError, match=message):
        encoding.fit(x, y, **options)


def test_recovers_the_planted_channels_and_lags(sample_sub01):
    recording, truth = sample_sub01
    frames = highgamma.extract(recording.ieeg, recording.sfreq, method="fft", n_jobs=2)
    mel = embeddings.frame_level("log-mel", recording)[0]
    table = encoding.significance(frames, encoding.fit(mel, frames), n_shifts=2000)
    responsive = np.array(truth["responsive"])
    # no planted response at all (timing-only channels follow the speech too)
    silent = ~responsive & ~np.array(truth["latent_channel"]) & ~np.array(truth["timing_channel"])
    found = table["q"].to_numpy() < 0.05
    assert found[responsive].mean() >= 0.9
    assert found[silent].mean() <= 0.05
    profile = encoding.lag_profile(mel, frames, n_shifts=1000)
    assert profile.r.shape == (101, len(responsive))
    error = np.abs(profile.best_lag_ms - np.array(truth["lag_ms"]))[responsive]
    assert np.mean(error <= 30) >= 0.8
    # corrected for the 101 lags and 16 electrodes searched: strict, but never on silence
    assert (
        np.all(profile.p_fwe[silent] >= 0.05) and np.mean(profile.p_fwe[responsive] < 0.05) >= 0.5
    )


def test_lagged_rows_are_the_rows_of_the_whole_design():
    features = np.random.default_rng(0).standard_normal((30, 3))
    rows = np.array([0, 5, 29])
    np.testing.assert_array_equal(
        encoding.lagged(features, [-2, 0, 4], rows), encoding.lagged(features, [-2, 0, 4])[rows]
    )
    order = np.random.default_rng(1).permutation(30)
    np.testing.assert_array_equal(
        encoding.lagged(features, [-2, 0, 4], rows, order=order),
        encoding.lagged(features[order], [-2, 0, 4], rows),
    )


@pytest.mark.parametrize("lags", [[-10, -5, 0, 5, 10], [3], [0, 2, 7], [-4, -1]])
def test_lagged_grams_are_the_gram_matrices_of_the_lagged_rows(lags):
    rng = np.random.default_rng(0)
    bases = [rng.standard_normal((300, 3)), rng.standard_normal((300, 2))]
    design = np.hstack([encoding.lagged(base, lags) for base in bases])
    blocks = [
        np.arange(0, 60),  # from the first frame
        np.r_[np.arange(100, 130), np.arange(200, 260)],  # two runs, as across a held-out fold
        np.arange(280, 300),  # to the last frame
        np.arange(292, 300),  # shorter than the lag window
        np.array([5]),
    ]
    for gram, rows in zip(encoding.lagged_grams(bases, lags, blocks), blocks):
        np.testing.assert_allclose(gram, design[rows].T @ design[rows], rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="at least one lag"):
        encoding.lagged_grams(bases, [], blocks)


def test_one_band_has_no_weights_to_search_and_bands_get_their_own_penalty():
    features, targets = _toy()
    plain = encoding.fit(features, targets, lags_ms=[0, 30])
    searched = encoding.fit_bands([features], targets, lags_ms=[0, 30], ratios=[0.01, 100])
    np.testing.assert_array_equal(plain.predicted, searched.predicted)
    np.testing.assert_array_equal(searched.band_weight, 1.0)
    noise = np.random.default_rng(1).standard_normal((len(features), 6))
    joint = encoding.fit_bands([features, noise], targets, lags_ms=[0, 30], ratios=[0.01, 1, 100])
    assert joint.band_weight.shape == (5, 2, 5)
    # the useless band is penalised more than the useful one where the features explain
    assert np.mean(joint.band_weight[:, 1, :4] < joint.band_weight[:, 0, :4]) > 0.8
    with pytest.raises(ValueError, match="as many n_components"):
        encoding.fit_bands([features, noise], targets, n_components=[None])


def test_unique_variance_finds_the_band_that_adds_and_not_the_one_that_does_not():
    rng = np.random.default_rng(4)
    n = 3000
    timing, spectral = rng.standard_normal((n, 2)), rng.standard_normal((n, 2))
    targets = np.column_stack(
        [
            timing[:, 0] + spectral[:, 0] + rng.standard_normal(n),  # both
            timing[:, 1] + rng.standard_normal(n),  # timing only
            rng.standard_normal(n),  # nothing
        ]
    )
    options = {"lags_ms": [0], "ratios": [0.1, 1, 10]}
    reduced = encoding.fit_bands([timing], targets, **options)
    full = encoding.fit_bands([timing, spectral], targets, **options)
    table = encoding.unique_variance(targets, full, reduced, n_shifts=500)
    assert table.loc[0, "unique"] > 0.1 and table.loc[0, "p"] < 0.01
    assert table.loc[1:, "p"].min() > 0.01
    alone = encoding.unique_variance(targets, reduced, None, n_shifts=500)
    np.testing.assert_allclose(alone["r2_reduced"], 0.0, atol=1e-12)
    assert alone.loc[1, "p"] < 0.01 and alone.loc[2, "p"] > 0.01


def test_trial_swaps_keep_the_timing_and_change_the_trial():
    cues = np.array([0.0, 3.0, 6.0, 9.0])
    onsets = cues + np.array([0.5, 0.7, np.nan, 0.6])
    n = 1200
    swaps = encoding.trial_swaps(n, cues, onsets, 20, seed=1)
    centres = np.arange(n) * 0.01 + 0.025
    for swap in swaps:
        # the frame at a trial's speech onset reads another trial's speech onset
        at_onset = np.round((onsets[[0, 1, 3]] - 0.025) / 0.01).astype(int)
        source = centres[swap[at_onset]]
        assert np.all(np.abs(source[:, None] - onsets[[0, 1, 3]][None]).min(axis=1) < 0.011)
        assert np.all(np.abs(source - onsets[[0, 1, 3]]) > 1.0)  # never its own trial
        silent = (centres >= 6.0) & (centres < 9.0)  # no speech onset: kept
        np.testing.assert_array_equal(swap[silent], np.flatnonzero(silent))
    with pytest.raises(ValueError, match="cannot be swapped"):
        encoding.trial_swaps(n, cues, np.full(4, np.nan), 1)


def test_swapped_predictions_equal_the_swapped_features_lagged_and_fitted():
    rng = np.random.default_rng(4)
    n, lags = 1200, [-5, -1, 0, 3, 8]
    cues = np.arange(0.0, 12.0, 3.0)
    onsets = cues + rng.uniform(0.3, 0.9, len(cues))
    bases = [rng.standard_normal((n, 3)), rng.standard_normal((n, 2))]
    coefficients = rng.standard_normal((len(lags) * 5, 4))
    fitted = np.hstack([encoding.lagged(base, lags) for base in bases]) @ coefficients
    rows = np.arange(0, n, 2)  # a fold's held-out frames, the recording's edges included
    for swap in [*encoding.trial_swaps(n, cues, onsets, 5, seed=3), np.arange(n)]:
        direct = np.hstack([encoding.lagged(base[swap], lags, rows) for base in bases])
        expected = direct @ coefficients
        found = encoding.swapped_predictions(fitted, bases, lags, swap, rows, coefficients)
        np.testing.assert_allclose(found, expected, rtol=1e-12, atol=1e-12)


def test_the_trial_swap_null_separates_word_content_from_timing():
    """Features that carry only the timing score as well swapped; word content does not."""
    rng = np.random.default_rng(0)
    n_trials, n = 40, 12000
    cues = np.arange(n_trials) * 3.0
    onsets = cues + rng.uniform(0.4, 0.9, n_trials)
    centres = np.arange(n) * 0.01 + 0.025
    trial = np.searchsorted(cues, centres, side="right") - 1
    speaking = ((centres - onsets[trial]) > 0) & ((centres - onsets[trial]) < 0.5)
    word = rng.standard_normal(n_trials)[trial] * speaking
    features = np.column_stack([speaking, word]).astype(float)
    targets = np.column_stack([speaking + word, 2 * speaking]) + rng.standard_normal((n, 2))
    swaps = encoding.trial_swaps(n, cues, onsets, 30, seed=2)
    result = encoding.fit(features, targets, lags_ms=[0], swaps=swaps)
    assert result.swap_r.shape == (30, 2)
    assert np.all(result.swap_r[:, 0] < result.r[0] - 0.05)  # word content lost
    np.testing.assert_allclose(result.swap_r[:, 1], result.r[1], atol=0.02)  # timing kept
    identity = encoding.fit(features, targets, lags_ms=[0], swaps=[np.arange(n)])
    np.testing.assert_allclose(identity.swap_r[0], identity.r, atol=1e-12)
    fold_r = encoding.fold_r(targets, result)
    assert fold_r.shape == (5, 2) and np.all(np.abs(fold_r.mean(0) - result.r) < 0.05)
