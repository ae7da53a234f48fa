"""The task grid on Dask: kept results, failures named, a killed worker, the same bytes anywhere."""

import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import cloudpickle
import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from neurospeech import bids, config, embeddings, encoding, encoding_grid, grid, highgamma, layout
from neurospeech.embeddings import cache
from neurospeech.simulate import SimulationParams, simulate_dataset

# spawned worker processes cannot import this test module: ship its functions by value
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def square(value, flag=None):
    if flag is not None and Path(flag).exists():
        raise ValueError(f"told to fail by {flag}")
    return {"value": np.array([value**2])}


def add(a, b):
    return {"value": a["value"] + b["value"]}


def slow(value, seconds):
    time.sleep(seconds)
    return {"value": np.array([value])}


def _grid(flag=None):
    squares = [
        grid.Task(
            square, {"value": i, "flag": flag if i == 2 else None}, {"sub": "01", "x": i}, "sq"
        )
        for i in range(4)
    ]
    total = grid.Task(add, {"a": squares[1], "b": squares[2]}, {"sub": "01"}, "sum")
    return squares, total


@pytest.fixture(scope="module")
def client():
    with grid.connect() as client:
        yield client


def test_tasks_run_once_and_are_kept(tmp_path, client):
    squares, total = _grid()
    first = grid.run([*squares, total], client, tmp_path, progress=False)
    assert [int(first[t]["value"][0]) for t in squares] == [0, 1, 4, 9]
    assert int(first[total]["value"][0]) == 5
    assert len(first.seconds) == 5 and not first.from_cache
    assert len(list((tmp_path / "sub-01").glob("sub-01_x-*_sq_*.npz"))) == 4
    again = grid.run([*squares, total], client, tmp_path, progress=False)
    assert not again.seconds and len(again.from_cache) == 5
    assert int(again[total]["value"][0]) == 5
    # another argument is another result
    changed = grid.Task(square, {"value": 5}, {"sub": "01", "x": 1}, "sq", identity={"v": 5})
    assert int(grid.run([changed], client, tmp_path, progress=False)[changed]["value"][0]) == 25


def test_a_task_hands_its_priority_to_dask(tmp_path, client, monkeypatch):
    # the encoding grid gives its longest task the highest priority: started last, one
    # participant's variance partition ran alone for half its fits (issue 24); Dask
    # starts the ready tasks of a higher priority first
    asked = {}
    submit = client.submit

    def spy(func, *args, key=None, **kwargs):
        asked[key.rsplit("-", 1)[0]] = kwargs["priority"]
        return submit(func, *args, key=key, **kwargs)

    monkeypatch.setattr(client, "submit", spy)
    tasks = [
        grid.Task(slow, {"value": i, "seconds": 0}, {"x": i}, "run", keep=False, priority=p)
        for i, p in enumerate([0, 3])
    ]
    done = grid.run(tasks, client, tmp_path, progress=False)
    assert [int(done[task]["value"][0]) for task in tasks] == [0, 1]
    assert sorted(asked.values()) == [0, 3] and len(asked) == 2
    assert all(name.startswith(f"x-{i}_run") for i, name in enumerate(sorted(asked)))
    assert [asked[name] for name in sorted(asked)] == [0, 3]


def test_a_failed_task_is_named_and_the_rest_are_kept(tmp_path, client):
    flag = tmp_path / "fail"
    flag.touch()
    squares, total = _grid(str(flag))
    with pytest.raises(grid.GridError) as info:
        grid.run([*squares, total], client, tmp_path / "kept", progress=False)
    message = str(info.value)
    assert "sub 01, x 2 (sq): ValueError: told to fail by" in message
    assert "1 task(s) that need them were not run" in message
    assert [t.description for t in info.value.failed] == ["sub 01, x 2 (sq)"]
    assert info.value.blocked == [total]
    assert len(list((tmp_path / "kept").rglob("*.npz"))) == 3  # the others are kept
    flag.unlink()
    rerun = grid.run([*squares, total], client, tmp_path / "kept", progress=False)
    assert {t.description for t in rerun.seconds} == {"sub 01, x 2 (sq)", "sub 01 (sum)"}
    assert int(rerun[total]["value"][0]) == 5


def test_an_unreadable_result_is_computed_again(tmp_path, client):
    squares, _ = _grid()
    grid.run(squares[:1], client, tmp_path, progress=False)
    (kept,) = (tmp_path / "sub-01").glob("*.npz")
    kept.write_bytes(b"not a zip file")
    again = grid.run(squares[:1], client, tmp_path, progress=False)
    assert list(again.seconds) == squares[:1] and int(again[squares[0]]["value"][0]) == 0


