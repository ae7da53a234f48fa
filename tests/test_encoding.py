import numpy as np
import pytest
from scipy.stats import false_discovery_control
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold

from neurospeech import embeddings, encoding, highgamma


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


def test_the_solver_equals_sklearn_ridge_at_the_chosen_penalty():
    features, targets = _toy()
    result = encoding.fit(features, targets, lags_ms=[0, 30], n_folds=4)
    for k, (train, test) in enumerate(KFold(4).split(features)):
        mean, std = features[train].mean(axis=0), features[train].std(axis=0)
        design = encoding.lagged((features - mean) / std, [0, 3])
        y_mean, y_std = targets[train].mean(axis=0), targets[train].std(axis=0)
        zy = (targets - y_mean) / y_std
        for electrode in range(5):
            model = Ridge(alpha=result.alpha[k, electrode], fit_intercept=False)
            model.fit(design[train], zy[train, electrode])
            expected = model.predict(design[test]) * y_std[electrode] + y_mean[electrode]
            np.testing.assert_allclose(
                result.predicted[test, electrode], expected, rtol=0, atol=1e-6
            )
    assert np.all(result.r[:4] > 0.5) and abs(result.r[4]) < 0.1
    assert np.all(result.alpha[:, 4] > result.alpha[:, :4].max())  # noise: strong penalty


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
    silent = ~responsive & ~np.array(truth["latent_channel"])  # no planted response at all
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
