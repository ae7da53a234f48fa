"""Write simulated participants in the layout of SingleWordProductionDutch-iBIDS."""

from __future__ import annotations

import contextlib
import logging
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from neurospeech import __version__, _io, layout
from neurospeech.simulate.params import SimulationParams
from neurospeech.simulate.subject import TASK, SimulatedSubject

if TYPE_CHECKING:
    from neurospeech.simulate.like import Layout

logger = logging.getLogger(__name__)

#: A fixed session date: the real data are de-identified the same way.
SESSION_START = datetime(2020, 1, 1, 12, 0, 0, tzinfo=UTC)
TRUTH_DIR = Path(layout.DERIVATIVES) / layout.SIMULATION


@contextlib.contextmanager
def _seeded_object_ids(seed: str) -> Iterator[None]:
    """Make the object ids that hdmf gives NWB containers reproducible.

    hdmf draws a random UUID4 for every container it creates; a seeded stream of
    version-4 UUIDs instead makes the same simulation produce the same bytes.
    """
    import hdmf.container

    rng = random.Random(seed)
    original = hdmf.container.uuid4
    hdmf.container.uuid4 = lambda: uuid.UUID(int=rng.getrandbits(128), version=4)
    try:
        yield
    finally:
        hdmf.container.uuid4 = original


def write_nwb(path: Path, sim: SimulatedSubject, audio_sfreq: float) -> None:
    """Write the ``iEEG``, ``Audio`` and ``Stimulus`` acquisitions as the real files hold them."""
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries

    with _seeded_object_ids(f"sub-{sim.subject}"):
        nwb = NWBFile(
            session_description="simulated word production",
            identifier=f"sub-{sim.subject}",
            session_start_time=SESSION_START,
            file_create_date=SESSION_START,
            timestamps_reference_time=SESSION_START,
        )
        nwb.add_acquisition(
            TimeSeries(name="iEEG", data=sim.ieeg, unit="uV", timestamps=sim.timestamps)
        )
        nwb.add_acquisition(
            TimeSeries(
                name="Audio",
                data=sim.audio,
                unit="a.u.",
                starting_time=float(sim.timestamps[0]),
                rate=float(audio_sfreq),
            )
        )
        nwb.add_acquisition(
            TimeSeries(
                name="Stimulus",
                data=sim.stimulus.astype(str).tolist(),
                unit="n.a.",
                timestamps=sim.timestamps.copy(),
            )
        )
        with _io.atomic_path(path) as tmp, NWBHDF5IO(str(tmp), "w") as io:
            io.write(nwb)


def _tsv(path: Path, frame: pd.DataFrame, *, newline: str = "\n", float_format=None) -> None:
    text = frame.to_csv(sep="\t", index=False, lineterminator=newline, float_format=float_format)
    _io.write_text(path, text, newline="")


def write_subject(
    root: Path, sim: SimulatedSubject, params: SimulationParams, like: Layout | None = None
) -> list[Path]:
    """Write one participant's files under ``root`` and its planted truth beside them.

    With ``like`` (:class:`~neurospeech.simulate.like.Layout`), its sidecars are copied
    byte for byte instead of written; made-up contact positions are written only where
    it has none.

    Returns
    -------
    paths : list of Path
        Every file written, relative to ``root``.
    """
    stem = f"sub-{sim.subject}_task-{TASK}"
    ieeg_dir = Path(f"sub-{sim.subject}") / "ieeg"
    truth_dir = TRUTH_DIR / f"sub-{sim.subject}"
    written = []

    def out(rel: Path) -> Path:
        written.append(rel)
        return root / rel

    write_nwb(out(ieeg_dir / f"{stem}_ieeg.nwb"), sim, params.audio_sfreq)
    _io.write_json(out(truth_dir / f"{stem}_truth.json"), sim.truth)
    if like is None or like.electrodes is None:
        electrodes = out(ieeg_dir / f"{stem}_space-ACPC_electrodes.tsv")
        _tsv(electrodes, sim.electrodes, float_format="%.3f")
    if like is not None:
        from neurospeech.simulate.like import copy_sidecars

        return written + copy_sidecars(like, root)
    _tsv(out(ieeg_dir / f"{stem}_events.tsv"), sim.events, newline="\r\n")
    _tsv(out(ieeg_dir / f"{stem}_channels.tsv"), sim.channels)
    _io.write_json(
        out(ieeg_dir / f"{stem}_space-ACPC_coordsystem.json"),
        {"iEEGCoordinateSystem": "ACPC", "iEEGCoordinateUnits": "mm"},
    )
    _io.write_json(
        out(ieeg_dir / f"{stem}_ieeg.json"),
        {
            "TaskName": TASK,
            "TaskDescription": "Read aloud the Dutch word shown on the screen.",
            "SamplingFrequency": params.sfreq,
            "PowerLineFrequency": params.line_freq,
            "SoftwareFilters": "n/a",
            "iEEGReference": "n/a",
            "SEEGChannelCount": len(sim.channels),
            "RecordingDuration": round(len(sim.timestamps) / params.sfreq, 4),
            "RecordingType": "continuous",
        },
    )
    return written


