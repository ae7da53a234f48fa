"""Command-line interface: ``neurospeech <command> ...``."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import traceback
from contextlib import contextmanager
from pathlib import Path

from neurospeech import __version__


def _simulate(args: argparse.Namespace) -> None:
    from neurospeech.simulate import simulate_dataset
    from neurospeech.simulate.params import from_arguments

    like = args.like
    if like is None:
        params = from_arguments(args)
    else:
        from neurospeech.simulate import SimulationParams
        from neurospeech.simulate.like import params_like, read_layouts

        given = [
            f"--{name.replace('_', '-')}"
            for name in SimulationParams.__dataclass_fields__
            if name != "seed" and getattr(args, name) is not None
        ]
        if given:
            raise ValueError(
                f"with --like the layout gives the participants, channels and events: "
                f"{', '.join(given)} cannot be set (only --seed)"
            )
        like = read_layouts(like)  # read once, for the parameters and the simulation
        params = params_like(like, seed=args.seed or 0)
    simulate_dataset(
        args.root,
        params,
        like=like,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )


def _sample(args: argparse.Namespace) -> None:
    from neurospeech.datasets import make_sample
    from neurospeech.simulate.params import from_arguments

    path = make_sample(args.path, from_arguments(args), use_datalad=not args.no_datalad)
    print(path)


def _count(text: str) -> int:
    """Parse a command-line count: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"give a whole number of at least 1, not {text!r}")
    return value


def _executor_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--workers`` and ``--scheduler``: where the task grids run (default: this process)."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--workers", type=_count, help="run task grids on a local Dask cluster of N processes"
    )
    where.add_argument(
        "--scheduler",
        help="run task grids on a running Dask cluster: scheduler address or scheduler file",
    )


def _executor(args: argparse.Namespace) -> dict[str, object]:
    """Return the ``workers`` and ``scheduler`` keywords of reproduce and verify."""
    return {"workers": args.workers, "scheduler": args.scheduler}


