"""What every benchmark shares: the machine it ran on, a server to run against, timing
and printing.

Absolute times on a shared machine drift from run to run, so each benchmark measures
the things it compares in the same run, interleaved, and reports medians and ratios.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from incident_lab.embedded import SUPERUSER, EmbeddedPostgres

ROOT = Path(__file__).resolve().parents[1]


def machine(server_version: str | None = None) -> dict[str, str]:
    """The facts a reader needs to compare these figures with their own."""
    facts = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
        "memory": f"{_memory_gib():.0f} GiB",
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }
    if server_version:
        facts["postgresql"] = server_version
    return facts


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return float("nan")


def print_machine(facts: dict[str, str]) -> None:
    print(" · ".join(f"{name}: {value}" for name, value in facts.items()))
    print()


@contextmanager
def embedded_server(max_connections: int = 100, settings: dict[str, str] | None = None) -> Iterator[Server]:
    with EmbeddedPostgres(max_connections=max_connections, settings=settings) as postgres:
        yield Server(postgres)


class Server:
    """The embedded server, with the two ways in a benchmark needs."""

    def __init__(self, postgres: EmbeddedPostgres) -> None:
        self.postgres = postgres

    def socket_dsn(self, database: str = "postgres") -> str:
        """Superuser over the Unix socket without a password: cheap connections for scenarios."""
        return f"host={self.postgres.root} port={self.postgres.port} user={SUPERUSER} dbname={database}"

    def tcp_dsn(self, database: str = "postgres", port: int | None = None) -> str:
        """What a user passes: TCP with a password, so every probe pays a real login; `port`
        reaches the server through something in between (a proxy)."""
        secret = quote(self.postgres.password)
        return f"postgresql://{SUPERUSER}:{secret}@127.0.0.1:{port or self.postgres.port}/{quote(database)}"

    def create_database(self, name: str) -> None:
        self.postgres.create_database(name)

    def version(self) -> str:
        import psycopg

        with psycopg.connect(self.socket_dsn(), autocommit=True) as connection:
            row = connection.execute("SHOW server_version").fetchone()
        return f"PostgreSQL {row[0] if row else '?'}"


def timings(action: Callable[[], Any], repeats: int) -> list[float]:
    """Seconds taken by each of `repeats` calls."""
    taken = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        taken.append(time.perf_counter() - started)
    return taken


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ms(seconds: float) -> str:
    milliseconds = seconds * 1000
    if milliseconds >= 100:
        return f"{milliseconds:.0f} ms"
    if milliseconds >= 10:
        return f"{milliseconds:.1f} ms"
    return f"{milliseconds:.2f} ms"


def ratio(numerator: float, denominator: float) -> str:
    if denominator <= 0 or numerator != numerator or denominator != denominator:
        return "n/a"
    value = numerator / denominator
    return f"{value:.1f}x" if value >= 10 else f"{value:.2f}x"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> None:
    """A Markdown table, so that the output pastes into benchmarks/README.md as it is."""
    if title:
        print(f"**{title}**")
        print()
    print("| " + " | ".join(headers) + " |")
    print("|" + "|".join("---" for _ in headers) + "|")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
    print()


def reset_peak_memory() -> None:
    """Start this process's peak resident memory afresh (Linux), so each arm measures its own."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def peak_memory_mb() -> float:
    """This process's peak resident memory since the last reset, in MB (VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def process_cpu_seconds(pid: int, *, children: bool = False) -> float:
    """CPU a process has used (Linux; elsewhere not a number); with `children`, also that of
    its children that have ended, which Linux adds to its totals when it reaps them."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    # utime, stime, cutime, cstime: fields 14 to 17 of proc(5), counted after the ")".
    return sum(int(value) for value in fields[11 : 15 if children else 13]) / os.sysconf("SC_CLK_TCK")


def server_cpu_seconds(server: Server) -> float:
    """CPU the server has used in sessions that have ended: each exited backend's time
    is in the postmaster's children totals."""
    postmaster = (server.postgres.data_dir / "postmaster.pid").read_text().split()[0]
    return process_cpu_seconds(int(postmaster), children=True)
