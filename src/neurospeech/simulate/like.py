"""Simulated signals in the layout and size of an existing dataset (``simulate --like``).

A user dry-runs the whole study on the layout of their own dataset before they have its
signals: the sidecars of each participant (``channels.tsv``, ``events.tsv``,
``ieeg.json``) give the channel names and order, the words and their timing (defects
included: a first word at sample 1, zero-duration rows at the last sample) and the
recording's length; the simulator plants its responses in signals of exactly that shape.
The sidecars are copied byte for byte; contacts without positions (no
``electrodes.tsv``) get made-up ones, and the dataset says so.

Examples
--------
>>> from neurospeech.simulate import simulate_dataset
>>> simulate_dataset("data/rehearsal", like="../shared/swpd-metadata/bids")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from neurospeech import bids
from neurospeech.simulate.params import SimulationParams
from neurospeech.simulate.timeline import Timeline

#: Sidecars copied from the layout, by BIDS suffix.
SIDECARS = ("events.tsv", "channels.tsv", "ieeg.json", "space-ACPC_coordsystem.json")
#: Fraction of each participant's contacts that follow the speech (the sample's half).
RESPONSIVE_FRACTION = 0.5


@dataclass(frozen=True)
class Layout:
    """One participant of an existing dataset, without its signals.

    Attributes
    ----------
    root : Path
        The dataset it comes from.
    subject : str
        The label, without ``sub-``.
    timeline : Timeline
        Its events, iEEG sample count and audio length.
    channels : DataFrame
        Its ``channels.tsv``.
    electrodes : DataFrame or None
        Its ``electrodes.tsv`` (``name``, ``x``, ``y``, ``z`` ...), None when it has none.
    sfreq, line_freq : float
        From its ``ieeg.json``.
    sidecars : dict of str to Path
        The files of :data:`SIDECARS` it has, by suffix.
    """

    root: Path
    subject: str
    timeline: Timeline
    channels: pd.DataFrame
    electrodes: pd.DataFrame | None
    sfreq: float
    line_freq: float
    sidecars: dict[str, Path]


def _ieeg_json(path: Path) -> dict:
    sidecar = bids.read_json(path)
    for key in ("SamplingFrequency", "RecordingDuration"):
        value = sidecar.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ValueError(
                f"{path}: {key} must be a positive number (a layout needs the recording's "
                f"rate and length), got {value!r}"
            )
    return sidecar


def read_layout(root: str | os.PathLike, subject: str) -> Layout:
    """Read one participant's layout from its sidecars.

    The iEEG has ``round(RecordingDuration * SamplingFrequency) + 1`` samples (BIDS'
    ``RecordingDuration`` spans the first to the last sample; on the real dataset this
    equals the BrainVision files' sample count) and the audio covers them.

    Parameters
    ----------
    root : path-like
        A BIDS root with ``sub-<label>/ieeg/*_channels.tsv``, ``*_events.tsv`` and
        ``*_ieeg.json``.
    subject : str
        The label, with or without ``sub-``.

    Raises
    ------
    FileNotFoundError
        If a sidecar is missing (it is named).
    ValueError
        If a sidecar lacks what a layout needs (file and column or key named).
    """
    root = Path(root)
    label = subject.removeprefix("sub-")
    found = {}
    for suffix in SIDECARS:
        try:
            found[suffix] = bids.sidecar(root, label, suffix)
        except FileNotFoundError:
            if suffix != "space-ACPC_coordsystem.json":
                raise
    sidecar = _ieeg_json(found["ieeg.json"])
    sfreq = float(sidecar["SamplingFrequency"])
    n_samples = int(round(sidecar["RecordingDuration"] * sfreq)) + 1
    events = bids.read_tsv(found["events.tsv"])
    missing = {"onset", "duration", "trial_type", "value", "sample"} - set(events.columns)
    if missing:
        raise ValueError(f"{found['events.tsv']} lacks the column(s) {sorted(missing)}")
    channels = bids.read_tsv(found["channels.tsv"])
    if "name" not in channels.columns or channels.empty:
        raise ValueError(f"{found['channels.tsv']} has no channel names (column 'name')")
    try:
        electrodes_path = bids.sidecar(root, label, "space-ACPC_electrodes.tsv")
    except FileNotFoundError:
        electrodes = None
    else:
        electrodes = bids.read_tsv(electrodes_path)
        absent = sorted(set(channels["name"]) - set(electrodes.get("name", [])))
        if absent:
            raise ValueError(
                f"{electrodes_path} has no row for the channel(s) {', '.join(absent)} of "
                f"{found['channels.tsv'].name}: give every contact a position, or remove the "
                f"file to have positions made up"
            )
        electrodes = electrodes.set_index("name").loc[channels["name"]].reset_index()
        found["space-ACPC_electrodes.tsv"] = electrodes_path
    return Layout(
        root=root,
        subject=label,
        timeline=Timeline(events, n_samples, n_samples / sfreq),
        channels=channels,
        electrodes=electrodes,
        sfreq=sfreq,
        line_freq=float(sidecar.get("PowerLineFrequency", 50.0)),
        sidecars=found,
    )


def read_layouts(root: str | os.PathLike) -> list[Layout]:
    """Read the layout of every participant of a BIDS dataset (:func:`read_layout`).

    Raises
    ------
    ValueError
        If the dataset has no participants.
    """
    layouts = [read_layout(root, label) for label in bids.subjects(root)]
    if not layouts:
        raise ValueError(f"{root} has no participants (sub-*) to simulate the layout of")
    return layouts


def params_like(layouts: list[Layout], seed: int = 0) -> SimulationParams:
    """Return simulation parameters of the shape of ``layouts``.

    Half of each participant's contacts follow the speech, as in the sample; the other
    planted counts are the sample's. The cue and fixation durations are the layout's
    medians (each trial keeps its own).
    """
    for name in ("sfreq", "line_freq"):
        values = {getattr(layout, name) for layout in layouts}
        if len(values) > 1:
            raise ValueError(
                f"the participants of {layouts[0].root} differ in {name} ({sorted(values)}): "
                f"simulate them with one --like folder each"
            )
    events = pd.concat([layout.timeline.events for layout in layouts])
    shown = events[events["duration"] > 0]
    durations = {
        kind: shown.loc[shown["trial_type"] == kind, "duration"] for kind in ("word", "fixation")
    }
    n_channels = tuple(len(layout.channels) for layout in layouts)
    return SimulationParams(
        n_subjects=len(layouts),
        n_words=max(len(layout.timeline.trials) for layout in layouts),
        n_channels=n_channels,
        n_responsive=tuple(int(n * RESPONSIVE_FRACTION) for n in n_channels),
        sfreq=layouts[0].sfreq,
        line_freq=layouts[0].line_freq,
        word_duration=float(np.median(durations["word"])),
        fixation_duration=float(np.median(durations["fixation"])),
        seed=seed,
    )


def copy_sidecars(layout: Layout, root: Path) -> list[Path]:
    """Copy ``layout``'s sidecars byte for byte under ``root``; return them relative to it."""
    written = []
    for source in layout.sidecars.values():
        rel = source.relative_to(layout.root)
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, root / rel)
        written.append(rel)
    return written
