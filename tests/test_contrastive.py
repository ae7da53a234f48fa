import dataclasses
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import REPO

from neurospeech import bids, config, contrastive, highgamma
from neurospeech.contrastive import data as segmenting
from neurospeech.contrastive import train as training

TINY_CONFIG = contrastive.ContrastiveTraining(n_virtual=8, hidden=16, n_blocks=2, epochs=3, pool=2)


@pytest.fixture(scope="module")
def tiny_people(tiny_dataset):
    """Both tiny participants, prepared, with log-mel targets."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bids.RecordingWarning)
        recordings = [bids.read_recording(tiny_dataset, sub) for sub in ("01", "02")]
        people = [contrastive.participant(r) for r in recordings]
    targets = [contrastive.target_features("log-mel", r) for r in recordings]
    return recordings, people, targets


def _linear_problem(n_channels, n_segments=120, n_times=20, dim=8, seed=0, subject="01"):
    """Segments whose targets are a fixed linear map of the brain signals, frame by frame."""
    rng = np.random.default_rng(seed)
    brain = rng.standard_normal((n_segments, 1, n_channels, n_times)).astype(np.float32)
    mapping = np.random.default_rng(99).standard_normal((n_channels, dim))
    targets = np.einsum("nct,cd->ntd", brain[:, 0], mapping[:n_channels]).astype(np.float32)
    return contrastive.Segments(
        subject=subject,
        words=np.array([f"w{k:03d}" for k in range(n_segments)]),
        brain=brain,
        targets=targets,
        positions=rng.uniform(-60, 60, (n_channels, 3)),
    )


def test_robust_scale_centres_scales_and_clips():
    rng = np.random.default_rng(0)
    frames = rng.standard_normal((1000, 3)) * [1, 5, 0.1] + [0, 100, -3]
    frames[0, 0] = 1e6
    scaled = contrastive.robust_scale(frames, ["a", "b", "c"])
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(np.median(scaled, axis=0), 0, atol=1e-6)
    q1, q3 = np.percentile(scaled, [25, 75], axis=0)
    np.testing.assert_allclose(q3 - q1, 1, rtol=1e-5)
    assert scaled[0, 0] == segmenting.CLAMP
    frames[:, 2] = 4.0
    with pytest.raises(ValueError, match=r"\['c'\] have no interquartile range"):
        contrastive.robust_scale(frames, ["a", "b", "c"])


def test_contact_without_position_is_a_clear_error(tiny_people):
    recording = tiny_people[0][0]
    electrodes = recording.electrodes.copy()
    electrodes.loc[1, "x"] = np.nan
    broken = dataclasses.replace(recording, electrodes=electrodes)
    name = electrodes.loc[1, "name"]
    with pytest.raises(ValueError, match=rf"sub-01: contacts \['{name}'\] have no x, y, z"):
        contrastive.participant(broken)


def test_participant_finds_every_onset_and_scales_each_channel(tiny_people):
    recordings, people, _ = tiny_people
    recording, person = recordings[0], people[0]
    assert len(person.words) == len(recording.words)
    assert person.signals.shape[:2] == (1, len(recording.ch_names))
    cues = recording.words["sample"].to_numpy() / recording.sfreq
    assert np.all((person.onsets > cues) & (person.onsets < cues + 2.0))
    np.testing.assert_allclose(np.median(person.signals, axis=2), 0, atol=1e-6)
    broadband = contrastive.participant(recording, broadband=True)
    assert broadband.signals.shape[0] == 2
    np.testing.assert_array_equal(broadband.signals[0], person.signals[0])


def test_segments_cut_the_brain_at_the_offset_and_the_targets_at_the_onset(tiny_people):
    _, (person, _), (targets, _) = tiny_people
    segments = person.segments(targets, length=0.5, offset=-0.2)
    assert segments.brain.shape == (len(person.words), 1, len(person.channels), 50)
    assert segments.targets.shape == (len(person.words), 50, targets.shape[1])
    k = 3
    first = segmenting.frame_index(person.onsets[k])
    np.testing.assert_array_equal(segments.targets[k], targets[first : first + 50])
    np.testing.assert_array_equal(
        segments.brain[k, 0], person.signals[0, :, first - 20 : first + 30]
    )
    # frame_index: the first frame centred at or after the time
    starts, length = highgamma.windows(10_000, 1024.0, 0.05, 0.01)
    centres = (starts + length / 2) / 1024.0
    assert centres[first] >= person.onsets[k] - 1e-3 > centres[first - 1] - 1e-3
    with pytest.raises(ValueError, match="targets must be \\(n_frames, dim\\)"):
        person.segments(targets[:-1])
    with pytest.warns(bids.RecordingWarning, match="do not fit in the recording; left out"):
        early = person.segments(targets, length=0.5, offset=-5.0)
    assert 0 < len(early) < len(person.words)


def test_batched_pads_participants_with_different_contact_counts():
    first, second = _linear_problem(6, n_segments=10), _linear_problem(9, 12, subject="02")
    batch = contrastive.batched([first, second])
    assert batch.brain.shape == (22, 1, 9, 20)
    assert batch.mask[:10].sum(axis=1).tolist() == [6] * 10
    assert batch.mask[10:].all() and not batch.brain[:10, :, 6:].any()
    assert batch.subjects == ("01", "02") and batch.subject.tolist() == [0] * 10 + [1] * 12
    short = dataclasses.replace(
        second, brain=second.brain[..., :10], targets=second.targets[:, :10]
    )
    with pytest.raises(ValueError, match="same signals, length and target dimension"):
        contrastive.batched([first, short])


def test_model_mixes_participants_and_ignores_padding():
    batch = contrastive.batched([_linear_problem(6, 4), _linear_problem(9, 4, subject="02")])
    model = contrastive.BrainModule(2, 1, 8, n_virtual=8, hidden=16, n_blocks=2).eval()
    inputs = [torch.as_tensor(v) for v in (batch.brain, batch.positions, batch.mask, batch.subject)]
    out = model(*inputs)
    assert out.shape == (8, 8, 20) and torch.isfinite(out).all()
    padded = inputs[0].clone()
    padded[:4, :, 6:] = 123.0  # values where participant 01 has no contacts
    torch.testing.assert_close(model(padded, *inputs[1:]), out)
    # pooling before the linear projection equals pooling its output
    pooled = model(*inputs, pool=4)
    torch.testing.assert_close(pooled, torch.nn.functional.avg_pool1d(out, 4), atol=1e-5, rtol=0)
    # in training, dropped contacts never leave a segment without any
    model.attention.train()
    model.attention.dropout_radius = 1e6
    mixed = model.attention(*inputs[:3], generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(mixed).all()


def test_spatial_dropout_leaves_out_a_ball_and_fourier_features_tell_ends_apart():
    attention = contrastive.model.SpatialAttention(4, n_fourier=3, margin=0.2, dropout_radius=5.0)
    positions = torch.tensor([[[0.0, 0, 0], [3.0, 0, 0], [40.0, 0, 0], [0.0, 0, 0]]])
    mask = torch.tensor([[True, True, True, False]])
    kept = [attention.dropped(positions, mask, torch.Generator().manual_seed(s)) for s in range(20)]
    for keep in kept:
        assert not keep[0, 3]  # padding is never kept
        assert keep[0, 0] == keep[0, 1]  # 3 mm apart: dropped together
    assert {bool(k[0, 2]) for k in kept} == {True, False}  # the far contact, now and then
    ends = torch.tensor([[-100.0, 0, 0], [100.0, 0, 0]])
    assert not torch.allclose(*attention.features(ends))
    attention.margin = 0.0  # without a margin the two ends of the box share every phase
    torch.testing.assert_close(*attention.features(ends))


def test_clip_loss_is_the_cross_entropy_of_finding_each_own_target():
    rng = np.random.default_rng(0)
    z, y = (torch.as_tensor(rng.standard_normal((5, 7))) for _ in range(2))
    logits = z @ (y / y.norm(dim=1, keepdim=True)).T
    expected = -torch.log_softmax(logits, dim=1).diagonal().mean()
    torch.testing.assert_close(contrastive.clip_loss(z, y), expected)
    assert contrastive.clip_loss(10 * y, y) < contrastive.clip_loss(10 * y.flip(0), y)


def test_retrieval_ranks_and_word_folds():
    targets = np.eye(4)
    predicted = targets[[0, 2, 1, 3]] + 0.01
    np.testing.assert_array_equal(contrastive.retrieval_ranks(predicted, targets), [0, 1, 1, 0])
    words = np.array(["a", "b", "c", "a", "d", "b"])
    folds = contrastive.word_folds(words, 2, seed=0)
    assert folds[0] == folds[3] and folds[1] == folds[5] and set(folds) == {0, 1}
    np.testing.assert_array_equal(folds, contrastive.word_folds(words, 2, seed=0))
    with pytest.raises(ValueError, match="between 2 and the 4 distinct words"):
        contrastive.word_folds(words, 5, seed=0)


def test_pooled_summary_counts_hits_and_chance():
    ranks = pd.DataFrame(
        {
            "method": "contrastive",
            "rank_pooled": [0, 3, 1, 0],
            "candidates_pooled": 8,
        }
    )
    table = contrastive.pooled_summary(ranks, ks=(1, 2)).set_index("k")
    assert table.loc[1, "accuracy"] == 0.5 and table.loc[2, "accuracy"] == 0.75
    assert table.loc[1, "chance"] == 1 / 8 and table["participant"].eq("pooled").all()


def test_statistics_of_a_perfect_a_random_and_a_partial_ranking():
    n, rng = 30, np.random.default_rng(0)
    perfect = contrastive.evaluate.candidate_ranks(np.eye(n))[None]
    found = contrastive.statistics.participant_statistics(
        perfect, (1, 10), n_permutations=999, n_bootstrap=200
    )
    top1 = found[("top-k", 1.0)]
    assert top1["accuracy"] == 1 and top1["chance"] == 1 / n and top1["p_value"] == 1 / 1000
    rank = next(v for (metric, _), v in found.items() if metric == "rank accuracy")
    assert rank["accuracy"] == 1 and rank["chance"] == 0.5
    random = contrastive.evaluate.candidate_ranks(rng.standard_normal((2, n, n)).reshape(-1, n))
    found = contrastive.statistics.participant_statistics(
        random.reshape(2, n, n), (10,), n_permutations=999, n_bootstrap=500
    )
    top10 = found[("top-k", 10.0)]
    assert top10["p_value"] > 0.05 and abs(top10["null"].mean() - 10 / n) < 0.02
    assert (
        np.percentile(top10["boot"], 2.5) <= top10["accuracy"] <= np.percentile(top10["boot"], 97.5)
    )
    # rows that are not all the words: their own columns are given
    partial = perfect[:, 10:20]
    found = contrastive.statistics.participant_statistics(
        partial, (1,), own=np.arange(10, 20), n_permutations=99, n_bootstrap=10
    )
    assert found[("top-k", 1.0)]["accuracy"] == 1 and found[("top-k", 1.0)]["p_value"] == 0.01
    assert np.isnan(contrastive.statistics.wilcoxon_above_chance(np.zeros(3)))
    assert contrastive.statistics.wilcoxon_above_chance(np.array([0.1, 0.2, 0.3])) == 0.125


def test_standardised_scores_remove_a_preference_for_trained_words():
    """Predictions that lean toward some candidates (trained on) with no word information."""
    rng = np.random.default_rng(0)
    n_train, n_test, dim = 40, 10, 16
    targets = rng.standard_normal((n_train + n_test, dim))
    lean = targets[:n_train].sum(axis=0)
    hits, raw_hits = [], []
    for _ in range(200):
        predicted = lean + rng.standard_normal((n_test, dim))  # no information on the word
        own = np.arange(n_train, n_train + n_test)
        raw = contrastive.evaluate.candidate_ranks(predicted @ targets.T)
        fair = contrastive.evaluate.candidate_ranks(
            contrastive.evaluate.centred_scores(predicted, targets)
        )
        raw_hits.append((raw[np.arange(n_test), own] < 10).mean())
        hits.append((fair[np.arange(n_test), own] < 10).mean())
    assert np.mean(raw_hits) < 0.13  # chance is 10 / 50 = 0.2
    assert abs(np.mean(hits) - 0.2) < 0.03
    # ties count half, against the candidate: a constant prediction never hits
    np.testing.assert_array_equal(
        contrastive.evaluate.candidate_ranks(np.zeros((1, 5))), [[2.0] * 5]
    )


def _shortcut(n_participants=6, n_words=40, seed=0):
    """Brains of pure noise; targets of noise plus a per-participant offset (voice, microphone)."""
    rng = np.random.default_rng(seed)
    return [
        contrastive.Segments(
            subject=f"{p + 1:02d}",
            words=np.array([f"w{k:03d}" for k in range(n_words)]),
            brain=rng.standard_normal((n_words, 1, 6, 10)).astype(np.float32),
            targets=(rng.standard_normal((n_words, 10, 4)) + 2 * rng.standard_normal(4)).astype(
                np.float32
            ),
            positions=rng.uniform(-60, 60, (6, 3)),
        )
        for p in range(n_participants)
    ]


def test_the_participant_shortcut_inflates_pooled_retrieval_only():
    """The issue's measurement: a pooled rank answers who speaks; within a participant, chance."""
    config = contrastive.ContrastiveTraining(n_virtual=4, hidden=8, n_blocks=1, epochs=4, pool=2)
    found = contrastive.cross_validate(
        _shortcut(), seeds=(0,), n_folds=2, config=config, progress=False
    )
    pooled = contrastive.pooled_summary(found.ranks).set_index(["method", "k"])
    for method in ("ridge", contrastive.IDENTITY):
        assert pooled.loc[(method, 10), "accuracy"] > 3 * pooled.loc[(method, 10), "chance"]
    table = contrastive.retrieval_table(found, n_permutations=999, n_bootstrap=200)
    group = table[(table["participant"] == "group") & (table["k"] == 10)].set_index("method")
    assert (group["p_value"] > 0.05).all(), group
    assert (group["accuracy"] < group["chance"] + 0.06).all(), group
    assert (group["ci_low"] <= group["chance"]).all(), group


