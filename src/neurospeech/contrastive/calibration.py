"""A new participant with little data: fit only its own layer of a model trained on others.

For each participant in turn, the brain module is trained on all the other participants
(never on the words this participant is tested on), then only the new participant's
layer is fitted on its first ``n`` calibration words; it is tested on the same held-out
words for every ``n``, each ranked among all the participant's words (scores standardised
per candidate, :func:`~neurospeech.contrastive.evaluate.centred_scores`). The comparison is
a model of the same size trained from scratch on the same ``n`` words of that
participant alone; ``n = 0`` is the shared model with an untouched (identity) layer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from neurospeech.config import ContrastiveTraining
from neurospeech.contrastive import train as training
from neurospeech.contrastive.data import Segments
from neurospeech.contrastive.evaluate import Retrieval, candidate_ranks, centred_scores
from neurospeech.contrastive.statistics import retrieval_table

#: The two arms of the curve.
CALIBRATED, SCRATCH = "shared model, own layer fitted", "own model from scratch"
#: Words of a participant kept for testing, at the least.
MIN_TEST_WORDS = 10


def split(n_words: int, sizes: Sequence[int], seed: int, subject: str):
    """Order a participant's words: calibration sets are prefixes, the test set the rest.

    Returns
    -------
    order : ndarray of int
        A random order of the participant's segments; the first ``n`` calibrate, and
        the ones after ``max(sizes)`` are tested on, whatever ``n``.

    Raises
    ------
    ValueError
        Naming the participant, where the largest size leaves fewer than
        :data:`MIN_TEST_WORDS` words to test on.
    """
    if n_words - max(sizes) < MIN_TEST_WORDS:
        raise ValueError(
            f"sub-{subject}: {n_words} words cannot calibrate on {max(sizes)} and test on "
            f"at least {MIN_TEST_WORDS}; lower contrastive.calibration_words"
        )
    return np.random.default_rng(seed).permutation(n_words)


def calibration_curve(
    segments: Sequence[Segments],
    sizes: Sequence[int],
    config: ContrastiveTraining | None = None,
    *,
    seed: int = 0,
    device: str | None = None,
    progress: bool = True,
) -> dict[tuple[str, int], Retrieval]:
    """Rank each participant's test words after calibrating on more and more of its words.

    Parameters
    ----------
    segments : sequence of Segments
        One per participant, at least two participants.
    sizes : sequence of int
        Calibration words.
    config : neurospeech.config.ContrastiveTraining, optional
    seed : int
        Seeds the word orders and the trainings.
    device : str, optional
    progress : bool

    Returns
    -------
    curve : dict
        ``(arm, n_words)`` to a :class:`Retrieval` of the test words (rows) against all
        the participant's words (columns; ``own`` gives each row's), one seed; its
        ``ranks`` table is empty (:func:`calibration_table` reads the matrices).
    """
    if len(segments) < 2:
        raise ValueError("the calibration curve needs at least two participants")
    config = config or ContrastiveTraining()
    sizes = sorted(set(sizes))
    data = training.batched(segments)
    found: dict[tuple[str, int], dict] = {}
    for p, person in enumerate(tqdm(segments, desc="new participants", disable=not progress)):
        fit_seed = int(np.random.SeedSequence([seed, p]).generate_state(1)[0])
        order = split(len(person), sizes, fit_seed, person.subject)
        rows = np.flatnonzero(data.subject == p)
        test = rows[order[max(sizes) :]]
        others = np.flatnonzero((data.subject != p) & ~np.isin(data.words, data.words[test]))
        targets = training.pooled_targets(data.targets, others, config.pool)
        shared = training.fit(data, targets, others, config, seed=fit_seed, device=device)
        with torch.no_grad():  # the new participant's layer starts as the identity
            shared.subject_layers[p] = torch.eye(shared.subject_layers.shape[1])
        alone = training.batched([person])
        for n in [0, *sizes]:
            calibration = order[:n]
            model = shared
            if n:
                model = training.fit(
                    data,
                    targets,
                    rows[calibration],
                    config,
                    seed=fit_seed,
                    start=shared,
                    device=device,
                )
            arms = {CALIBRATED: (model, data, targets, test)}
            if n:
                own_targets = training.pooled_targets(alone.targets, calibration, config.pool)
                scratch = training.fit(
                    alone, own_targets, calibration, config, seed=fit_seed, device=device
                )
                arms[SCRATCH] = (scratch, alone, own_targets, order[max(sizes) :])
            for arm, (fitted, where, y, tested) in arms.items():
                everyone = np.flatnonzero(where.subject == where.subject[tested[0]])
                predicted = training.predict(fitted, where, tested, config.pool, device=device)
                found.setdefault((arm, n), {})[f"sub-{person.subject}"] = (
                    candidate_ranks(centred_scores(predicted, y[everyone]))[None],
                    np.searchsorted(everyone, tested),
                    where.words[everyone],
                )
    return {
        key: Retrieval(
            ranks=pd.DataFrame(),
            matrices={(key[0], person): ranks for person, (ranks, _, _) in people.items()},
            words={person: words for person, (_, _, words) in people.items()},
            own={(key[0], person): own for person, (_, own, _) in people.items()},
        )
        for key, people in found.items()
    }


def calibration_table(curve: dict[tuple[str, int], Retrieval], **options) -> pd.DataFrame:
    """Tabulate the curve: :func:`~.statistics.retrieval_table` per arm and size.

    ``options`` go to :func:`~neurospeech.contrastive.statistics.retrieval_table`.

    Returns
    -------
    table : DataFrame
        Its columns, and ``calibration_words``; ``method`` is the arm.
    """
    return pd.concat(
        [
            retrieval_table(retrieval, **options).assign(calibration_words=n)
            for (_, n), retrieval in curve.items()
        ],
        ignore_index=True,
    )
