"""A team's archive in an S3 bucket, on a real S3 API (moto's server on 127.0.0.1, through
s3fs): every command that archives or reads runs works on `s3://bucket/prefix`, reached
through the standard AWS variables alone, which appear in no archived object; two
writers saving runs of one incident at once never take the same number nor overwrite a
thing; a run whose writer dies mid-upload is never listed as complete."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys

import fsspec
import pytest

from incident_lab.archive.remote import open_archive
from incident_lab.notebook import InvestigationNotebook

INCIDENT_FOLDER = "2026-12-02-checkout-failing"
# Saves runs of one incident through the archive's own API, as `run` does once the
# notebook has been executed, once a start file appears; prints each run's name.
WRITER = """
import json, sys, time
from pathlib import Path
from incident_lab.archive.remote import open_archive
from incident_lab.archive.store import write_json

url, folder, writer = sys.argv[1:4]
start, saves = Path(sys.argv[4]), int(sys.argv[5])
archive = open_archive(url)
incident_dir = archive.incident_dir(folder)
while not start.exists():
    time.sleep(0.001)
for save in range(saves):
    staged = archive.staging_dir()
    write_json(staged / "results.json", {"writer": writer, "save": save})
    write_json(staged / "summary.json", {
        "incident": "Checkout failing", "date": "2026-12-02", "severity": "High", "status": "Investigating",
        "outcome": "completed", "error": None, "finished_at": f"2026-12-02T01:{save:02d}:00.000Z",
        "verdicts": {"True": 1}, "writer": writer,
    })
    run = archive.claim_run(incident_dir)
    archive.commit(staged, incident_dir, run)
    print(run, flush=True)
"""
# Claims a run and uploads its first two objects, then waits to be killed.
HALF_UPLOADER = """
import sys, time
from incident_lab.archive.remote import open_archive
from incident_lab.archive.store import write_json

archive = open_archive(sys.argv[1])
incident_dir = archive.incident_dir(sys.argv[2])
staged = archive.staging_dir()
for name in ("investigation.ipynb", "report.html", "results.json", "summary.json"):
    write_json(staged / name, {"name": name})
