"""What a reproduce ran on and what it wrote: hashes of inputs, code and outputs; the manifest.

The manifest (``paper/manifest.json``) holds no date, so two runs that make the same
outputs write the same manifest; :func:`compare` says which outputs of a run differ from
those a manifest records.
"""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import neurospeech
from neurospeech import fingerprint
from neurospeech.config import Config
from neurospeech.embeddings import standins


def git_state(project_root: str | os.PathLike) -> dict[str, object]:
    """Return the checkout's commit and whether tracked files differ from it.

    A checkout without git history (the container's: its build leaves ``.git`` out) is told
    them at build time, in ``NEUROSPEECH_COMMIT`` and ``NEUROSPEECH_DIRTY`` (``true`` or
    ``false``); without either, None.
    """

    def git(*args: str) -> str | None:
        try:
            result = subprocess.run(
                ["git", *args], cwd=project_root, capture_output=True, text=True, check=True
            )
        except (OSError, subprocess.CalledProcessError):
            return None
        return result.stdout.strip()

    commit = git("rev-parse", "HEAD")
    if commit is None:
        dirty = {"true": True, "false": False}.get(os.environ.get("NEUROSPEECH_DIRTY", ""))
        return {"commit": os.environ.get("NEUROSPEECH_COMMIT") or None, "dirty": dirty}
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if dirty is None else bool(dirty)}


def model_revisions(config: Config) -> dict[str, dict[str, object]]:
    """Model id, pinned commit and untrained flag of each feature space the run uses."""
    from neurospeech.embeddings import registry

    spaces = (registry.get(name) for name in config.feature_spaces)
    return {
        s.name: {"hf_id": s.hf_id, "revision": s.revision, "untrained": s.untrained} for s in spaces
    }


def manifest(
    *,
    project_root: Path,
    config: Config,
    inputs: dict[str, str],
    steps: dict[str, dict],
) -> dict[str, object]:
    """Assemble the manifest of a reproduce.

    Parameters
    ----------
    project_root : Path
        The checkout (for the commit).
    config : neurospeech.config.Config
        The run's configuration (recorded whole).
    inputs : dict
        From :func:`neurospeech.fingerprint.input_hashes`.
    steps : dict
        Per analysis script, its record (cache key and the outputs it declared, with
        their sha256): the manifest's outputs are theirs, and nothing else.
    """
    return {
        "neurospeech": neurospeech.__version__,
        **git_state(project_root),
        "python": platform.python_version(),
        "profile": config.profile,
        "config": config.to_dict(),
        "models": model_revisions(config),
        "code": fingerprint.code_hash(),
        "inputs": inputs,
        "steps": steps,
        "outputs": dict(sorted(o for step in steps.values() for o in step["outputs"].items())),
        "packages": fingerprint.package_versions(),
        # a rehearsal says so (neurospeech.embeddings.standins): no number of it is a result
        **({"rehearsal": True} if standins.rehearsal() else {}),
    }


@dataclass
class Comparison:
    """Outputs of a run against those a manifest records.

    Attributes
    ----------
    identical, changed, missing, new : list of str
        Paths (relative to ``paper/``): same bytes; different bytes; in the manifest but
        not made by the run; made by the run but not in the manifest.
    """

    identical: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every recorded output was made again with the same bytes, and no other."""
        return not (self.changed or self.missing or self.new)

    def report(self) -> str:
        """Return a human-readable account, naming every output that differs."""
        lines = [f"{len(self.identical)} outputs identical byte for byte"]
        for name in ("changed", "missing", "new"):
            paths = getattr(self, name)
            if paths:
                lines.append(f"{len(paths)} {name}:")
                lines += [f"  {path}" for path in paths]
        return "\n".join(lines)


def compare(recorded: dict[str, str], made: dict[str, str]) -> Comparison:
    """Compare output hashes (path -> sha256) of a manifest and of a new run."""
    result = Comparison()
    for path in sorted(set(recorded) | set(made)):
        if path not in made:
            result.missing.append(path)
        elif path not in recorded:
            result.new.append(path)
        elif recorded[path] == made[path]:
            result.identical.append(path)
        else:
            result.changed.append(path)
    return result
