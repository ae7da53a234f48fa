"""Time the acoustic contamination check at the real size, beside a per-channel loop.

One participant of the real data's size: 127 channels x 300 s at 1024 Hz, with the real
speech of ``../shared/realspeech`` (participant 02, 48 kHz) as the audio and its sound
leaked into three channels of pink noise. Side by side in one run:

- ``neurospeech``: :func:`neurospeech.contamination.assess` (both nulls, 10,000
  permutations each, all channels at once);
- ``loop``: the same statistic computed channel by channel as a direct reading of Roussel
  et al. (2020) would: ``scipy.signal.spectrogram`` of the audio and of the channel,
  ``numpy.corrcoef`` of the two, and a Python loop over the permutations. It runs on
  ``LOOP_CHANNELS`` channels with ``LOOP_PERMUTATIONS`` permutations and is scaled to the
  full size (channels x permutations); the scaling is printed.

The issue's goal: under 30 s on the 2-core machine. Then the same channels without any
leak: the share of p-values below 0.05 of each null (the calibration of the check).
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from pathlib import Path

import numpy as np
from scipy import signal

from neurospeech import bids, contamination

CHANNELS, LEAKY = 127, (5, 60, 100)
LOOP_CHANNELS, LOOP_PERMUTATIONS = 4, 1000
SHARED = Path(__file__).resolve().parents[2] / "shared" / "realspeech" / "swpd"


def recording(leaky: tuple[int, ...] = LEAKY) -> bids.Recording:
    """The real-speech participant with 127 random-walk noise channels, ``leaky`` leaking."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bids.RecordingWarning)
        base = bids.read_recording(SHARED, "02")
    rng = np.random.default_rng(0)
    n = base.ieeg.shape[0]
    pink = np.cumsum(rng.standard_normal((n, CHANNELS)), axis=0)
    pink = 30 * (pink - signal.savgol_filter(pink, 1025, 1, axis=0)) / 20
    sound = contamination.sound_on_ieeg(base)
    sound = np.nan_to_num(sound) / np.nanmax(np.abs(sound))
    pink[:, list(leaky)] += 80 * sound[:, None]
    names = [f"LA{k + 1}" for k in range(CHANNELS)]
    table = base.channels.iloc[[0] * CHANNELS].assign(name=names).reset_index(drop=True)
    return dataclasses.replace(base, ieeg=pink, channels=table)


def loop(rec: bids.Recording, channels: int, permutations: int) -> np.ndarray:
    """Index and p-value channel by channel, permutations in a Python loop."""
    sound = contamination.sound_on_ieeg(rec)
    n_window = int(0.2 * rec.sfreq)
    options = {"fs": rec.sfreq, "nperseg": n_window, "noverlap": n_window // 2}
    freqs, _, audio_power = signal.spectrogram(sound, **options)
    keep = (freqs >= 50) & (np.abs(freqs - 50 * np.round(freqs / 50)) > 5)
    rng = np.random.default_rng(0)
    p = []
    for c in range(channels):
        _, _, power = signal.spectrogram(rec.ieeg[:, c], **options)
        a, x = np.log10(audio_power[keep]), np.log10(power[keep])
        matrix = np.corrcoef(a, x)[: keep.sum(), keep.sum() :]
        observed = np.diagonal(matrix).mean()
        null = [
            matrix[rng.permutation(keep.sum()), np.arange(keep.sum())].mean()
            for _ in range(permutations)
        ]
        p.append((1 + np.sum(np.array(null) >= observed)) / (1 + permutations))
    return np.array(p)


def main() -> None:
    rec = recording()
    start = time.perf_counter()
    table = contamination.assess(rec)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    loop(rec, LOOP_CHANNELS, LOOP_PERMUTATIONS)
    scale = (CHANNELS / LOOP_CHANNELS) * (10_000 / LOOP_PERMUTATIONS)
    theirs = (time.perf_counter() - start) * scale
    flagged = table.index[table["contaminated"]].tolist()
    print(f"{CHANNELS} channels x {rec.duration:.0f} s at {rec.sfreq:.0f} Hz, 10,000 permutations")
    print(f"neurospeech.contamination.assess: {ours:.1f} s (goal: under 30 s)")
    print(
        f"per-channel loop: {theirs:.1f} s (measured on {LOOP_CHANNELS} channels x "
        f"{LOOP_PERMUTATIONS} permutations, scaled by {scale:.0f})"
    )
    print(f"ratio: {theirs / ours:.1f}x; flagged {flagged}, planted {list(LEAKY)}")
    clean = contamination.assess(recording(leaky=()))
    shares = ", ".join(
        f"{column} {np.mean(clean[column] < 0.05):.1%}"
        for column in ("p_frequency", "p_time", "p_value")
    )
    print(f"no leak: share of the {CHANNELS} channels below p = 0.05: {shares}")


if __name__ == "__main__":
    main()
