"""Decoding the spoken log-mel spectrogram from high-gamma: the SWPD baseline.

The published baseline (Verwoert et al. 2022, ``reconstruction_minimal.py``): high-gamma
features stacked over +-4 frames (step 5) predict the 23-bin log-mel spectrogram of the
participant's own speech with contiguous 10-fold cross-validation; in each fold the
features are z-scored with the training statistics, projected on the first 50 principal
components of the training fold and mapped to the spectrogram by ordinary least squares.
Each fold is scored by the Pearson r of every mel bin, and chance by correlating the
spectrogram with circular shifts of itself.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import KFold

from neurospeech import audio, highgamma, stats
from neurospeech.bids import Recording, RecordingWarning


def reference_features(
    recording: Recording,
    *,
    order: int = 4,
    step: int = 5,
    window: float = 0.05,
    shift: float = 0.01,
    method: str = "reference",
    n_jobs: int | None = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features and targets of the published decoding pipeline (``extract_features.py``).

    High-gamma frames (:func:`neurospeech.highgamma.extract`, notches at the recording's
    mains harmonics) stacked with their neighbours (:func:`neurospeech.highgamma.stack`);
    the log-mel spectrogram of the audio (:func:`neurospeech.audio.log_mel`) and the word
    on screen per frame (:func:`neurospeech.highgamma.window_labels`), both cut by
    ``order * step`` frames at each end to line up with the stacked frames; finally all
    three cut to the shorter of the two frame counts (window rounding can differ by one).
    The reference leaves the word labels uncut in that last step; here they are cut too,
    so the three arrays always have one row per frame. Like the reference, the audio is
    taken to start with the sEEG; a non-zero ``recording.audio_offset`` gets a warning.

    Channels flagged in ``recording.bad_channels`` (non-finite samples) are left out,
    with a :class:`~neurospeech.bids.RecordingWarning`; the reference has no such step
    (it would fail). The column names of the result are then
    ``highgamma.stacked_names(kept_channels, order)``.

    Parameters
    ----------
    recording : Recording
        From :func:`neurospeech.bids.read_recording`.
    order, step : int
        Stacking: ``order`` neighbours on each side, ``step`` frames apart.
    window, shift : float
        Frame length and hop in seconds.
    method, n_jobs
        See :func:`neurospeech.highgamma.envelope`.

    Returns
    -------
    stacked_hg : ndarray, shape (n_frames, (2 * order + 1) * n_channels)
    log_mel : ndarray, shape (n_frames, 23)
    words : ndarray of str, shape (n_frames,)
        The word on screen (``''`` between words).
    """
    recording = recording.pick_good()
    if abs(recording.audio_offset) >= shift:
        warnings.warn(
            f"sub-{recording.subject}: the audio starts {recording.audio_offset:+.3f} s from "
            f"the sEEG; the reference pipeline (and this one) aligns them at their first "
            f"samples, so the spectrogram is off by that much",
            RecordingWarning,
            stacklevel=2,
        )
    frames = highgamma.extract(
        recording.ieeg,
        recording.sfreq,
        window,
        shift,
        line_freq=recording.line_freq,
        method=method,
        n_jobs=n_jobs,
    )
    stacked = highgamma.stack(frames, order, step)
    trim = order * step
    spec = audio.log_mel(recording.audio, recording.audio_sfreq, window, shift)
    words = highgamma.window_labels(recording.stimulus, recording.sfreq, window, shift)
    spec, words = spec[trim : len(spec) - trim], words[trim : len(words) - trim]
    n_frames = min(len(stacked), len(spec))
    return stacked[:n_frames], spec[:n_frames], words[:n_frames]


