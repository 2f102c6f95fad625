"""Run the investigation template with papermill and archive what it found.

The orchestrator of `incident-lab run` (and of `demo` and `watch`): check the
parameters, keep secrets out of the notebook, execute, then write the report,
results (with the failure patterns they match), metrics, charts and the pattern
catalogue the report links to (`failure-patterns.md`) beside the executed notebook, and
move the run into the archive. A failed cell or a dead kernel still archives the run,
marked failed.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from html import escape
from importlib.resources import files
from pathlib import Path
from typing import Any

from incident_lab.archive.manifest import write_manifest
from incident_lab.archive.store import RESULTS, SUMMARY, Archive, incident_folder_name, write_json
from incident_lab.exceptions import ArchiveError, UsageError
from incident_lab.investigation.alerts import alert_rounds
from incident_lab.investigation.history import IncidentHistory, Round
from incident_lab.investigation.matching import match_patterns
from incident_lab.investigation.notebook_format import CHART_METADATA, Recorded, results_in
from incident_lab.investigation.params import InvestigationParams, resolve
from incident_lab.kinds import SECRETS_VARIABLE, redacted_reference, target_spec
from incident_lab.redaction import scrub, scrub_value
from incident_lab.registry import Registry
from incident_lab.render.patterns import CATALOGUE_FILE, catalogue_markdown
from incident_lab.result import QueryRecord, Result, format_time, utc_now
from incident_lab.runner import default_registry
from incident_lab.verdict import count_verdicts

TEMPLATE = files("incident_lab.notebooks") / "investigation.ipynb"
KERNEL_NAME = "python3"
REPORT_TEMPLATES = files("incident_lab") / "templates"
METRIC_COLUMNS = ["round", "hypothesis", "probe", "target", "metric", "value", "unit", "at"]


@dataclass(frozen=True)
class RunOutcome:
    run_dir: Path
    completed: bool
    results: list[Result]
    error: str | None

    @property
    def report(self) -> Path:
        return self.run_dir / "report.html"


@dataclass(frozen=True)
class Prepared:
    """Checked parameters with every target's secret taken out; the secrets, for the kernel
    only; and, per target whose secret was withheld, how to give it without writing it."""

    params: InvestigationParams
    secrets: dict[str, str]
    withheld: dict[str, str]


def prepare(values: Mapping[str, Any], registry: Registry | None = None) -> Prepared:
    chosen = registry or default_registry()
    params = resolve(values, chosen)
    chosen.check_patterns()
    used = {h.target for h in params.hypotheses}
    safe_targets, secrets, withheld = {}, {}, {}
    for name, written in params.targets.items():
        spec = target_spec(name, written, chosen.kind_names)
        kind = chosen.kind(spec.kind) if spec.kind else None
        if name not in used or kind is None:  # it need not work: only its secret must go
            safe_targets[name] = replace(spec, reference=redacted_reference(spec.reference)).written
            if safe_targets[name] != written:
                withheld[name] = "no hypothesis uses it; the secret in its reference was removed"
            continue
        safe, secret = kind.secret_free(spec.reference)
        safe_targets[name] = replace(spec, reference=safe).written
        if secret is not None:
            secrets[safe] = secret
            withheld[name] = kind.secret_advice
    return Prepared(replace(params, targets=safe_targets), secrets, withheld)


@contextmanager
def secrets_for_kernel(secrets: Mapping[str, str]) -> Iterator[None]:
    """Hand secrets to the kernel through its environment, for the run only."""
    before = os.environ.get(SECRETS_VARIABLE)
    if secrets:
        os.environ[SECRETS_VARIABLE] = json.dumps(dict(secrets))
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(SECRETS_VARIABLE, None)
        else:
            os.environ[SECRETS_VARIABLE] = before


def kernel_manager(log: Path) -> Any:
    """The notebook's kernel, its own output (start-up warnings, the traceback it prints when
    cut off by Ctrl-C) going to `log` rather than to the user's terminal."""
    from jupyter_client.manager import AsyncKernelManager

    class LoggedKernelManager(AsyncKernelManager):  # type: ignore[misc]
        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            with log.open("ab") as handle:
                await super()._async_launch_kernel(kernel_cmd, **{**kw, "stdout": handle, "stderr": handle})

    return LoggedKernelManager(kernel_name=KERNEL_NAME)


