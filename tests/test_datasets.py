import hashlib
import http.server
import json
import shutil
import subprocess
import threading
import time
import zipfile
from pathlib import Path

import pytest

from neurospeech import _io, bids, datasets
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


def _zip_of(folder, archive):
    """A zip of ``folder`` under a top folder, as the OSF archive is laid out."""
    with zipfile.ZipFile(archive, "w") as out:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                out.write(path, Path("SingleWordProductionDutch-iBIDS") / path.relative_to(folder))
    return archive


def _published(root, labels=("01", "02")):
    """The size and sha256 of each NWB file of ``root``, as a release would publish them."""
    return {
        label: (p.stat().st_size, _io.sha256(p))
        for label in labels
        if (p := bids.find_nwb(root, label))
    }


def test_fetch_archive_checks_the_checksum_before_unpacking(tmp_path, tiny_dataset):
    archive = _zip_of(tiny_dataset, tmp_path / "swpd.zip")
    url, size = archive.as_uri(), archive.stat().st_size
    published = _published(tiny_dataset)
    with pytest.raises(ValueError, match="sha256 .*, not the published 0000"):
        datasets.fetch_archive(tmp_path / "data" / "swpd", url=url, size=size, sha256="0" * 64)
    with pytest.raises(ValueError, match="more than the 12 bytes of the published archive"):
        datasets.fetch_archive(tmp_path / "data" / "swpd", url=url, size=12, sha256="0" * 64)
    wrong = {**published, "02": (published["02"][0], "f" * 64)}
    with pytest.raises(
        ValueError,
        match=r"1 NWB file\(s\) .* differ[\s\S]*sub-02_task-wordProduction_ieeg.nwb: sha256 "
        r"[0-9a-f]{64}, not the published f{64}",
    ):
        datasets.fetch_archive(
            tmp_path / "data" / "swpd",
            url=url,
            size=size,
            sha256=_io.sha256(archive),
            nwb_files=wrong,
        )
    assert list((tmp_path / "data").iterdir()) == []  # no partial dataset, no download left
    path = datasets.fetch_archive(
        tmp_path / "data" / "swpd",
        url=url,
        size=size,
        sha256=_io.sha256(archive),
        nwb_files=published,
    )
    assert sorted(bids.subjects(path)) == ["01", "02"]
    nwb = "sub-01/ieeg/sub-01_task-wordProduction_ieeg.nwb"
    assert _io.sha256(path / nwb) == _io.sha256(tiny_dataset / nwb)
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["swpd"]
    with pytest.raises(FileExistsError, match="remove it to fetch the archive again"):
        datasets.fetch_archive(path, url=url, size=size, sha256=_io.sha256(archive))


def test_fetching_without_network_fails_fast_with_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setattr(_io.socket, "create_connection", _refuse)
    with pytest.raises(ConnectionError, match="cannot reach osf.io to download the archive"):
        datasets.fetch_archive(tmp_path / "swpd")
    with pytest.raises(ConnectionError, match="cannot reach github.com to clone the dataset"):
        datasets.install_swpd(tmp_path / "swpd")
    assert not (tmp_path / "swpd").exists()


def _refuse(*args, **kwargs):
    raise OSError("network is unreachable")