def test_a_planted_word_signal_is_retrieved_and_the_shuffled_control_far_less():
    """The control retrained three times (as the pipeline does), the seeds averaged.

    Here the targets are a linear map of the brain, frame by frame, so even a network
    that never saw the right pairing matches some of each word's own time course: the
    control is far below the model, not necessarily at chance (the sample's is checked
    in CI).
    """
    segments = [_linear_problem(6, 60), _linear_problem(9, 60, seed=1, subject="02")]
    config = contrastive.ContrastiveTraining(n_virtual=16, hidden=32, n_blocks=1, epochs=30, pool=1)
    found = contrastive.cross_validate(
        segments, seeds=(0,), n_folds=3, config=config, progress=False
    )
    control = contrastive.cross_validate(
        segments, seeds=(0, 1, 2), n_folds=3, config=config, shuffled=True, progress=False
    )
    assert set(control.ranks["method"]) == {contrastive.SHUFFLED}
    table = pd.concat(
        [
            contrastive.retrieval_table(r, n_permutations=999, n_bootstrap=200)
            for r in (found, control)
        ]
    )
    top10 = table[table["k"] == 10].set_index(["participant", "method"])
    for who in ("sub-01", "sub-02", "group"):
        assert top10.loc[(who, "contrastive"), "p_value"] < 0.01
        assert top10.loc[(who, "contrastive"), "ci_low"] > top10.loc[(who, "contrastive"), "chance"]
        real, shuffled = (
            top10.loc[(who, m), "accuracy"] for m in ("contrastive", contrastive.SHUFFLED)
        )
        assert shuffled - top10.loc[(who, "contrastive"), "chance"] < (real - shuffled) / 3
    assert top10.loc[("group", "contrastive"), "candidates"] == 60  # all of its words
    # every word held out once per seed, ranked among all of its participant's words
    counts = found.ranks.groupby(["method", "participant", "word"]).size()
    assert counts.eq(1).all() and found.ranks["candidates"].eq(60).all()
    matrix = found.matrices[("contrastive", "sub-01")]
    np.testing.assert_array_equal(
        np.diagonal(matrix[0]),
        found.ranks.query("method == 'contrastive' and participant == 'sub-01'")
        .set_index("word")
        .loc[found.words["sub-01"], "rank"],
    )


