"""Reading SingleWordProductionDutch-iBIDS datasets: discovery, sidecars, recordings."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

TASK = "wordProduction"


def subjects(bids_root: str | os.PathLike) -> list[str]:
    """Participant labels (without ``sub-``) of a BIDS dataset, sorted.

    Raises
    ------
    FileNotFoundError
        If ``bids_root`` has no ``dataset_description.json``.
    ValueError
        If it holds no participants.
    """
    from mne_bids import get_entity_vals

    root = Path(bids_root)
    if not (root / "dataset_description.json").exists():
        raise FileNotFoundError(
            f"{root} is not a BIDS dataset (no dataset_description.json); create the sample "
            f"with `neurospeech sample` or install the real data first"
        )
    found = sorted(get_entity_vals(root, "subject"))
    if not found:
        raise ValueError(f"{root} holds no participants (no sub-* folders with files)")
    return found


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
    """Read a BIDS TSV file (any line ending, a byte-order mark or none; ``n/a`` as missing).

    Raises
    ------
    ValueError
        If the file is empty, not UTF-8 text or not a table; the message names it.
    """
    try:
        return pd.read_csv(
            path, sep="\t", na_values=["n/a"], keep_default_na=False, encoding="utf-8-sig"
        )
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty: it needs a header line and rows") from None
    except (UnicodeDecodeError, pd.errors.ParserError) as err:
        raise ValueError(f"{path} is not a tab-separated UTF-8 table: {err}") from None


def read_json(path: str | os.PathLike) -> dict:
    """Read a JSON sidecar (a byte-order mark or none) that must hold an object.

    Raises
    ------
    ValueError
        If it is not JSON text holding an object; the message names the file.
    """
    try:
        found = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not JSON: {err}") from None
    if not isinstance(found, dict):
        raise ValueError(f"{path} must hold a JSON object, not {type(found).__name__}")
    return found


def sampling_frequency(meta: dict, path: str | os.PathLike) -> float:
    """Return ``SamplingFrequency`` of an ``ieeg.json``, checked positive and finite."""
    value = meta.get("SamplingFrequency")
    try:
        rate = float(value)
    except (TypeError, ValueError):
        rate = np.nan
    if not 0 < rate < np.inf:
        raise ValueError(
            f"{path}: SamplingFrequency must be a positive number of Hz, got {value!r}"
        )
    return rate


def overview(bids_root: str | os.PathLike, labels: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per participant: channels, shafts, words, trial timing, duration.

    Only the sidecar files are read, so this is fast on the real dataset too.

    Parameters
    ----------
    bids_root : path-like
    labels : iterable of str, optional
        The participants (default: all of the dataset).
    """
    rows = []
    for sub in subjects(bids_root) if labels is None else labels:
        channels = read_tsv(sidecar(bids_root, sub, "channels.tsv"))
        events = read_tsv(sidecar(bids_root, sub, "events.tsv"))
        meta_path = sidecar(bids_root, sub, "ieeg.json")
        meta = read_json(meta_path)
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
                "sfreq_hz": sampling_frequency(meta, meta_path),
                "line_hz": meta["PowerLineFrequency"],
                "duration_s": meta["RecordingDuration"],
            }
        )
    return pd.DataFrame(rows)


#: Acquisitions of an SWPD NWB file.
IEEG, AUDIO, STIMULUS = "iEEG", "Audio", "Stimulus"
#: Where the NEMAR release (nemarDatasets/nm000371) keeps the original NWB files.
SOURCEDATA_GLOB = "sourcedata/*/*/sub-{subject}/ieeg/sub-{subject}_*ieeg.nwb"
#: iEEG formats that mne-bids reads, tried after NWB.
MNE_BIDS_EXTENSIONS = (".vhdr", ".edf", ".fif", ".set", ".mefd")
#: Rates may differ from the declared one by clock drift, not by more than this.
RATE_TOLERANCE = 0.005
_AUDIO_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000)
_MICROVOLTS = {
    "nv": 1e-3,
    "nanovolts": 1e-3,
    "uv": 1.0,
    "µv": 1.0,
    "μv": 1.0,  # the Greek mu, beside the micro sign
    "microvolts": 1.0,
    "mv": 1e3,
    "millivolts": 1e3,
    "v": 1e6,
    "volt": 1e6,
    "volts": 1e6,
}
#: Audio may end this many seconds before the iEEG (a warning); more is an error.
AUDIO_GAP_TOLERANCE = 0.1


