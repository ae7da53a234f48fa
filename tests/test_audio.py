import numpy as np
import pytest
from scipy import signal
from scipy.io import wavfile

from neurospeech import audio, bids


@pytest.fixture(scope="module")
def speech(realspeech_dir):
    """Eight seconds of real speech at 48 kHz, from the middle of the word list."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bids.RecordingWarning)
        recording = bids.read_recording(realspeech_dir / "swpd", "02")
    start = int(recording.audio_sfreq * 100)
    return recording.audio[start : start + int(recording.audio_sfreq * 8)], recording.audio_sfreq


def test_mel_filterbank_filters_average_the_bins_they_cover():
    weights = audio.mel_filterbank(401, 23, 16000)
    assert weights.shape == (401, 23) and (weights >= 0).all()
    np.testing.assert_allclose(weights.sum(axis=0), 1.0)
    assert (weights.sum(axis=1)[1:] > 0).all()  # every bin but DC feeds some filter


def test_log_mel_input_errors():
    with pytest.raises(ValueError, match="cannot be decimated to 16000 Hz"):
        audio.log_mel(np.ones(44100), 44100.0)
    with pytest.raises(ValueError, match="silent"):
        audio.log_mel(np.zeros(48000), 48000.0)


def _band_r(a, b):
    n = min(len(a), len(b))
    return np.array([np.corrcoef(a[:n, k], b[:n, k])[0, 1] for k in range(a.shape[1])])


def _spectral_convergence(wave, magnitude):
    """Distance of the wave's STFT magnitude to the target, relative to the target."""
    import librosa

    stft = np.abs(librosa.stft(wave, n_fft=800, hop_length=160, window="hann", center=False))
    target = magnitude[:, : stft.shape[1]]
    return np.linalg.norm(stft - target) / np.linalg.norm(target)


@pytest.mark.parity
def test_mel_inversion_and_griffin_lim_on_real_speech(speech):
    sound, sfreq = speech
    spec = audio.log_mel(sound, sfreq)
    magnitude = audio.mel_to_magnitude(spec, 401)
    assert magnitude.shape == (401, len(spec)) and (magnitude >= 0).all()
    reprojected = np.log(magnitude.T @ audio.mel_filterbank(401, 23, 16000) + 1e-7)
    assert np.mean(np.abs(reprojected - spec)) < 0.01
    wave = audio.griffin_lim(spec)
    assert wave.shape == (400 + (len(spec) - 1) * 160,)
    # The phase search works: far closer to a consistent STFT than random phase.
    converged = _spectral_convergence(wave, magnitude)
    assert converged < 0.3 and converged < 0.5 * _spectral_convergence(
        audio.griffin_lim(spec, n_iter=0), magnitude
    )
    # Analysed again, the waveform gives back the spectrogram, frame for frame.
    again = audio.log_mel(signal.resample_poly(wave, 3, 1), 48000.0)[: len(spec)]
    r = _band_r(spec, again)
    assert np.median(r) > 0.95 and r.min() > 0.5
    assert np.mean(np.abs(again - spec[: len(again)])) < 0.3
    np.testing.assert_array_equal(wave, audio.griffin_lim(spec))  # seeded
    assert not np.array_equal(wave, audio.griffin_lim(spec, seed=1))


def test_write_wav_is_16_bit_at_its_rate_and_atomic(tmp_path):
    path = tmp_path / "out" / "sub-01_reconstructed.wav"
    wave = np.sin(np.linspace(0, 200, 1600)) * 0.01
    assert audio.write_wav(path, wave, 16000) == path
    rate, data = wavfile.read(path)
    assert rate == 16000 and data.dtype == np.int16 and np.abs(data).max() == 32767
    before = path.read_bytes()
    broken = wave.copy()
    broken[5] = np.nan
    with pytest.raises(ValueError, match="sub-01_reconstructed.wav: the waveform must be"):
        audio.write_wav(path, broken, 16000)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    audio.write_wav(path, np.zeros(10), 16000)
    assert (wavfile.read(path)[1] == 0).all()


def test_speech_onsets_find_the_planted_onsets(sample_sub01):
    recording, truth = sample_sub01
    words = recording.words
    cues = words["sample"].to_numpy() / recording.sfreq - recording.audio_offset
    onsets = audio.speech_onsets(recording.audio, recording.audio_sfreq, cues, cues + 2.0)
    error = (onsets - np.array(truth["speech_onset"])) * 1000
    assert -10 < error.min() and error.max() < 70, error
    assert abs(np.median(error)) < 10


@pytest.mark.parity
def test_speech_onsets_on_real_speech_mark_where_the_sound_rises(realspeech_dir):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bids.RecordingWarning)
        recording = bids.read_recording(realspeech_dir / "swpd", "02")
    words = recording.words
    cues = words["sample"].to_numpy() / recording.sfreq - recording.audio_offset
    onsets = audio.speech_onsets(recording.audio, recording.audio_sfreq, cues, cues + 2.0)
    assert np.isfinite(onsets).all() and np.all((onsets > cues) & (onsets < cues + 2.0))
    rate = recording.audio_sfreq

    def level(start, stop):
        return np.array(
            [
                np.sqrt(np.mean(recording.audio[int(a * rate) : int(b * rate)] ** 2) + 1e-12)
                for a, b in zip(start, stop)
            ]
        )

    rise = 20 * np.log10(level(onsets, onsets + 0.1) / level(onsets - 0.1, onsets))
    assert np.median(rise) > 10 and np.mean(rise > 3) > 0.95, np.sort(rise)[:5]


def test_speech_onsets_leave_silence_out_and_check_their_input():
    rng = np.random.default_rng(0)
    sfreq = 16000
    sound = rng.standard_normal(4 * sfreq)
    sound[sfreq + 8000 : 2 * sfreq] *= 1000  # speech from 1.5 s in the first window only
    onsets = audio.speech_onsets(sound, sfreq, np.array([1.0, 2.5]), np.array([2.0, 3.5]))
    assert abs(onsets[0] - 1.5) < 0.015 and np.isnan(onsets[1])
    with pytest.raises(ValueError, match="each stop after its start"):
        audio.speech_onsets(sound, sfreq, np.array([1.0]), np.array([0.5]))
    with pytest.raises(ValueError, match="1-D and finite"):
        audio.speech_onsets(np.full(100, np.nan), sfreq, np.array([0.0]), np.array([0.001]))


def test_speech_frames_of_real_speech_are_about_the_words(realspeech_dir):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bids.RecordingWarning)
        recording = bids.read_recording(realspeech_dir / "swpd", "02")
    spec = audio.log_mel(recording.audio, recording.audio_sfreq, 0.05, 0.01)
    speech = audio.speech_mask(spec)
    runs = np.flatnonzero(np.diff(speech.astype(int)) == 1)
    # 100 words of a few hundred ms each in 300 s, and about one run of speech per word
    assert 0.05 < speech.mean() < 0.35, speech.mean()
    assert 60 < len(runs) < 250, len(runs)
    with pytest.raises(ValueError, match="2-D"):
        audio.speech_mask(spec[:, 0])
