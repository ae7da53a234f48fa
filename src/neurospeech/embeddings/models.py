"""Load the model of a feature space at its pinned commit, or fail at once saying why.

Files come from the Hugging Face cache (``HF_HUB_CACHE``, or ``cache_dir``), at exactly
the registry's commit. With ``HF_HUB_OFFLINE=1``, or when the hub cannot be reached, a
model missing from the cache is a :class:`ModelUnavailableError` naming the model, its
revision and how to get it (``nox -s models``, or the container); it never waits on the
network. Untrained controls read only the configuration (and tokenizer) and draw their
weights from :data:`~neurospeech.embeddings.registry.UNTRAINED_SEED`; the twin of a
speech model needs no file at all, its architecture card
(:mod:`neurospeech.embeddings.cards`) builds it where the model's files are not cached.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neurospeech import _io
from neurospeech.embeddings import cards, standins
from neurospeech.embeddings.registry import UNTRAINED_SEED, FeatureSpace, check_revision, get

logger = logging.getLogger(__name__)

#: Files needed to build a model, its tokenizer and its feature extractor.
_CONFIG_FILES = ["*.json", "*.txt", "*.model"]
_WEIGHT_FILES = ["*.safetensors", "pytorch_model.bin"]
HOW_TO_FETCH = (
    "fetch the registry's models once with `nox -s models` (or `neurospeech models fetch`), "
    "or use the container, which has them"
)


class ModelUnavailableError(RuntimeError):
    """A model's files are not in the local cache and cannot be downloaded now."""


class DamagedModelError(OSError):
    """A model's cached files are there but cannot be loaded; the message names the folder."""


@dataclass
class LoadedModel:
    """A feature space ready to compute features.

    Attributes
    ----------
    space : FeatureSpace
    revision : str or None
        The commit the files came from (None for models built from code).
    model : object or None
        A ``torch.nn.Module`` in eval mode (the encoder, for Whisper), gensim
        ``KeyedVectors`` for FastText, None for log-mel.
    tokenizer : object or None
        For text models.
    feature_extractor : object or None
        For speech models: the Hugging Face feature extractor (its ``sampling_rate`` and
        ``do_normalize`` are used; Whisper's computes its log-mel input).
    device : str
        Where the network runs (``"cpu"``, ``"cuda"``, ...).
    """

    space: FeatureSpace
    revision: str | None
    model: Any = None
    tokenizer: Any = None
    feature_extractor: Any = None
    device: str = "cpu"

    @property
    def sfreq(self) -> int:
        """Audio rate the model expects (Hz)."""
        return int(getattr(self.feature_extractor, "sampling_rate", 16000))


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the Hugging Face endpoint opens within ``timeout`` s."""
    from huggingface_hub import constants

    return _io.reachable(constants.ENDPOINT or "https://huggingface.co", timeout)


def snapshot(
    space: FeatureSpace,
    revision: str,
    *,
    cache_dir: str | os.PathLike | None = None,
    weights: bool = True,
) -> Path:
    """Return the local folder of ``space``'s files at ``revision``, downloading if allowed.

    The local cache is tried first (a commit never changes, so a cached snapshot needs
    no check online); then, unless ``HF_HUB_OFFLINE`` is set, the hub, after a quick
    check that it can be reached at all.

    Raises
    ------
    ModelUnavailableError
        The files are not cached and the hub is off limits or unreachable.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    patterns = (
        [space.filename] if space.filename else _CONFIG_FILES + (_WEIGHT_FILES if weights else [])
    )
    options = {"revision": revision, "cache_dir": cache_dir, "allow_patterns": patterns}
    try:
        return Path(snapshot_download(space.hf_id, local_files_only=True, **options))
    except LocalEntryNotFoundError:
        pass
    if _offline():
        reason = "HF_HUB_OFFLINE is set"
    elif not hub_reachable():
        reason = "the Hugging Face hub cannot be reached"
    else:
        try:
            return Path(snapshot_download(space.hf_id, etag_timeout=10, **options))
        except (OSError, ValueError) as error:
            reason = f"downloading failed ({error})"
    raise ModelUnavailableError(
        f"{space.name}: {space.hf_id} at revision {revision} is not in the local Hugging "
        f"Face cache and {reason}. To obtain it, {HOW_TO_FETCH}."
    )


