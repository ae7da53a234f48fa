"""Datasets the analyses run on, installed as DataLad datasets.

``sample`` is simulated here (see :mod:`neurospeech.simulate`): the simulator command
is recorded with ``datalad run``, so ``datalad rerun`` regenerates it and its history
says exactly how it was made.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from neurospeech.simulate import SimulationParams, simulate_dataset
from neurospeech.simulate.params import to_arguments
from neurospeech.simulate.writer import TRUTH_DIR

logger = logging.getLogger(__name__)

#: Where ``nox -s reproduce`` keeps the sample dataset, relative to the project root.
SAMPLE_PATH = Path("data") / "sample"


def _recorded_params(path: Path) -> dict | None:
    """Parameters of the simulation stored at ``path``, or None if there is none."""
    stored = path / TRUTH_DIR / "simulation_params.json"
    if not (path / "dataset_description.json").exists() or not stored.exists():
        return None
    return json.loads(stored.read_text(encoding="utf-8"))


def _on_path_of_this_python() -> dict[str, str]:
    """Environment whose PATH finds this interpreter's scripts (``neurospeech``) first."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def _datalad(args: list[str], cwd: Path | None) -> None:
    """Run a ``datalad`` command with this interpreter; raise with its output on failure."""
    env = _on_path_of_this_python()
    executable = shutil.which("datalad", path=env["PATH"])
    if executable is None:
        raise RuntimeError("the `datalad` command is not installed; `pip install datalad`")
    result = subprocess.run([executable, *args], cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(
            f"`datalad {shlex.join(args)}` failed in {cwd or Path.cwd()} (exit "
            f"{result.returncode}):\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )


def make_sample(
    path: str | os.PathLike = SAMPLE_PATH,
    params: SimulationParams | None = None,
    *,
    use_datalad: bool = True,
) -> Path:
    """Create (or bring up to date) the simulated sample dataset.

    Nothing is done if ``path`` already holds a simulation with the same parameters.
    Otherwise the dataset is (re)simulated; with ``use_datalad`` the folder is a
    DataLad dataset (text files in git, NWB files in git-annex) and the simulator
    command is recorded with ``datalad run``.

    Parameters
    ----------
    path : path-like
        Where the dataset lives.
    params : SimulationParams | None
        Simulation parameters; default: the package's sample.
    use_datalad : bool
        Record the simulation with DataLad. Without it the files are simply written.

    Returns
    -------
    path : Path
        The BIDS root of the sample.
    """
    params = SimulationParams() if params is None else params
    path = Path(path)
    recorded = _recorded_params(path)
    if recorded == params.to_dict():
        logger.info("%s already holds the sample simulated with these parameters", path)
        return path
    overwrite = recorded is not None
    if not use_datalad:
        return simulate_dataset(path, params, overwrite=overwrite)

    if not (path / ".datalad").exists():
        if path.exists() and any(path.iterdir()):
            raise FileExistsError(
                f"{path} exists, is not empty and is not a DataLad dataset; remove it or "
                f"choose another path for the sample"
            )
        _datalad(["create", "-c", "text2git", str(path)], cwd=None)
    command = ["neurospeech", "simulate", ".", *to_arguments(params), "--no-progress"]
    if overwrite:
        command.append("--overwrite")
    message = f"Simulate the neurospeech sample (seed {params.seed})"
    _datalad(["run", "-m", message, shlex.join(command)], cwd=path)
    return path
