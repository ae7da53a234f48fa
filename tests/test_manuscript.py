"""The manuscript (paper/manuscript.md) renders on any tables, and its sentences read right.

The tables here are made by hand with the columns the analysis scripts write, in the cases
a real run can give: one participant, one trial length, one feature space, nothing
significant, or something found.
"""

import html
import re

import numpy as np
import pandas as pd
import pytest
from conftest import REPO
from scipy.io import wavfile

from neurospeech import config, contrastive, prose, published, regions, report, stats

MANUSCRIPT = REPO / "paper" / "manuscript.md"


def _audit(participants, lengths, spaces, found=(), n_draws=1000, unshuffled=()):
    rows = []
    for participant in participants:
        for length in lengths:
            for space in spaces:
                hit = (participant, space) in found
                shuffled = space not in unshuffled
                rows.append(
                    {
                        "participant": participant,
                        "trial_length": length,
                        "feature_space": space,
                        "published_run": False,
                        "dims": 23,
                        "pcc_model": 0.951,
                        "pcc_mean": 0.950,
                        "pcc_noise": 0.949,
                        "pcc_shuffled": 0.950 if shuffled else np.nan,
                        "p_shuffle": 0.4 if shuffled else np.nan,
                        "p_shuffle_holm": 1.0 if shuffled else np.nan,
                        "word_level_mean_r": -0.05,
                        "word_level_null_r": -0.05,
                        "word_level_p_fwe": 0.001 if hit else 0.6,
                        "word_level_p_holm": 0.002 if hit else 1.0,
                        "significant": 3 if hit else 0,
                        "channels": 100,
                        "n_shuffles": n_draws if shuffled else 0,
                        "n_permutations": n_draws,
                    }
                )
    return pd.DataFrame(rows)


def _group(audit):
    """The protocol_group table: a space is found at the group level where any participant is."""
    rows = audit.groupby(["feature_space", "trial_length"], sort=False)
    group = rows.agg(
        participants=("participant", "nunique"),
        mean_best_r=("word_level_mean_r", "max"),
        found=("significant", "max"),
        n_permutations=("n_permutations", "min"),
    ).reset_index()
    group["null_mean_best_r"] = 0.1
    group["p_group"] = np.where(group.pop("found") > 0, 0.001, 0.5)
    group["p_group_holm"] = stats.holm(group["p_group"]) if len(group) else []
    return group


def _shuffle_group(audit, found=()):
    """The protocol_shuffle_group table: one row per shuffled space and trial length."""
    rows = audit[audit["n_shuffles"] > 0].groupby(["feature_space", "trial_length"], sort=False)
    group = rows.agg(
        participants=("participant", "nunique"),
        mean_pcc=("pcc_model", "mean"),
        null_mean_pcc=("pcc_shuffled", "mean"),
        n_shuffles=("n_shuffles", "min"),
    ).reset_index()
    group["p_group"] = np.where(group["feature_space"].isin(found), 0.001, 0.5)
    group["p_group_holm"] = stats.holm(group["p_group"]) if len(group) else []
    return group


