"""Archives at an fsspec URL (`s3://bucket/incidents`, `gcs://…`, `file:///…`).

A run is written and committed in a local working copy exactly as in a local archive,
then uploaded, `summary.json` last: listing counts a run only once its summary is
there, so a run still uploading, or one whose upload died, never looks finished.
The summaries and results of the runs already archived are downloaded first, which
is what run numbering, the timeline, `list` and `show` need.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from incident_lab.archive import ARCHIVE_VARIABLE, DEFAULT_ARCHIVE, SUMMARY, Archive
from incident_lab.exceptions import ArchiveError, UsageError

PULLED = ("results.json", SUMMARY)


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
        """The summary and results of every finished run (one whose summary arrived)."""
        for summary in self.fs.glob(f"{self.remote}/*/run-*/{SUMMARY}"):
            run = os.path.dirname(summary)
            for name in PULLED:
                local = self.root / os.path.relpath(f"{run}/{name}", self.remote)
                local.parent.mkdir(parents=True, exist_ok=True)
                if self.fs.exists(f"{run}/{name}"):
                    self.fs.get_file(f"{run}/{name}", str(local))

    def commit(self, staged: Path, incident_dir: Path) -> Path:
        run_dir = super().commit(staged, incident_dir)
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
