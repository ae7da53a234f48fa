"""Shared fixtures: a tiny simulated dataset and the parity fixture beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

# Under pytest-xdist, each worker gets its share of the cores for BLAS, OpenMP and torch
# (set before numpy or torch is imported; notebook kernels and subprocesses inherit it):
# workers whose thread pools each span every core slow one another down many times over.
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    _share = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, str(_share))

import pytest  # noqa: E402

from neurospeech import bids  # noqa: E402
from neurospeech.simulate import SimulationParams, read_truth, simulate_dataset  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NEUROSPEECH_SHARED", REPO.parent / "shared"))

#: Small enough to simulate in about a second, large enough for the statistics tested.
TINY = SimulationParams(
    n_subjects=2,
    n_words=20,
    n_channels=(8, 10),
    n_responsive=(4, 5),
    n_latent_channels=2,
    n_contaminated=0,
    seed=7,
)


@pytest.fixture(scope="session")
def tiny_params() -> SimulationParams:
    return TINY


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """A simulated dataset written once per test session (treat it as read-only)."""
    return simulate_dataset(tmp_path_factory.mktemp("tiny") / "bids", TINY, progress=False)


@pytest.fixture(scope="session")
def brief_dataset(tmp_path_factory) -> Path:
    """One participant like the tiny dataset's first (8 channels), with 8 words (about 24 s).

    For the tests that run a speech model and a grid of fits end to end.
    """
    params = SimulationParams(
        n_subjects=1,
        n_words=8,
        n_channels=(8,),
        n_responsive=(4,),
        n_latent_channels=2,
        n_contaminated=0,
        seed=TINY.seed,
    )
    return simulate_dataset(tmp_path_factory.mktemp("brief") / "bids", params, progress=False)


@pytest.fixture(scope="session")
def parity_dir() -> Path:
    """``../shared/parity``: skipped, with the reason, where it is not beside the checkout."""
    path = SHARED / "parity"
    if not (path / "swpd-fixture").is_dir():
        pytest.skip(
            f"the parity fixture is not at {path} (it sits beside the checkout in CI; set "
            f"NEUROSPEECH_SHARED to point elsewhere)"
        )
    return path


@pytest.fixture(scope="session")
def realspeech_dir() -> Path:
    """``../shared/realspeech``: one participant whose audio is real speech."""
    path = SHARED / "realspeech"
    if not (path / "swpd").is_dir():
        pytest.skip(f"the real-speech fixture is not at {path}")
    return path


@pytest.fixture(scope="session")
def sample_sub01(tmp_path_factory):
    """Participant 01 of the default sample, and its planted truth.

    The simulator draws a participant from the seed and its index only, so simulating
    it alone gives the same bytes as in the full sample.
    """
    params = SimulationParams(n_subjects=1, n_channels=16, n_responsive=8)
    root = simulate_dataset(tmp_path_factory.mktemp("sample") / "bids", params, progress=False)
    return bids.read_recording(root, "01"), read_truth(root, "01")


@pytest.fixture(scope="session")
def swpd_metadata_channels() -> list[tuple[Path, object]]:
    """The real ``channels.tsv`` of the ten SWPD participants, read as tables."""
    files = sorted((SHARED / "swpd-metadata" / "bids").glob("sub-*/ieeg/*_channels.tsv"))
    if not files:
        pytest.skip(f"the real sidecars are not under {SHARED / 'swpd-metadata'}")
    return [(path, bids.read_tsv(path)) for path in files]
