import dataclasses
import hashlib
import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from scipy import signal

from neurospeech import highgamma
from neurospeech.simulate import (
    SimulationParams,
    neural,
    read_truth,
    recovery,
    simulate_dataset,
    simulate_subject,
    speech,
    word_latent,
)

STEM = "sub-{s}_task-wordProduction"
FILES = [
    "ieeg/{stem}_ieeg.nwb",
    "ieeg/{stem}_events.tsv",
    "ieeg/{stem}_channels.tsv",
    "ieeg/{stem}_ieeg.json",
    "ieeg/{stem}_space-ACPC_electrodes.tsv",
    "ieeg/{stem}_space-ACPC_coordsystem.json",
]


def nwb_path(root, sub):
    return root / f"sub-{sub}" / "ieeg" / f"{STEM.format(s=sub)}_ieeg.nwb"


def tree_hashes(root):
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def hdf5_layout(path):
    """Every group and dataset below the root, with dtype kind and rank; specs excluded."""
    out = {}
    with h5py.File(path, "r") as f:

        def visit(name, obj):
            if name.startswith("specifications"):
                return
            if isinstance(obj, h5py.Dataset):
                out[name] = (obj.dtype.kind, obj.ndim, sorted(obj.attrs))
            else:
                out[name] = ("group", None, sorted(obj.attrs))

        f.visititems(visit)
    return out


def test_bids_layout(tiny_dataset, tiny_params):
    for top in ("dataset_description.json", "participants.tsv", "README"):
        assert (tiny_dataset / top).is_file()
    participants = pd.read_csv(tiny_dataset / "participants.tsv", sep="\t")
    assert participants["participant_id"].tolist() == ["sub-01", "sub-02"]
    for sub in tiny_params.subjects:
        expected = {f.format(stem=STEM.format(s=sub)) for f in FILES}
        found = {
            p.relative_to(tiny_dataset / f"sub-{sub}").as_posix()
            for p in (tiny_dataset / f"sub-{sub}").rglob("*")
            if p.is_file()
        }
        assert found == expected
    description = json.loads((tiny_dataset / "dataset_description.json").read_text())
    assert description["DatasetType"] == "raw"


def test_layout_matches_the_real_release(tiny_dataset, parity_dir):
    """Same file names, TSV columns, JSON keys and NWB structure as the parity fixture."""
    fixture = parity_dir / "swpd-fixture"
    ours = tiny_dataset / "sub-01" / "ieeg"
    theirs = fixture / "sub-01" / "ieeg"
    assert sorted(p.name for p in ours.iterdir()) == sorted(p.name for p in theirs.iterdir())
    for name in ("events.tsv", "channels.tsv", "space-ACPC_electrodes.tsv"):
        stem = STEM.format(s="01")
        a = pd.read_csv(ours / f"{stem}_{name}", sep="\t", keep_default_na=False)
        b = pd.read_csv(theirs / f"{stem}_{name}", sep="\t", keep_default_na=False)
        assert a.columns.tolist() == b.columns.tolist(), name
        assert (a.dtypes.to_numpy() == b.dtypes.to_numpy()).all(), name
    for name in ("ieeg.json", "space-ACPC_coordsystem.json"):
        a = json.loads((ours / f"{STEM.format(s='01')}_{name}").read_text())
        b = json.loads((theirs / f"{STEM.format(s='01')}_{name}").read_text())
        assert set(b) <= set(a), name
    assert hdf5_layout(nwb_path(tiny_dataset, "01")) == hdf5_layout(nwb_path(fixture, "01"))


