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
  (:func:`neurospeech.encoding.single_lag`);
- ``partition-base``, ``partition-acoustic`` and ``partition-model``: the variance
  partitioning among the nuisance features, log-mel and one layer of each speech model
  (the reduced models once, then a task per model: :func:`partition_model`).

The acoustic fit is also run under the sensitivity reference of ``[channels]``
(bipolar by default), beside the configured one.

Every fit of a participant uses the same seed, hence the same shifts, so the family-wise
tests across layers and across lags join the tasks' per-shift maxima afterwards.
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from neurospeech import (
    bids,
    channels,
    embeddings,
    encoding,
    fingerprint,
    grid,
    highgamma,
    layout,
    nuisance,
    regions,
    stats,
)
from neurospeech.config import Channels, Encoding
from neurospeech.embeddings import cache

#: Feature space of the lag profile and of the acoustic baseline fit.
ACOUSTIC = "log-mel"
#: The acoustic fit's electrodes with q below this form the fixed set of the layer comparisons.
SELECTED_Q = 0.05


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
        (channels x 3, ACPC mm from ``electrodes.tsv``; NaN where it has none),
        ``regions`` (:func:`neurospeech.regions.of_channels`), ``cues`` and ``onsets``
        (each trial's cue and speech onset, s on the iEEG clock:
        :func:`neurospeech.nuisance.speech_times`).
    """
    raw = bids.read_recording(bids_root, subject)
    onsets, _ = nuisance.speech_times(raw)
    recording, _ = channels.prepare(raw, settings, scheme=scheme)
    names = recording.ch_names
    positions = recording.electrodes.set_index("name").reindex(names)[["x", "y", "z"]]
    return {
        "frames": highgamma.extract(recording.ieeg, recording.sfreq, line_freq=recording.line_freq),
        "channels": np.array(names, dtype=str),
        "positions": positions.to_numpy(dtype=float),
        "regions": regions.of_channels(recording.channels, recording.source).to_numpy(str),
        "cues": recording.trials()["sample"].to_numpy() / recording.sfreq,
        "onsets": onsets,
    }


def features(bids_root: str, subject: str, space: str, cache_dir: str) -> dict[str, object]:
    """Write a participant's frame-level features of every layer to the cache, if missing.

    Runs the model on the worker's GPU when it has one (:func:`neurospeech.grid.worker_device`).

    Returns
    -------
    found : dict
        ``path`` (the cache file), ``n_layers`` and ``dim`` (features per layer).
    """
    recording = bids.read_recording(bids_root, subject)
    path = embeddings.frame_level_file(
        space, recording, cache_dir=cache_dir, device=grid.worker_device()
    )
    stored = np.load(path, mmap_mode="r")
    return {"path": str(path), "n_layers": stored.shape[0], "dim": stored.shape[-1]}


def fit(
    targets: dict[str, np.ndarray],
    path: str,
    layer: int,
    lags_ms: list[int],
    n_components: int | None,
    n_shifts: int,
    seed: int,
    n_swaps: int = 0,
    selection: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Fit one layer's encoding model and test every electrode against circular shifts.

    Parameters
    ----------
    targets : dict
        As :func:`targets` returns.
    path : str
        The features file.
    layer, lags_ms, n_components, n_shifts, seed
        As for :func:`neurospeech.encoding.fit` and :func:`neurospeech.encoding.significance`.
    n_swaps : int
        Trial swaps (:func:`neurospeech.encoding.trial_swaps`): the word-identity test.
    selection : dict, optional
        The result of another fit whose electrodes at q < 0.05 form the fixed electrode
        set of the layer comparisons (the same set for every layer).

    Returns
    -------
    result : dict of ndarray
        Per electrode: ``channels`` (names), ``positions``, ``r``, ``p``, ``q``, ``p_fwe`` (as
        :func:`neurospeech.encoding.significance`), ``fold_r`` (the mean over the outer
        folds of the r within each), ``alpha_median`` (over the outer folds) and, with
        swaps, ``swap_r`` (mean r of the swapped features) and ``p_swap`` (r above the
        swaps'); ``draw_max``: the largest r over electrodes of each shift. With a
        selection: ``set_r`` and ``set_fold_r`` (mean r over the set), ``set_null`` (of
        each shift) and ``set_swap`` (of each swap); NaN for an empty set.
    """
    frames = targets["frames"]
    swaps = (
        encoding.trial_swaps(len(frames), targets["cues"], targets["onsets"], n_swaps, seed=seed)
        if n_swaps
        else []
    )
    result = encoding.fit(
        embeddings.read_layer(path, layer),
        frames,
        lags_ms=lags_ms,
        n_components=n_components,
        swaps=swaps,
    )
    null = stats.circular_shift_null(frames, result.predicted, n_shifts=n_shifts, seed=seed)
    table = encoding.significance(frames, result, null=null)
    fold_r = encoding.fold_r(frames, result).mean(axis=0)
    out = {
        "channels": targets["channels"],
        "positions": targets["positions"],
        "regions": targets["regions"],
        **{column: table[column].to_numpy() for column in table},
        "fold_r": fold_r,
        "alpha_median": np.median(result.alpha, axis=0),
        "draw_max": null.max(axis=1),
    }
    if n_swaps:
        out["swap_r"] = result.swap_r.mean(axis=0)
        out["p_swap"] = stats.permutation_p(result.r, result.swap_r)
    if selection is not None:
        chosen = selection["q"] < SELECTED_Q

        def mean(values: np.ndarray) -> np.ndarray:
            return values[..., chosen].mean(axis=-1) if chosen.any() else np.nan * values[..., 0]

        out.update(
            set_r=mean(result.r),
            set_fold_r=mean(fold_r),
            set_null=mean(null),
            set_swap=mean(result.swap_r),
        )
    return out


