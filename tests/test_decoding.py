import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from neurospeech import audio, bids, decoding, highgamma

ORDER = 4


def _max_rel(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


@pytest.mark.parity
@pytest.mark.parametrize("sub", ["01", "02"])
def test_reference_features_match_verwoert2022(parity_dir, sub):
    ref = parity_dir / "reference" / "verwoert2022"
    recording = bids.read_recording(parity_dir / "swpd-fixture", sub)
    stacked, spec, words = decoding.reference_features(recording)
    assert _max_rel(stacked, np.load(ref / f"sub-{sub}_feat.npy")) <= 1e-9
    assert _max_rel(spec, np.load(ref / f"sub-{sub}_spec.npy")) <= 1e-9
    np.testing.assert_array_equal(words, np.load(ref / f"sub-{sub}_procWords.npy").astype(str))
    np.testing.assert_array_equal(
        highgamma.stacked_names(recording.ch_names, ORDER),
        np.load(ref / f"sub-{sub}_feat_names.npy"),
    )


@pytest.mark.parity
@pytest.mark.filterwarnings("ignore::neurospeech.bids.RecordingWarning")
def test_features_and_reconstruction_match_on_real_speech(realspeech_dir):
    ref = realspeech_dir / "reference" / "verwoert2022"
    stacked, spec, words = decoding.reference_features(
        bids.read_recording(realspeech_dir / "swpd", "02")
    )
    expected_spec = np.load(ref / "sub-02_spec.npy")
    n = len(expected_spec)
    assert len(stacked) == len(spec) == len(words) == n
    assert _max_rel(stacked[::5], np.load(ref / "sub-02_feat_every5.npy")) <= 1e-9
    assert _max_rel(spec, expected_spec) <= 1e-9
    np.testing.assert_array_equal(words, np.load(ref / "sub-02_procWords.npy").astype(str))
    result = decoding.linear_reconstruction(stacked, spec)
    np.testing.assert_allclose(result.r, np.load(ref / "linearResults.npy")[0], atol=1e-6)
    np.testing.assert_allclose(
        result.explained_variance, np.load(ref / "explainedVariance.npy")[0], atol=1e-6
    )
    assert _max_rel(result.predicted, np.load(ref / "sub-02_predicted_spec.npy")) <= 1e-6


@pytest.mark.parity
def test_linear_reconstruction_matches_verwoert2022(parity_dir):
    ref = parity_dir / "reference" / "verwoert2022"
    expected_r = np.load(ref / "linearResults.npy")
    expected_variance = np.load(ref / "explainedVariance.npy")
    for index, sub in enumerate(["01", "02"]):
        result = decoding.linear_reconstruction(
            np.load(ref / f"sub-{sub}_feat.npy"), np.load(ref / f"sub-{sub}_spec.npy")
        )
        np.testing.assert_allclose(result.r, expected_r[index], rtol=0, atol=1e-6)
        np.testing.assert_allclose(
            result.explained_variance, expected_variance[index], rtol=0, atol=1e-6
        )
        assert _max_rel(result.predicted, np.load(ref / f"sub-{sub}_predicted_spec.npy")) <= 1e-6
    assert result.r.shape == (10, 23)
    sizes = np.bincount(result.fold)  # contiguous folds, the first ones one frame longer
    assert sizes.max() - sizes.min() <= 1 and np.all(np.diff(result.fold) >= 0)


def _toy(n_frames=400, n_features=12, n_bins=3, seed=0):
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((n_frames, n_features))
    target = features[:, :n_bins] @ rng.standard_normal((n_bins, n_bins))
    return features, target + 0.5 * rng.standard_normal(target.shape)


def test_fold_scores_are_scipy_pearson_r_of_contiguous_folds():
    features, target = _toy()
    result = decoding.linear_reconstruction(features, target, n_folds=4, n_components=6)
    np.testing.assert_array_equal(result.fold, np.repeat(np.arange(4), 100))
    for k in range(4):
        held_out = result.fold == k
        for b in range(3):
            expected = stats.pearsonr(target[held_out, b], result.predicted[held_out, b])[0]
            assert result.r[k, b] == pytest.approx(expected, abs=1e-12)
    assert result.mean_r == pytest.approx(result.r.mean())
    assert 0.5 < result.mean_r < 1.0


def test_chance_equals_pearson_r_with_the_published_circular_shift():
    spec = np.cumsum(np.random.default_rng(1).standard_normal((300, 4)), axis=0)
    prediction = spec + np.random.default_rng(2).standard_normal(spec.shape) * 5
    fold = np.repeat(np.arange(3), 100)
    chance = decoding.circular_shift_chance(spec, n_shifts=20, seed=3)
    decoder_chance = decoding.circular_shift_chance(
        spec, prediction, fold=fold, n_shifts=20, seed=3
    )
    splits = np.random.default_rng(3).integers(30, 270, size=20)  # 10 % to 90 %
    for row, split in enumerate(splits):
        shuffled = np.concatenate([spec[split:], spec[:split]])  # the published swap
        for b in range(4):
            assert chance[row, b] == pytest.approx(
                stats.pearsonr(spec[:, b], shuffled[:, b])[0], abs=1e-12
            )
            # the decoder's score is the mean over folds of the r within each fold
            per_fold = [
                stats.pearsonr(prediction[fold == k, b], shuffled[fold == k, b])[0]
                for k in range(3)
            ]
            assert decoder_chance[row, b] == pytest.approx(np.mean(per_fold), abs=1e-10)
    with pytest.raises(ValueError, match="fold of each frame"):
        decoding.circular_shift_chance(spec, prediction, n_shifts=20)
    np.testing.assert_array_equal(chance, decoding.circular_shift_chance(spec, n_shifts=20, seed=3))


def test_compare_with_chance_counts_the_shifts_at_or_above_the_score():
    chance = np.array([[0.1, 0.3], [0.5, 0.5], [0.0, 0.2], [0.9, 0.7]])  # means .2 .5 .1 .8
    out = decoding.compare_with_chance(np.array([[0.5, 0.5]]), chance)
    assert out["mean_r"] == 0.5
    assert out["p_value"] == pytest.approx(3 / 5)  # .5 and .8, plus the observation
    assert out["chance_mean"] == pytest.approx(0.4)
    assert out["chance_p95"] == pytest.approx(np.percentile([0.2, 0.5, 0.1, 0.8], 95))


def test_decoding_beats_chance_on_simulated_data(tiny_dataset, tiny_params):
    results = {}
    for sub in tiny_params.subjects:
        stacked, spec, words = decoding.reference_features(bids.read_recording(tiny_dataset, sub))
        assert len(stacked) == len(spec) == len(words)
        result = decoding.linear_reconstruction(stacked, spec)
        for prediction in (None, result.predicted):
            chance = decoding.circular_shift_chance(
                spec, prediction, fold=result.fold, n_shifts=200
            )
            comparison = decoding.compare_with_chance(result.r, chance)
            assert comparison["mean_r"] > comparison["chance_p95"], (sub, comparison)
        # speech timing alone scores high on the simulated speech; the decoder also
        # follows the spectrum within speech, which the oracle cannot
        speech = audio.speech_mask(spec)
        assert 0.05 < speech.mean() < 0.6
        oracle = decoding.speech_silence_oracle(spec, speech)
        within = decoding.fold_r(spec, result.predicted, result.fold, speech)
        assert oracle.mean_r > 0.5, (sub, oracle.mean_r)
        assert within.shape == result.r.shape and np.nanmean(within) > 0.2
        results[sub] = result
    table = decoding.r_table(results)
    assert list(table.columns) == ["subject", "fold", "mel_bin", "r"]
    assert len(table) == len(results) * 10 * 23
    row = table.iloc[23 * 10 + 23 + 4]  # second participant, fold 1, bin 4
    assert row["r"] == results[tiny_params.subjects[1]].r[1, 4]


def test_reference_features_leave_out_flagged_channels(tiny_dataset):
    recording = bids.read_recording(tiny_dataset, "01")
    ieeg = recording.ieeg.copy()
    ieeg[10, 2] = np.nan
    broken = dataclasses.replace(recording, ieeg=ieeg, bad_channels=(recording.ch_names[2],))
    with pytest.warns(bids.RecordingWarning, match=f"{recording.ch_names[2]} have non-finite"):
        stacked, _, _ = decoding.reference_features(broken)
    n_channels = len(recording.ch_names) - 1
    assert stacked.shape[1] == 9 * n_channels and np.isfinite(stacked).all()


def test_reference_features_warn_about_an_audio_offset(tiny_dataset):
    recording = dataclasses.replace(bids.read_recording(tiny_dataset, "01"), audio_offset=0.25)
    with pytest.warns(bids.RecordingWarning, match=r"audio starts \+0.250 s from the sEEG"):
        decoding.reference_features(recording)


@pytest.mark.parametrize(
    ("features", "target", "kwargs", "message"),
    [
        (np.zeros((8, 60)), np.zeros((8, 2)), {}, "8 frames cannot be split into 10 folds"),
        (np.zeros((100, 60)), np.zeros((99, 2)), {}, "100 frames but log_mel has 99"),
        (np.zeros((100, 30)), np.zeros((100, 2)), {}, "n_components=50 is not between 1 and"),
        (np.zeros((50, 60)), np.zeros((50, 2)), {}, "exceeds the 45 frames of the smallest"),
        (np.zeros((100, 60)), np.zeros(100), {}, "must be 2-D"),
        (np.full((100, 60), np.nan), np.zeros((100, 2)), {}, "stacked_hg has non-finite"),
        (np.ones((100, 60)), np.zeros((100, 2)), {}, "constant in the training frames"),
    ],
)
def test_linear_reconstruction_rejects_bad_input(features, target, kwargs, message):
    with pytest.raises(ValueError, match=message):
        decoding.linear_reconstruction(features, target, **kwargs)


def test_chance_rejects_bad_input():
    with pytest.raises(ValueError, match="same number of samples"):
        decoding.circular_shift_chance(
            np.arange(100.0).reshape(50, 2), np.zeros((40, 2)), fold=np.zeros(50, int)
        )
    with pytest.raises(ValueError, match="no shift between"):
        decoding.circular_shift_chance(np.ones((1, 2)))
    with pytest.raises(ValueError, match=r"columns \[1\] of the truth are constant"):
        decoding.circular_shift_chance(np.c_[np.arange(50.0), np.ones(50)])


def test_r_table_is_empty_but_typed_without_results():
    assert decoding.r_table({}).equals(pd.DataFrame(columns=["subject", "fold", "mel_bin", "r"]))


def test_the_speech_silence_oracle_predicts_the_training_means_of_each_class():
    rng = np.random.default_rng(0)
    speech = np.zeros(1000, bool)
    for start in range(20, 1000, 100):
        speech[start : start + 30] = True
    loud, quiet = rng.normal(5, 1, 23), rng.normal(0, 1, 23)
    spec = np.where(speech[:, None], loud, quiet) + rng.normal(0, 0.3, (1000, 23))
    oracle = decoding.speech_silence_oracle(spec, speech, n_folds=5)
    assert oracle.r.shape == (5, 23) and oracle.mean_r > 0.95
    train = np.arange(200, 1000)  # fold 0 holds out the first 200 frames
    np.testing.assert_allclose(oracle.predicted[20], spec[train][speech[train]].mean(axis=0))
    np.testing.assert_allclose(oracle.predicted[0], spec[train][~speech[train]].mean(axis=0))
    # within speech frames it knows nothing: one value per fold, so r is 0 or undefined
    within = decoding.fold_r(spec, oracle.predicted, oracle.fold, speech)
    assert np.all(np.abs(np.nan_to_num(within)) < 1e-8)
    with pytest.raises(ValueError, match="no speech training frames"):
        decoding.speech_silence_oracle(spec, np.zeros(1000, bool), n_folds=5)
    with pytest.raises(ValueError, match="one flag per frame"):
        decoding.speech_silence_oracle(spec, speech[:10])
