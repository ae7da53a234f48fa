import json
import subprocess

import pytest

from neurospeech.datasets import make_sample
from neurospeech.simulate import SimulationParams

SMALL = SimulationParams(
    n_subjects=1, n_words=3, n_channels=4, n_responsive=2, n_latent_channels=1, seed=5
)


def git(path, *args):
    return subprocess.run(
        ["git", "-C", str(path), *args], capture_output=True, text=True, check=True
    ).stdout


def test_sample_is_a_datalad_dataset_with_the_simulation_recorded(tmp_path):
    path = make_sample(tmp_path / "sample", SMALL)
    assert (path / ".datalad" / "config").exists()
    log = git(path, "log", "--format=%B")
    assert "[DATALAD RUNCMD] Simulate the neurospeech sample (seed 5)" in log
    record = json.loads(
        log.split("=== Do not change lines below ===")[1].split(
            "^^^ Do not change lines above ^^^"
        )[0]
    )
    assert record["cmd"].startswith("neurospeech simulate . ")
    assert "--seed 5" in record["cmd"] and record["exit"] == 0 and record["pwd"] == "."
    # text in git, the NWB data in git-annex, nothing left uncommitted
    nwb = path / "sub-01" / "ieeg" / "sub-01_task-wordProduction_ieeg.nwb"
    assert ".git/annex/objects" in str(nwb.resolve())
    assert not (path / "participants.tsv").is_symlink()
    assert git(path, "status", "--porcelain") == ""

    # nothing changed: nothing recomputed, no new commit
    head = git(path, "rev-parse", "HEAD")
    make_sample(path, SMALL)
    assert git(path, "rev-parse", "HEAD") == head

    # new parameters: a new recorded run that replaces the data
    changed = SimulationParams(**{**SMALL.to_dict(), "n_channels": 5})
    make_sample(path, changed)
    assert "--n-channels 5" in git(path, "log", "-1", "--format=%B")
    assert "--overwrite" in git(path, "log", "-1", "--format=%B")
    assert (
        len((path / "sub-01/ieeg/sub-01_task-wordProduction_channels.tsv").read_text().splitlines())
        == 6
    )
    assert git(path, "status", "--porcelain") == ""


def test_sample_without_datalad(tmp_path):
    path = make_sample(tmp_path / "plain", SMALL, use_datalad=False)
    assert (path / "dataset_description.json").exists()
    assert not (path / ".datalad").exists()


def test_sample_refuses_a_foreign_folder(tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a DataLad dataset"):
        make_sample(tmp_path / "busy", SMALL)
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