def test_nwb_acquisitions(tiny_dataset, tiny_params):
    from pynwb import NWBHDF5IO

    for sub, n_ch in zip(tiny_params.subjects, tiny_params.n_channels):
        with NWBHDF5IO(str(nwb_path(tiny_dataset, sub)), "r") as io:
            nwb = io.read()
            assert set(nwb.acquisition) == {"iEEG", "Audio", "Stimulus"}
            ieeg, audio, stim = (nwb.acquisition[k] for k in ("iEEG", "Audio", "Stimulus"))
            data = ieeg.data[:]
            assert data.dtype == np.float64 and data.shape[1] == n_ch
            assert ieeg.unit == "uV"
            ts = ieeg.timestamps[:]
            assert ts[0] > 1e5  # an absolute (LSL-like) clock, not zero-based
            np.testing.assert_allclose(np.diff(ts), 1 / tiny_params.sfreq, rtol=1e-6)
            assert audio.data.dtype == np.int16
            assert audio.rate == tiny_params.audio_sfreq
            assert audio.starting_time == pytest.approx(ts[0])
            n_audio = audio.data.shape[0]
            assert abs(n_audio / audio.rate - len(ts) / tiny_params.sfreq) < 1e-3
            words = np.array([w.decode() if isinstance(w, bytes) else w for w in stim.data[:]])
            assert words.shape == (len(ts),)
            np.testing.assert_array_equal(stim.timestamps[:], ts)
            truth = read_truth(tiny_dataset, sub)
            assert sorted(set(words) - {""}) == sorted(set(truth["words"]))


def test_events_tsv(tiny_dataset, tiny_params):
    path = tiny_dataset / "sub-01" / "ieeg" / f"{STEM.format(s='01')}_events.tsv"
    raw = path.read_bytes()
    assert raw.count(b"\r\n") == raw.count(b"\n") > 0  # CRLF throughout
    events = pd.read_csv(path, sep="\t")
    assert events.columns.tolist() == ["onset", "duration", "trial_type", "value", "sample"]
    words = events[events["trial_type"] == "word"]
    assert len(words) == tiny_params.n_words
    assert (words["duration"] == tiny_params.word_duration).all()
    np.testing.assert_array_equal(events["sample"], np.round(events["onset"] * 1024))
    assert words["value"].tolist() == read_truth(tiny_dataset, "01")["words"]
    fix = events[events["trial_type"] == "fixation"]
    assert (fix["value"] == "+").all() and len(fix) == tiny_params.n_words - 1


def test_channels_and_electrodes_on_shafts(tiny_dataset, tiny_params):
    for sub, n_ch in zip(tiny_params.subjects, tiny_params.n_channels):
        folder = tiny_dataset / f"sub-{sub}" / "ieeg"
        channels = pd.read_csv(folder / f"{STEM.format(s=sub)}_channels.tsv", sep="\t")
        elec = pd.read_csv(folder / f"{STEM.format(s=sub)}_space-ACPC_electrodes.tsv", sep="\t")
        assert len(channels) == n_ch and channels["name"].tolist() == elec["name"].tolist()
        assert (channels["type"] == "SEEG").all() and (channels["units"] == "µV").all()
        shafts = elec["name"].str.extract(r"^([A-Z]+)(\d+)$")
        assert shafts.notna().all().all()
        for _, contacts in elec.groupby(shafts[0]):
            xyz = contacts[["x", "y", "z"]].to_numpy()
            if len(xyz) < 2:
                continue
            steps = np.linalg.norm(np.diff(xyz, axis=0), axis=1)
            np.testing.assert_allclose(steps, 3.5, atol=0.01)  # evenly spaced ...
            direction = np.diff(xyz, axis=0) / steps[:, None]
            np.testing.assert_allclose(
                direction, direction[:1].repeat(len(direction), 0), atol=1e-3
            )  # ... on a straight line
            # contact 1 is the deepest: closest to the midline
            assert abs(xyz[0, 0]) < abs(xyz[-1, 0])


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path, tiny_params):
    params = SimulationParams(
        n_subjects=1, n_words=3, n_channels=4, n_responsive=2, n_latent_channels=1, seed=3
    )
    a = tree_hashes(simulate_dataset(tmp_path / "a", params, progress=False))
    b = tree_hashes(simulate_dataset(tmp_path / "b", params, progress=False))
    assert a == b
    other = SimulationParams(**{**params.to_dict(), "seed": 4})
    c = tree_hashes(simulate_dataset(tmp_path / "c", other, progress=False))
    nwb = "sub-01/ieeg/sub-01_task-wordProduction_ieeg.nwb"
    assert c[nwb] != a[nwb]