class RecordingWarning(UserWarning):
    """A known defect or an oddity of a recording, and what the reader did about it."""


@dataclass(frozen=True, eq=False)
class Recording:
    """One participant's session: sEEG, audio, the word on screen, and the sidecars.

    Attributes
    ----------
    subject : str
        Label without ``sub-``.
    ieeg : ndarray, shape (n_samples, n_channels)
        Voltage in microvolts, float64, in the order of ``channels``.
    sfreq : float
        iEEG sampling rate (Hz), as declared in ``ieeg.json`` and checked on the data.
    audio : ndarray, shape (n_audio_samples,)
        Microphone signal as stored (float64).
    audio_sfreq : float
        Audio sampling rate (Hz).
    audio_offset : float
        Start of the audio minus start of the iEEG, in seconds.
    stimulus : ndarray of str, shape (n_samples,)
        The word on screen at every iEEG sample (``''`` otherwise).
    events : DataFrame
        ``events.tsv`` without the rows the reader dropped (see the warnings).
    channels, electrodes : DataFrame
        ``channels.tsv`` (``status`` set to ``bad`` for channels with non-finite
        samples) and ``space-ACPC_electrodes.tsv``.
    line_freq : float
        Mains frequency from ``ieeg.json`` (``PowerLineFrequency``).
    bad_channels : tuple of str
        Channels with non-finite samples.
    source : Path
        The file the iEEG was read from.
    """

    subject: str
    ieeg: np.ndarray
    sfreq: float
    audio: np.ndarray
    audio_sfreq: float
    audio_offset: float
    stimulus: np.ndarray
    events: pd.DataFrame
    channels: pd.DataFrame
    electrodes: pd.DataFrame
    line_freq: float
    bad_channels: tuple[str, ...]
    source: Path

    @property
    def words(self) -> pd.DataFrame:
        """The ``word`` rows of :attr:`events` (one per trial)."""
        return self.events[self.events["trial_type"] == "word"].reset_index(drop=True)

    def trials(self) -> pd.DataFrame:
        """Return the ``word`` rows, or raise ValueError if the recording has none."""
        words = self.words
        if words.empty:
            raise ValueError(f"sub-{self.subject}: events.tsv has no 'word' rows")
        return words

    @property
    def ch_names(self) -> list[str]:
        """Channel names, in column order of :attr:`ieeg`."""
        return self.channels["name"].tolist()

    @property
    def duration(self) -> float:
        """Length of the iEEG in seconds."""
        return self.ieeg.shape[0] / self.sfreq

    def pick(self, names: list[str]) -> Recording:
        """Return the recording restricted to the channels ``names``, in that order.

        Raises
        ------
        ValueError
            If a name is not a channel of the recording.
        """
        index = {name: k for k, name in enumerate(self.ch_names)}
        missing = [name for name in names if name not in index]
        if missing:
            raise ValueError(f"sub-{self.subject}: no channel(s) {', '.join(missing)}")
        columns = [index[name] for name in names]
        return dataclasses.replace(
            self,
            ieeg=self.ieeg[:, columns],
            channels=self.channels.iloc[columns].reset_index(drop=True),
            bad_channels=tuple(name for name in self.bad_channels if name in names),
        )

    def pick_good(self) -> Recording:
        """Return the recording restricted to its good channels, warning once about the others.

        The channels with non-finite samples (:attr:`bad_channels`) leave ``ieeg`` and
        ``channels``; what is returned has no bad channels, so every array computed
        from it is labelled by its :attr:`ch_names`. The recording itself is returned
        when all its channels are good.
        """
        if not self.bad_channels:
            return self
        warnings.warn(
            f"sub-{self.subject}: channels {', '.join(self.bad_channels)} have non-finite "
            f"samples and are left out",
            RecordingWarning,
            stacklevel=2,
        )
        return self.pick([name for name in self.ch_names if name not in self.bad_channels])


