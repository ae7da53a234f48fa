"""Discovery and sidecar reading for SingleWordProductionDutch-iBIDS-layout datasets."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

TASK = "wordProduction"


def subjects(bids_root: str | os.PathLike) -> list[str]:
    """Participant labels (without ``sub-``) of a BIDS dataset, sorted.

    Raises
    ------
    FileNotFoundError
        If ``bids_root`` has no ``dataset_description.json``.
    """
    from mne_bids import get_entity_vals

    root = Path(bids_root)
    if not (root / "dataset_description.json").exists():
        raise FileNotFoundError(
            f"{root} is not a BIDS dataset (no dataset_description.json); create the sample "
            f"with `neurospeech sample` or install the real data first"
        )
    return sorted(get_entity_vals(root, "subject"))


def sidecar(bids_root: str | os.PathLike, subject: str, suffix: str) -> Path:
    """Path of one of a participant's iEEG files, with or without the ``task`` entity.

    Parameters
    ----------
    bids_root : path-like
        The BIDS root.
    subject : str
        Label without ``sub-``.
    suffix : str
        The part after the entities, e.g. ``"events.tsv"`` or ``"space-ACPC_electrodes.tsv"``.
    """
    folder = Path(bids_root) / f"sub-{subject}" / "ieeg"
    for name in (f"sub-{subject}_task-{TASK}_{suffix}", f"sub-{subject}_{suffix}"):
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(f"sub-{subject} has no {suffix} in {folder}")


def read_tsv(path: str | os.PathLike) -> pd.DataFrame:
    """Read a BIDS TSV file (any line ending; ``n/a`` as missing)."""
    return pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=False)


def overview(bids_root: str | os.PathLike) -> pd.DataFrame:
    """One row per participant: channels, shafts, words, trial timing, duration.

    Only the sidecar files are read, so this is fast on the real dataset too.
    """
    rows = []
    for sub in subjects(bids_root):
        channels = read_tsv(sidecar(bids_root, sub, "channels.tsv"))
        events = read_tsv(sidecar(bids_root, sub, "events.tsv"))
        meta = json.loads(sidecar(bids_root, sub, "ieeg.json").read_text(encoding="utf-8"))
        words = events[events["trial_type"] == "word"]
        shafts = channels["name"].str.extract(r"^([A-Za-z']+)")[0].nunique()
        rows.append(
            {
                "participant": f"sub-{sub}",
                "channels": len(channels),
                "shafts": shafts,
                "words": len(words),
                "distinct_words": words["value"].nunique(),
                "word_s": words["duration"].median(),
                "fixation_s": events.loc[events["trial_type"] == "fixation", "duration"].median(),
                "sfreq_hz": meta["SamplingFrequency"],
                "line_hz": meta["PowerLineFrequency"],
                "duration_s": meta["RecordingDuration"],
            }
        )
    return pd.DataFrame(rows)
