"""A real browser: `incident-lab lab` serves the incident's notebook, Chromium runs it, and
the panel's Run button turns the lock hypothesis True under a real lock, then False."""

import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from incident_lab import scenarios

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


@pytest.fixture
def jupyterlab(database, tmp_path, cli, database_password, free_port):
    """`incident-lab new`, then `incident-lab lab`, configured to serve on 127.0.0.1 with a token."""
    archive = str(tmp_path / "archive")
    subprocess.run(
        [
            cli.command,
            "new",
            "--incident",
            "Checkout failing",
            "--severity",
            "High",
            "--target",
            f"postgres={database}",
            "--hypothesis",
            "postgres.lock_contention",
            "--archive",
            archive,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    port, token = free_port, secrets.token_hex(16)
    config = tmp_path / "jupyter"
    config.mkdir()
    (config / "jupyter_server_config.json").write_text(
        json.dumps(
            {
                "ServerApp": {"ip": "127.0.0.1", "port": port, "open_browser": False, "allow_root": True},
                "IdentityProvider": {"token": token},
                "LabApp": {"check_for_updates_class": "jupyterlab.NeverCheckForUpdate"},
            }
        )
    )
    password = database_password
    server = subprocess.Popen(
        [cli.command, "lab", "Checkout failing", "--archive", archive],
        env={**os.environ, "PGPASSWORD": password, "HOME": str(tmp_path), "JUPYTER_CONFIG_DIR": str(config)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/api/status?token={token}", server)
        yield f"http://127.0.0.1:{port}/lab/tree/investigation.ipynb?token={token}"
    finally:
        server.terminate()
        server.wait(timeout=30)


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


def test_clicking_run_turns_the_lock_badge_true_then_false(jupyterlab, database):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        try:
            page.goto(jupyterlab)
            page.locator(".jp-Notebook").wait_for(timeout=60_000)
            wait_for_idle_kernel(page)
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
            badge = page.locator(".il-badge-postgres-lock_contention")
            run = page.locator(".il-run-postgres-lock_contention")
            expect(badge).to_contain_text("False", timeout=120_000)
            with scenarios.migration_holds_lock(database, readers=3):
                run.click()
                expect(badge).to_contain_text("True", timeout=60_000)
                page.locator(".jp-Notebook").screenshot(path=str(ARTIFACTS / "panel-lock-true.png"))
            run.click()
            expect(badge).to_contain_text("False", timeout=60_000)
            page.screenshot(path=str(ARTIFACTS / "panel-lock-false.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "panel-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    assert (ARTIFACTS / "panel-lock-true.png").stat().st_size > 10_000
    shutil.copy(ARTIFACTS / "panel-lock-true.png", ARTIFACTS / "panel.png")