def estimate_rate(timestamps: np.ndarray) -> float:
    """Estimate a sampling rate (Hz) from sample times, robust to irregular intervals.

    Intervals further than half the median interval from the median (e.g. an
    irregular first interval when a stream starts) are left out; the rate is the
    number of regular intervals over their total duration.
    """
    steps = np.diff(np.asarray(timestamps, dtype=float))
    if steps.size == 0:
        raise ValueError("at least two timestamps are needed to estimate a rate")
    typical = np.median(steps)
    if not typical > 0:
        raise ValueError("the timestamps do not increase")
    regular = np.abs(steps - typical) <= 0.5 * typical
    return float(regular.sum() / steps[regular].sum())


@contextlib.contextmanager
def _open_nwb(path: Path) -> Iterator[h5py.File]:
    """Open an NWB file to read in the block; name it in every error of its layout.

    A file HDF5 cannot open is an OSError, a dataset or attribute missing or of another
    shape or type a ValueError, each naming the file.
    """
    try:
        nwb = h5py.File(path, "r")
    except OSError as err:
        raise OSError(
            f"{path} is not a readable NWB (HDF5) file ({err}): it may be truncated or "
            "damaged; fetch it again"
        ) from None
    with nwb:
        try:
            yield nwb
        except (KeyError, TypeError, IndexError, AttributeError) as err:  # a foreign layout
            raise ValueError(
                f"{path}: its acquisitions are not laid out as this dataset's NWB files "
                f"({type(err).__name__}: {err})"
            ) from err
        except ValueError as err:  # e.g. text where numbers belong
            if str(path) in str(err):
                raise
            raise ValueError(f"{path}: {err}") from err


def _text(dataset: h5py.Dataset, path: Path) -> np.ndarray:
    """Read a dataset of strings as str, decoded from UTF-8 (words such as 'één')."""
    try:
        if dataset.dtype.kind in "SO":
            return np.asarray(dataset.asstr("utf-8")[()], dtype=str)
        return dataset[()].astype(str)
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: the {dataset.name} text is not UTF-8: {err}") from None


def _check_audio_covers(
    audio: np.ndarray, rate: float, offset: float, duration: float, path: Path
) -> None:
    """Raise unless the audio reaches the iEEG's end; warn of any shortfall or late start.

    Audio ending more than :data:`AUDIO_GAP_TOLERANCE` before the iEEG is an error (the
    features would be made up there); a smaller shortfall, or audio that starts after
    the iEEG's first sample (as when a stream's first interval is irregular), is a
    warning naming the file and the gap: the frames there repeat the audio's edge.
    """
    if len(audio) == 0:
        raise ValueError(f"{path}: the Audio acquisition holds no samples")
    end = offset + len(audio) / rate
    short = duration - end
    if short > AUDIO_GAP_TOLERANCE:
        raise ValueError(
            f"{path}: the audio covers {offset:.3f}-{end:.3f} s of the iEEG's "
            f"0-{duration:.3f} s: it stops {short:.3f} s short (more than "
            f"{AUDIO_GAP_TOLERANCE} s); the features would be made up there: give the whole audio"
        )
    for gap, where in (
        (short, "stops {} ms short of the iEEG's end"),
        (offset, "starts {} ms after the iEEG"),
    ):
        if gap > 0:
            warnings.warn(
                f"{path.name}: the audio {where.format(round(gap * 1000))} (the frames there "
                "repeat the audio's edge)",
                RecordingWarning,
                stacklevel=3,
            )


def _acquisition(nwb: h5py.File, name: str, path: Path) -> h5py.Group:
    group = nwb.get(f"acquisition/{name}")
    if group is None or "data" not in group:
        present = sorted(nwb.get("acquisition", {}).keys())
        raise ValueError(
            f"{path}: no '{name}' acquisition (it has: {', '.join(present) or 'none'})"
        )
    return group


def _series_timing(group: h5py.Group) -> tuple[float, float | None, np.ndarray | None]:
    """Start time, stored rate (or None) and timestamps (or None) of an NWB TimeSeries."""
    if "timestamps" in group:
        stamps = group["timestamps"][:]
        return (float(stamps[0]) if stamps.size else 0.0), None, stamps
    start = group["starting_time"]
    return float(start[()]), float(start.attrs["rate"]), None