def _high_gamma_frames(ieeg, sfreq):
    """Hilbert envelope of the 70-170 Hz band, averaged in 50 ms windows every 10 ms."""
    sos = signal.butter(4, [70, 170], btype="bandpass", fs=sfreq, output="sos")
    env = np.abs(signal.hilbert(signal.sosfiltfilt(sos, ieeg, axis=0), axis=0))
    starts = np.arange(0, ieeg.shape[0] - int(0.05 * sfreq), 0.01 * sfreq).astype(int)
    return np.array([env[s : s + int(0.05 * sfreq)].mean(0) for s in starts]), starts


def _corr(a, b):
    a, b = a - a.mean(), b - b.mean()
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def test_high_gamma_follows_speech_at_the_planted_lag(tiny_dataset, tiny_params):
    from pynwb import NWBHDF5IO

    peaks = []
    for sub in tiny_params.subjects:
        with NWBHDF5IO(str(nwb_path(tiny_dataset, sub)), "r") as io:
            nwb = io.read()
            ieeg = nwb.acquisition["iEEG"].data[:]
            audio = nwb.acquisition["Audio"].data[:]
        truth = read_truth(tiny_dataset, sub)
        sfreq = tiny_params.sfreq
        frames, starts = _high_gamma_frames(ieeg, sfreq)
        # The planted speech features, recomputed from the audio as written to disk.
        bands = neural.speech_drive(audio, tiny_params.audio_sfreq, sfreq, ieeg.shape[0])
        drive = bands @ np.asarray(truth["band_weights"]).T
        lags_ms = np.arange(-400, 201, 10)
        for c, responsive in enumerate(truth["responsive"]):
            # r between high gamma at t and the drive at t - lag
            rs = []
            for lag in lags_ms:
                idx = np.clip(
                    starts + int(0.025 * sfreq) - int(round(lag * sfreq / 1000)), 0, len(drive) - 1
                )
                rs.append(_corr(frames[:, c], drive[idx, c]))
            rs = np.asarray(rs)
            if responsive:
                assert rs.max() > 0.05, (sub, c, rs.max())
                assert abs(lags_ms[rs.argmax()] - truth["lag_ms"][c]) <= 30, (sub, c)
                peaks.append(rs.max())
            elif not truth["latent_channel"][c] and not truth["timing_channel"][c]:
                assert np.abs(rs).max() < 0.15, (sub, c, np.abs(rs).max())
    assert len(peaks) == sum(tiny_params.n_responsive)
    assert np.mean(peaks) > 0.3


def test_word_level_latent_property_is_planted(tiny_dataset, tiny_params):
    from pynwb import NWBHDF5IO

    for sub in tiny_params.subjects:
        with NWBHDF5IO(str(nwb_path(tiny_dataset, sub)), "r") as io:
            ieeg = io.read().acquisition["iEEG"].data[:]
        truth = read_truth(tiny_dataset, sub)
        sos = signal.butter(4, [70, 170], btype="bandpass", fs=1024, output="sos")
        env = np.abs(signal.hilbert(signal.sosfiltfilt(sos, ieeg, axis=0), axis=0))
        cues = (np.arange(tiny_params.n_words) * tiny_params.trial_duration * 1024).astype(int)
        trial_means = np.array([env[c : c + 1024].mean(0) for c in cues])
        z = np.asarray(truth["latent"]) @ np.asarray(truth["latent_weights"]).T
        for c, is_latent in enumerate(truth["latent_channel"]):
            r = _corr(trial_means[:, c], np.exp(0.5 * z[:, c]))
            if is_latent and not truth["responsive"][c]:
                assert r > 0.6, (sub, c, r)
            elif not is_latent and not truth["responsive"][c]:
                assert abs(r) < 0.6, (sub, c, r)
        # the property belongs to the word: the same in every participant
        np.testing.assert_array_equal(truth["latent"][0], word_latent(truth["words"][0], 2, 7))