def single_lag(
    targets: dict[str, np.ndarray], path: str, lag_ms: int, n_shifts: int, seed: int
) -> dict[str, np.ndarray]:
    """Fit the single-lag model of one point of the lag profile (log-mel features)."""
    r, draw_max = encoding.single_lag(
        embeddings.read_layer(path, 0), targets["frames"], lag_ms, n_shifts=n_shifts, seed=seed
    )
    return {"channels": targets["channels"], "r": r, "draw_max": draw_max}


#: Feature space of the timing and coarse acoustics of speech (:mod:`neurospeech.nuisance`).
NUISANCE = "nuisance"


def partition_base(
    targets: dict[str, np.ndarray],
    path: str,
    mel: str,
    lags_ms: list[int],
    ratios: list[float],
) -> dict[str, encoding.EncodingFit]:
    """Fit the reduced models of the variance partitioning, shared by its comparisons.

    Parameters
    ----------
    targets : dict
        As :func:`targets` returns.
    path, mel : str
        The participant's nuisance and log-mel feature files.
    lags_ms : list of int
        As for :func:`fit`.
    ratios : list of float
        Candidate band weights (:func:`neurospeech.ridge.band_weights`).

    Returns
    -------
    fits : dict of EncodingFit
        ``"N"``: the nuisance features alone; ``"NM"``: the nuisance features and log-mel
        (banded, :func:`neurospeech.encoding.fit_bands`).
    """
    bands = {"N": embeddings.read_layer(path, 0), "M": embeddings.read_layer(mel, 0)}
    return {
        names: encoding.fit_bands(
            [bands[name] for name in names], targets["frames"], lags_ms=lags_ms, ratios=ratios
        )
        for names in ("N", "NM")
    }


def partition_acoustic(
    targets: dict[str, np.ndarray],
    base: dict[str, encoding.EncodingFit],
    n_shifts: int,
    seed: int,
) -> dict[str, np.ndarray]:
    """Test the nuisance features alone and log-mel beyond them.

    Parameters
    ----------
    targets : dict
        As :func:`targets` returns.
    base : dict of EncodingFit
        As :func:`partition_base` returns.
    n_shifts, seed
        As for :func:`fit`.

    Returns
    -------
    table : dict of ndarray
        As :func:`partition_model`, for the comparisons ``nuisance`` and ``log-mel
        beyond nuisance``.
    """
    return _unique_table(
        targets,
        [
            ("nuisance", NUISANCE, 0, base["N"], None),
            ("log-mel beyond nuisance", ACOUSTIC, 0, base["NM"], base["N"]),
        ],
        n_shifts,
        seed,
    )


