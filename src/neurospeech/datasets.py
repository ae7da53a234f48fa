"""Datasets the analyses run on: the simulated sample and the real data.

``sample`` is simulated here (see :mod:`neurospeech.simulate`): the simulator command
is recorded with ``datalad run``, so ``datalad rerun`` regenerates it and its history
says exactly how it was made. ``swpd`` (the real dataset) is installed with DataLad from
the NEMAR release (:func:`install_swpd`, only the files needed) or from the OSF archive,
checked against its published sha256 before use (:func:`fetch_archive`).
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from tqdm.auto import tqdm

from neurospeech import _io
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


def datalad(args: list[str], cwd: Path | None, *, capture: bool = True) -> None:
    """Run a ``datalad`` command with this interpreter; raise with its output on failure.

    With ``capture=False`` its output goes to the terminal as it runs (long commands).
    """
    env = _on_path_of_this_python()
    executable = shutil.which("datalad", path=env["PATH"])
    if executable is None:
        raise RuntimeError("the `datalad` command is not installed; `pip install datalad`")
    result = subprocess.run(
        [executable, *args], cwd=cwd, env=env, capture_output=capture, text=True
    )
    if result.returncode:
        output = f"\n{result.stdout[-2000:]}{result.stderr[-2000:]}" if capture else ""
        raise RuntimeError(
            f"`datalad {shlex.join(args)}` failed in {cwd or Path.cwd()} (exit "
            f"{result.returncode}){output}"
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
        datalad(["create", "-c", "text2git", str(path)], cwd=None)
    command = ["neurospeech", "simulate", ".", *to_arguments(params), "--no-progress"]
    if overwrite:
        command.append("--overwrite")
    message = f"Simulate the neurospeech sample (seed {params.seed})"
    datalad(["run", "-m", message, shlex.join(command)], cwd=path)
    return path


#: Where the real dataset lives, relative to the project root.
SWPD_PATH = Path("data") / "swpd"
#: The NEMAR DataLad release of SingleWordProductionDutch-iBIDS.
NEMAR_URL = "https://github.com/nemarDatasets/nm000371.git"
#: The OSF archive (Verwoert et al. 2022, project nrgx6: its one file, guid g6q5m; the
#: project-level zip would wrap it in another zip) and its published size and sha256.
OSF_URL = "https://osf.io/download/g6q5m/"
OSF_NAME = "SingleWordProductionDutch-iBIDS.zip"
OSF_SIZE = 2_794_936_886
OSF_SHA256 = "015bc9c565c3dbdc7259c01be54f62b3346cbd7dc5cec8156eb718f64b6cbcd9"
#: Size (bytes) and sha256 of each participant's original NWB file, as the NEMAR release's
#: git-annex keys (``SHA256E-s<size>--<sha256>.nwb``) publish them; the OSF archive holds
#: the same files.
SWPD_NWB_FILES = {
    "01": (559_876_152, "93699bd3202755da55c8f96ab479a446461604ab96be8b08cb33fde1e777346a"),
    "02": (559_921_456, "f2423dfe158ed40d963c1251e577c8a27c50ce99a01bac5795b945ade5ff9d2f"),
    "03": (559_848_280, "d743165a91569b98d50d59fa58015e870538cb811621abf73895d21d3c0cee1c"),
    "04": (530_342_504, "7ef9a41c76444d7022e8a9558fb5e518cada54349e23b26c4d6bc27c74a4c4be"),
    "05": (394_953_896, "67b1573a15a5bec582d4ff17ace2b48638c49a4acab67b008f5ddbaeb32d94e5"),
    "06": (560_017_200, "2f9bddf806124cca9b30316ed8f6884a28007c43f4b7a31f53661cf878ab8cbb"),
    "07": (559_960_624, "219985d929715434ff0ad8ac9a75164e5f89d84d3e089c0cb4a6727acbc59744"),
    "08": (380_404_240, "6d30086ac713ead16d382f7dfff292f85b4398201ac410db58be3f595fbda605"),
    "09": (535_391_440, "bb71eba32c9463e4d81f8ebc53b765cd473c1f36f29f63389128856ee00c39ee"),
    "10": (519_740_608, "f0c0702b1b1f9e343b3061e57e2d5288311d15b4181b340503f280337a518e84"),
}


def check_nwb_files(
    root: str | os.PathLike,
    subjects: list[str] | None = None,
    *,
    published: dict[str, tuple[int, str]] | None = None,
    hashes: bool = True,
) -> None:
    """Check each participant's NWB file against its published size and sha256.

    The file is found where the OSF archive puts it (``sub-XX/ieeg/``) or where the
    NEMAR release does (``sourcedata/...``). Sizes are compared first (instant); the
    sha256 of every file whose size matches then (about 2 s per file).

    Parameters
    ----------
    root : path-like
        The dataset.
    subjects : list of str, optional
        Participant labels; default: every one of ``published``.
    published : dict, optional
        Label to ``(size, sha256)``; default: :data:`SWPD_NWB_FILES`.
    hashes : bool
        Compare the sha256 too, not only the sizes.

    Raises
    ------
    ValueError
        Naming every file that differs (or is missing) and what to do about it.
    """
    from neurospeech import bids

    root = Path(root)
    published = SWPD_NWB_FILES if published is None else published
    problems = []
    for label in published if subjects is None else subjects:
        size, sha256 = published[label]
        try:
            path = bids.find_nwb(root, label)
        except FileNotFoundError as err:
            problems.append(str(err))
            continue
        actual = path.stat().st_size if path.exists() else None
        if actual != size:
            found = "absent (its content was not fetched)" if actual is None else f"{actual} bytes"
            problems.append(f"{path}: {found}, not the published {size}")
        elif hashes and (digest := _io.sha256(path)) != sha256:
            problems.append(f"{path}: sha256 {digest}, not the published {sha256}")
    if problems:
        raise ValueError(
            f"{len(problems)} NWB file(s) of {root} differ from the published ones (a broken "
            f"or interrupted download, or another release): remove them and fetch again.\n"
            + "\n".join(problems)
        )


def _check_reachable(url: str, what: str) -> None:
    if not _io.reachable(url):
        raise ConnectionError(
            f"cannot reach {urllib.parse.urlparse(url).hostname} to {what}: no network? "
            f"Install the dataset by hand under data/swpd (BIDS layout) or retry online"
        )


def install_swpd(
    path: str | os.PathLike = SWPD_PATH,
    *,
    source: str = NEMAR_URL,
    subjects: list[str] | None = None,
    nwb_files: dict[str, tuple[int, str]] | None = SWPD_NWB_FILES,
) -> Path:
    """Install the real dataset with DataLad, getting only the files the analyses read.

    The dataset is cloned (its text files, sidecars included, come with the clone) and
    the data of the chosen participants are fetched with ``datalad get``; nothing else
    is downloaded.

    Parameters
    ----------
    path : path-like
        Where the dataset goes (kept if already a clone: only missing files are fetched).
    source : str
        URL or path of the DataLad dataset (default: the NEMAR release).
    subjects : list of str, optional
        Participant labels (without ``sub-``); default: all.
    nwb_files : dict, optional
        The published size and sha256 of each participant's NWB file
        (:func:`check_nwb_files`); None: not checked (another dataset).

    Returns
    -------
    path : Path

    Raises
    ------
    ValueError
        If a fetched NWB file is not the published one (each is named).
    """
    path = Path(path)
    if not (path / ".datalad").exists():
        _check_reachable(source, "clone the dataset")
        if path.exists() and any(path.iterdir()):
            raise FileExistsError(f"{path} exists, is not empty and is not a DataLad dataset")
        datalad(["clone", source, str(path)], cwd=None)
    from neurospeech import bids

    available = bids.subjects(path)
    chosen = available if subjects is None else [str(s).removeprefix("sub-") for s in subjects]
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        raise ValueError(
            f"participants {unknown} are not in {path} (it has {', '.join(available)})"
        )
    targets = [f"sub-{s}" for s in chosen]
    targets += sorted(
        str(p.relative_to(path))
        for s in chosen
        for p in path.glob(bids.SOURCEDATA_GLOB.format(subject=s))
    )
    _check_reachable(source, "get the data")
    datalad(["get", *targets], cwd=path)
    if nwb_files is not None:
        check_nwb_files(path, chosen, published=nwb_files)
    return path


#: Seconds to wait for a connection, and then for each next block of a download.
TIMEOUT = 60.0


def _download(url: str, target: Path, size: int | None) -> None:
    """Download ``url`` into ``target``, resuming what an earlier try left there.

    A partial ``target`` is continued with an HTTP Range request (a server that ignores
    it sends the whole file again); a complete one is kept.

    Raises
    ------
    ConnectionError
        No answer within :data:`TIMEOUT` seconds, a refused or dropped connection, or a
        stream that ended early: what arrived is kept for the next try, and the message
        says so.
    ValueError
        More bytes than the published ``size``: another file (removed).
    """
    have = target.stat().st_size if target.exists() else 0
    if size is not None and have >= size:
        if have == size:
            return
        target.unlink()
        have = 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            if getattr(response, "status", None) != 206:  # the whole file: start again
                have = 0
            total = size or (int(response.headers.get("Content-Length") or 0) + have) or None
            with (
                open(target, "ab" if have else "wb") as out,
                tqdm(total=total, initial=have, unit="B", unit_scale=True, desc=target.name) as bar,
            ):
                for block in iter(lambda: response.read(1 << 20), b""):
                    have += len(block)
                    if size is not None and have > size:
                        out.close()
                        target.unlink()
                        raise ValueError(
                            f"{url}: more than the {size} bytes of the published archive: "
                            "another file (removed)"
                        )
                    out.write(block)
                    bar.update(len(block))
    except (OSError, http.client.HTTPException) as err:  # timeouts and URLError included
        reason = "no answer in time" if isinstance(err, TimeoutError) else str(err)
        raise ConnectionError(
            f"{url}: the download stopped ({reason}); the {have:,} bytes received are kept "
            f"in {target}: run the same command again to resume"
        ) from None
    if size is not None and have < size:
        raise ConnectionError(
            f"{url}: the download ended after {have:,} of {size:,} bytes; they are kept in "
            f"{target}: run the same command again to resume"
        )


def fetch_archive(
    path: str | os.PathLike = SWPD_PATH,
    *,
    url: str = OSF_URL,
    size: int | None = OSF_SIZE,
    sha256: str = OSF_SHA256,
    nwb_files: dict[str, tuple[int, str]] | None = SWPD_NWB_FILES,
) -> Path:
    """Download the OSF archive, verify its size and sha256, and unpack it at ``path``.

    The download goes to a staging folder beside ``path`` (``.<name>-download``): an
    interrupted download (no answer for :data:`TIMEOUT` seconds, a dropped connection,
    Ctrl-C) stays there and the next call resumes it; anything half unpacked there is
    removed. Nothing is unpacked from an archive that fails the check, and a failed
    check removes the download. The dataset is unpacked in the staging folder and moved
    into place only when complete, so ``path`` never holds a partial dataset.

    Parameters
    ----------
    path : path-like
        Where the BIDS dataset goes; must not exist yet.
    url, size, sha256
        The archive and its published size (None: not checked; bytes beyond it stop the
        download) and checksum.
    nwb_files : dict, optional
        The published size and sha256 of each participant's NWB file, checked after
        unpacking (:func:`check_nwb_files`); None: not checked.

    Returns
    -------
    path : Path
        The BIDS root (the archive's folder that holds ``dataset_description.json``).

    Raises
    ------
    ConnectionError
        The download stopped; run again to resume.
    ValueError
        The archive is not the published one (size, sha256, not a zip, its NWB files).
    """
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists; remove it to fetch the archive again")
    _check_reachable(url, "download the archive")
    staging = path.parent / f".{path.name}-download"
    shutil.rmtree(staging / "unpacked", ignore_errors=True)  # an interrupted unpacking
    staging.mkdir(parents=True, exist_ok=True)
    archive = staging / OSF_NAME
    resumable = False
    try:
        try:
            _download(url, archive, size)
        except (ConnectionError, KeyboardInterrupt):
            resumable = True
            raise
        actual = _io.sha256(archive)
        if actual != sha256:
            raise ValueError(
                f"{url}: sha256 {actual}, not the published {sha256}; the download is "
                f"corrupt or another file (removed)"
            )
        try:
            with zipfile.ZipFile(archive) as content:
                content.extractall(staging / "unpacked")
        except zipfile.BadZipFile as err:
            raise ValueError(f"{url}: the download is not a zip archive ({err}; removed)") from None
        archive.unlink()
        found = (staging / "unpacked").rglob("dataset_description.json")
        roots = sorted(found, key=lambda p: len(p.parts))  # the outermost
        if not roots:
            raise ValueError(f"{url}: the archive holds no dataset_description.json")
        if nwb_files is not None:
            check_nwb_files(roots[0].parent, published=nwb_files)
        os.replace(roots[0].parent, path)
    finally:  # unless a download can resume: moved into place or refused, nothing to keep
        if not resumable:
            shutil.rmtree(staging, ignore_errors=True)
    return path
