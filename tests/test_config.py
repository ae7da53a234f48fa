import json
import re

import pytest
from conftest import REPO

from neurospeech import config, pipeline, stats
from neurospeech.config import ConfigError


def test_profile_defaults():
    sample = config.load()
    assert sample.profile == "sample" and sample.simulated
    assert sample.encoding.speech_models == ("wav2vec2-base-untrained",)
    assert sample.encoding.layers == (0, 3, 6, 9, 12)
    assert sample.paper_protocol.feature_spaces == ("log-mel",)
    real = config.load(profile="swpd")
    assert not real.simulated and real.encoding.layers == ()
    assert "wav2vec2-xls-r-300m" in real.encoding.speech_models
    assert {"fasttext-nl", "gpt2", "log-mel"} <= set(real.paper_protocol.feature_spaces)
    assert real.contrastive.speech_model == "wav2vec2-xls-r-300m"
    assert "gpt2" in real.feature_spaces and "gpt2" not in sample.feature_spaces


def test_the_papers_conditions_as_published_and_corrected():
    real = config.load(profile="swpd").paper_protocol
    conditions = {c.name: c for c in real.conditions}
    published = [c for c in conditions.values() if c.published_trial_length is not None]
    assert {c.feature_space for c in published} == {"gpt2", "fasttext-nl", "wav2vec2-xls-r-300m"}
    xlsr = conditions["XLS-R (as published)"]
    assert (xlsr.layer, xlsr.pooling, xlsr.pca, xlsr.pca_on_all_trials) == (
        "last-raw",
        "flatten",
        0.9,
        True,
    )
    assert xlsr.published_trial_length == 2.0
    corrected = conditions["XLS-R (PCA in each fold)"]
    assert not corrected.pca_on_all_trials and corrected.published_trial_length is None
    # the plain feature spaces come first, as conditions with the configured layer
    assert [c.name for c in real.predictors[: len(real.feature_spaces)]] == list(
        real.feature_spaces
    )
    sample = config.load().paper_protocol
    assert {c.pooling for c in sample.predictors} == {"mean", "flatten"}
    # the shuffle null: the conditions, with draws enough for Holm over their group tests
    assert real.shuffled == list(conditions)
    assert stats.holm_floor(real.n_shuffles, len(real.shuffled) * len(real.trial_lengths)) < 0.05
    everything = config.from_dict(
        {"paper_protocol": {"shuffle_feature_spaces": True}}, profile="swpd"
    ).paper_protocol
    assert everything.shuffled == [c.name for c in everything.predictors]


