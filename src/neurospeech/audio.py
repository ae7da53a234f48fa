"""Audio features: the SWPD reference log-mel spectrogram.

The reference chain (Verwoert et al. 2022): decimate the 48 kHz microphone signal to
16 kHz (``scipy.signal.decimate``), scale to int16 by the peak, cut 50 ms Hann windows
every 10 ms, take the magnitude of the real FFT, project on 23 triangular mel filters
and take the natural log (plus 1e-7).
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from neurospeech.highgamma import windows

TARGET_SFREQ = 16000


def _hz_to_mel(freq):
    return 2595.0 * np.log10(1.0 + np.asarray(freq, float) / 700.0)


def _mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel, float) / 2595.0) - 1.0)


def mel_filterbank(n_fft_bins: int, n_mels: int, sfreq: float) -> np.ndarray:
    """Triangular mel filters as the reference defines them.

    Filter edges are equally spaced on the mel scale from 0 to Nyquist; each edge
    frequency is floored to whole Hz and mapped to the spectrum bin
    ``floor(f / nyquist * n_fft_bins)``; each triangle rises from its start bin to its
    centre bin and falls to its end bin; every spectrum bin's weights are then divided
    by their sum over filters (bins no filter covers keep zero weight).

    Parameters
    ----------
    n_fft_bins : int
        Number of real-FFT bins.
    n_mels : int
        Number of filters.
    sfreq : float
        Sampling rate in Hz.

    Returns
    -------
    weights : ndarray, shape (n_fft_bins, n_mels)
    """
    nyquist = sfreq / 2.0
    edges_mel = np.arange(n_mels + 2) * (_hz_to_mel(nyquist) / (n_mels + 1))
    edges_hz = np.floor(_mel_to_hz(edges_mel))
    bins = np.floor(edges_hz / nyquist * n_fft_bins).astype(int)
    weights = np.zeros((n_mels, n_fft_bins))
    for m in range(n_mels):
        start, centre, end = bins[m : m + 3]
        rise = np.arange(start, centre)
        fall = np.arange(centre, end)
        weights[m, rise] = (rise - start) / np.float32(centre - start)
        weights[m, fall] = (end - fall) / np.float32(end - centre)
    weights = weights.T
    totals = weights.sum(axis=0)
    totals[totals == 0] = 1.0
    return weights / totals


def to_int16_16k(audio: np.ndarray, sfreq: float) -> np.ndarray:
    """Decimate to 16 kHz and scale to the int16 range by the peak (reference chain)."""
    factor = int(sfreq / TARGET_SFREQ)
    if factor * TARGET_SFREQ != sfreq:
        raise ValueError(
            f"audio at {sfreq} Hz cannot be decimated to {TARGET_SFREQ} Hz by an integer factor"
        )
    x = np.asarray(audio, dtype=float)
    if factor > 1:
        x = signal.decimate(x, factor)
    peak = np.max(np.abs(x))
    if peak == 0:
        raise ValueError("the audio is silent (all zeros)")
    return np.int16(x / peak * 32767)


def log_mel(
    audio: np.ndarray,
    sfreq: float,
    window: float = 0.05,
    shift: float = 0.01,
    n_mels: int = 23,
) -> np.ndarray:
    """Log-mel spectrogram of a microphone signal (reference ``extractMelSpecs``).

    Parameters
    ----------
    audio : ndarray, shape (n_samples,)
        The waveform at ``sfreq`` (48 kHz in SWPD).
    sfreq : float
        Its sampling rate; a multiple of 16 kHz.
    window, shift : float
        Window length and hop in seconds.
    n_mels : int
        Number of mel filters.

    Returns
    -------
    spec : ndarray, shape (n_frames, n_mels)
        Natural log of the mel filterbank output plus 1e-7.
    """
    x = to_int16_16k(audio, sfreq).astype(float)
    sr = TARGET_SFREQ
    starts, length = windows(x.shape[0], sr, window, shift)
    hann = signal.windows.hann(int(np.floor(window * sr + 1)))[:-1]
    frames = x[starts[:, None] + np.arange(length)[None, :]] * hann
    magnitude = np.abs(np.fft.rfft(frames, axis=1))
    mel = magnitude @ mel_filterbank(magnitude.shape[1], n_mels, sr)
    return np.log(mel + 1e-7)