uploads = archive.uploads(staged, incident_dir, archive.claim_run(incident_dir))
print(next(uploads), next(uploads), flush=True)
time.sleep(600)
"""


@pytest.fixture
def bucket_url(s3_server, monkeypatch) -> str:
    """A prefix of its own in the test bucket; the AWS variables set here as for a team member."""
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    return f"s3://{s3_server.bucket}/team-{secrets.token_hex(4)}"


def objects(url: str) -> dict[str, bytes]:
    # A client of its own: fsspec's cached one may still aim at a server an earlier test stopped.
    fs, root = fsspec.core.url_to_fs(url, skip_instance_cache=True)
    paths = fs.find(root)
    return {path[len(root) + 1 :]: data for path, data in fs.cat(paths).items()} if paths else {}


def assert_no_credentials(s3_server, *texts: bytes | str) -> None:
    for text in texts:
        data = text.encode() if isinstance(text, str) else text
        for secret in (s3_server.access_key, s3_server.secret_key, s3_server.address):
            assert secret.encode() not in data


def test_every_command_works_on_a_bucket_and_no_credential_reaches_it(database, s3_server, bucket_url, cli):
    target = ["--target", f"postgres={database}", "--hypothesis", "postgres.lock_contention"]
    first = cli(
        "run", "--incident", "Checkout failing", "--severity", "High", *target, "--archive", bucket_url
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"{bucket_url}/{INCIDENT_FOLDER}/run-001/report.html"
    from_variable = {**os.environ, "INCIDENT_LAB_ARCHIVE": bucket_url}
    second = cli("run", "--incident", "Checkout failing", "--severity", "High", *target, env=from_variable)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip().endswith("/run-002/report.html")
    again = ["--target", f"postgres={database}", "--archive", bucket_url]
    watched = cli("watch", "Checkout failing", "--every", "0.2s", "--max-rounds", "1", *again)
    assert watched.returncode == 0, watched.stderr
    assert watched.stdout.strip().endswith("/run-003/report.html")
    notebook = InvestigationNotebook.open(
        incident="Checkout failing",
        severity="High",
        targets={"postgres": database},
        hypotheses=[{"probe": "postgres.lock_contention"}],
        archive_dir=bucket_url,
    )
    notebook.run()
    saved = notebook.save_to_archive()  # the panel's "Save to archive"
    assert saved.completed and saved.run_dir.name == "run-004"

    listed = cli("list", env=from_variable)
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()] == [
        INCIDENT_FOLDER, "run-004", "run-003", "run-002", "run-001",
    ]  # fmt: skip
    shown = cli("show", "Checkout failing/run-002", "--archive", bucket_url)
    assert shown.returncode == 0, shown.stderr
    assert "Checkout failing — High, Investigating, run-002 completed" in shown.stdout
    assert shown.stdout.strip().endswith(f"{bucket_url}/{INCIDENT_FOLDER}/run-002/report.html")
    missing = cli("show", "Checkout failing/run-009", "--archive", bucket_url)
    assert missing.returncode == 2 and "has no run-009" in missing.stderr

    stored = objects(bucket_url)
    for run in ("run-001", "run-002", "run-003", "run-004"):
        assert f".complete/{INCIDENT_FOLDER}/{run}.json" in stored
        assert {"report.html", "results.json", "summary.json", "manifest.json", "investigation.ipynb"} <= {
            name.split("/", 2)[2] for name in stored if name.startswith(f"{INCIDENT_FOLDER}/{run}/")
        }
    timeline = json.loads(stored[f"{INCIDENT_FOLDER}/run-004/results.json"])["timeline"]
    # The panel's save, in a process of its own, read the three runs before it from the bucket.
    ran = [e["text"] for e in timeline if e["kind"] == "run"]
    assert ran[0].startswith("run-001") and ran[1].startswith("run-002") and ran[2].startswith("watch round")
    assert len(stored) > 40
    assert_no_credentials(s3_server, *stored.values())
    for shown_to_person in (first, second, watched, listed, shown, missing):
        assert_no_credentials(s3_server, shown_to_person.stdout, shown_to_person.stderr)


def test_the_demo_archives_into_a_bucket(s3_server, bucket_url, cli):
    shown = cli("demo", "--archive", bucket_url)
    assert shown.returncode == 0, shown.stderr
    report = shown.stdout.strip().splitlines()[-1]
    assert report.startswith(bucket_url) and report.endswith("/run-001/report.html")
    stored = objects(bucket_url)
    assert report.removeprefix(f"{bucket_url}/") in stored
    assert_no_credentials(s3_server, *stored.values(), shown.stdout, shown.stderr)


def test_two_writers_saving_twenty_runs_each_at_once_never_collide(s3_server, bucket_url, tmp_path):
    start = tmp_path / "start"
    writers = {
        name: subprocess.Popen(
            [sys.executable, "-c", WRITER, bucket_url, INCIDENT_FOLDER, name, str(start), "20"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("alice", "bob")
    }
    start.touch()
    saved = {}
    for name, writer in writers.items():
        out, errors = writer.communicate(timeout=300)
        assert writer.returncode == 0, errors
        saved[name] = out.split()
    assert len(saved["alice"]) == len(saved["bob"]) == 20
    numbers = saved["alice"] + saved["bob"]
    assert len(set(numbers)) == 40, "a run number was given twice"
    stored = objects(bucket_url)
    for name, runs in saved.items():
        for save, run in enumerate(runs):
            # Each run holds what the writer that got its number wrote, and nothing else.
            assert json.loads(stored[f"{INCIDENT_FOLDER}/{run}/results.json"]) == {
                "writer": name,
                "save": save,
            }
            assert json.loads(stored[f".complete/{INCIDENT_FOLDER}/{run}.json"])["writer"] == name
    archive = open_archive(bucket_url)
    (folder,) = archive.incident_folders()
    assert sorted(r.run for r in archive.runs(folder)) == sorted(numbers)
    assert not any(r.damaged for r in archive.runs(folder))


def test_a_run_killed_mid_upload_is_never_listed_as_complete(s3_server, bucket_url, cli, tmp_path):
    uploader = subprocess.Popen(
        [sys.executable, "-c", HALF_UPLOADER, bucket_url, INCIDENT_FOLDER], stdout=subprocess.PIPE, text=True
    )
    uploaded = uploader.stdout.readline().split()
    uploader.send_signal(signal.SIGKILL)
    uploader.wait(timeout=30)
    assert uploaded == [
        f"{INCIDENT_FOLDER}/run-001/investigation.ipynb",
        f"{INCIDENT_FOLDER}/run-001/report.html",
    ]
    stored = objects(bucket_url)
    assert set(uploaded) <= set(stored)  # the dead writer's objects are there, and only those
    assert not any(name.startswith(".complete/") for name in stored)
    listed = cli("list", "--archive", bucket_url)
    assert listed.returncode == 0 and listed.stdout.strip() == f"no investigations in {bucket_url}"

    # The next run takes the next number: the dead one's is never given back, nor overwritten.
    start = tmp_path / "start"
    start.touch()
    writer = subprocess.run(
        [sys.executable, "-c", WRITER, bucket_url, INCIDENT_FOLDER, "carol", str(start), "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert writer.returncode == 0, writer.stderr
    assert writer.stdout.split() == ["run-002"]
    after = objects(bucket_url)
    assert {name: after[name] for name in stored} == stored
    listed = cli("list", "--archive", bucket_url)
    assert "run-002" in listed.stdout and "run-001" not in listed.stdout
    shown = cli("show", "Checkout failing/run-001", "--archive", bucket_url)
    assert shown.returncode == 2 and f"incident {INCIDENT_FOLDER} has no run-001" in shown.stderr


def test_an_endpoint_that_does_not_answer_is_one_line_and_exit_1(cli, free_port, tmp_path):
    endpoint = f"http://127.0.0.1:{free_port}"
    unreachable = {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "not-a-real-secret-key",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
    }
    for command in (["list"], ["show", "Checkout failing"]):
        shown = cli(*command, "--archive", "s3://team-incidents/archive", env=unreachable, cwd=tmp_path)
        assert shown.returncode == 1, shown.stderr
        assert "Traceback" not in shown.stderr and len(shown.stderr.strip().splitlines()) == 1
        assert "could not list its runs: EndpointConnectionError" in shown.stderr
        assert f"127.0.0.1:{free_port}" not in shown.stderr + shown.stdout
