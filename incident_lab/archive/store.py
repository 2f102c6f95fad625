"""The investigation archive: one folder per incident, one numbered folder per run.

    ARCHIVE/<YYYY-MM-DD>-<slug>/run-NNN/{investigation.ipynb, report.html, results.json,
                                         metrics.csv, summary.json, charts/*.png}

A run's number is claimed first (an empty file in `INCIDENT/.claims/`, created only if
it does not exist), so that runs of one incident made at once each record the number
they get; the run is written in `ARCHIVE/.staging/` and renamed into place only when
complete, so a crash never leaves a half-written run that looks finished, and nothing
archived is ever overwritten. A run folder whose summary or results cannot be read is
listed as damaged, with the reason, and otherwise passed over.

`ARCHIVE/.index.json` keeps every run's summary, so that listing ten thousand runs
reads one file rather than ten thousand. It is only a cache: an incident folder whose
modification time differs from the one recorded (a run added or removed) is read
again, and the index is rewritten when anything changed (if the archive is writable).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from incident_lab.exceptions import ArchiveError, UsageError
from incident_lab.investigation.history import IncidentHistory, rounds_of
from incident_lab.investigation.matching import PatternMatch
from incident_lab.redaction import scrub_value
from incident_lab.result import Result

RUN_PREFIX = "run-"
ARCHIVE_VARIABLE = "INCIDENT_LAB_ARCHIVE"
DEFAULT_ARCHIVE = "incident-archive"
STAGING = ".staging"
SUMMARY = "summary.json"
RESULTS = "results.json"
CLAIMS = ".claims"
INDEX = ".index.json"
INDEX_VERSION = 2
DAMAGED = "damaged"
# A run's results.json is a few MB even with a Prometheus window of 1,000 series; one far
# larger was not written by a run, and reading it whole could exhaust memory.
MAX_RUN_JSON_BYTES = 256 * 1024 * 1024
MIN_FREE_BYTES = 1024 * 1024  # a run with charts and its report takes about 1 MB
# A folder's timestamp ticks coarsely: a run added within the same tick as the one
# recorded would go unseen, so a folder changed this recently is read again next time.
SETTLED_NS = 2_000_000_000


SLUG_LENGTH = 60


def slugify(name: str) -> str:
    """The incident's name as a folder name. Where letters and digits alone would lose it
    (a name of punctuation or emoji) or cut it short, a stable hash of the whole name keeps
    two incidents from sharing a folder."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if slug and len(slug) <= SLUG_LENGTH and re.fullmatch(r"[a-z0-9 -]+", name.strip().lower()):
        return slug
    digest = hashlib.sha256(name.strip().encode()).hexdigest()[:8]
    return f"{slug[: SLUG_LENGTH - 9].rstrip('-') or 'incident'}-{digest}"


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

    @property
    def damaged(self) -> str | None:
        """Why the run cannot be read, or None when it can."""
        return self.data.get(DAMAGED)


@dataclass(frozen=True)
class ArchivedRun:
    """What a run's results.json says, checked: the incident, the outcome, the results, and
    the failure patterns matched (none for runs archived before patterns were)."""

    run_dir: Path
    incident: dict[str, Any]
    outcome: str
    results: list[Result]
    patterns: list[PatternMatch] = field(default_factory=list)

    @classmethod
    def of(cls, run_dir: Path, document: dict[str, Any]) -> ArchivedRun:
        where = f"{run_dir.parent.name}/{run_dir.name}"
        try:
            incident = dict(document["incident"])
            for name in ("incident", "severity", "status"):
                str(incident[name])
            results = [Result.from_dict(item) for item in document["results"]]
            patterns = [PatternMatch.from_dict(item) for item in document.get("patterns", [])]
            return cls(run_dir, incident, str(document["outcome"]), results, patterns)
        except KeyError as error:
            raise ArchiveError(f"{where} is damaged: results.json lacks {error}") from None
        except (TypeError, ValueError) as error:
            problem = f"{type(error).__name__}: {error}"[:120]
            raise ArchiveError(
                f"{where} is damaged: results.json is not what a run writes ({problem})"
            ) from None


