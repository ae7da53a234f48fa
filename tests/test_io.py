import pytest

from neurospeech import _io, fingerprint


def test_atomic_write_keeps_the_old_file_on_error(tmp_path):
    path = tmp_path / "table.csv"
    _io.write_text(path, "old\n")
    with pytest.raises(RuntimeError):
        with _io.atomic_path(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash while writing")
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_write_text_line_endings_and_hash(tmp_path):
    path = _io.write_text(tmp_path / "a.tsv", "x\ny\n", newline="\r\n")
    assert path.read_bytes() == b"x\r\ny\r\n"
    assert _io.sha256(path) == _io.sha256(
        _io.write_text(tmp_path / "b.tsv", "x\r\ny\r\n", newline="")
    )


def test_digest_ignores_key_order_and_reachable_probes_only_remote_hosts(monkeypatch):
    assert _io.digest({"a": 1, "b": [2, 3]}) == _io.digest({"b": [2, 3], "a": 1})
    assert _io.digest({"a": 1}) != _io.digest({"a": 2})
    calls = []

    def refuse(address, timeout):
        calls.append(address)
        raise OSError("unreachable")

    monkeypatch.setattr(_io.socket, "create_connection", refuse)
    assert _io.reachable("/local/path") and _io.reachable("file:///tmp/x.zip")
    assert not _io.reachable("https://osf.io/download/g6q5m/")
    assert calls == [("osf.io", 443)]


def test_input_files_skip_links_that_make_a_cycle_naming_them(tmp_path):
    (tmp_path / "sub-01").mkdir()
    (tmp_path / "sub-01" / "data.tsv").write_text("x\n")
    (tmp_path / "sub-01" / "back").symlink_to(tmp_path)  # two cycles
    (tmp_path / "sub-01" / "self").symlink_to(tmp_path / "sub-01")
    (tmp_path / "other").mkdir()
    (tmp_path / "sub-02").symlink_to(tmp_path / "other")  # a plain link is followed
    (tmp_path / "other" / "notes.txt").write_text("y\n")
    with pytest.warns(UserWarning, match="links to .*, which contains it: not followed") as caught:
        found = fingerprint.files(tmp_path)
    assert sorted(str(w.message).split(" links")[0] for w in caught) == [
        str(tmp_path / "sub-01" / "back"),
        str(tmp_path / "sub-01" / "self"),
    ]
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "other/notes.txt",
        "sub-01/data.tsv",
        "sub-02/notes.txt",
    ]


@pytest.mark.parametrize(
    ("errno_code", "reason"), [(28, "No space left on device"), (30, "Read-only file system")]
)
def test_a_full_or_read_only_disk_names_the_file_and_keeps_the_old_one(
    tmp_path, monkeypatch, errno_code, reason
):
    import os

    target = tmp_path / "table.csv"
    target.write_text("old\n")

    def fail(*args, **kwargs):
        raise OSError(errno_code, os.strerror(errno_code))

    with pytest.raises(OSError, match=f"cannot write {target}: {reason}") as info:
        with _io.atomic_path(target) as tmp:
            tmp.write_text("new\n")
            monkeypatch.setattr(os, "replace", fail)
    assert info.value.errno == errno_code
    monkeypatch.undo()
    with pytest.raises(OSError, match=f"cannot write {target}: {reason}"):
        with _io.atomic_path(target) as tmp:
            fail()  # the disk fills while the file is written
    with pytest.raises(FileNotFoundError, match="no-such-input"):  # not the disk's: as it is
        with _io.atomic_path(target) as tmp:
            open(tmp_path / "no-such-input")
    assert target.read_text() == "old\n" and list(tmp_path.iterdir()) == [target]
    monkeypatch.undo()
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked").chmod(0o500)
    if os.access(tmp_path / "locked", os.W_OK):  # root writes anywhere: the mode is no test
        monkeypatch.setattr("tempfile.mkstemp", fail)
    with pytest.raises(OSError, match=f"cannot write {tmp_path / 'locked' / 'x.csv'}"):
        with _io.atomic_path(tmp_path / "locked" / "x.csv"):
            pass
