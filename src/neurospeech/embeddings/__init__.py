"""Feature spaces for the encoding and decoding analyses: models, layers, word and frame level.

>>> from neurospeech import embeddings
>>> embeddings.word_level("gpt2", recording, trial_length=1.0)   # layers x trials x dims
>>> embeddings.trial_features("wav2vec2-xls-r-300m", recording, 2.0,
...                           layer="last-raw", pooling="flatten")  # trials x (time * dims)
>>> embeddings.frame_level("wav2vec2-xls-r-300m", recording)     # layers x frames x dims
>>> path = embeddings.frame_level_file("wav2vec2-xls-r-300m", recording, cache_dir=folder)
>>> embeddings.read_layer(path, 6)                                # frames x dims

:mod:`~neurospeech.embeddings.registry` lists the spaces (model id, pinned commit, kind),
:mod:`~neurospeech.embeddings.models` loads them (offline-safe),
:mod:`~neurospeech.embeddings.extract` computes every layer, and
:mod:`~neurospeech.embeddings.cache` keeps the results under ``derivatives/``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from neurospeech import highgamma, nuisance
from neurospeech.bids import Recording
from neurospeech.embeddings import cache, extract, registry, standins
from neurospeech.embeddings.models import LoadedModel, ModelUnavailableError, load
from neurospeech.embeddings.registry import (
    POOLINGS,
    PROFILES,
    RAW_LAST,
    REGISTRY,
    UNTRAINED_SEED,
    FeatureSpace,
    get,
)

__all__ = [
    "POOLINGS",
    "PROFILES",
    "RAW_LAST",
    "REGISTRY",
    "FeatureSpace",
    "LoadedModel",
    "ModelUnavailableError",
    "frame_level",
    "frame_level_file",
    "get",
    "load",
    "read_layer",
    "trial_features",
    "word_level",
]


def _description(
    space: FeatureSpace, revision: str | None, recording: Recording, level: str, **params
) -> dict:
    if level == "word":
        rows = len(recording.words)
    else:
        starts, _ = highgamma.windows(
            recording.ieeg.shape[0], recording.sfreq, params["window"], params["shift"]
        )
        rows = len(starts)
    return {
        "rows": rows,
        "space": space.name,
        "level": level,
        "hf_id": space.hf_id,
        "revision": revision,
        "untrained_seed": UNTRAINED_SEED if space.untrained else None,
        "layers": "all",
        "subject": recording.subject,
        "input": cache.input_hash(recording, audio_input=space.kind != "text"),
        **params,
        # a rehearsal's stand-ins never stand in for the real model's features
        **({"rehearsal": True} if space.hf_id is not None and standins.rehearsal() else {}),
    }


def _resolve(
    space: str | FeatureSpace | LoadedModel, device: str = "cpu"
) -> tuple[FeatureSpace, str | None, Callable[[], LoadedModel]]:
    """Return the feature space, its revision, and how to load it (on a cache miss only)."""
    if isinstance(space, LoadedModel):
        if device != "cpu":
            raise ValueError(f"{space.space.name} is loaded already: load it on {device} instead")
        return space.space, space.revision, lambda: space
    space = get(space)
    return space, space.revision, lambda: load(space, device=device)


def _check_not_nuisance(space: FeatureSpace) -> None:
    if space.kind == "nuisance":
        raise ValueError(
            f"{space.name} marks when speech happens frame by frame: it has no word-level "
            "features (use frame_level)"
        )


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
    _check_not_nuisance(space)
    params = {"trial_length": None if kind == "text" else float(trial_length)}

    def compute() -> np.ndarray:
        if kind == "acoustic":
            return extract.log_mel_trials(recording, trial_length)
        if kind == "text":
            return extract.text_words(loader(), recording.words["value"].astype(str))
        return extract.speech_trials(loader(), recording, trial_length)

    description = _description(space, revision, recording, "word", **params)
    return cache.cached(cache_dir, description, compute)


def trial_features(
    space: str | FeatureSpace | LoadedModel,
    recording: Recording,
    trial_length: float = 1.0,
    *,
    layer: int | str = -1,
    pooling: str = "mean",
    cache_dir: str | os.PathLike | None = None,
) -> np.ndarray:
    """One layer's features of every trial, pooled over the trial's frames.

    Parameters
    ----------
    space, recording, trial_length, cache_dir
        As for :func:`word_level`.
    layer : int or "last-raw"
        A hidden state (negative: from the last), or ``"last-raw"``
        (:data:`~neurospeech.embeddings.registry.RAW_LAST`): the raw output of a speech
        model's last transformer layer, before the encoder's final norm, read by a
        forward hook. With XLS-R's stable-layer-norm encoder that is torchaudio's
        ``extract_features(...)[-1]``, not the model's normed output; Hugging Face's
        ``hidden_states[-1]`` is the normed one in transformers 4 and the raw one in 5,
        so this layer does not depend on it.
    pooling : {"mean", "flatten"}
        The mean over the trial's frames (the layer of :func:`word_level`, sharing its
        cache), or every frame of the trial, flattened time-major (speech and acoustic
        spaces; a text model has one vector per word).

    Returns
    -------
    features : ndarray, shape (n_trials, dim), float32
        ``dim`` is frames x dims when flattened.
    """
    if pooling == "mean" and not isinstance(layer, str):  # a layer of word_level
        return word_level(space, recording, trial_length, cache_dir=cache_dir)[layer]
    space, revision, loader = _resolve(space)
    _check_not_nuisance(space)
    registry.check_trial_options(space, layer, pooling)
    params = {"trial_length": float(trial_length), "layers": layer, "pooling": pooling}

    def compute() -> np.ndarray:
        if space.kind == "acoustic":  # one layer: the spectrogram
            return extract.log_mel_trials(recording, trial_length, pooling=pooling)[[layer]]
        return extract.speech_trials(
            loader(), recording, trial_length, layer=layer, pooling=pooling
        )

    description = _description(space, revision, recording, "word", **params)
    return cache.cached(cache_dir, description, compute)[0]


def _frame_level_job(
    space: str | FeatureSpace | LoadedModel,
    recording: Recording,
    *,
    window: float = 0.05,
    shift: float = 0.01,
    chunk: float | None = None,
    context: float = 4.0,
    per_trial: bool = False,
    causal: bool = False,
    layers: Sequence[int] | None = None,
    device: str = "cpu",
    progress: bool = False,
) -> tuple[dict, Callable[[], np.ndarray]]:
    """Return the cache description of frame-level features and how to compute them."""
    space, revision, loader = _resolve(space, device)
    if space.kind == "text":
        raise ValueError(f"{space.name} is a text model: it has no frame-level features")
    params = {"window": window, "shift": shift}
    if layers is not None:
        layers = sorted({int(layer) for layer in layers})
        if not layers:
            raise ValueError("layers: give at least one hidden state to average, or None")
        params["mean_of_layers"] = layers
    if space.kind == "speech":
        if causal and per_trial:
            raise ValueError("causal and per_trial features are two different runs: pick one")
        if causal:
            params.update({"causal": True, "context": context})
        else:
            params.update(
                {"per_trial": True} if per_trial else {"chunk": chunk, "context": context}
            )
        if device != "cpu":  # another device gives other rounding: never mixed with CPU features
            params["device"] = device

    def compute() -> np.ndarray:
        states = every_layer()
        if layers is None:
            return states
        chosen = sorted({layer % len(states) for layer in layers})
        return states[chosen].mean(axis=0, keepdims=True, dtype=np.float32)

    def every_layer() -> np.ndarray:
        if space.kind == "acoustic":
            return extract.log_mel_frames(recording, window=window, shift=shift)
        if space.kind == "nuisance":
            return nuisance.frames(recording, window=window, shift=shift)
        if causal:
            return extract.causal_frames(
                loader(),
                recording,
                window=window,
                shift=shift,
                context=context,
                progress=progress,
            )
        return extract.speech_frames(
            loader(),
            recording,
            window=window,
            shift=shift,
            chunk=chunk,
            context=context,
            per_trial=per_trial,
            progress=progress,
        )

    return _description(space, revision, recording, "frame", **params), compute


def frame_level(
    space: str | FeatureSpace | LoadedModel,
    recording: Recording,
    *,
    window: float = 0.05,
    shift: float = 0.01,
    chunk: float | None = None,
    context: float = 4.0,
    per_trial: bool = False,
    causal: bool = False,
    layers: Sequence[int] | None = None,
    cache_dir: str | os.PathLike | None = None,
    device: str = "cpu",
    progress: bool = False,
) -> np.ndarray:
    """Features of every neural frame, from every layer (or the mean of some).

    Parameters
    ----------
    space : str, FeatureSpace or LoadedModel
        A speech, acoustic or nuisance space.
    recording : Recording
    window, shift : float
        The neural frames (as :func:`neurospeech.highgamma.extract`).
    chunk, context : float
        Seconds of audio per forward pass (None: 30 s; Whisper: 30 s with the context),
        and of context on each side of it.
    per_trial : bool
        Run a speech model on each trial's audio alone, from the word's cue to the next
        cue (:func:`~neurospeech.embeddings.extract.speech_frames`), instead of chunks
        with context; a log-mel frame reads only its own 50 ms, so it is the same.
    causal : bool
        Past-only features (:func:`~neurospeech.embeddings.extract.causal_frames`): a
        frame reads the ``context`` seconds before its time and nothing after.
    layers : sequence of int, optional
        Hidden states (negative: from the last; a space with fewer has them taken modulo
        its count) averaged into one layer, which is all that is cached: a model's
        every layer is ``n_layers`` times the disk (for XLS-R, 25 x 1024 values a frame).
        None: every layer, each kept.
    cache_dir : path-like, optional
    device : str
        Where a model named by ``space`` runs on a cache miss (e.g. ``"cuda"``); features
        from another device than the CPU are cached apart from the CPU's.
    progress : bool
        Progress bar over the chunks.

    Returns
    -------
    features : ndarray, shape (n_layers, n_frames, dim), float32
        Exactly one row per frame of ``highgamma.extract(recording.ieeg, ...)``; one
        layer with ``layers``.
    """
    description, compute = _frame_level_job(
        space,
        recording,
        window=window,
        shift=shift,
        chunk=chunk,
        context=context,
        per_trial=per_trial,
        causal=causal,
        layers=layers,
        device=device,
        progress=progress,
    )
    return cache.cached(cache_dir, description, compute)


def frame_level_file(
    space: str | FeatureSpace | LoadedModel,
    recording: Recording,
    *,
    cache_dir: str | os.PathLike,
    **options,
) -> Path:
    """Write the features of :func:`frame_level` to the cache, if not there; return the file.

    For work spread over machines that share the cache folder: one task writes the file
    of a participant and model, and others read one layer each with :func:`read_layer`.
    ``options`` are the other keyword arguments of :func:`frame_level`.
    """
    return cache.store(cache_dir, *_frame_level_job(space, recording, **options))


def read_layer(path: str | os.PathLike, layer: int) -> np.ndarray:
    """Read one layer (frames x dims, float32) of a file of :func:`frame_level_file`."""
    return cache.read(path, layer)
