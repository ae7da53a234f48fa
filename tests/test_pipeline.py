import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from neurospeech import config, datasets, fingerprint, layout, lock, pipeline, runtime

_VARS = ("PROFILE", "BIDS_ROOT", "PAPER_DIR", "CONFIG", "WORKERS", "SCHEDULER")


def test_context_defaults_and_environment(monkeypatch, tmp_path):
    for var in runtime.ENV.values():
        monkeypatch.delenv(var, raising=False)
    ctx = runtime.context("encoding")
    assert ctx.profile == "sample" and ctx.simulated and ctx.settings == config.load().encoding
    assert ctx.bids_root.as_posix() == "data/sample"
    assert ctx.derivatives.as_posix() == "data/sample/derivatives"
    chosen = config.load(
        profile="swpd",
        overrides={"encoding": {"n_shifts": 7}, "channels": {"reference": "car"}},
    )
    other = runtime.Context.of("encoding", tmp_path / "bids", tmp_path / "paper", chosen, workers=3)
    for key, value in other.to_env().items():
        monkeypatch.setenv(key, value)
    assert runtime.context("encoding") == other and runtime.context("encoding").workers == 3
    # the script sees the shared keys and its own section only
    assert set(json.loads(other.to_env()["NEUROSPEECH_CONFIG"])) == {
        "profile",
        "participants",
        "channels",
        "encoding",
    }
    assert runtime.context("encoding").channels.reference == "car"
    with pytest.raises(ValueError, match="starts step 'contrastive', but the run executes"):
        runtime.context("contrastive")
    cache = other.features_cache("03").relative_to(tmp_path).as_posix()
    assert cache == "bids/derivatives/neurospeech-embeddings/sub-03"
    # a plain script run: a TOML file named by NEUROSPEECH_CONFIG
    for var in runtime.ENV.values():
        monkeypatch.delenv(var, raising=False)
    settings = tmp_path / "settings.toml"
    settings.write_text("[decoding_baseline]\nseed = 4\n")
    monkeypatch.setenv("NEUROSPEECH_CONFIG", str(settings))
    assert runtime.context("decoding_baseline").settings.seed == 4
    assert runtime.context("data_overview").settings is None
    monkeypatch.setenv("NEUROSPEECH_PROFILE", "nope")
    with pytest.raises(ValueError, match="unknown profile 'nope'"):
        runtime.context("encoding")


def test_configured_participants(tmp_path, tiny_dataset):
    chosen = config.from_dict({"participants": ["02"]})
    assert runtime.Context.of("encoding", tiny_dataset, tmp_path, chosen).subjects() == ["02"]
    chosen = config.from_dict({"participants": ["07"]})
    ctx = runtime.Context.of("encoding", tiny_dataset, tmp_path, chosen)
    with pytest.raises(config.ConfigError, match="participant.s. 07 not in .*; it has 01, 02"):
        ctx.subjects()


def test_missing_real_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="the real dataset is not installed"):
        pipeline.reproduce("swpd", REPO, data_dir=tmp_path, paper_dir=tmp_path / "paper")
    assert not (tmp_path / "paper").exists()


def test_data_overview_script_runs_as_a_notebook(tmp_path, tiny_dataset):
    script = REPO / "analysis" / "01_data_overview.py"
    ctx = runtime.Context.of("data_overview", tiny_dataset, tmp_path / "paper")
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


def test_a_cell_may_run_for_hours(tmp_path, tiny_dataset, monkeypatch):
    # the real study's encoding grid is one cell of several hours (issue 24)
    import nbclient

    seen = {}

    class Stop(Exception):
        pass

    def client(notebook, **options):
        seen.update(options)
        raise Stop

    monkeypatch.setattr(nbclient, "NotebookClient", client)
    ctx = runtime.Context.of("data_overview", tiny_dataset, tmp_path / "paper")
    with pytest.raises(Stop):
        pipeline.run_script(REPO / "analysis" / "01_data_overview.py", ctx, tmp_path, tmp_path)
    assert "timeout" in seen and seen["timeout"] is None


