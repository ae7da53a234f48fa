import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from neurospeech import bids


def test_overview_of_the_simulated_dataset(tiny_dataset, tiny_params):
    table = bids.overview(tiny_dataset)
    assert table["participant"].tolist() == ["sub-01", "sub-02"]
    assert table["channels"].tolist() == list(tiny_params.n_channels)
    assert (table["words"] == tiny_params.n_words).all()
    assert (table["sfreq_hz"] == 1024).all() and (table["line_hz"] == 50).all()


def test_overview_of_the_parity_fixture(parity_dir):
    table = bids.overview(parity_dir / "swpd-fixture")
    assert table["channels"].tolist() == [12, 14]
    assert table["words"].tolist() == [20, 20]


def test_not_a_bids_dataset(tmp_path):
    with pytest.raises(FileNotFoundError, match="no dataset_description.json"):
        bids.subjects(tmp_path)


def test_missing_sidecar_names_the_participant(tiny_dataset):
    with pytest.raises(FileNotFoundError, match="sub-01 has no photo.tsv"):
        bids.sidecar(tiny_dataset, "01", "photo.tsv")


# --- read_recording -------------------------------------------------------------------

NWB = "sub-{s}/ieeg/sub-{s}_task-wordProduction_ieeg.nwb"
RESOLUTION_UV = 0.09765625  # the NEMAR BrainVision files: int16 codes x this


@pytest.fixture
def dataset_copy(tiny_dataset, tmp_path):
    """A writable copy of the tiny simulated dataset."""
    return Path(shutil.copytree(tiny_dataset, tmp_path / "bids"))


def _rewrite(path, name, values):
    """Replace an HDF5 dataset, keeping its attributes."""
    with h5py.File(path, "r+") as f:
        attrs = dict(f[name].attrs)
        del f[name]
        f.create_dataset(name, data=values)
        f[name].attrs.update(attrs)


def _edit_tsv(path, edit):
    table = bids.read_tsv(path)
    edit(table).to_csv(path, sep="\t", index=False, na_rep="n/a")


def test_read_recording_matches_the_files(tiny_dataset, tiny_params):
    rec = bids.read_recording(tiny_dataset, "sub-01")
    with h5py.File(tiny_dataset / NWB.format(s="01"), "r") as f:
        np.testing.assert_array_equal(rec.ieeg, f["acquisition/iEEG/data"][:])
        np.testing.assert_array_equal(rec.audio, f["acquisition/Audio/data"][:])
    assert rec.ieeg.dtype == np.float64 and rec.ieeg.shape[1] == tiny_params.n_channels[0]
    assert rec.sfreq == tiny_params.sfreq and rec.audio_sfreq == tiny_params.audio_sfreq
    assert rec.audio_offset == 0.0 and rec.line_freq == tiny_params.line_freq
    assert len(rec.words) == tiny_params.n_words and rec.bad_channels == ()
    assert rec.stimulus.shape == (rec.ieeg.shape[0],)
    assert set(rec.stimulus) == {""} | set(rec.words["value"])
    assert rec.ch_names == rec.electrodes["name"].tolist()


@pytest.mark.parity
def test_read_recording_of_the_parity_fixture(parity_dir):
    rec = bids.read_recording(parity_dir / "swpd-fixture", "02")
    assert rec.ieeg.shape == (60723, 14) and rec.audio.shape == (2846400,)
    assert (
        rec.words["value"].tolist()
        == np.load(parity_dir / "reference" / "khanday2025" / "sub-02_words.npy")
        .astype(str)
        .tolist()
    )


@pytest.mark.parity
def test_real_speech_word_stored_truncated_is_kept_with_a_warning(realspeech_dir):
    root = realspeech_dir / "swpd"
    with pytest.warns(bids.RecordingWarning, match=r"'`s' look truncated .* kept as stored"):
        rec = bids.read_recording(root, "02")
    assert "`s" in rec.words["value"].tolist() and len(rec.words) == 100


def test_rate_is_robust_to_an_irregular_first_interval(dataset_copy):
    path = dataset_copy / NWB.format(s="01")
    with h5py.File(path, "r") as f:
        stamps = f["acquisition/iEEG/timestamps"][:]
    stamps[0] -= 0.75  # the stream starts with a gap
    assert bids.estimate_rate(stamps) == pytest.approx(1024.0, rel=1e-12)
    _rewrite(path, "acquisition/iEEG/timestamps", stamps)
    with pytest.warns(bids.RecordingWarning, match="the audio starts 750 ms after the iEEG"):
        assert bids.read_recording(dataset_copy, "01").sfreq == 1024.0