def _tables(
    participants,
    lengths,
    spaces,
    *,
    found=(),
    significant=0,
    leaky=(),
    profile="sample",
    unshuffled=(),
):
    n = len(participants)
    audit = _audit(participants, lengths, spaces, found, unshuffled=unshuffled)
    variance = pd.DataFrame(
        [
            {
                "participant": p,
                "trial_length": length,
                "between": 9.0,
                "within": 1.0,
                "ratio": 9.0,
                "predicted_pcc": 0.949,
                "observed_pcc": 0.95,
            }
            for p in participants
            for length in lengths
        ]
    )
    khanday = published.khanday2025()
    verwoert = published.verwoert2022()
    return {
        "data_overview": pd.DataFrame(
            {
                "participant": participants,
                "words": 100,
                "channels": 120,
                "shafts": 10,
                "sfreq_hz": 1024.0,
                "duration_s": 300.0,
                "word_s": 2.0,
                "fixation_s": 1.0,
            }
        ),
        "decoding_summary": pd.DataFrame(
            {
                "participant": participants,
                "mean_r": 0.6,
                "chance_p95_published": 0.4,
                "chance_p95_decoder": 0.05,
                "speech_fraction": 0.2,
                "mean_r_speech_silence_oracle": 0.7,
                "mean_r_within_speech": 0.3,
            }
        ),
        "decoding_published": published.beside(
            verwoert, verwoert.iloc[:0], ["participant", "metric"], simulated=False
        ),
        "protocol_audit": audit,
        "protocol_group": _group(audit),
        "protocol_shuffle_group": _shuffle_group(audit),
        "protocol_variance": variance,
        "protocol_published": published.beside(
            khanday, khanday.iloc[:0], ["participant", "feature_space", "metric"], simulated=False
        ),
        "protocol_recovery": pd.DataFrame(
            {"planted": ["word-level latent"] * n, "sensitivity": 1.0, "false_positive_rate": 0.0}
        ),
        "encoding_summary": pd.DataFrame(
            {
                "participant": participants,
                "feature_space": "log-mel",
                "layer": 0,
                "electrodes": 120,
                "significant": significant,
                "beyond_timing": 0,
                "mean_r_significant": 0.3 if significant else np.nan,
                "max_r": 0.3,
            }
        ),
        "encoding_partition_summary": pd.DataFrame(
            [
                {
                    "participant": p,
                    "comparison": comparison,
                    "electrodes": 120,
                    "significant": 0,
                    "median_unique": 0.0,
                    "max_unique": 0.001,
                }
                for p in participants
                for comparison in ("nuisance", "log-mel beyond nuisance")
            ]
        ),
        "partition_recovery": pd.DataFrame(
            {
                "comparison": "log-mel beyond nuisance",
                "planted": ["speech", "timing", "silent"],
                "channels": [10, 4, 100],
                "found": [0.9, 0.0, 0.01],
            }
        ),
        "encoding_layer_tests": pd.DataFrame(
            columns=["participant", "comparison", "space", "layer", "value", "p", "p_fwe", "p_swap"]
        ),
        "encoding_recovery": pd.DataFrame(
            {
                "sensitivity": [1.0],
                "speech_channels": [10],
                "false_positive_rate": [0.0],
                "silent_channels": [100],
                "lag_within_30ms": [1.0],
            }
        ),
        **_contrastive_tables(participants, decoded=bool(found), profile=profile),
        **_channel_tables(participants, leaky),
    }


def _contrastive_tables(participants, *, decoded, profile, n_words=30):
    """The contrastive tables, made by the package from rank matrices: a perfect or a random
    model (for every method but the control, which is always random)."""
    rng = np.random.default_rng(0)

    def retrieval(good):
        methods = ["contrastive", "ridge", contrastive.SHUFFLED]  # identity: pooled only
        matrices = {}
        for method in methods:
            for person in participants:
                scores = rng.standard_normal((n_words, n_words))
                if good and method != contrastive.SHUFFLED:
                    scores += 10 * np.eye(n_words)
                matrices[(method, person)] = contrastive.evaluate.candidate_ranks(scores)[None]
        return contrastive.Retrieval(pd.DataFrame(), matrices, {})

    options = {"n_permutations": 99, "n_bootstrap": 20}
    table = contrastive.retrieval_table(retrieval(decoded), **options)
    # one profile's speech model: another profile's render must read without its rows
    speech = {config.from_dict({}, profile=profile).contrastive.speech_model}
    windows = [
        table.assign(target_space=space, window_start=-0.2, window_end=0.8)
        for space in (*speech, "log-mel")
    ]
    planning = table[table["method"] == "contrastive"]
    windows += [
        planning.assign(target_space=space, window_start=-0.8, window_end=0.0) for space in speech
    ]
    pooled = pd.concat(
        pd.DataFrame(
            {
                "participant": "pooled",
                "method": ["contrastive", "ridge", contrastive.IDENTITY],
                "k": 10,
                "accuracy": [0.5, 0.45, 0.48],
                "chance": 0.1,
                "target_space": space,
            }
        )
        for space in speech
    )
    curve = pd.concat(
        [
            table[table["method"] == "contrastive"].assign(method=arm, calibration_words=n)
            for arm in ("shared model, own layer fitted", "own model from scratch")
            for n in (10, 20)
        ]
    )
    return {
        "contrastive_retrieval": pd.concat(windows, ignore_index=True),
        "contrastive_pooled": pooled,
        "contrastive_offsets": table[
            (table["participant"] == "group") & (table["method"] == "contrastive")
        ].assign(offset_s=-0.2),
        "contrastive_calibration": curve,
    }