@dataclass(frozen=True)
class Reconstruction:
    """Out-of-fold spectrogram reconstruction and its scores.

    Attributes
    ----------
    r : ndarray, shape (n_folds, n_bins)
        Pearson r between the true and the reconstructed spectrogram, per test fold and
        mel bin.
    predicted : ndarray, shape (n_frames, n_bins)
        The reconstructed spectrogram, each frame predicted by the model of the fold that
        held it out.
    explained_variance : ndarray, shape (n_folds,)
        Fraction of the training features' variance in the principal components used.
    fold : ndarray of int, shape (n_frames,)
        The test fold of each frame.
    """

    r: np.ndarray
    predicted: np.ndarray
    explained_variance: np.ndarray
    fold: np.ndarray

    @property
    def mean_r(self) -> float:
        """Mean r over folds and mel bins: the score the dataset paper reports.

        Folds where r is undefined (a constant prediction) are left out.
        """
        return float(np.nanmean(self.r))


def _check_decoding_input(
    stacked_hg: np.ndarray, log_mel: np.ndarray, n_folds: int, n_components: int
) -> tuple[np.ndarray, np.ndarray]:
    features = np.asarray(stacked_hg, dtype=float)
    target = np.asarray(log_mel, dtype=float)
    if features.ndim != 2 or target.ndim != 2:
        raise ValueError(
            f"stacked_hg and log_mel must be 2-D (frames x features, frames x bins), got "
            f"shapes {features.shape} and {target.shape}"
        )
    if len(features) != len(target):
        raise ValueError(
            f"stacked_hg has {len(features)} frames but log_mel has {len(target)}: they must "
            f"be aligned frame by frame (see reference_features)"
        )
    if n_folds < 2 or len(features) < n_folds:
        raise ValueError(
            f"{len(features)} frames cannot be split into {n_folds} folds (need n_folds >= 2 "
            f"and at least one frame per fold)"
        )
    if not 1 <= n_components <= features.shape[1]:
        raise ValueError(
            f"n_components={n_components} is not between 1 and the {features.shape[1]} "
            f"features of stacked_hg"
        )
    smallest_training = len(features) - -(-len(features) // n_folds)
    if n_components > smallest_training:
        raise ValueError(
            f"n_components={n_components} exceeds the {smallest_training} frames of the "
            f"smallest training set ({len(features)} frames in {n_folds} folds)"
        )
    for name, array in (("stacked_hg", features), ("log_mel", target)):
        if not np.all(np.isfinite(array)):
            rows = np.unique(np.nonzero(~np.isfinite(array))[0])
            raise ValueError(
                f"{name} has non-finite values in {len(rows)} frames (first {rows[0]})"
            )
    return features, target


def linear_reconstruction(
    stacked_hg: np.ndarray,
    log_mel: np.ndarray,
    n_folds: int = 10,
    n_components: int = 50,
) -> Reconstruction:
    """Reconstruct the spectrogram from high-gamma as the dataset's baseline does.

    Contiguous folds (``KFold`` without shuffling); in each, the features are z-scored
    with the training mean and standard deviation, projected on the first
    ``n_components`` principal components of the training fold (``PCA`` fitted there)
    and mapped to every mel bin by ordinary least squares with an intercept.

    Parameters
    ----------
    stacked_hg : ndarray, shape (n_frames, n_features)
    log_mel : ndarray, shape (n_frames, n_bins)
    n_folds : int
        Number of contiguous folds.
    n_components : int
        Principal components kept; at most the number of features.

    Returns
    -------
    Reconstruction
    """
    features, target = _check_decoding_input(stacked_hg, log_mel, n_folds, n_components)
    predicted = np.zeros_like(target)
    explained = np.zeros(n_folds)
    fold = np.zeros(len(target), dtype=int)
    for k, (train, test) in enumerate(KFold(n_folds, shuffle=False).split(features)):
        mean = features[train].mean(axis=0)
        std = stats.nonzero_std(
            features[train],
            f"features {{}} are constant in the training frames of fold {k}; they cannot be "
            f"z-scored",
        )
        train_z = (features[train] - mean) / std
        test_z = (features[test] - mean) / std
        pca = PCA().fit(train_z)
        explained[k] = pca.explained_variance_ratio_[:n_components].sum()
        basis = pca.components_[:n_components].T
        model = LinearRegression().fit(train_z @ basis, target[train])
        predicted[test] = model.predict(test_z @ basis)
        fold[test] = k
    return Reconstruction(
        r=fold_r(target, predicted, fold),
        predicted=predicted,
        explained_variance=explained,
        fold=fold,
    )


def circular_shift_chance(
    spectrogram: np.ndarray,
    prediction: np.ndarray | None = None,
    *,
    fold: np.ndarray | None = None,
    n_shifts: int = 1000,
    seed: int = 0,
    margin: float = 0.1,
) -> np.ndarray:
    """Chance-level r per mel bin from circular shifts of the spectrogram.

    Each draw picks a split point uniformly among the frames at least ``margin`` of the
    length from either end and swaps the two parts (a circular shift). With
    ``prediction=None`` the shifted spectrogram is correlated with the unshifted one
    over the whole recording: the published scheme. Given the reconstructed spectrogram
    and its folds, the shifted true spectrogram is correlated with it within each fold
    and the r are averaged over folds: the chance level of the decoder's own score,
    computed as that score is (:attr:`Reconstruction.mean_r`). See
    :func:`neurospeech.stats.circular_shift_null` and
    :func:`neurospeech.stats.circular_fold_null`.

    Parameters
    ----------
    spectrogram : ndarray, shape (n_frames, n_bins)
    prediction : ndarray, shape (n_frames, n_bins), optional
    fold : ndarray of int, shape (n_frames,), optional
        The test fold of each frame (``Reconstruction.fold``); needed with ``prediction``.
    n_shifts : int
        Number of random shifts.
    seed : int
        Seed of the split points.
    margin : float
        Fraction of the frames excluded at each end as split points (0.1: 10 %-90 %).

    Returns
    -------
    r : ndarray, shape (n_shifts, n_bins)
    """
    options = {"n_shifts": n_shifts, "seed": seed, "margin": margin}
    if prediction is None:
        return stats.circular_shift_null(spectrogram, spectrogram, **options)
    if fold is None:
        raise ValueError("the decoder's chance needs the fold of each frame (Reconstruction.fold)")
    return stats.circular_fold_null(spectrogram, prediction, fold, **options)


def fold_r(
    truth: np.ndarray, predicted: np.ndarray, fold: np.ndarray, frames: np.ndarray | None = None
) -> np.ndarray:
    """Pearson r per fold and mel bin, over all of a fold's frames or the selected ones.

    Parameters
    ----------
    truth, predicted : ndarray, shape (n_frames, n_bins)
    fold : ndarray of int, shape (n_frames,)
        The test fold of each frame.
    frames : ndarray of bool, shape (n_frames,), optional
        Only these frames (e.g. speech frames, :func:`neurospeech.audio.speech_mask`).

    Returns
    -------
    r : ndarray, shape (n_folds, n_bins)
        NaN where a fold has fewer than 3 selected frames or a constant column.
    """
    fold = np.asarray(fold)
    keep = np.ones(len(fold), bool) if frames is None else np.asarray(frames, bool)
    rows = []
    for label in np.unique(fold):
        chosen = (fold == label) & keep
        if chosen.sum() < 3:
            rows.append(np.full(truth.shape[1], np.nan))
        else:
            rows.append(stats.pearson_r(truth[chosen], predicted[chosen]))
    return np.array(rows)


def speech_silence_oracle(
    log_mel: np.ndarray, speech: np.ndarray, n_folds: int = 10
) -> Reconstruction:
    """Predict each frame's spectrum from whether it is speech, with the decoder's folds.

    In each contiguous fold (as :func:`linear_reconstruction`), a held-out frame is
    predicted by the mean spectrum of the training folds' speech frames, or of their
    silent frames: a predictor that knows when the participant speaks and nothing
    about what. Scored as the decoder is (r per fold and mel bin), its r is the part of
    the decoder's that speech timing alone explains.

    Parameters
    ----------
    log_mel : ndarray, shape (n_frames, n_bins)
    speech : ndarray of bool, shape (n_frames,)
        Which frames are speech (e.g. :func:`neurospeech.audio.speech_mask`).
    n_folds : int

    Returns
    -------
    Reconstruction
        ``explained_variance`` is NaN (no features are reduced).
    """
    target = np.asarray(log_mel, dtype=float)
    speech = np.asarray(speech, dtype=bool)
    if speech.shape != target.shape[:1]:
        raise ValueError(
            f"speech must hold one flag per frame ({len(target)}), got shape {speech.shape}"
        )
    predicted = np.zeros_like(target)
    fold = np.zeros(len(target), dtype=int)
    for k, (train, test) in enumerate(KFold(n_folds, shuffle=False).split(target)):
        means = []
        for flag in (False, True):
            chosen = train[speech[train] == flag]
            if not len(chosen):
                raise ValueError(
                    f"fold {k} has no {'speech' if flag else 'silent'} training frames"
                )
            means.append(target[chosen].mean(axis=0))
        predicted[test] = np.where(speech[test, None], means[1], means[0])
        fold[test] = k
    return Reconstruction(
        r=fold_r(target, predicted, fold),
        predicted=predicted,
        explained_variance=np.full(n_folds, np.nan),
        fold=fold,
    )


def compare_with_chance(scores: np.ndarray, chance: np.ndarray) -> dict[str, float]:
    """Compare a participant's mean r with the chance distribution of the mean r.

    Parameters
    ----------
    scores : ndarray
        r values of the decoder (e.g. ``Reconstruction.r``, folds x bins).
    chance : ndarray, shape (n_shifts, n_bins)
        From :func:`circular_shift_chance`.

    Returns
    -------
    comparison : dict
        ``mean_r``; ``chance_mean`` and ``chance_p95`` (mean and 95th percentile of the
        mean-over-bins r of the shifts); ``p_value``, the fraction of shifts scoring at
        least ``mean_r`` (counting the observation itself).
    """
    observed = float(np.mean(scores))
    null = np.asarray(chance).mean(axis=1)
    return {
        "mean_r": observed,
        "chance_mean": float(null.mean()),
        "chance_p95": float(np.percentile(null, 95)),
        "p_value": stats.permutation_p(observed, null),
    }


def decoder_scores(
    recording: Recording, *, n_shifts: int = 1000, seed: int = 0, n_components: int = 50
) -> tuple[Reconstruction, np.ndarray, dict[str, float]]:
    """Decode a recording's spectrogram and score the decoder against its chance.

    The reference features (:func:`reference_features`), the cross-validated linear
    reconstruction (:func:`linear_reconstruction`, with at most as many components as
    features), the decoder's chance (:func:`circular_shift_chance` with ``fold``) and the r
    within speech frames (:func:`fold_r`, :func:`neurospeech.audio.speech_mask`).

    Returns
    -------
    result : Reconstruction
    log_mel : ndarray, shape (n_frames, 23)
        The true spectrogram.
    scores : dict
        ``channels``, ``features``, ``mean_r``, ``chance_p95_decoder``, ``p_decoder`` and
        ``mean_r_within_speech``.
    """
    stacked, log_mel, _ = reference_features(recording)
    result = linear_reconstruction(
        stacked, log_mel, n_components=min(n_components, stacked.shape[1])
    )
    chance = compare_with_chance(
        result.r,
        circular_shift_chance(
            log_mel, result.predicted, fold=result.fold, n_shifts=n_shifts, seed=seed
        ),
    )
    within = fold_r(log_mel, result.predicted, result.fold, audio.speech_mask(log_mel))
    return (
        result,
        log_mel,
        {
            "channels": len(recording.ch_names),
            "features": stacked.shape[1],
            "mean_r": result.mean_r,
            "chance_p95_decoder": chance["chance_p95"],
            "p_decoder": chance["p_value"],
            "mean_r_within_speech": float(np.nanmean(within)),
        },
    )


def r_table(results: dict[str, Reconstruction]) -> pd.DataFrame:
    """Tidy table of r: one row per participant, fold and mel bin."""
    rows = [
        {"subject": subject, "fold": k, "mel_bin": b, "r": value}
        for subject, result in results.items()
        for (k, b), value in np.ndenumerate(result.r)
    ]
    return pd.DataFrame(rows, columns=["subject", "fold", "mel_bin", "r"])