def test_ends_early_drops_unrecorded_words_with_a_warning(dataset_copy):
    """Participant 10's defect: the recording stops before the last words."""
    path = dataset_copy / NWB.format(s="01")
    events_path = bids.sidecar(dataset_copy, "01", "events.tsv")
    events = bids.read_tsv(events_path)
    words = events[events["trial_type"] == "word"]
    end = int(words["sample"].iloc[-3]) - 300  # 3 words never shown while recording
    for name in (
        "acquisition/iEEG/data",
        "acquisition/iEEG/timestamps",
        "acquisition/Stimulus/data",
    ):
        with h5py.File(path, "r") as f:
            values = f[name][:end]
        _rewrite(path, name, values)
    late = events["sample"] >= end
    events.loc[late, ["onset", "duration", "sample"]] = [end / 1024, 0.0, end]
    ending = events.index[~late][-1]
    events.loc[ending, "duration"] = (end - events.loc[ending, "sample"]) / 1024
    events.to_csv(events_path, sep="\t", index=False)
    with pytest.warns(bids.RecordingWarning, match=r"last 3 word\(s\) .* 17 word trials remain"):
        rec = bids.read_recording(dataset_copy, "01")
    assert len(rec.words) == 17 and rec.events["sample"].max() < end


def test_non_finite_channel_is_flagged_not_fatal(dataset_copy):
    path = dataset_copy / NWB.format(s="02")
    with h5py.File(path, "r") as f:
        data = f["acquisition/iEEG/data"][:]
    data[500:510, 3] = np.nan
    _rewrite(path, "acquisition/iEEG/data", data)
    with pytest.warns(bids.RecordingWarning, match="non-finite"):
        rec = bids.read_recording(dataset_copy, "02")
    name = rec.channels["name"].iloc[3]
    assert rec.bad_channels == (name,)
    assert rec.channels.set_index("name").loc[name, "status"] == "bad"
    assert (rec.channels["status"] == "bad").sum() == 1
    # picked once: the bad channel leaves the data and the names together, with one warning
    with pytest.warns(bids.RecordingWarning, match=f"channels {name} have non-finite") as caught:
        good = rec.pick_good()
    assert len(caught) == 1 and name not in good.ch_names
    assert good.ieeg.shape == (rec.ieeg.shape[0], rec.ieeg.shape[1] - 1)
    np.testing.assert_array_equal(good.ieeg[:, 3], rec.ieeg[:, 4])
    assert good.ch_names[3] == rec.ch_names[4] and good.pick_good() is good


def _drop_audio(path):
    with h5py.File(path, "r+") as f:
        del f["acquisition/Audio"]


def _sfreq_2048(root):
    meta_path = bids.sidecar(root, "01", "ieeg.json")
    meta = json.loads(meta_path.read_text())
    meta["SamplingFrequency"] = 2048
    meta_path.write_text(json.dumps(meta))


def _empty(path):
    with h5py.File(path, "r") as f:
        n_channels = f["acquisition/iEEG/data"].shape[1]
    for name, shape in (("data", (0, n_channels)), ("timestamps", (0,))):
        _rewrite(path, f"acquisition/iEEG/{name}", np.zeros(shape))


def _event_beyond_end(root):
    def edit(events):
        events.loc[len(events) - 1, "sample"] += 10**6
        events.loc[len(events) - 1, "onset"] += 10**6 / 1024
        return events

    _edit_tsv(bids.sidecar(root, "01", "events.tsv"), edit)