def _channel_tables(participants, leaky):
    """The tables of the channels: anatomy, contamination, references and regions."""
    references = ["original", "bipolar"]
    summary = pd.DataFrame(
        [
            {
                "participant": p,
                "reference": ref,
                "channels": 120,
                "contaminated": 2 if p in leaky else 0,
                "left_out": 2 if p in leaky else 0,
                "largest_index": 0.1,
            }
            for p in participants
            for ref in references
        ]
    )
    scores = {"channels": 118, "chance_p95_decoder": 0.05, "p_decoder": 0.001}
    decoding = [
        {"participant": p, "reference": ref, "contaminated": "left out", "mean_r": 0.6, **scores}
        for p in participants
        for ref in references
    ] + [
        {
            "participant": p,
            "reference": "original",
            "contaminated": "kept",
            "mean_r": 0.65,
            **scores,
        }
        for p in participants
        if p in leaky
    ]
    region_rows = pd.DataFrame(
        {"participant": participants, "region": "sensorimotor", "r": 0.2, "significant": True}
    )
    return {
        "regions": pd.DataFrame(
            {"region": ["sensorimotor", "white matter"], **{p: [10, 110] for p in participants}}
        ),
        "contamination_summary": summary,
        "contamination_recovery": pd.DataFrame(
            {
                "participant": participants,
                "reference": "original",
                "planted_channels": 2,
                "sensitivity": 1.0,
                "clean_channels": 118,
                "false_positive_rate": 0.0,
            }
        ),
        "decoding_reference": pd.DataFrame(decoding),
        "decoding_regions_summary": regions.summarise(region_rows),
        "encoding_reference": pd.DataFrame(
            [
                {
                    "participant": p,
                    "reference": ref,
                    "electrodes": 120,
                    "significant": 0,
                    "mean_r_significant": np.nan,
                }
                for p in participants
                for ref in references
            ]
        ),
        "encoding_regions": regions.summarise(region_rows.assign(significant=False)),
    }


def _render(tmp_path, tables, profile, settings):
    """Build the report of ``tables`` with the real manuscript; return its text."""
    paper = tmp_path / "paper"
    for folder in ("figures", "tables", "audio"):
        (paper / folder).mkdir(parents=True, exist_ok=True)
    outputs = []
    for name, table in tables.items():
        table.to_csv(paper / "tables" / f"{name}.csv", index=False)
        outputs.append(f"tables/{name}.csv")
    for name in re.findall(r'figure\("(\w+)"', MANUSCRIPT.read_text()):
        (paper / "figures" / f"{name}.svg").write_text("<svg/>")
        outputs.append(f"figures/{name}.svg")
    best = tables["decoding_summary"]["participant"].iloc[-1]
    for kind in ("original", "reconstructed"):
        wavfile.write(paper / "audio" / f"{best}_{kind}_griffinlim.wav", 16000, np.zeros(16, "h"))
        outputs.append(f"audio/{best}_{kind}_griffinlim.wav")
    manifest = {
        "neurospeech": "0",
        "python": "3.11",
        "commit": "abc",
        "config": config.from_dict(settings, profile=profile).to_dict(),
        "models": {},
        "code": "0",
        "inputs": {},
        "outputs": dict.fromkeys(outputs, "0"),
        "packages": {},
        "steps": {},
    }
    page = report.build(paper, manifest, MANUSCRIPT).read_text()
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


ONE = {"paper_protocol": {"trial_lengths": [1.0], "feature_spaces": ["log-mel"]}}


