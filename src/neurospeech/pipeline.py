"""Run the analysis scripts of ``analysis/`` and collect what they write in ``paper/``.

Each analysis is a jupytext percent script. :func:`reproduce` executes every one of
them as a notebook (so the executed notebook is kept beside the outputs), with the
run's context passed through environment variables that :func:`context` reads, so the
same script also runs as a plain ``python analysis/NN_name.py``.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from neurospeech import _io
from neurospeech import config as configuration
from neurospeech.config import Config

logger = logging.getLogger(__name__)

_ENV = {
    "profile": "NEUROSPEECH_PROFILE",
    "bids_root": "NEUROSPEECH_BIDS_ROOT",
    "paper_dir": "NEUROSPEECH_PAPER_DIR",
    "config": "NEUROSPEECH_CONFIG",
    "workers": "NEUROSPEECH_WORKERS",
    "scheduler": "NEUROSPEECH_SCHEDULER",
}


@dataclass(frozen=True)
class Context:
    """Where an analysis reads its data and writes its outputs, and its configuration.

    Attributes
    ----------
    bids_root : Path
        The BIDS dataset.
    paper_dir : Path
        ``paper/``; figures go to ``paper_dir / "figures"``, tables to ``paper_dir / "tables"``,
        sound files to ``paper_dir / "audio"``.
    config : neurospeech.config.Config
        The run's validated configuration (its profile: ``"sample"``, simulated data, or
        ``"swpd"``, the real dataset).
    workers : int, optional
        Run task grids on this many local worker processes (:func:`neurospeech.grid.connect`).
    scheduler : str, optional
        Run task grids on the cluster of this Dask scheduler (address or scheduler file).
        Neither: in this process. The executor never changes a result, so it is not part
        of the configuration.
    """

    bids_root: Path
    paper_dir: Path
    config: Config = field(default_factory=Config)
    workers: int | None = None
    scheduler: str | None = None

    @property
    def profile(self) -> str:
        """The configuration's profile."""
        return self.config.profile

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
        return self.config.simulated

    def subjects(self) -> list[str]:
        """Return the configured participants of the dataset (all of them by default).

        Raises
        ------
        neurospeech.config.ConfigError
            If a configured participant is not in the dataset.
        """
        from neurospeech import bids

        return self.config.subjects(bids.subjects(self.bids_root), self.bids_root)

    def executor(self):
        """Return a context manager giving the ``distributed.Client`` of the run's task grids."""
        from neurospeech import grid

        return grid.connect(workers=self.workers, scheduler=self.scheduler)

    def to_env(self) -> dict[str, str]:
        """Return the environment variables that :func:`context` reads back.

        The configuration travels as JSON in ``NEUROSPEECH_CONFIG``.
        """
        env = {
            _ENV["profile"]: self.profile,
            _ENV["bids_root"]: str(self.bids_root),
            _ENV["paper_dir"]: str(self.paper_dir),
            _ENV["config"]: json.dumps(self.config.to_dict(), sort_keys=True),
        }
        if self.workers is not None:
            env[_ENV["workers"]] = str(self.workers)
        if self.scheduler is not None:
            env[_ENV["scheduler"]] = self.scheduler
        return env


