"""What every test file shares: the real-server fixtures of `incident_lab.testing`, the
installed command, and the split between the fast tier and the rest.

Tests under `tests/unit/` run pure logic in seconds (`pytest -m "not slow"` runs
them alone); every other test is marked `slow`: it starts servers, kernels or a browser.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict

from incident_lab.services import free_port as find_free_port

pytest_plugins = ["incident_lab.testing.fixtures"]

UNIT_TESTS = Path(__file__).parent / "unit"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if UNIT_TESTS not in Path(item.fspath).parents:
            item.add_marker(pytest.mark.slow)


class Command:
    """The installed `incident-lab`, run as a user runs it."""

    command = str(Path(sys.executable).with_name("incident-lab"))

    def __call__(self, *args: str, timeout: float = 300, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.command, *args], capture_output=True, text=True, timeout=timeout, **kwargs
        )


@pytest.fixture
def cli() -> Command:
    return Command()


@pytest.fixture
def database_password(database: str) -> str:
    """The password inside the `database` fixture's URI, to look for where it must not be."""
    return str(conninfo_to_dict(database)["password"])


@pytest.fixture
def free_port() -> int:
    return find_free_port()
