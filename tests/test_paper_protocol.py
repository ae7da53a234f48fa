import dataclasses

import numpy as np
import pytest
from scipy.stats import false_discovery_control
from sklearn.decomposition import PCA
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import ElasticNet, Ridge
from sklearn.metrics import mean_squared_error, r2_score
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from neurospeech import bids, embeddings, paper_protocol

METRICS = list(paper_protocol.METRICS)
#: The paper's ElasticNet solved to its optimum: with principal components fitted on the
#: training rows the package solves it exactly, where scikit-learn's default tolerance
#: (a 1e-4 duality gap, checked before the first sweep) may stop short of it.
EXACT_ELASTIC_NET = ElasticNet(alpha=1.0, l1_ratio=0.5, tol=1e-14)


@pytest.mark.parity
@pytest.mark.parametrize("sub", ["01", "02"])
@pytest.mark.parametrize("seconds", [1, 2])
def test_trial_means_and_fold_metrics_match_khanday2025(parity_dir, sub, seconds):
    ref = parity_dir / "reference" / "khanday2025"
    recording = bids.read_recording(parity_dir / "swpd-fixture", sub)
    words = recording.words["value"].to_numpy()
    np.testing.assert_array_equal(words, np.load(ref / f"sub-{sub}_words.npy"))
    expected = np.load(ref / f"sub-{sub}_trial{seconds}s_hg_trialmean.npy")
    means = paper_protocol.trial_means(recording, seconds)
    assert np.max(np.abs(means - expected) / np.abs(expected)) <= 1e-9
    metrics = paper_protocol.leave_one_word_out(
        np.load(ref / f"sub-{sub}_embeddings_random16.npy"), expected, words
    )
    assert list(metrics["word"]) == sorted(words)  # fold k holds out the k-th sorted word
    np.testing.assert_allclose(
        metrics[METRICS].to_numpy(),
        np.load(ref / f"sub-{sub}_trial{seconds}s_fold_metrics_mse_rmse_r2_pcc.npy"),
        rtol=0,
        atol=1e-5,
    )


def _trials(n_trials=40, n_features=6, n_channels=9, seed=0, repeat=()):
    """Targets in microvolts with distinct channel levels; some channels follow X."""
    rng = np.random.default_rng(seed)
    words = np.array([f"w{k:03d}" for k in range(n_trials)])
    for first, second in repeat:
        words[second] = words[first]
    x = rng.standard_normal((n_trials, n_features))
    y = rng.uniform(5, 30, n_channels) + rng.standard_normal((n_trials, n_channels))
    y[:, :4] += 3 * x[:, :4]  # four channels the features explain
    return x, y, words


def _loop_predictions(x, y, words, model):
    predicted = np.zeros_like(y)
    for train, test in LeaveOneGroupOut().split(x, y, words):
        predicted[test] = model.fit(x[train], y[train]).predict(x[test]).reshape(len(test), -1)
    return predicted


def _loop_metrics(y, predicted, words):
    rows = []
    for word in np.unique(words):
        held = words == word
        truth, guess = y[held].ravel(), predicted[held].ravel()
        mse = mean_squared_error(truth, guess)
        rows.append([mse, np.sqrt(mse), r2_score(truth, guess), np.corrcoef(truth, guess)[0, 1]])
    return np.array(rows)


def test_leave_one_word_out_equals_a_loop_over_sklearn_elastic_net():
    x, y, words = _trials(repeat=[(3, 17), (5, 30)])  # two words said twice
    metrics = paper_protocol.leave_one_word_out(x, y, words)
    assert len(metrics) == len(set(words)) == 38
    assert metrics.set_index("word").loc[words[3], "n_trials"] == 2
    predicted = _loop_predictions(x, y, words, ElasticNet(alpha=1.0, l1_ratio=0.5))
    np.testing.assert_allclose(
        metrics[METRICS].to_numpy(), _loop_metrics(y, predicted, words), rtol=0, atol=1e-10
    )
    # the test problem exercises both the fitted and the provably-zero channels
    coef = ElasticNet(alpha=1.0, l1_ratio=0.5).fit(x, y).coef_
    assert np.any(coef[:4] != 0) and np.all(coef[4:] == 0)


def test_any_regressor_and_the_training_mean_predictor():
    x, y, words = _trials(seed=1)
    metrics = paper_protocol.leave_one_word_out(x, y, words, estimator=DummyRegressor())
    predicted = np.tile(y.mean(axis=0), (len(y), 1))
    predicted = (predicted * len(y) - y) / (len(y) - 1)  # mean of the other trials
    np.testing.assert_allclose(
        metrics[METRICS].to_numpy(), _loop_metrics(y, predicted, words), rtol=0, atol=1e-10
    )


