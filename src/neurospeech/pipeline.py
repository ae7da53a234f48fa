"""Run the analysis scripts of ``analysis/`` and collect what they write in ``paper/``.

Each analysis is a jupytext percent script. :func:`reproduce` executes every one of
them as a notebook (so the executed notebook is kept beside the outputs), with the
run's context passed through environment variables that :func:`context` reads, so the
same script also runs as a plain ``python analysis/NN_name.py``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from neurospeech import _io

logger = logging.getLogger(__name__)

PROFILES = ("sample", "swpd")
_ENV = {
    "profile": "NEUROSPEECH_PROFILE",
    "bids_root": "NEUROSPEECH_BIDS_ROOT",
    "paper_dir": "NEUROSPEECH_PAPER_DIR",
}


@dataclass(frozen=True)
class Context:
    """Where an analysis reads its data and writes its outputs.

    Attributes
    ----------
    profile : str
        ``"sample"`` (simulated data) or ``"swpd"`` (the real dataset).
    bids_root : Path
        The BIDS dataset.
    paper_dir : Path
        ``paper/``; figures go to ``paper_dir / "figures"``, tables to ``paper_dir / "tables"``,
        sound files to ``paper_dir / "audio"``.
    """

    profile: str
    bids_root: Path
    paper_dir: Path

    @property
    def figures(self) -> Path:
        """Folder of the generated figures."""
        return self.paper_dir / "figures"

    @property
    def tables(self) -> Path:
        """Folder of the generated tables."""
        return self.paper_dir / "tables"

    @property
    def audio(self) -> Path:
        """Folder of the generated sound files."""
        return self.paper_dir / "audio"

    def embeddings_cache(self, subject: str) -> Path:
        """Folder of the participant's cached features, under the dataset's ``derivatives/``.

        Shared by the analyses, so a model's features are computed once per participant.
        """
        from neurospeech.embeddings import cache

        return self.bids_root / "derivatives" / cache.FOLDER / f"sub-{subject}"

    @property
    def simulated(self) -> bool:
        """Whether the data are the simulated sample rather than real recordings."""
        return self.profile == "sample"

    def to_env(self) -> dict[str, str]:
        """Return the environment variables that :func:`context` reads back."""
        return {var: str(getattr(self, key)) for key, var in _ENV.items()}


def _check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    return profile


def context() -> Context:
    """Return the context of the current run, from the environment (default: the sample)."""
    profile = _check_profile(os.environ.get(_ENV["profile"], "sample"))
    default_root = Path("data") / profile
    return Context(
        profile=profile,
        bids_root=Path(os.environ.get(_ENV["bids_root"], default_root)),
        paper_dir=Path(os.environ.get(_ENV["paper_dir"], "paper")),
    )


def start() -> Context:
    """Begin an analysis script: return the run's context, with the figure style applied.

    Prints the profile and the data folder, and says so when the data are simulated.
    """
    from neurospeech import figures

    ctx = context()
    figures.apply_style()
    print(f"profile: {ctx.profile}; data: {ctx.bids_root}")
    if ctx.simulated:
        print("These are SIMULATED data (neurospeech.simulate), not recordings.")
    return ctx


def analysis_scripts(project_root: Path) -> list[Path]:
    """List the analysis scripts in the order they run (their file names sort them)."""
    return sorted((project_root / "analysis").glob("[0-9][0-9]_*.py"))


def run_script(script: Path, ctx: Context, notebook_dir: Path, cwd: Path) -> Path:
    """Execute one percent script as a notebook and save the executed notebook.

    Raises
    ------
    RuntimeError
        If a cell fails; the message names the script and the error.
    """
    import jupytext
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = jupytext.read(script)
    env_before = os.environ.copy()
    os.environ.update(ctx.to_env())
    try:
        NotebookClient(
            notebook,
            kernel_name="python3",
            timeout=1800,
            resources={"metadata": {"path": str(cwd)}},
        ).execute()
    except CellExecutionError as err:
        raise RuntimeError(f"{script} failed:\n{err}") from err
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    out = notebook_dir / f"{script.stem}.ipynb"
    with _io.atomic_path(out) as tmp:
        nbformat.write(notebook, tmp)
    return out


def reproduce(profile: str = "sample", project_root: str | os.PathLike = ".") -> list[Path]:
    """Regenerate every figure and table of the paper.

    Parameters
    ----------
    profile : str
        ``"sample"``: the simulated sample, created under ``data/sample`` if missing
        (offline). ``"swpd"``: the real dataset under ``data/swpd``.
    project_root : path-like
        The project checkout (holds ``analysis/`` and ``paper/``).

    Returns
    -------
    notebooks : list of Path
        The executed notebooks, under ``paper/build/notebooks``.
    """
    from neurospeech.datasets import SAMPLE_PATH, make_sample

    root = Path(project_root).resolve()
    _check_profile(profile)
    if profile == "sample":
        bids_root = make_sample(root / SAMPLE_PATH)
    else:
        bids_root = root / "data" / "swpd"
        if not (bids_root / "dataset_description.json").exists():
            raise FileNotFoundError(
                f"the real dataset is not installed at {bids_root}; install "
                f"SingleWordProductionDutch-iBIDS there (see data/README.md)"
            )
    ctx = Context(profile=profile, bids_root=bids_root, paper_dir=root / "paper")
    scripts = analysis_scripts(root)
    if not scripts:
        raise FileNotFoundError(f"no analysis scripts (NN_name.py) in {root / 'analysis'}")
    notebooks = []
    for script in tqdm(scripts, desc="analyses"):
        logger.info("running %s", script.name)
        notebooks.append(run_script(script, ctx, root / "paper" / "build" / "notebooks", root))
    return notebooks