def test_install_swpd_gets_only_the_chosen_participants(tmp_path, tiny_dataset):
    sibling = tmp_path / "sibling"
    datasets.datalad(["create", "-c", "text2git", str(sibling)], cwd=None)
    shutil.copytree(tiny_dataset, sibling, dirs_exist_ok=True)
    datasets.datalad(["save", "-m", "the tiny dataset"], cwd=sibling)
    published = _published(tiny_dataset)
    path = datasets.install_swpd(
        tmp_path / "swpd", source=str(sibling), subjects=["sub-01"], nwb_files=published
    )
    nwb = "sub-{0}/ieeg/sub-{0}_task-wordProduction_ieeg.nwb"
    assert (path / nwb.format("01")).is_file()  # content present
    assert _io.sha256(path / nwb.format("01")) == _io.sha256(tiny_dataset / nwb.format("01"))
    assert (path / nwb.format("02")).is_symlink() and not (path / nwb.format("02")).exists()
    assert (path / "sub-02/ieeg/sub-02_task-wordProduction_events.tsv").is_file()  # text: in git
    with pytest.raises(ValueError, match=r"participants \['07'\] are not in"):
        datasets.install_swpd(path, source=str(sibling), subjects=["07"])
    with pytest.raises(ValueError, match=r"sub-02_task-wordProduction_ieeg.nwb: absent"):
        datasets.check_nwb_files(path, published=published)  # sub-02 was not fetched
    small = {"01": (published["01"][0] + 1, published["01"][1])}
    with pytest.raises(
        ValueError,
        match=f"sub-01_task-wordProduction_ieeg.nwb: {published['01'][0]} bytes, not the published",
    ):
        datasets.install_swpd(path, source=str(sibling), subjects=["01"], nwb_files=small)


class _Archive(http.server.BaseHTTPRequestHandler):
    """Serves ``body`` with HTTP Range; ``mode``: "whole", "cut" (half, then hang up) or "hang"."""

    body, mode, ranges = b"", "whole", []

    def do_GET(self):  # noqa: N802 (the name http.server calls)
        if self.mode == "hang":
            time.sleep(3)
            return
        start = int(self.headers.get("Range", "bytes=0-")[6:].rstrip("-"))
        type(self).ranges.append(start)
        payload = self.body[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload[: len(payload) // 2] if self.mode == "cut" else payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Archive)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    _Archive.ranges = []
    yield httpd
    httpd.shutdown()


def test_an_interrupted_download_resumes_and_a_silent_server_times_out(
    tmp_path, tiny_dataset, server, monkeypatch
):
    archive = _zip_of(tiny_dataset, tmp_path / "swpd.zip")
    _Archive.body = archive.read_bytes()
    url = f"http://127.0.0.1:{server.server_port}/swpd.zip"
    size, sha = len(_Archive.body), _io.sha256(archive)
    target = tmp_path / "data" / "swpd"
    staged = tmp_path / "data" / ".swpd-download" / datasets.OSF_NAME
    monkeypatch.setattr(datasets, "TIMEOUT", 0.5)
    _Archive.mode = "hang"  # accepts, never answers
    started = time.monotonic()
    with pytest.raises(ConnectionError, match=f"{url}: the download stopped .no answer in time"):
        datasets.fetch_archive(target, url=url, size=size, sha256=sha, nwb_files=None)
    assert time.monotonic() - started < 2.5
    _Archive.mode = "cut"  # half the file, then the connection drops
    with pytest.raises(ConnectionError, match="run the same command again to resume"):
        datasets.fetch_archive(target, url=url, size=size, sha256=sha, nwb_files=None)
    assert 0 < staged.stat().st_size < size and not target.exists()
    _Archive.mode = "whole"
    path = datasets.fetch_archive(target, url=url, size=size, sha256=sha, nwb_files=None)
    assert _Archive.ranges[-1] == size // 2  # resumed where the cut left it
    assert bids.subjects(path) == ["01", "02"]
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["swpd"]  # staging removed


def test_a_download_that_is_not_a_zip_or_too_long_is_refused_and_removed(tmp_path, server):
    url = f"http://127.0.0.1:{server.server_port}/swpd.zip"
    _Archive.mode, _Archive.body = "whole", b"<html>maintenance</html>"
    sha = hashlib.sha256(_Archive.body).hexdigest()
    target = tmp_path / "data" / "swpd"
    with pytest.raises(ValueError, match=f"{url}: the download is not a zip archive"):
        datasets.fetch_archive(target, url=url, size=None, sha256=sha, nwb_files=None)
    with pytest.raises(ValueError, match="more than the 10 bytes of the published archive"):
        datasets.fetch_archive(target, url=url, size=10, sha256=sha, nwb_files=None)
    assert list((tmp_path / "data").iterdir()) == []