def _write_brainvision(stem: Path, codes: np.ndarray, channels: list[str]) -> None:
    """BrainVision int16 files holding ``codes`` x 0.09765625 uV, written byte-exactly."""
    codes.tofile(stem.with_suffix(".eeg"))
    lines = [
        "Brain Vision Data Exchange Header File Version 1.0",
        "[Common Infos]",
        "Codepage=UTF-8",
        f"DataFile={stem.name}.eeg",
        f"MarkerFile={stem.name}.vmrk",
        "DataFormat=BINARY",
        "DataOrientation=MULTIPLEXED",
        f"NumberOfChannels={len(channels)}",
        f"SamplingInterval={1e6 / 1024}",
        "[Binary Infos]",
        "BinaryFormat=INT_16",
        "[Channel Infos]",
        *(f"Ch{i}={name},,{RESOLUTION_UV},µV" for i, name in enumerate(channels, start=1)),
    ]
    stem.with_suffix(".vhdr").write_text("\n".join(lines) + "\n", encoding="utf-8")
    marker = [
        "Brain Vision Data Exchange Marker File Version 1.0",
        "[Common Infos]",
        "Codepage=UTF-8",
        f"DataFile={stem.name}.eeg",
        "[Marker Infos]",
        "Mk1=New Segment,,1,1,0",
    ]
    stem.with_suffix(".vmrk").write_text("\n".join(marker) + "\n", encoding="utf-8")


def _nemar_layout(src: Path, dst: Path) -> Path:
    """Write ``src`` as the NEMAR release lays it out (nemarDatasets/nm000371).

    sub-01: BrainVision (int16 x 0.09765625 uV) at the top, NWB only under sourcedata;
    sub-02: NWB at the top (like the release's sub-06 and sub-09) and under sourcedata.
    Electrode files lose the task entity.
    """
    shutil.copytree(src, dst)
    nwb = dst / NWB.format(s="01")
    with h5py.File(nwb, "r") as f:  # the real values are exact multiples of the resolution
        data = np.round(f["acquisition/iEEG/data"][:] / RESOLUTION_UV) * RESOLUTION_UV
    _rewrite(nwb, "acquisition/iEEG/data", data)
    for sub in ("01", "02"):
        folder = dst / f"sub-{sub}" / "ieeg"
        for name in ("space-ACPC_electrodes.tsv", "space-ACPC_coordsystem.json"):
            (folder / f"sub-{sub}_task-wordProduction_{name}").rename(folder / f"sub-{sub}_{name}")
        original = dst / "sourcedata" / "osf-nrgx6" / "SingleWordProductionDutch-iBIDS"
        target = original / NWB.format(s=sub)
        target.parent.mkdir(parents=True)
        shutil.copy2(dst / NWB.format(s=sub), target)
    channels = bids.read_tsv(bids.sidecar(dst, "01", "channels.tsv"))["name"].tolist()
    _write_brainvision(nwb.with_suffix(""), np.round(data / RESOLUTION_UV).astype("<i2"), channels)
    nwb.unlink()
    return dst


def test_read_recording_in_the_nemar_layout(tiny_dataset, tmp_path):
    nemar = _nemar_layout(tiny_dataset, tmp_path / "nm000371")
    assert not (nemar / NWB.format(s="01")).exists()
    for sub in ("01", "02"):
        original = bids.read_recording(tiny_dataset, sub)
        rec = bids.read_recording(nemar, sub)
        assert rec.source.suffix == (".vhdr" if sub == "01" else ".nwb")
        with h5py.File(next((nemar / "sourcedata").rglob(f"sub-{sub}_*.nwb")), "r") as f:
            np.testing.assert_allclose(rec.ieeg, f["acquisition/iEEG/data"][:], rtol=1e-12)
        assert np.abs(rec.ieeg - original.ieeg).max() <= RESOLUTION_UV / 2
        np.testing.assert_array_equal(rec.audio, original.audio)
        np.testing.assert_array_equal(rec.stimulus, original.stimulus)
        pd.testing.assert_frame_equal(rec.events, original.events)
        pd.testing.assert_frame_equal(rec.electrodes, original.electrodes)
        assert (rec.sfreq, rec.audio_sfreq, rec.line_freq) == (1024.0, 48000.0, 50.0)


def test_nemar_layout_without_sourcedata_says_where_it_looked(tiny_dataset, tmp_path):
    nemar = _nemar_layout(tiny_dataset, tmp_path / "nm000371")
    shutil.rmtree(nemar / "sourcedata")
    with pytest.raises(FileNotFoundError, match="no NWB file with the Audio and Stimulus"):
        bids.read_recording(nemar, "01")


# --- issue 25: bad input is a clear error naming the file ------------------------------