def test_a_condition_from_toml_round_trips(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(
        "[paper_protocol]\nfeature_spaces = []\n"
        '[[paper_protocol.conditions]]\nname = "raw"\nfeature_space = "wav2vec2-base-untrained"\n'
        'layer = "last-raw"\npooling = "flatten"\npca = 0.5\n'
    )
    cfg = config.load(path)
    (condition,) = cfg.paper_protocol.predictors
    assert condition == config.ProtocolCondition(
        "raw", "wav2vec2-base-untrained", layer="last-raw", pooling="flatten", pca=0.5
    )
    saved = tmp_path / "resolved.json"
    saved.write_text(json.dumps(cfg.to_dict()))  # pca_on_all_trials false, lengths null
    assert config.load(saved) == cfg


def test_a_toml_file_overrides_the_profile_and_round_trips_as_json(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(
        'participants = ["sub-01", "03"]\n'
        "[encoding]\nn_shifts = 100\nlayers = [0, 12]\n"
        "[contrastive]\noffset = 0\n[contrastive.training]\nepochs = 3\n"
    )
    cfg = config.load(path)
    assert cfg.participants == ("01", "03")
    assert cfg.encoding.n_shifts == 100 and cfg.encoding.layers == (0, 12)
    assert cfg.encoding.speech_models == ("wav2vec2-base-untrained",)  # the default kept
    assert cfg.contrastive.offset == 0.0 and isinstance(cfg.contrastive.offset, float)
    assert cfg.contrastive.training == config.ContrastiveTraining(epochs=3)  # typed, checked
    saved = tmp_path / "resolved.json"
    saved.write_text(json.dumps(cfg.to_dict()))
    assert config.load(saved) == cfg
    assert config.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"encodng": {}}, "unknown key 'encodng'; did you mean 'encoding'?"),
        (
            {"encoding": {"n_shift": 9}},
            "unknown key 'encoding.n_shift'; did you mean 'encoding.n_shifts'?",
        ),
        (
            {"contrastive": {"training": {"epoch": 3}}},
            "did you mean 'contrastive.training.epochs'?",
        ),
        ({"encoding": {"n_shifts": "many"}}, "encoding.n_shifts must be int, got 'many'"),
        ({"encoding": {"n_shifts": True}}, "encoding.n_shifts must be int, got True"),
        ({"participants": "01"}, "participants must be a list, got '01'"),
        ({"encoding": {"n_shifts": 0}}, "encoding: n_shifts must be from 1 to 100,000, got 0"),
        ({"contrastive": {"training": {"epochs": 0}}}, "epochs must be from 1 to 10,000, got 0"),
        # issue 25: non-finite numbers, negative seeds and rates, unbounded counts, repeats
        ({"channels": {"contamination": {"alpha": float("nan")}}}, "alpha must be a finite"),
        ({"contrastive": {"length": float("inf")}}, "contrastive.length must be a finite number"),
        ({"encoding": {"band_ratios": [1.0, float("inf")]}}, "band_ratios[1] must be a finite"),
        ({"encoding": {"seed": -1}}, "a seed must be from 0 to 2**32 - 1, got -1"),
        ({"contrastive": {"seeds": [0, 2**32]}}, "a seed must be from 0 to 2**32 - 1"),
        (
            {"contrastive": {"training": {"learning_rate": -1e-3}}},
            "learning_rate must be positive and weight_decay not negative",
        ),
        ({"encoding": {"n_shifts": 10**12}}, "n_shifts must be from 1 to 100,000, got 1,000,000"),
        ({"encoding": {"lags_ms": [-(10**8), 10**8, 1]}}, "lags must be within +-10000 ms"),
        ({"encoding": {"profile_lags_ms": [-5000, 5000, 1]}}, "at most 1000 lags, got 10001"),
        ({"contrastive": {"training": {"hidden": 10**9}}}, "hidden must be from 1 to 10,000"),
        ({"paper_protocol": {"trial_lengths": [1.0, 1e6]}}, "trial_lengths must be seconds in"),
        ({"participants": ["01", "sub-01"]}, "participants must be unique, repeated: 01"),
        (
            {"encoding": {"speech_models": ["wav2vec2-bse-untrained"]}},
            "Did you mean 'wav2vec2-base-untrained'?",
        ),
        ({"encoding": {"speech_models": ["gpt2"]}}, "'gpt2' is a text feature space"),
        ({"encoding": {"lags_ms": [0, -10, 10]}}, "lags_ms must be [start, stop, step > 0]"),
        ({"encoding": {"band_ratios": [1.0, 0.0]}}, "band_ratios must be positive numbers"),
        ({"encoding": {"n_swaps": 0}}, "n_swaps must be"),
        ({"encoding": {"pca_sensitivity": [16, -1]}}, "pca_sensitivity are numbers of components"),
        ({"encoding": {"partition_layer": -1}}, "partition_layer is a hidden-state index"),
        ({"profile": "smaple"}, "unknown profile 'smaple' (did you mean 'sample'?)"),
        (
            {"paper_protocol": {"conditions": [{"name": "x", "feature_space": "gpt2", "pca": 2}]}},
            "pca is the fraction of variance kept, in (0, 1), got 2",
        ),
        (
            {
                "paper_protocol": {
                    "conditions": [{"name": "x", "feature_space": "log-mel", "layer": "last"}]
                }
            },
            "layer must be a hidden-state index, or 'last-raw' for a speech model",
        ),
        (
            {
                "paper_protocol": {
                    "conditions": [{"name": "x", "feature_space": "gpt2", "pooling": "flatten"}]
                }
            },
            "a text model has one vector per word",
        ),
        (
            {
                "paper_protocol": {
                    "conditions": [{"name": "x", "feature_space": "gpt2", "layer": 1.5}]
                }
            },
            "paper_protocol.conditions[0].layer must be int or str, got 1.5",
        ),
        (
            {"paper_protocol": {"conditions": [{"name": "log-mel", "feature_space": "log-mel"}]}},
            "predictor labels must be unique, repeated: log-mel",
        ),
    ],
)
def test_bad_settings_are_errors_that_say_where_and_what(tmp_path, values, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        config.from_dict(values)
    # from a file, the message names the file
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(values))
    with pytest.raises(ConfigError, match=re.escape(str(path))):
        config.load(path)


