import numpy as np
import pytest
from scipy import fftpack, signal

from neurospeech import bids, highgamma


def _max_rel(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


@pytest.mark.parametrize("sfreq", [1024.0, 1000.0])
def test_window_means_equal_the_reference_window_loop(sfreq):
    x = np.random.default_rng(1).standard_normal((3001, 3)) + 100.0
    frames = highgamma.window_means(x, sfreq)
    n_windows = int(np.floor((x.shape[0] - 0.05 * sfreq) / (0.01 * sfreq)))
    assert frames.shape == (n_windows, 3)
    for win in range(n_windows):
        start = int(np.floor(win * 0.01 * sfreq))
        stop = int(np.floor(start + 0.05 * sfreq))
        np.testing.assert_allclose(frames[win], x[start:stop].mean(axis=0), rtol=1e-13)


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


def test_sixty_hz_mains_notches_120_and_180():
    sections = highgamma._sos(1024.0, 60.0)
    assert len(sections) == 3  # band-pass + band-stops at 118-122 and 178-182 Hz
    for sos, notch in zip(sections[1:], (120.0, 180.0)):
        _, h = signal.sosfreqz(sos, worN=[notch, notch - 10], fs=1024.0)
        assert abs(h[0]) < 1e-3 and abs(h[1]) > 0.99


def _literal_reference(x, sfreq):
    """The published extractHG chain, statement by statement (before windowing)."""
    data = signal.detrend(x, axis=0)
    for sos in highgamma._sos(sfreq, 50.0):
        data = signal.sosfiltfilt(sos, data, axis=0)
    return np.abs(signal.hilbert(data, fftpack.next_fast_len(len(data)), axis=0)[: len(data)])


@pytest.mark.parametrize("n", [3000, 3007])  # 3007: fftpack pads to 3072, scipy.fft to 3024
def test_reference_method_equals_the_literal_chain(n):
    x = np.random.default_rng(n).standard_normal((n, 11)) * 50 + np.linspace(0, 300, n)[:, None]
    expected = _literal_reference(x, 1024.0)
    env = highgamma.envelope(x, 1024.0)
    assert _max_rel(env, expected) < 1e-12
    frames = highgamma.extract(x, 1024.0, n_jobs=2)
    assert _max_rel(frames, highgamma.window_means(expected, 1024.0)) < 1e-12


def test_fft_length_is_the_reference_fast_length():
    for n in range(1000, 5000, 37):
        assert highgamma._fft_length(n) == fftpack.next_fast_len(n)


def _fft_vs_reference(x, sfreq):
    """Worst-channel Pearson r and max relative error of method="fft" against the reference.

    Relative error: each frame's difference over its channel's largest frame; reported
    for frames more than 1 s from either end (the acceptance) and for all frames.
    """
    ref = highgamma.extract(x, sfreq)
    fast = highgamma.extract(x, sfreq, method="fft")
    rel = np.abs(fast - ref) / np.abs(ref).max(axis=0)
    inner = slice(101, -101)  # 10 ms frames; a 50 ms window ends 1 s + 10 ms from the edge
    r = min(np.corrcoef(ref[inner, c], fast[inner, c])[0, 1] for c in range(ref.shape[1]))
    return r, rel[inner].max(), rel.max()


@pytest.mark.parity
def test_fft_method_matches_the_reference(parity_dir):
    ieeg = bids.read_recording(parity_dir / "swpd-fixture", "01").ieeg
    r, inner, everywhere = _fft_vs_reference(ieeg, 1024.0)
    assert r >= 0.99999
    assert inner <= 1e-3
    assert everywhere <= 1e-4  # the reference's edges are restored too


def test_fft_method_on_white_noise_with_a_trend_and_offset():
    rng = np.random.default_rng(3)
    n = 40 * 1024  # long enough for the frequency-domain path (short input takes the chain)
    x = rng.standard_normal((n, 5)) * 20 + 3000 + np.linspace(-500, 800, n)[:, None]
    r, inner, everywhere = _fft_vs_reference(x, 1024.0)
    assert r >= 0.99999
    assert inner <= 1e-3 and everywhere <= 1e-4


def test_fft_method_on_short_input_is_the_reference_chain():
    x = np.random.default_rng(4).standard_normal((20 * 1024, 3))
    np.testing.assert_array_equal(
        highgamma.extract(x, 1024.0, method="fft"), highgamma.extract(x, 1024.0)
    )


@pytest.mark.parametrize("method", highgamma.METHODS)
def test_a_non_finite_channel_stays_in_its_channel(method):
    x = np.random.default_rng(0).standard_normal((30 * 1024, 10))
    clean = highgamma.extract(x, 1024.0, method=method)
    x[100, 9] = np.nan
    frames = highgamma.extract(x, 1024.0, method=method)
    assert np.isnan(frames[:, 9]).all()
    np.testing.assert_allclose(frames[:, :9], clean[:, :9], rtol=1e-6)


@pytest.mark.parametrize("method", highgamma.METHODS)
def test_extract_is_the_windowed_envelope_and_threads_change_nothing(method):
    x = np.random.default_rng(1).standard_normal((30 * 1024, 19))
    env = highgamma.envelope(x, 1024.0, method=method)
    one = highgamma.extract(x, 1024.0, method=method)
    np.testing.assert_allclose(one, highgamma.window_means(env, 1024.0), rtol=1e-6)
    np.testing.assert_array_equal(one, highgamma.extract(x, 1024.0, method=method, n_jobs=2))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ieeg": np.zeros(100)}, "must be 2-D"),
        ({"ieeg": np.zeros((0, 4))}, "no data"),
        ({"method": "mne"}, "method must be one of"),
        ({"n_jobs": 0}, "n_jobs must be"),
        ({"ieeg": np.zeros((40, 2))}, "shorter than one"),
    ],
)
def test_extract_rejects_bad_arguments(kwargs, message):
    args = {"ieeg": np.zeros((2048, 3)), "sfreq": 1024.0, **kwargs}
    with pytest.raises(ValueError, match=message):
        highgamma.extract(**args)