def test_calibration_curve_fits_a_new_participant_on_few_words():
    segments = [_linear_problem(6, 40, subject=f"{k:02d}", seed=k) for k in range(1, 4)]
    config = contrastive.ContrastiveTraining(n_virtual=8, hidden=16, n_blocks=1, epochs=15, pool=2)
    curve = contrastive.calibration_curve(segments, (10, 20), config, progress=False)
    assert set(curve) == {
        (contrastive.calibration.CALIBRATED, 0),
        (contrastive.calibration.CALIBRATED, 10),
        (contrastive.calibration.CALIBRATED, 20),
        (contrastive.calibration.SCRATCH, 10),
        (contrastive.calibration.SCRATCH, 20),
    }
    table = contrastive.calibration_table(curve, ks=(10,), n_permutations=99, n_bootstrap=50)
    rows = table[table["k"] == 10]
    assert rows["candidates"].eq(40).all() and set(rows["calibration_words"]) == {0, 10, 20}
    calibrated = rows[rows["method"] == contrastive.calibration.CALIBRATED]
    assert calibrated[calibrated["participant"] == "group"]["accuracy"].max() > 0.5  # chance .25
    # the same test words for every size
    owns = {n: r.own[(arm, "sub-01")].tolist() for (arm, n), r in curve.items()}
    assert len({tuple(o) for o in owns.values()}) == 1 and len(owns[0]) == 20
    with pytest.raises(ValueError, match="sub-01: 40 words cannot calibrate on 35"):
        contrastive.calibration_curve(segments, (35,), config, progress=False)