class Archive:
    def __init__(self, root: str | Path | None = None) -> None:
        chosen = root or os.environ.get(ARCHIVE_VARIABLE) or DEFAULT_ARCHIVE
        if "://" in str(chosen):
            raise UsageError(f"archive {chosen} is a URL: open it with incident_lab.remote.open_archive")
        self.root = Path(chosen).expanduser()
        for folder in [self.root, *self.root.parents]:
            if folder.exists() and not folder.is_dir():
                where = "is a file" if folder == self.root else f"is under {folder}, which is a file"
                raise UsageError(f"archive {self.root} {where}, not a folder")
        # Runs read by incident_folders(), by folder name, with the folder's mtime then.
        self._read: dict[str, tuple[int, list[RunSummary]]] = {}

    @property
    def name(self) -> str:
        """The archive as people name it (a remote one by its URL)."""
        return str(self.root)

    @property
    def address(self) -> str:
        """The archive as another process opens it, wherever it runs from."""
        return str(self.root.resolve())

    def incident_dir(self, folder_name: str) -> Path:
        return self.root / folder_name

    def has_run(self, incident_dir: Path, run: str) -> bool:
        return (incident_dir / run).is_dir()

    def location(self, path: Path) -> str:
        """Where people find an archived file (a remote archive names its URL)."""
        return str(path)

    def staging_dir(self) -> Path:
        staging = self.root / STAGING
        try:
            staging.mkdir(parents=True, exist_ok=True)
            staged = Path(tempfile.mkdtemp(prefix="run-", dir=staging))
        except OSError as error:
            raise ArchiveError(f"cannot write to archive {self.root}: {error.strerror}") from None
        staged.chmod(0o755)  # mkdtemp's 0700 would keep the team from reading the archived run
        return staged

    def check_room(self) -> None:
        """Refuse to start a run the archive's disk has no room for, before anything runs."""
        existing = next((folder for folder in [self.root, *self.root.parents] if folder.exists()), None)
        if existing is None:
            return
        free = shutil.disk_usage(existing).free
        if free < MIN_FREE_BYTES:
            raise ArchiveError(f"archive {self.root} has {free // 1024} KiB free, too little for a run")

    def claim_run(self, incident_dir: Path) -> str:
        """The next free run number of the incident, claimed so that no other run takes it."""
        claims = incident_dir / CLAIMS
        try:
            claims.mkdir(parents=True, exist_ok=True)
            for _ in range(1000):
                taken = [run_number(n) for n in run_names(incident_dir)]
                taken += [run_number(p.name) for p in claims.iterdir() if is_run_name(p.name)]
                name = f"{RUN_PREFIX}{max(taken, default=0) + 1:03d}"
                try:
                    (claims / name).touch(exist_ok=False)
                except FileExistsError:  # another run claimed it this instant: take the next
                    continue
                return name
        except OSError as error:
            raise ArchiveError(f"cannot write to archive {self.root}: {error.strerror}") from None
        raise ArchiveError(f"could not claim a run number in {incident_dir}")

    def release_claim(self, incident_dir: Path, run_name: str) -> None:
        with contextlib.suppress(OSError):
            (incident_dir / CLAIMS / run_name).unlink()
            (incident_dir / CLAIMS).rmdir()  # only once no other run holds a claim

    def history(self, incident_dir: Path) -> IncidentHistory:
        """Every round the incident's archived runs recorded, oldest first."""
        return load_history(incident_dir)

    def results_document(self, run_dir: Path) -> dict[str, Any]:
        """A run's results.json; `ArchiveError` saying why when it cannot be read."""
        document, damage = _read_json(run_dir / RESULTS)
        if damage:
            raise ArchiveError(f"{run_dir.parent.name}/{run_dir.name} is damaged: {damage}")
        return document

    def run_record(self, run_dir: Path) -> ArchivedRun:
        """A run's results, checked; `ArchiveError` saying what is damaged otherwise."""
        return ArchivedRun.of(run_dir, self.results_document(run_dir))

    def latest_readable(self, incident_dir: Path, passed_over: list[str] | None = None) -> ArchivedRun:
        """The incident's newest run whose summary and results read; why each newer one
        does not is added to `passed_over`."""
        for run in reversed(self.runs(incident_dir)):
            if run.damaged:
                continue
            try:
                return self.run_record(incident_dir / run.run)
            except ArchiveError as damage:
                if passed_over is not None:
                    passed_over.append(str(damage))
        raise UsageError(f"incident {incident_dir.name} has no readable runs yet")

    def commit(self, staged: Path, incident_dir: Path, run_name: str) -> Path:
        """Move a complete run into place under the number claimed for it."""
        final = incident_dir / run_name
        try:
            staged.rename(final)
        except OSError as error:
            raise ArchiveError(f"could not archive {final}: {error.strerror}") from None
        self.release_claim(incident_dir, run_name)
        return final

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
        if run and not is_run_name(run):
            raise UsageError(f"not a run: {run!r} (runs are named run-001, run-002, …)")
        folders = self.incident_folders()
        exact = [f for f in folders if f.name == incident]
        matches = exact or [f for f in folders if f.name[11:] == slugify(incident)]
        if not matches:
            raise UsageError(f"no incident {incident!r} in archive {self.name}")
        chosen = max(matches, key=lambda f: f.name)
        if run and not self.has_run(chosen, run):
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
    """The runs with their summaries (or why each cannot be read): one directory scan and
    one read per run."""
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
        document, damage = _read_json(Path(incident_dir) / name / RESULTS)
        if damage is None:
            try:
                rounds += rounds_of(document, name)
            except (AttributeError, KeyError, TypeError, ValueError):
                continue  # a damaged run tells nothing; the others still do
    return IncidentHistory(rounds)


def _read_json(path: str | Path) -> tuple[dict[str, Any], str | None]:
    """A JSON object from a file, or why it cannot be had."""
    name = os.path.basename(path)
    try:
        # Plain strings and bytes: Path objects and a text wrapper cost more than the read.
        with open(path, "rb") as handle:
            if os.fstat(handle.fileno()).st_size > MAX_RUN_JSON_BYTES:
                return {}, f"{name} is larger than {MAX_RUN_JSON_BYTES // 2**20} MiB, more than a run writes"
            data = json.loads(handle.read())
    except FileNotFoundError:
        return {}, f"{name} is missing (the run is incomplete)"
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
        return {}, f"{name} cannot be read: {type(error).__name__}"
    if not isinstance(data, dict):
        return {}, f"{name} does not hold an object"
    return data, None


def _read_summary(path: str) -> dict[str, Any]:
    data, damage = _read_json(path)
    return {DAMAGED: damage} if damage else data


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