def _microvolt_scale(group: h5py.Group, path: Path) -> float:
    attrs = group["data"].attrs
    unit = attrs.get("unit", "uV")
    unit = (unit.decode() if isinstance(unit, bytes) else str(unit)).strip().lower()
    if unit not in _MICROVOLTS:
        raise ValueError(
            f"{path}: iEEG unit {unit!r} is not a voltage unit this reader knows "
            f"({', '.join(sorted(_MICROVOLTS))})"
        )
    return _MICROVOLTS[unit] * float(attrs.get("conversion", 1.0))


def _check_rate(measured: float, declared: float, what: str) -> None:
    if abs(measured - declared) > RATE_TOLERANCE * declared:
        raise ValueError(
            f"{what} give {measured:.3f} Hz but ieeg.json declares {declared:g} Hz "
            f"(SamplingFrequency)"
        )


def _audio_rate(group: h5py.Group, path: Path) -> tuple[float, float]:
    """Audio start time and rate; a rate from timestamps snaps to a standard audio rate."""
    start, rate, stamps = _series_timing(group)
    if rate is None:
        rate = estimate_rate(stamps)
        nearest = min(_AUDIO_RATES, key=lambda r: abs(r - rate))
        if abs(nearest - rate) <= RATE_TOLERANCE * nearest:
            rate = float(nearest)
    if not rate > 0:
        raise ValueError(f"{path}: the Audio acquisition has a non-positive rate {rate}")
    return start, rate


def _find_ieeg(folder: Path, subject: str) -> Path:
    """Find the participant's iEEG file: NWB first, then the formats mne-bids reads."""
    for ext in (".nwb", *MNE_BIDS_EXTENSIONS):
        found = sorted(folder.glob(f"sub-{subject}_*ieeg{ext}"))
        if found:
            return found[0]
    raise FileNotFoundError(
        f"sub-{subject} has no iEEG recording in {folder} (looked for *_ieeg.nwb and "
        f"*_ieeg{{{','.join(MNE_BIDS_EXTENSIONS)}}})"
    )


def find_nwb(root: str | os.PathLike, subject: str) -> Path:
    """Return a participant's original NWB file.

    NEMAR's release keeps the original files under ``sourcedata/`` (:data:`SOURCEDATA_GLOB`)
    beside its own conversions; the OSF archive has them in ``sub-XX/ieeg/``.

    Raises
    ------
    FileNotFoundError
        If neither holds one.
    """
    root = Path(root)
    source = sorted(root.glob(SOURCEDATA_GLOB.format(subject=subject)))
    if source:
        return source[0]
    found = sorted((root / f"sub-{subject}" / "ieeg").glob(f"sub-{subject}_*ieeg.nwb"))
    if not found:
        raise FileNotFoundError(
            f"sub-{subject} has no NWB file in {root / f'sub-{subject}' / 'ieeg'} or under "
            f"{root / 'sourcedata'}"
        )
    return found[0]


def _find_source_nwb(root: Path, subject: str) -> Path:
    """Find the original NWB file with Audio and Stimulus in the NEMAR layout."""
    pattern = SOURCEDATA_GLOB.format(subject=subject)
    found = sorted(root.glob(pattern))
    if not found:
        raise FileNotFoundError(
            f"sub-{subject}: the iEEG is not NWB, and no NWB file with the Audio and "
            f"Stimulus streams is under {root / 'sourcedata'} ({pattern})"
        )
    return found[0]


def _read_with_mne_bids(path: Path) -> tuple[np.ndarray, float, list[str]]:
    """Read samples x channels in microvolts, the rate and channel names (mne-bids)."""
    from mne_bids import get_bids_path_from_fname, read_raw_bids

    bids_path = get_bids_path_from_fname(path).update(root=path.parents[2], datatype="ieeg")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sidecar remarks; the checks below are ours
        raw = read_raw_bids(bids_path, verbose="error")
    data = raw.get_data(units="uV").T
    return np.ascontiguousarray(data), float(raw.info["sfreq"]), list(raw.ch_names)


