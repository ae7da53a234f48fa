"""What an analysis script imports: its context, its settings and the helpers that save.

An analysis script of ``analysis/`` begins with ``ctx = runtime.start("encoding")``,
naming its step (the script's name without its number). The context holds:

- where the data are (``ctx.bids_root``), where the package's stores are
  (``ctx.derivatives``) and where outputs go (``ctx.paper_dir``);
- ``ctx.settings``: the step's own section of the configuration and nothing else, with
  the shared ``ctx.profile`` and ``ctx.subjects()``. The step's cache key covers exactly
  these, so a script cannot read a setting whose change would not re-run it;
- the save helpers :meth:`Context.save_figure`, :meth:`Context.save_table` and
  :meth:`Context.save_sound`. Each declares its files in the step's journal *before*
  writing them, so the orchestrator (:mod:`neurospeech.pipeline`) knows every output of
  a step, even one killed half way, and removes them before the step runs again.

The orchestrator hands the context over in environment variables (``NEUROSPEECH_*``);
a plain ``python analysis/04_encoding.py`` reads the same variables, with defaults: the
sample under ``data/sample``, outputs in ``paper/``, and ``NEUROSPEECH_CONFIG`` naming
a TOML file of settings.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from neurospeech import config as configuration
from neurospeech import layout
from neurospeech.config import Channels, Config
from neurospeech.embeddings import standins

#: The environment variables of a run.
ENV = {
    "step": "NEUROSPEECH_STEP",
    "profile": "NEUROSPEECH_PROFILE",
    "bids_root": "NEUROSPEECH_BIDS_ROOT",
    "paper_dir": "NEUROSPEECH_PAPER_DIR",
    "derivatives": "NEUROSPEECH_DERIVATIVES",
    "config": "NEUROSPEECH_CONFIG",
    "journal": "NEUROSPEECH_OUTPUTS",
    "workers": "NEUROSPEECH_WORKERS",
    "scheduler": "NEUROSPEECH_SCHEDULER",
}


@dataclass(frozen=True)
class Context:
    """One analysis step's view of a run: its data, its settings, where its outputs go.

    Attributes
    ----------
    step : str
        The step (``"encoding"``): the analysis script's name without its number.
    bids_root : Path
        The BIDS dataset.
    paper_dir : Path
        ``paper/``: figures go to ``figures/``, tables to ``tables/``, sounds to ``audio/``.
    profile : {"sample", "swpd"}
    participants : tuple of str
        The configured participants (empty: all of the dataset); see :meth:`subjects`.
    channels : neurospeech.config.Channels
        The reference and the channels left out, shared by every step (:meth:`recording`).
    settings : dataclass or None
        The step's section of the configuration (``Encoding`` for ``"encoding"``); None
        for a step without one.
    derivatives : Path
        Where the features cache and the grid's results are kept (default: the dataset's
        ``derivatives/``; :func:`neurospeech.pipeline.verify` uses a fresh folder).
    journal : Path, optional
        The file where the save helpers declare the step's outputs (set by the
        orchestrator; None for a plain run).
    workers, scheduler
        Where task grids run (:func:`neurospeech.grid.connect`); never part of a key.
    """

    step: str
    bids_root: Path
    paper_dir: Path
    profile: str = "sample"
    participants: tuple[str, ...] = ()
    channels: Channels = field(default_factory=Channels)
    settings: Any = None
    derivatives: Path | None = None
    journal: Path | None = None
    workers: int | None = None
    scheduler: str | None = None

    def __post_init__(self) -> None:
        if self.derivatives is None:
            object.__setattr__(self, "derivatives", layout.derivatives(self.bids_root))

    @classmethod
    def of(
        cls,
        step: str,
        bids_root: str | os.PathLike,
        paper_dir: str | os.PathLike,
        config: Config | None = None,
        **options: Any,
    ) -> Context:
        """Return the context of ``step`` under ``config``: its slice and nothing more.

        ``options`` are the other attributes (``derivatives``, ``journal``, ``workers``,
        ``scheduler``).
        """
        config = config or Config()
        return cls(
            step=step,
            bids_root=Path(bids_root),
            paper_dir=Path(paper_dir),
            profile=config.profile,
            participants=config.participants,
            channels=config.channels,
            settings=config.section(step),
            **options,
        )

    @property
    def simulated(self) -> bool:
        """Whether the data are the simulated sample rather than real recordings."""
        return configuration.is_simulated(self.profile)

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

    def features_cache(self, subject: str) -> Path:
        """Folder of a participant's cached features (shared by the analyses)."""
        return layout.features(self.derivatives, subject)

    def subjects(self) -> list[str]:
        """Return the configured participants of the dataset (all of them by default).

        Raises
        ------
        neurospeech.config.ConfigError
            If a configured participant is not in the dataset.
        """
        from neurospeech import bids

        return configuration.select_participants(
            self.participants, bids.subjects(self.bids_root), self.bids_root
        )

    def recording(self, subject: str, scheme: str | None = None):
        """Read a participant and return the recording the analyses use, and its check.

        :func:`neurospeech.channels.prepare` under the run's ``[channels]`` settings
        (``scheme``: another reference than the configured one).
        """
        from neurospeech import bids, channels

        return channels.prepare(
            bids.read_recording(self.bids_root, subject), self.channels, scheme=scheme
        )

    def executor(self):
        """Return a context manager giving the ``distributed.Client`` of the run's task grids."""
        from neurospeech import grid

        return grid.connect(workers=self.workers, scheduler=self.scheduler)

    def declare(self, paths: Sequence[Path]) -> list[Path]:
        """Record ``paths`` (under ``paper_dir``) as outputs of the step, before writing them."""
        relative = []
        for path in paths:
            try:
                relative.append(Path(path).resolve().relative_to(self.paper_dir.resolve()))
            except ValueError:
                raise ValueError(f"{path} is not under {self.paper_dir}: not an output") from None
        if self.journal is not None:
            self.journal.parent.mkdir(parents=True, exist_ok=True)
            with open(self.journal, "a", encoding="utf-8") as fid:
                fid.writelines(f"{path.as_posix()}\n" for path in relative)
        return list(paths)

    def save_figure(self, fig, name: str, formats: tuple[str, ...] = ("svg", "png")) -> list[Path]:
        """Save ``fig`` as ``figures/<name>.<format>`` (:func:`neurospeech.figures.save`)."""
        from neurospeech import figures

        self.declare([self.figures / f"{name}.{fmt}" for fmt in formats])
        return figures.save(fig, self.figures / name, formats)

    def save_table(self, table: pd.DataFrame, name: str, **options: Any) -> list[Path]:
        """Save ``table`` as ``tables/<name>.csv`` (and ``.tex`` given a caption).

        ``options`` go to :func:`neurospeech.figures.save_table`.
        """
        from neurospeech import figures

        suffixes = ("csv", "tex") if options.get("caption") is not None else ("csv",)
        self.declare([self.tables / f"{name}.{suffix}" for suffix in suffixes])
        return figures.save_table(table, self.tables / name, **options)

    def save_sound(self, name: str, wave, sfreq: float) -> Path:
        """Save ``wave`` as ``audio/<name>.wav`` (:func:`neurospeech.audio.write_wav`)."""
        from neurospeech import audio

        (path,) = self.declare([self.audio / f"{name}.wav"])
        return audio.write_wav(path, wave, sfreq)

    def to_env(self) -> dict[str, str]:
        """Return the environment variables that :func:`context` reads back.

        The configuration travels as JSON in ``NEUROSPEECH_CONFIG``: the step's slice.
        """
        values: dict[str, Any] = {
            "profile": self.profile,
            "participants": self.participants,
            "channels": dataclasses.asdict(self.channels),
        }
        if self.settings is not None:
            values[self.step] = dataclasses.asdict(self.settings)
        env = {
            ENV["step"]: self.step,
            ENV["profile"]: self.profile,
            ENV["bids_root"]: str(self.bids_root),
            ENV["paper_dir"]: str(self.paper_dir),
            ENV["derivatives"]: str(self.derivatives),
            ENV["config"]: json.dumps(values, sort_keys=True),
        }
        for name in ("journal", "workers", "scheduler"):
            if getattr(self, name) is not None:
                env[ENV[name]] = str(getattr(self, name))
        return env


