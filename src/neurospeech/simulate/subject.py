"""Simulate one participant of a word-reading sEEG experiment, in memory."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from neurospeech import audio as audio_features
from neurospeech.simulate import anatomy, neural, speech
from neurospeech.simulate.params import SimulationParams
from neurospeech.simulate.timeline import Timeline

if TYPE_CHECKING:
    from neurospeech.simulate.like import Layout

TASK = "wordProduction"
#: Seconds of recording kept after the last word cue ends, as in the real files.
TAIL = 0.3
#: Latent response window relative to the word cue, in seconds (inside a 1 s trial).
LATENT_WINDOW = (0.2, 1.0)
#: Peak amplitude of the int16 audio.
AUDIO_PEAK = 16000


@dataclass
class SimulatedSubject:
    """One simulated participant, with everything needed to write it as BIDS.

    Attributes
    ----------
    subject : str
        BIDS label without ``sub-``.
    ieeg : ndarray, shape (n_samples, n_channels)
        Voltage in microvolts, float64.
    timestamps : ndarray, shape (n_samples,)
        Absolute (LSL-like) clock of every iEEG sample, in seconds.
    audio : ndarray, shape (n_audio,)
        int16 microphone signal starting at ``timestamps[0]``.
    stimulus : ndarray, shape (n_samples,)
        The word on screen at each iEEG sample, ``''`` during fixation.
    events, channels, electrodes : DataFrame
        The rows of ``events.tsv``, ``channels.tsv`` and ``electrodes.tsv``.
    truth : dict
        The planted values (see :func:`simulate_subject`).
    """

    subject: str
    ieeg: np.ndarray
    timestamps: np.ndarray
    audio: np.ndarray
    stimulus: np.ndarray
    events: pd.DataFrame
    channels: pd.DataFrame
    electrodes: pd.DataFrame
    truth: dict[str, Any]


def word_latent(word: str, n_dims: int, seed: int) -> np.ndarray:
    """Return the planted word-level latent property of ``word``.

    It depends only on the word, the dataset seed and ``n_dims``, so a word has the
    same latent value in every participant, like a semantic property would.
    """
    digest = hashlib.sha256(f"{seed}:{word}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    return rng.standard_normal(n_dims)


def _timeline(words: list[str], params: SimulationParams) -> Timeline:
    """Make the sample's timeline: :func:`_events`, then :data:`TAIL` s after the last cue."""
    duration = (params.n_words - 1) * params.trial_duration + params.word_duration + TAIL
    return Timeline(_events(words, params), int(duration * params.sfreq), duration)


def _events(words: list[str], params: SimulationParams) -> pd.DataFrame:
    """Alternating ``word`` and ``fixation`` rows, the last fixation dropped."""
    rows = []
    for k, word in enumerate(words):
        onset = k * params.trial_duration
        rows.append((onset, params.word_duration, "word", word))
        if k < len(words) - 1:
            rows.append((onset + params.word_duration, params.fixation_duration, "fixation", "+"))
    events = pd.DataFrame(rows, columns=["onset", "duration", "trial_type", "value"])
    events["sample"] = np.round(events["onset"] * params.sfreq).astype(int)
    return events


def _contamination(params: SimulationParams, index: int, planted: np.ndarray) -> np.ndarray:
    """Peak gain (uV) of the leaked sound on each contact, 0 where there is none.

    Drawn from a stream of its own, so that the rest of the participant is the same with
    or without contamination; contacts without planted responses are chosen first.
    """
    rng = np.random.default_rng([params.seed, index, 21])
    count = params.n_contaminated[index]
    order = np.concatenate(
        [rng.permutation(np.flatnonzero(~planted)), rng.permutation(np.flatnonzero(planted))]
    )
    gain = np.zeros(planted.size)
    gain[order[:count]] = params.contamination_gain * rng.uniform(0.75, 1.25, count)
    return gain