def _events(root, edit):
    """Edit the text lines of sub-01's events.tsv (header first)."""
    path = bids.sidecar(root, "01", "events.tsv")
    lines = path.read_text().splitlines()
    path.write_text("".join(f"{line}\n" for line in edit(lines)))


def _cell(line, column, value):
    """``line`` of events.tsv with ``column`` (onset, duration, trial_type, value, sample) set."""
    cells = line.split("\t")
    cells[("onset", "duration", "trial_type", "value", "sample").index(column)] = value
    return "\t".join(cells)


def _first_row(column, value):
    return lambda root: _events(
        root, lambda lines: [lines[0], _cell(lines[1], column, value), *lines[2:]]
    )


def _ieeg_json(text):
    return lambda root: bids.sidecar(root, "01", "ieeg.json").write_text(text)


def _truncate(root, keep):
    path = root / NWB.format(s="01")
    path.write_bytes(path.read_bytes()[:keep])


def _reverse_timestamps(root):
    path = root / NWB.format(s="01")
    with h5py.File(path, "r") as f:
        stamps = f["acquisition/iEEG/timestamps"][:]
    _rewrite(path, "acquisition/iEEG/timestamps", stamps[::-1])


def _audio_fraction(fraction):
    def damage(root):
        path = root / NWB.format(s="01")
        with h5py.File(path, "r") as f:
            audio = f["acquisition/Audio/data"][:]
        _rewrite(path, "acquisition/Audio/data", audio[: int(len(audio) * fraction)])

    return damage


@pytest.mark.parametrize(
    ("damage", "error", "message"),
    [
        (lambda r: (r / NWB.format(s="01")).unlink(), FileNotFoundError, "no iEEG recording in"),
        (lambda r: _drop_audio(r / NWB.format(s="01")), ValueError, "no 'Audio' acquisition"),
        (
            lambda r: _edit_tsv(bids.sidecar(r, "01", "channels.tsv"), lambda t: t.iloc[:-1]),
            ValueError,
            "channels but sub-01_task-wordProduction_channels.tsv lists",
        ),
        (_event_beyond_end, ValueError, "ends beyond the recording"),
        (_sfreq_2048, ValueError, "timestamps give 1024.000 Hz but ieeg.json declares 2048"),
        (lambda r: _empty(r / NWB.format(s="01")), ValueError, "holds no samples"),
        (
            lambda r: _edit_tsv(
                bids.sidecar(r, "01", "events.tsv"),
                lambda t: t.assign(onset=t["onset"] + 0.5),
            ),
            ValueError,
            "disagree",
        ),
        (_first_row("onset", "three"), ValueError, "row 1 has onset 'three'; it must be a number"),
        (_first_row("onset", "n/a"), ValueError, "row 1 has onset n/a; it must be a number"),
        (_first_row("sample", "-3"), ValueError, "row 1 has sample -3; it must be a non-negative"),
        (_first_row("sample", "1.5"), ValueError, "row 1 has sample 1.5; it must be a non-neg"),
        (_first_row("value", "n/a"), ValueError, "events.tsv: row 1 is a word with no value"),
        (lambda r: _events(r, lambda lines: lines[:1]), ValueError, "has a header but no rows"),
        (lambda r: _events(r, lambda lines: []), ValueError, "events.tsv is empty"),
        (_ieeg_json("{not json"), ValueError, "ieeg.json is not JSON"),
        (_ieeg_json('{"PowerLineFrequency": 50}'), ValueError, "SamplingFrequency must be a pos"),
        (_ieeg_json('{"SamplingFrequency": "fast"}'), ValueError, "got 'fast'"),
        (_ieeg_json("[1024]"), ValueError, "ieeg.json must hold a JSON object, not list"),
        (lambda r: _truncate(r, 5000), OSError, "ieeg.nwb is not a readable NWB .HDF5. file"),
        (lambda r: _truncate(r, 0), OSError, "may be truncated or damaged; fetch it again"),
        (_reverse_timestamps, ValueError, "the iEEG timestamps: the timestamps do not increase"),
        (
            _audio_fraction(0.25),
            ValueError,
            "the audio covers 0.000-14.825 s of the iEEG.s 0-59.300 s",
        ),
        (_audio_fraction(0), ValueError, "the Audio acquisition holds no samples"),
    ],
    ids=[
        "missing-nwb",
        "missing-acquisition",
        "channel-count",
        "event-beyond-end",
        "declared-rate",
        "empty",
        "onset-vs-sample",
        "onset-word",
        "onset-na",
        "negative-sample",
        "fractional-sample",
        "word-na",
        "header-only",
        "zero-bytes",
        "json-syntax",
        "json-no-rate",
        "json-rate-text",
        "json-not-object",
        "nwb-truncated",
        "nwb-empty",
        "timestamps-decreasing",
        "audio-quarter",
        "audio-empty",
    ],
)
def test_bad_input_names_the_file_and_the_problem(dataset_copy, damage, error, message):
    damage(dataset_copy)
    with pytest.raises(error, match=message) as info:
        bids.read_recording(dataset_copy, "01")
    assert "sub-01" in str(info.value)


