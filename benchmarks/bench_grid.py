"""The encoding grid on Dask: the sample in one process and on two workers, and the full study.

1. The sample's encoding grid (``neurospeech.encoding_grid.run`` with the sample
   configuration: 3 participants, log-mel and the untrained wav2vec 2.0 base at 5 layers,
   101 lags of the profile, 10,000 shifts), from empty derivatives (features included),
   once in this process and once on a ``LocalCluster`` of two worker processes; the
   results are compared byte for byte (``--skip-sample`` leaves this part out).
2. The CPU time, on one thread, of one task of each kind the ``swpd`` profile runs per
   participant, at the real data's size (110 electrodes: the dataset's 1,103 over ten
   participants; 30,000 frames; 100 trials of 3 s; the models' real widths): the
   high-gamma targets of one reference, the log-mel fit and each model layer's fit with
   their 200 trial swaps, the fits of 64 and 128 components, one point of the lag
   profile and the three tasks of the variance partition (its reduced models, its
   acoustic comparisons, one model's comparisons). Then the time of the full study (10
   participants: 3 references, every hidden state of the five speech models, 10
   component fits, 101 lags, the partition's reduced models, acoustic comparisons and
   five models each) projected per number of workers by scheduling those costs (longest
   first, the order of the tasks that need others aside) in the grid's two rounds:
   features, then fits.

Feature extraction is projected from the sample's measured CPU time of the base model,
scaled by parameter count; on GPU workers it is much shorter. CPU times rather than wall
times make the costs hold on a machine busy with other work.
"""

from __future__ import annotations

import argparse
import heapq
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from neurospeech import config, datasets, encoding_grid, grid, highgamma, layout

#: Hidden states (layers + the input embedding), width and parameters (millions) of the
#: swpd profile's speech models, from their published configurations.
MODELS = {
    "wav2vec2-xls-r-300m": (25, 1024, 300),
    "hubert-base": (13, 768, 95),
    "whisper-base-encoder": (7, 512, 20),
    "wav2vec2-xls-r-300m-untrained": (25, 1024, 300),
    "hubert-base-untrained": (13, 768, 95),
}
BASE_PARAMETERS = 95  # wav2vec 2.0 base, the sample's model
N_PARTICIPANTS, N_FRAMES, N_ELECTRODES, N_TRIALS = 10, 30_000, 110, 100
N_NUISANCE, N_MEL = 8, 23  # widths of the nuisance and log-mel features
SFREQ = 1024
WORKERS = (1, 2, 4, 8, 16, 32, 64, 128)


def sample_grid(bids_root: Path, workers: int | None) -> tuple[float, dict]:
    """Run the sample grid from empty derivatives in a copy; return wall time and results."""
    cfg = config.load(profile="sample").encoding
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(shutil.copytree(bids_root, Path(tmp) / "bids", ignore=_derivatives))
        subjects = sorted(p.name[4:] for p in root.glob("sub-*"))
        start = time.perf_counter()
        with grid.connect(workers=workers) as client:
            fits = encoding_grid.run(root, subjects, cfg, client, progress=False)
        return time.perf_counter() - start, fits


def _derivatives(folder, names):
    return [name for name in names if name in layout.STORES]


def _flat(fits: dict) -> list[bytes]:
    out = []
    for sub in sorted(fits):
        found = fits[sub]
        out += [found.acoustic[k].tobytes() for k in sorted(found.acoustic)]
        for by_layer in found.layers.values():
            for fit in by_layer.values():
                out += [fit[k].tobytes() for k in sorted(fit)]
        out.append(found.profile.r.tobytes())
    return out


def _timed(costs: dict[str, float], name: str, function, *args, **kwargs):
    """Run ``function``, record its CPU seconds in this process as ``costs[name]``, say them."""
    start = time.process_time()
    result = function(*args, **kwargs)
    costs[name] = time.process_time() - start
    print(f"{name}: {costs[name]:.1f} CPU seconds", flush=True)
    return result


