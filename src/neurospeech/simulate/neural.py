"""Simulated sEEG: 1/f background, line noise and speech-driven high-gamma activity."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from scipy import signal

#: Audio bands (Hz) whose envelopes drive high gamma; each responsive contact mixes them.
SPEECH_BANDS: tuple[tuple[float, float], ...] = (
    (80.0, 600.0),
    (600.0, 1800.0),
    (1800.0, 4000.0),
    (4000.0, 7500.0),
)
#: The high-gamma band in Hz, as defined by the dataset's reference code.
HIGH_GAMMA = (70.0, 170.0)


def speech_drive(audio: np.ndarray, audio_sfreq: float, sfreq: float, n_samples: int):
    """Band envelopes of the audio on the neural time grid.

    Parameters
    ----------
    audio : ndarray, shape (n_audio,)
        The waveform (any scale).
    audio_sfreq : float
        Its sampling rate in Hz.
    sfreq : float
        The neural sampling rate in Hz.
    n_samples : int
        Number of neural samples to return.

    Returns
    -------
    drive : ndarray, shape (n_samples, len(SPEECH_BANDS))
        Each band's amplitude envelope (smoothed below 20 Hz), scaled so that its
        99.5th percentile is 1.
    """
    # Work at 16 kHz: every band is below its Nyquist rate, and it is 3x cheaper.
    ratio = Fraction(16000, int(round(audio_sfreq))).limit_denominator(1000)
    x = signal.resample_poly(audio.astype(float), ratio.numerator, ratio.denominator)
    to_neural = Fraction(sfreq / 16000).limit_denominator(1000)
    smooth = signal.butter(2, 20.0, fs=sfreq, output="sos")
    drive = np.zeros((n_samples, len(SPEECH_BANDS)))
    for b, band in enumerate(SPEECH_BANDS):
        sos = signal.butter(4, band, btype="bandpass", fs=16000, output="sos")
        power = signal.sosfiltfilt(sos, x) ** 2
        power = signal.resample_poly(power, to_neural.numerator, to_neural.denominator)
        env = np.sqrt(np.clip(signal.sosfiltfilt(smooth, power), 0, None))
        n = min(n_samples, env.size)
        drive[:n, b] = env[:n]
    scale = np.percentile(drive, 99.5, axis=0)
    return drive / np.where(scale > 0, scale, 1.0)


def _spectral_noise(n: int, n_channels: int, sfreq: float, gain, rng: np.random.Generator):
    """Gaussian noise with amplitude spectrum ``gain(freqs)``, unit variance per channel."""
    white = rng.standard_normal((n_channels, n))
    spec = np.fft.rfft(white, axis=1)
    spec *= gain(np.fft.rfftfreq(n, 1 / sfreq))
    out = np.fft.irfft(spec, n=n, axis=1)
    out /= out.std(axis=1, keepdims=True)
    return out.T


def pink_noise(n: int, n_channels: int, sfreq: float, rng: np.random.Generator) -> np.ndarray:
    """1/f (pink) background of shape (n, n_channels), unit variance per channel."""
    return _spectral_noise(n, n_channels, sfreq, lambda f: 1 / np.sqrt(np.maximum(f, 0.5)), rng)


def high_gamma_noise(n: int, n_channels: int, sfreq: float, rng: np.random.Generator):
    """Noise confined to 70-170 Hz with smooth 5 Hz edges, unit variance per channel."""
    lo, hi = HIGH_GAMMA

    def band(f):
        rise = np.clip((f - (lo - 5)) / 10, 0, 1)
        fall = np.clip(((hi + 5) - f) / 10, 0, 1)
        return np.sin(0.5 * np.pi * rise) * np.sin(0.5 * np.pi * fall)

    return _spectral_noise(n, n_channels, sfreq, band, rng)


def line_noise(n: int, n_channels: int, sfreq: float, line_freq: float, rng: np.random.Generator):
    """Power-line interference and its harmonics below Nyquist, in microvolts.

    The fundamental has an amplitude of 5-30 uV per channel; the k-th harmonic 1/k of it.
    """
    t = np.arange(n) / sfreq
    amp = rng.uniform(5, 30, n_channels)
    out = np.zeros((n, n_channels))
    k = 1
    while k * line_freq < sfreq / 2:
        phase = rng.uniform(0, 2 * np.pi, n_channels)
        out += (amp / k) * np.sin(2 * np.pi * k * line_freq * t[:, None] + phase)
        k += 1
    return out


def shift(x: np.ndarray, n: int) -> np.ndarray:
    """Delay ``x`` by ``n`` samples along axis 0 (advance if negative), zero-filled."""
    out = np.zeros_like(x)
    if n > 0:
        out[n:] = x[:-n]
    elif n < 0:
        out[:n] = x[-n:]
    else:
        out[:] = x
    return out


def trial_course(
    n_samples: int,
    sfreq: float,
    cues: np.ndarray,
    values: np.ndarray,
    start: float,
    stop: float,
    ramp: float = 0.1,
) -> np.ndarray:
    """Build a sustained response from ``cue + start`` to ``cue + stop`` after every cue.

    Parameters
    ----------
    n_samples : int
        Length of the output.
    sfreq : float
        Sampling rate in Hz.
    cues : ndarray, shape (n_trials,)
        Cue times in seconds from the first sample.
    values : ndarray, shape (n_trials, n_channels)
        Response amplitude of each channel in each trial.
    start, stop : float
        Response window relative to the cue, in seconds.
    ramp : float
        Duration of the raised-cosine on and off ramps, in seconds.

    Returns
    -------
    course : ndarray, shape (n_samples, n_channels)
    """
    values = np.asarray(values, float)
    out = np.zeros((n_samples, values.shape[1]))
    rel = np.arange(int(np.ceil((stop - start) * sfreq)) + 1) / sfreq
    shape = np.sin(0.5 * np.pi * np.clip(np.minimum(rel, stop - start - rel) / ramp, 0, 1)) ** 2
    for cue, value in zip(cues, values):
        first = int(round((cue + start) * sfreq))
        seg = slice(max(first, 0), min(first + shape.size, n_samples))
        out[seg] += shape[seg.start - first : seg.stop - first, None] * value[None, :]
    return out


def steps(
    n_samples: int, sfreq: float, starts: np.ndarray, stops: np.ndarray, ramp: float = 0.05
) -> np.ndarray:
    """Build a unit step from each start to its stop (seconds), with raised-cosine ramps.

    Returns
    -------
    course : ndarray, shape (n_samples,)
    """
    t = np.arange(n_samples) / sfreq
    out = np.zeros(n_samples)
    for start, stop in zip(starts, stops):
        inside = np.minimum(t - start, stop - t)
        out = np.maximum(out, np.sin(0.5 * np.pi * np.clip(inside / ramp, 0, 1)) ** 2)
    return out
