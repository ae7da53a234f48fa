"""The orchestrator: run the analysis steps, keep their records, reproduce and verify.

Each analysis script of ``analysis/`` is a step. :func:`reproduce` executes every one of
them as a notebook (the executed notebook is kept beside the outputs), handing it its
context (:mod:`neurospeech.runtime`) through environment variables, so the same script
also runs as a plain ``python analysis/NN_name.py``.

A step's key is the description of what it depends on (the script, its slice of the
configuration, the dataset's files) salted with the package's fingerprint (code and
installed versions: :mod:`neurospeech.fingerprint`). Its record, an entry of a
:class:`~neurospeech.store.Store` under ``paper/build/steps/``, holds the key and the
outputs the script declared through its save helpers, with their sha256. A step whose
record has the current key and whose outputs are intact is not run again. Before a step
runs again, the outputs of its record and those declared by an unfinished attempt (a
journal left by a killed run) are removed; a step that fails removes what it declared.
The manifest and the report are built from the records only, and files of ``paper/``
that no step owns are named (``clean=True`` removes them).

One reproduce or verify runs per checkout at a time (:mod:`neurospeech.lock`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
import threading
from pathlib import Path

from tqdm.auto import tqdm

from neurospeech import _io, fingerprint, layout, lock, runtime, usage
from neurospeech import config as configuration
from neurospeech.config import Config
from neurospeech.embeddings import cache
from neurospeech.store import Store

logger = logging.getLogger(__name__)

#: Folders of ``paper/`` whose files are outputs of the steps.
OUTPUT_FOLDERS = ("figures", "tables", "audio")


def analysis_scripts(project_root: Path) -> list[Path]:
    """List the analysis scripts in the order they run (their file names sort them)."""
    return sorted((project_root / "analysis").glob("[0-9][0-9]_*.py"))


def run_script(script: Path, ctx: runtime.Context, notebook_dir: Path, cwd: Path) -> Path:
    """Execute one percent script as a notebook and save the executed notebook.

    The kernel talks to this process over Unix sockets (ZeroMQ's IPC transport), so no
    TCP port of the machine is opened and nothing travels unencrypted over the network.

    Raises
    ------
    RuntimeError
        If a cell fails; the message names the script and the error.
    """
    import jupytext
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from traitlets.config import Config as KernelConfig

    notebook = jupytext.read(script)
    env_before = os.environ.copy()
    os.environ.update(ctx.to_env())
    try:
        with tempfile.TemporaryDirectory(prefix="neurospeech-kernel-") as sockets:
            # Unix sockets at an absolute path (the kernel runs in ``cwd``)
            ipc = {"transport": "ipc", "ip": os.path.join(sockets, "kernel")}
            client = NotebookClient(
                notebook,
                kernel_name="python3",
                # no limit per cell: at the real size the encoding grid's one cell runs
                # for hours (30 minutes stopped one participant's rehearsal)
                timeout=None,
                resources={"metadata": {"path": str(cwd)}},
                config=KernelConfig({"KernelManager": ipc}),
            )
            _execute_off_main_thread(client)
    except CellExecutionError as err:
        raise RuntimeError(f"{script} failed:\n{err}") from err
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    out = notebook_dir / f"{script.stem}.ipynb"
    with _io.atomic_path(out) as tmp:
        nbformat.write(notebook, tmp)
    return out


def _execute_off_main_thread(client) -> None:
    """Execute a ``nbclient.NotebookClient`` in a helper thread; a signal stops its kernel.

    In the main thread, nbclient replaces the process's SIGINT and SIGTERM handlers with
    its own while it executes: a SIGTERM then shut the kernel down twice and surfaced as a
    bare ``AssertionError`` from nbclient, and after the first notebook SIGTERM was left
    at its default (killing the command without cleanup). Run in a helper thread, nbclient
    installs no handler; the signal reaches the main thread as the command's
    ``KeyboardInterrupt`` (see ``neurospeech.cli``), which cancels the execution: nbclient
    shuts the kernel (and the processes it started) down, then the interrupt goes on.
    """
    loop = asyncio.new_event_loop()
    execution = loop.create_task(client.async_execute())
    failure: list[BaseException] = []

    def execute() -> None:
        try:
            loop.run_until_complete(execution)
        except BaseException as err:  # handed to the main thread, which raises it
            failure.append(err)
        finally:
            loop.close()

    thread = threading.Thread(target=execute, name="neurospeech-notebook")
    thread.start()
    try:
        while thread.is_alive():  # a signal caught by another thread is handled on waking
            thread.join(timeout=0.25)
    except BaseException:
        with contextlib.suppress(RuntimeError):  # a closed loop: the execution had ended
            loop.call_soon_threadsafe(execution.cancel)
        thread.join()
        raise
    if failure:
        raise failure[0]


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


def _configuration(given: Config | str | os.PathLike | None, profile: str | None) -> Config:
    if isinstance(given, Config):
        return configuration.from_dict(given.to_dict(), profile=profile)
    return configuration.load(given, profile=profile)


def lock_path(project_root: str | os.PathLike) -> Path:
    """Return the lock file of a checkout: one reproduce or verify at a time."""
    return Path(project_root) / "paper" / "build" / "reproduce.lock"


def _declared(journal: Path) -> list[str]:
    """Return the outputs a step declared in its journal (relative to ``paper/``), in order."""
    if not journal.exists():
        return []
    lines = journal.read_text(encoding="utf-8").splitlines()
    return list(dict.fromkeys(line for line in lines if line))


def _remove(paper_dir: Path, outputs) -> None:
    """Remove the outputs named (paths relative to ``paper_dir``), those that exist."""
    for rel in outputs:
        (paper_dir / rel).unlink(missing_ok=True)


def _unowned(paper_dir: Path, steps: dict[str, dict]) -> list[Path]:
    """Return the files of ``paper_dir``'s output folders that no step's record owns."""
    owned = {rel for step in steps.values() for rel in step["outputs"]}
    found = [f for folder in OUTPUT_FOLDERS for f in fingerprint.files(paper_dir / folder)]
    return [p for p in found if p.relative_to(paper_dir).as_posix() not in owned]


def usage_path(paper_dir: str | os.PathLike) -> Path:
    """Return the file of what each step last cost when it ran (:mod:`neurospeech.usage`)."""
    return Path(paper_dir) / "build" / "usage.json"


def _record_usage(paper_dir: Path, stem: str, key: str, cost: usage.Usage) -> None:
    """Keep a step's wall time, peak memory and disk written, with the key it ran for."""
    path = usage_path(paper_dir)
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):  # none yet, or damaged: start again
        recorded = {}
    recorded[stem] = {"key": key, **cost.to_dict()}
    _io.write_json(path, dict(sorted(recorded.items())))