def test_speech_is_audible_after_the_cue(tiny_dataset, tiny_params):
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(nwb_path(tiny_dataset, "01")), "r") as io:
        audio = io.read().acquisition["Audio"].data[:].astype(float)
    truth = read_truth(tiny_dataset, "01")
    rate = tiny_params.audio_sfreq
    cues = np.arange(tiny_params.n_words) * tiny_params.trial_duration
    delay = np.asarray(truth["speech_onset"]) - cues
    assert (delay >= 0.4).all() and (delay <= 0.9).all()
    for on, off, cue in zip(truth["speech_onset"], truth["speech_offset"], cues):
        speech_rms = audio[int(on * rate) : int(off * rate)].std()
        silence_rms = audio[int(cue * rate) : int((cue + 0.35) * rate)].std()
        assert speech_rms > 20 * silence_rms
        assert off < cue + tiny_params.word_duration


def test_words_differ_acoustically():
    rng = np.random.default_rng(0)
    voice = speech.Speaker(f0=120, formant_scale=1.0, rate=1.0)
    specs = {}
    for word in ("zee", "kat", "schaap"):
        wave = speech.synthesize_word(word, voice, 16000, rng, max_duration=1.0)
        assert np.max(np.abs(wave)) == pytest.approx(1.0)
        f, p = signal.welch(wave, fs=16000, nperseg=512)
        specs[word] = p / p.sum()
    # the fricative-heavy word has more high-frequency energy than the open vowel one
    hi = f > 4000
    assert specs["zee"][hi].sum() > specs["kat"][hi].sum()


def test_graphemes():
    assert speech.graphemes("schaap") == ["s", "ch", "aa", "p"]
    assert speech.graphemes("Koffie") == ["k", "o", "f", "f", "ie"]
    assert speech.graphemes("ijs") == ["ij", "s"]
    with pytest.raises(ValueError, match="no letters"):
        speech.graphemes("123")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_words": 0}, "n_words must be at least 1"),
        ({"n_subjects": 0}, "n_subjects must be at least 1"),
        ({"n_channels": 4, "n_responsive": 5}, r"n_responsive=5 must be between 0 and the 4"),
        ({"n_channels": 4, "n_responsive": 2, "n_latent_channels": 9}, "n_latent_channels=9"),
        ({"sfreq": 0}, "sfreq must be positive"),
        ({"audio_sfreq": -48000.0}, "audio_sfreq must be positive"),
        ({"sfreq": 256.0}, "sfreq must exceed 340 Hz"),
        ({"n_channels": (4, 5)}, "n_channels has 2 entries but n_subjects is 3"),
        ({"speech_delay": (0.5, 1.9)}, "speech_delay"),
        ({"n_channels": 0, "n_responsive": 0, "n_latent_channels": 0}, "n_channels must be"),
        ({"n_channels": 4, "n_responsive": 3, "n_timing_channels": 2}, "n_timing_channels=2"),
    ],
)
def test_impossible_parameters_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SimulationParams(**kwargs)


def test_existing_dataset_is_not_touched(tmp_path, monkeypatch):
    params = SimulationParams(
        n_subjects=2, n_words=2, n_channels=3, n_responsive=1, n_latent_channels=1, seed=1
    )
    root = simulate_dataset(tmp_path / "ds", params, progress=False)
    before = tree_hashes(root)
    with pytest.raises(FileExistsError, match="already holds a BIDS dataset"):
        simulate_dataset(root, params, progress=False)

    # A failure half-way through an overwrite leaves the old dataset as it was.
    import neurospeech.simulate as sim_pkg

    def broken(p, index, like=None):
        if index == 1:
            raise RuntimeError("simulated crash")
        return simulate_subject(p, index, like)

    monkeypatch.setattr(sim_pkg, "simulate_subject", broken)
    other = SimulationParams(**{**params.to_dict(), "seed": 2})
    with pytest.raises(RuntimeError, match="simulated crash"):
        simulate_dataset(root, other, overwrite=True, progress=False)
    assert tree_hashes(root) == before
    assert not list(tmp_path.glob(".ds-staging-*"))