def test_early_stopping_sets_training_words_aside():
    words = np.repeat([f"w{k}" for k in range(20)], 2)
    rows = np.arange(40)
    fitted, aside = training.validation_split(words, rows, 0.2, seed=0)
    assert len(aside) == 8 and not set(words[aside]) & set(words[fitted])
    fitted, aside = training.validation_split(words, rows[:10], 0.2, seed=0)
    assert len(aside) == 0 and len(fitted) == 10  # one word is too few to stop on


def test_training_is_deterministic_on_the_cpu(tiny_people):
    _, people, targets = tiny_people
    segments = [p.segments(t, length=0.4) for p, t in zip(people, targets)]
    runs = [
        contrastive.cross_validate(
            segments, seeds=(seed,), n_folds=2, config=TINY_CONFIG, baseline=False, progress=False
        )
        for seed in (3, 3, 4)
    ]
    pd.testing.assert_frame_equal(runs[0].ranks, runs[1].ranks)
    assert not runs[0].ranks["word"].equals(runs[2].ranks["word"])  # another seed, other folds
    data = contrastive.batched(segments)
    train = np.arange(0, len(data.words), 2)
    y = training.pooled_targets(data.targets, train, TINY_CONFIG.pool)
    models = [contrastive.fit(data, y, train, TINY_CONFIG, seed=s, device="cpu") for s in (1, 1, 2)]
    outputs = [contrastive.predict(m, data, train, TINY_CONFIG.pool) for m in models]
    np.testing.assert_array_equal(outputs[0], outputs[1])
    assert not np.array_equal(outputs[0], outputs[2])


