"""The investigation archive: one folder per incident, one numbered folder per run.

    ARCHIVE/<YYYY-MM-DD>-<slug>/run-NNN/{investigation.ipynb, report.html, results.json,
                                         metrics.csv, summary.json, charts/*.png}

A run is written in `ARCHIVE/.staging/` and renamed into place only when complete, so
a crash never leaves a half-written run that looks finished, and nothing archived is
ever overwritten: a new run takes the next free number.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from incident_lab.exceptions import ArchiveError, UsageError
from incident_lab.history import RUN_PREFIX, run_folders
from incident_lab.investigation import slugify
from incident_lab.redaction import scrub_value

ARCHIVE_VARIABLE = "INCIDENT_LAB_ARCHIVE"
DEFAULT_ARCHIVE = "incident-archive"
STAGING = ".staging"
SUMMARY = "summary.json"


@dataclass(frozen=True)
class RunSummary:
    incident_folder: str
    run: str
    data: dict[str, Any]

    @property
    def finished_at(self) -> str:
        return str(self.data.get("finished_at", ""))


class Archive:
    def __init__(self, root: str | Path | None = None) -> None:
        chosen = root or os.environ.get(ARCHIVE_VARIABLE) or DEFAULT_ARCHIVE
        if "://" in str(chosen):
            raise UsageError(f"archive {chosen}: only local folders are supported so far")
        self.root = Path(chosen).expanduser()

    def incident_dir(self, folder_name: str) -> Path:
        return self.root / folder_name

    def staging_dir(self) -> Path:
        staging = self.root / STAGING
        staging.mkdir(parents=True, exist_ok=True)
        staged = Path(tempfile.mkdtemp(prefix="run-", dir=staging))
        staged.chmod(0o755)  # mkdtemp's 0700 would keep the team from reading the archived run
        return staged

    def next_run_name(self, incident_dir: Path) -> str:
        runs = run_folders(incident_dir)
        number = int(runs[-1].name.removeprefix(RUN_PREFIX)) + 1 if runs else 1
        return f"{RUN_PREFIX}{number:03d}"

    def commit(self, staged: Path, incident_dir: Path) -> Path:
        """Move a complete run into place under the next free number."""
        incident_dir.mkdir(parents=True, exist_ok=True)
        for _ in range(100):
            final = incident_dir / self.next_run_name(incident_dir)
            if final.exists():
                continue
            try:
                staged.rename(final)
            except OSError:  # another run took the number first: take the next
                continue
            return final
        raise ArchiveError(f"could not find a free run number in {incident_dir}")

    def incident_folders(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return [p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")]

    def runs(self, incident_dir: Path) -> list[RunSummary]:
        """The incident's runs, oldest first, each with its summary.

        `incident-lab list` calls this for every incident archived, so it makes one
        directory scan per incident and one read per run: the same runs, in the same
        order, as `run_folders`, without a stat per entry and a second one per summary.
        """
        try:
            with os.scandir(incident_dir) as entries:
                names = [
                    entry.name
                    for entry in entries
                    if entry.name.removeprefix(RUN_PREFIX).isdigit() and entry.is_dir()
                ]
        except (FileNotFoundError, NotADirectoryError):
            return []
        names.sort(key=lambda name: int(name.removeprefix(RUN_PREFIX)))
        folder = os.fspath(incident_dir)
        return [
            RunSummary(incident_dir.name, name, _read_summary(os.path.join(folder, name, SUMMARY)))
            for name in names
        ]

    def find(self, name: str) -> tuple[Path, str | None]:
        """An incident folder (and run, if named) from `INCIDENT[/run-NNN]`: the folder name,
        or its slug, or the incident's name; the newest date when several match."""
        incident, _, run = name.partition("/")
        folders = self.incident_folders()
        exact = [f for f in folders if f.name == incident]
        matches = exact or [f for f in folders if f.name[11:] == slugify(incident)]
        if not matches:
            raise UsageError(f"no incident {incident!r} in archive {self.root}")
        chosen = max(matches, key=lambda f: f.name)
        if run and not (chosen / run).is_dir():
            raise UsageError(f"incident {chosen.name} has no {run}")
        return chosen, run or None


def _read_summary(path: str) -> dict[str, Any]:
    # Plain strings and bytes: Path objects and a text wrapper cost more than the read.
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read())
    except FileNotFoundError:
        return {}


def write_json(path: Path, data: Any) -> None:
    """Archived JSON, scrubbed of anything secret that reached it."""
    path.write_text(json.dumps(scrub_value(data), indent=1, ensure_ascii=False) + "\n")