def execute_template(
    notebook: Path, parameters: Mapping[str, Any], *, progress: bool, prepare_only: bool = False
) -> str | None:
    """Run (or with `prepare_only`, only parameterize) the template; the error, if any."""
    import papermill

    with tempfile.TemporaryDirectory(prefix="incident_lab_kernel_") as scratch:
        log = Path(scratch) / "kernel.log"
        try:
            papermill.execute_notebook(
                str(TEMPLATE),
                str(notebook),
                parameters=dict(parameters),
                kernel_name=KERNEL_NAME,
                progress_bar=progress,
                prepare_only=prepare_only,
                cwd=str(notebook.parent),
                **({} if prepare_only else {"km": kernel_manager(log)}),
            )
        except Exception as error:  # a failed cell or a dead kernel: archived as a failed run
            said = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
            last = (
                f" (the kernel said: {' / '.join(said)})"
                if said and "DeadKernel" in type(error).__name__
                else ""
            )
            return scrub(f"{type(error).__name__}: {error}{last}").strip()
    return None


def scrub_notebook(notebook: Path) -> tuple[Any, str | None]:
    """Redact anything secret that reached the executed notebook (an error message, say),
    and return it as read, for the files written from it, with no other reading of it.
    A notebook that was never written, or not whole, is replaced by the template, and
    the reason returned: the run is then archived as failed, saying why."""
    import nbformat

    try:
        scrubbed = nbformat.from_dict(scrub_value(nbformat.read(str(notebook), as_version=4)))
    except (OSError, ValueError) as error:
        shutil.copyfile(str(TEMPLATE), notebook)
        return nbformat.read(str(notebook), as_version=4), (
            f"the executed notebook could not be read back ({type(error).__name__})"
        )
    nbformat.write(scrubbed, str(notebook))
    return scrubbed, None


