"""Every hidden layer of a model, per word or per neural frame, in one forward pass each.

Word level: a text model reads each word alone; a speech model reads the audio of each
trial window (from the word cue) and its states are averaged over time (or flattened, one
layer at a time). Frame level: a
speech model reads the whole recording in chunks with context on both sides (memory
stays bounded; each kept frame has at least ``context`` seconds of audio around it), and
its states are interpolated onto the centres of the neural frames (50 ms windows every
10 ms), one row per frame of :func:`neurospeech.highgamma.extract`.
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from neurospeech import audio, highgamma
from neurospeech.bids import Recording
from neurospeech.embeddings.models import LoadedModel
from neurospeech.embeddings.registry import POOLINGS, RAW_LAST

#: Trial windows per forward pass at word level.
_BATCH = 16
#: Seconds of audio a Whisper encoder reads.
WHISPER_SECONDS = 30.0


def _normalized(loaded: LoadedModel, waveform: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance where the model's feature extractor asks for it."""
    if loaded.space.family == "whisper" or not getattr(
        loaded.feature_extractor, "do_normalize", False
    ):
        return waveform
    return (waveform - waveform.mean()) / np.sqrt(waveform.var() + 1e-7)


def frame_timing(loaded: LoadedModel) -> tuple[float, float]:
    """Return (offset, hop) in seconds of a speech model's output frames.

    Frame ``j`` is centred ``offset + j * hop`` seconds after the start of the input.
    """
    config = loaded.model.config
    if loaded.space.family == "whisper":
        hop = loaded.feature_extractor.hop_length * 2 / loaded.sfreq  # conv2 has stride 2
        return 0.0, hop
    field, jump = 1, 1
    for kernel, stride in zip(config.conv_kernel, config.conv_stride):
        field += (kernel - 1) * jump
        jump *= stride
    return (field - 1) / 2 / loaded.sfreq, jump / loaded.sfreq


def _last_layer(model):
    """Return the last transformer layer of a speech model (its encoder's)."""
    layers = getattr(getattr(model, "encoder", model), "layers", None)
    if layers is None:
        raise ValueError(f"{type(model).__name__} has no encoder layers to read")
    return layers[-1]


def _raw_last(loaded: LoadedModel, inputs):
    """Run the model and return its last layer's raw output (before any final norm)."""
    captured = []

    def keep(module, args, output):
        captured.append(output[0] if isinstance(output, tuple) else output)

    handle = _last_layer(loaded.model).register_forward_hook(keep)
    try:
        loaded.model(inputs)
    finally:
        handle.remove()
    return captured[-1][None]


def hidden_states(
    loaded: LoadedModel, waveforms: np.ndarray, layer: int | str | None = None
) -> np.ndarray:
    """Hidden states of a speech model for equally long waveforms.

    Parameters
    ----------
    loaded : LoadedModel
        A speech model.
    waveforms : ndarray, shape (n_inputs, n_samples)
        At ``loaded.sfreq``, already normalized where the model asks for it.
    layer : int or "last-raw", optional
        One hidden state only; ``"last-raw"`` (:data:`RAW_LAST`) is the raw output of
        the last transformer layer. With a stable-layer-norm encoder (XLS-R) or
        Whisper's, the last hidden state has the encoder's final LayerNorm applied and
        this raw output is in no hidden state: it is read by a forward hook. Default:
        every hidden state.

    Returns
    -------
    states : ndarray, shape (n_layers, n_inputs, n_frames, dim), float32
        Layer 0 is the input to the first transformer layer; one layer if ``layer`` is given.
    """
    import torch

    waveforms = np.atleast_2d(np.asarray(waveforms, dtype=np.float32))
    if loaded.space.family == "whisper":
        inputs = loaded.feature_extractor(
            list(waveforms), sampling_rate=loaded.sfreq, return_tensors="pt"
        ).input_features
        offset, hop = frame_timing(loaded)
        keep = int(np.ceil(waveforms.shape[1] / loaded.sfreq / hop))
    else:
        inputs, keep = torch.from_numpy(waveforms), None
    with torch.inference_mode():
        if layer == RAW_LAST:
            states = _raw_last(loaded, inputs.to(loaded.device))
        else:
            output = loaded.model(inputs.to(loaded.device), output_hidden_states=True)
            states = torch.stack(output.hidden_states)
            states = states if layer is None else states[layer][None]
    return states[:, :, :keep].float().cpu().numpy()


def _audio_at_model_rate(loaded: LoadedModel, recording: Recording) -> np.ndarray:
    return audio.resample(recording.audio, recording.audio_sfreq, loaded.sfreq)