def _assert_both_pcas_equal_sklearn(x, y, words):
    """PCA in each fold, and on all trials, each equal to scikit-learn; return the latter."""
    flat = x.reshape(len(x), -1)
    inside = paper_protocol.leave_one_word_out(x, y, words, pca=0.9)
    model = make_pipeline(PCA(0.9, svd_solver="full"), EXACT_ELASTIC_NET)
    expected = _loop_metrics(y, _loop_predictions(flat, y, words, model), words)
    np.testing.assert_allclose(inside[METRICS].to_numpy(), expected, rtol=0, atol=1e-8)
    quirk = paper_protocol.leave_one_word_out(x, y, words, pca=0.9, pca_on_all_trials=True)
    reduced = PCA(0.9, svd_solver="full").fit_transform(flat)
    expected = _loop_metrics(
        y, _loop_predictions(reduced, y, words, ElasticNet(alpha=1.0, l1_ratio=0.5)), words
    )
    np.testing.assert_allclose(quirk[METRICS].to_numpy(), expected, rtol=0, atol=1e-8)
    return quirk


def test_pca_inside_the_folds_and_the_published_pca_on_all_trials():
    x, y, words = _trials(n_features=12, seed=2)
    x = x.reshape(len(x), 3, 4)  # (trials, frames, dims) is flattened, as published
    _assert_both_pcas_equal_sklearn(x, y, words)
    with pytest.raises(ValueError, match="pca_on_all_trials=True needs pca"):
        paper_protocol.leave_one_word_out(x, y, words, pca_on_all_trials=True)


def test_flattened_states_wider_than_the_trials_equal_a_plain_sklearn_pipeline():
    """The paper's XLS-R condition: (time x dims) flattened, far more dims than trials."""
    x, y, words = _trials(n_features=4, seed=3)
    frames = np.random.default_rng(3).standard_normal((len(x), 30, 20))
    frames[:, :, :4] += 3 * x[:, None, :]  # the informative dims, in every frame
    flat = frames.reshape(len(x), -1)  # 600 dims for 40 trials
    quirk = _assert_both_pcas_equal_sklearn(frames, y, words)
    audit = paper_protocol.audit(frames, y, words, n_shuffles=9, pca=0.9, pca_on_all_trials=True)
    assert audit["pcc_model"] == pytest.approx(quirk["pcc"].mean(), abs=1e-10)
    # the shuffles reuse each fold's PCA: the same as fitting it again for every shuffle
    audit = paper_protocol.audit(frames, y, words, n_shuffles=4, pca=0.9, seed=5)
    rng = np.random.default_rng(5)
    noise = rng.standard_normal(flat.shape)
    shuffled = [
        paper_protocol.leave_one_word_out(flat[rng.permutation(len(flat))], y, words, pca=0.9)
        for _ in range(4)
    ]
    assert audit["pcc_shuffled"] == pytest.approx(
        np.mean([m["pcc"].mean() for m in shuffled]), abs=1e-10
    )
    noisy = paper_protocol.leave_one_word_out(noise, y, words, pca=0.9)
    assert audit["pcc_noise"] == pytest.approx(noisy["pcc"].mean(), abs=1e-10)


def test_the_variance_ratio_predicts_the_pcc_of_the_channel_means():
    rng = np.random.default_rng(0)
    levels = rng.normal(0, 3, 50)  # B = 9
    y = levels + rng.normal(0, 1, (400, 50))  # W = 1
    ratio = paper_protocol.variance_ratio(y)
    assert ratio["between"] == pytest.approx(levels.var(), rel=0.05)
    assert ratio["within"] == pytest.approx(1, rel=0.05)
    assert ratio["ratio"] == pytest.approx(ratio["between"] / ratio["within"])
    words = np.array([f"w{k}" for k in range(len(y))])
    mean = paper_protocol.leave_one_word_out(
        np.zeros((400, 1)), y, words, estimator=DummyRegressor()
    )
    assert mean["pcc"].mean() == pytest.approx(ratio["predicted_pcc"], abs=0.01)
    with pytest.raises(ValueError, match="at least 2"):
        paper_protocol.variance_ratio(y[:, :1])