def test_audio_a_little_short_is_a_warning_naming_the_gap(dataset_copy):
    path = dataset_copy / NWB.format(s="01")
    with h5py.File(path, "r") as f:
        audio, rate = (
            f["acquisition/Audio/data"][:],
            f["acquisition/Audio/starting_time"].attrs["rate"],
        )
    _rewrite(path, "acquisition/Audio/data", audio[: -int(0.05 * rate)])
    with pytest.warns(bids.RecordingWarning, match=r"audio stops 50 ms short of the iEEG.s end"):
        bids.read_recording(dataset_copy, "01")


def test_unicode_words_round_trip_and_millivolts_are_converted(dataset_copy):
    before = bids.read_recording(dataset_copy, "01")
    path = dataset_copy / NWB.format(s="01")
    first = before.words["value"].iloc[0]
    stimulus = np.where(before.stimulus == first, "één", before.stimulus)
    _rewrite(path, "acquisition/Stimulus/data", np.char.encode(stimulus.astype(str), "utf-8"))
    _rewrite(path, "acquisition/iEEG/data", before.ieeg / 1000)
    with h5py.File(path, "r+") as f:
        f["acquisition/iEEG/data"].attrs["unit"] = "mV"
    _events(
        dataset_copy,
        lambda lines: [
            _cell(line, "value", "één") if line.split("\t")[3] == first else line for line in lines
        ],
    )
    after = bids.read_recording(dataset_copy, "01")
    assert after.words["value"].iloc[0] == "één" and "één" in set(after.stimulus)
    np.testing.assert_allclose(after.ieeg, before.ieeg, rtol=1e-12)


def test_a_dataset_without_participants_is_a_clear_error(tmp_path):
    (tmp_path / "dataset_description.json").write_text('{"Name": "x", "BIDSVersion": "1.8.0"}')
    with pytest.raises(ValueError, match=f"{tmp_path} holds no participants"):
        bids.subjects(tmp_path)


def test_a_byte_order_mark_and_crlf_line_ends_are_read(dataset_copy):
    path = bids.sidecar(dataset_copy, "01", "events.tsv")
    before = bids.read_tsv(path)
    path.write_bytes(path.read_text().replace("\n", "\r\n").encode("utf-8-sig"))
    pd.testing.assert_frame_equal(bids.read_tsv(path), before)
    meta = bids.sidecar(dataset_copy, "01", "ieeg.json")
    meta.write_bytes(meta.read_text().encode("utf-8-sig"))
    assert bids.read_recording(dataset_copy, "01").sfreq == 1024


def test_electrodes_without_a_channel_warn_and_bad_coordinates_are_errors(dataset_copy):
    path = bids.sidecar(dataset_copy, "01", "space-ACPC_electrodes.tsv")
    table = bids.read_tsv(path)
    renamed = table.assign(name=table["name"].replace({table["name"][0]: "XX1"}))
    renamed.drop(index=1).to_csv(path, sep="\t", index=False, na_rep="n/a")  # renamed, dropped
    first, second = table["name"][:2]
    with pytest.warns(
        bids.RecordingWarning, match=f"2 channel.s. have no position .{first}, {second}"
    ):
        recording = bids.read_recording(dataset_copy, "01")
    assert recording.electrodes["x"].dtype == float
    table.assign(y=table["y"].astype(object).where(table.index != 2, "left")).to_csv(
        path, sep="\t", index=False, na_rep="n/a"
    )
    with pytest.raises(ValueError, match="electrodes.tsv: row 3 has y 'left'; it must be a number"):
        bids.read_recording(dataset_copy, "01")
