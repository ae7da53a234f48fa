"""The acoustic contamination check (Roussel et al. 2020) on real speech and hand cases."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

from neurospeech import audio, bids, contamination
from neurospeech.config import ConfigError

LEAKY = ("RT1", "LA3")  # one speech-responsive contact, one without a planted response


@pytest.fixture(scope="module")
def real_speech(realspeech_dir):
    """Participant 02's real speech with its simulated iEEG (16 channels, 300 s)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bids.RecordingWarning)  # a truncated word, kept
        return bids.read_recording(realspeech_dir / "swpd", "02")


def with_leak(recording, names, peak=80.0):
    """The recording with the microphone's sound added to ``names`` (peak ``peak`` uV)."""
    sound = contamination.sound_on_ieeg(recording)
    sound = np.nan_to_num(sound) / np.nanmax(np.abs(sound))
    ieeg = recording.ieeg.copy()
    for name in names:
        ieeg[:, recording.ch_names.index(name)] += peak * sound
    return dataclasses.replace(recording, ieeg=ieeg)


def test_finds_the_leaky_channels_of_real_speech_and_only_them(real_speech):
    table = contamination.assess(with_leak(real_speech, LEAKY), n_permutations=2000)
    assert list(table["channel"]) == real_speech.ch_names
    assert sorted(table.loc[table["contaminated"], "channel"]) == sorted(LEAKY)
    assert table.attrs["null"] == "both" and table.attrs["correction"] == "fdr"
    leaky = table[table["contaminated"]]
    assert (leaky[["p_frequency", "p_time"]] < 0.001).all().all()


def test_clean_real_speech_flags_nothing_although_high_gamma_follows_speech(real_speech):
    """Speech-responsive contacts are not sound: the frequency null leaves them alone."""
    table = contamination.assess(real_speech, n_permutations=2000)
    assert not table["contaminated"].any()
    alone = contamination.assess(real_speech, null="frequency", n_permutations=2000)
    assert not alone["contaminated"].any() and alone["p_time"].isna().all()
    # the time null asks whether power follows the audio at all: responsive contacts do
    timed = contamination.assess(real_speech, null="time", n_permutations=2000)
    assert timed["contaminated"].sum() >= 8 and timed["p_frequency"].isna().all()


def test_noise_channels_are_flagged_at_most_at_the_nominal_rate(real_speech):
    rng = np.random.default_rng(0)
    n = int(60 * real_speech.sfreq)
    names = [f"N{k}" for k in range(1, 61)]
    noise = dataclasses.replace(
        real_speech,
        ieeg=rng.standard_normal((n, len(names))) * 30,
        channels=real_speech.channels.iloc[[0] * len(names)].assign(name=names),
    )
    table = contamination.assess(noise, n_permutations=999, correction="holm")
    assert (table["p_value"] < 0.05).mean() <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / len(names))
    assert table["contaminated"].sum() <= 1


def test_correlation_matrices_are_pearson_correlations():
    rng = np.random.default_rng(1)
    sound, neural = rng.standard_normal((50, 4)), rng.standard_normal((50, 4, 3))
    matrices = contamination.correlation_matrices(sound, neural)
    for f in range(4):
        for g in range(4):
            for c in range(3):
                expected = np.corrcoef(sound[:, f], neural[:, g, c])[0, 1]
                assert matrices[f, g, c] == pytest.approx(expected)


def test_time_null_is_the_index_of_block_permuted_audio():
    rng = np.random.default_rng(2)
    sound, neural = rng.standard_normal((12, 3)), rng.standard_normal((12, 3, 2))
    observed, null = contamination._time_statistic(
        sound, neural, block=4, n_permutations=5, rng=np.random.default_rng(3)
    )
    zs = (sound - sound.mean(0)) / sound.std(0)
    zn = (neural - neural.mean(0)) / neural.std(0)
    assert observed == pytest.approx(np.einsum("tf,tfc->c", zs, zn) / 36)
    orders = np.random.default_rng(3).permuted(np.tile(np.arange(3), (5, 1)), axis=1)
    for order, draw in zip(orders, null):
        moved = zs.reshape(3, 4, 3)[order].reshape(12, 3)
        assert draw == pytest.approx(np.einsum("tf,tfc->c", moved, zn) / 36)


def test_every_correction_and_a_flat_channel(real_speech):
    leaky = with_leak(real_speech, LEAKY[:1])
    ieeg = leaky.ieeg.copy()
    ieeg[:, 5] = 1.0
    flat = dataclasses.replace(leaky, ieeg=ieeg)
    for correction in ("fdr", "holm", "max"):
        table = contamination.assess(flat, correction=correction, n_permutations=999)
        assert np.isnan(table.loc[5, "statistic"]) and not table.loc[5, "contaminated"]
        assert table.loc[table["contaminated"], "channel"].tolist() == list(LEAKY[:1])


def test_audio_that_does_not_cover_the_ieeg(real_speech):
    late = dataclasses.replace(real_speech, audio_offset=real_speech.duration - 5)
    with pytest.raises(ValueError, match=r"ieeg\.nwb: the audio covers 5\.0 s"):
        contamination.assess(late)
    partly = dataclasses.replace(real_speech, audio_offset=30.0)
    with pytest.warns(bids.RecordingWarning, match=r"ieeg\.nwb: the audio does not cover 30\.00 s"):
        table = contamination.assess(partly, n_permutations=99)
    assert table.attrs["n_frames"] == 2700  # the whole 1 s blocks of the 270 s covered


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"null": "phase"}, "null must be one of both, frequency, time"),
        ({"correction": "bonferroni"}, "correction must be one of"),
        ({"alpha": 1.5}, "alpha"),
        ({"fmin": 200.0, "fmax": 100.0}, "band"),
        ({"n_permutations": 0}, "n_permutations"),
    ],
)
def test_bad_options_are_refused(real_speech, options, message):
    with pytest.raises(ConfigError, match=message):
        contamination.assess(real_speech, **options)


def test_a_band_above_nyquist_is_refused(real_speech):
    with pytest.raises(ValueError, match="Nyquist"):
        contamination.assess(real_speech, fmax=600.0)


def test_on_clock_places_and_resamples():
    sfreq, target = 48000.0, 1024.0
    t = np.arange(int(2 * sfreq)) / sfreq
    wave = np.sin(2 * np.pi * 100 * t)
    placed = audio.on_clock(wave, sfreq, target, 4096, offset=1.0)
    assert np.isnan(placed[:1024]).all() and np.isnan(placed[3072:]).all()
    inside = placed[1100:3000]
    expected = np.sin(2 * np.pi * 100 * (np.arange(1100, 3000) / target - 1.0))
    np.testing.assert_allclose(inside, expected, atol=0.02)