def _require_columns(table: pd.DataFrame, path: Path, *columns: str) -> None:
    """Raise a ValueError naming ``path`` and the columns it lacks (a missing header line too)."""
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise ValueError(
            f"{path}: missing column(s) {', '.join(missing)} (the first line must be the header)"
        )


def _check_names(table: pd.DataFrame, path: Path) -> None:
    """Raise a ValueError naming ``path`` unless every row has a name of its own."""
    unnamed = table["name"].isna() | (table["name"].astype(str).str.strip() == "")
    if unnamed.any():
        raise ValueError(f"{path}: row {np.flatnonzero(unnamed.to_numpy())[0] + 1} has no name")
    table["name"] = table["name"].astype(str)
    repeated = sorted(set(table["name"][table["name"].duplicated()]))
    if repeated:
        raise ValueError(f"{path}: names must be unique, repeated: {', '.join(repeated)}")


def _cell_text(value: object) -> str:
    """Return a cell of a table as its file shows it: ``n/a``, a number, or a quoted text."""
    if pd.isna(value):
        return "n/a"
    return repr(value) if isinstance(value, str) else str(value)


def _numeric_events(events: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Return ``events`` with numeric ``onset``, ``duration`` (n/a allowed) and ``sample``.

    Raises
    ------
    ValueError
        Naming the file and the first bad row: a value that is not a number, an onset or
        sample that is missing, a sample that is negative or not a whole number.
    """
    events = events.copy()
    for column in ("onset", "duration", "sample"):
        values = pd.to_numeric(events[column], errors="coerce")
        bad = values.isna() if column != "duration" else values.isna() & events[column].notna()
        bad |= ~np.isfinite(values.fillna(0))
        if column == "sample":
            bad |= (values < 0) | (values % 1 != 0)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            given = events[column].iloc[row]
            what = "a non-negative whole number" if column == "sample" else "a number"
            raise ValueError(
                f"{path}: row {row + 1} has {column} {_cell_text(given)}; it must be {what}"
            )
        events[column] = values.astype(np.int64) if column == "sample" else values
    return events


def _check_events(
    events: pd.DataFrame, path: Path, n_samples: int, sfreq: float, stimulus: np.ndarray
) -> pd.DataFrame:
    """Check ``events.tsv`` against the data; drop the rows of words never recorded."""
    _require_columns(events, path, "onset", "duration", "trial_type", "value", "sample")
    if events.empty:
        raise ValueError(f"{path} has a header but no rows: it needs one row per event")
    events = _numeric_events(events, path)
    words = (events["trial_type"] == "word").to_numpy()
    unnamed = words & events["value"].isna().to_numpy()
    if unnamed.any():
        raise ValueError(f"{path}: row {np.flatnonzero(unnamed)[0] + 1} is a word with no value")
    events["value"] = events["value"].astype(str)
    off = np.abs(events["onset"].to_numpy() * sfreq - events["sample"].to_numpy()) > 1.0
    if off.any():
        row = int(np.flatnonzero(off)[0])
        raise ValueError(
            f"{path}: row {row + 1} has onset {events['onset'].iloc[row]} s but sample "
            f"{events['sample'].iloc[row]} (at {sfreq:g} Hz the two disagree)"
        )
    unrecorded = (events["duration"] == 0) & (events["sample"] >= n_samples - 1)
    if unrecorded.any():
        lost = events.loc[unrecorded & (events["trial_type"] == "word"), "value"].tolist()
        events = events[~unrecorded].reset_index(drop=True)
        kept = int((events["trial_type"] == "word").sum())
        warnings.warn(
            f"{path.name}: the recording ends at {n_samples / sfreq:.2f} s, before the last "
            f"{len(lost)} word(s) ({', '.join(lost)}); their rows have zero duration and "
            f"are dropped: {kept} word trials remain",
            RecordingWarning,
            stacklevel=3,
        )
    end = events["sample"] + np.round(events["duration"] * sfreq)
    beyond = (events["sample"] >= n_samples) | (end > n_samples + 1)
    if beyond.any():
        row = int(np.flatnonzero(beyond)[0])
        raise ValueError(
            f"{path}: row {row + 1} ({events['trial_type'].iloc[row]} "
            f"{events['value'].iloc[row]!r} at sample {events['sample'].iloc[row]}) ends "
            f"beyond the recording ({n_samples} samples, {n_samples / sfreq:.2f} s)"
        )
    words = events[events["trial_type"] == "word"]
    odd = sorted({w for w in words["value"] if not re.fullmatch(r"\w+", w)})
    if odd:
        warnings.warn(
            f"{path.name}: word(s) {', '.join(map(repr, odd))} look truncated or contain "
            f"characters other than letters; kept as stored",
            RecordingWarning,
            stacklevel=3,
        )
    on_screen = stimulus[np.minimum(words["sample"].to_numpy(), n_samples - 1)]
    mismatched = on_screen != words["value"].to_numpy()
    if mismatched.any():
        warnings.warn(
            f"{path.name}: {int(mismatched.sum())} of {len(words)} words differ from the "
            f"Stimulus stream at their sample (first: {words['value'].iloc[mismatched.argmax()]!r} "
            f"vs {on_screen[mismatched.argmax()]!r})",
            RecordingWarning,
            stacklevel=3,
        )
    return events


def _check_electrodes(electrodes: pd.DataFrame, channels: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Check ``electrodes.tsv``: numeric coordinates, and a position for every channel.

    Raises
    ------
    ValueError
        A column is missing, or a coordinate is not a number (naming the row).

    Warns
    -----
    RecordingWarning
        Channels without a row (absent or renamed): they have no position, so the maps
        and the contrastive decoder's spatial attention leave them out.
    """
    _require_columns(electrodes, path, "name", "x", "y", "z")
    electrodes = electrodes.copy()
    _check_names(electrodes, path)
    for axis in ("x", "y", "z"):
        values = pd.to_numeric(electrodes[axis], errors="coerce")
        bad = values.isna() & electrodes[axis].notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(
                f"{path}: row {row + 1} has {axis} {_cell_text(electrodes[axis].iloc[row])}; "
                "it must be a number of mm (or n/a)"
            )
        electrodes[axis] = values
    placed = set(electrodes.dropna(subset=["x", "y", "z"])["name"])
    unplaced = [name for name in channels["name"].astype(str) if name not in placed]
    if unplaced:
        warnings.warn(
            f"{path.name}: {len(unplaced)} channel(s) have no position ({', '.join(unplaced[:10])}"
            f"{', ...' if len(unplaced) > 10 else ''}): the maps leave them out",
            RecordingWarning,
            stacklevel=3,
        )
    return electrodes


def _flag_non_finite(
    ieeg: np.ndarray, channels: pd.DataFrame, path: Path
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    bad = ~np.isfinite(ieeg).all(axis=0)
    if not bad.any():
        return channels, ()
    names = tuple(channels["name"][bad])
    channels = channels.copy()
    channels["status"] = np.where(bad, "bad", channels.get("status", "good"))
    channels["status_description"] = np.where(
        bad, "non-finite samples", channels.get("status_description", "n/a")
    )
    warnings.warn(
        f"{path.name}: channel(s) {', '.join(names)} hold non-finite samples; flagged bad "
        f"in Recording.channels and Recording.bad_channels",
        RecordingWarning,
        stacklevel=3,
    )
    return channels, names


def read_recording(bids_root: str | os.PathLike, subject: str) -> Recording:
    """Read one participant of SingleWordProductionDutch-iBIDS (either release).

    Two layouts are read:

    - the original release (OSF nrgx6): ``sub-XX/ieeg/sub-XX_task-wordProduction_ieeg.nwb``
      holds ``iEEG`` (microvolts, timestamps), ``Audio`` and ``Stimulus``;
    - the NEMAR release (nm000371): the iEEG is BrainVision (read with mne-bids) for most
      participants and NWB for others; ``Audio`` and ``Stimulus`` come from the original
      NWB file under ``sourcedata/osf-nrgx6/``.

    Electrode files may carry the ``task`` entity or not.

    Parameters
    ----------
    bids_root : path-like
        The dataset root.
    subject : str
        Participant label, with or without ``sub-``.

    Returns
    -------
    Recording

    Raises
    ------
    FileNotFoundError
        A file the recording needs is missing (the message names it).
    ValueError
        The files disagree with each other or with themselves: a missing acquisition,
        channel counts that differ between the data and ``channels.tsv``, a sampling
        rate other than the declared one, events beyond the end of the recording,
        onsets that disagree with samples, an empty recording.

    Warns
    -----
    RecordingWarning
        For the known defects of the real data, with what was done: words recorded
        after the end of the recording (participant 10: 5 words, 95 trials remain) are
        dropped; words stored truncated (e.g. ```s``) are kept as stored; channels with
        non-finite samples are flagged bad.
    """
    root = Path(bids_root)
    subject = subject.removeprefix("sub-")
    folder = root / f"sub-{subject}" / "ieeg"
    meta_path = sidecar(root, subject, "ieeg.json")
    meta = read_json(meta_path)
    declared = sampling_frequency(meta, meta_path)
    line_freq = meta.get("PowerLineFrequency", "n/a")
    line_freq = 50.0 if line_freq in ("n/a", None) else float(line_freq)
    channels_path = sidecar(root, subject, "channels.tsv")
    channels = read_tsv(channels_path)
    _require_columns(channels, channels_path, "name")
    _check_names(channels, channels_path)
    events_path = sidecar(root, subject, "events.tsv")
    electrodes_path = sidecar(root, subject, "space-ACPC_electrodes.tsv")
    electrodes = _check_electrodes(read_tsv(electrodes_path), channels, electrodes_path)

    source = _find_ieeg(folder, subject)
    names = None
    if source.suffix == ".nwb":
        streams = source
    else:
        streams = _find_source_nwb(root, subject)
        ieeg, rate, names = _read_with_mne_bids(source)
        _check_rate(rate, declared, f"{source}: the BrainVision header and data")
    with _open_nwb(streams) as nwb:
        ieeg_group = _acquisition(nwb, IEEG, streams)
        if streams == source:
            ieeg = ieeg_group["data"][:].astype(float) * _microvolt_scale(ieeg_group, source)
        ieeg_start, stored_rate, stamps = _series_timing(ieeg_group)
        n_stored = ieeg_group["data"].shape[0]
        audio_group = _acquisition(nwb, AUDIO, streams)
        audio = audio_group["data"][:].astype(float)
        audio_start, audio_sfreq = _audio_rate(audio_group, streams)
        stimulus = _text(_acquisition(nwb, STIMULUS, streams)["data"], streams)

    if ieeg.ndim != 2 or ieeg.shape[0] == 0:
        raise ValueError(f"{source}: the iEEG holds no samples (shape {ieeg.shape})")
    n_samples = ieeg.shape[0]
    if n_stored != n_samples:
        raise ValueError(
            f"{source} has {n_samples} samples but the iEEG in {streams} has {n_stored}"
        )
    if ieeg.shape[1] != len(channels):
        raise ValueError(
            f"{source} has {ieeg.shape[1]} channels but {channels_path.name} lists {len(channels)}"
        )
    if names is not None and names != channels["name"].tolist():
        raise ValueError(f"{source}: channel names differ from {channels_path.name}")
    if n_samples > 1:
        try:
            measured = stored_rate if stamps is None else estimate_rate(stamps)
        except ValueError as err:
            raise ValueError(f"{streams}: the iEEG timestamps: {err}") from None
        _check_rate(measured, declared, f"{streams}: the iEEG timestamps")
    _check_audio_covers(audio, audio_sfreq, audio_start - ieeg_start, n_samples / declared, streams)
    if len(stimulus) != n_samples:
        raise ValueError(
            f"{streams}: the Stimulus stream has {len(stimulus)} samples, the iEEG {n_samples}"
        )
    events = _check_events(read_tsv(events_path), events_path, n_samples, declared, stimulus)
    channels, bad = _flag_non_finite(ieeg, channels, source)
    return Recording(
        subject=subject,
        ieeg=ieeg,
        sfreq=declared,
        audio=audio,
        audio_sfreq=audio_sfreq,
        audio_offset=audio_start - ieeg_start,
        stimulus=stimulus,
        events=events,
        channels=channels,
        electrodes=electrodes,
        line_freq=line_freq,
        bad_channels=bad,
        source=source,
    )