def test_connect_checks_its_arguments_and_joins_a_running_scheduler():
    with pytest.raises(ValueError, match="not both"):
        with grid.connect(workers=2, scheduler="tcp://localhost:8786"):
            pass
    with pytest.raises(ValueError, match="at least 1"):
        with grid.connect(workers=0):
            pass
    from distributed import LocalCluster

    with LocalCluster(processes=False, n_workers=1, dashboard_address=None) as cluster:
        with grid.connect(scheduler=cluster.scheduler_address) as client:
            assert client.submit(sum, [1, 2]).result() == 3


def _results(folder):
    """The finished results in ``folder``: not the hidden files of writes in flight."""
    return [p for p in folder.rglob("*.npz") if not p.name.startswith(".")]


def test_killing_a_worker_loses_no_finished_result(tmp_path):
    tasks = [
        grid.Task(slow, {"value": i, "seconds": 0.4}, {"sub": "01", "i": i}, "slow")
        for i in range(16)
    ]
    folder = tmp_path / "kept"
    outcome, failure = {}, []
    with grid.connect(workers=2) as client:

        def work():
            try:
                outcome["run"] = grid.run(tasks, client, folder, progress=False)
            except grid.GridError as err:  # the cluster gave up on a task: allowed here
                failure.append(err)

        runner = threading.Thread(target=work)
        runner.start()
        deadline = time.monotonic() + 120
        while len(_results(folder)) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        finished = {p: p.read_bytes() for p in _results(folder)}
        assert len(finished) >= 4
        victim = next(iter(client.run(os.getpid).values()))
        os.kill(victim, signal.SIGKILL)
        runner.join(timeout=180)
        assert not runner.is_alive()
        for path, content in finished.items():  # nothing finished was lost or rewritten
            assert path.read_bytes() == content
        rerun = grid.run(tasks, client, folder, progress=False)
    assert len(rerun.from_cache) + len(rerun.seconds) == 16
    assert not set(rerun.seconds) & {t for t in tasks if any(t.name in p.name for p in finished)}
    assert [int(rerun[t]["value"][0]) for t in tasks] == list(range(16))


def _flat(fits):
    """Every array of the encoding grid's results, in a fixed order."""
    out = []
    for sub in sorted(fits):
        found = fits[sub]
        out += [(sub, name, found.acoustic[name].tobytes()) for name in sorted(found.acoustic)]
        for space, by_layer in found.layers.items():
            for layer, fit in by_layer.items():
                out += [(sub, space, layer, name, fit[name].tobytes()) for name in sorted(fit)]
        out += [(sub, "profile", found.profile.r.tobytes(), found.profile.p_fwe.tobytes())]
        for table in (found.partition, found.layer_tests, found.components):
            out.append((sub, table.to_csv(index=False)))  # floats written to round-trip
    return out


