"""Simulated SingleWordProductionDutch-iBIDS datasets with planted, known effects.

The simulator writes a BIDS-iEEG dataset in the exact layout of the real data
(one NWB per participant with ``iEEG``, ``Audio`` and ``Stimulus`` acquisitions,
CRLF ``events.tsv``, ``channels.tsv``, ``space-ACPC_electrodes.tsv`` ...) from
synthesized Dutch speech and simulated sEEG whose high-gamma amplitude follows the
speech with a per-channel lag and gain. What it planted is written under
``derivatives/simulation/`` so that analyses can be checked against it.

Examples
--------
>>> from neurospeech.simulate import SimulationParams, simulate_dataset
>>> simulate_dataset("data/sample", SimulationParams(seed=0))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm.auto import tqdm

from neurospeech.simulate.params import SimulationParams
from neurospeech.simulate.subject import SimulatedSubject, simulate_subject, word_latent
from neurospeech.simulate.writer import (
    TRUTH_DIR,
    check_target,
    write_dataset_files,
    write_subject,
)

if TYPE_CHECKING:
    from neurospeech.simulate.like import Layout

__all__ = [
    "SimulatedSubject",
    "SimulationParams",
    "read_truth",
    "simulate_dataset",
    "simulate_subject",
    "word_latent",
]

logger = logging.getLogger(__name__)


def simulate_dataset(
    root: str | os.PathLike,
    params: SimulationParams | None = None,
    *,
    like: str | os.PathLike | list[Layout] | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Simulate and write a whole dataset.

    Everything is first written to a staging folder beside ``root`` and moved into
    place only when every participant succeeded, so an error never leaves a
    half-written dataset behind and never touches an existing one.

    Parameters
    ----------
    root : path-like
        The BIDS root. It may exist (e.g. an empty DataLad dataset) but must not already
        hold a BIDS dataset unless ``overwrite`` is true.
    params : SimulationParams | None
        The simulation parameters; the defaults give the package's sample dataset (with
        ``like``: :func:`~neurospeech.simulate.like.params_like`).
    like : path-like or list of Layout, optional
        A BIDS dataset whose layout to copy (:mod:`neurospeech.simulate.like`), or its
        layouts already read (:func:`~neurospeech.simulate.like.read_layouts`): its
        participants, channels, events and recording lengths, sidecars byte for byte.
        ``params`` must then have its participants' channel counts.
    overwrite : bool
        Replace an existing dataset at ``root``; participants it has beyond the new
        ones are removed.
    progress : bool
        Show a progress bar over participants.

    Returns
    -------
    root : Path
        The BIDS root.
    """
    layouts = None
    if like is not None:
        from neurospeech.simulate.like import params_like, read_layouts

        layouts = read_layouts(like) if isinstance(like, str | os.PathLike) else list(like)
        params = params_like(layouts) if params is None else params
        if params.n_channels != tuple(len(layout.channels) for layout in layouts):
            raise ValueError(
                f"the parameters' channel counts {params.n_channels} are not those of the "
                f"participants of {layouts[0].root}"
            )
    params = SimulationParams() if params is None else params
    root = Path(root)
    check_target(root, overwrite)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-staging-", dir=root.parent))
    try:
        written = write_dataset_files(staging, params, layouts)
        for index in tqdm(range(params.n_subjects), desc="simulate", disable=not progress):
            layout = None if layouts is None else layouts[index]
            sim = simulate_subject(params, index, layout)
            written += write_subject(staging, sim, params, layout)
            logger.info("simulated sub-%s: %d channels", sim.subject, sim.ieeg.shape[1])
        for rel in written:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / rel, root / rel)
        keep = (
            {f"sub-{s}" for s in params.subjects}
            if layouts is None
            else {f"sub-{layout.subject}" for layout in layouts}
        )
        for stale in [*root.glob("sub-*"), *(root / TRUTH_DIR).glob("sub-*")]:
            if stale.name not in keep:
                shutil.rmtree(stale)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root


def read_truth(root: str | os.PathLike, subject: str) -> dict:
    """Read the planted truth of one simulated participant.

    Parameters
    ----------
    root : path-like
        The BIDS root of a simulated dataset.
    subject : str
        The participant label, with or without ``sub-``.

    Returns
    -------
    truth : dict
        See :func:`simulate_subject`.
    """
    label = subject.removeprefix("sub-")
    path = Path(root) / TRUTH_DIR / f"sub-{label}" / f"sub-{label}_task-wordProduction_truth.json"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist: {root} is not a neurospeech simulation, or sub-{label} "
            f"is not one of its participants"
        )
    return json.loads(path.read_text(encoding="utf-8"))