def test_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no configuration file at"):
        config.load(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[encoding\n")
    with pytest.raises(ConfigError, match=r"broken.toml is not valid TOML"):
        config.load(broken)
    real = tmp_path / "real.toml"
    real.write_text('profile = "swpd"\n')
    assert config.load(real).profile == "swpd"
    with pytest.raises(ConfigError, match="is for profile 'swpd', but profile 'sample' was asked"):
        config.load(real, profile="sample")


def test_participants_must_be_in_the_dataset():
    cfg = config.from_dict({"participants": ["02", "sub-11"]})
    assert config.load().subjects(["01", "02"]) == ["01", "02"]
    assert config.from_dict({"participants": ["02"]}).subjects(["01", "02"]) == ["02"]
    with pytest.raises(ConfigError, match="participant.s. 11 not in data/x; it has 01, 02"):
        cfg.subjects(["01", "02"], "data/x")


def test_layers_beyond_the_model_are_an_error():
    cfg = config.Encoding(layers=(0, 13))  # read as a whole, the configuration refuses it
    with pytest.raises(ConfigError, match=r"wav2vec2-base-untrained has hidden states 0-12"):
        config.from_dict({"encoding": {"layers": [0, 13]}})
    assert config.load().encoding.layer_indices(13, "m") == [0, 3, 6, 9, 12]
    assert config.load(profile="swpd").encoding.layer_indices(3, "m") == [0, 1, 2]
    with pytest.raises(ConfigError, match=r"m has hidden states 0-12, not \[13\]"):
        cfg.layer_indices(13, "m")
    assert cfg.lags == list(range(-500, 501, 50))


def test_a_slice_holds_the_shared_keys_and_the_step_section_only():
    before, after = config.load(), config.from_dict({"encoding": {"n_shifts": 99}})
    for step in ("data_overview", "decoding_baseline", "paper_protocol", "contrastive"):
        assert before.slice(step) == after.slice(step)
    assert before.slice("encoding") != after.slice("encoding")
    assert set(before.slice("data_overview")) == {"profile", "participants", "channels"}


def test_each_analysis_starts_its_own_step():
    """A script sees only its step's section: it must name the step its file names."""
    scripts = pipeline.analysis_scripts(REPO)
    assert scripts
    for script in scripts:
        text = script.read_text()
        assert re.findall(r"runtime\.start\(\"(\w+)\"\)", text) == [pipeline.step_name(script)]
        assert "ctx.config" not in text and "config.load" not in text, script.name


def test_a_binary_configuration_file_is_an_error_naming_it_and_a_bom_is_read(tmp_path):
    binary = tmp_path / "settings.toml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff")
    with pytest.raises(ConfigError, match=f"{re.escape(str(binary))} is not a text file"):
        config.load(binary)
    with_bom = tmp_path / "bom.toml"
    with_bom.write_bytes('participants = ["02"]\r\n'.encode("utf-8-sig"))
    assert config.load(with_bom).participants == ("02",)
