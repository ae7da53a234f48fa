import json
import shutil

import pandas as pd
import pytest
from conftest import REPO

from neurospeech import pipeline, provenance


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


_STEP = """# %%
import os

import pandas as pd

from neurospeech import figures, pipeline

ctx = pipeline.start()
with open(os.environ["NEUROSPEECH_TEST_RUNS"], "a") as log:
    log.write("{name}\\n")
figures.save_table(pd.DataFrame({{"value": [{value}]}}), ctx.tables / "{name}")
"""


@pytest.fixture
def project(tmp_path, tiny_dataset, monkeypatch):
    """A checkout with two small analysis steps, and the tiny dataset installed as swpd."""
    root = tmp_path / "project"
    (root / "analysis").mkdir(parents=True)
    for name in ("first", "second"):
        (root / "analysis" / f"0{1 + (name == 'second')}_{name}.py").write_text(
            _STEP.format(name=name, value=1)
        )
    (root / "data").mkdir()
    shutil.copytree(tiny_dataset, root / "data" / "swpd")
    runs = tmp_path / "runs.txt"
    runs.touch()
    monkeypatch.setenv("NEUROSPEECH_TEST_RUNS", str(runs))
    return root, runs


def test_reproduce_skips_unchanged_steps_and_records_every_output(project, monkeypatch):
    root, runs = project
    manifest = pipeline.reproduce("swpd", root)
    assert runs.read_text().split() == ["first", "second"]
    assert set(manifest["outputs"]) == {"tables/first.csv", "tables/second.csv"}
    assert manifest["steps"]["01_first"]["outputs"] == {
        "tables/first.csv": manifest["outputs"]["tables/first.csv"]
    }
    assert "sub-01/ieeg/sub-01_task-wordProduction_events.tsv" in manifest["inputs"]
    assert manifest["profile"] == "swpd" and "numpy" in manifest["packages"]
    written = json.loads((root / "paper" / "manifest.json").read_text())
    assert written == json.loads(json.dumps(manifest))
    # nothing changed: nothing runs, and the manifest has the same bytes
    before = (root / "paper" / "manifest.json").read_bytes()
    pipeline.reproduce("swpd", root)
    assert runs.read_text().split() == ["first", "second"]
    assert (root / "paper" / "manifest.json").read_bytes() == before
    # a changed script runs again; so does a step whose output was altered
    (root / "analysis" / "02_second.py").write_text(_STEP.format(name="second", value=2))
    (root / "paper" / "tables" / "first.csv").write_text("tampered\n")
    pipeline.reproduce("swpd", root)
    assert runs.read_text().split() == ["first", "second"] * 2
    assert (root / "paper" / "tables" / "second.csv").read_text() == "value\n2\n"
    pipeline.reproduce("swpd", root, force=True)
    assert runs.read_text().split() == ["first", "second"] * 3
    # another version of a dependency: every step runs again
    versions = {**manifest["packages"], "numpy": "0.0.1"}
    monkeypatch.setattr(provenance, "package_versions", lambda: versions)
    pipeline.reproduce("swpd", root)
    assert runs.read_text().split() == ["first", "second"] * 4


def test_an_interrupted_reproduce_resumes_after_the_last_finished_step(project):
    root, runs = project
    good = (root / "analysis" / "02_second.py").read_text()
    (root / "analysis" / "02_second.py").write_text("# %%\nraise ValueError('interrupted')\n")
    with pytest.raises(RuntimeError, match="02_second.py failed"):
        pipeline.reproduce("swpd", root)
    assert not (root / "paper" / "manifest.json").exists()
    (root / "analysis" / "02_second.py").write_text(good)
    pipeline.reproduce("swpd", root)
    assert runs.read_text().split() == ["first", "second"]  # the first step ran once


def test_verify_reruns_elsewhere_and_names_the_outputs_that_changed(project):
    root, runs = project
    with pytest.raises(FileNotFoundError, match="run `nox -s reproduce` first"):
        pipeline.verify("swpd", root)
    pipeline.reproduce("swpd", root)
    comparison = pipeline.verify("swpd", root)
    assert comparison.ok and comparison.identical == ["tables/first.csv", "tables/second.csv"]
    assert runs.read_text().split() == ["first", "second"] * 2  # verify ran every step
    (root / "analysis" / "01_first.py").write_text(_STEP.format(name="first", value=3))
    comparison = pipeline.verify("swpd", root)
    assert not comparison.ok and comparison.changed == ["tables/first.csv"]
    assert "1 changed:\n  tables/first.csv" in comparison.report()
    with pytest.raises(ValueError, match="made with profile 'swpd', not 'sample'"):
        pipeline.verify("sample", root)
