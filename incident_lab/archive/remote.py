"""Archives at an fsspec URL (`s3://bucket/incidents`, `gcs://…`, `file:///…`), shared by a team.

    PREFIX/<YYYY-MM-DD>-<slug>/run-NNN/…        the run's files, as in a local archive
    PREFIX/.claims/<YYYY-MM-DD>-<slug>/run-NNN   the run number, taken by one writer
    PREFIX/.journal/<YYYY-MM-DDTHH>/<YYYY-MM-DD>-<slug>/run-NNN
                                                empty: the hour (UTC, the writer's clock) the
                                                run was completed in, written just before
    PREFIX/.complete/<YYYY-MM-DD>-<slug>/run-NNN.json
                                                the run's summary: written last, it says
                                                the run is complete
    PREFIX/.index.json                          the summaries of the runs listed last time,
                                                and when they were listed

Every object is created with a conditional write (`If-None-Match: *`, fsspec's
`mode="create"`), which the store refuses when the object exists: a run number is
claimed by creating its claim object, so two writers saving runs of one incident at
once get different numbers; a run's files are created under its number, and its
marker in `.complete/` last, so a run still uploading, or one whose writer died, is
never listed; and nothing archived is ever overwritten. A claimed number is never given
back (its writer may have died after uploading part of the run): a run that did not
complete leaves a gap in the numbers. That holds where the driver's create is atomic
(s3fs sends `If-None-Match`); fsspec's `file://` checks and then writes, so two writers
of one folder are kept apart only when it is given as a path (`Archive`).

`list` reads `.index.json` and then only the journal's hours since the index was written
(less `JOURNAL_WINDOW`, so a writer's clock behind the lister's, or a marker created a
moment after its journal entry, is still seen): a request or two, however many runs the
archive holds. It fetches the markers of the runs it did not know (a journal entry
without its marker is a run not complete, not listed) and rewrites the index when it was
behind. At least every `FULL_LISTING_EVERY`, and whenever the index is missing, of another
version or from a clock ahead of this one, it lists the whole of `.complete/` instead (one
request per thousand runs): that finds runs the journal missed (written by an earlier
version, or by a clock off by more than the window) and drops runs deleted by hand. The
index is a cache, the one object that is ever replaced: a stale or lost one costs time,
never a run. `show` lists its incident's markers by prefix. Run files are read only when
asked for: a run's results.json for `show`, an incident's for its timeline.

Endpoint and credentials are the standard AWS ones (`AWS_ENDPOINT_URL`, `AWS_PROFILE`,
`~/.aws/credentials`, …), read by s3fs through botocore, never by incident_lab. The
local working copy (runs being written, results read) is a temporary folder of the
process, removed when it ends.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from incident_lab.archive.store import (
    ARCHIVE_VARIABLE,
    DAMAGED,
    DEFAULT_ARCHIVE,
    RESULTS,
    SUMMARY,
    Archive,
    RunSummary,
    is_run_name,
    load_history,
    run_number,
)
from incident_lab.exceptions import ArchiveError, UsageError
from incident_lab.investigation.history import IncidentHistory
from incident_lab.redaction import register_secrets, scrub
from incident_lab.result import utc_now

COMPLETE = ".complete"
CLAIMS = ".claims"
JOURNAL = ".journal"
INDEX = ".index.json"
INDEX_VERSION = 2
# How far before the last listing the journal is read again, and after now: room for the
# writers' clocks to differ from the lister's (NTP keeps them within a second), and for a
# marker created a while after its journal entry.
JOURNAL_WINDOW = dt.timedelta(minutes=15)
# The most a run missed by the journal (see the module's docstring) stays unlisted.
FULL_LISTING_EVERY = dt.timedelta(hours=1)
MARKER_SUFFIX = ".json"
# What botocore reads that must never reach a report or an error message.
CREDENTIAL_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
# Not secret, but kept out of the output all the same: where the team's bucket lives.
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")


def open_archive(root: str | None = None, *, local_only: str = "") -> Archive:
    """The archive at `root` (default `$INCIDENT_LAB_ARCHIVE` or `./incident-archive`), local
    or remote; `local_only` names a command that cannot work on a remote one."""
    chosen = root or os.environ.get(ARCHIVE_VARIABLE) or DEFAULT_ARCHIVE
    if "://" not in chosen:
        return Archive(chosen)
    if local_only:
        raise UsageError(f"{local_only} needs a local archive folder, not {chosen}")
    return RemoteArchive(chosen)


def store_errors() -> tuple[type[Exception], ...]:
    """What a store's client raises when it cannot do what was asked: OSError (s3fs turns
    the server's refusals into it), and botocore's own errors where s3fs is the driver (no
    connection to the endpoint, no credentials), which are not OSErrors."""
    try:
        from botocore.exceptions import BotoCoreError
    except ImportError:
        return (OSError,)
    return (OSError, BotoCoreError)


def summary_of(incident: str, run: str, data: bytes | Exception) -> RunSummary:
    """A marker's summary, or why it cannot be read."""
    if isinstance(data, Exception):
        return RunSummary(incident, run, {DAMAGED: f"its summary cannot be read: {type(data).__name__}"})
    try:
        summary = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        return RunSummary(incident, run, {DAMAGED: f"its summary cannot be read: {type(error).__name__}"})
    if not isinstance(summary, dict):
        return RunSummary(incident, run, {DAMAGED: "its summary does not hold an object"})
    return RunSummary(incident, run, summary)