def test_overwrite_removes_participants_no_longer_simulated(tmp_path):
    two = SimulationParams(
        n_subjects=2, n_words=2, n_channels=3, n_responsive=1, n_latent_channels=1
    )
    one = SimulationParams(
        n_subjects=1, n_words=2, n_channels=3, n_responsive=1, n_latent_channels=1
    )
    root = simulate_dataset(tmp_path / "ds", two, progress=False)
    simulate_dataset(root, one, overwrite=True, progress=False)
    assert sorted(p.name for p in root.glob("sub-*")) == ["sub-01"]
    assert not (root / "derivatives" / "simulation" / "sub-02").exists()


def test_read_truth_unknown_subject(tiny_dataset):
    with pytest.raises(FileNotFoundError, match="sub-09"):
        read_truth(tiny_dataset, "09")


def test_subject_does_not_depend_on_the_number_of_subjects(tiny_params):
    a = simulate_subject(
        SimulationParams(
            n_subjects=1, n_words=2, n_channels=3, n_responsive=1, n_latent_channels=1
        ),
        0,
    )
    b = simulate_subject(
        SimulationParams(
            n_subjects=2, n_words=2, n_channels=3, n_responsive=1, n_latent_channels=1
        ),
        0,
    )
    np.testing.assert_array_equal(a.ieeg, b.ieeg)


def test_mne_bids_discovers_subjects_and_task(tiny_dataset):
    from mne_bids import get_entity_vals

    assert get_entity_vals(tiny_dataset, "subject") == ["01", "02"]
    assert get_entity_vals(tiny_dataset, "task") == ["wordProduction"]


def test_bids_validator_finds_no_error(tiny_dataset):
    import shutil
    import subprocess

    exe = shutil.which("bids-validator-deno")
    if exe is None:
        pytest.skip("bids-validator-deno is not installed (it is in the [test] extra)")
    out = subprocess.run(
        [exe, "--format", "json", str(tiny_dataset)], capture_output=True, text=True, timeout=300
    )
    report = json.loads(out.stdout)
    errors = [i for i in report["issues"]["issues"] if i["severity"] == "error"]
    assert errors == [], errors
    assert Path(tiny_dataset / "README").exists()