def context(step: str) -> Context:
    """Return the context of ``step`` in the current run, from the environment.

    ``NEUROSPEECH_PROFILE`` (default ``sample``), ``NEUROSPEECH_BIDS_ROOT`` (default
    ``data/<profile>``), ``NEUROSPEECH_PAPER_DIR`` (default ``paper``),
    ``NEUROSPEECH_DERIVATIVES`` (default: the dataset's ``derivatives/``) and
    ``NEUROSPEECH_CONFIG``: a TOML file of settings, or the step's slice as JSON (how
    the orchestrator hands it over); ``NEUROSPEECH_WORKERS`` and
    ``NEUROSPEECH_SCHEDULER``: the executor of task grids (default: this process).

    Raises
    ------
    ValueError
        If the orchestrator runs another step than ``step`` (a script that names the
        wrong step would read settings its key does not cover).
    """
    running = os.environ.get(ENV["step"])
    if running and running != step:
        raise ValueError(
            f"this script starts step {step!r}, but the run executes step {running!r}: "
            f"name the step after the script's file (NN_{running}.py)"
        )
    given = os.environ.get(ENV["config"])
    profile = os.environ.get(ENV["profile"])
    if given and given.lstrip().startswith("{"):
        cfg = configuration.from_dict(json.loads(given), profile=profile, where=ENV["config"])
    else:
        cfg = configuration.load(given or None, profile=profile)
    workers = os.environ.get(ENV["workers"])
    derivatives = os.environ.get(ENV["derivatives"])
    journal = os.environ.get(ENV["journal"])
    return Context.of(
        step,
        os.environ.get(ENV["bids_root"], Path("data") / cfg.profile),
        os.environ.get(ENV["paper_dir"], "paper"),
        cfg,
        derivatives=Path(derivatives) if derivatives else None,
        journal=Path(journal) if journal else None,
        workers=int(workers) if workers else None,
        scheduler=os.environ.get(ENV["scheduler"]) or None,
    )


def start(step: str) -> Context:
    """Begin an analysis script: return the step's context, with the figure style applied.

    Prints the profile and the data folder, and says so when the data are simulated.
    """
    from neurospeech import figures

    ctx = context(step)
    figures.apply_style()
    print(f"step: {step}; profile: {ctx.profile}; data: {ctx.bids_root}")
    if ctx.simulated:
        print("These are SIMULATED data (neurospeech.simulate), not recordings.")
    if standins.rehearsal():
        print("REHEARSAL: simulated signals in the real layout, untrained stand-in models.")
    return ctx