def _run_step(
    script: Path,
    key: str,
    description: dict,
    records: Store,
    ctx: runtime.Context,
    root: Path,
) -> dict:
    """Run one step from clean: remove what it wrote before, run it, record what it declared."""
    paper = ctx.paper_dir
    previous = (records.record(script.stem) or {}).get("value") or {}
    _remove(paper, [*previous.get("outputs", {}), *_declared(ctx.journal)])
    records.remove(script.stem)
    ctx.journal.unlink(missing_ok=True)
    logger.info("running %s", script.name)
    try:
        run_script(script, ctx, paper / "build" / "notebooks", root)
        declared = _declared(ctx.journal)
        absent = [rel for rel in declared if not (paper / rel).is_file()]
        if absent:
            raise RuntimeError(f"{script} declared outputs it did not write: {', '.join(absent)}")
    except BaseException:  # a failed step leaves none of its outputs behind
        _remove(paper, _declared(ctx.journal))
        ctx.journal.unlink(missing_ok=True)
        raise
    record = {
        "script": script.relative_to(root).as_posix(),
        "outputs": {rel: _io.sha256(paper / rel) for rel in sorted(declared)},
    }
    records.put(script.stem, key, description, record)
    ctx.journal.unlink()
    return record


def reproduce(
    profile: str | None = None,
    project_root: str | os.PathLike = ".",
    *,
    config: Config | str | os.PathLike | None = None,
    paper_dir: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    derivatives_dir: str | os.PathLike | None = None,
    use_datalad: bool = True,
    force: bool = False,
    clean: bool = False,
    wait: float = 0.0,
    workers: int | None = None,
    scheduler: str | None = None,
) -> dict[str, object]:
    """Regenerate every figure and table of the paper, skipping the steps already done.

    Each analysis script is a step, keyed by the script, the slice of the configuration
    it reads (:meth:`neurospeech.config.Config.slice`), the dataset's files and the
    package's fingerprint (code, installed versions). A step whose record in
    ``paper/build/steps/`` has its key and intact outputs (their sha256) is not run
    again, so an interrupted reproduce resumes where it stopped. Before a step runs,
    the outputs it wrote before are removed; a step that fails leaves none of its
    outputs behind. At the end ``paper/manifest.json`` records the commit, package
    versions, model revisions, configuration, input hashes, each step and the sha256 of
    every output the steps declared, and ``paper/build/index.html`` is built
    (:mod:`neurospeech.report`). Files of ``paper/`` that no step owns are named (they
    are in neither), and removed with ``clean=True``.

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
    derivatives_dir : path-like, optional
        Where the features cache and the grids' results are kept (default: the
        dataset's ``derivatives/``).
    use_datalad : bool
        Make the sample as a DataLad dataset (``datalad run``).
    force : bool
        Run every step, even if its record says it is done.
    clean : bool
        Remove the files of ``paper/figures``, ``tables`` and ``audio`` that no step owns.
    wait : float
        Seconds to wait for another reproduce or verify of the checkout to finish
        (default: refuse at once, naming it).
    workers, scheduler
        Where the task grids run (:func:`neurospeech.grid.connect`): this many local
        worker processes, or the cluster of a Dask scheduler; default this process. Not
        part of a step's key: the outputs are the same whichever runs them.

    Returns
    -------
    manifest : dict
        As written to ``paper/manifest.json``.

    Raises
    ------
    neurospeech.lock.LockError
        If another reproduce or verify of the checkout is running (it is named).
    """
    root = Path(project_root).resolve()
    with lock.hold(lock_path(root), "neurospeech reproduce", wait=wait):
        return _reproduce(
            root,
            _configuration(config, profile),
            paper=Path(paper_dir).resolve() if paper_dir is not None else root / "paper",
            data_dir=Path(data_dir).resolve() if data_dir is not None else None,
            derivatives_dir=derivatives_dir,
            use_datalad=use_datalad,
            force=force,
            clean=clean,
            workers=workers,
            scheduler=scheduler,
        )