def test_recovery_tables_count_what_was_planted_and_what_was_found():
    truth = {
        "channels": ["A1", "A2", "B1", "B2", "C1"],
        "responsive": [True, True, False, False, False],
        "latent_channel": [False, False, True, False, False],
        "timing_channel": [False, False, False, False, True],
        "lag_ms": [-100, -50, 0, 0, 0],
    }
    planted = recovery.planted(truth, ["B2", "A1"])  # any subset, in the given order
    assert planted["planted_speech"].tolist() == [False, True]
    assert planted["planted_lag_ms"].tolist() == [0, -100]
    with pytest.raises(ValueError, match="channels C2 are not in the simulation's truth"):
        recovery.planted(truth, ["C2"])
    electrodes = pd.concat(
        [
            recovery.planted(truth, truth["channels"]).assign(
                feature_space="log-mel",
                q=[0.01, 0.2, 0.01, 0.01, 0.01],
                best_lag_ms=[-90, 0, 0, 0, 0],
            ),
            pd.DataFrame({"feature_space": ["other"], "q": [0.01]}),
        ],
        ignore_index=True,
    )
    (row,) = recovery.encoding_recovery(electrodes).to_dict("records")
    assert row["speech_channels"] == 2 and row["sensitivity"] == 0.5
    assert row["silent_channels"] == 1 and row["false_positive_rate"] == 1.0
    assert row["lag_within_30ms"] == 0.5  # A1 within 10 ms, A2 50 ms off
    channels = pd.concat(
        [
            recovery.planted(truth, truth["channels"]).assign(
                participant="sub-01", trial_length=1.0, feature_space=space, q=q
            )
            for space, q in (
                ("oracle", [0.5, 0.5, 0.01, 0.5, 0.5]),
                ("log-mel", [0.01, 0.5, 0.5, 0.5, 0.01]),
            )
        ]
    )
    table = recovery.protocol_recovery(channels, oracle="oracle").set_index("feature_space")
    assert table.loc["oracle", "planted"] == "word-level latent"
    assert (
        table.loc["oracle", "sensitivity"] == 1 and table.loc["oracle", "false_positive_rate"] == 0
    )
    assert (
        table.loc["log-mel", "planted_channels"] == 2 and table.loc["log-mel", "sensitivity"] == 0.5
    )
    # the timing-only channel found by log-mel is neither planted nor a false positive
    assert table.loc["log-mel", "false_positive_rate"] == 0
    partition = recovery.planted(truth, truth["channels"]).assign(
        comparison="log-mel beyond nuisance", q=[0.01, 0.5, 0.5, 0.5, 0.5]
    )
    found = recovery.partition_recovery(partition).set_index("planted")
    assert found.loc["speech", "found"] == 0.5 and found.loc["timing", "found"] == 0
    assert found.loc["silent", "channels"] == 1  # B2: B1 is latent


def test_timing_channels_follow_only_when_speech_happens(tmp_path):
    params = SimulationParams(n_subjects=1, n_words=12, n_channels=8, n_responsive=2)
    subject = simulate_subject(params, 0)
    truth = subject.truth
    timing = np.array(truth["timing_channel"])
    assert timing.sum() == 2 and not np.any(timing & np.array(truth["responsive"]))
    frames = highgamma.extract(subject.ieeg, params.sfreq)
    centres = np.arange(len(frames)) * 0.01 + 0.025
    lag = np.array(truth["timing_lag_ms"])[timing] / 1000
    for channel, delay in zip(np.flatnonzero(timing), lag):
        speaking = np.zeros(len(frames), bool)
        for onset, offset in zip(truth["speech_onset"], truth["speech_offset"]):
            speaking |= (centres >= onset + delay + 0.05) & (centres < offset + delay - 0.05)
        assert frames[speaking, channel].mean() > 1.5 * frames[~speaking, channel].mean()
    # the rest of the participant does not depend on it
    without = simulate_subject(dataclasses.replace(params, n_timing_channels=0), 0)
    assert without.truth["responsive"] == truth["responsive"]
    assert without.truth["speech_onset"] == truth["speech_onset"]


def test_contamination_is_planted_on_channels_without_responses_and_told(tmp_path):
    from neurospeech import regions

    params = SimulationParams(
        n_subjects=1, n_words=4, n_channels=7, n_responsive=2, n_latent_channels=1, seed=3
    )
    leaky = simulate_subject(params, 0)
    clean = simulate_subject(dataclasses.replace(params, n_contaminated=0), 0)
    truth = leaky.truth
    assert sum(truth["contaminated"]) == 2
    planted = np.array(truth["responsive"]) | np.array(truth["latent_channel"])
    planted |= np.array(truth["timing_channel"])
    assert not (planted & np.array(truth["contaminated"])).any()
    gains = np.array(truth["contamination_gain"])
    assert ((gains == 0) | ((gains >= 60) & (gains <= 100))).all()
    difference = leaky.ieeg - clean.ieeg  # the leak only, on the contaminated contacts
    assert np.allclose(difference[:, ~np.array(truth["contaminated"])], 0)
    assert np.abs(difference).max() == pytest.approx(gains.max(), rel=0.1)
    assert all(regions.region(label) for label in leaky.channels["description"])
    with pytest.raises(ValueError, match="n_contaminated=8 must be between 0 and the 7"):
        dataclasses.replace(params, n_contaminated=8)
