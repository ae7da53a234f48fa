"""High-gamma (70-170 Hz) envelope features, as the SWPD reference code computes them.

The reference chain (Verwoert et al. 2022, ``extract_features.py``): linear detrend;
4th-order Butterworth band-pass 70-170 Hz, zero-phase; 4th-order Butterworth
band-stops around the second and third line-noise harmonics (98-102 and 148-152 Hz
for 50 Hz mains); Hilbert envelope computed with the FFT length padded to a
fast size; mean over 50 ms windows every 10 ms; optionally stacking of neighbouring
frames. ``method="fft"`` is a faster frequency-domain formulation of the same response.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from scipy import fft, signal

BAND = (70.0, 170.0)
METHODS = ("reference", "fft")
#: Channels processed together: small enough to stay in cache, large enough to vectorize.
_CHUNK = 8


def _line_stops(line_freq: float, sfreq: float) -> list[tuple[float, float]]:
    """Band-stop edges (Hz) around the second and third line-noise harmonics.

    The reference notches 100 and 150 Hz for 50 Hz mains; 60 Hz mains gets 120 and 180 Hz.
    A harmonic too close to Nyquist to be notched is skipped.
    """
    harmonics = [k * line_freq for k in (2, 3) if k * line_freq + 2.0 < sfreq / 2]
    return [(h - 2.0, h + 2.0) for h in harmonics]


def _sos(sfreq: float, line_freq: float) -> list[np.ndarray]:
    """Second-order sections of the band-pass and of each band-stop, in reference order."""
    nyq = sfreq / 2
    if BAND[1] >= nyq:
        raise ValueError(f"sfreq {sfreq} Hz is too low for a {BAND} Hz band (Nyquist {nyq})")
    sections = [signal.iirfilter(4, [BAND[0] / nyq, BAND[1] / nyq], btype="bandpass", output="sos")]
    for lo, hi in _line_stops(line_freq, sfreq):
        sections.append(signal.iirfilter(4, [lo / nyq, hi / nyq], btype="bandstop", output="sos"))
    return sections


def _fft_length(n_samples: int) -> int:
    """Pad like the reference's Hilbert FFT: ``scipy.fftpack.next_fast_len`` (5-smooth)."""
    return fft.next_fast_len(n_samples, real=True)


def _centred_ramp(n_samples: int) -> np.ndarray:
    """Sample index minus its mean: the regressor of a least-squares line."""
    ramp = np.arange(n_samples, dtype=float)
    ramp -= ramp.mean()
    return ramp


