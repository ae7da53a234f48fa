import pytest

from neurospeech import _io


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
