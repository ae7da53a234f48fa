"""Acoustic contamination of the iEEG by the microphone's sound (Roussel et al. 2020).

When a participant speaks, the voice can leak into intracranial recordings through the
amplifier, the cables or the connectors: the iEEG then carries a copy of the audio
waveform, and its power at each frequency follows the power of the voice at the same
frequency. High gamma (70-170 Hz) lies on the voice's fundamental, so leaked sound looks
like speech-locked neural activity to every encoding or decoding model.

The check follows Roussel et al. (2020, J Neural Eng 17:056028):

1. spectrograms of the audio (resampled to the iEEG clock) and of each channel on the
   same time frames and frequency bins (Hann windows of ``window`` s, half overlapping;
   bins from ``fmin`` to ``fmax``, those within 2 Hz or one bin of a mains harmonic left
   out), as log power;
2. per channel, the correlation over time between audio power at frequency ``f`` and
   neural power at frequency ``g``, for every pair: a bins x bins matrix;
3. the contamination index: the mean of its diagonal (audio and neural power at the
   same frequency);
4. a permutation null for the index and a correction across channels.

Leaked sound makes two things true, and the default (``null="both"``) asks both:

- the channel's power follows the audio's power: tested against the audio's frames
  misaligned in blocks (``"time"``, block permutation of ``block`` s);
- it does so at the matching frequency, on the diagonal: tested against the audio's
  frequency bins permuted (``"frequency"``, Roussel et al.'s criterion).

High gamma that follows speech, as speech-related cortex does, passes the first and
fails the second: it correlates with the voice's power at every frequency alike. A
channel of noise passes the first at the nominal rate only; the frequency permutation
alone, which ignores how neighbouring bins and frames depend on each other, flags more
noise channels than its level says (8.7 % at p < 0.05 for a random-walk background, see
``benchmarks/bench_contamination.py``). A channel is flagged when both nulls reject: the
larger of the two p-values is a valid p-value of that joint hypothesis (an
intersection-union test), corrected across channels.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from scipy.stats import false_discovery_control

from neurospeech import audio as audio_features
from neurospeech import stats
from neurospeech.bids import Recording, RecordingWarning
from neurospeech.config import ContaminationCheck

#: Least audio coverage of the iEEG, in seconds, for the check to run.
MIN_COVERED_S = 10.0
#: Permutations evaluated at once (bounds the memory of the null).
_CHUNK = 500


def _bins(freqs: np.ndarray, fmin: float, fmax: float, line_freq: float) -> np.ndarray:
    """Bins within ``[fmin, fmax]`` that are not next to a mains harmonic."""
    width = max(2.0, freqs[1] - freqs[0])
    harmonic = np.abs(freqs - line_freq * np.round(freqs / line_freq)) <= width
    return np.flatnonzero((freqs >= fmin) & (freqs <= fmax) & ~(harmonic & (freqs > 0)))


def _log_power(x: np.ndarray, n_window: int, hop: int, bins: np.ndarray) -> np.ndarray:
    """Log power spectrogram of each column: frames x bins x columns."""
    frames = sliding_window_view(x, n_window, axis=0)[::hop]  # frames x columns x window
    taper = np.hanning(n_window)
    spectrum = np.fft.rfft((frames - frames.mean(axis=-1, keepdims=True)) * taper, axis=-1)
    power = np.abs(spectrum[..., bins]) ** 2
    return np.log10(power + np.finfo(float).tiny).transpose(0, 2, 1)


def _zscore(x: np.ndarray) -> np.ndarray:
    """Z-score over the first axis; constant series (to rounding) become NaN."""
    mean, std = x.mean(axis=0), x.std(axis=0)
    constant = std <= 1e-9 * (np.abs(mean) + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (x - mean) / np.where(constant, np.nan, std)


def sound_on_ieeg(recording: Recording) -> np.ndarray:
    """Return the recording's audio on its iEEG clock (:func:`neurospeech.audio.on_clock`).

    Returns
    -------
    sound : ndarray, shape (n_samples,)
        NaN where the audio does not cover the iEEG.
    """
    return audio_features.on_clock(
        recording.audio,
        recording.audio_sfreq,
        recording.sfreq,
        recording.ieeg.shape[0],
        recording.audio_offset,
    )


def _covered_ieeg(recording: Recording) -> tuple[np.ndarray, np.ndarray]:
    """Return the audio on the iEEG clock and the iEEG, over the span the audio covers."""
    placed = sound_on_ieeg(recording)
    covered = np.flatnonzero(np.isfinite(placed))
    seconds = covered.size / recording.sfreq
    if seconds < MIN_COVERED_S:
        raise ValueError(
            f"{recording.source}: the audio covers {seconds:.1f} s of the "
            f"{recording.duration:.1f} s iEEG (it starts {recording.audio_offset:+.2f} s from "
            f"it); the contamination check needs at least {MIN_COVERED_S:.0f} s of both"
        )
    span = slice(covered[0], covered[-1] + 1)
    missing = recording.duration - seconds
    if missing > 1 / recording.sfreq:
        warnings.warn(
            f"{recording.source}: the audio does not cover {missing:.2f} s of the iEEG; the "
            f"contamination check uses the {seconds:.1f} s it covers",
            RecordingWarning,
            stacklevel=3,
        )
    return placed[span], recording.ieeg[span]


def spectrograms(
    recording: Recording,
    *,
    window: float = 0.2,
    fmin: float = 50.0,
    fmax: float | None = None,
    channels: list[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log-power spectrograms of the audio and of the iEEG on the same frames and bins.

    Parameters
    ----------
    recording : neurospeech.bids.Recording
    window : float
        Hann window in seconds; frames every half window.
    fmin, fmax : float
        Band of the bins kept, Hz (``fmax`` None: the iEEG's Nyquist rate). Bins within
        2 Hz or one bin of a harmonic of ``recording.line_freq`` are left out.
    channels : list of str, optional
        Channels to compute (default: all of ``recording.ch_names``).

    Returns
    -------
    audio : ndarray, shape (n_frames, n_bins)
    neural : ndarray, shape (n_frames, n_bins, n_channels)
    freqs : ndarray, shape (n_bins,)
        Centre frequencies (Hz).
    """
    n_window = int(round(window * recording.sfreq))
    if n_window < 8:
        raise ValueError(f"a window of {window} s is under 8 samples at {recording.sfreq} Hz")
    freqs = np.fft.rfftfreq(n_window, 1 / recording.sfreq)
    top = recording.sfreq / 2 if fmax is None else fmax
    if top > recording.sfreq / 2:
        raise ValueError(
            f"fmax {fmax} Hz is above the iEEG's Nyquist rate ({recording.sfreq / 2} Hz)"
        )
    bins = _bins(freqs, fmin, top, recording.line_freq)
    if bins.size < 2:
        raise ValueError(f"the band {fmin}-{top} Hz holds {bins.size} bin(s) of {window} s windows")
    sound, ieeg = _covered_ieeg(recording)
    if channels is not None:
        ieeg = ieeg[:, [recording.ch_names.index(name) for name in channels]]
    hop = max(n_window // 2, 1)
    return (
        _log_power(sound[:, None], n_window, hop, bins)[..., 0],
        _log_power(ieeg, n_window, hop, bins),
        freqs[bins],
    )


def correlation_matrices(audio: np.ndarray, neural: np.ndarray) -> np.ndarray:
    """Correlation over frames of audio power at each bin with neural power at each bin.

    Parameters
    ----------
    audio : ndarray, shape (n_frames, n_bins)
    neural : ndarray, shape (n_frames, n_bins, n_channels)

    Returns
    -------
    matrices : ndarray, shape (n_bins, n_bins, n_channels)
        ``[f, g, c]``: audio at bin ``f`` with channel ``c`` at bin ``g``.
    """
    n_frames, n_bins, n_channels = neural.shape
    a, x = _zscore(audio), _zscore(neural).reshape(n_frames, -1)
    return (a.T @ x / n_frames).reshape(n_bins, n_bins, n_channels)


def _permuted_sums(terms: np.ndarray, n_permutations: int, rng) -> np.ndarray:
    """Return ``sum_k terms[order[k], k]`` for random orders: draws x the trailing axes."""
    positions = np.arange(terms.shape[0])
    draws = []
    for start in range(0, n_permutations, _CHUNK):
        count = min(_CHUNK, n_permutations - start)
        order = rng.permuted(np.tile(positions, (count, 1)), axis=1)
        draws.append(terms[order, positions].sum(axis=1))
    return np.concatenate(draws)


def _frequency_null(matrices: np.ndarray, n_permutations: int, rng) -> np.ndarray:
    """Return the mean diagonal of each channel's matrix with the audio's bins permuted."""
    return _permuted_sums(matrices, n_permutations, rng) / matrices.shape[0]


def _time_statistic(
    audio: np.ndarray, neural: np.ndarray, block: int, n_permutations: int, rng
) -> tuple[np.ndarray, np.ndarray]:
    """Return the index and its block-permutation null, over the frames of whole blocks.

    The index of a block permutation is a sum over blocks of the products of one audio
    block with another neural block; those products (blocks x blocks x channels) are
    computed once, and each permutation only picks its terms.
    """
    n_blocks = audio.shape[0] // block
    if n_blocks < 2:
        raise ValueError(f"the time null needs at least 2 blocks of {block} frames")
    used = n_blocks * block
    n_bins, n_channels = neural.shape[1:]
    a = _zscore(audio[:used]).reshape(n_blocks, -1)
    x = _zscore(neural[:used]).reshape(n_blocks, block * n_bins, n_channels)
    products = (a @ x.transpose(1, 0, 2).reshape(block * n_bins, -1)).reshape(
        n_blocks, n_blocks, n_channels
    ) / (used * n_bins)
    blocks = np.arange(n_blocks)
    return products[blocks, blocks].sum(axis=0), _permuted_sums(products, n_permutations, rng)


def _corrected(p: np.ndarray, observed: np.ndarray, null: np.ndarray, correction: str):
    """``p`` adjusted across the channels where it is defined (NaN elsewhere)."""
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if not ok.any():
        return out
    if correction == "fdr":
        out[ok] = false_discovery_control(p[ok])
    elif correction == "holm":
        out[ok] = stats.holm(p[ok])
    else:  # channels' nulls differ in level and spread: their maxima compare as z-scores
        centre, spread = null[:, ok].mean(axis=0), null[:, ok].std(axis=0)
        out[ok] = stats.max_statistic_p(
            (observed[ok] - centre) / spread, (null[:, ok] - centre) / spread
        )
    return out


def assess(recording: Recording, **options) -> pd.DataFrame:
    """Test every channel for acoustic contamination (Roussel et al. 2020).

    Parameters
    ----------
    recording : neurospeech.bids.Recording
        Its audio must cover at least :data:`MIN_COVERED_S` of the iEEG; the span it
        covers is used (a warning names the file when that is not all of it).
    **options
        The fields of :class:`neurospeech.config.ContaminationCheck`, checked there:
        ``window`` (0.2 s: 5 Hz bins, frames every 0.1 s), ``fmin`` and ``fmax`` (the
        band, from 50 Hz to the iEEG's Nyquist rate, mains harmonics left out), ``null``
        (``"both"``, the default: flagged where both reject; ``"frequency"``: the audio's
        bins permuted; ``"time"``: its frames permuted in blocks of ``block`` s; the frames
        used are whole blocks), ``n_permutations`` (the smallest p-value is
        ``1 / (n_permutations + 1)``), ``alpha``, ``correction`` across channels
        (``"fdr"``: Benjamini-Hochberg; ``"holm"``; ``"max"``: the permutation maximum of
        the channels' indices standardised by their nulls)
        and ``seed``.

    Returns
    -------
    table : DataFrame
        One row per channel of ``recording.ch_names``: ``channel``, ``statistic`` (the
        contamination index), ``null_mean`` and ``null_p95`` (of the frequency null, or
        of the time null alone), ``p_frequency`` and ``p_time`` (one-sided,
        :func:`neurospeech.stats.permutation_p`; NaN for a null not run), ``p_value`` (the
        larger), ``p_corrected`` and ``contaminated`` (``p_corrected < alpha``). A channel
        whose power is constant has NaN and is not flagged. ``table.attrs`` holds the
        options, the frames and the bins used.

    Raises
    ------
    ValueError
        If an option is out of range or the audio covers too little of the iEEG (the
        message names the file).
    """
    check = ContaminationCheck(**options)
    sound, neural, freqs = spectrograms(
        recording, window=check.window, fmin=check.fmin, fmax=check.fmax
    )
    per_block = max(int(round(check.block / (check.window / 2))), 1)
    n_blocks = len(sound) // per_block
    if n_blocks < 2:
        raise ValueError(
            f"{recording.source}: {len(sound)} frames make fewer than 2 blocks of {check.block} s"
        )
    sound, neural = sound[: n_blocks * per_block], neural[: n_blocks * per_block]
    nulls = ("frequency", "time") if check.null == "both" else (check.null,)
    streams = dict(zip(nulls, np.random.default_rng(check.seed).spawn(len(nulls))))
    draws = {}
    if "frequency" in nulls:
        matrices = correlation_matrices(sound, neural)
        observed = np.diagonal(matrices).mean(axis=-1)
        draws["frequency"] = _frequency_null(matrices, check.n_permutations, streams["frequency"])
    if "time" in nulls:
        observed, draws["time"] = _time_statistic(
            sound, neural, per_block, check.n_permutations, streams["time"]
        )
    defined = np.isfinite(observed)
    p = {
        null: np.where(defined, stats.permutation_p(observed, null_draws), np.nan)
        for null, null_draws in draws.items()
    }
    p_value = np.max(list(p.values()), axis=0)  # both nulls: reject only if each rejects
    if check.correction == "max":
        corrected = np.max(
            [_corrected(p[null], observed, draws[null], "max") for null in nulls], axis=0
        )
    else:
        corrected = _corrected(p_value, observed, None, check.correction)
    shown = draws[nulls[0]]
    table = pd.DataFrame(
        {
            "channel": recording.ch_names,
            "statistic": observed,
            "null_mean": shown.mean(axis=0),
            "null_p95": np.percentile(shown, 95, axis=0),
            "p_frequency": p.get("frequency", np.full(len(observed), np.nan)),
            "p_time": p.get("time", np.full(len(observed), np.nan)),
            "p_value": p_value,
            "p_corrected": corrected,
            "contaminated": np.nan_to_num(corrected, nan=1.0) < check.alpha,
        }
    )
    table.attrs.update(
        dataclasses.asdict(check),
        n_frames=len(sound),
        band_hz=(float(freqs[0]), float(freqs[-1])),
        n_bins=len(freqs),
    )
    return table
