"""Evidence that can be verified: each archived run carries `manifest.json`, the SHA-256
of every other file of the run, with the versions of incident_lab, Python and the
servers probed, so that anyone can tell later whether the run is as it was archived."""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from incident_lab.result import Result

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


def digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def run_files(run_dir: Path) -> dict[str, Path]:
    """Every file of the run but the manifest, by its path inside the run."""
    return {
        path.relative_to(run_dir).as_posix(): path
        for path in sorted(run_dir.rglob("*"))
        if path.is_file() and path.name != MANIFEST
    }


def incident_lab_version() -> str:
    try:
        return version("incident-lab")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def write_manifest(run_dir: Path, results: Iterable[Result]) -> None:
    servers = sorted({(r.target, r.server) for r in results if r.server})
    manifest: dict[str, Any] = {
        "manifest": MANIFEST_VERSION,
        "incident_lab": incident_lab_version(),
        "python": platform.python_version(),
        "servers": [{"target": target, "server": server} for target, server in servers],
        "files": {name: digest(path) for name, path in run_files(run_dir).items()},
    }
    (run_dir / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")


@dataclass(frozen=True)
class Verification:
    run_dir: Path
    checked: int
    changed: list[str]
    missing: list[str]
    added: list[str]
    problem: str | None = None  # the manifest itself is missing or unreadable

    @property
    def intact(self) -> bool:
        return self.problem is None and not (self.changed or self.missing or self.added)


def verify_run(run_dir: Path) -> Verification:
    try:
        recorded = json.loads((run_dir / MANIFEST).read_text())["files"]
        if not isinstance(recorded, dict):
            raise TypeError(recorded)
    except FileNotFoundError:
        return Verification(run_dir, 0, [], [], [], f"no {MANIFEST}: nothing to verify against")
    except (OSError, ValueError, KeyError, TypeError):
        return Verification(run_dir, 0, [], [], [], f"{MANIFEST} cannot be read")
    present = run_files(run_dir)
    changed = [name for name, path in present.items() if name in recorded and digest(path) != recorded[name]]
    missing = [name for name in recorded if name not in present]
    added = [name for name in present if name not in recorded]
    return Verification(run_dir, len(recorded), changed, missing, added)
