"""Nuisance features: when speech happens and how loud it is, without what is said.

An encoding model of overt speech can score by tracking *when* the participant speaks
(every trial has a cue, a speech onset and a spoken word) rather than *what* is said.
These frame-aligned features carry that timing and the coarse acoustics, so that a
model layer's contribution can be measured beyond them
(:func:`neurospeech.encoding.unique_variance`):

- ``voice activity``: the probability of speech from the Silero voice-activity model
  (:func:`neurospeech.audio.voice_activity`);
- ``envelope``: the broadband amplitude envelope (RMS of the 16 kHz audio in each
  50 ms window);
- ``onsets``: acoustic onsets, the half-wave rectified derivative of that envelope;
- ``f0`` and ``voicing``: pitch (log2 of F0 relative to the recording's median, 0 where
  unvoiced) and the probability of voicing, from probabilistic YIN (``librosa.pyin``)
  at 8 kHz;
- ``speaking``: 1 from each word's speech onset to its offset (:func:`speech_times`:
  the energy's edges within the voice activity), else 0;
- ``cue`` and ``speech onset``: impulses at each word cue and at each word's speech
  onset.

Every column is on the neural frame grid of :func:`neurospeech.highgamma.extract`,
placed as the log-mel spectrogram is (:func:`neurospeech.embeddings.extract.log_mel_frames`).
"""

from __future__ import annotations

import warnings

import numpy as np

from neurospeech import audio, highgamma
from neurospeech.bids import Recording

#: The columns of :func:`frames`, in order.
COLUMNS = (
    "voice activity",
    "envelope",
    "onsets",
    "f0",
    "voicing",
    "speaking",
    "cue",
    "speech onset",
)
#: Rate (Hz) at which pitch is tracked: F0 of speech is far below its Nyquist rate.
PITCH_SFREQ = 8000
#: F0 search range (Hz) of :func:`pitch`.
F0_RANGE = (60.0, 400.0)


def envelope(
    waveform: np.ndarray, sfreq: float, *, window: float = 0.05, shift: float = 0.01
) -> np.ndarray:
    """RMS amplitude of the 16 kHz audio in windows of ``window`` s every ``shift`` s.

    The windows are those of :func:`neurospeech.audio.log_mel` (the reference's placement).

    Returns
    -------
    rms : ndarray, shape (n_windows,)
        In units of the audio's peak.
    """
    x = audio.resample(waveform, sfreq, audio.TARGET_SFREQ)
    peak = np.abs(x).max()
    x = x / peak if peak > 0 else x
    starts, length = highgamma.windows(len(x), audio.TARGET_SFREQ, window, shift)
    power = np.concatenate([[0.0], np.cumsum(x**2)])
    return np.sqrt((power[starts + length] - power[starts]) / length)


def pitch(waveform: np.ndarray, sfreq: float, *, shift: float = 0.01):
    """F0 and voicing probability every ``shift`` s (``librosa.pyin`` at 8 kHz).

    Returns
    -------
    times : ndarray, shape (n_frames,)
        Frame centres in seconds from the first sample.
    f0 : ndarray, shape (n_frames,)
        log2 of F0 over the median voiced F0; 0 where unvoiced.
    voicing : ndarray, shape (n_frames,)
        Probability that the frame is voiced.
    """
    import librosa

    x = audio.resample(waveform, sfreq, PITCH_SFREQ)
    peak = np.abs(x).max()
    x = (x / peak if peak > 0 else x).astype(np.float32)
    hop = int(round(shift * PITCH_SFREQ))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # librosa on frames with no pitch
        f0, voiced, probability = librosa.pyin(
            x, fmin=F0_RANGE[0], fmax=F0_RANGE[1], sr=PITCH_SFREQ, frame_length=512, hop_length=hop
        )
    voiced = voiced & np.isfinite(f0)
    relative = np.zeros(len(f0))
    if voiced.any():
        relative[voiced] = np.log2(f0[voiced] / np.median(f0[voiced]))
    return np.arange(len(f0)) * hop / PITCH_SFREQ, relative, np.nan_to_num(probability)