def partition_model(
    targets: dict[str, np.ndarray],
    base: dict[str, encoding.EncodingFit],
    path: str,
    mel: str,
    space: str,
    layer_path: str,
    layer: int,
    lags_ms: list[int],
    n_components: int,
    ratios: list[float],
    n_shifts: int,
    seed: int,
) -> dict[str, np.ndarray]:
    """Test one speech model's layer beyond the nuisance features, and beyond them and log-mel.

    Banded fits (:func:`neurospeech.encoding.fit_bands`) of the nuisance features (N) and
    the layer (L), and of N, log-mel (M) and L, each compared
    (:func:`neurospeech.encoding.unique_variance`) with the reduced model of
    :func:`partition_base` that lacks L, with its circular-shift null. One task per
    model, so that the partitioning divides over the workers.

    Parameters
    ----------
    targets : dict
        As :func:`targets` returns.
    base : dict of EncodingFit
        As :func:`partition_base` returns.
    path, mel : str
        The participant's nuisance and log-mel feature files.
    space : str
        The speech model's feature space.
    layer_path : str
        Its features file.
    layer : int
        The hidden state fitted.
    lags_ms, n_shifts, seed
        As for :func:`fit`.
    n_components : int
        Principal components of the layer's features (the nuisance and log-mel bands are
        not reduced).
    ratios : list of float
        Candidate band weights (:func:`neurospeech.ridge.band_weights`).

    Returns
    -------
    table : dict of ndarray
        One entry per comparison and electrode: ``comparison``, ``space`` (the space
        tested), ``layer``, ``channel``, and the columns of
        :func:`neurospeech.encoding.unique_variance`.
    """
    bands = {
        "N": embeddings.read_layer(path, 0),
        "M": embeddings.read_layer(mel, 0),
        "L": embeddings.read_layer(layer_path, layer),
    }
    components = {"N": None, "M": None, "L": n_components}

    def joint(names: str) -> encoding.EncodingFit:
        return encoding.fit_bands(
            [bands[name] for name in names],
            targets["frames"],
            lags_ms=lags_ms,
            ratios=ratios,
            n_components=[components[name] for name in names],
        )

    compared = [
        (f"{space} beyond nuisance", space, layer, joint("NL"), base["N"]),
        (f"{space} beyond nuisance and log-mel", space, layer, joint("NML"), base["NM"]),
    ]
    return _unique_table(targets, compared, n_shifts, seed)


