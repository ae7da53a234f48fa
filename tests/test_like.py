"""Simulated signals in the layout of the real dataset's sidecars (``simulate --like``)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED

from neurospeech import bids, cli, decoding, highgamma
from neurospeech.simulate import read_truth, simulate_dataset
from neurospeech.simulate.like import params_like, read_layout, read_layouts

REAL = SHARED / "swpd-metadata" / "bids"
REFERENCE = SHARED / "swpd-metadata" / "reference"
ORDER = 4 * 5  # frames the stacking of the reference drops at each end


@pytest.fixture(scope="module")
def real_layouts():
    if not REAL.is_dir():
        pytest.skip(f"the real sidecars are not under {REAL}")
    return read_layouts(REAL)


def test_the_ten_real_layouts_give_the_official_frame_labels_names_and_counts(real_layouts):
    frames = pd.read_csv(REFERENCE / "frames.csv")
    frames = frames.set_index(frames["participant"].str.removeprefix("sub-"))
    assert [layout.subject for layout in real_layouts] == [f"{n:02d}" for n in range(1, 11)]
    for layout in real_layouts:
        official = frames.loc[layout.subject]
        assert layout.timeline.n_samples == official["n_ieeg_samples"], layout.subject
        stimulus = layout.timeline.stimulus(layout.sfreq)
        labels = highgamma.window_labels(stimulus, layout.sfreq)[ORDER:-ORDER]
        words = np.load(REFERENCE / f"sub-{layout.subject}_procWords.npy").astype(str)
        assert len(labels) == official["n_frames"] == len(words), layout.subject
        np.testing.assert_array_equal(labels, words, err_msg=f"sub-{layout.subject}")
        names = np.load(REFERENCE / f"sub-{layout.subject}_feat_names.npy").astype(str)
        np.testing.assert_array_equal(highgamma.stacked_names(layout.channels["name"]), names)
        assert len(layout.timeline.trials) == official["n_words"], layout.subject


def test_the_real_defects_are_kept(real_layouts):
    by_label = {layout.subject: layout for layout in real_layouts}
    for label in ("04", "05", "10"):
        assert by_label[label].timeline.trials["sample"].iloc[0] == 1, label
    last = by_label["10"].timeline.events.tail(9)
    assert (last["duration"] == 0).all() and (last["sample"] == 291899).all()
    assert len(by_label["10"].timeline.trials) == 95
    params = params_like(real_layouts)
    assert sum(params.n_channels) == 1103 and params.n_words == 100
    assert params.sfreq == 1024 and 1.99 < params.word_duration < 2.01


def _shortened(tmp_path, subject="10", n_trials=4):
    """Sub-10's real sidecars cut to its first trials and its trailing zero-length rows.

    The recording stops one second after the last trial's fixation, and the zero-length
    rows move to its last sample, as in the real file.
    """
    source = REAL / f"sub-{subject}" / "ieeg"
    if not source.is_dir():
        pytest.skip(f"the real sidecars are not under {REAL}")
    root = tmp_path / "like"
    folder = root / f"sub-{subject}" / "ieeg"
    shutil.copytree(source, folder)
    shutil.copy(REAL / "dataset_description.json", root)
    stem = f"sub-{subject}_task-wordProduction"
    events = bids.read_tsv(folder / f"{stem}_events.tsv")
    kept = events.iloc[: 2 * n_trials].copy()
    last = int(kept["sample"].iloc[-1] + round(kept["duration"].iloc[-1] * 1024) + 1024)
    tail = events[events["duration"] == 0].head(3).copy()
    tail["sample"], tail["onset"] = last, last / 1024
    kept = pd.concat([kept, tail])
    kept.to_csv(folder / f"{stem}_events.tsv", sep="\t", index=False, lineterminator="\r\n")
    sidecar = json.loads((folder / f"{stem}_ieeg.json").read_text())
    sidecar["RecordingDuration"] = last / 1024
    (folder / f"{stem}_ieeg.json").write_text(json.dumps(sidecar))
    return root


def test_simulate_like_writes_signals_of_the_layout(tmp_path):
    like = _shortened(tmp_path)
    out = tmp_path / "sim"
    cli.main(["simulate", str(out), "--like", str(like), "--seed", "3", "--no-progress"])
    layout = read_layout(like, "10")
    for suffix, source in layout.sidecars.items():  # byte for byte
        assert bids.sidecar(out, "10", suffix).read_bytes() == source.read_bytes(), suffix
    with pytest.warns(bids.RecordingWarning, match="zero duration and are dropped"):
        recording = bids.read_recording(out, "10")  # the real file's trailing rows
    assert recording.ieeg.shape == (layout.timeline.n_samples, 122)
    assert len(recording.audio) == round(layout.timeline.n_samples / 1024 * 48000)
    np.testing.assert_array_equal(recording.stimulus, layout.timeline.stimulus(1024).astype(str))
    assert recording.channels["name"].tolist() == layout.channels["name"].tolist()
    stacked, _, words = decoding.reference_features(recording)
    assert stacked.shape[1] == 9 * 122
    expected = highgamma.window_labels(layout.timeline.stimulus(1024), 1024)[ORDER:-ORDER]
    np.testing.assert_array_equal(words, expected[: len(words)])
    truth = read_truth(out, "10")
    assert truth["words"] == layout.timeline.trials["value"].astype(str).tolist()
    assert truth["like"]["electrodes_made_up"] and sum(truth["responsive"]) == 61
    assert "MADE-UP contact positions (electrodes.tsv): sub-10" in (out / "README").read_text()
    electrodes = bids.read_tsv(bids.sidecar(out, "10", "space-ACPC_electrodes.tsv"))
    assert electrodes["name"].tolist() == layout.channels["name"].tolist()
    right = electrodes["name"].str.startswith("R")
    assert (electrodes.loc[right, "x"] > 0).all()  # sub-10's shafts are all on the right


def test_simulate_like_refuses_options_the_layout_gives(tmp_path, capsys):
    like = _shortened(tmp_path)
    status = cli.main(["simulate", str(tmp_path / "sim"), "--like", str(like), "--n-words", "3"])
    assert status == 2
    assert "--n-words cannot be set" in capsys.readouterr().err
    assert not (tmp_path / "sim").exists()


def test_a_layout_without_its_recording_length_names_the_file(tmp_path):
    like = _shortened(tmp_path)
    path = next(like.glob("sub-10/ieeg/*_ieeg.json"))
    sidecar = json.loads(path.read_text())
    del sidecar["RecordingDuration"]
    path.write_text(json.dumps(sidecar))
    with pytest.raises(ValueError, match=f"{path}: RecordingDuration must be a positive"):
        simulate_dataset(tmp_path / "sim", like=like, progress=False)
    assert not (tmp_path / "sim").exists()


def test_numbers_among_the_words_are_spoken():
    from neurospeech.simulate import speech

    assert speech.graphemes("12") == speech.graphemes("twaalf")
    assert speech.graphemes("`s") == ["s"]


def test_a_layout_with_positions_keeps_them_and_names_a_missing_contact(tmp_path):
    like = _shortened(tmp_path)
    layout = read_layout(like, "10")
    names = layout.channels["name"].tolist()
    positions = pd.DataFrame({"name": names, "x": range(len(names)), "y": 0.0, "z": 0.0, "size": 5})
    path = like / "sub-10" / "ieeg" / "sub-10_task-wordProduction_space-ACPC_electrodes.tsv"
    positions[::-1].to_csv(path, sep="\t", index=False)  # any row order
    layout = read_layout(like, "10")
    assert layout.electrodes["name"].tolist() == names
    assert layout.electrodes["x"].tolist() == list(range(len(names)))
    positions.iloc[1:].to_csv(path, sep="\t", index=False)
    with pytest.raises(ValueError, match=f"{path} has no row for the channel.s. {names[0]} "):
        read_layout(like, "10")