def _gone(pid, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize(
    ("signum", "status", "said"),
    [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")],
)
def test_a_signal_mid_notebook_stops_the_kernel_and_the_command(
    signum, status, said, tmp_path, monkeypatch, capsys
):
    # a scheduler's SIGTERM (or Ctrl-C) while a step's cell ran printed nbclient's
    # AssertionError as a bug, and after the first notebook SIGTERM was back at its
    # default (issue 24)
    import threading

    from neurospeech import cli

    (tmp_path / "analysis").mkdir()
    quick = tmp_path / "analysis" / "01_quick.py"
    quick.write_text("# %%\nx = 1\n")
    slow = tmp_path / "analysis" / "02_slow.py"
    pid_file = tmp_path / "kernel.pid"
    slow.write_text(
        "# %%\nimport os, time\n"
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(300)\n"
    )
    ctx = runtime.Context.of("data_overview", tmp_path / "bids", tmp_path / "paper")
    handlers = []

    def steps(args):
        pipeline.run_script(quick, ctx, tmp_path / "nb", cwd=tmp_path)
        handlers.append(signal.getsignal(signal.SIGTERM))

        def scheduler():  # signals the command once the cell runs
            _wait_for(pid_file)
            os.kill(os.getpid(), signum)

        threading.Thread(target=scheduler, daemon=True).start()
        pipeline.run_script(slow, ctx, tmp_path / "nb", cwd=tmp_path)

    monkeypatch.setattr(cli, "_config", steps)
    # Python's own Ctrl-C handler, as in the command's fresh process (importing
    # dask_jobqueue, as test_grid does in this process, replaces it with sys.exit)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.monotonic()
    try:
        assert cli.main(["config"]) == status
    finally:
        signal.signal(signal.SIGINT, previous)
    assert time.monotonic() - started < 120
    assert capsys.readouterr().err == f"neurospeech config: {said}\n"
    assert handlers == [cli._raise_terminated]  # the command's handler survived a notebook
    assert _gone(int(pid_file.read_text()))  # the kernel was shut down
    assert not (tmp_path / "nb" / "02_slow.ipynb").exists()


def test_decoding_script_writes_tables_sounds_and_figures(tmp_path, tiny_dataset, tiny_params):
    script = REPO / "analysis" / "02_decoding_baseline.py"
    settings = config.from_dict({"decoding_baseline": {"n_shifts": 200}})  # test size
    ctx = runtime.Context.of("decoding_baseline", tiny_dataset, tmp_path / "paper", settings)
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


def test_failing_script_names_itself(tmp_path, tiny_dataset, capfd):
    script = tmp_path / "99_broken.py"
    script.write_text("# %%\nraise ValueError('bad cell')\n")
    ctx = runtime.Context.of("broken", tiny_dataset, tmp_path / "paper")
    with pytest.raises(RuntimeError, match="99_broken.py failed"):
        pipeline.run_script(script, ctx, tmp_path / "nb", cwd=tmp_path)
    assert not (tmp_path / "nb" / "99_broken.ipynb").exists()
    # the kernel talks over Unix sockets: no TCP port, no warning about one
    assert "without encryption" not in capfd.readouterr().err


def test_paper_protocol_script_writes_the_paper_tables_and_the_audit(tmp_path, tiny_dataset):
    script = REPO / "analysis" / "03_paper_protocol.py"
    # a model's states as the paper's XLS-R condition takes them
    paper_like = {
        "name": "raw, flattened",
        "feature_space": "wav2vec2-base-untrained",
        "layer": "last-raw",
        "pooling": "flatten",
        "pca": 0.9,
        "pca_on_all_trials": True,
        "published_trial_length": 2.0,
    }
    settings = {  # one participant (time): the counts below are per participant
        "participants": ["01"],
        "paper_protocol": {
            "feature_spaces": ["log-mel"],
            "conditions": [paper_like],
            "n_shuffles": 100,
            "n_permutations": 100,
        },
    }
    ctx = runtime.Context.of(
        "paper_protocol", tiny_dataset, tmp_path / "paper", config.from_dict(settings)
    )
    pipeline.run_script(script, ctx, tmp_path / "nb", cwd=tmp_path)
    audit = pd.read_csv(ctx.tables / "protocol_audit.csv")
    spaces = {"log-mel", "raw, flattened", "planted latent (oracle)"}
    assert set(audit["feature_space"]) == spaces
    assert len(audit) == 2 * 3  # trial lengths x predictors
    # the shuffle null: the condition and the oracle; the plain feature space has none
    shuffled = audit[audit["feature_space"] != "log-mel"]
    assert (shuffled["n_shuffles"] == 100).all() and shuffled["p_shuffle"].min() >= 1 / 101
    assert shuffled["p_shuffle"].between(0, 1).all()
    assert (shuffled["p_shuffle_holm"] >= shuffled["p_shuffle"]).all()
    plain = audit[audit["feature_space"] == "log-mel"]
    assert (plain["n_shuffles"] == 0).all() and plain["p_shuffle"].isna().all()
    group = pd.read_csv(ctx.tables / "protocol_shuffle_group.csv")
    assert len(group) == 2 * 2 and set(group["feature_space"]) == spaces - {"log-mel"}
    assert (group["participants"] == 1).all() and (group["p_group_holm"] >= group["p_group"]).all()
    assert (audit["word_level_p_holm"] >= audit["word_level_p_fwe"]).all()
    raw = audit[audit["feature_space"] == "raw, flattened"].set_index("trial_length")
    assert raw.loc[1.0, "dims"] == 49 * 768  # frames x the last layer's dims
    assert raw.loc[2.0, "dims"] == 99 * 768
    assert audit.loc[audit["published_run"], "feature_space"].tolist() == ["raw, flattened"]
    folds = pd.read_csv(ctx.tables / "protocol_folds.csv")
    assert len(folds) == 2 * 4 * 20  # ... x (3 predictors + the mean) x words
    recovery = pd.read_csv(ctx.tables / "protocol_recovery.csv")
    assert len(recovery) == len(audit)
    variance = pd.read_csv(ctx.tables / "protocol_variance.csv")
    assert len(variance) == 2 and (variance["ratio"] > 1).all()
    assert (variance["predicted_pcc"] - variance["observed_pcc"]).abs().max() < 0.1
    beside = pd.read_csv(ctx.tables / "protocol_published.csv")
    assert len(beside) == 4 * 9 and (beside["ours"] == "simulated").all()  # published rows
    for name in ("protocol_r2_boxplots", "protocol_r2_histogram", "protocol_audit"):
        assert (ctx.figures / f"{name}.svg").stat().st_size > 0
    assert (ctx.tables / "protocol_summary.tex").read_text().count("sub-0") == 2 * 4


def test_encoding_script_writes_electrode_tables_and_figures(tmp_path, brief_dataset):
    script = REPO / "analysis" / "04_encoding.py"
    # every channel kept: the count below is the dataset's (the check's own tests are elsewhere)
    settings = {  # every analysis at test size, one participant
        "participants": ["01"],
        "encoding": {
            "layers": [0, 12],
            "n_shifts": 200,
            "lags_ms": [-200, 200, 50],
            "profile_lags_ms": [-200, 200, 20],
            "n_swaps": 3,
            "pca_sensitivity": [16],
            "partition_layer": 12,
            "partition_lags_ms": [-100, 100, 100],
            "band_ratios": [1.0],
        },
        "channels": {"exclude_contaminated": False},
    }
    ctx = runtime.Context.of(
        "encoding", brief_dataset, tmp_path / "paper", config.from_dict(settings)
    )
    pipeline.run_script(script, ctx, tmp_path / "nb", cwd=tmp_path)
    electrodes = pd.read_csv(ctx.tables / "encoding_electrodes.csv")
    assert set(electrodes["feature_space"]) == {"log-mel", "wav2vec2-base-untrained"}
    model = electrodes[electrodes["feature_space"] == "wav2vec2-base-untrained"]
    assert set(model["layer"]) == {0, 12}
    assert {"r", "p", "q", "p_fwe", "best_lag_ms", "x", "y", "z", "region"} <= set(
        electrodes.columns
    )
    assert len(electrodes[electrodes["feature_space"] == "log-mel"]) == 8
    assert electrodes.loc[electrodes["layer"] > 0, "p_fwe_layers"].between(0, 1).all()
    assert len(pd.read_csv(ctx.tables / "encoding_recovery.csv")) == 1
    for name in ("encoding_profiles", "encoding_map", "encoding_regions", "encoding_partition"):
        assert (ctx.figures / f"{name}.svg").stat().st_size > 0
    partition = pd.read_csv(ctx.tables / "encoding_partition.csv")
    assert len(partition) == 4 * 8 and partition["planted_timing"].any()
    tests = pd.read_csv(ctx.tables / "encoding_layer_tests.csv")
    assert set(tests["comparison"]) == {"layer", "minus first layer"}
    assert set(pd.read_csv(ctx.tables / "partition_recovery.csv")["planted"]) == {
        "speech",
        "timing",
        "silent",
    }
    by_reference = pd.read_csv(ctx.tables / "encoding_reference.csv")
    assert by_reference["reference"].tolist() == ["original", "bipolar"]
    assert by_reference["electrodes"].tolist()[0] == 8


_STEP = """# %%
import os

import pandas as pd

from neurospeech import runtime

ctx = runtime.start("{section}")
with open(os.environ["NEUROSPEECH_TEST_RUNS"], "a") as log:
    log.write("{name}\\n")
value = {value} + ctx.settings.seed
ctx.save_table(pd.DataFrame({{"value": [value]}}), "{name}")
"""
_SCRIPTS = {"first": "01_decoding_baseline.py", "second": "02_encoding.py"}


def _write_step(root, name, value=1, body=None):
    script = root / "analysis" / _SCRIPTS[name]
    section = pipeline.step_name(script)
    script.write_text(body or _STEP.format(name=name, value=value, section=section))


@pytest.fixture
def project(tmp_path, tiny_dataset, monkeypatch):
    """A checkout with two small analysis steps, and the tiny dataset installed as swpd."""
    root = tmp_path / "project"
    (root / "analysis").mkdir(parents=True)
    for name in _SCRIPTS:
        _write_step(root, name)
    (root / "data").mkdir()
    # the dataset without what other tests cached in it
    shutil.copytree(
        tiny_dataset, root / "data" / "swpd", ignore=shutil.ignore_patterns(*layout.STORES)
    )
    runs = tmp_path / "runs.txt"
    runs.touch()
    monkeypatch.setenv("NEUROSPEECH_TEST_RUNS", str(runs))
    return root, runs


def test_reproduce_skips_unchanged_steps_and_records_every_output(project, monkeypatch):
    root, runs = project
    manifest = pipeline.reproduce("swpd", root)
    assert runs.read_text().split() == ["first", "second"]
    assert set(manifest["outputs"]) == {"tables/first.csv", "tables/second.csv"}
    assert manifest["steps"]["01_decoding_baseline"]["outputs"] == {
        "tables/first.csv": manifest["outputs"]["tables/first.csv"]
    }
    assert "sub-01/ieeg/sub-01_task-wordProduction_events.tsv" in manifest["inputs"]
    assert manifest["profile"] == "swpd" and "numpy" in manifest["packages"]
    assert manifest["config"] == config.load(profile="swpd").to_dict()
    assert "gpt2" in manifest["models"]  # the models the configuration uses
    written = json.loads((root / "paper" / "manifest.json").read_text())
    assert written == json.loads(json.dumps(manifest))
    assert (root / "paper" / "build" / "index.html").exists()
    # what each step cost, with the key it ran for (beside the manifest, not in it)
    costs = json.loads(pipeline.usage_path(root / "paper").read_text())
    assert list(costs) == ["01_decoding_baseline", "02_encoding"]
    for stem, cost in costs.items():
        assert cost["key"] == manifest["steps"][stem]["key"]
        assert cost["wall_s"] > 0 and cost["peak_rss_bytes"] > 2**20 and cost["disk_bytes"] > 0
    # nothing changed: nothing runs, and the manifest has the same bytes
    before = (root / "paper" / "manifest.json").read_bytes()
    recorded = pipeline.usage_path(root / "paper").read_bytes()
    pipeline.reproduce("swpd", root)
    assert runs.read_text().split() == ["first", "second"]
    assert (root / "paper" / "manifest.json").read_bytes() == before
    assert pipeline.usage_path(root / "paper").read_bytes() == recorded
    # a changed script runs again; so does a step whose output was altered
    _write_step(root, "second", value=2)
    (root / "paper" / "tables" / "first.csv").write_text("tampered\n")
    pipeline.reproduce("swpd", root)
    assert runs.read_text().split() == ["first", "second"] * 2
    assert (root / "paper" / "tables" / "second.csv").read_text() == "value\n2\n"
    pipeline.reproduce("swpd", root, force=True)
    assert runs.read_text().split() == ["first", "second"] * 3
    # another version of a dependency: every step runs again
    versions = {**manifest["packages"], "numpy": "0.0.1"}
    monkeypatch.setattr(fingerprint, "package_versions", lambda: versions)
    pipeline.reproduce("swpd", root)
    assert runs.read_text().split() == ["first", "second"] * 4


def test_a_changed_setting_reruns_only_the_step_that_reads_it(project, tmp_path):
    root, runs = project
    pipeline.reproduce("swpd", root)
    settings = tmp_path / "settings.toml"
    settings.write_text("[encoding]\nseed = 10\n")
    manifest = pipeline.reproduce(project_root=root, config=settings, profile="swpd")
    assert runs.read_text().split() == ["first", "second", "second"]
    assert (root / "paper" / "tables" / "second.csv").read_text() == "value\n11\n"
    assert manifest["config"]["encoding"]["seed"] == 10
    # verify re-runs with the manifest's configuration, or with another one, and says
    # exactly which outputs that changes
    assert pipeline.verify(project_root=root).ok
    settings.write_text("[decoding_baseline]\nseed = 5\n")
    changed = pipeline.verify(project_root=root, config=settings)
    assert changed.changed == ["tables/first.csv", "tables/second.csv"]  # encoding.seed back to 0
    settings.write_text("[encoding]\nseed = 10\n[decoding_baseline]\nseed = 5\n")
    assert pipeline.verify(project_root=root, config=settings).changed == ["tables/first.csv"]
    # a typo stops the run before any step, naming the nearest key
    settings.write_text("[encoding]\nseeds = 10\n")
    with pytest.raises(config.ConfigError, match="did you mean 'encoding.seed'"):
        pipeline.reproduce("swpd", root, config=settings)


def test_a_participant_not_in_the_dataset_stops_the_run_before_any_step(project, tmp_path):
    root, runs = project
    settings = tmp_path / "settings.toml"
    settings.write_text('participants = ["01", "12"]\n')
    with pytest.raises(config.ConfigError, match="participant.s. 12 not in .*swpd; it has 01, 02"):
        pipeline.reproduce("swpd", root, config=settings)
    assert runs.read_text() == "" and not (root / "paper" / "tables").exists()
    assert not (root / "paper" / "manifest.json").exists()


def test_an_interrupted_reproduce_resumes_after_the_last_finished_step(project):
    root, runs = project
    pipeline.reproduce("swpd", root)
    # the second step writes its table, then fails: the partial output and the old
    # manifest and report go, the first step's outputs stay
    _write_step(root, "second", value=3)
    body = (root / "analysis" / _SCRIPTS["second"]).read_text()
    _write_step(root, "second", body=body + "raise ValueError('interrupted')\n")
    with pytest.raises(RuntimeError, match="02_encoding.py failed"):
        pipeline.reproduce("swpd", root)
    paper = root / "paper"
    assert not (paper / "tables" / "second.csv").exists()
    assert (paper / "tables" / "first.csv").exists()
    assert not (paper / "manifest.json").exists() and not (paper / "build" / "index.html").exists()
    assert not (paper / "build" / "steps" / "02_encoding.json").exists()
    _write_step(root, "second", value=3)
    pipeline.reproduce("swpd", root)
    assert runs.read_text().split() == ["first", "second", "second", "second"]


def test_verify_reruns_elsewhere_and_names_the_outputs_that_changed(project):
    root, runs = project
    with pytest.raises(FileNotFoundError, match="run `nox -s reproduce` first"):
        pipeline.verify("swpd", root)
    pipeline.reproduce("swpd", root)
    comparison = pipeline.verify("swpd", root)
    assert comparison.ok and comparison.identical == ["tables/first.csv", "tables/second.csv"]
    assert runs.read_text().split() == ["first", "second"] * 2  # verify ran every step
    _write_step(root, "first", value=3)
    comparison = pipeline.verify("swpd", root)
    assert not comparison.ok and comparison.changed == ["tables/first.csv"]
    assert "1 changed:\n  tables/first.csv" in comparison.report()
    with pytest.raises(ValueError, match="made with profile 'swpd', not 'sample'"):
        pipeline.verify("sample", root)


def _git(root, *args):
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True
    ).stdout


def test_a_reproduce_recorded_with_datalad_run(project):
    root, runs = project
    with pytest.raises(RuntimeError, match="is not a DataLad dataset: make it one"):
        pipeline.reproduce_with_datalad(["--profile", "swpd"], root)
    _git(root, "init", "-q")
    (root / ".gitignore").write_text("data/\npaper/tables/\n")
    datasets.datalad(["create", "--force", "-c", "text2git", str(root)], cwd=None)
    with pytest.raises(RuntimeError, match="git ignores paper/tables in .*: remove them"):
        pipeline.reproduce_with_datalad(["--profile", "swpd"], root)
    assert runs.read_text() == ""
    (root / ".gitignore").write_text("data/\n")
    pipeline.reproduce_with_datalad(["--profile", "swpd"], root)
    assert runs.read_text().split() == ["first", "second"]
    message = _git(root, "log", "-1", "--format=%B")
    assert "Reproduce the paper: neurospeech reproduce --profile swpd" in message
    assert '"cmd": "neurospeech reproduce --profile swpd"' in message  # for datalad rerun
    saved = _git(root, "show", "--name-only", "--format=", "HEAD").split()
    assert {"paper/tables/first.csv", "paper/manifest.json", "paper/build/index.html"} <= set(saved)
    assert not any(path.startswith("analysis/") for path in saved)  # only the outputs


_WAITING = """# %%
import os
import time

import pandas as pd

from neurospeech import runtime

ctx = runtime.start("encoding")
ctx.save_table(pd.DataFrame({{"value": [ctx.settings.seed]}}), "{table}")
deadline = time.monotonic() + 120
while not os.path.exists({flag!r}) and time.monotonic() < deadline:
    time.sleep(0.1)
"""


def _reproduce_elsewhere(root):
    """Start ``reproduce("swpd", root)`` in another process (its own process group)."""
    code = "import sys; from neurospeech import pipeline; pipeline.reproduce('swpd', sys.argv[1])"
    return subprocess.Popen([sys.executable, "-c", code, str(root)], start_new_session=True)


def _wait_for(path, timeout=120):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.1)


