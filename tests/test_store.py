"""The ground of every cache: the fingerprint, the store, the lock, and the package's shape."""

import ast
import importlib
import inspect
import json
import os
import pkgutil
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import neurospeech
from neurospeech import fingerprint, lock
from neurospeech.store import Store

PACKAGE = Path(neurospeech.__file__).parent


def test_the_code_hash_follows_every_source_file(tmp_path, monkeypatch):
    copy = Path(shutil.copytree(PACKAGE, tmp_path / "neurospeech"))
    monkeypatch.setattr(neurospeech, "__file__", str(copy / "__init__.py"))
    before = fingerprint.code_hash()
    assert before == fingerprint.code_hash()
    audio = copy / "audio.py"
    audio.write_text(audio.read_text() + "\n# an edit\n")
    assert fingerprint.code_hash() != before
    assert fingerprint.key({"a": 1}) != fingerprint.key({"a": 1}, salt_value="another")


def test_the_store_keeps_arrays_dicts_and_json_keyed_and_described(tmp_path):
    arrays = Store(tmp_path / "a", ".npy")
    calls = []

    def compute():
        calls.append(1)
        return np.arange(12, dtype=np.float32).reshape(3, 4)

    first = arrays.fetch("x", {"n": 3}, compute)
    again = arrays.fetch("x", {"n": 3}, compute)
    np.testing.assert_array_equal(first, again)
    assert len(calls) == 1
    record = json.loads((tmp_path / "a" / "x.json").read_text())
    assert record["description"] == {"n": 3} and record["content"]["shape"] == [3, 4]
    assert record["code"] == fingerprint.code_hash() and record["salt"] == fingerprint.salt()
    arrays.fetch("x", {"n": 4}, compute)  # another description: another key
    assert len(calls) == 2
    results = Store(tmp_path / "b", ".npz")
    value = {"r": np.ones(3), "channels": np.array(["LA1", "LA2", "LB1"])}
    kept = results.fetch("fit", {"layer": 1}, lambda: value)
    assert (
        results.fetch("fit", {"layer": 1}, lambda: pytest.fail("recomputed"))["channels"][2]
        == "LB1"
    )
    assert set(kept) == {"r", "channels"}
    records = Store(tmp_path / "c", None)
    key = fingerprint.key({"step": 1})
    records.put("01_x", key, {"step": 1}, {"outputs": {"t.csv": "00"}})
    assert records.get("01_x", key) == {"outputs": {"t.csv": "00"}}
    assert records.get("01_x", "another key") is None
    assert records.record("01_x")["value"] == {"outputs": {"t.csv": "00"}}
    records.remove("01_x")
    assert records.record("01_x") is None


def test_a_damaged_or_rejected_entry_is_computed_again_naming_its_file(tmp_path, caplog):
    store = Store(tmp_path, ".npz")
    store.fetch("fit", {"a": 1}, lambda: {"r": np.zeros(4)})
    path = tmp_path / "fit.npz"
    path.write_bytes(path.read_bytes()[:20])
    with caplog.at_level("WARNING", logger="neurospeech.store"):
        value = store.fetch("fit", {"a": 1}, lambda: {"r": np.ones(4)})
    assert f"{path} is damaged" in caplog.text and value["r"][0] == 1
    caplog.clear()

    def four(value):
        return None if len(value["r"]) == 4 else "not 4 values"

    store.put("fit", fingerprint.key({"a": 1}), {"a": 1}, {"r": np.ones(3)})
    with caplog.at_level("WARNING", logger="neurospeech.store"):
        value = store.fetch("fit", {"a": 1}, lambda: {"r": np.ones(4)}, check=four)
    assert "not 4 values" in caplog.text and len(value["r"]) == 4
    with pytest.raises(ValueError, match="computed .*other.npz is wrong: not 4 values"):
        store.fetch("other", {}, lambda: {"r": np.ones(2)}, check=four)


_HOLD = """
import sys, time
from neurospeech import lock
with lock.hold(sys.argv[1], "a test holder"):
    print("held", flush=True)
    time.sleep(60)
"""


def _holder(path):
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_held_lock_names_its_holder_and_a_killed_holder_leaves_it_free(tmp_path, caplog):
    path = tmp_path / "run.lock"
    holder = _holder(path)
    try:
        with pytest.raises(lock.LockError, match=f"pid {holder.pid} on .*a test holder"):
            with lock.hold(path, "second"):
                pass
        start = time.monotonic()
        with pytest.raises(lock.LockError):
            with lock.hold(path, "second", wait=1.0):
                pass
        assert time.monotonic() - start >= 1.0
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # the kernel released it; the file still names the dead holder, which is reported
    with caplog.at_level("WARNING", logger="neurospeech.lock"):
        with lock.hold(path, "second"):
            assert json.loads(path.read_text())["pid"] == os.getpid()
    assert f"left by pid {holder.pid}" in caplog.text
    assert path.read_text() == ""  # released: emptied
    with lock.hold(path, "third"):  # a clean release is no stale lock
        pass


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``path`` imports, at any level of the file."""

    def owner(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(owner(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                found.add(owner(name) if name in modules else owner(node.module))
    return {name for name in found if name and name.startswith("neurospeech")}


def test_the_package_has_no_import_cycle():
    """Imports inside functions count too: a lazy import is still a dependency."""
    modules = _modules()
    graph = {name: _imports(path, modules) - {name} for name, path in modules.items()}
    done, active = set(), []

    def visit(name):
        if name in active:
            cycle = active[active.index(name) :] + [name]
            pytest.fail(f"import cycle: {' -> '.join(cycle)}")
        if name in done:
            return
        active.append(name)
        for other in sorted(graph[name]):
            visit(other)
        active.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)


def test_no_two_public_classes_share_a_name():
    classes: dict[str, set[str]] = {}
    for info in pkgutil.walk_packages(neurospeech.__path__, "neurospeech."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if inspect.isclass(value) and not name.startswith("_"):
                if value.__module__.startswith("neurospeech"):
                    classes.setdefault(name, set()).add(f"{value.__module__}.{value.__qualname__}")
    shared = {name: where for name, where in classes.items() if len(where) > 1}
    assert not shared, shared
