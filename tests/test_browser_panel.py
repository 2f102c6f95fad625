"""A real browser: `incident-lab lab` serves the incident's notebook, Chromium runs it, and
the panel is used as an engineer uses it mid-incident, against a real PostgreSQL where a
migration holds a real lock: Run, Evidence, Monitor, "+ Hypothesis", Parameters and
"Save to archive". Every test also checks that the widgets logged no JavaScript error,
that the kernel sent no error, and that no cell shows a traceback.

Screenshots go to test-artifacts/, named for what they show."""

from __future__ import annotations

import itertools
import json
import os
import re
import secrets
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

import pytest

from incident_lab import scenarios
from incident_lab.runner import default_registry

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCK = "postgres-lock_contention"  # the lock hypothesis's CSS name in the panel
TRACEBACK_OUTPUT = '.jp-Notebook [data-mime-type="application/vnd.jupyter.stderr"]'
SECTIONS_FOLLOW_SECONDS = 3.0  # the views redraw 0.3 s after a change; allow for a busy machine
CONTROL_TARGET_MISSING = "No such comm target registered: jupyter.widget.control\n"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
)


def wait_until_serving(url: str, process: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "JupyterLab exited early"
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"JupyterLab did not answer at {url}")


@dataclass
class Lab:
    url: str
    archive: Path