def _cues(recording: Recording) -> tuple[np.ndarray, np.ndarray]:
    """Words and cue times (s, on the audio clock) of the ``word`` events."""
    words = recording.trials()
    cues = words["sample"].to_numpy() / recording.sfreq - recording.audio_offset
    return words["value"].astype(str).to_numpy(), cues


def _check_inside(recording: Recording, cues, length: float, duration: float) -> None:
    outside = np.flatnonzero((cues < 0) | (cues + length > duration + 1e-9))
    if outside.size:
        k = outside[0]
        raise ValueError(
            f"sub-{recording.subject}: the {length:g} s window of word {k} (cue at "
            f"{cues[k]:.3f} s on the audio clock) does not fit in the {duration:.3f} s of audio"
        )


def _pool(states: np.ndarray, pooling: str) -> np.ndarray:
    """(layers, trials, frames, dim) -> (layers, trials, dim or frames * dim)."""
    if pooling == "mean":
        return states.mean(axis=2)
    if pooling == "flatten":  # time-major: frame 0's dims, then frame 1's, ...
        return states.reshape(*states.shape[:2], -1)
    raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")


def speech_trials(
    loaded: LoadedModel,
    recording: Recording,
    trial_length: float,
    *,
    layer: int | str | None = None,
    pooling: str = "mean",
) -> np.ndarray:
    """Speech-model states of each trial window, pooled over time: (layers, trials, dim).

    ``layer`` and ``pooling`` as for :func:`hidden_states` and
    :func:`neurospeech.embeddings.trial_features`.
    """
    if not trial_length > 0:
        raise ValueError(f"trial_length must be positive seconds, got {trial_length}")
    waveform = _audio_at_model_rate(loaded, recording)
    _, cues = _cues(recording)
    _check_inside(recording, cues, trial_length, len(waveform) / loaded.sfreq)
    length = int(round(trial_length * loaded.sfreq))
    starts = np.round(cues * loaded.sfreq).astype(int)
    windows = np.stack([_normalized(loaded, waveform[s : s + length]) for s in starts])
    parts = [
        _pool(hidden_states(loaded, windows[i : i + _BATCH], layer), pooling)
        for i in range(0, len(windows), _BATCH)
    ]
    return np.concatenate(parts, axis=1)


def _word_tokens(loaded: LoadedModel, word: str):
    """Token ids of ``word`` alone and the positions to average (the word's own tokens)."""
    tokenizer = loaded.tokenizer
    if loaded.space.family == "gpt2":  # the paper: the word alone, no special tokens
        ids = tokenizer(word, add_special_tokens=False)["input_ids"]
        return ids, np.ones(len(ids), bool)
    encoded = tokenizer(word, return_special_tokens_mask=True)
    return encoded["input_ids"], np.asarray(encoded["special_tokens_mask"]) == 0


def text_words(loaded: LoadedModel, words) -> np.ndarray:
    """Text-model states per word, averaged over the word's tokens: (layers, words, dim)."""
    import torch

    words = [str(w) for w in words]
    empty = [k for k, w in enumerate(words) if not w.strip()]
    if empty:
        raise ValueError(f"words {empty[:10]} are empty: a text model needs the word itself")
    if loaded.space.family == "fasttext":
        return np.stack([loaded.model[w] for w in words])[None].astype(np.float32)
    unique = {}
    for word in dict.fromkeys(words):
        ids, own = _word_tokens(loaded, word)
        if not own.any():
            raise ValueError(f"the tokenizer of {loaded.space.name} gives no tokens for {word!r}")
        with torch.inference_mode():
            output = loaded.model(
                torch.tensor([ids], device=loaded.device), output_hidden_states=True
            )
        states = torch.stack(output.hidden_states)[:, 0].float().cpu().numpy()
        unique[word] = states[:, own].mean(axis=1)
    return np.stack([unique[w] for w in words], axis=1)


def log_mel_trials(
    recording: Recording,
    trial_length: float,
    *,
    pooling: str = "mean",
    window: float = 0.05,
    shift: float = 0.01,
) -> np.ndarray:
    """Log-mel spectrogram of each trial window, pooled: (1, trials, 23 or frames * 23).

    The frames pooled are those lying entirely within ``trial_length`` seconds from
    the word cue (on the audio clock, so ``recording.audio_offset`` is accounted for):
    averaged (``pooling="mean"``) or flattened, frame after frame (``"flatten"``).
    """
    if not trial_length >= window:
        raise ValueError(f"trial_length must be at least one {window} s frame, got {trial_length}")
    spec = audio.log_mel(recording.audio, recording.audio_sfreq, window, shift)
    _, cues = _cues(recording)
    first = np.ceil(np.round(cues / shift, 6)).astype(int)
    count = int(np.floor(round((trial_length - window) / shift, 6))) + 1
    last_end = (len(spec) - 1) * shift + window  # end of the last frame
    _check_inside(recording, first * shift, (count - 1) * shift + window, last_end)
    return _pool(np.stack([spec[start : start + count] for start in first])[None], pooling)


