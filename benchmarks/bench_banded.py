"""Compare the banded ridge of the variance partitioning with himalaya's, and time the
nuisance features on real speech.

The issue's size (issue 23), side by side in one run: 30,000 frames, 110 electrodes, the
lagged bands of the partitioning (21 lags of 8 nuisance columns, 23 log-mel bins and 16
principal components of a layer), one outer fold's training frames with 5 contiguous
inner folds, 20 penalties and the candidate band weights of
:func:`neurospeech.ridge.band_weights`:

- ``neurospeech``: :func:`neurospeech.ridge.banded` (one :class:`~neurospeech.ridge.InnerCV`
  per candidate);
- ``himalaya``: ``himalaya.ridge.solve_group_ridge_random_search`` with the same candidate
  weights (``n_iter``), penalties, folds and R2 score (numpy backend); the coefficients
  are compared.

Then the real-time factors of :func:`neurospeech.audio.voice_activity` (Silero VAD) and
:func:`neurospeech.nuisance.pitch` (``librosa.pyin`` at 8 kHz) on the 300 s of real speech
of ``../shared/realspeech``.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.model_selection import KFold

from neurospeech import audio, bids, nuisance, ridge

N_FRAMES, N_ELECTRODES, N_LAGS = 30_000, 110, 21
BANDS = {"nuisance": 8, "log-mel": 23, "layer": 16}
ALPHAS = np.logspace(-2, 8, 20)
REALSPEECH = Path(__file__).resolve().parents[2] / "shared" / "realspeech" / "swpd"


def make_data(n_bands: int, n_frames: int = N_FRAMES):
    """Z-scored lagged-size bands and targets that read some of them."""
    rng = np.random.default_rng(0)
    widths = [width * N_LAGS for width in list(BANDS.values())[:n_bands]]
    bands = [rng.standard_normal((n_frames, width)) for width in widths]
    x = np.hstack(bands)
    reads = rng.uniform(0, 1, (n_bands, N_ELECTRODES)) ** 4  # each electrode its own mix
    weights = rng.standard_normal((x.shape[1], N_ELECTRODES)) * np.repeat(reads, widths, axis=0)
    y = x @ (weights / np.sqrt(x.shape[1])) + rng.standard_normal((n_frames, N_ELECTRODES))
    train = next(KFold(5).split(x))[0]
    return [band[train] for band in bands], y[train], widths


def ours(bands, y, widths, weights):
    x = np.hstack(bands)
    return ridge.banded(x, y, widths, list(KFold(5).split(x)), ALPHAS, weights)[0]


def himalaya(bands, y, widths, weights):
    from himalaya.ridge import solve_group_ridge_random_search
    from himalaya.scoring import r2_score

    _, coefficients, _ = solve_group_ridge_random_search(
        bands,
        y,
        n_iter=weights,
        alphas=ALPHAS,
        cv=KFold(5),
        score_func=r2_score,
        fit_intercept=False,
        return_weights=True,
        progress_bar=False,
        n_alphas_batch=5,
        warn=False,
    )
    return np.asarray(coefficients)


def timed(function, *args):
    start = time.perf_counter()
    out = function(*args)
    return time.perf_counter() - start, out


def real_time_factors() -> list[tuple[str, float]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bids.RecordingWarning)
        recording = bids.read_recording(REALSPEECH, "02")
    seconds = len(recording.audio) / recording.audio_sfreq
    rows = []
    for name, function in (
        ("Silero VAD (audio.voice_activity)", audio.voice_activity),
        ("pYIN pitch at 8 kHz (nuisance.pitch)", nuisance.pitch),
    ):
        elapsed, _ = timed(function, recording.audio, recording.audio_sfreq)
        rows.append((name, elapsed / seconds))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.1, 1.0, 10.0])
    parser.add_argument(
        "--frames",
        type=int,
        default=N_FRAMES,
        help="frames of the recording (himalaya's time grows with the square of it)",
    )
    parser.add_argument(
        "--bands", type=int, nargs="+", default=[2, 3], help="rows: the first 2 or 3 bands"
    )
    args = parser.parse_args()
    print(f"{args.frames:,} frames (4/5 of them fitted), {N_ELECTRODES} electrodes\n")
    print("| bands | columns | candidates | neurospeech (s) | himalaya (s) | speed-up | max diff |")
    print("|---|---|---|---|---|---|---|")
    for n_bands in args.bands:
        bands, y, widths = make_data(n_bands, args.frames)
        weights = ridge.band_weights(n_bands, args.ratios)
        ours_s, mine = timed(ours, bands, y, widths, weights)
        theirs_s, theirs = timed(himalaya, bands, y, widths, weights)
        print(
            f"| {' + '.join(list(BANDS)[:n_bands])} | {sum(widths)} | {len(weights)} | "
            f"{ours_s:.1f} | {theirs_s:.1f} | {theirs_s / ours_s:.0f}x | "
            f"{np.abs(mine - theirs).max():.1e} |"
        )
    if REALSPEECH.is_dir():
        print("\n| nuisance feature | real-time factor (300 s of real speech) |\n|---|---|")
        for name, factor in real_time_factors():
            print(f"| {name} | {factor:.3f} |")


if __name__ == "__main__":
    main()
