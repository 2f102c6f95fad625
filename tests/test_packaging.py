"""A plain, non-editable install carries the whole catalogue, its SQL and the template."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_installs_catalogue_sql_and_template(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("incident_lab-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "incident_lab/probes/postgres/lock_contention.py" in names
    assert "incident_lab/probes/postgres/sql/lock_tree_post_140000.sql" in names
    assert "incident_lab/notebooks/investigation.ipynb" in names
    assert "incident_lab/patterns/postgres.migration-holds-access-exclusive.yaml" in names

    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    listed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import incident_lab.registry as r, incident_lab;"
            "print(incident_lab.__file__); registry = r.load_registry();"
            "print(sorted(p.id for p in registry)); print(sorted(p.id for p in registry.patterns))",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(target)},
    )
    assert listed.stdout.startswith(str(target))
    assert "postgres.lock_contention" in listed.stdout and "postgres.recent_migration" in listed.stdout
    assert "postgres.migration-holds-access-exclusive" in listed.stdout
