"""Feature spaces for the encoding and decoding analyses: models, layers, word and frame level.

>>> from neurospeech import embeddings
>>> embeddings.word_level("gpt2", recording, trial_length=1.0)   # layers x trials x dims
>>> embeddings.frame_level("wav2vec2-xls-r-300m", recording)     # layers x frames x dims

:mod:`~neurospeech.embeddings.registry` lists the spaces (model id, pinned commit, kind),
:mod:`~neurospeech.embeddings.models` loads them (offline-safe),
:mod:`~neurospeech.embeddings.extract` computes every layer, and
:mod:`~neurospeech.embeddings.cache` keeps the results under ``derivatives/``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from neurospeech.bids import Recording
from neurospeech.embeddings import cache, extract
from neurospeech.embeddings.models import LoadedModel, ModelUnavailableError, load
from neurospeech.embeddings.registry import PROFILES, REGISTRY, UNTRAINED_SEED, FeatureSpace, get

__all__ = [
    "PROFILES",
    "REGISTRY",
    "FeatureSpace",
    "LoadedModel",
    "ModelUnavailableError",
    "frame_level",
    "get",
    "load",
    "word_level",
]


def _description(
    space: FeatureSpace, revision: str | None, recording: Recording, level: str, **params
) -> dict:
    return {
        "space": space.name,
        "level": level,
        "hf_id": space.hf_id,
        "revision": revision,
        "untrained_seed": UNTRAINED_SEED if space.untrained else None,
        "layers": "all",
        "subject": recording.subject,
        "input": cache.input_hash(recording, audio_input=space.kind != "text"),
        **params,
    }


def _resolve(
    space: str | FeatureSpace | LoadedModel,
) -> tuple[FeatureSpace, str | None, Callable[[], LoadedModel]]:
    """Return the feature space, its revision, and how to load it (on a cache miss only)."""
    if isinstance(space, LoadedModel):
        return space.space, space.revision, lambda: space
    space = get(space)
    return space, space.revision, lambda: load(space)


def word_level(
    space: str | FeatureSpace | LoadedModel,
    recording: Recording,
    trial_length: float = 1.0,
    *,
    cache_dir: str | os.PathLike | None = None,
) -> np.ndarray:
    """Features of every trial, from every layer.

    Text models read each trial's word alone (GPT-2: no special tokens; all: the mean
    over the word's tokens); speech models read the audio of ``trial_length`` seconds
    from each word cue and their states are averaged over time; ``log-mel`` is the
    spectrogram averaged over the same window.

    Parameters
    ----------
    space : str, FeatureSpace or LoadedModel
        A registry name, or a model already loaded with :func:`load`.
    recording : Recording
    trial_length : float
        Seconds from the cue (speech and acoustic spaces).
    cache_dir : path-like, optional
        Cache folder (e.g. ``derivatives/neurospeech-embeddings/sub-01``).

    Returns
    -------
    features : ndarray, shape (n_layers, n_trials, dim), float32
        One row per ``word`` event, in event order; layer 0 is the embedding layer.
    """
    space, revision, loader = _resolve(space)
    kind = space.kind
    params = {"trial_length": None if kind == "text" else float(trial_length)}

    def compute() -> np.ndarray:
        if kind == "acoustic":
            return extract.log_mel_trials(recording, trial_length)
        if kind == "text":
            return extract.text_words(loader(), recording.words["value"].astype(str))
        return extract.speech_trials(loader(), recording, trial_length)

    description = _description(space, revision, recording, "word", **params)
    return cache.cached(cache_dir, description, compute)


def frame_level(
    space: str | FeatureSpace | LoadedModel,
    recording: Recording,
    *,
    window: float = 0.05,
    shift: float = 0.01,
    chunk: float | None = None,
    context: float = 4.0,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Features of every neural frame, from every layer.

    Parameters
    ----------
    space : str, FeatureSpace or LoadedModel
        A speech or acoustic space.
    recording : Recording
    window, shift : float
        The neural frames (as :func:`neurospeech.highgamma.extract`).
    chunk, context : float
        Seconds of audio per forward pass (None: 30 s; Whisper: 30 s with the context),
        and of context on each side of it.
    cache_dir : path-like, optional
    progress : bool
        Progress bar over the chunks.

    Returns
    -------
    features : ndarray, shape (n_layers, n_frames, dim), float32
        Exactly one row per frame of ``highgamma.extract(recording.ieeg, ...)``.
    """
    space, revision, loader = _resolve(space)
    if space.kind == "text":
        raise ValueError(f"{space.name} is a text model: it has no frame-level features")
    params = {"window": window, "shift": shift}
    if space.kind == "speech":
        params.update(chunk=chunk, context=context)

    def compute() -> np.ndarray:
        if space.kind == "acoustic":
            return extract.log_mel_frames(recording, window=window, shift=shift)
        return extract.speech_frames(
            loader(),
            recording,
            window=window,
            shift=shift,
            chunk=chunk,
            context=context,
            progress=progress,
        )

    description = _description(space, revision, recording, "frame", **params)
    return cache.cached(cache_dir, description, compute)
