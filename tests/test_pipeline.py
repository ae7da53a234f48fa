import shutil

import pandas as pd
import pytest
from conftest import REPO

from neurospeech import pipeline


def test_context_defaults_and_environment(monkeypatch, tmp_path):
    for var in ("NEUROSPEECH_PROFILE", "NEUROSPEECH_BIDS_ROOT", "NEUROSPEECH_PAPER_DIR"):
        monkeypatch.delenv(var, raising=False)
    ctx = pipeline.context()
    assert ctx.profile == "sample" and ctx.simulated
    assert ctx.bids_root.as_posix() == "data/sample"
    other = pipeline.Context("swpd", tmp_path / "bids", tmp_path / "paper")
    for key, value in other.to_env().items():
        monkeypatch.setenv(key, value)
    assert pipeline.context() == other
    cache = other.embeddings_cache("03").relative_to(tmp_path).as_posix()
    assert cache == "bids/derivatives/neurospeech-embeddings/sub-03"
    monkeypatch.setenv("NEUROSPEECH_PROFILE", "nope")
    with pytest.raises(ValueError, match="unknown profile 'nope'"):
        pipeline.context()


def test_missing_real_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="the real dataset is not installed"):
        pipeline.reproduce("swpd", tmp_path)


def test_data_overview_script_runs_as_a_notebook(tmp_path, tiny_dataset):
    script = REPO / "analysis" / "01_data_overview.py"
    ctx = pipeline.Context("sample", tiny_dataset, tmp_path / "paper")
    notebook = pipeline.run_script(script, ctx, tmp_path / "nb", cwd=tmp_path)
    assert notebook.exists()
    table = (ctx.tables / "data_overview.csv").read_text()
    assert table.splitlines()[0].startswith("participant,channels,shafts,words")
    assert len(table.splitlines()) == 3
    figure = (ctx.figures / "data_overview.png").read_bytes()
    # running it again gives the same bytes
    shutil.rmtree(ctx.figures)
    pipeline.run_script(script, ctx, tmp_path / "nb", cwd=tmp_path)
    assert (ctx.figures / "data_overview.png").read_bytes() == figure


def test_decoding_script_writes_tables_sounds_and_figures(tmp_path, tiny_dataset, tiny_params):
    script = REPO / "analysis" / "02_decoding_baseline.py"
    ctx = pipeline.Context("sample", tiny_dataset, tmp_path / "paper")
    pipeline.run_script(script, ctx, tmp_path / "nb", cwd=tmp_path)
    summary = pd.read_csv(ctx.tables / "decoding_summary.csv")
    assert list(summary["participant"]) == [f"sub-{s}" for s in tiny_params.subjects]
    assert (
        summary["mean_r"] > summary[["chance_p95_published", "chance_p95_decoder"]].max(axis=1)
    ).all()
    assert len(pd.read_csv(ctx.tables / "decoding_r.csv")) == len(summary) * 10 * 23
    sounds = sorted(p.name for p in ctx.audio.iterdir())
    assert sounds == [
        f"sub-{s}_{kind}_griffinlim.wav"
        for s in tiny_params.subjects
        for kind in ("original", "reconstructed")
    ]
    for name in ("decoding_r", "decoding_example"):
        assert (ctx.figures / f"{name}.svg").stat().st_size > 0
    notebook = (tmp_path / "nb" / "02_decoding_baseline.ipynb").read_text()
    assert notebook.count("<audio") == 2  # the two players of the example


def test_failing_script_names_itself(tmp_path, tiny_dataset):
    script = tmp_path / "99_broken.py"
    script.write_text("# %%\nraise ValueError('bad cell')\n")
    ctx = pipeline.Context("sample", tiny_dataset, tmp_path / "paper")
    with pytest.raises(RuntimeError, match="99_broken.py failed"):
        pipeline.run_script(script, ctx, tmp_path / "nb", cwd=tmp_path)
    assert not (tmp_path / "nb" / "99_broken.ipynb").exists()


def test_paper_protocol_script_writes_the_paper_tables_and_the_audit(tmp_path, tiny_dataset):
    script = REPO / "analysis" / "03_paper_protocol.py"
    ctx = pipeline.Context("sample", tiny_dataset, tmp_path / "paper")
    pipeline.run_script(script, ctx, tmp_path / "nb", cwd=tmp_path)
    audit = pd.read_csv(ctx.tables / "protocol_audit.csv")
    assert set(audit["feature_space"]) == {"log-mel", "planted latent (oracle)"}
    assert len(audit) == 2 * 2 * 2  # participants x trial lengths x feature spaces
    assert audit["p_shuffle"].between(0, 1).all()
    folds = pd.read_csv(ctx.tables / "protocol_folds.csv")
    assert len(folds) == 2 * 2 * 3 * 20  # ... x (2 feature spaces + the mean) x words
    recovery = pd.read_csv(ctx.tables / "protocol_recovery.csv")
    assert len(recovery) == len(audit)
    for name in ("protocol_r2_boxplots", "protocol_r2_histogram", "protocol_audit"):
        assert (ctx.figures / f"{name}.svg").stat().st_size > 0
    assert (ctx.tables / "protocol_summary.tex").read_text().count("sub-0") == 2 * 2 * 3


def test_encoding_script_writes_electrode_tables_and_figures(tmp_path, tiny_dataset):
    script = REPO / "analysis" / "04_encoding.py"
    ctx = pipeline.Context("sample", tiny_dataset, tmp_path / "paper")
    pipeline.run_script(script, ctx, tmp_path / "nb", cwd=tmp_path)
    electrodes = pd.read_csv(ctx.tables / "encoding_electrodes.csv")
    assert set(electrodes["feature_space"]) == {"log-mel", "wav2vec2-base-untrained"}
    assert {"r", "p", "q", "p_fwe", "best_lag_ms", "x", "y", "z"} <= set(electrodes.columns)
    assert len(electrodes[electrodes["feature_space"] == "log-mel"]) == 8 + 10
    assert electrodes.loc[electrodes["layer"] > 0, "p_fwe_layers"].between(0, 1).all()
    assert len(pd.read_csv(ctx.tables / "encoding_recovery.csv")) == 1
    for name in ("encoding_profiles", "encoding_map"):
        assert (ctx.figures / f"{name}.svg").stat().st_size > 0
