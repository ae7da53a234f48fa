"""The encoding analysis as a grid of tasks: participants x spaces x layers x lags.

The tasks run through :mod:`neurospeech.grid`.

Two rounds. First the features, one task per participant and feature space (a model's
forward pass over the participant's audio, on a GPU worker where the cluster has one),
written to the features cache (:func:`neurospeech.embeddings.frame_level_file`). Then
the fits, each a task that reads one layer from that cache:

- ``targets``: the participant's high-gamma frames of the channels the analyses use
  (:func:`neurospeech.channels.prepare`: good, re-referenced, without leaked sound), with
  their names, positions and regions (kept in the cluster's memory only);
- ``fit``: the lagged ridge model of one layer (log-mel: the spectrogram) with its
  circular-shift null (:func:`neurospeech.encoding.fit`, :func:`neurospeech.encoding.significance`);
- ``single-lag``: one point of the log-mel lag profile
  (:func:`neurospeech.encoding.single_lag`).

The acoustic fit is also run under the sensitivity reference of ``[channels]``
(bipolar by default), beside the configured one.

Every fit of a participant uses the same seed, hence the same shifts, so the family-wise
tests across layers and across lags join the tasks' per-shift maxima afterwards.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurospeech import (
    bids,
    channels,
    embeddings,
    encoding,
    fingerprint,
    grid,
    highgamma,
    layout,
    regions,
    stats,
)
from neurospeech.config import Channels, Encoding

#: Feature space of the lag profile and of the acoustic baseline fit.
ACOUSTIC = "log-mel"


def targets(
    bids_root: str, subject: str, settings: Channels, scheme: str | None = None
) -> dict[str, np.ndarray]:
    """Return a participant's high-gamma frames of the channels the analyses use, labelled.

    Parameters
    ----------
    bids_root, subject : str
    settings : neurospeech.config.Channels
        Reference and channels left out (:func:`neurospeech.channels.prepare`).
    scheme : str, optional
        Another reference than ``settings.reference``.

    Returns
    -------
    targets : dict of ndarray
        ``frames`` (frames x channels), ``channels`` (their names), ``positions``
        (channels x 3, ACPC mm from ``electrodes.tsv``; NaN where it has none) and
        ``regions`` (:func:`neurospeech.regions.of_channels`).
    """
    recording, _ = channels.prepare(
        bids.read_recording(bids_root, subject), settings, scheme=scheme
    )
    names = recording.ch_names
    positions = recording.electrodes.set_index("name").reindex(names)[["x", "y", "z"]]
    return {
        "frames": highgamma.extract(recording.ieeg, recording.sfreq, line_freq=recording.line_freq),
        "channels": np.array(names, dtype=str),
        "positions": positions.to_numpy(dtype=float),
        "regions": regions.of_channels(recording.channels, recording.source).to_numpy(str),
    }


def features(bids_root: str, subject: str, space: str, cache_dir: str) -> dict[str, object]:
    """Write a participant's frame-level features of every layer to the cache, if missing.

    Runs the model on the worker's GPU when it has one (:func:`neurospeech.grid.worker_device`).

    Returns
    -------
    found : dict
        ``path`` (the cache file) and ``n_layers``.
    """
    recording = bids.read_recording(bids_root, subject)
    path = embeddings.frame_level_file(
        space, recording, cache_dir=cache_dir, device=grid.worker_device()
    )
    return {"path": str(path), "n_layers": len(np.load(path, mmap_mode="r"))}


def fit(
    targets: dict[str, np.ndarray],
    path: str,
    layer: int,
    lags_ms: list[int],
    n_components: int | None,
    n_shifts: int,
    seed: int,
) -> dict[str, np.ndarray]:
    """Fit one layer's encoding model and test every electrode against circular shifts.

    Returns
    -------
    result : dict of ndarray
        Per electrode: ``channels`` (names), ``positions``, ``r``, ``p``, ``q``, ``p_fwe`` (as
        :func:`neurospeech.encoding.significance`) and ``alpha_median`` (over the outer
        folds); ``draw_max``: the largest r over electrodes of each shift.
    """
    frames = targets["frames"]
    result = encoding.fit(
        embeddings.read_layer(path, layer), frames, lags_ms=lags_ms, n_components=n_components
    )
    null = stats.circular_shift_null(frames, result.predicted, n_shifts=n_shifts, seed=seed)
    table = encoding.significance(frames, result, null=null)
    return {
        "channels": targets["channels"],
        "positions": targets["positions"],
        "regions": targets["regions"],
        **{column: table[column].to_numpy() for column in table},
        "alpha_median": np.median(result.alpha, axis=0),
        "draw_max": null.max(axis=1),
    }


def single_lag(
    targets: dict[str, np.ndarray], path: str, lag_ms: int, n_shifts: int, seed: int
) -> dict[str, np.ndarray]:
    """Fit the single-lag model of one point of the lag profile (log-mel features)."""
    r, draw_max = encoding.single_lag(
        embeddings.read_layer(path, 0), targets["frames"], lag_ms, n_shifts=n_shifts, seed=seed
    )
    return {"channels": targets["channels"], "r": r, "draw_max": draw_max}


@dataclass(frozen=True)
class ParticipantFits:
    """A participant's results: the acoustic fit, every layer's fit and the lag profile.

    Attributes
    ----------
    channels : list of str
        The electrodes (the participant's good channels), in the order of every array.
    positions : ndarray, shape (n_electrodes, 3)
        Their ACPC positions (mm; NaN where ``electrodes.tsv`` has none).
    regions : list of str
        Their regions (:mod:`neurospeech.regions`).
    acoustic : dict of ndarray
        The log-mel fit (as :func:`fit`), with ``p_fwe_lags`` (the lag profile's).
    sensitivity : dict
        ``{reference: fit}``: the log-mel fit under each other reference of
        ``[channels]`` (its own electrodes, in its ``channels``).
    layers : dict
        ``{space: {layer: fit}}``, each fit with ``p_fwe_layers``: corrected over the
        electrodes and the layers searched of that space.
    profile : neurospeech.encoding.LagProfile
    """

    channels: list[str]
    positions: np.ndarray
    regions: list[str]
    acoustic: dict[str, np.ndarray]
    sensitivity: dict[str, dict[str, np.ndarray]]
    layers: dict[str, dict[int, dict[str, np.ndarray]]]
    profile: encoding.LagProfile


def _fit_task(func, frames: grid.Task, path: str, label: dict, **kwargs) -> grid.Task:
    """Return the task of ``func`` on a participant's high-gamma and one features file."""
    return grid.Task(
        func,
        {"targets": frames, "path": path, **kwargs},
        label=label,
        kind=func.__name__.replace("_", "-"),
        identity={"features": Path(path).name, **kwargs},
    )


def _participant_inputs(hashes: dict[str, str], subject: str) -> dict[str, str]:
    """Return the hashes of one participant's files of the dataset, wherever they sit."""
    return {path: sha for path, sha in hashes.items() if f"sub-{subject}" in Path(path).parts}


def run(
    bids_root: str | os.PathLike,
    subjects: Sequence[str],
    config: Encoding,
    client,
    *,
    settings: Channels | None = None,
    derivatives: str | os.PathLike | None = None,
    progress: bool = True,
) -> dict[str, ParticipantFits]:
    """Run the encoding grid of ``config`` for ``subjects`` and join its results.

    Features go to ``neurospeech-embeddings/sub-XX``, the fits' results to
    ``neurospeech-grid/sub-XX`` under ``derivatives`` (kept there: a run computes only
    what is missing).

    Parameters
    ----------
    bids_root : path-like
    subjects : sequence of str
    config : neurospeech.config.Encoding
        Models, layers, lags, components, shifts and seed.
    client : distributed.Client
        From :func:`neurospeech.grid.connect`.
    settings : neurospeech.config.Channels, optional
        The channels fitted, under which references (default: the defaults).
    derivatives : path-like, optional
        Where the features and results are kept (default: the dataset's ``derivatives/``).
    progress : bool

    Returns
    -------
    fits : dict
        :class:`ParticipantFits` by participant.

    Raises
    ------
    neurospeech.grid.GridError
        Tasks failed (each named with its participant, space and layer or lag); the
        others' results are kept.
    """
    root = Path(bids_root)
    settings = settings or Channels()
    derivatives = Path(derivatives) if derivatives is not None else layout.derivatives(root)
    spaces = [ACOUSTIC, *config.speech_models]
    found = grid.run(
        [
            grid.Task(
                features,
                {
                    "bids_root": str(root),
                    "subject": sub,
                    "space": space,
                    "cache_dir": str(layout.features(derivatives, sub)),
                },
                label={"sub": sub, "space": space},
                kind="features",
                keep=False,
                gpu=space != ACOUSTIC,
            )
            for sub in subjects
            for space in spaces
        ],
        client,
        layout.grid(derivatives),
        desc="features",
        progress=progress,
    )
    files = {(t.label["sub"], t.label["space"]): result for t, result in found.results.items()}

    hashes = fingerprint.input_hashes(root)
    shifts = {"n_shifts": config.n_shifts, "seed": config.seed}
    tasks, plan = [], {}
    for sub in subjects:
        mel = files[sub, ACOUSTIC]["path"]
        by_reference = {}
        for scheme in settings.references:
            frames = grid.Task(
                targets,
                {"bids_root": str(root), "subject": sub, "settings": settings, "scheme": scheme},
                label={"sub": sub, "ref": scheme},
                kind="targets",
                identity={
                    "inputs": _participant_inputs(hashes, sub),
                    "settings": dataclasses.asdict(settings),
                },
                keep=False,
            )
            by_reference[scheme] = (
                frames,
                _fit_task(
                    fit,
                    frames,
                    mel,
                    {"sub": sub, "space": ACOUSTIC, "ref": scheme},
                    layer=0,
                    lags_ms=config.lags,
                    n_components=None,
                    **shifts,
                ),
            )
        frames, acoustic = by_reference.pop(settings.reference)
        layers = {
            space: {
                layer: _fit_task(
                    fit,
                    frames,
                    files[sub, space]["path"],
                    {"sub": sub, "space": space, "layer": layer},
                    layer=layer,
                    lags_ms=config.lags,
                    n_components=config.n_components,
                    **shifts,
                )
                for layer in config.layer_indices(int(files[sub, space]["n_layers"]), space)
            }
            for space in config.speech_models
        }
        lags = [
            _fit_task(
                single_lag,
                frames,
                mel,
                {"sub": sub, "space": ACOUSTIC, "lag": f"{lag}ms"},
                lag_ms=lag,
                **shifts,
            )
            for lag in config.profile_lags
        ]
        sensitivity = {scheme: task for scheme, (_, task) in by_reference.items()}
        plan[sub] = (acoustic, sensitivity, layers, lags)
        tasks += [acoustic, *sensitivity.values(), *lags]
        tasks += [task for by_layer in layers.values() for task in by_layer.values()]
    done = grid.run(tasks, client, layout.grid(derivatives), desc="fits", progress=progress)

    fits = {}
    for sub, (acoustic, sensitivity, layers, lags) in plan.items():
        profile = encoding.combine_lags(
            config.profile_lags,
            (done[t]["r"] for t in lags),
            (done[t]["draw_max"] for t in lags),
        )
        joined = {}
        for space, by_layer in layers.items():
            results = {layer: dict(done[t]) for layer, t in by_layer.items()}
            family = np.max([result["draw_max"] for result in results.values()], axis=0)
            for result in results.values():
                result["p_fwe_layers"] = stats.permutation_p(result["r"], family[:, None])
            joined[space] = results
        fits[sub] = ParticipantFits(
            channels=done[acoustic]["channels"].tolist(),
            positions=done[acoustic]["positions"],
            regions=done[acoustic]["regions"].tolist(),
            acoustic={**done[acoustic], "p_fwe_lags": profile.p_fwe},
            sensitivity={scheme: done[task] for scheme, task in sensitivity.items()},
            layers=joined,
            profile=profile,
        )
    return fits