def neural_frame_centres(recording: Recording, window: float, shift: float) -> np.ndarray:
    """Centres of the neural frames, in seconds on the iEEG clock."""
    starts, length = highgamma.windows(recording.ieeg.shape[0], recording.sfreq, window, shift)
    return (starts + length / 2) / recording.sfreq


def _neural_frame_times(recording: Recording, window: float, shift: float) -> np.ndarray:
    """Centres of the neural frames, in seconds on the audio clock."""
    return neural_frame_centres(recording, window, shift) - recording.audio_offset


def interpolate(times: np.ndarray, states, at: np.ndarray) -> np.ndarray:
    """Linear interpolation of ``states`` (layers, frames, dim) at times ``at``.

    Times outside ``times`` take the nearest frame. ``states`` may also be a list of
    pieces (layers, frames_k, dim) that follow each other in time; the result is built
    one layer at a time, so the memory it takes beyond the input is the output and one
    layer (every layer of XLS-R 300M at 30,000 frames is 3 GiB in float32).
    """
    pieces = states if isinstance(states, list) else [states]
    right = np.clip(np.searchsorted(times, at), 1, len(times) - 1)
    left = right - 1
    weight = np.clip((at - times[left]) / (times[right] - times[left]), 0.0, 1.0)
    weight = weight.astype(pieces[0].dtype)[:, None]
    n_layers, dim = pieces[0].shape[0], pieces[0].shape[2]
    out = np.empty((n_layers, len(at), dim), dtype=pieces[0].dtype)
    for layer in range(n_layers):
        frames = np.concatenate([piece[layer] for piece in pieces])
        np.multiply(frames[left], 1 - weight, out=out[layer])
        out[layer] += frames[right] * weight
    return out


def speech_frames(
    loaded: LoadedModel,
    recording: Recording,
    *,
    window: float = 0.05,
    shift: float = 0.01,
    chunk: float | None = None,
    context: float = 4.0,
    per_trial: bool = False,
    progress: bool = False,
) -> np.ndarray:
    """Speech-model states on the neural frame grid: (layers, n_frames, dim).

    The audio is cut into ``chunk``-second pieces; each is run with up to ``context``
    seconds of audio on both sides and only the frames centred inside the piece are kept.
    ``chunk=None`` takes 30 s (Whisper: 30 s in all, its input length). Normalization
    (where the model asks for it) uses the whole recording, so a chunk's input does not
    depend on where it was cut.

    With ``per_trial``, the pieces are the trials instead, from each word's cue to the
    next cue (and the audio before the first cue), each normalised and run alone: no
    context crosses a trial boundary (``chunk`` and ``context`` are not used).
    """
    whisper = loaded.space.family == "whisper"
    if chunk is None:
        chunk = WHISPER_SECONDS - 2 * context if whisper else 30.0
    if chunk <= 0 or context < 0:
        raise ValueError(f"chunk must be positive and context non-negative, got {chunk}, {context}")
    if whisper and chunk + 2 * context > WHISPER_SECONDS:
        raise ValueError("Whisper reads at most 30 s: chunk + 2 * context must be <= 30")
    waveform = _audio_at_model_rate(loaded, recording)
    if not per_trial:
        waveform = _normalized(loaded, waveform)
    rate = loaded.sfreq
    offset, hop = frame_timing(loaded)
    if per_trial:
        edges, margin = trial_edges(_cues(recording)[1], len(waveform), rate), 0
    else:
        step, margin = int(round(chunk * rate)), int(round(context * rate))
        edges = [*range(0, len(waveform), step), len(waveform)]
    times, parts = [], []
    pieces = list(zip(edges[:-1], edges[1:]))
    for start, stop in tqdm(pieces, desc="chunks", disable=not progress):
        first, last = max(0, start - margin), min(len(waveform), stop + margin)
        piece = _normalized(loaded, waveform[first:last]) if per_trial else waveform[first:last]
        states = hidden_states(loaded, piece)[:, 0]
        centres = (first + offset * rate) / rate + hop * np.arange(states.shape[1])
        end = stop / rate if stop < len(waveform) else np.inf
        kept = (centres >= start / rate) & (centres < end)
        times.append(centres[kept])
        parts.append(states[:, kept])
    return interpolate(np.concatenate(times), parts, _neural_frame_times(recording, window, shift))