def test_a_participant_with_95_trials_runs():
    x, y, words = _trials(n_trials=95, seed=3)
    metrics = paper_protocol.leave_one_word_out(x, y, words)
    assert len(metrics) == 95 and np.isfinite(metrics[METRICS].to_numpy()).all()
    result = paper_protocol.word_level_encoding(x, y, words, n_permutations=20)
    assert result.r.shape == (9,) and result.predicted.shape == (95, 9)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda x, y, w: (x[:-1], y, w), "one row per trial"),
        (lambda x, y, w: (x[:, 0], y, w), "one row per trial"),
        (lambda x, y, w: (x, y[:, 0], w), "Y must be 2-D"),
        (lambda x, y, w: (x, y, w[:-1]), "one label per row of Y"),
        (lambda x, y, w: (np.where(x > 2, np.nan, x), y, w), "X has non-finite"),
        (lambda x, y, w: (x, y, np.where(w == w[0], "", w)), "empty labels"),
        (lambda x, y, w: (x, y, np.full(len(w), "same")), "two distinct words"),
    ],
)
def test_bad_input_is_a_clear_error(change, message):
    x, y, words = _trials()
    with pytest.raises(ValueError, match=message):
        paper_protocol.leave_one_word_out(*change(x, y, words))


def test_paper_participants_reproduces_the_missing_participant_10():
    labels = [f"{n:02d}" for n in range(1, 11)]
    assert paper_protocol.paper_participants(labels) == labels
    published = paper_protocol.paper_participants(labels, drop_participant_10=True)
    assert published == labels[:9]
    assert paper_protocol.paper_participants(["sub-03"]) == ["03"]


def test_trial_means_follow_events_and_fail_clearly(tiny_dataset, tiny_params):
    recording = bids.read_recording(tiny_dataset, "01")
    means = paper_protocol.trial_means(recording, 1.0)
    assert means.shape == (tiny_params.n_words, tiny_params.n_channels[0])
    fewer = dataclasses.replace(recording, events=recording.events.drop(index=[0, 2]))
    np.testing.assert_allclose(paper_protocol.trial_means(fewer, 1.0), means[2:], rtol=1e-12)
    late = recording.events.copy()
    last_word = late.index[late["trial_type"] == "word"][-1]
    late.loc[last_word, "sample"] = recording.ieeg.shape[0] - 100
    with pytest.raises(ValueError, match="does not fit in the .* samples"):
        paper_protocol.trial_means(dataclasses.replace(recording, events=late), 1.0)
    with pytest.raises(ValueError, match="trial_length must be positive"):
        paper_protocol.trial_means(recording, 0)


def test_audit_compares_with_the_mean_noise_and_shuffles():
    x, y, words = _trials(seed=4)
    result = paper_protocol.audit(x, y, words, n_shuffles=99, seed=1)
    mean = paper_protocol.leave_one_word_out(x, y, words, estimator=DummyRegressor())
    assert result["pcc_mean"] == pytest.approx(mean["pcc"].mean(), abs=1e-12)
    assert result["pcc_model"] > result["pcc_mean"] and result["p_shuffle"] == 0.01
    assert result == paper_protocol.audit(x, y, words, n_shuffles=99, seed=1)  # seeded
    noise = np.random.default_rng(10).standard_normal(x.shape)
    uninformative = paper_protocol.audit(noise, y, words, n_shuffles=99, seed=1)
    assert uninformative["p_shuffle"] > 0.05


def test_audit_without_shuffles_and_the_group_test_across_participants():
    x, y, words = _trials(seed=4)
    row, null = paper_protocol.audit(x, y, words, n_shuffles=49, seed=1, return_null=True)
    assert null.shape == (49,) and row["pcc_shuffled"] == pytest.approx(null.mean())
    unshuffled = paper_protocol.audit(x, y, words, n_shuffles=0, seed=1)
    assert unshuffled["n_shuffles"] == 0
    assert np.isnan(unshuffled["p_shuffle"]) and np.isnan(unshuffled["pcc_shuffled"])
    assert unshuffled["pcc_model"] == row["pcc_model"]  # the same fits, without the null
    with pytest.raises(ValueError, match="n_shuffles must be 0"):
        paper_protocol.audit(x, y, words, n_shuffles=-1)
    informative, empty = [], []
    for seed in range(3):
        x, y, words = _trials(seed=seed)
        informative.append(paper_protocol.audit(x, y, words, n_shuffles=49, return_null=True))
        noise = np.random.default_rng(seed + 10).standard_normal(x.shape)
        empty.append(paper_protocol.audit(noise, y, words, n_shuffles=49, return_null=True))
    found = paper_protocol.group_audit(informative)
    assert found["participants"] == 3 and found["n_shuffles"] == 49
    assert found["p_group"] == 0.02  # above every paired draw
    assert found["mean_pcc"] == pytest.approx(np.mean([r["pcc_model"] for r, _ in informative]))
    paired = np.mean([null for _, null in informative], axis=0)
    assert found["null_mean_pcc"] == pytest.approx(paired.mean())
    assert paper_protocol.group_audit(empty)["p_group"] > 0.05
    with pytest.raises(ValueError, match="with its shuffles"):
        paper_protocol.group_audit([(unshuffled, np.array([]))])
    with pytest.raises(ValueError, match="nulls differ in length"):
        paper_protocol.group_audit([*informative, (row, null[:10])])


