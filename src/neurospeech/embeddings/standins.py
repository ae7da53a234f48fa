"""Stand-ins for a rehearsal: every model at its real size, nothing downloaded.

A rehearsal (``neurospeech rehearse``) runs the real study's profile on simulated
signals in the real layout, to measure its time, memory and disk before the data and the
weights are fetched. With :data:`REHEARSAL_ENV` set, :func:`neurospeech.embeddings.load`
gives every Hugging Face model its untrained twin, built from its architecture card
(:mod:`neurospeech.embeddings.cards`) with seeded weights, so the networks have their
real sizes and cost; what a twin cannot be built from a card is stood in for here:

- :class:`StandInTokenizer`: a text model's tokenizer, one token per UTF-8 byte of the
  word (more tokens per word than the real subword vocabularies give: the text models'
  time is overestimated, and it is small beside the speech models');
- :class:`StandInVectors`: FastText's word vectors, a seeded vector per word (the real
  ``cc.nl.300.bin`` holds 2 million words and subword buckets: about 7 GB on disk and in
  memory, which the rehearsal does not measure).

Features computed in a rehearsal are cached under keys of their own (``"rehearsal":
true``), so they never stand in for real ones.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import numpy as np

#: The environment variable that turns a process (and the notebooks it runs) into a rehearsal.
REHEARSAL_ENV = "NEUROSPEECH_REHEARSAL"

#: FastText's Dutch vectors have 300 dimensions.
FASTTEXT_DIM = 300


def rehearsal() -> bool:
    """Whether this process runs a rehearsal (:data:`REHEARSAL_ENV` set to ``1``)."""
    return os.environ.get(REHEARSAL_ENV, "") == "1"


class StandInTokenizer:
    """A tokenizer with the call signature the package uses: a token per UTF-8 byte.

    Parameters
    ----------
    vocab_size : int
        The model's vocabulary size (every id is below it).
    special_ids : tuple of int, optional
        The ids put before and after a word when special tokens are added (a BERT-like
        model's ``[CLS]`` and ``[SEP]``); none for GPT-2-like models.
    """

    #: Ids below this are kept for special tokens.
    FIRST_ID = 4

    def __init__(self, vocab_size: int, special_ids: tuple[int, int] | None = None) -> None:
        if vocab_size <= self.FIRST_ID + 256:
            raise ValueError(f"vocab_size must exceed {self.FIRST_ID + 256}, got {vocab_size}")
        self.vocab_size = vocab_size
        self.special_ids = special_ids

    def __call__(
        self,
        text: str,
        add_special_tokens: bool = True,
        return_special_tokens_mask: bool = False,
    ) -> dict[str, list[int]]:
        """Return ``{"input_ids": [...]}`` (and ``"special_tokens_mask"`` if asked)."""
        ids = [self.FIRST_ID + byte for byte in text.encode("utf-8")]
        mask = [0] * len(ids)
        if add_special_tokens and self.special_ids is not None:
            first, last = self.special_ids
            ids, mask = [first, *ids, last], [1, *mask, 1]
        encoded = {"input_ids": ids}
        if return_special_tokens_mask:
            encoded["special_tokens_mask"] = mask
        return encoded


class StandInVectors:
    """Word vectors drawn from a seed per word: ``vectors[word]`` as gensim's.

    Parameters
    ----------
    dim : int
        Dimensions of a vector.
    """

    def __init__(self, dim: int = FASTTEXT_DIM) -> None:
        self.vector_size = dim

    def __getitem__(self, word: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(word.encode("utf-8")).digest()[:8], "little")
        return np.random.default_rng(seed).standard_normal(self.vector_size).astype(np.float32)


def tokenizer_for(config: Any) -> StandInTokenizer:
    """Return the stand-in tokenizer of a text model's transformers configuration."""
    if config.model_type == "gpt2":
        return StandInTokenizer(config.vocab_size)
    first = config.bos_token_id if config.bos_token_id is not None else 0
    last = config.eos_token_id if config.eos_token_id is not None else 2
    return StandInTokenizer(config.vocab_size, (first, last))