def test_pooled_targets_use_training_statistics_only():
    rng = np.random.default_rng(0)
    targets = rng.standard_normal((6, 10, 3)).astype(np.float32) + 5
    train = np.array([0, 1, 2, 3])
    pooled = training.pooled_targets(targets, train, pool=5)
    assert pooled.shape == (6, 3 * 2)
    frames = targets[train].reshape(-1, 3)
    z = (targets - frames.mean(axis=0)) / frames.std(axis=0)
    np.testing.assert_allclose(pooled[4, :2], z[4, :, 0].reshape(2, 5).mean(axis=1), rtol=1e-5)
    with pytest.raises(ValueError, match="shorter than pool=20"):
        training.pooled_targets(targets, train, pool=20)


def test_config_errors():
    with pytest.raises(ValueError, match="batch_size must be at least 2"):
        contrastive.ContrastiveTraining(batch_size=1)
    with pytest.raises(ValueError, match="dropout_radius and fourier_margin must not be"):
        contrastive.ContrastiveTraining(dropout_radius=-1.0)
    with pytest.raises(ValueError, match="validation must be in"):
        contrastive.ContrastiveTraining(validation=1.0)
    with pytest.raises(ValueError, match="planning_window must be"):
        config.Contrastive(planning_window=(-0.8, 0.2))
    with pytest.raises(ValueError, match="calibration_words needs"):
        config.Contrastive(calibration_words=())
    with pytest.raises(ValueError, match="epochs must be from 1 to 10,000"):
        contrastive.ContrastiveTraining(epochs=0)


_TRAIN_AND_HASH = """
import hashlib, sys
import numpy as np
sys.path.insert(0, {tests!r})
from test_contrastive import _linear_problem
from neurospeech import contrastive
from neurospeech.contrastive import train as training
data = contrastive.batched([_linear_problem(6, n_times=100), _linear_problem(9, 80, 100, seed=1)])
rows = np.arange(0, len(data.words), 2)
config = contrastive.ContrastiveTraining(epochs=3)
model = contrastive.fit(data, training.pooled_targets(data.targets, rows, 5), rows, config)
values = np.concatenate([p.detach().numpy().ravel() for p in model.parameters()])
print(hashlib.sha256(values.tobytes()).hexdigest())
"""


def test_training_gives_the_same_bits_in_another_process():
    """Multi-threaded CPU kernels do not sum in a fixed order; fit must not depend on it."""
    code = _TRAIN_AND_HASH.format(tests=str(REPO / "tests"))
    hashes = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(3)
    }
    assert len(hashes) == 1, hashes