def test_word_level_encoding_finds_the_informative_channels():
    x, y, words = _trials(n_trials=60, seed=5, repeat=[(1, 2)])
    result = paper_protocol.word_level_encoding(x, y, words, n_permutations=200, seed=0)
    np.testing.assert_array_equal(result.significant(), np.arange(9) < 4)
    np.testing.assert_allclose(result.q, false_discovery_control(result.p))
    assert result.null.shape == (200, 9) and result.alpha.shape == (10, 9)
    assert np.all(result.p_fwe >= result.p) and np.all(result.p_fwe[:4] < 0.05)


def test_word_level_ridge_on_wide_features_is_sklearn_ridge_on_the_z_scored_features():
    # 300 dims for 40 trials: the fits run on the rows' coordinates in their own span
    rng = np.random.default_rng(8)
    words = np.array([f"w{k}" for k in range(40)])
    x, y = rng.standard_normal((40, 300)), rng.standard_normal((40, 3))
    result = paper_protocol.word_level_encoding(x, y, words, n_folds=4, n_permutations=1)
    for k, (train, test) in enumerate(GroupKFold(n_splits=4).split(x, groups=words)):
        scaler = StandardScaler().fit(x[train])
        zy_mean, zy_std = y[train].mean(axis=0), y[train].std(axis=0)
        for channel in range(3):
            model = Ridge(alpha=result.alpha[k, channel]).fit(
                scaler.transform(x[train]), (y[train, channel] - zy_mean[channel]) / zy_std[channel]
            )
            expected = model.predict(scaler.transform(x[test])) * zy_std[channel] + zy_mean[channel]
            np.testing.assert_allclose(result.predicted[test, channel], expected, atol=1e-10)


def test_group_word_level_pairs_the_participants_permutations_by_draw():
    informative, empty = [], []
    for seed in range(3):
        x, y, words = _trials(n_trials=40, seed=seed)
        informative.append(paper_protocol.word_level_encoding(x, y, words, n_permutations=99))
        # the same features against targets they do not explain
        noise = np.random.default_rng(seed + 10).standard_normal(y.shape) + y.mean(axis=0)
        empty.append(paper_protocol.word_level_encoding(x, noise, words, n_permutations=99))
    found = paper_protocol.group_word_level(informative)
    assert found["participants"] == 3 and found["n_permutations"] == 99
    assert found["p_group"] == 0.01  # above every paired draw
    assert found["mean_best_r"] == pytest.approx(np.mean([e.r.max() for e in informative]))
    paired = np.mean([e.null.max(axis=1) for e in informative], axis=0)
    assert found["null_mean_best_r"] == pytest.approx(paired.mean())
    assert paper_protocol.group_word_level(empty)["p_group"] > 0.05
    fewer = paper_protocol.word_level_encoding(x, y, words, n_permutations=50)
    with pytest.raises(ValueError, match="nulls differ in length"):
        paper_protocol.group_word_level([*informative, fewer])
    with pytest.raises(ValueError, match="at least one participant"):
        paper_protocol.group_word_level([])


def test_on_the_sample_the_metric_cannot_tell_features_from_none(sample_sub01):
    recording, truth = sample_sub01
    words = recording.words["value"].to_numpy()
    means = paper_protocol.trial_means(recording, 1.0)
    features = embeddings.word_level("log-mel", recording, 1.0)[0]
    result = paper_protocol.audit(features, means, words, n_shuffles=200)
    assert abs(result["pcc_model"] - result["pcc_mean"]) <= 0.02
    assert result["pcc_mean"] > 0.9  # high without any feature: the flaw
    oracle = paper_protocol.word_level_encoding(
        np.array(truth["latent"]), means, words, n_permutations=500
    )
    planted = np.array(truth["latent_channel"])
    found = oracle.significant()
    assert found[planted].all()
    assert found[~planted].sum() <= 0.1 * (~planted).sum()