def _reproduce(
    root: Path,
    cfg: Config,
    *,
    paper: Path,
    data_dir: Path | None,
    derivatives_dir: str | os.PathLike | None,
    use_datalad: bool,
    force: bool,
    clean: bool,
    workers: int | None,
    scheduler: str | None,
) -> dict[str, object]:
    """:func:`reproduce`, the lock held."""
    from neurospeech import bids, provenance, report

    scripts = analysis_scripts(root)
    if not scripts:
        raise FileNotFoundError(f"no analysis scripts (NN_name.py) in {root / 'analysis'}")
    bids_root = _dataset(root, cfg.profile, data_dir, use_datalad)
    derivatives = (
        Path(derivatives_dir).resolve()
        if derivatives_dir is not None
        else layout.derivatives(bids_root)
    )
    cfg.subjects(bids.subjects(bids_root), bids_root)  # an unknown participant stops the run now
    # until every step has finished, no manifest or report describes the outputs
    for stale in (paper / "manifest.json", paper / "build" / "index.html"):
        stale.unlink(missing_ok=True)
    inputs = fingerprint.input_hashes(bids_root)
    salt = fingerprint.salt()
    budget = cache.budget()  # a bad NEUROSPEECH_CACHE_GIB stops the run now
    records = Store(paper / "build" / "steps", fmt=None)
    steps = {}
    for script in tqdm(scripts, desc="analyses"):
        step = step_name(script)
        description = {
            "script": script.relative_to(root).as_posix(),
            "script_sha256": _io.sha256(script),
            "config": cfg.slice(step),
            "inputs": _io.digest(inputs),
        }
        key = fingerprint.key(description, salt)
        ctx = runtime.Context.of(
            step,
            bids_root,
            paper,
            cfg,
            derivatives=derivatives,
            journal=records.folder / f"{script.stem}.outputs",
            workers=workers,
            scheduler=scheduler,
        )
        done = records.get(script.stem, key)
        unfinished = ctx.journal.exists()
        if force or unfinished or done is None or not _intact(paper, done["outputs"]):
            with usage.measure([derivatives, paper]) as cost:
                done = _run_step(script, key, description, records, ctx, root)
            logger.info("%s: %s", script.name, cost)
            _record_usage(paper, script.stem, key, cost)
            cache.trim(layout.feature_caches(derivatives), budget)
        else:
            logger.info("%s: inputs, configuration and outputs unchanged; not run", script.name)
        steps[script.stem] = {"script": done["script"], "key": key, "outputs": done["outputs"]}
    unowned = _unowned(paper, steps)
    if unowned and clean:
        _remove(paper, unowned)
        logger.warning("removed %d file(s) of %s that no step owns", len(unowned), paper)
    elif unowned:
        logger.warning(
            "%d file(s) of %s belong to no step and are not in the manifest (remove them "
            "with `neurospeech reproduce --clean`): %s",
            len(unowned),
            paper,
            ", ".join(p.relative_to(paper).as_posix() for p in unowned),
        )
    result = provenance.manifest(project_root=root, config=cfg, inputs=inputs, steps=steps)
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
    reuse_derivatives: bool = False,
    wait: float = 0.0,
    workers: int | None = None,
    scheduler: str | None = None,
):
    """Re-run every step from scratch in a temporary folder and compare with the manifest.

    The run uses the configuration the manifest records, or ``config`` to see which
    outputs another setting changes. Nothing cached is trusted: the features and the
    grids' results are computed again in the temporary folder (the sample is simulated
    again there too), unless ``reuse_derivatives`` is given; then the dataset's
    ``derivatives/`` are used, and every entry whose key no longer matches the current
    fingerprint (code, versions, inputs) is computed again. Every table, figure and sound
    file is compared byte for byte with the sha256 that ``paper/manifest.json`` records.

    Parameters
    ----------
    profile : str, optional
        Checked against the manifest's profile when given.
    project_root : path-like
    config : Config or path-like, optional
        A configuration (or TOML file of settings over the profile's defaults) to run
        with instead of the manifest's.
    reuse_derivatives : bool
        Use the dataset's features cache and grid results (re-keyed) instead of
        computing them again.
    wait : float
        Seconds to wait for another reproduce or verify of the checkout (see
        :func:`reproduce`).
    workers, scheduler
        The executor of the re-run's task grids (see :func:`reproduce`): verifying on
        another executor than the one that made the manifest checks that it changes
        nothing.

    Returns
    -------
    comparison : neurospeech.provenance.Comparison
        ``.ok`` is True when every output is identical; ``.report()`` names the others.
    """
    root = Path(project_root).resolve()
    with lock.hold(lock_path(root), "neurospeech verify", wait=wait):
        return _verify(
            root,
            profile=profile,
            config=config,
            reuse_derivatives=reuse_derivatives,
            workers=workers,
            scheduler=scheduler,
        )


def _verify(
    root: Path,
    *,
    profile: str | None,
    config: Config | str | os.PathLike | None,
    reuse_derivatives: bool,
    workers: int | None,
    scheduler: str | None,
):
    """:func:`verify`, the lock held."""
    import tempfile

    from neurospeech import provenance

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
        derivatives = (
            layout.derivatives(root / "data" / cfg.profile)
            if reuse_derivatives
            else Path(tmp) / layout.DERIVATIVES
        )
        made = _reproduce(
            root,
            cfg,
            paper=Path(tmp) / "paper",
            data_dir=Path(tmp) / "data" if cfg.simulated else None,
            derivatives_dir=derivatives,
            use_datalad=False,
            force=False,
            clean=False,
            workers=workers,
            scheduler=scheduler,
        )
    return provenance.compare(recorded["outputs"], made["outputs"])
