"""The encoding grid on Dask: the sample in one process and on two workers, and the full study.

1. The sample's encoding grid (``neurospeech.encoding_grid.run`` with the sample
   configuration: 3 participants, log-mel and the untrained wav2vec 2.0 base at 5 layers,
   101 lags of the profile, 10,000 shifts), from empty derivatives (features included),
   once in this process and once on a ``LocalCluster`` of two worker processes; the
   results are compared byte for byte.
2. The cost of one task of each kind at the real data's size (110 electrodes, 300 s:
   30,000 frames; 1,024-dimensional layers), then the time of the full study (10
   participants, the ``swpd`` profile's speech models at every layer, the lag profile)
   projected per number of workers by scheduling those costs (longest first) in the
   grid's two rounds: features, then fits.

Feature extraction is projected from the sample's measured CPU time of the base model,
scaled by parameter count; on GPU workers it is much shorter.
"""

from __future__ import annotations

import argparse
import heapq
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from neurospeech import config, datasets, encoding_grid, grid, layout

#: Hidden states (layers + the input embedding) and parameters (millions) of the swpd
#: profile's speech models, from their published configurations.
MODELS = {
    "wav2vec2-xls-r-300m": (25, 300),
    "hubert-base": (13, 95),
    "whisper-base-encoder": (7, 20),
    "wav2vec2-xls-r-300m-untrained": (25, 300),
    "hubert-base-untrained": (13, 95),
}
BASE_PARAMETERS = 95  # wav2vec 2.0 base, the sample's model
N_PARTICIPANTS, N_FRAMES, N_ELECTRODES, DIMS = 10, 30_000, 110, 1024
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


def task_costs(extraction_seconds: float) -> dict[str, float]:
    """Seconds of one task of each kind at the real data's size, on one thread."""
    from threadpoolctl import threadpool_limits

    cfg = config.load(profile="swpd").encoding
    rng = np.random.default_rng(0)
    latent = rng.standard_normal((N_FRAMES, 20))
    targets = latent @ rng.standard_normal((20, N_ELECTRODES)) + rng.standard_normal(
        (N_FRAMES, N_ELECTRODES)
    )
    costs = {}
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(1):
        layer = latent @ rng.standard_normal((20, DIMS)) + rng.standard_normal((N_FRAMES, DIMS))
        mel = latent @ rng.standard_normal((20, 23)) + rng.standard_normal((N_FRAMES, 23))
        for name, values in (("layer", layer), ("mel", mel)):
            np.save(Path(tmp) / f"{name}.npy", values[None].astype(np.float32))
        shifts = {"n_shifts": cfg.n_shifts, "seed": 0}
        start = time.perf_counter()
        encoding_grid.fit(targets, f"{tmp}/layer.npy", 0, cfg.lags, cfg.n_components, **shifts)
        costs["fit (model layer)"] = time.perf_counter() - start
        start = time.perf_counter()
        encoding_grid.fit(targets, f"{tmp}/mel.npy", 0, cfg.lags, None, **shifts)
        costs["fit (log-mel)"] = time.perf_counter() - start
        start = time.perf_counter()
        encoding_grid.single_lag(targets, f"{tmp}/mel.npy", 0, **shifts)
        costs["single-lag"] = time.perf_counter() - start
    costs["features (base model, CPU)"] = extraction_seconds
    return costs


def makespan(costs: list[float], workers: int) -> float:
    """Finish time of the tasks on ``workers``, longest first to the least loaded."""
    loads = [0.0] * workers
    for cost in sorted(costs, reverse=True):
        heapq.heapreplace(loads, loads[0] + cost)
    return max(loads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bids-root", type=Path, default=Path(datasets.SAMPLE_PATH))
    args = parser.parse_args()
    root = datasets.make_sample(args.bids_root, use_datalad=False)

    here, fits_here = sample_grid(root, None)
    there, fits_there = sample_grid(root, 2)
    same = _flat(fits_here) == _flat(fits_there)
    print("| sample grid (features + fits) | wall time (s) | speed-up |")
    print("|---|---|---|")
    print(f"| in this process (2 threads) | {here:.1f} | 1.00x |")
    print(f"| LocalCluster, 2 worker processes | {there:.1f} | {here / there:.2f}x |")
    print(f"\nidentical results: {same}")

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
    print("\n| task, real data's size, one thread | seconds |")
    print("|---|---|")
    for name, seconds in costs.items():
        print(f"| {name} | {seconds:.2f} |")

    cfg = config.load(profile="swpd").encoding
    features = [
        costs["features (base model, CPU)"] * parameters / BASE_PARAMETERS
        for _ in range(N_PARTICIPANTS)
        for _, parameters in MODELS.values()
    ]
    fits = [
        cost
        for _ in range(N_PARTICIPANTS)
        for cost in (
            [costs["fit (log-mel)"]]
            + [costs["fit (model layer)"]] * sum(n for n, _ in MODELS.values())
            + [costs["single-lag"]] * len(cfg.profile_lags)
        )
    ]
    print(
        f"\nfull study: {len(features)} feature tasks, {len(fits)} fit tasks "
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
