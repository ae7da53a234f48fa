"""The real study rehearsed: its layout, its sizes, its models, before any download.

:func:`rehearse` simulates signals in the exact layout of a dataset's sidecars
(:mod:`neurospeech.simulate.like`), then runs the ``swpd`` profile on them end to end with
the untrained stand-in of every model (:mod:`neurospeech.embeddings.standins`), and
returns what each step cost (:mod:`neurospeech.usage`): wall time, peak memory and disk
written, the features cache included. Its report says REHEARSAL; none of its numbers is
a result. Everything goes under one folder: ``data/swpd`` (the simulated dataset and its
caches) and ``paper/`` (the outputs, ``build/usage.json``).
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from neurospeech import _io, pipeline, usage
from neurospeech import config as configuration
from neurospeech.config import Config, select_participants
from neurospeech.embeddings.standins import REHEARSAL_ENV


@contextmanager
def _rehearsing():
    """Set the rehearsal's environment (stand-ins, no hub) for this process and its kernels."""
    saved = {name: os.environ.get(name) for name in (REHEARSAL_ENV, "HF_HUB_OFFLINE")}
    os.environ.update({REHEARSAL_ENV: "1", "HF_HUB_OFFLINE": "1"})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def simulate_like(
    like: str | os.PathLike,
    folder: str | os.PathLike,
    seed: int = 0,
    participants: tuple[str, ...] = (),
) -> Path:
    """Simulate the dataset of the rehearsal in ``folder/data/swpd`` unless it is there.

    Parameters
    ----------
    like, folder, seed
        As for :func:`rehearse`.
    participants : tuple of str
        The participants of ``like`` to simulate (default: all).

    Returns
    -------
    bids_root : Path
    """
    from neurospeech.simulate import simulate_dataset
    from neurospeech.simulate.like import params_like, read_layouts

    bids_root = Path(folder) / "data" / "swpd"
    if not (bids_root / "dataset_description.json").exists():
        layouts = read_layouts(like)
        chosen = select_participants(participants, [layout.subject for layout in layouts], like)
        layouts = [layout for layout in layouts if layout.subject in chosen]
        simulate_dataset(bids_root, params_like(layouts, seed=seed), like=layouts)
    return bids_root


def rehearse(
    like: str | os.PathLike,
    folder: str | os.PathLike = "rehearsal",
    project_root: str | os.PathLike = ".",
    *,
    config: Config | str | os.PathLike | None = None,
    seed: int = 0,
    workers: int | None = None,
    scheduler: str | None = None,
) -> pd.DataFrame:
    """Run the ``swpd`` profile on a simulated dataset in the layout of ``like``.

    Parameters
    ----------
    like : path-like
        A BIDS folder whose sidecars give the layout (``channels.tsv``, ``events.tsv``,
        ``ieeg.json`` of each participant; no recording needed).
    folder : path-like
        Where the rehearsal's dataset, caches and outputs go (made if missing; a second
        call resumes: finished steps and cached features are kept).
    project_root : path-like
        The checkout whose ``analysis/`` scripts run.
    config : Config or path-like, optional
        Settings over the ``swpd`` profile's defaults (for example fewer participants:
        only those are simulated).
    seed : int
        Seed of the simulation.
    workers, scheduler
        Where the task grids run, as for :func:`neurospeech.pipeline.reproduce`.

    Returns
    -------
    costs : DataFrame
        One row for the simulation and one per step (``step``, ``wall_s``,
        ``peak_rss_bytes``, ``disk_bytes``: each as it last ran), and a ``total`` row
        (time and disk summed, the largest peak).
    """
    folder = Path(folder).resolve()
    if not isinstance(config, Config):
        config = configuration.load(config, profile="swpd")
    simulated = folder / "paper" / "build" / "simulate.json"
    if not simulated.exists():
        with usage.measure([folder]) as cost:
            simulate_like(like, folder, seed=seed, participants=config.participants)
        _io.write_json(simulated, cost.to_dict())
    with _rehearsing():
        pipeline.reproduce(
            "swpd",
            project_root,
            config=config,
            data_dir=folder / "data",
            paper_dir=folder / "paper",
            use_datalad=False,
            workers=workers,
            scheduler=scheduler,
        )
    return costs(folder / "paper")


def costs(paper_dir: str | os.PathLike) -> pd.DataFrame:
    """Return the costs a rehearsal recorded in ``paper_dir`` (see :func:`rehearse`)."""
    build = Path(paper_dir) / "build"
    recorded = {"simulate": json.loads((build / "simulate.json").read_text(encoding="utf-8"))}
    recorded.update(json.loads(pipeline.usage_path(paper_dir).read_text(encoding="utf-8")))
    fields = ("wall_s", "peak_rss_bytes", "disk_bytes")
    table = pd.DataFrame(
        [{"step": stem, **{k: cost[k] for k in fields}} for stem, cost in recorded.items()]
    )
    total = {
        "step": "total",
        "wall_s": table["wall_s"].sum(),
        "peak_rss_bytes": table["peak_rss_bytes"].max(),
        "disk_bytes": table["disk_bytes"].sum(),
    }
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)


def describe(table: pd.DataFrame) -> str:
    """Return the costs as lines of text: seconds, GiB of memory, GiB written."""
    lines = [f"{'step':<24} {'wall (s)':>9} {'peak (GiB)':>11} {'disk (GiB)':>11}"]
    for row in table.itertuples():
        lines.append(
            f"{row.step:<24} {row.wall_s:>9.0f} {row.peak_rss_bytes / 2**30:>11.2f} "
            f"{row.disk_bytes / 2**30:>11.2f}"
        )
    return "\n".join(lines)