@pytest.mark.parametrize("profile", ["swpd", "sample"])
def test_one_participant_one_length_one_space_nothing_found_reads_naturally(tmp_path, profile):
    tables = _tables(["sub-01"], [1.0], ["log-mel"])
    text = _render(tmp_path, tables, profile, ONE)
    assert "1 participant read" in text and "1 participants" not in text
    assert not re.search(r"\bnan\b", text, re.IGNORECASE)
    assert "does not distinguish any feature space from the no-feature predictor" in text
    assert "finds no word information in any participant" in text
    assert "the one test (1 participant x 1 feature space x 1 trial length)" in text
    assert (
        "Across the 1 participant at once (the mean of each one's best channel, against the "
        "same permutation in every one), the word-level encoding finds no word information in "
        "the one group test (1 feature space x 1 trial length) after Holm correction" in text
    )
    assert "0 of 1 tests are below 0.05 corrected" in text
    assert "no mean r of significant electrodes" in text
    assert "log-mel beyond nuisance: 0 of 120 electrodes (largest gain in R² 0.001)" in text
    assert "No speech-model layer was fitted, so no layers are compared." in text
    assert ("finds 90 % of the 10 electrodes planted to follow the sound" in text) == (
        profile == "sample"
    )
    assert "averaged over the 1 s after the cue" in text and "(and" not in text
    for section in ("The verdict", "Methods", "Limitations", "References"):
        assert f"<h2>{section}</h2>" in _raw(tmp_path)
    assert "doi.org/10.1038/s41597-022-01542-9" in _raw(tmp_path)
    # published values beside ours, participant by participant
    assert "gpt2 r2, published" in text and "0.8724" in text
    assert ("Simulated data." in text) == (profile == "sample")
    assert "No channel carries the microphone's sound under the original reference" in text
    assert "No participant has a contaminated channel to keep." in text
    assert "original: no electrode" not in text and "original: 0 of 120 electrodes" in text
    if profile == "sample":
        assert "Ranked among all of its participant's 30 words (on average)" in text
        assert "not distinguishable from chance, with 0 of 1 participant above chance" in text
        assert "predictor that knows only who is speaking" in text and "0.48" in text
    else:
        assert "No pooled ranking across participants was run with" in text
        assert "No contrastive retrieval was run with wav2vec2-xls-r-300m targets" in text


def _raw(tmp_path):
    return (tmp_path / "paper" / "build" / "index.html").read_text()


def test_found_word_information_is_named_by_space_and_participant(tmp_path):
    found = {("sub-01", "gpt2"), ("sub-03", "gpt2")}
    tables = _tables(
        ["sub-01", "sub-02", "sub-03"],
        [1.0, 2.0],
        ["log-mel", "gpt2"],
        found=found,
        profile="swpd",
        unshuffled=["log-mel"],  # a plain feature space: no shuffle null
    )
    text = _render(tmp_path, tables, "swpd", {}).replace(" ,", ",")
    assert not re.search(r"\bnan\b", text, re.IGNORECASE)
    assert "not shuffled" in text
    assert "Holm's correction runs over every shuffle test (6 tests:" in text
    assert "test per shuffled predictor and trial length), 0 of 2 are below 0.05 corrected" in text
    assert (
        "finds word information in 4 of the 12 tests (3 participants x 2 feature spaces x 2 "
        "trial lengths) after Holm correction: gpt2 (sub-01 at 1 s, sub-01 at 2 s, sub-03 at "
        "1 s and sub-03 at 2 s), with 12 channels at FDR q < 0.05 among their 400" in text
    )
    assert "averaged over the 1 and 2 s after the cue" in text
    assert (
        "the word-level encoding finds word information in 2 of the 4 group tests (2 feature "
        "spaces x 2 trial lengths) after Holm correction: gpt2 (1 and 2 s)." in text
    )
    assert "across participants: above chance, with 3 of 3 participants above chance" in text
    assert "with 3 participants it cannot go below 0.125" in text
    assert "before any sound, top-10 accuracy is 1.00" in text


def test_contaminated_channels_are_stated_per_participant(tmp_path):
    tables = _tables(["sub-01", "sub-02"], [1.0], ["log-mel"], leaky=("sub-02",))
    text = _render(tmp_path, tables, "sample", ONE)
    assert (
        "2 channels in 1 participant carry the microphone's sound under the original "
        "reference (sub-01: none of 120; sub-02: 2 of 120)" in text
    )
    assert "Keeping the contaminated channels (1 participant) changes the mean r by +0.050" in text
    assert (
        "Under the bipolar reference the mean r is 0.60 (against 0.60 original), 2 of 2 "
        "participants above" in text
    )
    assert "sensorimotor 2 of 2 (2 participants; mean r 0.20)" in text
    assert "planted on 4 channels, the check flags 4 of them and 0 of the 236 others" in text


def test_layer_tests_are_told_model_by_model():
    rows = [
        ("layer", 0, 0.2, 0.001, 0.5),
        ("layer", 6, 0.3, 0.001, 0.01),
        ("minus first layer", 6, 0.1, 0.01, np.nan),
        ("trained minus untrained", 6, 0.05, 0.2, np.nan),
    ]
    tests = pd.DataFrame(
        [
            {"comparison": c, "space": "xlsr", "layer": k, "value": v, "p_fwe": p, "p_swap": w}
            for c, k, v, p, w in rows
        ]
    )
    text = prose.layer_tests(tests)
    assert "With xlsr, 2 layer-participant pairs of 2 score above the circular shifts" in text
    assert "and 1 of them also above the trial swaps" in text
    assert "1 of 1 layer-participant pair differ from the first layer fitted" in text
    assert "beats its untrained twin at 0 of 1 layer-participant pairs" in text
    empty = tests.assign(value=np.nan)
    assert "no participant has an electrode in the fixed set" in prose.layer_tests(empty)