def task_costs(extraction_seconds: float) -> dict[str, float]:
    """CPU seconds of one task of each kind at the real data's size, on one thread."""
    from threadpoolctl import threadpool_limits

    cfg = config.load(profile="swpd").encoding
    rng = np.random.default_rng(0)
    latent = rng.standard_normal((N_FRAMES, 20))

    def mixed(width: int) -> np.ndarray:
        return latent @ rng.standard_normal((20, width)) + rng.standard_normal((N_FRAMES, width))

    cues = 1.0 + 3.0 * np.arange(N_TRIALS)
    targets = {
        "frames": mixed(N_ELECTRODES),
        "channels": np.array([f"E{k}" for k in range(N_ELECTRODES)]),
        "positions": np.full((N_ELECTRODES, 3), np.nan),
        "regions": np.array(["unknown"] * N_ELECTRODES),
        "cues": cues,
        "onsets": cues + rng.uniform(0.5, 1.0, N_TRIALS),
    }
    shifts = {"n_shifts": cfg.n_shifts, "seed": 0}
    costs = {}
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(1):
        files = {}
        for name, width in [("nuisance", N_NUISANCE), ("log-mel", N_MEL)] + [
            (f"{width} dims", width) for width in sorted({m[1] for m in MODELS.values()})
        ]:
            files[name] = f"{tmp}/{name}.npy"
            np.save(files[name], mixed(width)[None].astype(np.float32))
        ieeg = rng.standard_normal((N_FRAMES * SFREQ // 100, N_ELECTRODES))
        _timed(costs, "targets (high-gamma of one reference)", highgamma.extract, ieeg, SFREQ)
        fit = encoding_grid.fit
        acoustic = _timed(
            costs,
            "fit (log-mel, swaps)",
            fit,
            targets,
            files["log-mel"],
            0,
            cfg.lags,
            None,
            n_swaps=cfg.n_swaps,
            **shifts,
        )
        for width in sorted({width for _, width, _ in MODELS.values()}):
            path, chosen = files[f"{width} dims"], {"selection": acoustic, **shifts}
            _timed(
                costs,
                f"fit ({width} dims, swaps)",
                fit,
                targets,
                path,
                0,
                cfg.lags,
                cfg.n_components,
                n_swaps=cfg.n_swaps,
                **chosen,
            )
            for k in cfg.pca_sensitivity:
                if k != cfg.n_components:
                    name = f"fit ({width} dims, {k} components)"
                    _timed(costs, name, fit, targets, path, 0, cfg.lags, k, **chosen)
        _timed(
            costs, "single-lag", encoding_grid.single_lag, targets, files["log-mel"], 0, **shifts
        )
        base = _timed(
            costs,
            "partition: reduced models (nuisance; nuisance + log-mel)",
            encoding_grid.partition_base,
            targets,
            files["nuisance"],
            files["log-mel"],
            cfg.partition_lags,
            list(cfg.band_ratios),
        )
        _timed(
            costs,
            "partition: acoustic comparisons",
            encoding_grid.partition_acoustic,
            targets,
            base,
            **shifts,
        )
        width = max(width for _, width, _ in MODELS.values())  # the band is reduced by PCA
        _timed(
            costs,
            "partition: one model (2 banded fits)",
            encoding_grid.partition_model,
            targets,
            base,
            files["nuisance"],
            files["log-mel"],
            "model",
            files[f"{width} dims"],
            0,
            cfg.partition_lags,
            cfg.n_components,
            list(cfg.band_ratios),
            **shifts,
        )
    costs["features (base model, CPU)"] = extraction_seconds
    return costs


def participant_fits(costs: dict[str, float]) -> list[float]:
    """The fit round's task costs of one participant of the swpd profile."""
    cfg = config.load(profile="swpd")
    references = len(cfg.channels.references)
    tasks = [costs["targets (high-gamma of one reference)"]] * references
    tasks += [costs["fit (log-mel, swaps)"]] * references
    for n_layers, width, _ in MODELS.values():
        tasks += [costs[f"fit ({width} dims, swaps)"]] * n_layers
        tasks += [
            costs[f"fit ({width} dims, {k} components)"]
            for k in cfg.encoding.pca_sensitivity
            if k != cfg.encoding.n_components
        ]
    tasks += [costs["single-lag"]] * len(cfg.encoding.profile_lags)
    tasks += [costs["partition: reduced models (nuisance; nuisance + log-mel)"]]
    tasks += [costs["partition: acoustic comparisons"]]
    return tasks + [costs["partition: one model (2 banded fits)"]] * len(MODELS)


def makespan(costs: list[float], workers: int) -> float:
    """Finish time of the tasks on ``workers``, longest first to the least loaded."""
    loads = [0.0] * workers
    for cost in sorted(costs, reverse=True):
        heapq.heapreplace(loads, loads[0] + cost)
    return max(loads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bids-root", type=Path, default=Path(datasets.SAMPLE_PATH))
    parser.add_argument(
        "--skip-sample", action="store_true", help="leave out the sample grid's comparison"
    )
    args = parser.parse_args()
    root = datasets.make_sample(args.bids_root, use_datalad=False)

    if not args.skip_sample:
        here, fits_here = sample_grid(root, None)
        there, fits_there = sample_grid(root, 2)
        same = _flat(fits_here) == _flat(fits_there)
        print("| sample grid (features + fits) | wall time (s) | speed-up |")
        print("|---|---|---|")
        print(f"| in this process (2 threads) | {here:.1f} | 1.00x |")
        print(f"| LocalCluster, 2 worker processes | {there:.1f} | {here / there:.2f}x |")
        print(f"\nidentical results: {same}\n")

    with grid.connect() as client:  # the sample's extraction time, measured apart
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(shutil.copytree(root, Path(tmp) / "bids", ignore=_derivatives))
            task = grid.Task(
                encoding_grid.features,
                {
                    "bids_root": str(copy),
                    "subject": "01",
                    "space": "wav2vec2-base-untrained",
                    "cache_dir": f"{tmp}/features",
                },
                {"sub": "01"},
                "features",
                keep=False,
            )
            outcome = grid.run([task], client, Path(tmp) / "grid", progress=False)
    costs = task_costs(outcome.seconds[task])
    print("\n| task, real data's size, one thread | CPU seconds |")
    print("|---|---|")
    for name, seconds in costs.items():
        print(f"| {name} | {seconds:.2f} |")

    features = [
        costs["features (base model, CPU)"] * parameters / BASE_PARAMETERS
        for _ in range(N_PARTICIPANTS)
        for _, _, parameters in MODELS.values()
    ]
    fits = participant_fits(costs) * N_PARTICIPANTS
    print(
        f"\nfull study: {len(features)} feature tasks, {len(fits)} fit-round tasks "
        f"({sum(features) / 3600:.1f} h + {sum(fits) / 3600:.1f} h of one thread)"
    )
    print("\n| workers | features (h) | fits (h) | total (h) | speed-up |")
    print("|---|---|---|---|---|")
    one = makespan(features, 1) + makespan(fits, 1)
    for n in WORKERS:
        first, second = makespan(features, n), makespan(fits, n)
        total = first + second
        print(
            f"| {n} | {first / 3600:.2f} | {second / 3600:.2f} | {total / 3600:.2f} "
            f"| {one / total:.1f}x |"
        )


if __name__ == "__main__":
    main()
