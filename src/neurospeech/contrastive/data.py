"""From a recording to word segments: scaled brain signals, targets and contact positions."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from neurospeech import embeddings, highgamma, nuisance
from neurospeech.bids import Recording, RecordingWarning

#: Neural frames: 50 ms windows every 10 ms (100 Hz), as everywhere in the package.
WINDOW, SHIFT = 0.05, 0.01
#: Robust-scaled values are clipped to this many interquartile ranges (Defossez et al.).
CLAMP = 20.0


def robust_scale(frames: np.ndarray, names: Sequence[str], clamp: float = CLAMP) -> np.ndarray:
    """Centre each column on its median, divide by its interquartile range, clip to ``clamp``.

    Parameters
    ----------
    frames : ndarray, shape (n_frames, n_channels)
    names : sequence of str
        Channel names, for the error on a channel without spread.
    clamp : float

    Returns
    -------
    scaled : ndarray, shape (n_frames, n_channels), float32
    """
    low, median, high = np.percentile(frames, [25, 50, 75], axis=0)
    spread = high - low
    flat = [names[i] for i in np.flatnonzero(~(spread > 0))]
    if flat:
        raise ValueError(f"channels {flat} have no interquartile range: they cannot be scaled")
    return np.clip((frames - median) / spread, -clamp, clamp).astype(np.float32)


def contact_positions(recording: Recording, names: Sequence[str]) -> np.ndarray:
    """ACPC coordinates (mm) of the contacts ``names``, from ``electrodes.tsv``.

    Raises
    ------
    ValueError
        Naming the participant and the contacts without a finite position: the spatial
        attention places every contact, so there is no fallback.
    """
    table = recording.electrodes.set_index("name").reindex(list(names))
    positions = table[["x", "y", "z"]].apply(lambda c: c.astype(float)).to_numpy()
    missing = [name for name, row in zip(names, positions) if not np.all(np.isfinite(row))]
    if missing:
        raise ValueError(
            f"sub-{recording.subject}: contacts {missing} have no x, y, z in "
            f"space-ACPC_electrodes.tsv; the contrastive decoder's spatial attention needs "
            f"the position of every contact (mark the contact bad in channels.tsv to leave it "
            f"out)"
        )
    return positions


def target_features(
    space: str | embeddings.FeatureSpace | embeddings.LoadedModel,
    recording: Recording,
    layers: int | Sequence[int] = (-4, -3, -2, -1),
    *,
    per_trial: bool = True,
    cache_dir: str | os.PathLike | None = None,
) -> np.ndarray:
    """Return a feature space on the neural frame grid: one layer, or the mean of several.

    The default is the mean of the last four layers, as Defossez et al. used for
    wav2vec 2.0; a space with fewer layers (log-mel has one) averages those it has.
    With ``per_trial`` (the default) a speech model hears each trial's audio alone
    (:func:`neurospeech.embeddings.frame_level`), so a word's targets carry no context
    of the words before or after it. Only the mean is cached.

    Returns
    -------
    features : ndarray, shape (n_frames, dim), float32
    """
    layers = [int(layer) for layer in np.atleast_1d(layers)]
    states = embeddings.frame_level(
        space, recording, per_trial=per_trial, layers=layers, cache_dir=cache_dir
    )
    return states[0]


@dataclass(frozen=True)
class Segments:
    """One participant's word segments.

    Attributes
    ----------
    subject : str
    words : ndarray of str, shape (n_segments,)
    brain : ndarray, shape (n_segments, n_signals, n_channels, n_times), float32
        Robust-scaled high-gamma (signal 0) and broadband (signal 1, if asked for).
    targets : ndarray, shape (n_segments, n_times, dim), float32
    positions : ndarray, shape (n_channels, 3)
        ACPC coordinates in mm.
    """

    subject: str
    words: np.ndarray
    brain: np.ndarray
    targets: np.ndarray
    positions: np.ndarray

    def __len__(self) -> int:
        return len(self.words)


@dataclass(frozen=True)
class Participant:
    """One participant's continuous inputs, ready to cut into :class:`Segments`.

    Attributes
    ----------
    subject : str
    signals : ndarray, shape (n_signals, n_channels, n_frames), float32
        Robust-scaled high-gamma envelope (and broadband signal) at 100 Hz.
    words : ndarray of str
        The words whose speech onset was found.
    onsets : ndarray of float
        Their speech onsets in seconds on the iEEG clock.
    positions : ndarray, shape (n_channels, 3)
    channels : tuple of str
    """

    subject: str
    signals: np.ndarray
    words: np.ndarray
    onsets: np.ndarray
    positions: np.ndarray
    channels: tuple[str, ...]

    def segments(self, targets: np.ndarray, length: float = 1.0, offset: float = -0.2) -> Segments:
        """Cut a segment per word: targets from speech onset, brain from onset + ``offset``.

        Parameters
        ----------
        targets : ndarray, shape (n_frames, dim)
            A feature space on the same neural frames (:func:`target_features`).
        length : float
            Seconds per segment.
        offset : float
            Start of the brain window relative to the speech onset, in seconds; negative
            (the default) lets the brain lead the audio, as in production.

        Returns
        -------
        segments : Segments
            Words whose brain or target window does not fit in the recording are left
            out with a :class:`~neurospeech.bids.RecordingWarning`.
        """
        n_frames = self.signals.shape[2]
        targets = np.asarray(targets, dtype=np.float32)
        if targets.ndim != 2 or len(targets) != n_frames:
            raise ValueError(
                f"sub-{self.subject}: targets must be (n_frames, dim) with the {n_frames} "
                f"neural frames, got shape {targets.shape}"
            )
        n_times = int(round(length / SHIFT))
        if n_times < 1:
            raise ValueError(f"length must be at least one {SHIFT} s frame, got {length}")
        brain_first = frame_index(self.onsets + offset)
        target_first = frame_index(self.onsets)
        fits = (np.minimum(brain_first, target_first) >= 0) & (
            np.maximum(brain_first, target_first) + n_times <= n_frames
        )
        if not fits.all():
            warnings.warn(
                f"sub-{self.subject}: the {length:g} s windows (offset {offset:g} s) of words "
                f"{self.words[~fits].tolist()} do not fit in the recording; left out",
                RecordingWarning,
                stacklevel=2,
            )
        span = np.arange(n_times)
        brain = self.signals[:, :, brain_first[fits, None] + span]  # signals, ch, seg, t
        return Segments(
            subject=self.subject,
            words=self.words[fits],
            brain=np.ascontiguousarray(brain.transpose(2, 0, 1, 3)),
            targets=targets[target_first[fits, None] + span],
            positions=self.positions,
        )


def frame_index(times: np.ndarray) -> np.ndarray:
    """Index of the first neural frame whose centre is at or after each time (s)."""
    return np.ceil(np.round((np.asarray(times) - WINDOW / 2) / SHIFT, 6)).astype(int)


def participant(recording: Recording, *, broadband: bool = False) -> Participant:
    """Prepare a recording for the contrastive decoder.

    High-gamma (and, with ``broadband``, the mean voltage of each frame) of the good
    channels, each channel robust-scaled over the whole recording (unsupervised: no
    labels are used); speech onsets found in each word's trial
    (:func:`neurospeech.nuisance.speech_times`: within the voice activity); contact
    positions.

    Parameters
    ----------
    recording : Recording
    broadband : bool
        Add the broadband signal as a second input signal.

    Returns
    -------
    participant : Participant
        Words without a detectable speech onset are left out with a warning.
    """
    recording = recording.pick_good()
    names = recording.ch_names
    positions = contact_positions(recording, names)
    ieeg = recording.ieeg
    frames = highgamma.extract(ieeg, recording.sfreq, WINDOW, SHIFT, line_freq=recording.line_freq)
    signals = [robust_scale(frames, names)]
    if broadband:
        signals.append(robust_scale(highgamma.window_means(ieeg, recording.sfreq), names))
    onsets, _ = nuisance.speech_times(recording)
    words = recording.trials()["value"].astype(str).to_numpy()
    silent = np.isnan(onsets)
    if silent.any():
        warnings.warn(
            f"sub-{recording.subject}: no speech found in the trials of words "
            f"{words[silent].tolist()}; left out",
            RecordingWarning,
            stacklevel=2,
        )
    return Participant(
        subject=recording.subject,
        signals=np.stack(signals).transpose(0, 2, 1).copy(),
        words=words[~silent],
        onsets=onsets[~silent],
        positions=positions,
        channels=tuple(names),
    )
