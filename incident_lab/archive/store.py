"""The investigation archive: one folder per incident, one numbered folder per run.

    ARCHIVE/<YYYY-MM-DD>-<slug>/run-NNN/{investigation.ipynb, report.html, results.json,
                                         metrics.csv, summary.json, charts/*.png}

A run is written in `ARCHIVE/.staging/` and renamed into place only when complete, so
a crash never leaves a half-written run that looks finished, and nothing archived is
ever overwritten: a new run takes the next free number.

`ARCHIVE/.index.json` keeps every run's summary, so that listing ten thousand runs
reads one file rather than ten thousand. It is only a cache: an incident folder whose
modification time differs from the one recorded (a run added or removed) is read
again, and the index is rewritten when anything changed (if the archive is writable).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from incident_lab.exceptions import ArchiveError, UsageError
from incident_lab.investigation.history import IncidentHistory, rounds_of
from incident_lab.redaction import scrub_value

RUN_PREFIX = "run-"
ARCHIVE_VARIABLE = "INCIDENT_LAB_ARCHIVE"
DEFAULT_ARCHIVE = "incident-archive"
STAGING = ".staging"
SUMMARY = "summary.json"
RESULTS = "results.json"
INDEX = ".index.json"
INDEX_VERSION = 1
# A folder's timestamp ticks coarsely: a run added within the same tick as the one
# recorded would go unseen, so a folder changed this recently is read again next time.
SETTLED_NS = 2_000_000_000


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "incident"


def incident_folder_name(incident: str, date: str) -> str:
    """`<YYYY-MM-DD>-<slug>`: the folder of an incident's runs."""
    return f"{date}-{slugify(incident)}"


def is_run_name(name: str) -> bool:
    return name.startswith(RUN_PREFIX) and name[len(RUN_PREFIX) :].isdigit()


def run_number(name: str) -> int:
    return int(name.removeprefix(RUN_PREFIX))


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
            raise UsageError(f"archive {chosen} is a URL: open it with incident_lab.remote.open_archive")
        self.root = Path(chosen).expanduser()
        # Runs read by incident_folders(), by folder name, with the folder's mtime then.
        self._read: dict[str, tuple[int, list[RunSummary]]] = {}

    def incident_dir(self, folder_name: str) -> Path:
        return self.root / folder_name

    def location(self, path: Path) -> str:
        """Where people find an archived file (a remote archive names its URL)."""
        return str(path)

    def staging_dir(self) -> Path:
        staging = self.root / STAGING
        staging.mkdir(parents=True, exist_ok=True)
        staged = Path(tempfile.mkdtemp(prefix="run-", dir=staging))
        staged.chmod(0o755)  # mkdtemp's 0700 would keep the team from reading the archived run
        return staged

    def next_run_name(self, incident_dir: Path) -> str:
        names = run_names(incident_dir)
        number = run_number(names[-1]) + 1 if names else 1
        return f"{RUN_PREFIX}{number:03d}"

    def history(self, incident_dir: Path) -> IncidentHistory:
        """Every round the incident's archived runs recorded, oldest first."""
        return load_history(incident_dir)

    def results_document(self, run_dir: Path) -> dict[str, Any]:
        """A run's results.json."""
        return json.loads((run_dir / RESULTS).read_text())

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
        """Every incident folder; their runs are read at once, through the index."""
        try:
            with os.scandir(self.root) as entries:
                folders = [e for e in entries if not e.name.startswith(".") and e.is_dir()]
        except (FileNotFoundError, NotADirectoryError):
            return []
        self._read_through_index(folders)
        return [self.root / folder.name for folder in folders]

    def runs(self, incident_dir: Path) -> list[RunSummary]:
        """The incident's runs, oldest first, each with its summary."""
        read = self._read.get(incident_dir.name) if incident_dir.parent == self.root else None
        if read is not None:
            with contextlib.suppress(OSError):
                if os.stat(incident_dir).st_mtime_ns == read[0]:
                    return read[1]
        return _scan_runs(incident_dir)

    def _read_through_index(self, folders: list[os.DirEntry[str]]) -> None:
        index = _load_index(self.root / INDEX)
        written: dict[str, dict[str, Any]] = {}
        changed = len(index) != len(folders)
        settled_before = time.time_ns() - SETTLED_NS
        for folder in folders:
            mtime = folder.stat().st_mtime_ns
            known = index.get(folder.name)
            if known and known["mtime_ns"] == mtime and known["settled"]:
                runs = [RunSummary(folder.name, run, data) for run, data in known["runs"]]
                written[folder.name] = known
            else:
                runs = _scan_runs(Path(folder.path))
                entry = {
                    "mtime_ns": mtime,
                    "settled": mtime < settled_before,
                    "runs": [[run.run, run.data] for run in runs],
                }
                changed = changed or entry != known
                written[folder.name] = entry
            self._read[folder.name] = (mtime, runs)
        if changed:
            _save_index(self.root / INDEX, written)

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


def run_names(incident_dir: Path) -> list[str]:
    """The incident's run folders by number (run-1000 after run-999), from one directory scan."""
    try:
        with os.scandir(incident_dir) as entries:
            names = [e.name for e in entries if is_run_name(e.name) and e.is_dir()]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(names, key=run_number)


def _scan_runs(incident_dir: Path) -> list[RunSummary]:
    """The runs with their summaries: one directory scan and one read per run."""
    folder = os.fspath(incident_dir)
    return [
        RunSummary(incident_dir.name, name, _read_summary(os.path.join(folder, name, SUMMARY)))
        for name in run_names(incident_dir)
    ]


def load_history(incident_dir: str | Path | None) -> IncidentHistory:
    """The rounds recorded by every run in an incident folder (none for no folder)."""
    if not incident_dir:
        return IncidentHistory()
    rounds = []
    for name in run_names(Path(incident_dir)):
        path = Path(incident_dir) / name / RESULTS
        if path.exists():
            rounds += rounds_of(json.loads(path.read_text()), name)
    return IncidentHistory(rounds)


def _read_summary(path: str) -> dict[str, Any]:
    # Plain strings and bytes: Path objects and a text wrapper cost more than the read.
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read())
    except FileNotFoundError:
        return {}


def _load_index(path: Path) -> dict[str, dict[str, Any]]:
    try:
        index = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(index, dict) or index.get("version") != INDEX_VERSION:
        return {}
    return dict(index.get("incidents", {}))


def _save_index(path: Path, incidents: dict[str, dict[str, Any]]) -> None:
    """Replace the index in one step; an archive we may not write to keeps its old one."""
    try:
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".index-")
    except OSError:
        return
    try:
        with os.fdopen(descriptor, "w") as handle:
            json.dump({"version": INDEX_VERSION, "incidents": incidents}, handle, ensure_ascii=False)
        os.chmod(temporary, 0o644)  # the team reads the archive, as it reads the runs
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)


def write_json(path: Path, data: Any) -> None:
    """Archived JSON, scrubbed of anything secret that reached it."""
    path.write_text(json.dumps(scrub_value(data), indent=1, ensure_ascii=False) + "\n")