def causal_frames(
    loaded: LoadedModel,
    recording: Recording,
    *,
    window: float = 0.05,
    shift: float = 0.01,
    context: float = 2.0,
    batch: int = 32,
    progress: bool = False,
) -> np.ndarray:
    """Speech-model states that read only the past: (layers, n_frames, dim).

    At every model hop ``h`` the model reads the ``context`` seconds of audio that end at
    ``t = k * h`` (silence before the recording) and its last output frame is the state
    of time ``t``; each neural frame takes the latest state at or before its centre. A
    frame's features thus depend on no audio after its own time, which a lag profile
    needs before it can say that the brain leads the audio (with :func:`speech_frames`,
    a frame sees up to ``context`` seconds of the future). Each window is normalised
    alone (where the model asks for it), so no statistic of later audio enters either.
    One forward pass per hop: for a GPU. Whisper, which reads 30 s windows, is not
    supported.
    """
    if loaded.space.family == "whisper":
        raise ValueError("causal features need a model that reads short windows, not Whisper")
    if context <= 0 or batch < 1:
        raise ValueError(f"context must be positive and batch at least 1, got {context}, {batch}")
    waveform = _audio_at_model_rate(loaded, recording)
    rate = loaded.sfreq
    _, hop = frame_timing(loaded)
    length, step = int(round(context * rate)), int(round(hop * rate))
    ends = np.arange(step, len(waveform) + 1, step)
    padded = np.concatenate([np.zeros(length, dtype=waveform.dtype), waveform])
    parts = []
    for first in tqdm(range(0, len(ends), batch), desc="causal frames", disable=not progress):
        windows = np.stack(
            [_normalized(loaded, padded[end : end + length]) for end in ends[first : first + batch]]
        )
        parts.append(hidden_states(loaded, windows)[:, :, -1])
    states = np.concatenate(parts, axis=1)
    at = _neural_frame_times(recording, window, shift)
    latest = np.clip(np.searchsorted(ends / rate, at, side="right") - 1, 0, len(ends) - 1)
    return states[:, latest]


#: Pieces of audio shorter than this (s) are run with the next one (a model needs samples).
MIN_PIECE = 0.1


def trial_edges(cues: np.ndarray, n_samples: int, rate: float) -> list[int]:
    """Sample edges of the pieces of :func:`speech_frames` with ``per_trial``.

    The cues (s), within the audio, cut it; a piece shorter than :data:`MIN_PIECE` joins
    the next one (the last one joins the one before).
    """
    inner = np.round(np.asarray(cues) * rate).astype(int)
    edges = [0]
    for edge in np.unique(inner[(inner > 0) & (inner < n_samples)]):
        if edge - edges[-1] >= MIN_PIECE * rate:
            edges.append(int(edge))
    if n_samples - edges[-1] < MIN_PIECE * rate and len(edges) > 1:
        edges.pop()
    return [*edges, n_samples]


def log_mel_frames(recording: Recording, *, window: float = 0.05, shift: float = 0.01):
    """Return the log-mel spectrogram on the neural frame grid: (1, n_frames, 23).

    Frame ``k`` of both is paired as the decoding baseline pairs them (same index, the
    reference's window placement on each stream), moved by ``recording.audio_offset``
    rounded to whole frames; frames beyond the audio repeat its first or last frame.
    """
    spec = audio.log_mel(recording.audio, recording.audio_sfreq, window, shift)
    return on_neural_frames(spec, recording, shift, window)[None]


def on_neural_frames(
    values: np.ndarray, recording: Recording, shift: float = 0.01, window: float = 0.05
) -> np.ndarray:
    """Put per-frame audio features (frame ``k`` at ``k * shift`` s) on the neural frames.

    As :func:`log_mel_frames` pairs them: same index, moved by ``recording.audio_offset``
    rounded to whole frames; frames beyond the audio repeat its first or last frame.

    Returns
    -------
    placed : ndarray, shape (n_frames, ...)
        One row per frame of ``highgamma.extract(recording.ieeg, ...)``.
    """
    starts, _ = highgamma.windows(recording.ieeg.shape[0], recording.sfreq, window, shift)
    index = np.arange(len(starts)) - int(round(recording.audio_offset / shift))
    return values[np.clip(index, 0, len(values) - 1)]