@pytest.mark.slow
def test_encoding_grid_gives_the_same_bytes_on_two_worker_processes(brief_dataset, tmp_path):
    cfg = config.from_dict(
        {
            "encoding": {
                "layers": [0, 12],
                "n_shifts": 100,
                "lags_ms": [-100, 100, 50],
                "profile_lags_ms": [-100, 100, 100],
                "n_swaps": 3,
                "pca_sensitivity": [16],
                "partition_layer": 12,
                "partition_lags_ms": [-100, 100, 100],
                "band_ratios": [1.0],
            }
        }
    ).encoding
    here = Path(shutil.copytree(brief_dataset, tmp_path / "here"))
    there = Path(shutil.copytree(brief_dataset, tmp_path / "there"))
    with grid.connect() as client:  # one participant: its tasks keep both workers busy
        in_process = encoding_grid.run(here, ["01"], cfg, client, progress=False)
    with grid.connect(workers=2) as client:
        on_workers = encoding_grid.run(there, ["01"], cfg, client, progress=False)
    assert _flat(in_process) == _flat(on_workers)  # features computed apart, fits too
    assert set(in_process["01"].layers["wav2vec2-base-untrained"]) == {0, 12}

    # the same numbers as the analysis functions called directly, on one thread
    recording = bids.read_recording(here, "01").pick_good()
    frames = highgamma.extract(recording.ieeg, recording.sfreq, line_freq=recording.line_freq)
    mel = embeddings.frame_level("log-mel", recording, cache_dir=tmp_path / "direct")[0]
    with threadpool_limits(1):
        direct = encoding.fit(mel, frames, lags_ms=cfg.lags)
        table = encoding.significance(frames, direct, n_shifts=cfg.n_shifts, seed=cfg.seed)
        profile = encoding.lag_profile(
            mel, frames, cfg.profile_lags, n_shifts=cfg.n_shifts, seed=cfg.seed
        )
    found = in_process["01"]
    assert found.channels == recording.ch_names  # the results carry their electrodes' names
    for column in table:
        np.testing.assert_array_equal(found.acoustic[column], table[column].to_numpy())
    np.testing.assert_array_equal(found.profile.r, profile.r)
    np.testing.assert_array_equal(found.acoustic["p_fwe_lags"], profile.p_fwe)
    layers = found.layers["wav2vec2-base-untrained"]
    family = np.maximum(layers[0]["draw_max"], layers[12]["draw_max"])
    assert np.all(layers[12]["p_fwe_layers"] >= layers[12]["p_fwe"])
    np.testing.assert_array_equal(
        layers[12]["p_fwe_layers"], (1 + (family[:, None] >= layers[12]["r"]).sum(0)) / 101
    )
    # the layers are compared on the electrodes of the log-mel fit at q < 0.05
    chosen = found.acoustic["q"] < 0.05
    tests = found.layer_tests.set_index(["comparison", "layer"])
    assert tests.loc[("layer", 12), "set_r"] == pytest.approx(layers[12]["r"][chosen].mean())
    difference = tests.loc[("minus first layer", 12), "value"]
    assert difference == pytest.approx(
        layers[12]["r"][chosen].mean() - layers[0]["r"][chosen].mean()
    )
    # the PCA sensitivity reuses the layer's own fit at the configured components
    sensitivity = found.components.set_index("n_components")
    assert sensitivity.loc[16, "set_r"] == pytest.approx(tests.loc[("layer", 12), "set_r"])
    partition, space = found.partition, "wav2vec2-base-untrained"
    assert set(partition["comparison"]) == {
        "nuisance",
        "log-mel beyond nuisance",
        "wav2vec2-base-untrained beyond nuisance",
        "wav2vec2-base-untrained beyond nuisance and log-mel",
    }
    assert len(partition) == 4 * len(found.channels)
    kept = sorted(path.name for path in (here / "derivatives").rglob("*partition*.json"))
    assert [name.split("_")[:-1] for name in kept] == [
        ["sub-01", "partition-acoustic"],  # the reduced models' fits are not kept
        ["sub-01", f"space-{space}", "layer-12", "partition-model"],
    ]
    # its tasks (the reduced models once, then one per model) give the numbers of the
    # analysis functions called directly
    cache_dir = tmp_path / "direct"
    nuisance = embeddings.frame_level("nuisance", recording, cache_dir=cache_dir)[0]
    layer = embeddings.frame_level(space, recording, cache_dir=cache_dir)[12]
    options = {"lags_ms": cfg.partition_lags, "ratios": cfg.band_ratios}
    with threadpool_limits(1):
        reduced = encoding.fit_bands([nuisance, mel], frames, **options)
        full = encoding.fit_bands(
            [nuisance, mel, layer], frames, n_components=[None, None, 16], **options
        )
        direct = encoding.unique_variance(
            frames, full, reduced, n_shifts=cfg.n_shifts, seed=cfg.seed
        )
    found_rows = partition[partition["comparison"] == f"{space} beyond nuisance and log-mel"]
    for column in direct:
        np.testing.assert_array_equal(found_rows[column].to_numpy(), direct[column].to_numpy())


def test_the_slurm_recipe_asks_for_a_gpu_and_hands_its_scheduler_to_reproduce(monkeypatch):
    """The ``dask-jobqueue`` recipe of docs/cluster.md, run up to the job submission."""
    from dask_jobqueue import SLURMCluster

    from neurospeech import pipeline

    text = (Path(__file__).resolve().parents[1] / "docs" / "cluster.md").read_text()
    recipe = text.split("```python\n", 1)[1].split("```", 1)[0]
    calls, scripts = [], []
    monkeypatch.setattr(pipeline, "reproduce", lambda *a, **k: calls.append((a, k)))
    monkeypatch.setattr(
        SLURMCluster, "scale", lambda self, *a, **k: scripts.append(self.job_script())
    )
    exec(compile(recipe, "docs/cluster.md", "exec"), {})
    assert scripts and "--gres=gpu:1" in scripts[0] and "--resources GPU=1" in scripts[0]
    assert calls and calls[0][1]["scheduler"].startswith("tcp://")