def render_report(executed: Any, report: Path) -> None:
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    exporter = HTMLExporter(
        template_name="incident_report",
        extra_template_basedirs=[str(REPORT_TEMPLATES)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    # The notebook's instructions are for whoever edits it, not for the report's readers.
    exporter.register_preprocessor(TagRemovePreprocessor(remove_cell_tags={"instructions"}), enabled=True)
    body, _ = exporter.from_notebook_node(executed)
    report.write_text(body, encoding="utf-8")


def export_charts(executed: Any, folder: Path) -> None:
    folder.mkdir(exist_ok=True)
    for cell in executed.cells:
        for output in cell.get("outputs", []):
            stem = output.get("metadata", {}).get(CHART_METADATA)
            if stem and "image/png" in output.get("data", {}):
                (folder / f"{stem}.png").write_bytes(base64.b64decode(output["data"]["image/png"]))


def write_metrics(path: Path, history: IncidentHistory) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, METRIC_COLUMNS)
        writer.writeheader()
        writer.writerows(history.metric_points())


def prepare_notebook(
    values: Mapping[str, Any],
    archive: Archive,
    registry: Registry | None = None,
    probe_path: Sequence[str] = (),
) -> tuple[Path, dict[str, str]]:
    """The incident's own notebook, parameters injected and nothing executed (papermill's
    prepare-only), in its archive folder; and, per target, how to give the secret kept out
    of it (see `Prepared.withheld`). The team's probe
    folders are written into it, so that its kernel knows their probes wherever it opens."""
    prepared = prepare(values, registry)
    params = prepared.params
    folder_name = incident_folder_name(params.incident, params.date)
    incident_dir = archive.incident_dir(folder_name)
    notebook = incident_dir / "investigation.ipynb"
    if notebook.exists():
        raise UsageError(f"{notebook} already exists: open it with `incident-lab lab {folder_name}`")
    incident_dir.mkdir(parents=True, exist_ok=True)
    parameters = {
        **params.notebook_parameters(),
        "history_dir": str(incident_dir.resolve()),
        "archive_dir": archive.address,
        "interactive": True,
        "probe_path": [str(Path(folder).resolve()) for folder in probe_path],
    }
    error = execute_template(notebook, parameters, progress=False, prepare_only=True)
    if error:
        raise ArchiveError(f"could not prepare {notebook}: {error}")
    # The notebook's Related Patterns link to the catalogue beside it, as a run's report does.
    catalogue = (registry or default_registry()).patterns
    (incident_dir / CATALOGUE_FILE).write_text(catalogue_markdown(catalogue), encoding="utf-8")
    return notebook, prepared.withheld


def write_run_files(
    staged: Path,
    executed: Any,
    params: InvestigationParams,
    earlier: IncidentHistory,
    rounds: list[Round],
    results: list[Result],
    queries: list[QueryRecord],
    error: str | None,
    registry: Registry,
) -> None:
    """results.json (results, queries, this run's rounds, the incident's timeline, the
    failure patterns matched), metrics.csv, charts, the pattern catalogue and the report."""
    history = earlier.then(*rounds)
    matches = match_patterns(registry.patterns, results, history)
    document = {
        "incident": params.notebook_parameters(),
        "outcome": "failed" if error else "completed",
        "error": error,
        "started_at": min((r.started_at for r in results), default=format_time(utc_now())),
        "finished_at": format_time(utc_now()),
        "results": [r.to_dict() for r in results],
        "queries": [q.to_dict() for q in queries],
        "timeline": [entry.to_dict() for entry in history.timeline()],
        "rounds": [r.to_dict() for r in rounds],
        "patterns": [match.to_dict() for match in matches],
    }
    write_json(staged / RESULTS, document)
    (staged / CATALOGUE_FILE).write_text(catalogue_markdown(registry.patterns), encoding="utf-8")
    write_metrics(staged / "metrics.csv", history)
    export_charts(executed, staged / "charts")
    render_report(executed, staged / "report.html")


def write_failure_files(
    staged: Path, params: InvestigationParams, results: list[Result], recorded: Recorded | None, error: str
) -> None:
    """What can still be written when the report could not be: the results, what was
    recorded, and the error."""
    document = {
        "incident": params.notebook_parameters(),
        "outcome": "failed",
        "error": error,
        "finished_at": format_time(utc_now()),
        "results": [r.to_dict() for r in results],
        "queries": [q.to_dict() for q in recorded.queries] if recorded else [],
        "rounds": [r.to_dict() for r in recorded.rounds] if recorded else [],
    }
    write_json(staged / RESULTS, document)
    page = f"<!DOCTYPE html><title>{escape(params.incident)}</title><h1>{escape(params.incident)}</h1>"
    page += (
        f"<p>This run failed; the executed notebook is beside this file.</p><pre>{escape(scrub(error))}</pre>"
    )
    (staged / "report.html").write_text(page, encoding="utf-8")


def run_summary(params: InvestigationParams, results: list[Result], error: str | None) -> dict[str, Any]:
    return {
        "incident": params.incident,
        "date": params.date,
        "severity": params.severity,
        "status": params.status,
        "outcome": "failed" if error else "completed",
        "error": error,
        "finished_at": format_time(utc_now()),
        "verdicts": count_verdicts(r.verdict for r in results),
    }


def run_investigation(
    values: Mapping[str, Any],
    archive: Archive,
    *,
    progress: bool = True,
    registry: Registry | None = None,
    recorded: Recorded | None = None,
) -> RunOutcome:
    """Execute the template for one incident and archive the run; see the module docstring.
    With `recorded` (from `watch` or the panel), the notebook shows those results and
    their rounds instead of probing again."""
    prepared = prepare(values, registry)
    params, secrets = prepared.params, prepared.secrets
    archive.check_room()
    incident_dir = archive.incident_dir(incident_folder_name(params.incident, params.date))
    earlier = archive.history(incident_dir)  # a remote archive fetches it here, for the kernel too
    staged = archive.staging_dir()
    run_name = archive.claim_run(incident_dir)
    notebook = staged / "investigation.ipynb"
    parameters = {
        **params.notebook_parameters(),
        "history_dir": str(incident_dir.resolve()),
        "archive_dir": archive.address,
        "interactive": False,
    }
    try:
        with tempfile.TemporaryDirectory(prefix="incident_lab_recorded_") as scratch:
            if recorded is not None:
                parameters["recorded"] = str(Path(scratch) / "recorded.json")
                recorded.save(Path(parameters["recorded"]))
            with secrets_for_kernel(secrets):
                error = execute_template(notebook, parameters, progress=progress)
        executed, unreadable = scrub_notebook(notebook)
        error = "; ".join(filter(None, [error, unreadable])) or None
        # What was recorded stands, even where the notebook that renders it failed.
        results = [r for r in recorded.latest if r is not None] if recorded else []
        try:
            results = results_in(executed.cells) or results
            rounds = (
                recorded.rounds
                if recorded
                else [
                    *alert_rounds(params.alert, earlier),
                    Round(run_name, results, params.status),
                ]
            )
            queries = recorded.queries if recorded else []
            chosen = registry or default_registry()
            write_run_files(staged, executed, params, earlier, rounds, results, queries, error, chosen)
        except Exception as problem:  # the executed notebook is evidence: archive it, marked failed
            error = "; ".join(filter(None, [error, f"archiving failed: {type(problem).__name__}: {problem}"]))
            write_failure_files(staged, params, results, recorded, error)
        write_json(staged / SUMMARY, run_summary(params, results, error))
        write_manifest(staged, results)
        run_dir = archive.commit(staged, incident_dir, run_name)
    except BaseException as error:
        shutil.rmtree(staged, ignore_errors=True)
        archive.release_claim(incident_dir, run_name)
        if isinstance(error, OSError):  # a full disk, say: nothing archived before was touched
            raise ArchiveError(
                f"could not archive the run in {archive.name}: {error.strerror or error}"
            ) from None
        raise
    return RunOutcome(run_dir, error is None, results, error)


def archive_failed(
    values: Mapping[str, Any], archive: Archive, reason: str, *, registry: Registry | None = None
) -> RunOutcome:
    """Archive a run that could not run, or was cut short before it archived itself: a
    failed run saying why, with the alert's part of the timeline, so that nothing an
    operator was promised goes missing (`listen` on SIGTERM)."""
    prepared = prepare(values, registry)
    params = prepared.params
    incident_dir = archive.incident_dir(incident_folder_name(params.incident, params.date))
    earlier = archive.history(incident_dir)
    staged = archive.staging_dir()
    run_name = archive.claim_run(incident_dir)
    error = scrub(reason)
    try:
        rounds = alert_rounds(params.alert, earlier)
        document = {
            "incident": params.notebook_parameters(),
            "outcome": "failed",
            "error": error,
            "finished_at": format_time(utc_now()),
            "results": [],
            "queries": [],
            "timeline": [entry.to_dict() for entry in earlier.then(*rounds).timeline()],
            "rounds": [r.to_dict() for r in rounds],
        }
        write_json(staged / RESULTS, document)
        page = f"<!DOCTYPE html><title>{escape(params.incident)}</title><h1>{escape(params.incident)}</h1>"
        (staged / "report.html").write_text(
            f"{page}<p>This run did not finish.</p><pre>{escape(error)}</pre>"
        )
        write_json(staged / SUMMARY, run_summary(params, [], error))
        write_manifest(staged, [])
        run_dir = archive.commit(staged, incident_dir, run_name)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        archive.release_claim(incident_dir, run_name)
        raise
    return RunOutcome(run_dir, False, [], error)
