"""Contrastive brain-to-speech decoding for sEEG, in the style of Defossez et al. (2023).

>>> from neurospeech import contrastive
>>> targets = contrastive.target_features("wav2vec2-xls-r-300m", recording)
>>> person = contrastive.participant(recording)
>>> segments = [person.segments(targets, length=1.0, offset=-0.2), ...]  # per participant
>>> ranks = contrastive.cross_validate(segments, seeds=(0, 1, 2))
>>> contrastive.summary(ranks)                                    # top-1/5/10 vs chance

:mod:`~neurospeech.contrastive.data` cuts word segments (robust-scaled high-gamma from
the speech onset plus an offset, targets from the onset), :mod:`~.model` is the brain
module (spatial attention over ACPC positions, a layer per participant, dilated
convolutions with GLU), :mod:`~.train` fits it with the CLIP loss, and
:mod:`~.evaluate` scores retrieval of words held out from every participant against a
ridge baseline and chance.
"""

from neurospeech.config import ContrastiveTraining
from neurospeech.contrastive.data import (
    Participant,
    Segments,
    contact_positions,
    participant,
    robust_scale,
    target_features,
)
from neurospeech.contrastive.evaluate import (
    KS,
    cross_validate,
    retrieval_ranks,
    ridge_predictions,
    summary,
    word_folds,
)
from neurospeech.contrastive.model import BrainModule
from neurospeech.contrastive.train import Batched, batched, clip_loss, fit, predict

__all__ = [
    "KS",
    "Batched",
    "BrainModule",
    "ContrastiveTraining",
    "Participant",
    "Segments",
    "batched",
    "clip_loss",
    "contact_positions",
    "cross_validate",
    "fit",
    "participant",
    "predict",
    "retrieval_ranks",
    "ridge_predictions",
    "robust_scale",
    "summary",
    "target_features",
    "word_folds",
]