def _wait_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--wait``: how long to wait for another reproduce or verify of the checkout."""
    parser.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for another reproduce or verify of the checkout to finish "
        "(default: refuse at once, naming it)",
    )


def _reproduce(args: argparse.Namespace) -> None:
    from neurospeech.pipeline import reproduce

    if args.datalad_run:
        from neurospeech.pipeline import reproduce_with_datalad

        arguments = ["--profile", args.profile] if args.profile else []
        if args.config:
            arguments += ["--config", str(args.config.resolve())]
        for option, value in _executor(args).items():
            arguments += [f"--{option}", str(value)] if value else []
        arguments += ["--force"] * args.force + ["--clean"] * args.clean
        arguments += ["--wait", str(args.wait)] if args.wait else []
        reproduce_with_datalad(arguments, args.project_root)
        return
    manifest = reproduce(
        profile=args.profile,
        project_root=args.project_root,
        config=args.config,
        force=args.force,
        clean=args.clean,
        wait=args.wait,
        **_executor(args),
    )
    print(
        f"{len(manifest['outputs'])} outputs; manifest: paper/manifest.json; "
        f"report: paper/build/index.html"
    )


def _rehearse(args: argparse.Namespace) -> None:
    from neurospeech import rehearsal

    table = rehearsal.rehearse(
        args.like,
        args.folder,
        args.project_root,
        config=args.config,
        seed=args.seed,
        **_executor(args),
    )
    print(rehearsal.describe(table))
    print(f"report: {args.folder / 'paper' / 'build' / 'index.html'} (marked REHEARSAL)")


def _config(args: argparse.Namespace) -> None:
    import json

    from neurospeech import config

    print(json.dumps(config.load(args.config, profile=args.profile).to_dict(), indent=2))


def _verify(args: argparse.Namespace) -> None:
    from neurospeech.pipeline import verify

    comparison = verify(
        profile=args.profile,
        project_root=args.project_root,
        config=args.config,
        reuse_derivatives=args.reuse_derivatives,
        wait=args.wait,
        **_executor(args),
    )
    print(comparison.report())
    if not comparison.ok:
        raise RuntimeError("the outputs differ from those paper/manifest.json records")


def _fetch(args: argparse.Namespace) -> None:
    from neurospeech import datasets

    if args.method == "datalad":
        path = datasets.install_swpd(args.path, subjects=args.participants)
    else:
        if args.participants:
            raise ValueError("--participants works with --method datalad; the archive is whole")
        path = datasets.fetch_archive(args.path)
    print(f"{path}: every NWB file fetched has its published size and sha256")


def _models(args: argparse.Namespace) -> None:
    from neurospeech.embeddings import models, registry

    names = registry.PROFILES[args.profile] if args.action == "fetch" else sorted(registry.REGISTRY)
    skipped = []
    for name in names:
        space = registry.REGISTRY[name]
        pin = space.revision or ("-" if space.hf_id is None else "(no verified commit)")
        if args.action == "list":
            print(f"{name:32s} {space.kind:8s} {space.hf_id or '(built in)':32s} {pin}")
        elif space.hf_id is not None and space.revision is None:
            skipped.append(name)
        elif space.hf_id is not None:
            folder = models.snapshot(
                space, space.revision, cache_dir=args.cache_dir, weights=not space.untrained
            )
            print(f"{name}: {folder}")
    if skipped:
        print(
            f"neurospeech models: skipped {', '.join(skipped)}: the registry has no verified "
            f"commit for them (pin one in neurospeech/embeddings/registry.py, or load them "
            f"with revision=)",
            file=sys.stderr,
        )


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of the ``neurospeech`` command."""
    from neurospeech.simulate.params import add_arguments

    parser = argparse.ArgumentParser(prog="neurospeech", description=__doc__)
    parser.add_argument("--version", action="version", version=f"neurospeech {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="on an error, print its traceback, not only its message",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("simulate", help="write a simulated SWPD-layout BIDS dataset")
    sim.add_argument("root", type=Path, help="BIDS root to write")
    sim.add_argument("--overwrite", action="store_true", help="replace an existing dataset")
    sim.add_argument("--no-progress", action="store_true", help="no progress bar")
    sim.add_argument(
        "--like",
        type=Path,
        metavar="BIDS_DIR",
        help="copy the layout and size of this dataset's sidecars (channels, events, "
        "recording lengths); its signals are not needed",
    )
    add_arguments(sim)
    sim.set_defaults(func=_simulate)

    sample = sub.add_parser(
        "sample", help="create the sample dataset as a DataLad dataset (datalad run)"
    )
    sample.add_argument("path", type=Path, nargs="?", default=Path("data/sample"))
    sample.add_argument("--no-datalad", action="store_true", help="write plain files")
    add_arguments(sample)
    sample.set_defaults(func=_sample)

    rep = sub.add_parser(
        "reproduce", help="regenerate every figure and table, and the report (paper/build)"
    )
    rep.add_argument("--profile", help="'sample' (default) or 'swpd'")
    rep.add_argument(
        "--config", type=Path, help="TOML file of settings over the profile's defaults"
    )
    rep.add_argument("--project-root", type=Path, default=Path("."), help="the checkout")
    rep.add_argument("--force", action="store_true", help="run every step, even unchanged")
    rep.add_argument(
        "--clean",
        action="store_true",
        help="remove the files of paper/figures, tables and audio that no step wrote",
    )
    _wait_argument(rep)
    rep.add_argument(
        "--datalad-run",
        action="store_true",
        help="record the run and its outputs with `datalad run` in the project's DataLad dataset",
    )
    _executor_arguments(rep)
    rep.set_defaults(func=_reproduce)

    reh = sub.add_parser(
        "rehearse",
        help="run the real study (swpd profile) on signals simulated in a dataset's layout, "
        "with untrained stand-ins of every model; print each step's time, memory and disk",
    )
    reh.add_argument(
        "--like",
        type=Path,
        required=True,
        metavar="BIDS_DIR",
        help="the dataset whose sidecars give the layout and sizes (no recording needed)",
    )
    reh.add_argument(
        "folder",
        type=Path,
        nargs="?",
        default=Path("rehearsal"),
        help="where its dataset, caches and outputs go (default: rehearsal/; a second run resumes)",
    )
    reh.add_argument(
        "--config", type=Path, help="TOML file of settings over the swpd profile's defaults"
    )
    reh.add_argument("--seed", type=int, default=0, help="seed of the simulation")
    reh.add_argument("--project-root", type=Path, default=Path("."), help="the checkout")
    _executor_arguments(reh)
    reh.set_defaults(func=_rehearse)

    cfg = sub.add_parser(
        "config", help="check a configuration and print it whole, with the profile's defaults"
    )
    cfg.add_argument("--profile", help="'sample' (default) or 'swpd'")
    cfg.add_argument("--config", type=Path, help="TOML file of settings")
    cfg.set_defaults(func=_config)

    ver = sub.add_parser(
        "verify", help="re-run from scratch elsewhere and compare with paper/manifest.json"
    )
    ver.add_argument("--profile", help="check that the manifest is of this profile")
    ver.add_argument(
        "--config",
        type=Path,
        help="run with these settings instead of the manifest's, to see which outputs they change",
    )
    ver.add_argument("--project-root", type=Path, default=Path("."), help="the checkout")
    ver.add_argument(
        "--reuse-derivatives",
        action="store_true",
        help="use the dataset's features cache and grid results (every entry re-keyed on the "
        "current code and versions) instead of computing them again",
    )
    _wait_argument(ver)
    _executor_arguments(ver)
    ver.set_defaults(func=_verify)

    fetch = sub.add_parser("fetch", help="install the real dataset (SWPD) under data/swpd")
    fetch.add_argument(
        "--method",
        choices=("datalad", "archive"),
        default="datalad",
        help="DataLad clone of the NEMAR release, getting only what is needed (default), "
        "or the OSF archive, checked against its sha256",
    )
    fetch.add_argument("--participants", nargs="+", help="labels to get (datalad; default: all)")
    fetch.add_argument("--path", type=Path, default=Path("data/swpd"), help="where it goes")
    fetch.set_defaults(func=_fetch)

    mod = sub.add_parser("models", help="list the feature spaces, or fetch their models")
    mod.add_argument("action", choices=("list", "fetch"))
    mod.add_argument(
        "--profile", default="swpd", help="fetch the models of this profile (default: swpd)"
    )
    mod.add_argument(
        "--cache-dir", type=Path, default=None, help="Hugging Face cache (default: HF_HUB_CACHE)"
    )
    mod.set_defaults(func=_models)
    return parser


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the command is, so that it stops as after Ctrl-C."""


def _raise_terminated(signum, frame) -> None:
    raise _Terminated


@contextmanager
def _sigterm_interrupts():
    """Make SIGTERM stop the command the way Ctrl-C does, in the main thread.

    A SIGTERM to the process group (a batch scheduler's, ``timeout``'s) killed a
    rehearsal's notebook kernel and the command reported the dead kernel as a bug
    (``AssertionError``); now the command unwinds as after Ctrl-C (partial outputs are
    never renamed into place, kernels and workers are shut down) and says it was
    terminated.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the process exit status.

    0 on success, 2 on an error, 130 when interrupted (Ctrl-C) and 143 when terminated
    (SIGTERM).
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        with _sigterm_interrupts():
            args.func(args)
    except _Terminated:
        print(f"neurospeech {args.command}: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"neurospeech {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # every error: its message, the traceback only when asked
        if args.debug:
            traceback.print_exc()
        expected = isinstance(err, ValueError | OSError | RuntimeError)
        what = str(err) if expected else f"{type(err).__name__}: {err}"
        hint = "" if expected or args.debug else " (a bug? --debug prints its traceback)"
        print(f"neurospeech {args.command}: error: {what}{hint}", file=sys.stderr)
        return 2
    return 0
