"""Property-based: corrupted sidecars and recordings read correctly or fail naming the file.

Every reader of a participant's files (``events.tsv``, ``channels.tsv``, ``electrodes.tsv``,
``ieeg.json`` and the NWB acquisitions) meets random but plausible damage: cells replaced,
lines dropped or repeated, files cut short, byte-order marks and CRLF line ends, JSON
values of the wrong type, HDF5 datasets of the wrong shape or type. Each example either
reads or raises the documented error (a ValueError or OSError) whose message names the
participant's file; never another exception, never a hang (hypothesis' deadline).
"""

import json
import shutil
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurospeech import bids

SIDECARS = ("events.tsv", "channels.tsv", "space-ACPC_electrodes.tsv")
NWB = "sub-01/ieeg/sub-01_task-wordProduction_ieeg.nwb"
EXAMPLES = settings(
    max_examples=40,
    deadline=10_000,  # ms: a hang fails the example
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # the same examples on every run and machine
)
#: Cells a careless or hostile editor leaves behind.
CELLS = st.sampled_from(
    ["", "n/a", "NaN", "inf", "-1", "0", "1e309", "three", "één", "café", "1.5", "\x00", "  7 "]
)


@pytest.fixture
def dataset(brief_dataset, tmp_path):
    return Path(shutil.copytree(brief_dataset, tmp_path / "bids"))


def _restore(dataset: Path, brief_dataset: Path) -> None:
    for path in brief_dataset.rglob("*"):
        if path.is_file():
            shutil.copyfile(path, dataset / path.relative_to(brief_dataset))


def _reads_or_names_the_file(dataset: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bids.RecordingWarning)
        try:
            bids.read_recording(dataset, "01")
        except (ValueError, OSError) as err:
            assert "sub-01" in str(err), f"the error names no file: {err}"


@st.composite
def text_damage(draw, lines: list[str]):
    """Return the lines of a TSV file after one random edit."""
    kind = draw(st.sampled_from(["cell", "drop", "repeat", "cut", "crlf-bom", "columns"]))
    row = draw(st.integers(0, len(lines) - 1))
    lines = list(lines)
    if kind == "cell":
        cells = lines[row].split("\t")
        cells[draw(st.integers(0, len(cells) - 1))] = draw(CELLS)
        lines[row] = "\t".join(cells)
    elif kind == "drop":
        del lines[row]
    elif kind == "repeat":
        lines.insert(row, lines[row])
    elif kind == "cut":
        text = "\n".join(lines)
        return text[: draw(st.integers(0, len(text)))]
    elif kind == "columns":
        lines[row] = lines[row] + "\textra"
    text = "\n".join(lines) + "\n"
    return "\ufeff" + text.replace("\n", "\r\n") if kind == "crlf-bom" else text


@pytest.mark.parametrize("suffix", SIDECARS)
def test_damaged_tables_read_or_name_the_file(dataset, brief_dataset, suffix):
    path = bids.sidecar(dataset, "01", suffix)
    lines = path.read_text().splitlines()

    @EXAMPLES
    @given(damaged=text_damage(lines))
    def check(damaged):
        _restore(dataset, brief_dataset)
        path.write_text(damaged, encoding="utf-8")
        _reads_or_names_the_file(dataset)

    check()


JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
)


def test_damaged_ieeg_json_reads_or_names_the_file(dataset, brief_dataset):
    path = bids.sidecar(dataset, "01", "ieeg.json")
    meta = json.loads(path.read_text())

    @EXAMPLES
    @given(
        key=st.sampled_from(sorted(meta)),
        value=JSON_VALUES,
        drop=st.booleans(),
        cut=st.one_of(st.none(), st.integers(0, 200)),
    )
    def check(key, value, drop, cut):
        _restore(dataset, brief_dataset)
        edited = {k: v for k, v in meta.items() if not (drop and k == key)}
        if not drop:
            edited[key] = value
        text = json.dumps(edited)
        path.write_text(text if cut is None else text[:cut])
        _reads_or_names_the_file(dataset)

    check()


ARRAYS = st.sampled_from(
    [
        np.zeros((0,)),
        np.zeros((0, 3)),
        np.zeros((5,)),
        np.zeros((5, 3)),
        np.zeros((7, 2)),
        np.array([b"a", b"\xff"]),
        np.array([np.nan, np.inf, 1.0]),
        np.arange(3, dtype=np.int8),
        np.zeros((2, 2, 2)),
    ]
)


def test_damaged_nwb_acquisitions_read_or_name_the_file(dataset, brief_dataset):
    path = dataset / NWB
    with h5py.File(path, "r") as f:
        names = sorted(
            f"acquisition/{group}/{name}"
            for group in f["acquisition"]
            for name in f["acquisition"][group]
            if isinstance(f["acquisition"][group][name], h5py.Dataset)
        )
    size = path.stat().st_size

    @EXAMPLES
    @given(
        name=st.sampled_from(names),
        values=ARRAYS,
        cut=st.one_of(st.none(), st.integers(0, size - 1)),
        unit=st.sampled_from([None, "mV", "volts", "furlongs", ""]),
    )
    def check(name, values, cut, unit):
        _restore(dataset, brief_dataset)
        if cut is not None:
            path.write_bytes(path.read_bytes()[:cut])
        else:
            with h5py.File(path, "r+") as f:
                del f[name]
                f.create_dataset(name, data=values)
                if unit is not None:
                    f["acquisition/iEEG/data"].attrs["unit"] = unit
        _reads_or_names_the_file(dataset)

    check()