def context() -> Context:
    """Return the context of the current run, from the environment.

    ``NEUROSPEECH_PROFILE`` (default ``sample``), ``NEUROSPEECH_BIDS_ROOT`` (default
    ``data/<profile>``), ``NEUROSPEECH_PAPER_DIR`` (default ``paper``) and
    ``NEUROSPEECH_CONFIG``: a TOML file of settings, or the configuration itself as JSON
    (how :func:`reproduce` hands it to the scripts); ``NEUROSPEECH_WORKERS`` and
    ``NEUROSPEECH_SCHEDULER``: the executor of task grids (default: this process).
    """
    given = os.environ.get(_ENV["config"])
    profile = os.environ.get(_ENV["profile"])
    if given and given.lstrip().startswith("{"):
        cfg = configuration.from_dict(json.loads(given), profile=profile, where=_ENV["config"])
    else:
        cfg = configuration.load(given or None, profile=profile)
    workers = os.environ.get(_ENV["workers"])
    return Context(
        bids_root=Path(os.environ.get(_ENV["bids_root"], Path("data") / cfg.profile)),
        paper_dir=Path(os.environ.get(_ENV["paper_dir"], "paper")),
        config=cfg,
        workers=int(workers) if workers else None,
        scheduler=os.environ.get(_ENV["scheduler"]) or None,
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


def _snapshot(paper_dir: Path) -> dict[Path, tuple[int, int]]:
    """Size and modification time of every output file under ``paper_dir``."""
    from neurospeech.provenance import output_files

    return {
        path: (path.stat().st_size, path.stat().st_mtime_ns) for path in output_files(paper_dir)
    }


def _intact(paper_dir: Path, outputs: dict[str, str]) -> bool:
    """Whether every recorded output is there with its recorded bytes."""
    return all(
        (paper_dir / rel).is_file() and _io.sha256(paper_dir / rel) == sha
        for rel, sha in outputs.items()
    )


def _dataset(root: Path, profile: str, data_dir: Path | None, use_datalad: bool) -> Path:
    """Return the BIDS root of the profile: the sample made if missing, the real data checked."""
    from neurospeech.datasets import SAMPLE_PATH, make_sample

    if profile == "sample":
        path = data_dir / "sample" if data_dir is not None else root / SAMPLE_PATH
        return make_sample(path, use_datalad=use_datalad)
    bids_root = (data_dir or root / "data") / "swpd"
    if not (bids_root / "dataset_description.json").exists():
        raise FileNotFoundError(
            f"the real dataset is not installed at {bids_root}; install it with "
            f"`neurospeech fetch` (DataLad) or `neurospeech fetch --method archive` (OSF), "
            f"see data/README.md"
        )
    return bids_root


def step_name(script: Path) -> str:
    """Return the analysis step of a script: its name without the number (its config section)."""
    return script.stem.split("_", 1)[1]


def _changed_since(paper_dir: Path, before: dict[Path, tuple[int, int]]) -> list[Path]:
    """Return the output files created or changed since the snapshot ``before``, sorted."""
    return sorted(path for path, stat in _snapshot(paper_dir).items() if before.get(path) != stat)


def _configuration(given: Config | str | os.PathLike | None, profile: str | None) -> Config:
    if isinstance(given, Config):
        return configuration.from_dict(given.to_dict(), profile=profile)
    return configuration.load(given, profile=profile)


def reproduce(
    profile: str | None = None,
    project_root: str | os.PathLike = ".",
    *,
    config: Config | str | os.PathLike | None = None,
    paper_dir: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    use_datalad: bool = True,
    force: bool = False,
    workers: int | None = None,
    scheduler: str | None = None,
) -> dict[str, object]:
    """Regenerate every figure and table of the paper, skipping the steps already done.

    Each analysis script is a step. Its key hashes the script, the slice of the
    configuration it reads (:meth:`neurospeech.config.Config.slice`), the package's
    code, the installed package versions and the dataset's files; a step whose key and
    outputs (their sha256) match its record in ``paper/build/steps/`` is not run again,
    so an interrupted reproduce resumes where it stopped. A step that fails leaves none
    of its outputs behind. At the end ``paper/manifest.json`` records the commit,
    package versions, model revisions, configuration, input hashes, each step and the
    sha256 of every output, and ``paper/build/index.html`` is built (:mod:`neurospeech.report`).

    Parameters
    ----------
    profile : str, optional
        ``"sample"`` (default): the simulated sample, created under ``data/sample`` if
        missing (offline). ``"swpd"``: the real dataset under ``data/swpd``.
    project_root : path-like
        The project checkout (holds ``analysis/`` and ``paper/manuscript.md``).
    config : Config or path-like, optional
        The configuration, or a TOML file of settings over the profile's defaults.
    paper_dir : path-like, optional
        Where outputs go (default: ``paper/`` of the checkout).
    data_dir : path-like, optional
        Folder of the datasets (default: ``data/`` of the checkout).
    use_datalad : bool
        Make the sample as a DataLad dataset (``datalad run``).
    force : bool
        Run every step even if its record says it is done.
    workers, scheduler
        Where the task grids run (:func:`neurospeech.grid.connect`): this many local
        worker processes, or the cluster of a Dask scheduler; default this process. Not
        part of a step's key: the outputs are the same whichever runs them.

    Returns
    -------
    manifest : dict
        As written to ``paper/manifest.json``.
    """
    from neurospeech import provenance, report

    root = Path(project_root).resolve()
    cfg = _configuration(config, profile)
    paper = Path(paper_dir).resolve() if paper_dir is not None else root / "paper"
    data = Path(data_dir).resolve() if data_dir is not None else None
    scripts = analysis_scripts(root)
    if not scripts:
        raise FileNotFoundError(f"no analysis scripts (NN_name.py) in {root / 'analysis'}")
    bids_root = _dataset(root, cfg.profile, data, use_datalad)
    ctx = Context(bids_root, paper, cfg, workers=workers, scheduler=scheduler)
    ctx.subjects()  # a participant not in the dataset stops the run before any step
    # until every step has finished, no manifest or report describes the outputs
    for stale in (paper / "manifest.json", paper / "build" / "index.html"):
        stale.unlink(missing_ok=True)
    inputs = provenance.input_hashes(bids_root)
    common = {
        "code": provenance.code_hash(),
        "packages": provenance.package_versions(),
        "inputs": inputs,
    }
    steps = {}
    for script in tqdm(scripts, desc="analyses"):
        key = _io.digest(
            {
                **common,
                "script": script.read_text(encoding="utf-8"),
                "config": cfg.slice(step_name(script)),
            }
        )
        record_path = paper / "build" / "steps" / f"{script.stem}.json"
        record = json.loads(record_path.read_text()) if record_path.exists() else None
        if not force and record and record["key"] == key and _intact(paper, record["outputs"]):
            logger.info("%s: inputs, configuration and outputs unchanged; not run", script.name)
            steps[script.stem] = record
            continue
        record_path.unlink(missing_ok=True)
        before = _snapshot(paper)
        logger.info("running %s", script.name)
        try:
            run_script(script, ctx, paper / "build" / "notebooks", root)
        except BaseException:  # a failed step leaves none of its outputs behind
            for path in _changed_since(paper, before):
                path.unlink()
            raise
        written = _changed_since(paper, before)
        record = {
            "script": script.relative_to(root).as_posix(),
            "key": key,
            "outputs": {p.relative_to(paper).as_posix(): _io.sha256(p) for p in written},
        }
        _io.write_json(record_path, record)
        steps[script.stem] = record
    result = provenance.manifest(
        project_root=root, config=cfg, inputs=inputs, steps=steps, paper_dir=paper
    )
    _io.write_json(paper / "manifest.json", result)
    report.build(paper, result, manuscript=root / "paper" / "manuscript.md")
    return result


#: What a reproduce recorded with ``datalad run`` saves, relative to the project root.
RECORDED_OUTPUTS = (
    "paper/figures",
    "paper/tables",
    "paper/audio",
    "paper/manifest.json",
    "paper/build/index.html",
)


def reproduce_with_datalad(arguments: list[str], project_root: str | os.PathLike = ".") -> None:
    """Run ``neurospeech reproduce <arguments>`` through ``datalad run`` in the project dataset.

    The command, its configuration file and the outputs it wrote
    (:data:`RECORDED_OUTPUTS`) are saved in one commit of the project's DataLad dataset,
    so ``datalad rerun`` repeats it. Only those outputs are saved (``--explicit``): the
    rest of the checkout may have changes.

    Raises
    ------
    RuntimeError
        If the project is not a DataLad dataset, if git ignores the outputs (they would
        not be saved), or if the run fails.
    """
    import shlex
    import subprocess

    from neurospeech.datasets import datalad

    root = Path(project_root).resolve()
    if not (root / ".datalad").is_dir():
        raise RuntimeError(
            f"{root} is not a DataLad dataset: make it one with `datalad create --force "
            f"{root}`, or reproduce without --datalad-run"
        )
    probes = [f"{path}/x" if "." not in Path(path).name else path for path in RECORDED_OUTPUTS]
    found = subprocess.run(
        ["git", "check-ignore", *probes], cwd=root, capture_output=True, text=True
    ).stdout.split()
    if found:
        ignored = sorted({path.removesuffix("/x") for path in found})
        raise RuntimeError(
            f"git ignores {', '.join(ignored)} in {root}, so `datalad run` would not save "
            f"them: remove them from .gitignore to record the outputs"
        )
    outputs = [arg for path in RECORDED_OUTPUTS for arg in ("--output", path)]
    command = shlex.join(["neurospeech", "reproduce", *arguments])
    message = f"Reproduce the paper: {command}"
    datalad(["run", "--explicit", "-m", message, *outputs, command], cwd=root, capture=False)


def verify(
    profile: str | None = None,
    project_root: str | os.PathLike = ".",
    *,
    config: Config | str | os.PathLike | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
):
    """Re-run every step from scratch in a temporary folder and compare with the manifest.

    The run uses the configuration the manifest records, or ``config`` to see which
    outputs another setting changes. The sample is simulated again
    there too, so its features are computed again; the real data are read where
    installed, with the features cached beside them. Every table, figure and sound file
    is compared byte for byte with the sha256 that ``paper/manifest.json`` records.

    Parameters
    ----------
    profile : str, optional
        Checked against the manifest's profile when given.
    project_root : path-like
    config : Config or path-like, optional
        A configuration (or TOML file of settings over the profile's defaults) to run
        with instead of the manifest's.
    workers, scheduler
        The executor of the re-run's task grids (see :func:`reproduce`): verifying on
        another executor than the one that made the manifest checks that it changes
        nothing.

    Returns
    -------
    comparison : neurospeech.provenance.Comparison
        ``.ok`` is True when every output is identical; ``.report()`` names the others.
    """
    import tempfile

    from neurospeech import provenance

    root = Path(project_root).resolve()
    path = root / "paper" / "manifest.json"
    if not path.exists():
        raise FileNotFoundError(f"no manifest at {path}: run `nox -s reproduce` first")
    recorded = json.loads(path.read_text())
    if profile is not None and recorded["config"]["profile"] != profile:
        raise ValueError(
            f"{path} was made with profile {recorded['config']['profile']!r}, not {profile!r}"
        )
    if config is None:
        cfg = configuration.from_dict(recorded["config"], where=str(path))
    else:
        cfg = _configuration(config, recorded["config"]["profile"])
    with tempfile.TemporaryDirectory(prefix="neurospeech-verify-") as tmp:
        data = Path(tmp) / "data" if cfg.simulated else None
        made = reproduce(
            project_root=root,
            config=cfg,
            paper_dir=Path(tmp) / "paper",
            data_dir=data,
            use_datalad=False,
            workers=workers,
            scheduler=scheduler,
        )
    return provenance.compare(recorded["outputs"], made["outputs"])