def test_prose_helpers():
    assert prose.join([]) == "" and prose.join(["a"]) == "a"
    assert prose.join(["a", "b", "c"]) == "a, b and c"
    assert prose.count(0, "electrode") == "no electrode"
    assert prose.count(1, "electrode") == "1 electrode"
    assert prose.count(1200, "electrode") == "1,200 electrodes"
    assert prose.seconds([1.0, 2.0]) == "1 and 2"
    empty = _audit([], [], [])
    assert "nothing to judge" in prose.protocol_verdict(empty)
    significant = _audit(["sub-01"], [1.0], ["gpt2"]).assign(p_shuffle_holm=0.01)
    verdict = prose.metric_verdict(significant)
    assert "in the one test (1 participant" in verdict and "gpt2 (sub-01 at 1 s)" in verdict
    assert "move the PCC by at most 0.001" in verdict


def test_a_family_too_large_for_its_permutations_is_undecided_not_negative():
    # the real study's size: 10 participants x 16 predictors x 2 trial lengths
    participants = [f"sub-{k:02d}" for k in range(1, 11)]
    spaces = [f"space{k}" for k in range(16)]
    audit = _audit(participants, [1.0, 2.0], spaces)
    verdict = prose.protocol_verdict(audit)
    assert "shuffle test of the paper's metric cannot decide here: with 1,000 shuffles" in verdict
    assert "word-level encoding cannot decide here: with 1,000 permutations" in verdict
    assert "needs less than 1.6e-04" in verdict and "at least 6,400 are needed" in verdict
    assert "finds no word information" not in verdict
    group = prose.group_verdict(_group(audit))  # 32 group tests: 1,000 permutations suffice
    assert "cannot decide" not in group and "in any of the 32 group tests" in group
    enough = prose.protocol_verdict(_audit(participants, [1.0, 2.0], spaces, n_draws=6400))
    assert "cannot decide" not in enough and "finds no word information" in enough
    # the sample's size resolves with 1,000
    assert "cannot decide" not in prose.protocol_verdict(
        _audit(participants[:3], [1.0], spaces[:3])
    )


def test_the_shuffle_tests_are_those_of_the_shuffled_predictors_and_their_group():
    # the real profile's design: 4 conditions shuffled 200 times, 12 feature spaces not
    participants = [f"sub-{k:02d}" for k in range(1, 11)]
    conditions = [f"condition{k}" for k in range(4)]
    plain = [f"space{k}" for k in range(12)]
    audit = _audit(participants, [1.0, 2.0], [*plain, *conditions], n_draws=200, unshuffled=plain)
    metric = prose.metric_verdict(audit)
    # 80 per-participant tests: 200 shuffles cannot decide them, and it says so
    assert "the 80 tests (10 participants x 4 feature spaces x 2 trial lengths)" in metric
    assert "cannot decide here: with 200 shuffles" in metric
    group = prose.shuffle_group_verdict(_shuffle_group(audit))
    assert "cannot decide" not in group and "in any of the 8 group tests" in group
    assert "does not score the features above shuffled word assignments" in group
    found = prose.shuffle_group_verdict(_shuffle_group(audit, found=["condition2"]))
    assert "scores the features above shuffled word assignments in 2 of the 8" in found
    assert found.endswith("condition2 (1 and 2 s).")
    verdict = prose.protocol_verdict(audit, _group(audit), _shuffle_group(audit))
    assert verdict.index(group) < verdict.index("word-level encoding")
    none = _audit(participants[:2], [1.0], plain[:2], unshuffled=plain)
    assert "No predictor was tested against shuffled words" in prose.metric_verdict(none)


def test_decoding_controls_never_print_a_negative_zero():
    table = pd.DataFrame(
        {
            "participant": ["sub-01", "sub-01"],
            "reference": ["original", "original"],
            "contaminated": ["left out", "kept"],
            "mean_r": [0.6, 0.5999],
            "p_decoder": [0.001, 0.001],
        }
    )
    sentence = prose.decoding_controls(table, "original")
    assert "by +0.000 on average (from +0.000 to +0.000)" in sentence