def journal_hour(when: dt.datetime) -> str:
    return f"{when.astimezone(dt.UTC):%Y-%m-%dT%H}"


def journal_hours(since: dt.datetime, until: dt.datetime) -> list[str]:
    """The journal's hour folders from `since` to `until`, both included."""
    hour = since.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    hours = []
    while hour <= until:
        hours.append(journal_hour(hour))
        hour += dt.timedelta(hours=1)
    return hours


@dataclass(frozen=True)
class ListingIndex:
    """What `.index.json` holds: the summaries listed, when, and when `.complete/` was last
    listed whole (never, for a missing or unreadable index: then it must be)."""

    runs: dict[str, Any] = field(default_factory=dict)
    listed_at: dt.datetime | None = None
    full_at: dt.datetime | None = None

    def journal_since(self, now: dt.datetime) -> dt.datetime | None:
        """From when the journal must be read for a listing as of `now`, or None when only a
        listing of the whole of `.complete/` will do."""
        if self.listed_at is None or self.full_at is None:
            return None
        from_the_future = max(self.listed_at, self.full_at) > now + JOURNAL_WINDOW
        if from_the_future or now - self.full_at >= FULL_LISTING_EVERY:
            return None
        return self.listed_at - JOURNAL_WINDOW

    @classmethod
    def parse(cls, document: Any) -> ListingIndex:
        if not isinstance(document, dict) or document.get("version") != INDEX_VERSION:
            return cls()
        runs = document.get("runs")
        try:
            listed_at = dt.datetime.fromisoformat(document["listed_at"])
            full_at = dt.datetime.fromisoformat(document["full_at"])
        except (KeyError, TypeError, ValueError):
            return cls()
        if not isinstance(runs, dict) or listed_at.tzinfo is None or full_at.tzinfo is None:
            return cls()
        return cls(runs, listed_at, full_at)


