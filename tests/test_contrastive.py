import dataclasses
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import REPO

from neurospeech import bids, contrastive, highgamma
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
    model.attention.contact_dropout = 0.99
    mixed = model.attention(*inputs[:3], generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(mixed).all()


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


def test_summary_counts_hits_chance_and_intervals_over_seeds():
    ranks = pd.DataFrame(
        {
            "seed": [0, 0, 1, 1],
            "fold": 0,
            "method": "contrastive",
            "participant": ["sub-01", "sub-02"] * 2,
            "word": ["a", "b"] * 2,
            "rank": [0, 1, 0, 0],
            "candidates": 4,
            "rank_pooled": [0, 3, 1, 0],
            "candidates_pooled": 8,
        }
    )
    table = contrastive.summary(ranks, ks=(1, 2)).set_index(["participant", "k"])
    assert table.loc[("sub-02", 1), "accuracy"] == 0.5  # hit in seed 1 only
    assert table.loc[("sub-02", 2), "accuracy"] == 1.0
    assert table.loc[("pooled", 1), "accuracy"] == 0.5
    assert table.loc[("pooled", 1), "chance"] == 1 / 8 and table.loc[("sub-01", 2), "chance"] == 0.5
    low, high = table.loc[("sub-02", 1), ["ci_low", "ci_high"]]
    assert low == 0.0 and high == 1.0  # t interval of (0, 1) over two seeds, cut to [0, 1]
    assert table["seeds"].eq(2).all()


def test_model_learns_a_known_linear_map_and_beats_chance_by_far():
    """Targets that are a fixed linear map of the inputs: top-1 retrieval >= 0.9."""
    segments = [_linear_problem(6), _linear_problem(9, seed=1, subject="02")]
    config = contrastive.ContrastiveTraining(n_virtual=16, hidden=32, n_blocks=1, epochs=30, pool=1)
    ranks = contrastive.cross_validate(segments, seeds=(0,), config=config, progress=False)
    table = contrastive.summary(ranks).set_index(["participant", "method", "k"])
    assert table.loc[("pooled", "contrastive", 1), "accuracy"] >= 0.9
    assert table.loc[("pooled", "ridge", 1), "accuracy"] >= 0.9  # linear: ridge finds it too
    assert table.loc[("pooled", "contrastive", 1), "chance"] < 0.03
    # each segment held out exactly once per method
    counts = ranks.groupby(["method", "participant", "word"]).size()
    assert counts.eq(1).all() and len(counts) == 2 * 240


def test_training_is_deterministic_on_the_cpu(tiny_people):
    _, people, targets = tiny_people
    segments = [p.segments(t, length=0.4) for p, t in zip(people, targets)]
    runs = [
        contrastive.cross_validate(
            segments, seeds=(seed,), n_folds=2, config=TINY_CONFIG, baseline=False, progress=False
        )
        for seed in (3, 3, 4)
    ]
    pd.testing.assert_frame_equal(runs[0], runs[1])
    assert not runs[0]["word"].equals(runs[2]["word"])  # another seed, other folds
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
    with pytest.raises(ValueError, match="contact_dropout must be in"):
        contrastive.ContrastiveTraining(contact_dropout=1.0)
    with pytest.raises(ValueError, match="epochs must be at least 1"):
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
