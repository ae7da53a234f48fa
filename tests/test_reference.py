"""Re-referencing against hand-computed small cases, and names that do not parse."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neurospeech import bids, reference


def recording(names, data, positions=None, bad=(), description=None):
    """A hand-made recording of ``names`` (columns of ``data``)."""
    data = np.asarray(data, float)
    positions = positions if positions is not None else np.arange(len(names) * 3).reshape(-1, 3)
    return bids.Recording(
        subject="01",
        ieeg=data,
        sfreq=1024.0,
        audio=np.zeros(10),
        audio_sfreq=48000.0,
        audio_offset=0.0,
        stimulus=np.full(len(data), ""),
        events=pd.DataFrame(columns=["onset", "duration", "trial_type", "value", "sample"]),
        channels=pd.DataFrame(
            {"name": names, "description": description or [f"label {n}" for n in names]}
        ),
        electrodes=pd.DataFrame(
            {"name": names, "x": positions[:, 0], "y": positions[:, 1], "z": positions[:, 2]}
        ),
        line_freq=50.0,
        bad_channels=tuple(bad),
        source=Path("sub-01_task-wordProduction_ieeg.nwb"),
    )


DATA = [[1.0, 2.0, 4.0, 8.0, 16.0], [0.0, 1.0, 0.0, 2.0, 5.0]]
NAMES = ["LA1", "LA2", "LA3", "RB2", "RB1"]


def test_parse_contact():
    assert reference.parse_contact("LA12") == ("LA", 12)
    assert reference.parse_contact("RFA3") == ("RFA", 3)
    with pytest.raises(ValueError, match=r"x\.nwb: channel 'EKG' does not parse"):
        reference.parse_contact("EKG", "x.nwb")
    assert reference.shafts(NAMES) == {"LA": ["LA1", "LA2", "LA3"], "RB": ["RB1", "RB2"]}


def test_original_is_as_recorded_and_car_removes_the_mean():
    rec = recording(NAMES, DATA)
    assert reference.apply(rec, "original") is rec
    car = reference.apply(rec, "car")
    np.testing.assert_allclose(car.ieeg, np.asarray(DATA) - np.mean(DATA, axis=1, keepdims=True))
    assert car.ch_names == NAMES


def test_bipolar_pairs_adjacent_contacts_of_a_shaft():
    positions = np.array([[0, 0, 0], [2, 0, 0], [4, 0, 0], [0, 4, 0], [0, 2, 0]], float)
    rec = recording(NAMES, DATA, positions)
    bipolar = reference.apply(rec, "bipolar")
    assert bipolar.ch_names == ["LA1-LA2", "LA2-LA3", "RB1-RB2"]
    np.testing.assert_allclose(bipolar.ieeg, [[-1, -2, 8], [-1, 1, 3]])
    np.testing.assert_allclose(
        bipolar.electrodes[["x", "y", "z"]], [[1, 0, 0], [3, 0, 0], [0, 3, 0]]
    )
    assert bipolar.channels["description"].tolist()[0] == "label LA1 / label LA2"


def test_bipolar_skips_gaps_left_by_bad_channels_and_says_so():
    data = np.array(DATA)
    data[0, 1] = np.nan
    rec = recording(NAMES, data, bad=["LA2"])
    with pytest.warns(bids.RecordingWarning) as caught:
        bipolar = reference.apply(rec, "bipolar")
    assert bipolar.ch_names == ["RB1-RB2"]
    assert any("LA1, LA3 have no neighbour" in str(w.message) for w in caught)


def test_laplacian_subtracts_the_mean_of_the_shaft_neighbours():
    rec = recording(NAMES, DATA)
    laplacian = reference.apply(rec, "laplacian")
    assert laplacian.ch_names == NAMES
    expected = [
        [1 - 2, 2 - (1 + 4) / 2, 4 - 2, 8 - 16, 16 - 8],
        [0 - 1, 1 - 0, 0 - 1, 2 - 5, 5 - 2],
    ]
    np.testing.assert_allclose(laplacian.ieeg, expected)


def test_names_that_do_not_parse_are_an_error_naming_file_and_channel():
    rec = recording(["LA1", "LA2", "EKG"], [[1.0, 2.0, 3.0]])
    with pytest.raises(ValueError, match=r"ieeg\.nwb: channel 'EKG' does not parse"):
        reference.apply(rec, "bipolar")
    assert reference.apply(rec, "car").ch_names == ["LA1", "LA2", "EKG"]  # needs no shafts


def test_unknown_scheme_and_unplaced_contacts():
    rec = recording(NAMES, DATA)
    with pytest.raises(ValueError, match="reference must be one of"):
        reference.apply(rec, "average")
    unplaced = dataclasses.replace(rec, electrodes=rec.electrodes.iloc[:3])
    with pytest.warns(bids.RecordingWarning, match="no position for RB2, RB1"):
        bipolar = reference.apply(unplaced, "bipolar")
    assert np.isnan(bipolar.electrodes.loc[2, "x"])


def test_real_channel_names_all_parse(swpd_metadata_channels):
    for path, table in swpd_metadata_channels:
        shafts = reference.shafts(table["name"].tolist(), path)
        assert sum(map(len, shafts.values())) == len(table)
