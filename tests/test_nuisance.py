"""The nuisance features: voice activity, speech timing, envelope, onsets and pitch."""

import dataclasses
import warnings

import numpy as np
import pytest

from neurospeech import audio, bids, embeddings, highgamma, nuisance
from neurospeech.simulate import read_truth


def test_voice_activity_hears_real_speech_and_not_silence(realspeech_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bids.RecordingWarning)
        recording = bids.read_recording(realspeech_dir / "swpd", "02")
    times, probability = audio.voice_activity(recording.audio, recording.audio_sfreq)
    assert times[1] - times[0] == pytest.approx(audio.VAD_HOP)
    assert len(times) == pytest.approx(len(recording.audio) / recording.audio_sfreq / 0.032, abs=2)
    onsets, offsets = nuisance.speech_times(recording, (times, probability))
    assert np.isfinite(onsets).all() and np.all(offsets > onsets)
    spoken = np.zeros(len(times), bool)
    for first, last in zip(onsets - recording.audio_offset, offsets - recording.audio_offset):
        spoken |= (times >= first + 0.05) & (times < last - 0.05)
    # speech inside the words found, little outside (between words, the microphone hears
    # the room)
    assert np.median(probability[spoken]) > 0.5
    assert np.mean(probability[~spoken] > audio.VAD_THRESHOLD) < 0.15
    silence = np.zeros(16000 * 3)
    assert audio.voice_activity(silence, 16000)[1].max() < audio.VAD_THRESHOLD
    with pytest.raises(ValueError, match="1-D and finite"):
        audio.voice_activity(np.full(100, np.nan), 16000)


def test_speech_times_find_the_planted_onsets_and_offsets(sample_sub01):
    recording, truth = sample_sub01
    onsets, offsets = nuisance.speech_times(recording)
    onset_error = (onsets - np.array(truth["speech_onset"])) * 1000
    offset_error = (offsets - np.array(truth["speech_offset"])) * 1000
    assert -10 < onset_error.min() and onset_error.max() < 70, onset_error
    assert -40 < offset_error.min() and offset_error.max() < 20, offset_error


def test_speech_onsets_need_voice_activity_when_given():
    rng = np.random.default_rng(0)
    sfreq = 16000
    sound = rng.standard_normal(4 * sfreq)
    sound[sfreq + 8000 : 2 * sfreq] *= 1000  # a loud burst in the first window
    times = (np.arange(125) + 0.5) * audio.VAD_HOP
    quiet = (times, np.zeros(125))  # the voice-activity model heard no speech
    found = audio.speech_onsets(sound, sfreq, np.array([1.0]), np.array([2.0]), activity=quiet)
    assert np.isnan(found).all()
    heard = (times, ((times > 1.6) & (times < 2.0)).astype(float))
    found = audio.speech_onsets(sound, sfreq, np.array([1.0]), np.array([2.0]), activity=heard)
    assert abs(found[0] - 1.5) < 0.015  # the energy times it, within lead of the activity


def test_pitch_tracks_a_tone_and_leaves_noise_unvoiced():
    sfreq = 16000
    t = np.arange(2 * sfreq) / sfreq
    tone = np.where(t < 1.0, np.sin(2 * np.pi * 150 * t), 0.0)
    tone += np.where(t >= 1.0, np.sin(2 * np.pi * 300 * t), 0.0)
    tone += 0.01 * np.random.default_rng(0).standard_normal(len(t))
    times, f0, voicing = nuisance.pitch(tone, sfreq)
    low, high = (times > 0.2) & (times < 0.8), (times > 1.2) & (times < 1.8)
    # log2 of F0 over the median voiced F0: an octave apart
    assert np.median(f0[high]) - np.median(f0[low]) == pytest.approx(1.0, abs=0.05)
    assert np.median(voicing[low]) > 0.5


def test_nuisance_frames_are_on_the_neural_grid_and_mark_the_speech(tiny_dataset, tmp_path):
    recording = bids.read_recording(tiny_dataset, "01")
    truth = read_truth(tiny_dataset, "01")
    frames = embeddings.frame_level("nuisance", recording, cache_dir=tmp_path)
    n_frames = len(highgamma.extract(recording.ieeg[:, :1], recording.sfreq))
    assert frames.shape == (1, n_frames, len(nuisance.COLUMNS)) and frames.dtype == np.float32
    columns = dict(zip(nuisance.COLUMNS, frames[0].T))
    centres = np.arange(n_frames) * 0.01 + 0.025
    planted = np.zeros(n_frames, bool)
    for onset, offset in zip(truth["speech_onset"], truth["speech_offset"]):
        planted |= (centres >= onset) & (centres < offset)
    assert np.mean(columns["speaking"].astype(bool) == planted) > 0.98
    assert columns["cue"].sum() == len(recording.words)
    assert columns["speech onset"].sum() == len(recording.words)
    assert columns["envelope"][planted].mean() > 5 * columns["envelope"][~planted].mean()
    assert columns["voicing"][planted].mean() > columns["voicing"][~planted].mean()
    assert np.corrcoef(columns["voice activity"], planted)[0, 1] > 0.5
    with pytest.raises(ValueError, match="no word-level features"):
        embeddings.word_level("nuisance", recording)
    # the speech onsets of the contrastive decoder are these, one place
    from neurospeech.contrastive import data

    prepared = data.participant(dataclasses.replace(recording))
    np.testing.assert_allclose(prepared.onsets, nuisance.speech_times(recording)[0])
