"""An archive at an fsspec URL: runs are uploaded once complete, then listed and shown
from there. `file://` goes through fsspec like `s3://` does, without a network."""

import json


def test_runs_go_to_an_fsspec_url_and_are_listed_and_shown_from_it(database, tmp_path, cli):
    url = f"file://{tmp_path}/bucket/incidents"
    for _ in range(2):
        shown = cli(
            "run",
            "--incident",
            "Checkout failing",
            "--severity",
            "High",
            "--target",
            f"postgres={database}",
            "--hypothesis",
            "postgres.lock_contention",
            "--archive",
            url,
        )
        assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip().startswith(url) and shown.stdout.strip().endswith("/run-002/report.html")
    bucket = tmp_path / "bucket" / "incidents"
    (incident,) = [p for p in bucket.iterdir() if not p.name.startswith(".")]
    # Claimed numbers and the markers of complete runs, which `list` reads rather than every run.
    assert sorted(p.name for p in (bucket / ".claims" / incident.name).iterdir()) == ["run-001", "run-002"]
    assert sorted(
        p.name for p in (tmp_path / "bucket" / "incidents" / ".complete" / incident.name).iterdir()
    ) == [
        "run-001.json",
        "run-002.json",
    ]
    assert sorted(p.name for p in incident.iterdir()) == ["run-001", "run-002"]
    run = incident / "run-002"
    assert {"report.html", "results.json", "metrics.csv", "summary.json", "investigation.ipynb"} <= {
        p.name for p in run.iterdir()
    }
    timeline = json.loads((run / "results.json").read_text())["timeline"]
    assert [entry["text"][:7] for entry in timeline if entry["kind"] == "run"] == ["run-001", "run-002"]
    listed = cli("list", "--archive", url)
    assert listed.stdout.index("run-002") < listed.stdout.index("run-001")
    assert (bucket / ".index.json").is_file()
    show = cli("show", "Checkout failing/run-001", "--archive", url)
    assert show.returncode == 0 and show.stdout.strip().endswith(f"{url}/{incident.name}/run-001/report.html")
    refused = cli(
        "new", "--incident", "X", "--severity", "Low", "--target", "postgres=shop", "--archive", url
    )
    assert refused.returncode == 2 and "needs a local archive folder" in refused.stderr