def _timing(
    params: SimulationParams, index: int, responsive: np.ndarray, latent: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Gain and lag (ms) of the contacts that follow only the speech timing (else 0).

    Drawn from a stream of their own among the contacts that do not follow the speech,
    those without a latent response first.
    """
    rng = np.random.default_rng([params.seed, index, 23])
    count = params.n_timing_channels[index]
    order = np.concatenate(
        [
            rng.permutation(np.flatnonzero(~responsive & ~latent)),
            rng.permutation(np.flatnonzero(~responsive & latent)),
        ]
    )
    gain, lag_ms = np.zeros(responsive.size), np.zeros(responsive.size, dtype=int)
    gain[order[:count]] = rng.uniform(2, 5, count)
    lag_ms[order[:count]] = rng.integers(*params.lag_range_ms, count, endpoint=True)
    return gain, lag_ms


def simulate_subject(
    params: SimulationParams, index: int, like: Layout | None = None
) -> SimulatedSubject:
    """Simulate participant ``index`` (0-based) of a dataset.

    The random stream depends on ``params.seed`` and ``index`` only, so a participant
    is the same whatever the number of participants.

    Parameters
    ----------
    params : SimulationParams
        The dataset parameters.
    index : int
        0-based participant index; the BIDS label is ``index + 1``, zero-padded.
    like : Layout, optional
        An existing participant's layout (:func:`neurospeech.simulate.like.read_layout`):
        its label, task (words and their timing, recording length) and channels (names,
        order, descriptions) replace those drawn here; contacts without positions get
        made-up ones (:func:`~neurospeech.simulate.anatomy.implant_named`).

    Returns
    -------
    subject : SimulatedSubject
        Its ``truth`` holds, per channel, ``responsive``, ``gain``, ``lag_ms`` (negative:
        the brain leads the audio), ``base`` (high-gamma baseline amplitude, uV),
        ``band_weights`` (mix of :data:`neural.SPEECH_BANDS` envelopes),
        ``timing_channel``, ``timing_gain`` and ``timing_lag_ms`` (high-gamma following
        only when speech happens), ``latent_gain``, ``latent_weights``, ``contaminated``
        and ``contamination_gain``
        (peak uV of the leaked sound); per trial ``words``, ``speech_onset``,
        ``speech_offset`` (seconds from the recording start) and ``latent``.
    """
    rng = np.random.default_rng([params.seed, index])
    label = f"{index + 1:02d}" if like is None else like.subject
    n_ch = params.n_channels[index]
    sfreq, audio_sfreq = params.sfreq, params.audio_sfreq

    # --- timeline: words, cues, speech timing, audio ------------------------------------
    if like is None:
        replace = params.n_words > len(speech.VOCABULARY)
        drawn = rng.choice(speech.VOCABULARY, params.n_words, replace=replace)
        timeline = _timeline([str(w) for w in drawn], params)
    else:
        timeline = like.timeline
    trials = timeline.trials
    words = trials["value"].astype(str).tolist()
    events, n_samples = timeline.events, timeline.n_samples
    n_audio = int(round(timeline.duration * audio_sfreq))
    cues = trials["onset"].to_numpy(float)

    speaker = speech.Speaker.random(rng)
    audio = rng.standard_normal(n_audio) * 8.0 / AUDIO_PEAK  # room noise
    onsets, offsets = np.zeros(len(words)), np.zeros(len(words))
    for k, (word, shown) in enumerate(zip(words, trials["duration"])):
        max_speech = shown - params.speech_delay[1] - 0.1
        wave = speech.synthesize_word(word, speaker, audio_sfreq, rng, max_speech)
        wave *= np.exp(rng.normal(0, 0.15))
        onsets[k] = cues[k] + rng.uniform(*params.speech_delay)
        first = int(round(onsets[k] * audio_sfreq))
        audio[first : first + wave.size] += wave[: n_audio - first]
        offsets[k] = (first + wave.size) / audio_sfreq
    audio_int16 = np.round(audio / np.max(np.abs(audio)) * AUDIO_PEAK).astype(np.int16)

    stimulus = timeline.stimulus(sfreq)

    # --- implantation and planted responses -----------------------------------------
    if like is None:
        electrodes = anatomy.implant(n_ch, rng)
    elif like.electrodes is None:
        electrodes = anatomy.implant_named(like.channels["name"].tolist(), rng)
    else:
        electrodes = like.electrodes
    score = -anatomy.speech_proximity(electrodes) + rng.normal(0, 10, n_ch)
    responsive = np.zeros(n_ch, bool)
    responsive[np.argsort(-score)[: params.n_responsive[index]]] = True
    latent_ch = np.zeros(n_ch, bool)
    latent_ch[rng.permutation(n_ch)[: params.n_latent_channels[index]]] = True

    base = rng.uniform(3, 12, n_ch)
    gain = np.where(responsive, rng.uniform(2, 5, n_ch), 0.0)
    lag_ms = np.where(responsive, rng.integers(*params.lag_range_ms, n_ch, endpoint=True), 0)
    band_weights = rng.dirichlet(np.full(len(neural.SPEECH_BANDS), 2.0), n_ch)
    latent_gain = np.where(latent_ch, rng.uniform(0.6, 1.5, n_ch), 0.0)
    latent_weights = rng.standard_normal((n_ch, params.n_latent_dims))
    latent_weights /= np.linalg.norm(latent_weights, axis=1, keepdims=True)
    latent = np.array([word_latent(w, params.n_latent_dims, params.seed) for w in words])

    # --- neural signal ----------------------------------------------------------------
    drive = neural.speech_drive(audio_int16, audio_sfreq, sfreq, n_samples) @ band_weights.T
    speech_part = np.column_stack(
        [neural.shift(drive[:, c], int(round(lag_ms[c] * sfreq / 1000))) for c in range(n_ch)]
    )
    latent_part = neural.trial_course(
        n_samples, sfreq, cues, np.exp(0.5 * latent @ latent_weights.T), *LATENT_WINDOW
    )
    timing_gain, timing_lag_ms = _timing(params, index, responsive, latent_ch)
    spoken = neural.steps(n_samples, sfreq, onsets, offsets)
    timing_part = np.column_stack(
        [neural.shift(spoken, int(round(lag * sfreq / 1000))) for lag in timing_lag_ms]
    )
    amplitude = base * (
        1 + gain * speech_part + latent_gain * latent_part + timing_gain * timing_part
    )
    ieeg = amplitude * neural.high_gamma_noise(n_samples, n_ch, sfreq, rng)
    ieeg += rng.uniform(20, 60, n_ch) * neural.pink_noise(n_samples, n_ch, sfreq, rng)
    ieeg += neural.line_noise(n_samples, n_ch, sfreq, params.line_freq, rng)
    leak_gain = _contamination(params, index, responsive | latent_ch | (timing_gain > 0))
    if leak_gain.any():
        sound = np.nan_to_num(audio_features.on_clock(audio_int16, audio_sfreq, sfreq, n_samples))
        ieeg += sound[:, None] / np.abs(sound).max() * leak_gain

    clock_start = float(np.round(rng.uniform(1e6, 1e7), 6))
    timestamps = clock_start + np.arange(n_samples) / sfreq

    channels = (
        like.channels
        if like is not None
        else pd.DataFrame(
            {
                "name": electrodes["name"],
                "type": "SEEG",
                "units": "µV",
                "low_cutoff": 0.0,
                "high_cutoff": sfreq / 2,
                "description": anatomy.labels(electrodes),
                "sampling_frequency": sfreq,
                "status": "good",
            }
        )
    )
    truth = {
        "subject": label,
        "channels": electrodes["name"].tolist(),
        "responsive": responsive.tolist(),
        "gain": gain.tolist(),
        "lag_ms": [int(v) for v in lag_ms],
        "base": base.tolist(),
        "band_weights": band_weights.tolist(),
        "speech_bands_hz": [list(b) for b in neural.SPEECH_BANDS],
        "timing_channel": (timing_gain > 0).tolist(),
        "timing_gain": timing_gain.tolist(),
        "timing_lag_ms": [int(v) for v in timing_lag_ms],
        "latent_channel": latent_ch.tolist(),
        "latent_gain": latent_gain.tolist(),
        "latent_weights": latent_weights.tolist(),
        "latent_window_s": list(LATENT_WINDOW),
        "words": words,
        "speech_onset": onsets.tolist(),
        "speech_offset": offsets.tolist(),
        "latent": latent.tolist(),
        "contaminated": (leak_gain > 0).tolist(),
        "contamination_gain": leak_gain.tolist(),
        "speaker": {"f0": speaker.f0, "formant_scale": speaker.formant_scale},
    }
    if like is not None:
        truth["like"] = {"dataset": str(like.root), "electrodes_made_up": like.electrodes is None}
    return SimulatedSubject(
        subject=label,
        ieeg=ieeg,
        timestamps=timestamps,
        audio=audio_int16,
        stimulus=stimulus,
        events=events,
        channels=channels,
        electrodes=electrodes,
        truth=truth,
    )