@pytest.fixture
def start_lab(database, tmp_path, cli, database_password, free_port) -> Iterator[Callable[..., Lab]]:
    """`incident-lab new` with the hypotheses given, then `incident-lab lab`, configured to
    serve on 127.0.0.1 with a token."""
    servers: list[subprocess.Popen] = []

    def start(*hypotheses: str, probe_path: Path | None = None) -> Lab:
        archive = tmp_path / "archive"
        hypothesis_flags = [flag for hypothesis in hypotheses for flag in ("--hypothesis", hypothesis)]
        team = ["--probe-path", str(probe_path)] if probe_path else []
        subprocess.run(
            [
                *(cli.command, *team, "new", "--incident", "Checkout failing", "--severity", "High"),
                *("--target", f"postgres={database}", *hypothesis_flags, "--archive", str(archive)),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        port, token = free_port, secrets.token_hex(16)
        config = tmp_path / "jupyter"
        notification = config / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
        notification.mkdir(parents=True)
        # No "would you like news?" toast over the panel in the screenshots (and no request out).
        (notification / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
        (config / "jupyter_server_config.json").write_text(
            json.dumps(
                {
                    "ServerApp": {"ip": "127.0.0.1", "port": port, "open_browser": False, "allow_root": True},
                    "IdentityProvider": {"token": token},
                    "LabApp": {"check_for_updates_class": "jupyterlab.NeverCheckForUpdate"},
                }
            )
        )
        environment = {
            **os.environ,
            "PGPASSWORD": database_password,
            "HOME": str(tmp_path),
            "JUPYTER_CONFIG_DIR": str(config),
        }
        with open(tmp_path / "jupyterlab.log", "w") as log:
            server = subprocess.Popen(
                [cli.command, *team, "lab", "Checkout failing", "--archive", str(archive)],
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        servers.append(server)
        wait_until_serving(f"http://127.0.0.1:{port}/api/status?token={token}", server)
        return Lab(f"http://127.0.0.1:{port}/lab/tree/investigation.ipynb?token={token}", archive)

    try:
        yield start
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def wait_for_idle_kernel(page, timeout: float = 90) -> None:
    """JupyterLab may first ask which kernel to start (the notebook's own is preselected)."""
    select_kernel = page.locator(".jp-Dialog button", has_text="Select")
    idle = page.get_by_text("Python 3 (ipykernel) | Idle")
    deadline = time.monotonic() + timeout
    idle_checks = 0
    while time.monotonic() < deadline:
        if select_kernel.count():
            select_kernel.first.click()
            idle_checks = 0
        elif idle.count():
            idle_checks += 1
            if idle_checks >= 4:  # idle for a second with no dialog: the notebook is ready
                return
        page.wait_for_timeout(250)
    raise TimeoutError("the notebook's kernel never became idle")


@dataclass
class Watched:
    """What went wrong out of sight while a test drove the page."""

    console_errors: list[str] = field(default_factory=list)
    kernel_stderr: list[str] = field(default_factory=list)
    control_comms: set[str] = field(default_factory=set)

    def listen(self, page) -> None:
        page.on("console", lambda message: self._console(message))
        page.on("pageerror", lambda error: self.console_errors.append(f"page error: {error}"))
        page.on("websocket", self._socket)

    def _socket(self, socket) -> None:
        socket.on("framereceived", self._frame)
        socket.on("framesent", self._sent)

    @property
    def kernel_errors(self) -> list[str]:
        """Errors and stderr from the kernel, but for its answer to the widget manager's probe:
        on connecting, JupyterLab's widget manager asks for widget states over the
        `jupyter.widget.control` comm, before the kernel has imported ipywidgets, and is
        told on stderr that there is no such comm (then it asks again once widgets exist)."""
        probe = [CONTROL_TARGET_MISSING, *(f"No such comm: {comm}\n" for comm in self.control_comms)]
        return [text for text in self.kernel_stderr if text not in probe]

    def _sent(self, payload: str | bytes) -> None:
        if isinstance(payload, bytes):
            msg_type, content = kernel_message(payload)
            if msg_type == "comm_open" and content.get("target_name") == "jupyter.widget.control":
                self.control_comms.add(content["comm_id"])

    def _console(self, message) -> None:
        if message.type == "error":
            self.console_errors.append(f"{message.text} ({message.location.get('url', '')})")

    def _frame(self, payload: str | bytes) -> None:
        if isinstance(payload, str):
            return  # the v1 kernel protocol JupyterLab 4 speaks sends kernel messages as binary frames
        msg_type, content = kernel_message(payload)
        if msg_type == "error":
            self.kernel_stderr.append(f"{content.get('ename')}: {content.get('evalue')}")
        elif msg_type == "stream" and content.get("name") == "stderr":
            self.kernel_stderr.append(content.get("text", ""))


def kernel_message(frame: bytes) -> tuple[str, dict[str, Any]]:
    """The type and content of a kernel message in a websocket frame of the
    v1.kernel.websocket.jupyter.org protocol: a count of offsets, the offsets, then the
    channel, header, parent header, metadata and content."""
    count = int.from_bytes(frame[:8], "little")
    offsets = [int.from_bytes(frame[8 + 8 * i : 16 + 8 * i], "little") for i in range(count)]
    parts = [frame[start:end] for start, end in itertools.pairwise(offsets)]
    return json.loads(parts[1]).get("msg_type", ""), json.loads(parts[4])


@contextmanager
def notebook_page(chromium, url: str, name: str) -> Iterator[Any]:
    """The incident's notebook open in a fresh page, its kernel idle; afterwards, no JavaScript
    error in the console, no error from the kernel, no traceback in a cell. A failure leaves
    `NAME-failure.png`."""
    ARTIFACTS.mkdir(exist_ok=True)
    context = chromium.new_context(viewport={"width": 1400, "height": 1700})
    page = context.new_page()
    watched = Watched()
    watched.listen(page)
    try:
        page.goto(url)
        page.locator(".jp-Notebook").wait_for(timeout=60_000)
        wait_for_idle_kernel(page)
        yield page
        assert page.locator(TRACEBACK_OUTPUT).count() == 0, page.locator(TRACEBACK_OUTPUT).all_inner_texts()
        assert watched.kernel_errors == []
        assert watched.console_errors == []
    except BaseException:
        page.screenshot(path=str(ARTIFACTS / f"{name}-failure.png"), full_page=True)
        raise
    finally:
        context.close()


def run_all_cells(page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()


def section(page, heading: str):
    """The notebook's view (an ipywidgets Output under the panel) that shows `heading`."""
    return page.locator(".jp-Notebook .widget-output", has_text=heading).last


def shot(target, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    target.screenshot(path=str(path))
    assert path.stat().st_size > 10_000, f"{path.name} looks empty"
    return path


def test_the_evidence_and_the_sections_below_follow_the_badge_when_the_lock_clears(
    chromium, start_lab, database
):
    from playwright.sync_api import expect

    lab = start_lab("postgres.lock_contention")
    with notebook_page(chromium, lab.url, "evidence") as page:
        badge, evidence = page.locator(f".il-badge-{LOCK}"), page.locator(f".il-evidence-{LOCK}")
        hypothesis = section(page, "Hypothesis A:")
        symptoms = page.locator(".jp-Notebook .widget-output table", has=page.locator("th", has_text="Notes"))
        with scenarios.migration_holds_lock(database, readers=3) as migration:
            run_all_cells(page)
            expect(badge).to_contain_text("True", timeout=120_000)
            page.locator(f".il-evidence-toggle-{LOCK}").click()
            expect(evidence).to_contain_text("blocking_tree")
            expect(evidence).to_contain_text("ALTER TABLE")
            expect(evidence).to_contain_text(f"migration pid {migration}")
            expect(hypothesis).to_contain_text("Result: True")
            # A lock measures no symptom of the template: User Impact stays unknown, saying why.
            expect(symptoms.locator("tbody tr")).to_have_count(1)
            expect(symptoms.locator("tbody tr")).to_contain_text("User ImpactUnknown")
            patterns = page.locator(".il-pattern-matches")
            expect(patterns).to_contain_text("A migration holds ACCESS EXCLUSIVE")
            expect(patterns.locator("li").first).to_contain_text("matched")
            expect(patterns).to_contain_text(f"root_pid {migration}")
            shot(patterns, "panel-failure-patterns-matched-with-their-evidence")
            shot(page.locator(f".il-row-{LOCK}"), "evidence-lock-held-blocking-tree-names-the-migration")
            pane = evidence.locator(".il-table-scroll").first  # the blocking tree's own scroll box
            scrolled = pane.evaluate("p => { p.scrollLeft = p.scrollWidth; return p.scrollLeft; }")
            assert scrolled > 0, "the tree is wider than the pane, which must scroll to show the query"
            shot(pane, "evidence-lock-held-blocking-tree-scrolled-to-the-migration-query")
        page.locator(f".il-run-{LOCK}").click()
        expect(badge).to_contain_text("False", timeout=60_000)
        # The open pane shows the new result, and only it: no tree, and the old one in words.
        expect(evidence.locator(".il-result .il-badge")).to_have_text("False")
        expect(evidence).to_contain_text("blocking_tree: no rows")
        expect(evidence).not_to_contain_text("ALTER TABLE")
        expect(evidence).not_to_contain_text(f"migration pid {migration}")
        expect(evidence).to_contain_text("Confirmed earlier")
        shot(page.locator(f".il-row-{LOCK}"), "evidence-lock-released-no-blocking-tree")
        # The sections under the panel follow within a couple of seconds.
        follow = {"timeout": SECTIONS_FOLLOW_SECONDS * 1000}
        expect(section(page, "Summary")).to_contain_text("Confirmed earlier, now cleared", **follow)
        expect(hypothesis).to_contain_text("Result: False", **follow)
        expect(hypothesis).to_contain_text("blocking_tree: no rows", **follow)
        expect(section(page, "Timeline:")).to_contain_text("True → False", **follow)
        expect(section(page, "Timeline:")).to_contain_text("cleared", **follow)
        expect(symptoms.locator("tbody tr")).to_have_count(1)
        expect(page.locator(".il-pattern-matches")).to_contain_text("matched earlier")
        expect(page.locator(".il-pattern-matches")).to_contain_text(", ruled out at ")
        shot(cell(page, ".widget-output", "Being done:"), "sections-header-summary-after-the-lock-cleared")
        shot(cell(page, "th", "Notes"), "sections-symptoms-and-timeline-after-the-lock-cleared")
        shot(cell(page, ".widget-output", "Hypothesis A:"), "sections-hypothesis-a-after-the-lock-cleared")
        # Another migration takes the lock: Run turns the badge True again, and the pane names
        # that migration, not the first.
        with scenarios.migration_holds_lock(database, readers=3) as second:
            page.locator(f".il-run-{LOCK}").click()
            expect(badge).to_contain_text("True", timeout=60_000)
            expect(evidence).to_contain_text(f"migration pid {second}")
            expect(evidence).not_to_contain_text(re.compile(rf"migration pid {migration}\b"))
            expect(evidence.locator(".il-result .il-badge")).to_have_text("True")
            expect(section(page, "Being done:")).to_contain_text(f"migration pid {second}", **follow)
            expect(section(page, "Timeline:")).to_contain_text("False → True", **follow)
            shot(page.locator(".jp-Notebook"), "panel-lock-true-again-evidence-names-the-second-migration")


def test_monitor_turned_off_during_a_round_leaves_no_row_running(chromium, start_lab, database):
    from playwright.sync_api import expect

    window = 2.5  # the deadlock probe's: each round's slowest probe
    lab = start_lab("postgres.lock_contention", f"postgres.deadlocks:window_seconds={window}")
    with notebook_page(chromium, lab.url, "monitor") as page:
        deadlocks_running = page.locator(".il-running-postgres-deadlocks", has_text="running")
        any_running = page.locator(".il-running", has_text="running")
        timeline = page.locator(".il-timeline")
        with scenarios.migration_holds_lock(database, readers=2):
            run_all_cells(page)
            expect(page.locator(f".il-badge-{LOCK}")).to_contain_text("True", timeout=120_000)
            expect(page.locator(".il-badge-postgres-deadlocks")).to_contain_text("False", timeout=60_000)
            # The status chosen in the panel is the header's, at once.
            page.locator(".il-status select").select_option("Monitoring")
            expect(section(page, "Severity:")).to_contain_text(
                "Status: Monitoring", timeout=SECTIONS_FOLLOW_SECONDS * 1000
            )
            expect(timeline).to_contain_text("Status Investigating → Monitoring")
            page.locator(".il-every input").fill("1")
            page.locator(".il-every input").press("Enter")
            page.locator(".il-monitor").click()
            expect(timeline).to_contain_text("monitoring round 5", timeout=30_000)
            listed = rounds_listed(timeline)  # to the second: 4 s apart, give or take one
            took = listed[5].started - listed[1].started
            assert took <= 5, f"rounds 1 to 5 took {took} s at every 1 s"
            # Mid-round: the slow probe's row is marked and keeps its verdict; the quick one's is final.
            expect(deadlocks_running).to_have_count(1, timeout=10_000)
            expect(page.locator(".il-badge-postgres-deadlocks")).to_contain_text("False")
            expect(page.locator(f".il-badge-{LOCK}")).to_contain_text("True")
            shot(page.locator(".jp-Notebook"), "monitor-on-every-1s-deadlock-probe-running-mid-round")
            page.locator(".il-monitor").click()
            turned_off = time.time()
            while any_running.count():  # the round's probes finish: at most one window
                assert time.time() - turned_off < window + 5, "a row stayed running after monitoring stopped"
                page.wait_for_timeout(100)
            cleared = time.time()
            last = last_round(timeline)
            # The sections under the panel have every round as the panel does, within a couple of seconds.
            for listed in rounds_listed(timeline).values():
                expect(section(page, "Timeline:")).to_contain_text(
                    listed.text, timeout=SECTIONS_FOLLOW_SECONDS * 1000
                )
            shot(page.locator(".jp-Notebook"), "monitor-off-no-row-running")
            # When that round's last probe finished, by the kernel's clock (the same machine's).
            page.locator(".il-evidence-toggle-postgres-deadlocks").click()
            finished = result_finished(page.locator(".il-evidence-postgres-deadlocks"))
        late = cleared - finished
        assert late < 2.0, f"a row was still marked running {late:.1f} s after the round's probes ended"
        assert cleared - turned_off < window + 2.0
        # And monitoring stays off: no new round starts, no row is marked again.
        page.wait_for_timeout(2500)
        assert any_running.count() == 0 and last_round(timeline) == last
        expect(page.locator(".il-badge-postgres-deadlocks")).to_contain_text("False")


@dataclass
class Listed:
    """A monitoring round as the panel's timeline lists it."""

    number: int
    started: int  # seconds of the day, as the timeline shows it
    text: str  # what the timeline says of it, e.g. "monitoring round 4: 2 tested — 1 True, 1 False"


def rounds_listed(timeline) -> dict[int, Listed]:
    listed = {}
    for item in timeline.locator("li").all_text_contents():
        found = re.fullmatch(r"(\d\d):(\d\d):(\d\d) UTC (monitoring round (\d+): .*)", item.strip())
        if found:
            hours, minutes, seconds, text, number = found.groups()
            started = int(hours) * 3600 + int(minutes) * 60 + int(seconds)
            listed[int(number)] = Listed(int(number), started, text)
    return listed


def last_round(timeline) -> Listed:
    listed = rounds_listed(timeline)
    return listed[max(listed)]


def result_finished(evidence) -> float:
    """When the result shown in an Evidence pane ended (epoch seconds): its start and duration."""
    from playwright.sync_api import expect

    expect(evidence).to_contain_text("started ")
    text = evidence.text_content()
    started, took = re.search(r"started (\S+)Z, (\d+) ms", text).groups()
    return datetime.fromisoformat(started).replace(tzinfo=UTC).timestamp() + int(took) / 1000


def test_a_hypothesis_added_from_the_form_runs_and_is_saved_to_the_archive(chromium, start_lab, database):
    from playwright.sync_api import expect

    long_transactions = default_registry().get("postgres.long_transactions")
    title = "The migration keeps its transaction open"
    lab = start_lab("postgres.lock_contention")
    with notebook_page(chromium, lab.url, "add-hypothesis") as page:
        with scenarios.migration_holds_lock(database, readers=2) as migration:
            run_all_cells(page)
            expect(page.locator(f".il-badge-{LOCK}")).to_contain_text("True", timeout=120_000)
            page.locator(".il-add-toggle").click()
            page.locator(".il-form-probe select").select_option(
                f"{long_transactions.id} — {long_transactions.hypothesis}"
            )
            threshold = page.locator(".il-form-params .il-param-max_transaction_seconds input")
            expect(threshold).to_have_value("300.0")  # the probe's default, from its typed parameters
            threshold.fill("0")
            page.locator(".il-form-target select").select_option("postgres")
            page.locator(".il-form-title input").fill(title)
            shot(page.locator(".jp-Notebook"), "add-hypothesis-form-long-transactions-filled-in")
            page.locator(".il-add-hypothesis").click()
            expect(page.locator(".il-form-message")).to_contain_text("added as hypothesis B")
            added = page.locator(".il-badge-postgres-long_transactions")
            expect(added).to_contain_text("True", timeout=60_000)
            expect(page.locator(".il-running-b")).to_have_text("")
            summary = page.locator(".il-summary-b").inner_text()
            assert str(migration) in summary
            follow = {"timeout": SECTIONS_FOLLOW_SECONDS * 1000}
            expect(section(page, f"Hypothesis B: {title}")).to_contain_text("Result: True", **follow)
            expect(section(page, "Being done:")).to_contain_text(f"Confirmed: B {title}", **follow)
            shot(page.locator(".jp-Notebook"), "add-hypothesis-row-b-true-beside-a")
        page.locator(".il-save").click()
        message = page.locator(".il-message")
        expect(message).to_contain_text("saved:", timeout=180_000)
        shot(page.locator(".jp-Notebook"), "save-to-archive-says-saved-with-the-report-path")
        report = Path(message.locator("code").inner_text())
    assert report.name == "report.html" and lab.archive in report.parents
    document = json.loads((report.parent / "results.json").read_text())
    assert document["outcome"] == "completed"
    saved = [r for r in document["results"] if r["hypothesis"] == title]
    assert len(saved) == 1 and saved[0]["probe"] == "postgres.long_transactions"
    assert saved[0]["verdict"] is True and saved[0]["summary"] == summary
    assert saved[0]["params"]["max_transaction_seconds"] == 0
    html = report.read_text()
    assert f"Hypothesis B: {title}" in html and escape(summary) in html


def test_a_parameter_change_from_the_panel_is_on_the_timeline_and_its_flip_said_to_be_caused_by_it(
    chromium, start_lab, database
):
    from playwright.sync_api import expect

    lab = start_lab("postgres.lock_contention")
    with notebook_page(chromium, lab.url, "parameters") as page:
        badge = page.locator(f".il-badge-{LOCK}")
        timeline = page.locator(".il-timeline")
        with scenarios.migration_holds_lock(database, readers=2):
            run_all_cells(page)
            expect(badge).to_contain_text("True", timeout=120_000)
            page.locator(f".il-params-toggle-{LOCK}").click()
            wait = page.locator(f".il-row-{LOCK} .il-param-min_wait_seconds input")
            expect(wait).to_have_value("0.0")
            wait.fill("300")
            page.locator(f".il-apply-{LOCK}").click()
            expect(badge).to_contain_text("False", timeout=60_000)  # six sessions still blocked
            expect(timeline).to_contain_text("A: min_wait_seconds (default) → 300.0")
            expect(timeline).to_contain_text(
                "True → False after its parameters changed (min_wait_seconds 0.0 → 300.0), "
                "not a change in the system"
            )
            expect(timeline.locator("ul").first).not_to_contain_text("cleared")
            expect(section(page, "Hypothesis A:")).to_contain_text(
                "Result: False", timeout=SECTIONS_FOLLOW_SECONDS * 1000
            )
            shot(page.locator(".jp-Notebook"), "parameters-min-wait-300-false-flip-caused-by-the-change")


def cell(page, selector: str, text: str):
    """The notebook cell that holds an element `selector` with `text`."""
    return page.locator(".jp-Notebook .jp-Cell", has=page.locator(selector, has_text=text)).last


TEAM_PROBE = """
from incident_lab import PostgresSession, confirmed, probe, refuted


@probe("team.orders_locked", hypothesis="Orders cannot be written", test="pg_locks", target="postgres")
def orders_locked(db: PostgresSession):
    (row,) = db.execute(
        "SELECT count(*) AS waiting FROM pg_catalog.pg_locks"
        " WHERE NOT granted AND relation = 'public.orders'::regclass"
    )
    waiting = row["waiting"]
    if waiting:
        return confirmed(f"{waiting} sessions wait for a lock on public.orders (the team's own probe)")
    return refuted("no session waits for a lock on public.orders (the team's own probe)")
"""


def test_a_team_probe_from_the_probe_path_is_in_the_panels_catalogue_runs_and_is_saved(
    chromium, start_lab, database, tmp_path
):
    from playwright.sync_api import expect

    folder = tmp_path / "team-probes"
    folder.mkdir()
    (folder / "orders.py").write_text(TEAM_PROBE)
    lab = start_lab("postgres.lock_contention", probe_path=folder)
    with notebook_page(chromium, lab.url, "team-probe") as page:
        with scenarios.migration_holds_lock(database, readers=2):
            run_all_cells(page)
            expect(page.locator(f".il-badge-{LOCK}")).to_contain_text("True", timeout=120_000)
            page.locator(".il-add-toggle").click()
            # The kernel JupyterLab started knows the team's folder: its probe is in the form.
            chosen = "team.orders_locked — Orders cannot be written"
            page.locator(".il-form-probe select").select_option(chosen)
            page.locator(".il-form-target select").select_option("postgres")
            page.locator(".il-add-hypothesis").click()
            expect(page.locator(".il-form-message")).to_contain_text("added as hypothesis B")
            expect(page.locator(".il-badge-team-orders_locked")).to_contain_text("True", timeout=60_000)
            summary = page.locator(".il-summary-b").inner_text()
            assert "(the team's own probe)" in summary
            shot(page.locator(".jp-Notebook"), "team-probe-from-the-probe-path-true-beside-the-lock")
        page.locator(".il-save").click()
        message = page.locator(".il-message")
        expect(message).to_contain_text("saved:", timeout=180_000)
        report = Path(message.locator("code").inner_text())
    document = json.loads((report.parent / "results.json").read_text())
    assert document["outcome"] == "completed"
    (saved,) = [r for r in document["results"] if r["probe"] == "team.orders_locked"]
    assert saved["verdict"] is True and saved["summary"] == summary
