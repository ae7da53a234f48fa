"""Embeddings: tiny models built from configs, saved in a Hugging Face cache layout, and
loaded offline through the same code path as the real ones."""

import dataclasses
import json
import os
import shutil
import time

import numpy as np
import pytest
import torch
from scipy import signal
from tokenizers import Tokenizer, decoders, pre_tokenizers, trainers
from tokenizers import models as tokenizer_models
from transformers import (
    BertConfig,
    BertModel,
    BertTokenizerFast,
    GPT2Config,
    GPT2Model,
    GPT2TokenizerFast,
    HubertConfig,
    HubertModel,
    Wav2Vec2Config,
    Wav2Vec2FeatureExtractor,
    Wav2Vec2Model,
    WhisperConfig,
    WhisperFeatureExtractor,
    WhisperModel,
)

from neurospeech import audio, bids, embeddings, fingerprint, highgamma
from neurospeech.embeddings import cache, extract, models, registry

COMMIT = "0123456789abcdef0123456789abcdef01234567"
WORDS = "boot klok fiets papier vogel kort koffie leraar tafel thee man peper kind".split()
TINY = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 37,
}
TINY_AUDIO = {
    **TINY,
    "conv_dim": (16,) * 7,
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 2,
}


def _snapshot(root, hf_id):
    folder = root / f"models--{hf_id.replace('/', '--')}" / "snapshots" / COMMIT
    folder.mkdir(parents=True)
    return folder


def _bpe_tokenizer():
    tok = Tokenizer(tokenizer_models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=["<|endoftext|>"],
    )
    tok.train_from_iterator([" ".join(WORDS)] * 5, trainer)
    return GPT2TokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>")