def write_dataset_files(
    root: Path, params: SimulationParams, like: list[Layout] | None = None
) -> list[Path]:
    """Write the dataset-level files: description, participants, README, provenance.

    With ``like`` (the layouts of :func:`~neurospeech.simulate.like.read_layout`), the
    participants are theirs and the README names the dataset whose layout was copied and
    the participants whose contact positions are made up.
    """
    written = []
    labels = params.subjects if like is None else [layout.subject for layout in like]
    name = "sample" if like is None else f"rehearsal in the layout of {like[0].root.name}"
    _io.write_json(
        root / "dataset_description.json",
        {
            "Name": f"neurospeech simulated {name} in the SingleWordProductionDutch-iBIDS layout",
            "BIDSVersion": "1.7.0",
            "DatasetType": "raw",
            "License": "CC0",
            "Authors": ["neurospeech simulator"],
            "GeneratedBy": [{"Name": "neurospeech.simulate", "Version": __version__}],
        },
    )
    participants = pd.DataFrame(
        {
            "participant_id": [f"sub-{s}" for s in labels],
            "age": "n/a",
            "sex": "n/a",
            "hand": "n/a",
        }
    )
    _tsv(root / "participants.tsv", participants)
    _io.write_text(
        root / "README",
        "SIMULATED DATA. This dataset was written by neurospeech.simulate in the layout of\n"
        "SingleWordProductionDutch-iBIDS (Verwoert et al. 2022). It contains no recording of\n"
        "any person: the speech is synthesized and the sEEG is simulated from it. The planted\n"
        f"truth of every participant is under {TRUTH_DIR.as_posix()}/.\n" + _like_readme(like),
    )
    _io.write_json(
        root / TRUTH_DIR / "dataset_description.json",
        {
            "Name": "Planted truth of the simulated sample",
            "BIDSVersion": "1.7.0",
            "DatasetType": "derivative",
            "GeneratedBy": [{"Name": "neurospeech.simulate", "Version": __version__}],
        },
    )
    _io.write_json(root / TRUTH_DIR / "simulation_params.json", params.to_dict())
    written += [
        Path("dataset_description.json"),
        Path("participants.tsv"),
        Path("README"),
        TRUTH_DIR / "dataset_description.json",
        TRUTH_DIR / "simulation_params.json",
    ]
    return written


def check_target(root: Path, overwrite: bool) -> None:
    """Refuse to mix a new simulation into an existing BIDS dataset unless asked to."""
    if overwrite or not root.exists():
        return
    existing = sorted(p.name for p in root.glob("sub-*")) + (
        ["dataset_description.json"] if (root / "dataset_description.json").exists() else []
    )
    if existing:
        raise FileExistsError(
            f"{root} already holds a BIDS dataset ({', '.join(existing[:4])}"
            f"{', ...' if len(existing) > 4 else ''}); pass overwrite=True (--overwrite) to "
            f"replace it"
        )


def _like_readme(like: list[Layout] | None) -> str:
    """Return the README's lines on the dataset whose layout was copied (none: sample)."""
    if like is None:
        return ""
    made_up = [f"sub-{layout.subject}" for layout in like if layout.electrodes is None]
    return (
        f"\nThe layout (channels, events, recording lengths; sidecars byte for byte) is that\n"
        f"of {like[0].root}. MADE-UP contact positions (electrodes.tsv): "
        f"{', '.join(made_up) or 'none'}.\n"
    )
