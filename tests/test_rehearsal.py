import json
import os

import pandas as pd

from neurospeech import rehearsal
from neurospeech.embeddings import extract, load, standins

_STEP = """# %%
import pandas as pd

from neurospeech import bids, embeddings, runtime

ctx = runtime.start("encoding")
shapes = [
    embeddings.word_level(
        "gpt2", bids.read_recording(ctx.bids_root, sub), cache_dir=ctx.features_cache(sub)
    ).shape
    for sub in ctx.subjects()
]
ctx.save_table(pd.DataFrame(shapes, columns=["layers", "words", "dim"]), "shapes")
"""


def test_a_rehearsal_runs_the_real_profile_with_stand_ins_and_says_what_it_cost(
    tiny_dataset, tiny_params, tmp_path
):
    project = tmp_path / "project"
    (project / "analysis").mkdir(parents=True)
    (project / "analysis" / "01_encoding.py").write_text(_STEP)
    settings = tmp_path / "settings.toml"
    settings.write_text('participants = ["01"]\n')
    folder = tmp_path / "rehearsal"
    # the layout of the tiny dataset stands for the real one's sidecars
    table = rehearsal.rehearse(tiny_dataset, folder, project, config=settings)
    assert list(table["step"]) == ["simulate", "01_encoding", "total"]
    assert (table["wall_s"] > 0).all() and (table["peak_rss_bytes"] > 2**20).all()
    assert (table["disk_bytes"] > 0).all()
    assert table["wall_s"].iloc[-1] == table["wall_s"].iloc[:-1].sum()
    assert "01_encoding" in rehearsal.describe(table)
    # GPT-2 at its real architecture (12 layers of 768), offline, without its files
    shapes = pd.read_csv(folder / "paper" / "tables" / "shapes.csv")
    assert shapes.values.tolist() == [[13, tiny_params.n_words, 768]]
    manifest = json.loads((folder / "paper" / "manifest.json").read_text())
    assert manifest["profile"] == "swpd" and manifest["rehearsal"] is True
    assert "REHEARSAL" in (folder / "paper" / "build" / "index.html").read_text()
    # its features are cached under keys of their own, and the environment is restored
    cache = folder / "data" / "swpd" / "derivatives" / "neurospeech-embeddings" / "sub-01"
    described = [json.loads(p.read_text()) for p in cache.glob("*.json")]
    assert described and all('"rehearsal": true' in json.dumps(d) for d in described)
    assert standins.REHEARSAL_ENV not in os.environ
    # a second call resumes: nothing runs again, the same costs come back
    again = rehearsal.rehearse(tiny_dataset, folder, project, config=settings)
    pd.testing.assert_frame_equal(again, table)


def test_stand_ins_tokenize_every_word_and_draw_the_same_vector_for_the_same_word(monkeypatch):
    tokenizer = standins.StandInTokenizer(1000, (0, 2))
    encoded = tokenizer("één", return_special_tokens_mask=True)
    assert encoded["input_ids"][0] == 0 and encoded["input_ids"][-1] == 2
    assert encoded["special_tokens_mask"] == [1] + [0] * len("één".encode()) + [1]
    assert tokenizer("kat", add_special_tokens=False)["input_ids"] == [
        tokenizer.FIRST_ID + b for b in b"kat"
    ]
    vectors = standins.StandInVectors()
    assert vectors["kat"].shape == (300,) and (vectors["kat"] == vectors["kat"]).all()
    assert not (vectors["kat"] == vectors["hond"]).all()
    monkeypatch.setenv(standins.REHEARSAL_ENV, "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = load("fasttext-nl")
    assert extract.text_words(loaded, ["kat", "één"]).shape == (1, 2, 300)
