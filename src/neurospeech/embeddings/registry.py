"""The feature spaces: what each one is, where its model comes from, and at which commit.

A :class:`FeatureSpace` names a model (a Hugging Face id and the commit it is pinned to)
or a model-free acoustic representation. Every transformer model has an untrained twin:
the same architecture with random weights drawn from a fixed seed, the control that
separates what training taught a model from what its architecture and the audio give.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

KINDS = ("speech", "text", "acoustic", "nuisance")
FAMILIES = (
    "wav2vec2",
    "hubert",
    "whisper",
    "gpt2",
    "bert",
    "xlm-roberta",
    "fasttext",
    "log-mel",
    "nuisance",
)
_COMMIT = re.compile(r"[0-9a-f]{40}")
#: Seed of the random weights of every untrained control.
UNTRAINED_SEED = 0
#: The layer "raw output of the last transformer layer, before the encoder's final norm".
RAW_LAST = "last-raw"
#: How a trial's frames become one vector: their mean over time, or all of them flattened.
POOLINGS = ("mean", "flatten")


@dataclass(frozen=True)
class FeatureSpace:
    """One feature space of the registry.

    Attributes
    ----------
    name : str
        Registry key.
    kind : {"speech", "text", "acoustic", "nuisance"}
        What the model reads: audio, words, or neither (a fixed acoustic transform); a
        nuisance space is the timing and coarse acoustics of speech
        (:mod:`neurospeech.nuisance`), frame-level only.
    family : str
        Architecture (one of :data:`FAMILIES`): it decides how inputs are prepared.
    hf_id : str or None
        Hugging Face repository; None for ``log-mel`` and for untrained controls whose
        architecture is the library's default configuration (offline).
    revision : str or None
        The 40-character commit the model is pinned to; None where no pin could be
        verified (loading then needs an explicit ``revision``).
    untrained : bool
        Random weights (seeded by :data:`UNTRAINED_SEED`) instead of the trained ones.
    filename : str or None
        The single file a non-transformers model is read from (FastText's ``.bin``).
    description : str
    """

    name: str
    kind: str
    family: str
    hf_id: str | None = None
    revision: str | None = None
    untrained: bool = False
    filename: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.family not in FAMILIES:
            raise ValueError(f"{self.name}: family must be one of {FAMILIES}, got {self.family!r}")
        if self.revision is not None:
            check_revision(self.revision, self.name)

    @property
    def offline(self) -> bool:
        """Whether the space works with no files at all (log-mel, default-config controls)."""
        return self.hf_id is None


def check_revision(revision: str, name: str = "model") -> str:
    """Return ``revision`` if it is a full 40-character commit hash, else raise ValueError."""
    if not isinstance(revision, str) or not _COMMIT.fullmatch(revision):
        raise ValueError(
            f"{name}: revision {revision!r} is not a commit hash (40 lowercase hex "
            f"characters); branch and tag names move, so they cannot pin a model"
        )
    return revision


def _pair(name, kind, family, hf_id, revision, description) -> list[FeatureSpace]:
    """Return a trained model and its untrained control (same architecture, seeded weights)."""
    trained = FeatureSpace(name, kind, family, hf_id, revision, description=description)
    control = FeatureSpace(
        f"{name}-untrained",
        kind,
        family,
        hf_id,
        revision,
        untrained=True,
        description=f"{name} architecture with random weights (seed {UNTRAINED_SEED})",
    )
    return [trained, control]


_SPACES = [
    FeatureSpace(
        "log-mel", "acoustic", "log-mel", description="23-bin log-mel spectrogram (Verwoert 2022)"
    ),
    FeatureSpace(
        "nuisance",
        "nuisance",
        "nuisance",
        description="speech on/off (Silero VAD), envelope, onsets, pitch, cue and speech-onset "
        "impulses",
    ),
    # Paper (Khanday et al. 2025): FastText Dutch, GPT-2 (English), wav2vec 2.0 XLS-R 300M.
    FeatureSpace(
        "fasttext-nl",
        "text",
        "fasttext",
        "facebook/fasttext-nl-vectors",
        None,  # no commit could be verified offline; pass revision= or pin it here
        filename="model.bin",
        description="FastText cc.nl.300 word vectors (Common Crawl + Wikipedia, Dutch)",
    ),
    *_pair(
        "gpt2",
        "text",
        "gpt2",
        "openai-community/gpt2",
        "607a30d783dfa663caf39e06633721c8d4cfcd7e",
        "GPT-2 small (English), 12 layers",
    ),
    *_pair(
        "wav2vec2-xls-r-300m",
        "speech",
        "wav2vec2",
        "facebook/wav2vec2-xls-r-300m",
        "1a640f32ac3e39899438a2931f9924c02f080a54",
        "wav2vec 2.0 XLS-R 300M, multilingual self-supervised speech model, 24 layers",
    ),
    # Beyond the paper.
    *_pair(
        "hubert-base",
        "speech",
        "hubert",
        "facebook/hubert-base-ls960",
        "dba3bb02fda4248b6e082697eee756de8fe8aa8a",
        "HuBERT base (LibriSpeech 960 h), 12 layers",
    ),
    *_pair(
        "whisper-base-encoder",
        "speech",
        "whisper",
        "openai/whisper-base",
        "e37978b90ca9030d5170a5c07aadb050351a65bb",
        "Whisper base encoder (multilingual), 6 layers",
    ),
    *_pair(
        "bert-base-dutch",
        "text",
        "bert",
        "GroNLP/bert-base-dutch-cased",
        None,  # no commit could be verified offline
        "BERTje, Dutch BERT base, 12 layers",
    ),
    *_pair(
        "gpt2-small-dutch",
        "text",
        "gpt2",
        "GroNLP/gpt2-small-dutch",
        None,  # no commit could be verified offline
        "GPT-2 small retrained for Dutch, 12 layers",
    ),
    *_pair(
        "xlm-roberta-base",
        "text",
        "xlm-roberta",
        "FacebookAI/xlm-roberta-base",
        "e73636d4f797dec63c3081bb6ed5c7b0bb3f2089",
        "XLM-RoBERTa base, multilingual, 12 layers",
    ),
    # Untrained controls that need no download: the library's default configurations,
    # which are the base architectures (usable offline, hence in the sample profile).
    FeatureSpace(
        "wav2vec2-base-untrained",
        "speech",
        "wav2vec2",
        untrained=True,
        description="wav2vec 2.0 base architecture (transformers defaults), random weights",
    ),
    FeatureSpace(
        "hubert-base-default-untrained",
        "speech",
        "hubert",
        untrained=True,
        description="HuBERT base architecture (transformers defaults), random weights",
    ),
]

#: Every feature space, by name.
REGISTRY: dict[str, FeatureSpace] = {space.name: space for space in _SPACES}
#: The feature spaces of each profile: the sample runs offline.
PROFILES: dict[str, tuple[str, ...]] = {
    "sample": ("log-mel", "wav2vec2-base-untrained", "hubert-base-default-untrained"),
    "swpd": (
        "log-mel",
        "fasttext-nl",
        "gpt2",
        "wav2vec2-xls-r-300m",
        "hubert-base",
        "whisper-base-encoder",
        "bert-base-dutch",
        "gpt2-small-dutch",
        "xlm-roberta-base",
        "gpt2-untrained",
        "wav2vec2-xls-r-300m-untrained",
        "hubert-base-untrained",
    ),
}


def get(name: str | FeatureSpace) -> FeatureSpace:
    """Return the feature space called ``name``, or raise naming the known ones."""
    if isinstance(name, FeatureSpace):
        return name
    try:
        return REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), REGISTRY, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"unknown feature space {name!r}.{hint} Known: {', '.join(sorted(REGISTRY))}"
        ) from None


def check_trial_options(space: str | FeatureSpace, layer: int | str, pooling: str) -> None:
    """Raise a ValueError if ``layer`` or ``pooling`` do not apply to the feature space.

    A layer is a hidden-state index, or :data:`RAW_LAST` for a speech model; pooling is one
    of :data:`POOLINGS`, and a text model (one vector per word) takes ``"mean"``.
    """
    space = get(space)
    if isinstance(layer, str) and (layer != RAW_LAST or space.kind != "speech"):
        raise ValueError(
            f"layer must be a hidden-state index, or {RAW_LAST!r} for a speech model; got "
            f"{layer!r} for the {space.kind} space {space.name} ({RAW_LAST!r} is a layer of "
            f"a speech model only)"
        )
    if pooling not in POOLINGS or (pooling == "flatten" and space.kind == "text"):
        raise ValueError(
            f"pooling must be one of {', '.join(POOLINGS)}, and 'mean' for the text model "
            f"{space.name} (a text model has one vector per word); got {pooling!r}"
        )
