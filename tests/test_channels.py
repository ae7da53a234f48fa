"""The channels the analyses use: the sample's planted leaks found and left out."""

from __future__ import annotations

import dataclasses

import pytest

from neurospeech import bids, channels
from neurospeech.config import Channels, ContaminationCheck, from_dict
from neurospeech.simulate import recovery


def test_prepare_leaves_out_the_planted_leaks(sample_sub01):
    recording, truth = sample_sub01
    planted = recovery.planted(truth, recording.ch_names)["planted_contamination"].to_numpy()
    leaky = [name for name, flag in zip(recording.ch_names, planted) if flag]
    assert len(leaky) == 2
    with pytest.warns(bids.RecordingWarning, match=f"2 channel.*{leaky[0]}"):
        used, check = channels.prepare(recording)
    assert sorted(check.loc[check["contaminated"], "channel"]) == sorted(leaky)
    assert used.ch_names == [name for name in recording.ch_names if name not in leaky]
    assert set(check["region"]) <= {
        "superior temporal",
        "inferior frontal",
        "other cortex",
        "unknown",
        "sensorimotor",
        "white matter",
    }


def test_prepare_keeps_them_when_told_and_applies_the_reference(sample_sub01):
    recording, _ = sample_sub01
    settings = Channels(
        exclude_contaminated=False, contamination=ContaminationCheck(n_permutations=999)
    )
    used, check = channels.prepare(recording, settings)
    assert used.ch_names == recording.ch_names and check["contaminated"].sum() == 2
    assert not check["excluded"].any()
    bipolar, check = channels.prepare(recording, settings, scheme="bipolar")
    assert all("-" in name for name in bipolar.ch_names)
    assert list(check["channel"]) == bipolar.ch_names


def test_channels_section_is_checked_and_shared_by_every_step():
    config = from_dict({"channels": {"reference": "bipolar", "sensitivity_reference": "none"}})
    assert config.channels.sensitivity_reference is None
    assert config.channels.references == ["bipolar"]
    assert config.slice("encoding")["channels"]["reference"] == "bipolar"
    assert config.slice("data_overview")["channels"] == config.to_dict()["channels"]
    assert Channels().references == ["original", "bipolar"]
    with pytest.raises(ValueError, match="reference must be one of"):
        from_dict({"channels": {"reference": "average"}})
    with pytest.raises(ValueError, match="channels.contamination: null must be one of"):
        from_dict({"channels": {"contamination": {"null": "phase"}}})
    with pytest.raises(ValueError, match="did you mean 'channels.contamination.alpha'"):
        from_dict({"channels": {"contamination": {"alpah": 0.01}}})


def test_pick_keeps_the_order_given(sample_sub01):
    recording, _ = sample_sub01
    names = recording.ch_names[3:0:-1]
    picked = recording.pick(names)
    assert picked.ch_names == names
    assert (picked.ieeg[:, 0] == recording.ieeg[:, 3]).all()
    with pytest.raises(ValueError, match="no channel"):
        recording.pick(["XX1"])
    assert (
        dataclasses.replace(recording).pick(recording.ch_names).ieeg.shape == recording.ieeg.shape
    )


def test_nothing_left_is_an_error_naming_the_file(sample_sub01):
    recording, truth = sample_sub01
    leaky = [name for name, flag in zip(truth["channels"], truth["contaminated"]) if flag]
    only_leaky = recording.pick(leaky)
    with pytest.raises(ValueError, match=r"ieeg\.nwb: every channel carries the microphone"):
        channels.prepare(only_leaky)