def impulses(times: np.ndarray, centres: np.ndarray, window: float) -> np.ndarray:
    """Mark with a 1 the frame whose centre is nearest each time, else 0.

    Times outside the frames (``window`` s long, centred at ``centres``) and NaN mark none.
    """
    out = np.zeros(len(centres))
    times = np.asarray(times, float)
    inside = np.isfinite(times)
    inside[inside] = (times[inside] >= centres[0] - window / 2) & (
        times[inside] <= centres[-1] + window / 2
    )
    out[np.abs(centres[None, :] - times[inside][:, None]).argmin(axis=1)] = 1.0
    return out


def frames(recording: Recording, *, window: float = 0.05, shift: float = 0.01) -> np.ndarray:
    """Compute the nuisance features of a recording on its neural frame grid.

    Parameters
    ----------
    recording : Recording
    window, shift : float
        The neural frames (as :func:`neurospeech.highgamma.extract`).

    Returns
    -------
    features : ndarray, shape (1, n_frames, len(COLUMNS)), float32
        One layer (as every space of :func:`neurospeech.embeddings.frame_level`), the
        columns of :data:`COLUMNS`.
    """
    from neurospeech.embeddings import extract

    rate = recording.audio_sfreq
    level = envelope(recording.audio, rate, window=window, shift=shift)
    # the audio-clock features, each at the centres of the envelope's windows
    centres = np.arange(len(level)) * shift + window / 2
    vad_times, vad = audio.voice_activity(recording.audio, rate)
    pitch_times, f0, voicing = pitch(recording.audio, rate, shift=shift)
    rises = np.maximum(np.diff(level, prepend=level[0]), 0.0)
    on_audio = np.column_stack(
        [
            np.interp(centres, vad_times, vad),
            level,
            rises,
            np.interp(centres, pitch_times, f0),
            np.interp(centres, pitch_times, voicing),
        ]
    )
    placed = extract.on_neural_frames(on_audio, recording, shift, window)
    neural_centres = extract.neural_frame_centres(recording, window, shift)
    cues = recording.trials()["sample"].to_numpy() / recording.sfreq
    onsets, offsets = speech_times(recording, (vad_times, vad))
    spoken = (neural_centres[:, None] >= onsets) & (neural_centres[:, None] < offsets)
    events = np.column_stack(
        [
            spoken.any(axis=1),
            impulses(cues, neural_centres, window),
            impulses(onsets, neural_centres, window),
        ]
    )
    return np.hstack([placed, events]).astype(np.float32)[None]


def speech_times(
    recording: Recording, activity: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Find the speech onset and offset of each word's trial, on the iEEG clock.

    The one place the analyses find when each word is spoken: the energy onset
    (:func:`neurospeech.audio.speech_onsets`) within the voice activity
    (:func:`neurospeech.audio.voice_activity`) of each trial, from its cue to its end;
    the offset is the onset of the time-reversed audio.

    Parameters
    ----------
    recording : Recording
    activity : (times, probability), optional
        The recording's voice activity, if already computed.

    Returns
    -------
    onsets, offsets : ndarray, shape (n_trials,)
        Seconds from the first iEEG sample; NaN where the trial holds no speech.
    """
    trials = recording.trials()
    cues = trials["sample"].to_numpy() / recording.sfreq
    stops = cues + trials["duration"].to_numpy(dtype=float)
    offset, rate = recording.audio_offset, recording.audio_sfreq
    if activity is None:
        activity = audio.voice_activity(recording.audio, rate)
    onsets = audio.speech_onsets(
        recording.audio, rate, cues - offset, stops - offset, activity=activity
    )
    end = len(recording.audio) / rate
    times, probability = activity
    reversed_onsets = audio.speech_onsets(
        recording.audio[::-1],
        rate,
        end - (stops - offset),
        end - (cues - offset),
        activity=(end - times[::-1], probability[::-1]),
    )
    return onsets + offset, end - reversed_onsets + offset