def test_a_second_reproduce_refuses_naming_the_first_and_nothing_is_lost(project, tmp_path):
    root, runs = project
    flag = tmp_path / "go"
    _write_step(root, "second", body=_WAITING.format(table="second", flag=str(flag)))
    first = _reproduce_elsewhere(root)
    try:
        _wait_for(root / "paper" / "tables" / "second.csv")  # the first run is in its step 2
        with pytest.raises(lock.LockError, match=f"pid {first.pid} on .*neurospeech reproduce"):
            pipeline.reproduce("swpd", root)
        with pytest.raises(lock.LockError, match=f"pid {first.pid}"):
            pipeline.verify("swpd", root)
    finally:
        flag.touch()
        assert first.wait(timeout=120) == 0
    manifest = json.loads((root / "paper" / "manifest.json").read_text())
    assert set(manifest["outputs"]) == {"tables/first.csv", "tables/second.csv"}
    assert all((root / "paper" / rel).is_file() for rel in manifest["outputs"])


def test_a_step_killed_half_way_leaves_no_stale_output(project, tmp_path):
    root, runs = project
    pipeline.reproduce("swpd", root)
    _write_step(root, "second", body=_WAITING.format(table="partial", flag=str(tmp_path / "no")))
    killed = _reproduce_elsewhere(root)
    _wait_for(root / "paper" / "tables" / "partial.csv")
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    # run again with other settings: the step writes other files now
    _write_step(root, "second")
    settings = tmp_path / "settings.toml"
    settings.write_text("[encoding]\nseed = 3\n")
    manifest = pipeline.reproduce("swpd", root, config=settings)
    paper = root / "paper"
    assert not (paper / "tables" / "partial.csv").exists()
    assert set(manifest["outputs"]) == {"tables/first.csv", "tables/second.csv"}
    assert "partial" not in (paper / "build" / "index.html").read_text()
    assert (paper / "tables" / "second.csv").read_text() == "value\n4\n"