def _unique_table(targets, compared, n_shifts, seed) -> dict[str, np.ndarray]:
    """Join the unique-variance tables of (comparison, space, layer, full, reduced) rows."""
    frames = targets["frames"]
    tables = [
        encoding.unique_variance(frames, full, reduced, n_shifts=n_shifts, seed=seed).assign(
            comparison=comparison, space=space, layer=layer, channel=targets["channels"]
        )
        for comparison, space, layer, full, reduced in compared
    ]
    joined = pd.concat(tables, ignore_index=True)
    # text as fixed-width strings: the store keeps no Python objects
    return {
        column: joined[column].to_numpy(
            None if pd.api.types.is_numeric_dtype(joined[column]) else str
        )
        for column in joined
    }


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
    partition : DataFrame
        The variance partitioning: :func:`partition_acoustic`, then :func:`partition_model`
        of each speech model.
    layer_tests : DataFrame
        The layer comparisons on the fixed electrode set (:func:`compare_layers`).
    components : DataFrame
        The sensitivity to the PCA: one row per model and number of components, at its
        ``partition_layer``.
    """

    channels: list[str]
    positions: np.ndarray
    regions: list[str]
    acoustic: dict[str, np.ndarray]
    sensitivity: dict[str, dict[str, np.ndarray]]
    layers: dict[str, dict[int, dict[str, np.ndarray]]]
    profile: encoding.LagProfile
    partition: pd.DataFrame
    layer_tests: pd.DataFrame
    components: pd.DataFrame


def compare_layers(layers: dict[str, dict[int, dict[str, np.ndarray]]]) -> pd.DataFrame:
    """Test a participant's layers on the fixed electrode set, under the same shifts.

    Every fit of a participant uses the same circular shifts, and each layer's result
    holds the mean r over the fixed set for each shift (:func:`fit` with a selection), so
    a difference of two fits has a null: the same difference for each shift. p-values
    are two-sided (``|difference|``); ``p_fwe`` takes each shift's maximum over the
    family (every layer of a model, or every layer of a trained model and its twin).

    Parameters
    ----------
    layers : dict
        ``{space: {layer: result of fit}}`` (with ``set_*`` entries).

    Returns
    -------
    tests : DataFrame
        One row per test: ``comparison`` (``"layer"``: the set's mean r against the
        shifts and against the trial swaps; ``"minus first layer"``; ``"trained minus
        untrained"``), ``space``, ``layer``, ``set_r``, ``set_fold_r``, ``value`` (the
        statistic: the mean r, or the difference), ``p``, ``p_fwe`` and ``p_swap`` (the
        mean r above the trial swaps'; layers only). Empty sets give NaN.
    """
    rows = []

    def family(comparison, space, values, nulls, extra):
        values, nulls = np.asarray(values, float), np.stack(nulls, axis=1)
        two_sided = comparison != "layer"
        observed = np.abs(values) if two_sided else values
        null = np.abs(nulls) if two_sided else nulls
        valid = np.isfinite(observed)
        p, p_fwe = np.full(len(values), np.nan), np.full(len(values), np.nan)
        if valid.any():
            p[valid] = stats.permutation_p(observed[valid], null[:, valid])
            p_fwe[valid] = stats.max_statistic_p(observed[valid], null[:, valid])
        for k, (layer, more) in enumerate(extra):
            rows.append(
                {
                    "comparison": comparison,
                    "space": space,
                    "layer": layer,
                    "value": values[k],
                    "p": p[k],
                    "p_fwe": p_fwe[k],
                    **more,
                }
            )

    for space, results in layers.items():
        order = sorted(results)
        fitted = [results[layer] for layer in order]
        scores = [
            {
                "set_r": float(r["set_r"]),
                "set_fold_r": float(r["set_fold_r"]),
                "p_swap": float(stats.permutation_p(r["set_r"], r["set_swap"]))
                if np.isfinite(r["set_r"]) and len(r["set_swap"])
                else np.nan,
            }
            for r in fitted
        ]
        family(
            "layer",
            space,
            [r["set_r"] for r in fitted],
            [r["set_null"] for r in fitted],
            list(zip(order, scores)),
        )
        first = fitted[0]
        if len(fitted) > 1:
            family(
                "minus first layer",
                space,
                [r["set_r"] - first["set_r"] for r in fitted[1:]],
                [r["set_null"] - first["set_null"] for r in fitted[1:]],
                [(layer, {}) for layer in order[1:]],
            )
        twin = layers.get(f"{space}-untrained", {})
        shared = [layer for layer in order if layer in twin]
        if shared:
            family(
                "trained minus untrained",
                space,
                [results[layer]["set_r"] - twin[layer]["set_r"] for layer in shared],
                [results[layer]["set_null"] - twin[layer]["set_null"] for layer in shared],
                [(layer, {}) for layer in shared],
            )
    return pd.DataFrame(rows)


#: The order in which a participant's ready tasks start (:attr:`grid.Task.priority`):
#: the targets, the acoustic fit and the partitioning's reduced models first (the others
#: need them), then the longest. The variance partitioning is about two fifths of a
#: participant's fits on one thread; as one task started among the last, it ran alone for
#: 29 of the 59 minutes of a participant's fits in the full-size rehearsal while the other
#: core idled, hence also its task per model.
_PRIORITY = {
    "targets": 5,
    "acoustic": 4,
    "partition-base": 4,
    "partition": 3,
    "components": 2,
    "layer": 1,
}


def _fit_task(
    func, frames: grid.Task, path: str, label: dict, priority: int = 0, **kwargs
) -> grid.Task:
    """Return the task of ``func`` on a participant's high-gamma and one features file."""
    return grid.Task(
        func,
        {"targets": frames, "path": path, **kwargs},
        label=label,
        kind=func.__name__.replace("_", "-"),
        priority=priority,
        identity={
            "features": Path(path).name,
            **{
                key: _by_name(value)
                for key, value in kwargs.items()
                if not isinstance(value, grid.Task)
            },
        },
    )


def _by_name(value):
    """``value`` with every features file it names replaced by the file's name.

    Cache files are named by what they hold, so a task's identity stays the same when
    the derivatives folder moves.
    """
    if isinstance(value, dict):
        return {key: _by_name(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_by_name(item) for item in value]
    if isinstance(value, str) and os.path.isfile(value):
        return Path(value).name
    return value


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

    The participants run in batches that keep the features caches within their budget
    (:func:`neurospeech.embeddings.cache.budget`): the first alone, then as many at a
    time as its features' size allows (all at once without a limit; on the sample, all
    the rest). Before a batch, the least recently used features of the others are
    removed; a later run that needs them computes them again.

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
        others' results are kept, and the other batches ran.
    """
    root = Path(bids_root)
    settings = settings or Channels()
    derivatives = Path(derivatives) if derivatives is not None else layout.derivatives(root)
    hashes = fingerprint.input_hashes(root)
    fits, failed, blocked = {}, {}, []
    for batch in _batches(list(subjects), derivatives, cache.budget()):
        try:
            files = _features(root, batch, config, client, derivatives, progress)
            fits.update(
                _fit_batch(
                    root, batch, files, config, settings, client, derivatives, hashes, progress
                )
            )
        except grid.GridError as err:  # the next batches still run
            failed.update(err.failed)
            blocked += err.blocked
    if failed:
        raise grid.GridError(failed, blocked)
    return fits


def _batches(subjects: list[str], derivatives: Path, max_bytes: float) -> Iterator[list[str]]:
    """Yield the participants in batches whose features caches fit in ``max_bytes`` together.

    No limit: one batch. Otherwise one participant first; its cache's size then sets how
    many share each later batch. Before each batch the caches of the others are trimmed
    (:func:`neurospeech.embeddings.cache.trim`) so that the batch's features fit.
    """
    if math.isinf(max_bytes):
        yield subjects
        return
    per_participant = None
    while subjects:
        count = 1 if per_participant is None else max(1, int(max_bytes // per_participant))
        batch, subjects = subjects[:count], subjects[count:]
        caches = [layout.features(derivatives, sub) for sub in batch]
        cache.trim(
            layout.feature_caches(derivatives),
            max_bytes - len(batch) * (per_participant or 0),
            keep=caches,
        )
        yield batch
        per_participant = max(1, *(cache.size([folder]) for folder in caches))


def _features(
    root: Path,
    subjects: list[str],
    config: Encoding,
    client,
    derivatives: Path,
    progress: bool,
) -> dict[tuple[str, str], dict[str, object]]:
    """Run the features tasks of ``subjects``; return :func:`features` by participant and space."""
    spaces = [ACOUSTIC, NUISANCE, *config.speech_models]
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
                gpu=space in config.speech_models,
            )
            for sub in subjects
            for space in spaces
        ],
        client,
        layout.grid(derivatives),
        desc="features",
        progress=progress,
    )
    return {(t.label["sub"], t.label["space"]): result for t, result in found.results.items()}


def _fit_batch(
    root: Path,
    subjects: list[str],
    files: dict[tuple[str, str], dict[str, object]],
    config: Encoding,
    settings: Channels,
    client,
    derivatives: Path,
    hashes: dict[str, str],
    progress: bool,
) -> dict[str, ParticipantFits]:
    """Run the fits of ``subjects`` on their features ``files``; join them by participant."""
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
                priority=_PRIORITY["targets"],
            )
            by_reference[scheme] = (
                frames,
                _fit_task(
                    fit,
                    frames,
                    mel,
                    {"sub": sub, "space": ACOUSTIC, "ref": scheme},
                    _PRIORITY["acoustic"],
                    layer=0,
                    lags_ms=config.lags,
                    n_components=None,
                    n_swaps=config.n_swaps,
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
                    _PRIORITY["layer"],
                    layer=layer,
                    lags_ms=config.lags,
                    n_components=config.n_components,
                    n_swaps=config.n_swaps,
                    selection=acoustic,
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
        base = _fit_task(
            partition_base,
            frames,
            files[sub, NUISANCE]["path"],
            {"sub": sub},
            _PRIORITY["partition-base"],
            mel=mel,
            lags_ms=config.partition_lags,
            ratios=list(config.band_ratios),
        )
        # held in the cluster's memory only: its two fits' predictions (frames x
        # electrodes each) would add about 60 MB a participant to the grid's folder
        base = dataclasses.replace(base, keep=False)
        partitioned = [
            grid.Task(
                partition_acoustic,
                {"targets": frames, "base": base, **shifts},
                label={"sub": sub},
                kind="partition-acoustic",
                identity=shifts,
            )
        ]
        for space in config.speech_models:
            layer = config.partition_layer_of(int(files[sub, space]["n_layers"]), space)
            partitioned.append(
                _fit_task(
                    partition_model,
                    frames,
                    files[sub, NUISANCE]["path"],
                    {"sub": sub, "space": space, "layer": layer},
                    _PRIORITY["partition"],
                    base=base,
                    mel=mel,
                    space=space,
                    layer_path=files[sub, space]["path"],
                    layer=layer,
                    lags_ms=config.partition_lags,
                    n_components=config.n_components,
                    ratios=list(config.band_ratios),
                    **shifts,
                )
            )
        components = {}
        for space in config.speech_models:
            path = files[sub, space]["path"]
            layer = config.partition_layer_of(int(files[sub, space]["n_layers"]), space)
            for k in config.pca_sensitivity:
                width = (k or int(files[sub, space]["dim"])) * len(config.lags)
                if width > encoding.MAX_COLUMNS:
                    warnings.warn(
                        f"sub-{sub}, {space}: {k or 'all'} components x {len(config.lags)} "
                        f"lags = {width} columns, beyond {encoding.MAX_COLUMNS}: left out of "
                        "the PCA sensitivity",
                        stacklevel=2,
                    )
                    continue
                same = k == config.n_components and layer in layers[space]
                components[space, k] = (
                    layers[space][layer]
                    if same
                    else _fit_task(
                        fit,
                        frames,
                        path,
                        {"sub": sub, "space": space, "layer": layer, "pca": k or "none"},
                        _PRIORITY["components"],
                        layer=layer,
                        lags_ms=config.lags,
                        n_components=k or None,
                        selection=acoustic,
                        **shifts,
                    )
                )
        plan[sub] = (acoustic, sensitivity, layers, lags, partitioned, components)
        tasks += [acoustic, *sensitivity.values(), *lags, *partitioned, *components.values()]
        tasks += [task for by_layer in layers.values() for task in by_layer.values()]
    done = grid.run(tasks, client, layout.grid(derivatives), desc="fits", progress=progress)

    fits = {}
    for sub, (acoustic, sensitivity, layers, lags, partitioned, components) in plan.items():
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
            layer_tests=compare_layers(joined),
            components=pd.DataFrame(
                [
                    {
                        "space": space,
                        "layer": int(task.kwargs["layer"]),
                        "n_components": k or "all",
                        "significant": int((done[task]["q"] < SELECTED_Q).sum()),
                        "mean_r": float(done[task]["r"].mean()),
                        "set_r": float(done[task]["set_r"]),
                        "set_fold_r": float(done[task]["set_fold_r"]),
                    }
                    for (space, k), task in components.items()
                ]
            ),
            channels=done[acoustic]["channels"].tolist(),
            positions=done[acoustic]["positions"],
            regions=done[acoustic]["regions"].tolist(),
            acoustic={**done[acoustic], "p_fwe_lags": profile.p_fwe},
            sensitivity={scheme: done[task] for scheme, task in sensitivity.items()},
            layers=joined,
            profile=profile,
            partition=pd.concat(
                [pd.DataFrame(done[task]) for task in partitioned], ignore_index=True
            ),
        )
    return fits