def _transformer(space: FeatureSpace, folder: Path | None, untrained: bool | None = None):
    """Build the network: pretrained weights from ``folder``, or seeded random weights.

    ``untrained`` (default: the space's own) builds the seeded twin of a trained model.
    """
    import torch
    from transformers import AutoModel

    if space.untrained if untrained is None else untrained:
        config = cards.config(space, folder)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(UNTRAINED_SEED)
            model = AutoModel.from_config(config)
    else:
        model = AutoModel.from_pretrained(folder)
    if space.family == "whisper":
        model = model.get_encoder()
    return model.eval()


def _feature_extractor(space: FeatureSpace, folder: Path | None):
    from transformers import AutoFeatureExtractor

    if folder is None or not (folder / "preprocessor_config.json").exists():
        return cards.feature_extractor(space)
    return AutoFeatureExtractor.from_pretrained(folder)


#: One model loads at a time in a process.
_LOADING = threading.Lock()


def load(
    name: str | FeatureSpace,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    device: str = "cpu",
) -> LoadedModel:
    """Load a feature space's model.

    Parameters
    ----------
    name : str or FeatureSpace
        A registry name (see :data:`~neurospeech.embeddings.registry.REGISTRY`).
    revision : str, optional
        A commit hash overriding the registry's pin (needed where it has none).
    cache_dir : path-like, optional
        Hugging Face cache folder (default: ``HF_HUB_CACHE`` or ``~/.cache/huggingface``).
    device : str
        Where a network runs (``"cpu"``, ``"cuda"``); features come back as NumPy arrays.

    Returns
    -------
    LoadedModel
    """
    space = get(name)
    with _LOADING:  # transformers' lazy imports are not thread-safe (threaded Dask workers)
        loaded = _load(space, revision, cache_dir)
    if loaded.model is not None and space.family != "fasttext":
        loaded.model.to(device)
        loaded.device = device
    return loaded


def _stand_in(space: FeatureSpace) -> LoadedModel:
    """Return a rehearsal's stand-in of a Hugging Face model (:mod:`.standins`)."""
    if space.family == "fasttext":
        return LoadedModel(space, None, standins.StandInVectors())
    network = _transformer(space, None, untrained=True)
    if space.kind == "text":
        return LoadedModel(space, None, network, tokenizer=standins.tokenizer_for(network.config))
    return LoadedModel(space, None, network, feature_extractor=cards.feature_extractor(space))


def _load(space: FeatureSpace, revision: str | None, cache_dir) -> LoadedModel:
    if space.family == "log-mel":
        return LoadedModel(space, None)
    if space.hf_id is not None and standins.rehearsal():
        logger.info("rehearsal: %s is its untrained twin (architecture card)", space.name)
        return _stand_in(space)
    if space.hf_id is None:  # an untrained control built from the library's defaults
        return LoadedModel(
            space,
            None,
            _transformer(space, None),
            feature_extractor=_feature_extractor(space, None),
        )
    revision = revision or space.revision
    if revision is None:
        raise ValueError(
            f"{space.name}: the registry has no verified commit for {space.hf_id}; pass "
            f"revision=<40-character commit hash> (see its 'Files and versions' page)"
        )
    check_revision(revision, space.name)
    try:
        folder = snapshot(space, revision, cache_dir=cache_dir, weights=not space.untrained)
    except ModelUnavailableError:
        if not (space.untrained and space.kind == "speech"):
            raise
        folder = None  # a speech model's twin needs no file: its card builds it offline
    logger.info("loading %s from %s", space.name, folder or "its architecture card")
    try:
        return _from_folder(space, revision, folder)
    except Exception as err:  # safetensors, JSON, pickle, gensim: each its own exception
        if folder is None:
            raise
        raise DamagedModelError(
            f"{space.name}: the cached files of {space.hf_id} at {revision} in {folder} "
            f"cannot be loaded ({type(err).__name__}: {err}); they may be damaged or "
            f"incomplete: remove that folder and fetch the model again ({HOW_TO_FETCH})"
        ) from err


def _from_folder(space: FeatureSpace, revision: str, folder: Path | None) -> LoadedModel:
    """Load a Hugging Face model's network and its companion from a snapshot folder."""
    if space.family == "fasttext":
        from gensim.models.fasttext import load_facebook_vectors

        return LoadedModel(space, revision, load_facebook_vectors(str(folder / space.filename)))
    if space.kind == "text":
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(folder)
        return LoadedModel(space, revision, _transformer(space, folder), tokenizer=tokenizer)
    return LoadedModel(
        space,
        revision,
        _transformer(space, folder),
        feature_extractor=_feature_extractor(space, folder),
    )