_PER_PARTICIPANT = """# %%
import pandas as pd

from neurospeech import runtime

ctx = runtime.start("encoding")
for sub in ctx.subjects():
    ctx.save_table(pd.DataFrame({"value": [1]}), f"second_sub-{sub}")
"""


def test_narrowing_the_participants_removes_the_dropped_outputs(project, tmp_path, caplog):
    root, runs = project
    tables = root / "paper" / "tables"
    _write_step(root, "second", body=_PER_PARTICIPANT)
    pipeline.reproduce("swpd", root)
    assert (tables / "second_sub-02.csv").exists()
    settings = tmp_path / "settings.toml"
    settings.write_text('participants = ["01"]\n')
    manifest = pipeline.reproduce("swpd", root, config=settings)
    assert not (tables / "second_sub-02.csv").exists()
    assert set(manifest["outputs"]) == {"tables/first.csv", "tables/second_sub-01.csv"}
    # a file that no step wrote is named, kept out of the manifest, and removed on request
    stray = tables / "stray.csv"
    stray.write_text("value\n0\n")
    with caplog.at_level("WARNING", logger="neurospeech.pipeline"):
        manifest = pipeline.reproduce("swpd", root, config=settings)
    assert "belong to no step" in caplog.text and "tables/stray.csv" in caplog.text
    assert stray.exists() and "tables/stray.csv" not in manifest["outputs"]
    pipeline.reproduce("swpd", root, config=settings, clean=True)
    assert not stray.exists()


