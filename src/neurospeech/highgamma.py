"""High-gamma (70-170 Hz) envelope features, as the SWPD reference code computes them.

The reference chain (Verwoert et al. 2022, ``extract_features.py``): linear detrend;
4th-order Butterworth band-pass 70-170 Hz, zero-phase; 4th-order Butterworth
band-stops around the first two line-noise harmonics inside the band (98-102 and
148-152 Hz for 50 Hz mains); Hilbert envelope computed with the FFT length padded to a
fast size; mean over 50 ms windows every 10 ms; optionally stacking of neighbouring
frames.
"""

from __future__ import annotations

import numpy as np
from scipy import fft, signal

BAND = (70.0, 170.0)


def _line_stops(line_freq: float) -> list[tuple[float, float]]:
    """Band-stop edges (Hz) around the line-noise harmonics inside the high-gamma band."""
    harmonics = [k * line_freq for k in range(2, 5) if BAND[0] < k * line_freq < BAND[1]]
    return [(h - 2.0, h + 2.0) for h in harmonics]


def _sos(sfreq: float, line_freq: float) -> list[np.ndarray]:
    """Second-order sections of the band-pass and of each band-stop, in reference order."""
    nyq = sfreq / 2
    if BAND[1] >= nyq:
        raise ValueError(f"sfreq {sfreq} Hz is too low for a {BAND} Hz band (Nyquist {nyq})")
    sections = [signal.iirfilter(4, [BAND[0] / nyq, BAND[1] / nyq], btype="bandpass", output="sos")]
    for lo, hi in _line_stops(line_freq):
        sections.append(signal.iirfilter(4, [lo / nyq, hi / nyq], btype="bandstop", output="sos"))
    return sections


def envelope(ieeg: np.ndarray, sfreq: float, *, line_freq: float = 50.0) -> np.ndarray:
    """Full-rate high-gamma envelope (the reference chain before windowing).

    Parameters
    ----------
    ieeg : ndarray, shape (n_samples, n_channels)
        Voltage, any unit.
    sfreq : float
        Sampling rate in Hz.
    line_freq : float
        Mains frequency in Hz; its harmonics inside 70-170 Hz are notched (100 and 150 Hz
        for 50 Hz mains, 120 Hz for 60 Hz).

    Returns
    -------
    env : ndarray, shape (n_samples, n_channels)
        Hilbert amplitude of the filtered signal.
    """
    data = signal.detrend(np.asarray(ieeg, dtype=float), axis=0)
    for sos in _sos(sfreq, line_freq):
        data = signal.sosfiltfilt(sos, data, axis=0)
    n = data.shape[0]
    return np.abs(signal.hilbert(data, fft.next_fast_len(n), axis=0)[:n])


def windows(n_samples: int, sfreq: float, window: float, shift: float) -> tuple[np.ndarray, int]:
    """Place analysis windows as the reference code does.

    Returns
    -------
    starts : ndarray of int, shape (n_windows,)
        First sample of every window.
    length : int
        Samples per window.
    """
    n_windows = int(np.floor((n_samples - window * sfreq) / (shift * sfreq)))
    starts = np.floor(np.arange(n_windows) * shift * sfreq).astype(int)
    return starts, int(np.floor(window * sfreq))


def window_means(x: np.ndarray, sfreq: float, window: float = 0.05, shift: float = 0.01):
    """Mean of ``x`` over windows of ``window`` s every ``shift`` s (axis 0)."""
    starts, length = windows(x.shape[0], sfreq, window, shift)
    csum = np.zeros((x.shape[0] + 1, *x.shape[1:]))
    np.cumsum(x, axis=0, out=csum[1:])
    return (csum[starts + length] - csum[starts]) / length


def extract(
    ieeg: np.ndarray,
    sfreq: float,
    window: float = 0.05,
    shift: float = 0.01,
    *,
    line_freq: float = 50.0,
) -> np.ndarray:
    """High-gamma features: the envelope averaged in windows (reference ``extractHG``).

    Parameters
    ----------
    ieeg : ndarray, shape (n_samples, n_channels)
        Voltage.
    sfreq : float
        Sampling rate in Hz.
    window, shift : float
        Window length and hop in seconds.
    line_freq : float
        Mains frequency in Hz (see :func:`envelope`).

    Returns
    -------
    frames : ndarray, shape (n_frames, n_channels)
    """
    return window_means(envelope(ieeg, sfreq, line_freq=line_freq), sfreq, window, shift)


def stack(frames: np.ndarray, order: int = 4, step: int = 5) -> np.ndarray:
    """Stack each frame with its neighbours at ``-order*step ... +order*step`` (step ``step``).

    Parameters
    ----------
    frames : ndarray, shape (n_frames, n_channels)
    order, step : int
        Number of neighbours on each side and their spacing in frames.

    Returns
    -------
    stacked : ndarray, shape (n_frames - 2 * order * step, (2 * order + 1) * n_channels)
        Columns are grouped by offset (all channels at ``-order``, then ``-order + 1`` ...),
        as in the reference ``stackFeatures``.
    """
    reach = order * step
    n_out = frames.shape[0] - 2 * reach
    if n_out < 1:
        raise ValueError(
            f"{frames.shape[0]} frames are too few to stack +-{order} frames {step} apart"
        )
    offsets = range(-reach, reach + 1, step)
    return np.hstack([frames[reach + off : reach + off + n_out] for off in offsets])


def stacked_names(channels: list[str], order: int = 4) -> np.ndarray:
    """Column names of :func:`stack`: ``<channel>T<offset>``."""
    return np.array([f"{ch}T{off}" for off in range(-order, order + 1) for ch in channels])


def window_labels(labels: np.ndarray, sfreq: float, window: float = 0.05, shift: float = 0.01):
    """Most frequent label in each window (ties to the smallest), like the reference.

    Parameters
    ----------
    labels : ndarray of str, shape (n_samples,)
        A label per sample (e.g. the word on screen, ``''`` otherwise).

    Returns
    -------
    frame_labels : ndarray of str, shape (n_frames,)
    """
    labels = np.asarray(labels).astype(str)
    values, codes = np.unique(labels, return_inverse=True)  # sorted: ties go to the smallest
    starts, length = windows(labels.shape[0], sfreq, window, shift)
    per_window = codes[starts[:, None] + np.arange(length)[None, :]]
    counts = np.zeros((len(starts), len(values)), dtype=int)
    np.add.at(counts, (np.repeat(np.arange(len(starts)), length), per_window.ravel()), 1)
    return values[counts.argmax(axis=1)]
