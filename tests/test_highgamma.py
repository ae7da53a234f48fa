import h5py
import numpy as np
import pytest

from neurospeech import audio, bids, highgamma

ORDER, STEP = 4, 5


def _load(fixture, sub):
    path = fixture / f"sub-{sub}" / "ieeg" / f"sub-{sub}_task-wordProduction_ieeg.nwb"
    with h5py.File(path, "r") as f:
        ieeg = f["acquisition/iEEG/data"][:]
        sound = f["acquisition/Audio/data"][:]
        words = f["acquisition/Stimulus/data"][:].astype(str)
    return ieeg, sound, words


def _max_rel(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


@pytest.mark.parity
@pytest.mark.parametrize("sub", ["01", "02"])
def test_reference_features_match_verwoert2022(parity_dir, sub):
    ref = parity_dir / "reference" / "verwoert2022"
    ieeg, sound, words = _load(parity_dir / "swpd-fixture", sub)
    feat = highgamma.stack(highgamma.extract(ieeg, 1024.0), ORDER, STEP)
    spec = audio.log_mel(sound, 48000.0)[ORDER * STEP : -ORDER * STEP]
    labels = highgamma.window_labels(words, 1024.0)[ORDER * STEP : -ORDER * STEP]
    n = min(len(feat), len(spec))
    expected_feat = np.load(ref / f"sub-{sub}_feat.npy")
    assert n == len(expected_feat)
    assert _max_rel(feat[:n], expected_feat) <= 1e-9
    assert _max_rel(spec[:n], np.load(ref / f"sub-{sub}_spec.npy")) <= 1e-9
    expected_words = np.load(ref / f"sub-{sub}_procWords.npy").astype(str)
    np.testing.assert_array_equal(labels[:n], expected_words)
    channels = bids.read_tsv(bids.sidecar(parity_dir / "swpd-fixture", sub, "channels.tsv"))
    np.testing.assert_array_equal(
        highgamma.stacked_names(channels["name"].tolist(), ORDER),
        np.load(ref / f"sub-{sub}_feat_names.npy"),
    )


@pytest.mark.parity
def test_reference_features_match_on_real_speech(parity_dir):
    shared = parity_dir.parent / "realspeech"
    if not (shared / "swpd").is_dir():
        pytest.skip(f"the real-speech fixture is not at {shared}")
    ref = shared / "reference" / "verwoert2022"
    ieeg, sound, words = _load(shared / "swpd", "02")
    feat = highgamma.stack(highgamma.extract(ieeg, 1024.0), ORDER, STEP)
    spec = audio.log_mel(sound, 48000.0)[ORDER * STEP : -ORDER * STEP]
    expected_spec = np.load(ref / "sub-02_spec.npy")
    n = len(expected_spec)
    assert _max_rel(feat[:n][::5], np.load(ref / "sub-02_feat_every5.npy")) <= 1e-9
    assert _max_rel(spec[:n], expected_spec) <= 1e-9
    labels = highgamma.window_labels(words, 1024.0)[ORDER * STEP : -ORDER * STEP]
    np.testing.assert_array_equal(labels[:n], np.load(ref / "sub-02_procWords.npy").astype(str))


def test_stack_matches_a_loop_and_rejects_short_input():
    frames = np.random.default_rng(0).standard_normal((60, 3))
    stacked = highgamma.stack(frames, order=2, step=3)
    for row, centre in enumerate(range(6, 54)):
        np.testing.assert_array_equal(stacked[row], frames[centre - 6 : centre + 7 : 3].ravel())
    with pytest.raises(ValueError, match="too few to stack"):
        highgamma.stack(frames[:10], order=2, step=3)


def test_window_labels_majority_ties_to_smallest():
    labels = np.array(["b"] * 5 + ["a"] * 5 + [""] * 15)
    # one 10-sample window at 100 Hz: 5 b, 5 a -> tie -> 'a'
    assert highgamma.window_labels(labels, 100.0, window=0.1, shift=0.1).tolist() == ["a"]


def test_sixty_hz_mains_notches_120():
    sections = highgamma._sos(1024.0, 60.0)
    assert len(sections) == 2  # band-pass + one band-stop at 118-122 Hz
    from scipy import signal

    w, h = signal.sosfreqz(sections[1], worN=[120.0, 100.0], fs=1024.0)
    assert abs(h[0]) < 1e-3 and abs(h[1]) > 0.99