def _line_fit(x: np.ndarray, ramp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and slope of the least-squares line through each column of ``x``.

    ``x`` is samples x channels; the line is ``mean + slope * ramp`` with ``ramp`` from
    :func:`_centred_ramp`, what ``scipy.signal.detrend(type="linear")`` removes.
    """
    return x.mean(axis=0), (ramp @ x) / (ramp @ ramp)


def _detrend(chunk: np.ndarray, ramp: np.ndarray) -> np.ndarray:
    """Remove the least-squares line from each row of ``chunk`` (channels x samples)."""
    mean, slope = _line_fit(chunk.T, ramp)
    out = chunk - mean[:, None]
    out -= slope[:, None] * ramp
    return out


def _quadrature(spectrum: np.ndarray, n_fft: int) -> np.ndarray:
    """Imaginary part of the analytic signal whose real part has ``spectrum``.

    ``spectrum`` holds rfft bins along its last axis, and is overwritten.
    ``scipy.signal.hilbert`` doubles the positive frequencies and drops the negative
    ones; its imaginary part is the inverse real FFT of ``-i * spectrum`` with the DC
    (and, for even lengths, the Nyquist) bin set to zero.
    """
    spectrum *= np.asarray(-1j, dtype=spectrum.dtype)
    spectrum[..., 0] = 0
    if n_fft % 2 == 0:
        spectrum[..., -1] = 0
    return fft.irfft(spectrum, n_fft, axis=-1)


def _magnitude(real: np.ndarray, imag: np.ndarray) -> np.ndarray:
    """``sqrt(real**2 + imag**2)``, computed in place in ``real`` (faster than ``hypot``)."""
    real *= real
    imag *= imag
    real += imag
    return np.sqrt(real, out=real)


def _reference_chain(sfreq: float, line_freq: float, data: np.ndarray):
    """Build the reference chain: detrend, three ``sosfiltfilt``, Hilbert transform.

    Returns ``run(channels)``, which gives the real and imaginary parts of the analytic
    signal of those channels (each channels x samples); so does :func:`_fft_chain`.
    """
    sections = _sos(sfreq, line_freq)
    n_samples = data.shape[0]
    n_fft = _fft_length(n_samples)
    ramp = _centred_ramp(n_samples)

    def run(channels: slice) -> tuple[np.ndarray, np.ndarray]:
        filtered = _detrend(np.ascontiguousarray(data[:, channels].T), ramp)
        for sos in sections:
            filtered = signal.sosfiltfilt(sos, filtered, axis=-1)
        return filtered, _quadrature(fft.rfft(filtered, n_fft, axis=-1), n_fft)[:, :n_samples]

    return run


def _power_response(sections: list[np.ndarray], freqs: np.ndarray, sfreq: float) -> np.ndarray:
    """``|H(f)|**2`` of a cascade of second-order sections: what ``sosfiltfilt`` applies.

    Each section's squared magnitude is a ratio of polynomials in ``cos(w)`` and
    ``cos(2w)``, so no complex arithmetic is needed.
    """
    w = 2 * np.pi * freqs / sfreq
    cos1, cos2 = np.cos(w), np.cos(2 * w)
    power = np.ones_like(w)
    for b0, b1, b2, _, a1, a2 in np.vstack(sections):
        num = b0**2 + b1**2 + b2**2 + 2 * (b0 * b1 + b1 * b2) * cos1 + 2 * b0 * b2 * cos2
        den = 1 + a1**2 + a2**2 + 2 * (a1 + a1 * a2) * cos1 + 2 * a2 * cos2
        power *= num / den
    return power


#: Seconds at each end where the reference's filter start-up differs from the zero-phase
#: response: the slowest pole (the 4 Hz wide band-stops) decays with a 0.21 s time
#: constant, so after 2.5 s the difference is below 1e-5 of the start-up transient;
#: 2.5 s more settle the filtered segment (shorter spans measurably lose accuracy).
_EDGE_S, _SETTLE_S = 2.5, 2.5
#: Seconds at each end over which the Hilbert transform of that difference is added back
#: (it decays like 1/t, to about 3e-5 of a jump at the edge after 10 s).
_REACH_S = 10.0


@numba.njit(nogil=True, cache=True)
def _centre_transposed(block, mean, out):
    """``out[c, t] = block[t, c] - mean[c]``: one pass, double precision, cast on store."""
    for t in range(block.shape[0]):
        for c in range(block.shape[1]):
            out[c, t] = block[t, c] - mean[c]


def _fft_chain(sfreq: float, line_freq: float, data: np.ndarray):
    """Filter and Hilbert step in one spectrum, with the reference's edges put back.

    Each channel's spectrum (one real FFT) is multiplied by the power response of the
    zero-phase cascade, which is what ``sosfiltfilt`` applies away from the edges; two
    inverse real FFTs give the analytic signal. Near the ends the reference differs
    (filter start-up, and the jump where its FFT wraps): the reference filters are run
    on the first and last 5 s only, and the analytic signal of the difference is added
    over the first and last 10 s. The linear trend needs no other treatment: a band-pass
    removes a line except at the wrap, where the edges are replaced anyway. The bulk
    runs in single precision; the result matches the reference to about 1e-5.
    """
    n_samples = data.shape[0]
    edge, settle, reach = (int(s * sfreq) for s in (_EDGE_S, _SETTLE_S, _REACH_S))
    if n_samples < 2 * (reach + edge):
        return _reference_chain(sfreq, line_freq, data)  # short: the exact chain is cheap
    sections = _sos(sfreq, line_freq)
    n_fft = _fft_length(n_samples)
    power = _power_response(sections, fft.rfftfreq(n_fft, 1.0 / sfreq), sfreq)
    ramp = _centred_ramp(n_samples)
    means, slopes = _line_fit(data, ramp)  # all channels at once: faster than column slices
    power = power.astype(np.float32)
    # Around the wrap point: the last `reach` samples, the FFT padding, the first `reach`.
    around = np.r_[n_samples - reach : n_fft, 0:reach]
    head = slice(len(around) - reach, len(around) - reach + edge)
    tail = slice(reach - edge, reach)
    hilbert_length = fft.next_fast_len(2 * len(around), real=True)

    def reference_edges(block, mean, slope) -> tuple[np.ndarray, np.ndarray]:
        """Run the reference chain on the first and last ``edge + settle`` samples."""
        span = edge + settle
        rows = np.r_[0:span, n_samples - span : n_samples]
        segments = block[rows] - mean - ramp[rows, None] * slope
        # Both ends as separate rows of one array: one filter call each, half the overhead.
        segments = np.vstack([segments[:span].T, segments[span:].T])
        for sos in sections:
            segments = signal.sosfiltfilt(sos, segments, axis=-1)
        n_channels = block.shape[1]
        return segments[:n_channels, :edge], segments[n_channels:, -edge:]

    def run(channels: slice) -> tuple[np.ndarray, np.ndarray]:
        # The mean is removed in double precision (it may dwarf the signal). The ramp is not:
        # filtered, it only matters near the ends, where the reference edges replace it.
        block, mean, slope = data[:, channels], means[channels], slopes[channels]
        centred = np.empty(block.shape[::-1], dtype=np.float32)
        _centre_transposed(block, mean, centred)
        spectrum = fft.rfft(centred, n_fft, axis=-1)
        del centred
        spectrum *= power
        real = fft.irfft(spectrum, n_fft, axis=-1)
        imag = _quadrature(spectrum, n_fft)
        # What the reference has minus what the spectrum gave, around the wrap point.
        local_real, local_imag = real[:, around].astype(float), imag[:, around].astype(float)
        difference = -local_real
        start, end = reference_edges(block, mean, slope)
        difference[:, head] += start
        difference[:, tail] += end
        difference[:, : tail.start] = 0.0  # beyond the settled edges both agree
        difference[:, head.stop :] = 0.0
        spectrum_d = fft.rfft(difference, hilbert_length, axis=-1)
        local_imag += _quadrature(spectrum_d, hilbert_length)[:, : len(around)]
        local_real += difference
        for part, local in ((real, local_real), (imag, local_imag)):
            part[:, :reach] = local[:, len(around) - reach :]
            part[:, n_samples - reach : n_samples] = local[:, :reach]
        return real[:, :n_samples], imag[:, :n_samples]

    return run


_CHAINS = {"reference": _reference_chain, "fft": _fft_chain}


def _check(ieeg: np.ndarray, method: str, n_jobs: int | None) -> tuple[np.ndarray, int]:
    data = np.asarray(ieeg, dtype=float)
    if data.ndim != 2:
        raise ValueError(f"ieeg must be 2-D (samples x channels), got shape {data.shape}")
    if data.shape[0] < 2 or data.shape[1] < 1:
        raise ValueError(f"ieeg has no data to filter: shape {data.shape}")
    if method not in _CHAINS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    workers = 1 if n_jobs is None else int(n_jobs)
    if workers == -1:
        workers = os.cpu_count() or 1
    if workers < 1:
        raise ValueError(f"n_jobs must be a positive integer or -1, got {n_jobs!r}")
    return data, workers


def _per_chunk(n_channels: int, workers: int, work) -> np.ndarray:
    """Apply ``work`` to slices of a few channels each, in threads.

    ``work`` returns samples (or frames) x channels; the results are joined along the
    channel axis, in float64.
    """
    groups = [slice(start, start + _CHUNK) for start in range(0, n_channels, _CHUNK)]
    if workers == 1:
        parts = [work(group) for group in groups]
    else:
        with ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(work, groups))
    return np.hstack(parts).astype(float, copy=False)


def envelope(
    ieeg: np.ndarray,
    sfreq: float,
    *,
    line_freq: float = 50.0,
    method: str = "reference",
    n_jobs: int | None = 1,
) -> np.ndarray:
    """Full-rate high-gamma envelope (the reference chain before windowing).

    Parameters
    ----------
    ieeg : ndarray, shape (n_samples, n_channels)
        Voltage, any unit.
    sfreq : float
        Sampling rate in Hz.
    line_freq : float
        Mains frequency in Hz; its second and third harmonics are notched (100 and
        150 Hz for 50 Hz mains, 120 and 180 Hz for 60 Hz).
    method : {"reference", "fft"}
        ``"reference"`` equals the published chain (linear detrend, three zero-phase
        Butterworth filters, FFT Hilbert transform) to rounding. ``"fft"`` applies the
        same zero-phase power response and the Hilbert step in one frequency-domain
        pass in single precision, and puts back the reference's behaviour at the ends
        (see ``_fft_chain``): several times faster, equal to the reference to about
        1e-5 (relative), edges included.
    n_jobs : int or None
        Threads working on groups of channels (``-1``: one per CPU core).

    Returns
    -------
    env : ndarray, shape (n_samples, n_channels)
        Hilbert amplitude of the filtered signal. A channel with non-finite samples
        comes out all NaN; the other channels are unaffected.
    """
    data, workers = _check(ieeg, method, n_jobs)
    chain = _CHAINS[method](sfreq, line_freq, data)
    return _per_chunk(data.shape[1], workers, lambda channels: _magnitude(*chain(channels)).T)


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


@numba.njit(nogil=True, cache=True)
def _window_sums(x, edges, first, last):
    """Sum of each row of ``x`` between ``edges[first[w]]`` and ``edges[last[w]]``.

    One pass per row: a running sum (double precision) is noted at every edge, and
    each window is the difference of two notes.
    """
    out = np.empty((len(first), x.shape[0]))
    running = np.empty(len(edges))
    for c in range(x.shape[0]):
        total, t = 0.0, 0
        for e in range(len(edges)):
            while t < edges[e]:
                total += x[c, t]
                t += 1
            running[e] = total
        for w in range(len(first)):
            out[w, c] = running[last[w]] - running[first[w]]
    return out


def _window_averager(starts: np.ndarray, length: int):
    """Build ``average(x)``: mean of ``x`` (channels x samples) over each window.

    The windows are ``[start, start + length)``; the result is windows x channels.
    """
    edges, where = np.unique(np.concatenate([starts, starts + length]), return_inverse=True)
    first, last = where[: len(starts)], where[len(starts) :]

    def average(x: np.ndarray) -> np.ndarray:
        return _window_sums(x, edges, first, last) / length

    return average


def window_means(x: np.ndarray, sfreq: float, window: float = 0.05, shift: float = 0.01):
    """Mean of ``x`` (samples x channels) over windows of ``window`` s every ``shift`` s."""
    x = np.asarray(x, dtype=float)
    return _window_averager(*windows(x.shape[0], sfreq, window, shift))(x.T)


def extract(
    ieeg: np.ndarray,
    sfreq: float,
    window: float = 0.05,
    shift: float = 0.01,
    *,
    line_freq: float = 50.0,
    method: str = "reference",
    n_jobs: int | None = 1,
) -> np.ndarray:
    """High-gamma features: the envelope averaged in windows (reference ``extractHG``).

    Channels are processed in small groups, so memory stays near the size of the input
    however long the recording.

    Parameters
    ----------
    ieeg : ndarray, shape (n_samples, n_channels)
        Voltage.
    sfreq : float
        Sampling rate in Hz.
    window, shift : float
        Window length and hop in seconds.
    line_freq, method, n_jobs
        See :func:`envelope`.

    Returns
    -------
    frames : ndarray, shape (n_frames, n_channels)
    """
    data, workers = _check(ieeg, method, n_jobs)
    chain = _CHAINS[method](sfreq, line_freq, data)
    starts, length = windows(data.shape[0], sfreq, window, shift)
    if len(starts) < 1:
        raise ValueError(
            f"{data.shape[0]} samples at {sfreq} Hz are shorter than one {window} s window"
        )
    average = _window_averager(starts, length)
    return _per_chunk(
        data.shape[1], workers, lambda channels: average(_magnitude(*chain(channels)))
    )


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
