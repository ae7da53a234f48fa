"""Architecture cards: the real models' shapes, shipped, checked before a run."""

from __future__ import annotations

import logging
import re

import pytest
from transformers import GPT2Config, HubertConfig

from neurospeech import cli, config, embeddings
from neurospeech.embeddings import cards, registry


def test_every_model_of_the_registry_has_a_card_with_its_stated_layer_count():
    for space in registry.REGISTRY.values():
        n_states = cards.hidden_states(space)
        stated = re.search(r"(\d+) layers", space.description)
        if stated:  # the registry's own description, written from the model card
            assert n_states == int(stated.group(1)) + 1, space.name
        if space.hf_id is not None and space.family != "fasttext":
            assert cards.card(space)["config"], space.name
    assert cards.hidden_states("wav2vec2-xls-r-300m") == 25  # the paper's model
    assert cards.hidden_states("log-mel") == cards.hidden_states("fasttext-nl") == 1


@pytest.mark.parametrize(
    ("name", "defaults"), [("gpt2", GPT2Config), ("hubert-base", HubertConfig)]
)
def test_cards_of_base_models_equal_the_librarys_base_configurations(name, defaults):
    built = cards.config(name)
    reference = defaults()
    for key, value in cards.card(name)["config"].items():
        plain = [
            list(v) if isinstance(v, tuple) else v
            for v in (getattr(built, key), getattr(reference, key))
        ]
        assert plain == [value, value], key


def test_a_speech_twin_runs_offline_at_the_real_architecture(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = embeddings.load("whisper-base-encoder-untrained", cache_dir=tmp_path)  # empty cache
    assert loaded.model.config.d_model == 512 and loaded.model.config.encoder_layers == 6
    assert loaded.feature_extractor.feature_size == 80 and loaded.sfreq == 16000
    trained = registry.get("whisper-base-encoder")
    with pytest.raises(embeddings.ModelUnavailableError):  # the trained model needs its files
        embeddings.load(trained, cache_dir=tmp_path)


def test_a_text_twin_still_needs_its_tokenizer(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(embeddings.ModelUnavailableError, match="openai-community/gpt2"):
        embeddings.load("gpt2-untrained", cache_dir=tmp_path)


def test_a_cached_configuration_that_differs_from_the_card_is_used_and_named(tmp_path, caplog):
    GPT2Config(n_layer=2, n_embd=32, n_head=2).save_pretrained(tmp_path)
    with caplog.at_level(logging.WARNING, logger="neurospeech.embeddings.cards"):
        built = cards.config("gpt2-untrained", tmp_path)
    assert built.n_layer == 2
    assert "differs from" in caplog.text and "n_embd, n_head, n_layer" in caplog.text


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"encoding": {"layers": [0, 25]}},
            "encoding.layers: wav2vec2-xls-r-300m has hidden states 0-24",
        ),
        ({"encoding": {"partition_layer": 30}}, "partition_layer 30 is beyond"),
        ({"contrastive": {"layers": [-100]}}, "contrastive.layers: wav2vec2-xls-r-300m has hidden"),
        (
            {
                "paper_protocol": {
                    "conditions": [{"name": "deep", "feature_space": "gpt2", "layer": 13}]
                }
            },
            "paper_protocol: deep: layer: gpt2 has hidden states 0 to 12",
        ),
    ],
)
def test_a_layer_beyond_a_models_last_fails_when_the_configuration_is_read(overrides, message):
    with pytest.raises(config.ConfigError, match=re.escape(message)):
        config.load(profile="swpd", overrides=overrides)


def test_reproduce_refuses_such_a_configuration_before_any_step(tmp_path, capsys):
    path = tmp_path / "deep.toml"
    path.write_text("[encoding]\nlayers = [0, 13]\n")  # the sample's model has 12 layers
    argv = ["reproduce", "--config", str(path), "--project-root", str(tmp_path)]
    assert cli.main(argv) == 2
    assert "wav2vec2-base-untrained has hidden states 0-12, not [13]" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()  # no step ran: not even the sample was made
