"""Archives at an fsspec URL (`s3://bucket/incidents`, `gcs://…`, `file:///…`).

A run is written and committed in a local working copy exactly as in a local archive,
then uploaded, `summary.json` last: listing counts a run only once its summary is
there, so a run still uploading, or one whose upload died, never looks finished.
The summaries of the runs already archived are downloaded first (what run numbering,
`list` and `show` need); an incident's results only when its history is asked for.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from incident_lab.archive.store import (
    ARCHIVE_VARIABLE,
    DEFAULT_ARCHIVE,
    RESULTS,
    SUMMARY,
    Archive,
    load_history,
)
from incident_lab.exceptions import ArchiveError, UsageError
from incident_lab.investigation.history import IncidentHistory


def open_archive(root: str | None = None, *, local_only: str = "") -> Archive:
    """The archive at `root` (default `$INCIDENT_LAB_ARCHIVE` or `./incident-archive`), local
    or remote; `local_only` names a command that cannot work on a remote one."""
    chosen = root or os.environ.get(ARCHIVE_VARIABLE) or DEFAULT_ARCHIVE
    if "://" not in chosen:
        return Archive(chosen)
    if local_only:
        raise UsageError(f"{local_only} needs a local archive folder, not {chosen}")
    return RemoteArchive(chosen)


class RemoteArchive(Archive):
    def __init__(self, url: str) -> None:
        try:
            import fsspec
        except ImportError:
            raise UsageError(f"archive {url}: install fsspec (and its driver for this URL)") from None
        self.url = url.rstrip("/")
        try:
            self.fs, self.remote = fsspec.core.url_to_fs(self.url)
        except (ImportError, ValueError) as error:
            raise UsageError(f"archive {url}: {error}") from None
        self._work = tempfile.TemporaryDirectory(prefix="incident_lab_archive_")
        super().__init__(self._work.name)
        self._pull()

    def _pull(self) -> None:
        """The summary of every finished run (one whose summary arrived)."""
        for summary in self.fs.glob(f"{self.remote}/*/run-*/{SUMMARY}"):
            local = self.root / os.path.relpath(summary, self.remote)
            local.parent.mkdir(parents=True, exist_ok=True)
            self.fs.get_file(summary, str(local))

    def _pull_results(self, run_dir: Path) -> None:
        local = run_dir / RESULTS
        remote = f"{self.remote}/{run_dir.relative_to(self.root).as_posix()}/{RESULTS}"
        if not local.exists() and self.fs.exists(remote):
            self.fs.get_file(remote, str(local))

    def history(self, incident_dir: Path) -> IncidentHistory:
        """The incident's history, its finished runs' results downloaded first."""
        for summary in incident_dir.glob(f"run-*/{SUMMARY}"):
            self._pull_results(summary.parent)
        return load_history(incident_dir)

    def results_document(self, run_dir: Path) -> dict[str, Any]:
        self._pull_results(run_dir)
        return super().results_document(run_dir)

    def commit(self, staged: Path, incident_dir: Path, run_name: str) -> Path:
        run_dir = super().commit(staged, incident_dir, run_name)
        target = f"{self.remote}/{incident_dir.name}/{run_dir.name}"
        if self.fs.exists(f"{target}/{SUMMARY}"):
            raise ArchiveError(f"{self.location(run_dir)} was archived meanwhile by another run: run again")
        files = sorted((p for p in run_dir.rglob("*") if p.is_file()), key=lambda p: p.name == SUMMARY)
        for path in files:
            self.fs.makedirs(f"{target}/{path.parent.relative_to(run_dir)}".rstrip("/."), exist_ok=True)
            self.fs.put_file(str(path), f"{target}/{path.relative_to(run_dir)}")
        return run_dir

    def location(self, path: Path) -> str:
        return f"{self.url}/{path.relative_to(self.root)}"