class RemoteArchive(Archive):
    def __init__(self, url: str) -> None:
        try:
            import fsspec
        except ImportError:
            raise UsageError(f"archive {url}: install fsspec (and its driver for this URL)") from None
        register_secrets(os.environ.get(name) for name in CREDENTIAL_VARIABLES + ENDPOINT_VARIABLES)
        self.url = url.rstrip("/")
        try:
            # Not fsspec's cached instance: it is keyed by the arguments, while the endpoint and the
            # credentials come from the environment, which may have changed since (another endpoint).
            self.fs, self.remote = fsspec.core.url_to_fs(self.url, skip_instance_cache=True)
        except (ImportError, ValueError) as error:
            raise UsageError(f"archive {url}: {error}") from None
        self.errors = store_errors()
        self._work = tempfile.TemporaryDirectory(prefix="incident_lab_archive_")
        super().__init__(self._work.name)
        self._listed: dict[str, list[RunSummary]] = {}

    @property
    def name(self) -> str:
        return self.url

    @property
    def address(self) -> str:
        return self.url

    def location(self, path: Path) -> str:
        return f"{self.url}/{path.relative_to(self.root).as_posix()}"

    def _remote(self, *parts: str) -> str:
        return "/".join([self.remote, *parts])

    def _failed(self, doing: str, error: Exception) -> ArchiveError:
        """One line saying what failed; botocore's messages name the endpoint's URL, which
        stays out of the output like the credentials, so only their kind is said."""
        said = (
            f": {error}"
            if isinstance(error, OSError)
            else " (check AWS_ENDPOINT_URL, the region, the credentials)"
        )
        return ArchiveError(scrub(f"archive {self.url}: could not {doing}: {type(error).__name__}{said}"))

    # Reading

    def _journal(self, since: dt.datetime, until: dt.datetime) -> list[str]:
        """The runs the journal says were completed from `since` to `until`, as `incident/run`."""
        base = self._remote(JOURNAL)
        self.fs.invalidate_cache(base)
        names = []
        for hour in journal_hours(since, until):
            try:
                found = self.fs.find(f"{base}/{hour}", detail=False)
            except FileNotFoundError:
                continue
            except self.errors as error:
                raise self._failed("read its journal", error) from None
            for path in found:
                incident, _, run = path[len(base) + len(hour) + 2 :].partition("/")
                if incident and is_run_name(run):
                    names.append(f"{incident}/{run}")
        return names

    def _markers(self, under: str) -> list[str]:
        """The markers of complete runs under `.complete/<under>`, as `incident/run` names."""
        base = self._remote(COMPLETE)
        self.fs.invalidate_cache(base)
        try:
            found = self.fs.find(f"{base}/{under}".rstrip("/"), detail=False)
        except FileNotFoundError:
            return []
        except self.errors as error:
            raise self._failed("list its runs", error) from None
        names = []
        for path in found:
            incident, _, marker = path[len(base) + 1 :].partition("/")
            run = marker.removesuffix(MARKER_SUFFIX)
            if incident and is_run_name(run) and marker.endswith(MARKER_SUFFIX):
                names.append(f"{incident}/{run}")
        return names

    def _summaries(self, names: list[str], known: dict[str, Any]) -> dict[str, RunSummary]:
        """Each named run's summary: from `known` (the index), else fetched at once. A run
        whose marker is not there (not complete yet, or deleted since) is left out."""
        missing = [self._remote(COMPLETE, name + MARKER_SUFFIX) for name in names if name not in known]
        fetched: dict[str, Any] = {}
        if missing:
            try:
                fetched = self.fs.cat(missing, on_error="return")
            except self.errors as error:
                raise self._failed("read its runs' summaries", error) from None
        summaries = {}
        for name in names:
            incident, _, run = name.partition("/")
            if name in known:
                summaries[name] = RunSummary(incident, run, known[name])
            else:
                data = fetched.get(self._remote(COMPLETE, name + MARKER_SUFFIX), FileNotFoundError())
                if not isinstance(data, FileNotFoundError):
                    summaries[name] = summary_of(incident, run, data)
        return summaries

    def _load_index(self) -> ListingIndex:
        try:
            return ListingIndex.parse(json.loads(self.fs.cat_file(self._remote(INDEX))))
        except (*self.errors, ValueError, RecursionError):
            return ListingIndex()

    def _save_index(
        self, summaries: dict[str, RunSummary], listed_at: dt.datetime, full_at: dt.datetime
    ) -> None:
        """Replace the cache of summaries (damaged ones are read again next time)."""
        document = json.dumps(
            {
                "version": INDEX_VERSION,
                "listed_at": listed_at.isoformat(),
                "full_at": full_at.isoformat(),
                "runs": {name: s.data for name, s in summaries.items() if not s.damaged},
            },
            ensure_ascii=False,
        )
        try:
            self.fs.pipe_file(self._remote(INDEX), document.encode())
        except self.errors:
            return  # a team member who may only read the bucket lists it all the same

    def _remember(self, summaries: dict[str, RunSummary]) -> None:
        for summary in sorted(summaries.values(), key=lambda s: run_number(s.run)):
            self._listed.setdefault(summary.incident_folder, []).append(summary)

    def incident_folders(self) -> list[Path]:
        """Every incident with a complete run: the index and the journal's latest hours, or
        when the index cannot be trusted that far, the whole of `.complete/`."""
        now = utc_now()
        index = self._load_index()
        since = index.journal_since(now)
        if since is not None and index.full_at is not None:
            recent = self._journal(since, now + JOURNAL_WINDOW)
            summaries = self._summaries(sorted({*index.runs, *recent}), index.runs)
            full_at = index.full_at
        else:
            summaries = self._summaries(self._markers(""), index.runs)
            full_at = now
        behind = set(index.runs) != {name for name, s in summaries.items() if not s.damaged}
        # Rewritten also when older than the window, so that the next journal read stays short.
        aged = index.listed_at is None or now - index.listed_at > JOURNAL_WINDOW
        if behind or aged or since is None:  # (None: listed whole, which the index records)
            self._save_index(summaries, listed_at=now, full_at=full_at)
        self._listed = {}
        self._remember(summaries)
        return [self.root / incident for incident in sorted(self._listed)]

    def runs(self, incident_dir: Path) -> list[RunSummary]:
        """The incident's complete runs, oldest first."""
        if incident_dir.name not in self._listed:
            self._remember(self._summaries(self._markers(incident_dir.name + "/"), {}))
        return self._listed.get(incident_dir.name, [])

    def has_run(self, incident_dir: Path, run: str) -> bool:
        return any(summary.run == run for summary in self.runs(incident_dir))

    def _pull_results(self, run_dirs: list[Path]) -> None:
        """Download the runs' results.json not yet in the working copy, at once."""
        wanted = {
            self._remote(run_dir.relative_to(self.root).as_posix(), RESULTS): run_dir
            for run_dir in run_dirs
            if not (run_dir / RESULTS).exists()
        }
        if not wanted:
            return
        try:
            fetched = self.fs.cat(list(wanted), on_error="omit")
        except self.errors as error:
            raise self._failed("read results", error) from None
        for path, data in fetched.items():
            wanted[path].mkdir(parents=True, exist_ok=True)
            (wanted[path] / RESULTS).write_bytes(data)

    def history(self, incident_dir: Path) -> IncidentHistory:
        """The incident's history, its complete runs' results downloaded first."""
        self._pull_results([incident_dir / run.run for run in self.runs(incident_dir) if not run.damaged])
        return load_history(incident_dir)

    def results_document(self, run_dir: Path) -> dict[str, Any]:
        self._pull_results([run_dir])
        return super().results_document(run_dir)

    # Writing

    def _put_new(self, path: str, data: bytes) -> None:
        """Create an object, or raise FileExistsError if there is one already."""
        try:
            self.fs.pipe_file(path, data, mode="create")
        except FileNotFoundError:  # a file system with folders (file://) makes them first; S3 never
            self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            self.fs.pipe_file(path, data, mode="create")

    def _create(self, path: str, data: bytes) -> None:
        """Create one object, refused by the store if it exists: nothing is overwritten."""
        try:
            self._put_new(path, data)
        except FileExistsError:
            where = f"{self.url}/{path[len(self.remote) + 1 :]}"
            raise ArchiveError(f"{where} already exists: nothing was overwritten; run again") from None
        except self.errors as error:
            raise self._failed(f"write {path[len(self.remote) + 1 :]}", error) from None

    def claim_run(self, incident_dir: Path) -> str:
        """The next run number of the incident, taken by creating its claim: a number
        another writer took, even this instant, is refused by the store, and the next tried."""
        claims = self._remote(CLAIMS, incident_dir.name)
        self.fs.invalidate_cache(claims)
        try:
            taken = [run_number(Path(p).name) for p in self.fs.ls(claims, detail=False)]
        except FileNotFoundError:
            taken = []
        except self.errors as error:
            raise self._failed("read its run numbers", error) from None
        taken += [run_number(summary.run) for summary in self.runs(incident_dir)]
        number = max(taken, default=0) + 1
        for _ in range(1000):
            name = f"run-{number:03d}"
            try:
                self._put_new(f"{claims}/{name}", b"")
            except FileExistsError:
                number += 1
                continue
            except self.errors as error:
                raise self._failed("claim a run number", error) from None
            return name
        raise ArchiveError(f"could not claim a run number for {incident_dir.name} in {self.url}")

    def release_claim(self, incident_dir: Path, run_name: str) -> None:
        """A claim is kept: its writer may have uploaded part of the run under the number."""

    def uploads(self, staged: Path, incident_dir: Path, run_name: str) -> Iterator[str]:
        """Move the run into the working copy and create its objects one by one, saying
        each one's name: its files, summary.json, and last its marker in `.complete/`."""
        incident_dir.mkdir(parents=True, exist_ok=True)
        run_dir = super().commit(staged, incident_dir, run_name)
        files = sorted(
            (p for p in run_dir.rglob("*") if p.is_file()),
            key=lambda p: (p.name == SUMMARY, p.as_posix()),
        )
        target = f"{incident_dir.name}/{run_name}"
        for path in files:
            name = f"{target}/{path.relative_to(run_dir).as_posix()}"
            self._create(self._remote(name), path.read_bytes())
            yield name
        # The journal entry before the marker: a run is listed once both are there, and a
        # writer that dies between the two leaves a run that was never complete.
        journal_entry = f"{JOURNAL}/{journal_hour(utc_now())}/{target}"
        self._create(self._remote(journal_entry), b"")
        yield journal_entry
        self._create(self._remote(COMPLETE, target + MARKER_SUFFIX), (run_dir / SUMMARY).read_bytes())
        yield f"{COMPLETE}/{target}{MARKER_SUFFIX}"

    def commit(self, staged: Path, incident_dir: Path, run_name: str) -> Path:
        for _ in self.uploads(staged, incident_dir, run_name):
            pass
        self._listed.pop(incident_dir.name, None)  # listed again with this run when next asked
        return incident_dir / run_name