def test_layer_comparisons_hold_their_level_when_the_layers_are_alike():
    """Layers drawn from their own null: differences significant at about the nominal rate."""
    rng = np.random.default_rng(0)
    hits, n_trials = np.zeros(3), 200
    for _ in range(n_trials):
        draws = rng.standard_normal((1001, 4))  # per layer: the observed r and 1000 shifts
        results = {
            layer: {
                "set_r": draws[0, k],
                "set_fold_r": draws[0, k],
                "set_null": draws[1:, k],
                "set_swap": draws[1:50, k],
            }
            for k, layer in enumerate((0, 3, 6, 9))
        }
        tests = encoding_grid.compare_layers({"model": results})
        by = tests.groupby("comparison")
        hits += [
            (by.get_group("layer")["p"] < 0.05).mean(),
            (by.get_group("minus first layer")["p"] < 0.05).mean(),
            (by.get_group("minus first layer")["p_fwe"] < 0.05).any(),
        ]
    rates = hits / n_trials
    assert 0.02 < rates[0] < 0.09 and 0.02 < rates[1] < 0.09, rates
    assert rates[2] < 0.09, rates  # family-wise across the layers


def test_a_participant_with_nothing_planted_shows_no_unique_variance(tmp_path):
    params = SimulationParams(
        n_subjects=1,
        n_words=25,
        n_channels=12,
        n_responsive=0,
        n_latent_channels=0,
        n_contaminated=0,
        n_timing_channels=0,
        seed=3,
    )
    root = simulate_dataset(tmp_path / "null", params, progress=False)
    recording = bids.read_recording(root, "01")
    paths = [
        str(embeddings.frame_level_file(space, recording, cache_dir=tmp_path / "cache"))
        for space in ("nuisance", "log-mel")
    ]
    targets = encoding_grid.targets(root, "01", config.Channels())
    base = encoding_grid.partition_base(
        targets, paths[0], paths[1], list(range(-300, 301, 100)), [0.1, 1.0, 10.0]
    )
    found = pd.DataFrame(encoding_grid.partition_acoustic(targets, base, 1000, 0))
    assert set(found["comparison"]) == {"nuisance", "log-mel beyond nuisance"}
    assert (found["q"] < 0.05).sum() == 0
    assert (found["p"] < 0.05).mean() <= 0.15


def test_a_trained_model_is_compared_with_its_untrained_twin_layer_by_layer():
    rng = np.random.default_rng(1)

    def result(r):
        return {
            "set_r": r,
            "set_fold_r": r,
            "set_null": 0.01 * rng.standard_normal(500),
            "set_swap": np.zeros(20),
        }

    layers = {
        "xlsr": {0: result(0.30), 6: result(0.45)},
        "xlsr-untrained": {0: result(0.30), 6: result(0.20)},
    }
    tests = encoding_grid.compare_layers(layers)
    twins = tests[tests["comparison"] == "trained minus untrained"].set_index("layer")
    assert list(twins["space"]) == ["xlsr", "xlsr"]  # the untrained one has no twin
    assert twins.loc[6, "value"] == pytest.approx(0.25) and twins.loc[6, "p_fwe"] < 0.01
    assert twins.loc[0, "value"] == pytest.approx(0.0) and twins.loc[0, "p"] > 0.5
    swaps = tests[tests["comparison"] == "layer"].set_index(["space", "layer"])["p_swap"]
    assert swaps.loc[("xlsr", 6)] == pytest.approx(1 / 21)


def test_encoding_batches_keep_the_features_caches_within_their_budget(tmp_path):
    """The first participant alone, then as many as fit; the others trimmed before each."""
    derivatives, size = tmp_path / "derivatives", 1000
    store = {}

    def extract(batch):  # what a batch's features tasks write: `size` bytes a participant
        for sub in batch:
            folder = layout.features(derivatives, sub)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "states.json").write_text("{}")
            np.save(folder / "states.npy", np.zeros(size - 128, np.uint8))  # 128: the header
            store[sub] = folder / "states.npy"

    batches, totals = [], []
    for batch in encoding_grid._batches(["01", "02", "03", "04", "05"], derivatives, 2.5 * size):
        extract(batch)
        batches.append(batch)
        totals.append(cache.size(layout.feature_caches(derivatives)))
    assert batches == [["01"], ["02", "03"], ["04", "05"]]
    assert max(totals) <= 2.5 * size and totals[-1] == 2 * size
    assert [sub for sub, path in store.items() if path.exists()] == ["04", "05"]
    # no limit: one batch, nothing removed
    assert list(encoding_grid._batches(["01", "02"], derivatives, np.inf)) == [["01", "02"]]
    assert store["05"].exists()