def _wordpiece_tokenizer():
    tok = Tokenizer(tokenizer_models.WordPiece(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordPieceTrainer(
        vocab_size=120, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    )
    tok.train_from_iterator([" ".join(WORDS)] * 5, trainer)
    return BertTokenizerFast(tokenizer_object=tok)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """A Hugging Face cache holding tiny stand-ins of the registry's models at COMMIT."""
    root = tmp_path_factory.mktemp("hf-cache")
    torch.manual_seed(1)
    builders = {
        "wav2vec2-xls-r-300m": (
            # XLS-R's encoder: layer norm first in each layer, one final norm after them
            Wav2Vec2Model(
                Wav2Vec2Config(feat_extract_norm="layer", do_stable_layer_norm=True, **TINY_AUDIO)
            ),
            Wav2Vec2FeatureExtractor(do_normalize=True),
        ),
        "hubert-base": (HubertModel(HubertConfig(**TINY_AUDIO)), Wav2Vec2FeatureExtractor()),
        "whisper-base-encoder": (
            WhisperModel(
                WhisperConfig(
                    d_model=32,
                    encoder_layers=2,
                    decoder_layers=1,
                    encoder_attention_heads=2,
                    decoder_attention_heads=2,
                    encoder_ffn_dim=37,
                    decoder_ffn_dim=37,
                    vocab_size=100,
                    pad_token_id=0,
                    bos_token_id=1,
                    eos_token_id=2,
                    decoder_start_token_id=1,
                )
            ),
            WhisperFeatureExtractor(),
        ),
        "gpt2": (
            GPT2Model(GPT2Config(n_embd=32, n_layer=2, n_head=2, vocab_size=300)),
            _bpe_tokenizer(),
        ),
        "bert-base-dutch": (
            BertModel(BertConfig(vocab_size=120, **TINY)),
            _wordpiece_tokenizer(),
        ),
    }
    spaces = {}
    for name, (model, companion) in builders.items():
        folder = _snapshot(root, registry.REGISTRY[name].hf_id)
        model.save_pretrained(folder)
        companion.save_pretrained(folder)
        for variant in (name, f"{name}-untrained"):
            spaces[variant] = dataclasses.replace(registry.REGISTRY[variant], revision=COMMIT)
    from gensim.models.fasttext import FastText, save_facebook_model

    fasttext = FastText(vector_size=8, min_count=1, epochs=5, seed=1, workers=1)
    sentences = [WORDS[k:] + WORDS[:k] for k in range(len(WORDS))]
    fasttext.build_vocab(sentences)
    fasttext.train(sentences, total_examples=len(sentences), epochs=5)
    save_facebook_model(
        fasttext, str(_snapshot(root, "facebook/fasttext-nl-vectors") / "model.bin")
    )
    spaces["fasttext-nl"] = dataclasses.replace(registry.REGISTRY["fasttext-nl"], revision=COMMIT)
    return root, spaces, fasttext


@pytest.fixture()
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _load(hub, name):
    root, spaces, _ = hub
    return embeddings.load(spaces[name], cache_dir=root)


def test_registry_names_kinds_and_pins():
    assert {"fasttext-nl", "gpt2", "wav2vec2-xls-r-300m", "log-mel"} <= set(registry.REGISTRY)
    for space in registry.REGISTRY.values():
        if space.revision is not None:
            assert registry.check_revision(space.revision) == space.revision
        if space.hf_id is not None and not space.untrained and space.family != "fasttext":
            assert f"{space.name}-untrained" in registry.REGISTRY
    for name in registry.PROFILES["sample"]:
        assert registry.REGISTRY[name].offline  # the sample runs without any download
    for profile in registry.PROFILES.values():
        assert set(profile) <= set(registry.REGISTRY)


def test_unknown_names_and_bad_revisions_are_clear_errors():
    with pytest.raises(ValueError, match=r"unknown feature space 'gtp2'.*'gpt2'.*Known: .*log-mel"):
        embeddings.get("gtp2")
    for revision in ("main", "v1.0", COMMIT[:12], COMMIT.upper()):
        with pytest.raises(ValueError, match="is not a commit hash"):
            embeddings.load("gpt2", revision=revision)
    with pytest.raises(ValueError, match="no verified commit .* pass revision="):
        embeddings.load("bert-base-dutch")
    with pytest.raises(ValueError, match="kind must be one of"):
        registry.FeatureSpace("x", "video", "gpt2")


@pytest.mark.parametrize("setting", ["HF_HUB_OFFLINE", "no network"])
def test_a_missing_model_fails_at_once_naming_it(tmp_path, monkeypatch, setting):
    if setting == "HF_HUB_OFFLINE":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    else:  # never let a test reach the hub: the probe says it is unreachable
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setattr(models, "hub_reachable", lambda timeout=3.0: False)
    start = time.perf_counter()
    with pytest.raises(embeddings.ModelUnavailableError) as error:
        embeddings.load("gpt2", cache_dir=tmp_path)
    assert time.perf_counter() - start < 5
    message = str(error.value)
    assert "openai-community/gpt2" in message and registry.REGISTRY["gpt2"].revision in message
    assert "nox -s models" in message
    assert (
        "HF_HUB_OFFLINE is set" if setting == "HF_HUB_OFFLINE" else "cannot be reached"
    ) in message


def test_gpt2_word_embedding_is_the_word_alone_averaged_over_tokens(hub, offline):
    loaded = _load(hub, "gpt2")
    features = extract.text_words(loaded, ["leraar", "koffie", "leraar"])
    assert features.shape == (3, 3, 32)  # embeddings + 2 layers, words, dims
    reference = GPT2Model.from_pretrained(
        hub[0] / "models--openai-community--gpt2" / "snapshots" / COMMIT
    ).eval()
    for k, word in enumerate(["leraar", "koffie"]):
        ids = loaded.tokenizer(word, add_special_tokens=False)["input_ids"]
        assert len(ids) >= 1 and loaded.tokenizer.eos_token_id not in ids
        with torch.no_grad():
            states = reference(torch.tensor([ids]), output_hidden_states=True).hidden_states
        expected = torch.stack(states)[:, 0].mean(dim=1).numpy()
        np.testing.assert_allclose(features[:, k], expected, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(features[:, 0], features[:, 2])
    with pytest.raises(ValueError, match="words \\[1\\] are empty"):
        extract.text_words(loaded, ["boot", " "])


def test_bert_averages_over_the_word_tokens_only(hub, offline):
    loaded = _load(hub, "bert-base-dutch")
    encoded = loaded.tokenizer("fiets", return_special_tokens_mask=True)
    own = np.asarray(encoded["special_tokens_mask"]) == 0
    assert not own.all()  # [CLS] and [SEP] are read but not averaged
    with torch.no_grad():
        states = loaded.model(torch.tensor([encoded["input_ids"]]), output_hidden_states=True)
    expected = torch.stack(states.hidden_states)[:, 0].numpy()[:, own].mean(axis=1)
    np.testing.assert_allclose(extract.text_words(loaded, ["fiets"])[:, 0], expected, atol=1e-6)


def test_fasttext_vectors_come_from_the_bin_file(hub, offline):
    loaded = _load(hub, "fasttext-nl")
    features = extract.text_words(loaded, ["tafel", "tafels"])  # a word, and one unseen
    assert features.shape == (1, 2, 8)
    np.testing.assert_allclose(features[0, 0], hub[2].wv["tafel"], rtol=1e-6)
    np.testing.assert_allclose(features[0, 1], hub[2].wv["tafels"], rtol=1e-6)


def test_untrained_controls_are_seeded_and_differ_from_the_trained(hub, offline):
    trained, control = _load(hub, "gpt2"), _load(hub, "gpt2-untrained")
    again = _load(hub, "gpt2-untrained")
    a, b = trained.model.state_dict(), control.model.state_dict()
    assert a.keys() == b.keys()
    assert not torch.equal(a["h.0.mlp.c_fc.weight"], b["h.0.mlp.c_fc.weight"])
    for key, value in b.items():
        assert torch.equal(value, again.model.state_dict()[key])
    default = embeddings.load("wav2vec2-base-untrained")  # offline: built from code
    assert default.model.config.hidden_size == 768 and default.revision is None


@pytest.fixture(scope="module")
def recording(tiny_dataset):
    return bids.read_recording(tiny_dataset, "01")


@pytest.mark.parametrize("name", ["wav2vec2-xls-r-300m", "hubert-base", "whisper-base-encoder"])
def test_speech_features_have_one_row_per_trial_and_per_neural_frame(hub, offline, recording, name):
    loaded = _load(hub, name)
    words = embeddings.word_level(loaded, recording, 1.0)
    assert words.shape == (3, len(recording.words), 32) and words.dtype == np.float32
    n_frames = len(highgamma.extract(recording.ieeg[:, :1], recording.sfreq))
    frames = embeddings.frame_level(loaded, recording, chunk=10.0, context=2.0)
    assert frames.shape == (3, n_frames, 32) and np.isfinite(frames).all()


def test_chunked_frames_equal_unchunked_away_from_the_edges(hub, offline, recording):
    """With attention switched off the network is local, so chunk seams must not show."""
    loaded = _load(hub, "wav2vec2-xls-r-300m")
    for layer in loaded.model.encoder.layers:
        for projection in (layer.attention.v_proj, layer.attention.out_proj):
            torch.nn.init.zeros_(projection.weight)
            torch.nn.init.zeros_(projection.bias)
    chunked = extract.speech_frames(loaded, recording, chunk=4.0, context=1.0)
    whole = extract.speech_frames(loaded, recording, chunk=1000.0, context=0.0)
    inner = slice(100, chunked.shape[1] - 100)  # 1 s from either end
    assert np.max(np.abs(chunked[:, inner] - whole[:, inner])) <= 1e-4


def _trial_windows(loaded, recording, seconds):
    """The trial windows of every word at the model's rate, normalized: written out here."""
    waveform = audio.resample(recording.audio, recording.audio_sfreq, 16000)
    cues = recording.trials()["sample"].to_numpy() / recording.sfreq - recording.audio_offset
    starts = np.round(cues * 16000).astype(int)
    windows = [waveform[s : s + int(seconds * 16000)] for s in starts]
    return np.stack([(w - w.mean()) / np.sqrt(w.var() + 1e-7) for w in windows])


def test_the_paper_layer_is_the_last_layer_before_the_final_norm(hub, offline, recording):
    """torchaudio's extract_features()[-1]: the last layer's raw output, not hidden_states[-1]."""
    loaded = _load(hub, "wav2vec2-xls-r-300m")
    assert loaded.model.config.do_stable_layer_norm
    raw = embeddings.trial_features(loaded, recording, 1.0, layer="last-raw", pooling="flatten")
    captured = []
    hook = loaded.model.encoder.layers[-1].register_forward_hook(
        lambda module, args, output: captured.append(
            output[0] if isinstance(output, tuple) else output
        )
    )
    with torch.inference_mode():
        out = loaded.model(
            torch.from_numpy(_trial_windows(loaded, recording, 1.0).astype(np.float32)),
            output_hidden_states=True,
        )
    hook.remove()
    expected = captured[0].numpy()
    assert raw.shape == (len(recording.words), expected.shape[1] * 32)
    np.testing.assert_allclose(raw, expected.reshape(len(raw), -1), atol=1e-6, rtol=0)
    # the model's output is the same after the encoder's final LayerNorm (transformers 4
    # returned that one as hidden_states[-1] too; 5 returns the raw one there: the hook
    # does not depend on which)
    normed = out.last_hidden_state.numpy()
    assert not np.allclose(normed, expected, atol=1e-3)
    with torch.no_grad():
        renormed = loaded.model.encoder.layer_norm(captured[0].clone()).numpy()
    np.testing.assert_allclose(renormed, normed, atol=1e-5)
    # the mean over time of a layer is the word-level layer, from the same cache entry
    mean = embeddings.trial_features(loaded, recording, 1.0, layer=1)
    np.testing.assert_array_equal(mean, embeddings.word_level(loaded, recording, 1.0)[1])


def test_pooling_and_layer_options_fail_clearly(hub, offline, recording):
    with pytest.raises(ValueError, match="'mean' for the text model"):
        embeddings.trial_features(_load(hub, "gpt2"), recording, 1.0, pooling="flatten")
    with pytest.raises(ValueError, match="is a layer of a speech model"):
        embeddings.trial_features("log-mel", recording, 1.0, layer="last-raw")
    flat = embeddings.trial_features("log-mel", recording, 0.1, pooling="flatten")
    assert flat.shape == (len(recording.words), 6 * 23)  # 50 ms frames every 10 ms
    np.testing.assert_allclose(
        flat.reshape(len(flat), 6, 23).mean(axis=1),
        embeddings.word_level("log-mel", recording, 0.1)[0],
        rtol=1e-6,
    )


def test_frame_alignment_puts_model_frames_at_their_audio_times(hub, offline, recording):
    loaded = _load(hub, "wav2vec2-xls-r-300m")
    offset, hop = extract.frame_timing(loaded)
    assert hop == pytest.approx(0.02) and offset == pytest.approx(199.5 / 16000)
    times = np.arange(5) * 0.02
    states = np.arange(5, dtype=np.float32)[None, :, None]
    np.testing.assert_allclose(
        extract.interpolate(times, states, np.array([-1.0, 0.01, 0.05, 9.0]))[0, :, 0],
        [0.0, 0.5, 2.5, 4.0],
    )


def test_interpolating_pieces_in_turn_equals_interpolating_them_joined():
    rng = np.random.default_rng(0)
    states = rng.standard_normal((3, 40, 4)).astype(np.float32)
    times, at = np.arange(40) * 0.02, np.linspace(-0.1, 0.9, 101)
    joined = extract.interpolate(times, states, at)
    assert joined.dtype == np.float32 and joined.shape == (3, 101, 4)
    pieces = [states[:, :7], states[:, 7:30], states[:, 30:]]
    np.testing.assert_array_equal(extract.interpolate(times, pieces, at), joined)
    expected = states[:, 10] * np.float32(0.5) + states[:, 11] * np.float32(0.5)
    np.testing.assert_allclose(joined[:, np.argmin(np.abs(at - 0.21))], expected, rtol=1e-6)


def test_audio_at_another_rate_is_resampled(hub, offline, recording):
    loaded = _load(hub, "hubert-base")
    rate = 44100
    resampled = dataclasses.replace(
        recording,
        audio=signal.resample_poly(recording.audio.astype(float), 147, 160),
        audio_sfreq=float(rate),
    )
    native = embeddings.word_level(loaded, recording, 1.0)
    other = embeddings.word_level(loaded, resampled, 1.0)
    assert other.shape == native.shape
    assert np.corrcoef(native.ravel(), other.ravel())[0, 1] > 0.99


def test_log_mel_at_word_and_frame_level(recording, tiny_params):
    words = embeddings.word_level("log-mel", recording, 1.0)
    assert words.shape == (1, tiny_params.n_words, 23)
    frames = embeddings.frame_level("log-mel", recording)
    stacked, spec, _ = __import__("neurospeech.decoding").decoding.reference_features(recording)
    assert frames.shape[1] == len(highgamma.extract(recording.ieeg[:, :1], recording.sfreq))
    # with the audio starting with the sEEG, the frames are the spectrogram's own frames
    np.testing.assert_allclose(frames[0, 20 : 20 + len(spec)], spec, rtol=1e-5)
    text = embeddings.LoadedModel(registry.REGISTRY["gpt2"], None)
    with pytest.raises(ValueError, match="text model"):
        embeddings.frame_level(text, recording)


def test_results_are_cached_by_everything_they_depend_on(tmp_path, recording, monkeypatch):
    first = embeddings.word_level("log-mel", recording, 1.0, cache_dir=tmp_path)
    files = sorted(p.suffix for p in tmp_path.glob("[!.]*"))
    assert files == [".json", ".npy"]
    monkeypatch.setattr(extract, "log_mel_trials", lambda *a, **k: pytest.fail("recomputed"))
    np.testing.assert_allclose(
        embeddings.word_level("log-mel", recording, 1.0, cache_dir=tmp_path), first, rtol=1e-3
    )
    monkeypatch.undo()
    embeddings.word_level("log-mel", recording, 2.0, cache_dir=tmp_path)  # another key
    assert len(list(tmp_path.glob("*.npy"))) == 2


def test_a_change_to_the_code_computes_the_features_again(tmp_path, recording, monkeypatch):
    first = embeddings.word_level("log-mel", recording, 1.0, cache_dir=tmp_path)
    # an edit of audio.log_mel that doubles its output changes the package's code hash
    doubled = extract.log_mel_trials(recording, 1.0) * 2
    monkeypatch.setattr(extract, "log_mel_trials", lambda *a, **k: doubled)
    np.testing.assert_array_equal(
        embeddings.word_level("log-mel", recording, 1.0, cache_dir=tmp_path), first
    )  # same code: the cache answers
    monkeypatch.setattr(fingerprint, "code_hash", lambda: "edited")
    again = embeddings.word_level("log-mel", recording, 1.0, cache_dir=tmp_path)
    np.testing.assert_allclose(again, 2 * first, rtol=1e-3)


@pytest.mark.parametrize("damage", ["truncated", "foreign", "wrong shape"])
def test_a_damaged_features_file_is_computed_again_with_a_warning_naming_it(
    tmp_path, recording, damage, caplog
):
    path = embeddings.frame_level_file("log-mel", recording, cache_dir=tmp_path)
    good = embeddings.read_layer(path, 0)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:-100])
    elif damage == "foreign":
        path.write_bytes(b"not an array at all" * 10)
    else:  # the right size and header for its description, but too few frames
        short = np.load(path)[:, :-5]
        np.save(path, short)
        sidecar = json.loads(path.with_suffix(".json").read_text())
        sidecar["bytes"], sidecar["content"]["shape"] = path.stat().st_size, list(short.shape)
        path.with_suffix(".json").write_text(json.dumps(sidecar))
    with caplog.at_level("WARNING", logger="neurospeech.store"):
        again = embeddings.frame_level_file("log-mel", recording, cache_dir=tmp_path)
    assert again == path and f"{path} is damaged" in caplog.text
    np.testing.assert_array_equal(embeddings.read_layer(path, 0), good)


def test_float16_storage_only_where_every_layer_keeps_r_0999():
    rng = np.random.default_rng(0)
    smooth = rng.standard_normal((3, 50, 8)).astype(np.float32)
    assert cache.storage_dtype(smooth) == np.float16
    tiny_range = 1000 + 1e-3 * smooth  # float16 cannot resolve these differences
    assert cache.storage_dtype(tiny_range) == np.float32
    last_bad = smooth.copy()
    last_bad[-1] = tiny_range[-1]  # every layer is checked, the last too
    assert cache.storage_dtype(last_bad) == np.float32
    zeros = np.concatenate([smooth, np.zeros((1, 50, 8), np.float32)])
    assert cache.storage_dtype(zeros) == np.float16  # constant and exact in float16
    assert cache.storage_dtype(np.full((1, 50, 8), 1000.1, np.float32)) == np.float32
    assert cache.storage_dtype(smooth * 1e5) == np.float32  # beyond float16's range


def test_a_cached_result_needs_no_model(tmp_path, recording, monkeypatch, offline):
    loaded = embeddings.load("wav2vec2-base-untrained")
    first = embeddings.word_level(loaded, recording, 1.0, cache_dir=tmp_path)
    monkeypatch.setattr(embeddings, "load", lambda *a, **k: pytest.fail("model loaded"))
    again = embeddings.word_level("wav2vec2-base-untrained", recording, 1.0, cache_dir=tmp_path)
    np.testing.assert_array_equal(again, first)


def test_a_cached_file_is_read_one_layer_at_a_time(tmp_path, recording):
    path = embeddings.frame_level_file("log-mel", recording, cache_dir=tmp_path)
    whole = embeddings.frame_level("log-mel", recording, cache_dir=tmp_path)
    np.testing.assert_array_equal(embeddings.read_layer(path, 0), whole[0])
    assert embeddings.read_layer(path, 0).dtype == np.float32
    with pytest.raises(IndexError, match=f"{path.name} holds 1 layers; there is no layer 3"):
        embeddings.read_layer(path, 3)


def test_per_trial_frames_hear_only_their_own_trial(hub, offline, recording):
    """A speech model run per trial: changing one trial's sound leaves the others alone."""
    loaded = _load(hub, "wav2vec2-xls-r-300m")
    _, cues = extract._cues(recording)
    changed = recording.audio.astype(float).copy()
    second = slice(int(cues[1] * recording.audio_sfreq), int(cues[2] * recording.audio_sfreq))
    changed[second] = np.random.default_rng(0).standard_normal(second.stop - second.start)
    louder = dataclasses.replace(recording, audio=changed)
    recording = dataclasses.replace(recording, audio=recording.audio.astype(float))
    times = extract._neural_frame_times(recording, 0.05, 0.01)
    first = (times >= cues[0] + 0.05) & (times < cues[1] - 0.05)
    for per_trial, same in ((True, True), (False, False)):
        before, after = (
            extract.speech_frames(loaded, r, per_trial=per_trial, context=4.0)
            for r in (recording, louder)
        )
        # float32 kernels differ in the last bits with the input's memory layout: 3e-5
        # per trial, 0.18 with context across trials
        assert np.allclose(before[:, first], after[:, first], atol=1e-3) is same, per_trial
    assert extract.trial_edges(np.array([0.0, 0.05, 1.0, 2.0]), 48000, 16000) == [
        0,
        16000,
        32000,
        48000,
    ]
    assert extract.trial_edges(np.array([1.0, 2.98]), 48000, 16000) == [0, 16000, 48000]


def test_causal_frames_read_no_audio_after_their_time(hub, offline, recording):
    """Past-only features: changing the sound after a time leaves every earlier frame alone."""
    loaded = _load(hub, "wav2vec2-xls-r-300m")
    cut = 4.0  # seconds on the audio clock
    changed = recording.audio.astype(float).copy()
    later = int(cut * recording.audio_sfreq)
    changed[later:] = np.random.default_rng(0).standard_normal(len(changed) - later) * 1000
    recording = dataclasses.replace(recording, audio=recording.audio.astype(float))
    louder = dataclasses.replace(recording, audio=changed)
    before, after = (extract.causal_frames(loaded, r, context=1.0) for r in (recording, louder))
    n_frames = len(highgamma.extract(recording.ieeg[:, :1], recording.sfreq))
    assert before.shape == (3, n_frames, 32)
    times = extract._neural_frame_times(recording, 0.05, 0.01)
    assert np.allclose(before[:, times < cut], after[:, times < cut], atol=1e-4)
    assert not np.allclose(before[:, times > cut + 0.1], after[:, times > cut + 0.1], atol=1e-2)
    # chunks with context see the future: the same change moves earlier frames
    ahead = [extract.speech_frames(loaded, r, context=2.0) for r in (recording, louder)]
    assert not np.allclose(ahead[0][:, times < cut], ahead[1][:, times < cut], atol=1e-2)
    cached = embeddings.frame_level(loaded, recording, causal=True, context=1.0)
    assert np.array_equal(cached, before)
    with pytest.raises(ValueError, match="pick one"):
        embeddings.frame_level(loaded, recording, causal=True, per_trial=True)


def test_frame_level_layers_cache_only_their_mean(hub, offline, recording, tmp_path):
    loaded = _load(hub, "wav2vec2-xls-r-300m")
    every = embeddings.frame_level(loaded, recording, per_trial=True)
    mean = embeddings.frame_level(
        loaded, recording, per_trial=True, layers=[-1, -2, -1], cache_dir=tmp_path
    )
    assert mean.shape == (1, *every.shape[1:])
    np.testing.assert_allclose(mean[0], every[-2:].mean(axis=0), atol=2e-3 * np.abs(every).max())
    (stored,) = tmp_path.glob("*.npy")
    assert np.load(stored).shape[0] == 1  # only the mean is on disk
    with pytest.raises(ValueError, match="at least one hidden state"):
        embeddings.frame_level(loaded, recording, layers=[])


@pytest.mark.parametrize("value", ["0", "-1", "nan", "ten"])
def test_a_bad_cache_budget_is_an_error_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv(cache.BUDGET_ENV, value)
    with pytest.raises(ValueError, match=f"NEUROSPEECH_CACHE_GIB='{value}': give"):
        cache.budget()


def test_the_cache_budget_defaults_to_10_gib_and_may_be_unlimited(monkeypatch):
    monkeypatch.delenv(cache.BUDGET_ENV, raising=False)
    assert cache.budget() == 10 * 2**30
    monkeypatch.setenv(cache.BUDGET_ENV, "0.5")
    assert cache.budget() == 2**29
    monkeypatch.setenv(cache.BUDGET_ENV, "inf")
    assert cache.budget() == np.inf


def test_trim_removes_the_least_recently_used_entries_beyond_the_budget(
    tmp_path, recording, caplog
):
    first, second = tmp_path / "sub-01", tmp_path / "sub-02"
    paths = {
        length: embeddings.frame_level_file(
            "log-mel", recording, cache_dir=folder, window=length, shift=0.01
        )
        for length, folder in ((0.05, first), (0.04, second), (0.03, first))
    }
    for age, path in zip((300, 200, 100), paths.values(), strict=True):
        os.utime(path, (time.time() - age, time.time() - age))
    one = paths[0.05].stat().st_size
    assert cache.size([first, second]) == sum(p.stat().st_size for p in paths.values())
    # a use makes an entry the newest
    embeddings.frame_level_file("log-mel", recording, cache_dir=first, window=0.05, shift=0.01)
    assert cache.trim([first, second], 2.5 * one) == [paths[0.04]]  # the oldest now
    assert not paths[0.04].exists() and not paths[0.04].with_suffix(".json").exists()
    # the entries of a kept folder stay, however old
    assert cache.trim([first, second], 0, keep=[first]) == []
    assert cache.trim([first, second], 0) == [paths[0.03], paths[0.05]]
    assert cache.size([first, second]) == 0
    # a removed entry is computed again, as a missing one (no warning of damage)
    with caplog.at_level("WARNING"):
        embeddings.frame_level_file("log-mel", recording, cache_dir=second, window=0.04, shift=0.01)
    assert paths[0.04].exists() and "damaged" not in caplog.text


def test_trim_removes_the_entries_of_other_code_first_even_in_a_kept_folder(tmp_path, recording):
    folder = tmp_path / "sub-01"
    old, new = (
        embeddings.frame_level_file(
            "log-mel", recording, cache_dir=folder, window=length, shift=0.01
        )
        for length in (0.05, 0.04)
    )
    os.utime(new, (time.time() - 300, time.time() - 300))  # the current entry is older
    described = json.loads(old.with_suffix(".json").read_text())
    old.with_suffix(".json").write_text(json.dumps({**described, "salt": "other code"}))
    one = old.stat().st_size
    assert cache.trim([folder], 1.5 * one, keep=[folder]) == [old]
    assert new.exists()
    assert cache.trim([folder], 0, keep=[folder]) == []  # this code's entries are kept


@pytest.mark.parametrize(
    ("name", "damaged"), [("hubert-base", "model.safetensors"), ("fasttext-nl", "model.bin")]
)
def test_damaged_model_files_are_an_error_naming_the_folder(hub, offline, tmp_path, name, damaged):
    root, spaces, _ = hub
    copy = shutil.copytree(root, tmp_path / "hf-cache")
    folder = copy / f"models--{spaces[name].hf_id.replace('/', '--')}" / "snapshots" / COMMIT
    (folder / damaged).write_bytes(b"\x00garbage" * 10)
    with pytest.raises(
        models.DamagedModelError, match=f"{name}: the cached files of .* in {folder}"
    ):
        embeddings.load(spaces[name], cache_dir=copy)
