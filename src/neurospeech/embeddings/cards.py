"""Architecture cards: each model's configuration, shipped with the package.

``data/architectures.json`` holds, for every Hugging Face model of the registry, the
configuration of its network (transformers' names and values: hidden sizes, layer counts,
the convolutional front end of the speech models) and of its input preparation, written
from the public model configurations at the registry's revisions. They serve two ends:

- the untrained twins run offline at the real architecture (:func:`config`,
  :func:`feature_extractor`), where the model's own files are not in the cache;
- every configured layer is checked against the real layer counts when the
  configuration is read (:func:`hidden_states`, :func:`check_layers`), before any step.

The untrained controls without a Hugging Face id are the library's default
configurations (:func:`default_config`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from neurospeech.embeddings.registry import RAW_LAST, FeatureSpace, get

logger = logging.getLogger(__name__)

#: Keys of a configuration that count its layers, by model type.
_LAYER_KEYS = ("num_hidden_layers", "n_layer", "encoder_layers")


@cache
def _cards() -> dict[str, dict[str, Any]]:
    text = resources.files("neurospeech").joinpath("data/architectures.json").read_text("utf-8")
    return {key: value for key, value in json.loads(text).items() if not key.startswith("_")}


def card(space: str | FeatureSpace) -> dict[str, Any] | None:
    """Return the architecture card of a feature space's model (None: no Hugging Face model)."""
    space = get(space)
    if space.hf_id is None:
        return None
    try:
        return _cards()[space.hf_id]
    except KeyError:
        raise ValueError(
            f"{space.name}: no architecture card for {space.hf_id} in "
            f"neurospeech/data/architectures.json; add one from the model's config.json"
        ) from None


def default_config(family: str):
    """Return the library's default configuration of ``family`` (the base architecture)."""
    from transformers import HubertConfig, Wav2Vec2Config

    configs = {"wav2vec2": Wav2Vec2Config, "hubert": HubertConfig}
    if family not in configs:
        raise ValueError(f"no default configuration for family {family!r}")
    return configs[family]()


def config(space: str | FeatureSpace, folder: Path | None = None):
    """Return the transformers configuration of a transformer space's network.

    Parameters
    ----------
    space : str or FeatureSpace
    folder : Path, optional
        The model's snapshot: its ``config.json`` is the authority at the pinned
        revision; a card that disagrees with it is logged as a warning.
    """
    from transformers import AutoConfig

    space = get(space)
    found = card(space)
    if found is None:
        return default_config(space.family)
    values = dict(found["config"])
    if folder is not None and (folder / "config.json").exists():
        pretrained = AutoConfig.from_pretrained(folder)
        differ = sorted(k for k, v in values.items() if _plain(getattr(pretrained, k, v)) != v)
        if differ:
            logger.warning(
                "%s: the architecture card differs from %s in %s; the model's file is used",
                space.name,
                folder / "config.json",
                ", ".join(differ),
            )
        return pretrained
    return AutoConfig.for_model(values.pop("model_type"), **values)


def _plain(value: Any) -> Any:
    """Return a configuration value as JSON reads it (tuples as lists)."""
    return list(value) if isinstance(value, tuple) else value


def feature_extractor(space: str | FeatureSpace):
    """Return the input preparation of a speech space from its card (default: wav2vec 2.0's)."""
    from transformers import Wav2Vec2FeatureExtractor, WhisperFeatureExtractor

    found = card(space) or {}
    options = dict(found.get("feature_extractor", {"type": "wav2vec2"}))
    kind = options.pop("type")
    return (WhisperFeatureExtractor if kind == "whisper" else Wav2Vec2FeatureExtractor)(**options)


def hidden_states(space: str | FeatureSpace) -> int:
    """Return how many hidden states a space has (layers + 1; one for a model-free space)."""
    space = get(space)
    if space.family in ("log-mel", "nuisance", "fasttext"):
        return 1
    found = card(space)
    values = vars(default_config(space.family)) if found is None else found["config"]
    return 1 + next(int(values[key]) for key in _LAYER_KEYS if key in values)


def check_layers(space: str | FeatureSpace, layers: Iterable[int | str], where: str) -> None:
    """Raise a ValueError naming ``where`` if a layer is beyond the space's hidden states.

    A layer is a hidden-state index from 0, or negative from the last (``-1``: the
    last); :data:`~neurospeech.embeddings.registry.RAW_LAST` is always valid.
    """
    space = get(space)
    n = hidden_states(space)
    beyond = [layer for layer in layers if layer != RAW_LAST and not -n <= int(layer) < n]
    if beyond:
        raise ValueError(
            f"{where}: {space.name} has hidden states 0 to {n - 1} (or -{n} to -1 from the "
            f"last), not {', '.join(map(str, beyond))}"
        )
