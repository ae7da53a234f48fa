"""Contrastive brain-to-speech decoding for sEEG, in the style of Defossez et al. (2023).

>>> from neurospeech import contrastive
>>> targets = contrastive.target_features("wav2vec2-xls-r-300m", recording)
>>> person = contrastive.participant(recording)
>>> segments = [person.segments(targets, length=1.0, offset=-0.2), ...]  # per participant
>>> found = contrastive.cross_validate(segments, seeds=(0, 1, 2))
>>> contrastive.retrieval_table(found)       # per participant and group, p, intervals
>>> control = contrastive.cross_validate(segments, shuffled=True)      # must be at chance
>>> curve = contrastive.calibration_curve(segments, sizes=(10, 20, 40))

:mod:`~neurospeech.contrastive.data` cuts word segments (robust-scaled high-gamma from
the speech onset plus an offset, targets from the onset, a speech model run on each
trial alone), :mod:`~.model` is the brain module (spatial attention over ACPC positions
with spatial dropout, a layer per participant, residual dilated convolutions with GLU),
:mod:`~.train` fits it with the CLIP loss and early stopping, :mod:`~.evaluate` ranks
each held-out word among all its participant's words (and the ridge and
participant-identity baselines), :mod:`~.statistics` gives permutation p-values and
bootstrap intervals per participant and for the group, and :mod:`~.calibration` fits a
new participant's own layer on a few words.
"""

from neurospeech.config import ContrastiveTraining
from neurospeech.contrastive.calibration import calibration_curve, calibration_table
from neurospeech.contrastive.data import (
    Participant,
    Segments,
    contact_positions,
    participant,
    robust_scale,
    target_features,
)
from neurospeech.contrastive.evaluate import (
    IDENTITY,
    KS,
    SHUFFLED,
    Retrieval,
    cross_validate,
    retrieval_ranks,
    ridge_predictions,
    word_folds,
)
from neurospeech.contrastive.model import BrainModule
from neurospeech.contrastive.statistics import pooled_summary, retrieval_table
from neurospeech.contrastive.train import Batched, batched, clip_loss, fit, predict

__all__ = [
    "IDENTITY",
    "KS",
    "SHUFFLED",
    "Batched",
    "BrainModule",
    "ContrastiveTraining",
    "Participant",
    "Retrieval",
    "Segments",
    "batched",
    "calibration_curve",
    "calibration_table",
    "clip_loss",
    "contact_positions",
    "cross_validate",
    "fit",
    "participant",
    "pooled_summary",
    "predict",
    "retrieval_ranks",
    "retrieval_table",
    "ridge_predictions",
    "robust_scale",
    "target_features",
    "word_folds",
]