_FEATURES = """# %%
import pandas as pd

from neurospeech import bids, embeddings, runtime

ctx = runtime.start("encoding")
means = [
    embeddings.word_level(
        "log-mel", bids.read_recording(ctx.bids_root, sub), 1.0, cache_dir=ctx.features_cache(sub)
    ).mean()
    for sub in ctx.subjects()
]
ctx.save_table(pd.DataFrame({"mean": means}), "features")
"""


def test_verify_computes_the_features_again_instead_of_trusting_the_cache(project):
    root, runs = project
    _write_step(root, "second", body=_FEATURES)
    pipeline.reproduce("swpd", root)
    # a cache entry that is intact but wrong (as one made by older code would be) ...
    cache = root / "data" / "swpd" / "derivatives" / "neurospeech-embeddings" / "sub-01"
    (path,) = cache.glob("log-mel_word_*.npy")
    np.save(path, 2 * np.load(path))
    # ... is used by reproduce, whose record now holds the wrong numbers
    pipeline.reproduce("swpd", root, force=True)
    assert pipeline.verify("swpd", root, reuse_derivatives=True).ok  # it trusts the cache
    comparison = pipeline.verify("swpd", root)  # fresh derivatives: computed again
    assert comparison.changed == ["tables/features.csv"]


def test_contrastive_script_with_one_target_space(tmp_path, tiny_dataset):
    """log-mel as the speech model leaves one target space (once crashed the figures)."""
    script = REPO / "analysis" / "05_contrastive.py"
    training = {"n_virtual": 4, "hidden": 8, "n_blocks": 1, "epochs": 2, "pool": 5}
    settings = {
        "contrastive": {
            "speech_model": "log-mel",
            "seeds": [0],
            "n_folds": 2,
            "offsets": [-0.2],
            "length": 0.5,
            "planning_window": [-0.5, 0.0],
            "calibration_words": [5],
            "n_permutations": 99,
            "n_bootstrap": 20,
            "training": training,
        }
    }
    ctx = runtime.Context.of(
        "contrastive", tiny_dataset, tmp_path / "paper", config.from_dict(settings)
    )
    pipeline.run_script(script, ctx, tmp_path / "nb", cwd=tmp_path)
    table = pd.read_csv(ctx.tables / "contrastive_retrieval.csv")
    assert set(table["target_space"]) == {"log-mel"}
    assert set(table["method"]) == {"contrastive", "ridge", "contrastive, shuffled pairs"}
    assert set(table["participant"]) == {"sub-01", "sub-02", "group"}
    assert table["p_value"].between(0, 1).all() and (table["candidates"] == 20).all()
    assert set(table["window_start"]) == {-0.2, -0.5}
    curve = pd.read_csv(ctx.tables / "contrastive_calibration.csv")
    assert set(curve["calibration_words"]) == {0, 5}
    for name in ("contrastive_topk", "contrastive_offsets", "contrastive_calibration"):
        assert (ctx.figures / f"{name}.svg").stat().st_size > 0


def test_the_features_caches_are_trimmed_to_their_budget_after_each_step(
    project, monkeypatch, tmp_path
):
    root, runs = project
    caches = layout.derivatives(root / "data" / "swpd") / layout.FEATURES
    for sub in ("01", "02"):
        (caches / f"sub-{sub}").mkdir(parents=True)
        (caches / f"sub-{sub}" / "old.json").write_text("{}")
        np.save(caches / f"sub-{sub}" / "old.npy", np.zeros(2**20, np.uint8))
    os.utime(caches / "sub-01" / "old.npy", (0, 0))  # the least recently used
    monkeypatch.setenv("NEUROSPEECH_CACHE_GIB", "bad")
    with pytest.raises(ValueError, match="NEUROSPEECH_CACHE_GIB='bad'"):
        pipeline.reproduce("swpd", root)
    assert runs.read_text() == ""  # refused before any step
    monkeypatch.setenv("NEUROSPEECH_CACHE_GIB", str(1.5 * 2**20 / 2**30))
    pipeline.reproduce("swpd", root)
    assert sorted(p.parent.name for p in caches.rglob("*.npy")) == ["sub-02"]
