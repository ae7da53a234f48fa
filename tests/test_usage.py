import subprocess
import sys

from neurospeech import usage


def test_measure_counts_the_disk_written_and_the_memory_of_child_processes(tmp_path):
    (tmp_path / "old.bin").write_bytes(b"x" * 1000)
    # a child process that touches 300 MiB and holds them for 1.5 s
    hold = "import time; b = bytearray(300 * 2**20); b[::4096] = b'x' * 76800; time.sleep(1.5)"
    with usage.measure([tmp_path, tmp_path / "absent"]) as cost:
        baseline = usage.tree_rss()
        subprocess.run([sys.executable, "-c", hold], check=True)
        (tmp_path / "new.bin").write_bytes(b"y" * 12345)
        (tmp_path / "old.bin").unlink()
    assert cost.disk_bytes == 12345 - 1000
    assert cost.peak_rss_bytes >= baseline + 250 * 2**20  # the child's 300 MiB were seen
    assert cost.wall_s >= 1.5
    assert set(cost.to_dict()) == {"wall_s", "peak_rss_bytes", "disk_bytes"}
    assert "GiB" in str(cost) and "MiB on disk" in str(cost)
